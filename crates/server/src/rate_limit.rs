//! Rate limits on the doors that guess-work comes through: login and enrollment, per source
//! address and per account (or token).
//!
//! In process (governor's GCRA keyed maps); swept on a timer so the maps hold only recent keys.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// Attempts allowed per minute at each door.
#[derive(Clone, Copy, Debug)]
pub struct AttemptLimits {
    pub login_per_address: NonZeroU32,
    pub login_per_account: NonZeroU32,
    pub enroll_per_address: NonZeroU32,
    pub enroll_per_token: NonZeroU32,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        AttemptLimits {
            login_per_address: per_minute(30),
            login_per_account: per_minute(10),
            enroll_per_address: per_minute(120),
            enroll_per_token: per_minute(600),
        }
    }
}

const fn per_minute(count: u32) -> NonZeroU32 {
    match NonZeroU32::new(count) {
        Some(count) => count,
        None => panic!("a rate limit must allow at least one attempt"),
    }
}

pub struct AttemptLimiter {
    login_by_address: DefaultKeyedRateLimiter<IpAddr>,
    login_by_account: DefaultKeyedRateLimiter<String>,
    enroll_by_address: DefaultKeyedRateLimiter<IpAddr>,
    enroll_by_token: DefaultKeyedRateLimiter<uuid::Uuid>,
}

impl AttemptLimiter {
    pub fn new(limits: AttemptLimits) -> Arc<Self> {
        Arc::new(AttemptLimiter {
            login_by_address: governor::RateLimiter::keyed(Quota::per_minute(
                limits.login_per_address,
            )),
            login_by_account: governor::RateLimiter::keyed(Quota::per_minute(
                limits.login_per_account,
            )),
            enroll_by_address: governor::RateLimiter::keyed(Quota::per_minute(
                limits.enroll_per_address,
            )),
            enroll_by_token: governor::RateLimiter::keyed(Quota::per_minute(
                limits.enroll_per_token,
            )),
        })
    }

    pub fn check_login(&self, address: IpAddr, account: &str) -> Result<(), ApiError> {
        check(&self.login_by_address, &address)?;
        check(&self.login_by_account, &account.to_owned())
    }

    pub fn check_enroll(&self, address: IpAddr, token: Option<uuid::Uuid>) -> Result<(), ApiError> {
        check(&self.enroll_by_address, &address)?;
        match token {
            Some(token) => check(&self.enroll_by_token, &token),
            None => Ok(()),
        }
    }

    /// Forgets keys whose limits have fully recovered; run periodically.
    pub fn sweep(&self) {
        self.login_by_address.retain_recent();
        self.login_by_account.retain_recent();
        self.enroll_by_address.retain_recent();
        self.enroll_by_token.retain_recent();
    }

    /// Sweeps every minute until the limiter is dropped by everyone else.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                match weak.upgrade() {
                    Some(limiter) => limiter.sweep(),
                    None => break,
                }
            }
        });
    }
}

fn check<K: Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    })
}
