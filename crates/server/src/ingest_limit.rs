//! Rate limits on agent ingest (heartbeats and inventories): per organization (default 10,000
//! requests a minute) and per agent (default 100 a minute), both checked on every request, with
//! per-organization overrides stored on the organization.
//!
//! The algorithm is GCRA either way: in process with governor when one instance serves
//! (embedded mode), or as one Lua script in Redis when several API instances share the load, so
//! that the limit holds across them.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;
use zerotrace_store::{AgentId, OrgId, Store};

use crate::error::ApiError;

/// Requests per minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestLimits {
    pub per_org: NonZeroU32,
    pub per_agent: NonZeroU32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            per_org: NonZeroU32::new(10_000).unwrap_or(NonZeroU32::MIN),
            per_agent: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// GCRA over Redis: one key per limited subject holding its theoretical arrival time (ms).
/// Returns 0 when allowed, else the milliseconds until the request would be.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst_window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - burst_window
if allowed_at > now then
  return math.ceil(allowed_at - now)
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
return 0
";

enum Backend {
    Local {
        /// One keyed limiter per distinct quota (organizations may override theirs).
        by_org: Mutex<HashMap<NonZeroU32, Arc<DefaultKeyedRateLimiter<Uuid>>>>,
        by_agent: Mutex<HashMap<NonZeroU32, Arc<DefaultKeyedRateLimiter<Uuid>>>>,
    },
    Redis {
        connection: redis::aio::ConnectionManager,
        script: redis::Script,
        prefix: String,
    },
}

pub struct IngestLimiter {
    backend: Backend,
    defaults: IngestLimits,
    store: Store,
    /// Organizations' overrides, re-read at most every 30 s.
    overrides: moka::sync::Cache<OrgId, IngestLimits>,
}

impl IngestLimiter {
    pub fn local(store: Store, defaults: IngestLimits) -> Self {
        Self::with_backend(
            store,
            defaults,
            Backend::Local {
                by_org: Mutex::default(),
                by_agent: Mutex::default(),
            },
        )
    }

    /// Limits shared by every instance that uses the same Redis and `prefix`.
    pub async fn redis(
        store: Store,
        defaults: IngestLimits,
        url: &str,
        prefix: &str,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self::with_backend(
            store,
            defaults,
            Backend::Redis {
                connection,
                script: redis::Script::new(GCRA_SCRIPT),
                prefix: prefix.to_owned(),
            },
        ))
    }

    fn with_backend(store: Store, defaults: IngestLimits, backend: Backend) -> Self {
        IngestLimiter {
            backend,
            defaults,
            store,
            overrides: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self.backend {
            Backend::Local { .. } => "in process",
            Backend::Redis { .. } => "redis",
        }
    }

    /// Counts one ingest request of `agent` in `org`; 429 with `Retry-After` when either the
    /// agent's or the organization's budget is spent.
    pub async fn check(&self, org: OrgId, agent: AgentId) -> Result<(), ApiError> {
        let limits = self.limits_of(org).await?;
        self.admit("agent", agent.0, limits.per_agent).await?;
        self.admit("org", org.0, limits.per_org).await
    }

    /// Forgets cached overrides of `org` (after an administrator changed them).
    pub fn forget(&self, org: OrgId) {
        self.overrides.invalidate(&org);
    }

    async fn limits_of(&self, org: OrgId) -> Result<IngestLimits, ApiError> {
        if let Some(limits) = self.overrides.get(&org) {
            return Ok(limits);
        }
        let (per_org, per_agent) = self.store.org_rate_limits(org).await?;
        let limits = IngestLimits {
            per_org: per_org.unwrap_or(self.defaults.per_org),
            per_agent: per_agent.unwrap_or(self.defaults.per_agent),
        };
        self.overrides.insert(org, limits);
        Ok(limits)
    }

    async fn admit(
        &self,
        kind: &str,
        subject: Uuid,
        per_minute: NonZeroU32,
    ) -> Result<(), ApiError> {
        match &self.backend {
            Backend::Local { by_org, by_agent } => {
                let table = if kind == "org" { by_org } else { by_agent };
                let limiter = table
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .entry(per_minute)
                    .or_insert_with(|| {
                        Arc::new(governor::RateLimiter::keyed(Quota::per_minute(per_minute)))
                    })
                    .clone();
                limiter.check_key(&subject).map_err(|not_until| {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    refused(kind, wait)
                })
            }
            Backend::Redis {
                connection,
                script,
                prefix,
            } => {
                let interval_ms = 60_000.0 / f64::from(per_minute.get());
                let mut connection = connection.clone();
                let wait_ms: i64 = script
                    .key(format!("{prefix}:ratelimit:{kind}:{subject}"))
                    .arg(interval_ms)
                    .arg(60_000)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(ApiError::internal)?;
                if wait_ms > 0 {
                    Err(refused(
                        kind,
                        Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)),
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Forgets in-process keys whose budgets have fully recovered; run periodically.
    pub fn sweep(&self) {
        if let Backend::Local { by_org, by_agent } = &self.backend {
            for table in [by_org, by_agent] {
                for limiter in table
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .values()
                {
                    limiter.retain_recent();
                }
            }
        }
    }
}

fn refused(kind: &str, wait: Duration) -> ApiError {
    metrics::counter!("zerotrace_ingest_rate_limited_total", "limit" => kind.to_owned())
        .increment(1);
    ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}
