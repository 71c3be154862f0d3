//! `zerotrace-agent run`: one thread, one loop. Each turn does whatever is due (heartbeat,
//! scan, delivery of the spool), then sleeps until the next thing is due or a stop signal comes.
//!
//! A scan whose inventory hash equals the last snapshot's is not sent again. A changed one gets the
//! next sequence number and goes to the spool first, then out, oldest first; failures wait with
//! backoff (or the server's Retry-After, on 429 and on a 503 that carries one), a 404 or 405 (an
//! older server without the inventory endpoint) keeps the spool and is logged once, a 401 stops
//! the agent for good until it is enrolled again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::Rng;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zerotrace_inventory::{ScanOptions, scan};

use crate::client::{BadServerUrl, Client, ClientError, HeartbeatRequest, ServerUrl};
use crate::config::Config;
use crate::host::{SelfUsage, cpu_percent, cpu_time};
use crate::quiet::Throttle;
use crate::signals;
use crate::snapshot::{Inventory, SnapshotError};
use crate::spool::{Backoff, Spool, SpoolError};
use crate::state::{Delivery, ScanSummary, State, StateError};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);
/// First retry of a failed delivery, and the longest wait between two.
const SEND_BACKOFF_BASE: Duration = Duration::from_secs(10);
const SEND_BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// A server asking for heartbeats faster than this is not obeyed.
const MIN_HEARTBEAT: Duration = Duration::from_secs(1);
/// CPU use is reported over at least this long: over the few milliseconds between start and the
/// first heartbeat, one clock tick of startup work would read as a nonsense percentage.
const MIN_CPU_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Url(#[from] BadServerUrl),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Signals(#[from] signals::SignalError),
}

/// Why `run` returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// SIGTERM or SIGINT.
    Stopped,
    /// The server refused the device credential (revoked, or the agent was deleted).
    CredentialRejected(String),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Overrides the server's heartbeat interval.
    pub heartbeat_interval: Option<Duration>,
    pub inventory_interval: Duration,
    pub cpu_limit_percent: f64,
    pub root: PathBuf,
}

impl RunOptions {
    pub fn from_config(config: &Config) -> RunOptions {
        RunOptions {
            heartbeat_interval: config
                .settings
                .heartbeat_interval_secs
                .map(Duration::from_secs),
            inventory_interval: Duration::from_secs(config.settings.inventory_interval_secs),
            cpu_limit_percent: config.settings.cpu_limit_percent,
            root: config.settings.scan_root.clone(),
        }
    }
}

pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// `base` with a random tenth added or taken away, so a fleet started together drifts apart.
fn jittered(base: Duration, rng: &mut impl Rng) -> Duration {
    let tenth = (base / 10).as_millis() as u64;
    base.saturating_sub(base / 10) + Duration::from_millis(rng.random_range(0..=2 * tenth))
}

struct Daemon<'a> {
    config: &'a Config,
    options: &'a RunOptions,
    client: Client,
    spool: Spool,
    state: State,
    send_backoff: Backoff,
    /// 404 from the inventory endpoint is logged once per run, not at every retry.
    not_deployed_logged: bool,
    /// Where the current CPU measuring window started.
    usage: Option<(Instant, SelfUsage)>,
}

pub fn run(config: &Config, options: &RunOptions) -> Result<Exit, RunError> {
    let state = State::load(&config.state_dir)?;
    if let Some(why) = &state.credential_rejected {
        return Ok(Exit::CredentialRejected(why.clone()));
    }
    signals::install()?;
    let spool = Spool::open(
        &config.state_dir.join("spool"),
        config.settings.spool_max_snapshots,
        config.settings.spool_max_bytes,
    )?;
    let mut daemon = Daemon {
        config,
        options,
        client: Client::new(ServerUrl::parse(&config.server)?),
        spool,
        state,
        send_backoff: Backoff::new(SEND_BACKOFF_BASE, SEND_BACKOFF_MAX),
        not_deployed_logged: false,
        usage: SelfUsage::read().map(|u| (Instant::now(), u)),
    };
    daemon.run()
}

impl Daemon<'_> {
    fn run(&mut self) -> Result<Exit, RunError> {
        let mut rng = rand::rng();
        let start = Instant::now();
        let (mut next_heartbeat, mut next_scan, mut next_send) = (start, start, start);
        tracing::info!(
            server = %self.config.server,
            agent_id = %self.config.agent_id,
            spooled = self.spool.entries()?.len(),
            "agent running"
        );
        loop {
            if signals::stop_requested() {
                break;
            }
            if Instant::now() >= next_heartbeat {
                match self.heartbeat(&mut rng)? {
                    Ok(wait) => next_heartbeat = Instant::now() + wait,
                    Err(exit) => return Ok(exit),
                }
            }
            if Instant::now() >= next_scan && !signals::stop_requested() {
                let fresh = self.scan()?;
                next_scan = Instant::now() + jittered(self.options.inventory_interval, &mut rng);
                // A new snapshot goes out at once, unless deliveries are backing off.
                if fresh && self.send_backoff.failures() == 0 {
                    next_send = Instant::now();
                }
            }
            let spooled = !self.spool.entries()?.is_empty();
            if spooled && Instant::now() >= next_send && !signals::stop_requested() {
                match self.deliver(&mut rng)? {
                    Ok(wait) => next_send = Instant::now() + wait,
                    Err(exit) => return Ok(exit),
                }
            }
            let mut wake = next_heartbeat.min(next_scan);
            if !self.spool.entries()?.is_empty() {
                wake = wake.min(next_send);
            }
            if signals::wait(wake) {
                break;
            }
        }
        tracing::info!(
            spooled = self.spool.entries()?.len(),
            "stop requested; agent stopped (spooled snapshots are kept)"
        );
        Ok(Exit::Stopped)
    }

    fn rejected(&mut self, message: String) -> Result<Exit, RunError> {
        let why = format!(
            "the server refused this agent's credential (401: {message}); it was revoked or the \
             agent was removed. Nothing more is sent. Enroll again with `zerotrace-agent enroll --force`."
        );
        tracing::error!(reason = %why, "credential rejected");
        self.state.credential_rejected = Some(why.clone());
        self.state.save(&self.config.state_dir)?;
        Ok(Exit::CredentialRejected(why))
    }

    /// One heartbeat; `Ok(Ok(wait))` until the next, `Ok(Err(exit))` when the agent must stop.
    fn heartbeat(&mut self, rng: &mut impl Rng) -> Result<Result<Duration, Exit>, RunError> {
        let interval = self
            .options
            .heartbeat_interval
            .or(self.state.heartbeat_interval_secs.map(Duration::from_secs))
            .unwrap_or(DEFAULT_HEARTBEAT);
        let (cpu, rss_bytes) = self.own_usage();
        let request = HeartbeatRequest {
            agent_version: AGENT_VERSION,
            cpu_percent: cpu,
            rss_bytes,
        };
        let wait = match self.client.heartbeat(&self.config.credential, &request) {
            Ok(answer) => {
                tracing::debug!(
                    cpu_percent = self.state.cpu_percent,
                    rss_bytes = self.state.rss_bytes,
                    "heartbeat accepted"
                );
                self.state.last_heartbeat_at = Some(now_rfc3339());
                self.state.last_heartbeat_error = None;
                self.state.heartbeat_interval_secs = Some(answer.heartbeat_interval_secs);
                self.options.heartbeat_interval.unwrap_or_else(|| {
                    Duration::from_secs(answer.heartbeat_interval_secs).max(MIN_HEARTBEAT)
                })
            }
            Err(ClientError::Unauthorized { message }) => return Ok(Err(self.rejected(message)?)),
            Err(error @ ClientError::RetryAfter { retry_after, .. }) => {
                tracing::warn!(%error, "heartbeat deferred as the server asks");
                retry_after.max(interval)
            }
            Err(error) => {
                tracing::warn!(%error, "heartbeat failed; trying again at the next interval");
                self.state.last_heartbeat_error = Some(error.to_string());
                interval
            }
        };
        self.state.save(&self.config.state_dir)?;
        // A little jitter so agents that lost the server together do not return together.
        let spread = (wait / 20).as_millis() as u64;
        Ok(Ok(
            wait + Duration::from_millis(rng.random_range(0..=spread))
        ))
    }

    /// The agent's CPU use since the previous measurement (`None` until a window of
    /// [`MIN_CPU_WINDOW`] has passed) and its resident memory now; both also go to the state.
    fn own_usage(&mut self) -> (Option<f64>, Option<u64>) {
        let Some(now) = SelfUsage::read() else {
            return (None, None);
        };
        self.state.rss_bytes = Some(now.rss_bytes);
        let cpu = match self.usage {
            Some((at, before)) if at.elapsed() >= MIN_CPU_WINDOW => {
                let cpu = cpu_percent(&before, &now, at.elapsed());
                self.usage = Some((Instant::now(), now));
                self.state.cpu_percent = Some(cpu);
                Some(cpu)
            }
            Some(_) => None,
            None => {
                self.usage = Some((Instant::now(), now));
                None
            }
        };
        (cpu, Some(now.rss_bytes))
    }

    /// Scans under the CPU cap; spools the snapshot if it differs from the last one. Returns
    /// whether it did.
    fn scan(&mut self) -> Result<bool, RunError> {
        let started = Instant::now();
        let cpu_before = cpu_time();
        let (report, paused) = {
            let throttle = match Throttle::start(self.options.cpu_limit_percent) {
                Ok(throttle) => throttle,
                Err(error) => {
                    tracing::warn!(%error, "cannot cap the scan's CPU use; scanning uncapped");
                    None
                }
            };
            let report = scan(&self.options.root, &ScanOptions::default());
            (report, throttle.map(|t| t.paused()).unwrap_or_default())
        };
        let cpu = cpu_time().saturating_sub(cpu_before);
        let wall = started.elapsed();
        let scanned_at = now_rfc3339();
        let inventory = Inventory::new(&report)?;
        tracing::info!(
            packages = inventory.len(),
            unreadable_files = report.errors.len(),
            wall_ms = wall.as_millis() as u64,
            cpu_ms = cpu.as_millis() as u64,
            paused_ms = paused.as_millis() as u64,
            "scan done"
        );
        self.state.last_scan = Some(ScanSummary {
            at: scanned_at.clone(),
            packages: inventory.len(),
            errors: report.errors.len(),
            hash: inventory.hash.clone(),
            wall_ms: wall.as_millis() as u64,
            cpu_ms: cpu.as_millis() as u64,
        });
        let fresh = self.state.last_hash.as_deref() != Some(inventory.hash.as_str());
        if fresh {
            let sequence = self.state.sequence + 1;
            let body = inventory.body_gzip(sequence, &scanned_at)?;
            match self.spool.push(sequence, &body) {
                Ok(dropped) => {
                    if !dropped.is_empty() {
                        tracing::warn!(
                            ?dropped,
                            "spool full: dropped the oldest undelivered snapshots (the newest is a full inventory)"
                        );
                    }
                    tracing::info!(
                        sequence,
                        gzip_bytes = body.len(),
                        "inventory changed; snapshot spooled"
                    );
                }
                Err(error @ SpoolError::TooLarge { .. }) => {
                    tracing::error!(%error, "snapshot not kept; raise settings.spool_max_bytes to send it");
                }
                Err(error) => return Err(error.into()),
            }
            self.state.sequence = sequence;
            self.state.last_hash = Some(inventory.hash.clone());
        } else {
            tracing::info!("inventory unchanged since the last snapshot; nothing to send");
        }
        self.state.save(&self.config.state_dir)?;
        Ok(fresh)
    }

    /// Sends spooled snapshots, oldest first, until the spool is empty or a send fails.
    fn deliver(&mut self, rng: &mut impl Rng) -> Result<Result<Duration, Exit>, RunError> {
        while let Some(entry) = self.spool.oldest()? {
            if signals::stop_requested() {
                break;
            }
            let body = self.spool.read(&entry)?;
            let wait = match self.client.send_inventory(&self.config.credential, &body) {
                Ok(accepted) => {
                    if accepted.status == "stale" {
                        // The server holds a newer snapshot from this agent id. The spool sends in
                        // order, so this agent's state (its sequence) was lost or restored.
                        tracing::warn!(
                            sequence = entry.sequence,
                            "the server already has a newer snapshot from this agent and ignored this one; \
                             if the agent's state was reset, `enroll --force` starts a fresh sequence"
                        );
                    } else {
                        tracing::info!(sequence = entry.sequence, batch_id = %accepted.batch_id, status = %accepted.status, "snapshot delivered");
                    }
                    self.spool.remove(&entry)?;
                    self.send_backoff.reset();
                    self.not_deployed_logged = false;
                    self.state.last_delivered = Some(Delivery {
                        at: now_rfc3339(),
                        sequence: entry.sequence,
                        batch_id: accepted.batch_id,
                        status: Some(accepted.status),
                    });
                    self.state.save(&self.config.state_dir)?;
                    continue;
                }
                Err(ClientError::Unauthorized { message }) => {
                    return Ok(Err(self.rejected(message)?));
                }
                Err(error @ ClientError::RetryAfter { retry_after, .. }) => {
                    let wait = self.send_backoff.fail_after(retry_after, rng);
                    tracing::warn!(
                        %error,
                        sequence = entry.sequence,
                        wait_secs = wait.as_secs(),
                        "inventory deferred as the server asks; kept in the spool"
                    );
                    wait
                }
                Err(ClientError::NotFound { url }) => {
                    let wait = self.send_backoff.fail(rng);
                    if !self.not_deployed_logged {
                        self.not_deployed_logged = true;
                        tracing::warn!(
                            %url,
                            spooled = self.spool.entries()?.len(),
                            "the server has no inventory endpoint (404/405: an older version); snapshots stay spooled and are retried"
                        );
                    }
                    wait
                }
                Err(error) if error.is_transient() => {
                    let wait = self.send_backoff.fail(rng);
                    tracing::warn!(%error, sequence = entry.sequence, retry_in_secs = wait.as_secs(), "inventory not delivered; kept in the spool");
                    wait
                }
                Err(error) => {
                    // 413 and other refusals of this very snapshot: sending it again cannot
                    // succeed, and keeping it would hold back every later one.
                    tracing::error!(%error, sequence = entry.sequence, "the server refused this snapshot; dropped");
                    self.spool.remove(&entry)?;
                    continue;
                }
            };
            return Ok(Ok(wait));
        }
        Ok(Ok(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn schedule_jitter_stays_within_a_tenth() {
        let mut rng = StdRng::seed_from_u64(9);
        let base = Duration::from_secs(4 * 3600);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let d = jittered(base, &mut rng);
            assert!(d >= base - base / 10 && d <= base + base / 10, "{d:?}");
            seen.insert(d.as_secs() / 60);
        }
        assert!(seen.len() > 20, "jitter spreads agents out: {seen:?}");
    }
}
