//! Driving the fleet for a fixed time and measuring what the server does with it.
//!
//! Every agent is a task that behaves like `zerotrace-agent run`: it starts at a random moment
//! within its first scan interval (so the fleet does not arrive in one burst), heartbeats (with
//! made-up but plausible CPU and memory figures, as the agent reports its own), and at every scan
//! interval (±10%) sends its changed inventory. A `429`, or a `503` with a `Retry-After` (the
//! server's queue is full), makes that agent wait as long as it says and send the same snapshot
//! again; a `401` stops it, as it stops the agent. All agents share one connection pool, and a
//! semaphore keeps at most `concurrency` requests in flight, so the generator measures the server
//! rather than its own queueing.
//!
//! At the deadline no new request starts; requests in flight get up to [`GRACE`] to finish and
//! are then dropped (they count as sent, with no outcome). Latency is measured from sending an
//! inventory to having read its answer, for every inventory that got an answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use zerotrace_agent::client::HeartbeatRequest;
use zerotrace_agent::daemon::{AGENT_VERSION, now_rfc3339};

use crate::agent::{AgentProfile, SimulatedAgent, inventory_body};
use crate::config::LoadgenConfig;
use crate::http::Http;
use crate::pool::PackagePool;
use crate::setup::Fleet;
use crate::{LoadgenError, agent_seed};

/// How long requests in flight at the deadline may still take.
pub const GRACE: Duration = Duration::from_secs(5);
/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Distinct error messages kept for the summary.
const MAX_SAMPLES: usize = 8;
const INVENTORY: &str = "/api/v1/agents/inventory";
const HEARTBEAT: &str = "/api/v1/agents/heartbeat";

/// The run so far, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub duration: Duration,
    pub inventories_sent: u64,
    pub accepted: u64,
    pub throttled: u64,
    /// Client errors, server errors and network errors.
    pub errors: u64,
    pub records_accepted: u64,
    pub heartbeats_sent: u64,
}

impl Progress {
    /// Package records accepted per second, on average since the run started.
    pub fn records_per_second(&self) -> f64 {
        per_second(self.records_accepted, self.elapsed)
    }
}

/// Inventory request latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a run did. The field names are stable: `zerotrace loadgen --json` prints this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub orgs: usize,
    pub agents: usize,
    pub setup_seconds: f64,
    /// Times the server's rate limits made setup wait.
    pub setup_throttled: u64,
    pub duration_seconds: f64,
    pub inventories_sent: u64,
    /// Inventories answered 202.
    pub accepted: u64,
    /// Inventories answered 429.
    pub throttled: u64,
    /// Inventories answered with another 4xx (405 while the server has no inventory endpoint).
    pub client_errors: u64,
    /// Inventories answered 5xx (those a 503 with a `Retry-After` paces are sent again later).
    pub server_errors: u64,
    /// Inventories that got no answer (refused, reset, timed out).
    pub network_errors: u64,
    /// Inventories answered with a status that is neither 202 nor an error (the contract says 202).
    pub other_answers: u64,
    /// Package records in the inventories answered 202.
    pub records_accepted: u64,
    pub records_per_second: f64,
    pub latency_ms: Latency,
    pub heartbeats_sent: u64,
    /// Heartbeats answered 200.
    pub heartbeats_accepted: u64,
    /// The first few distinct error answers, as the server worded them.
    pub error_samples: Vec<String>,
}

/// Runs `fleet` against the server for `config.duration`; `progress` is called a few times a
/// second with the counts so far.
pub async fn run(
    fleet: &Fleet,
    pool: Arc<PackagePool>,
    config: &LoadgenConfig,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, LoadgenError> {
    config.check()?;
    let http =
        Http::new(&config.server, config.concurrency).map_err(|e| LoadgenError::Unreachable {
            url: config.server.as_str().to_owned(),
            message: e.to_string(),
        })?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        http,
        pool,
        permits: Semaphore::new(config.concurrency),
        deadline: started + config.duration,
        scan_interval: config.scan_interval,
        heartbeat_interval: config.heartbeat_interval,
        profile: AgentProfile {
            apps: config.apps as usize,
            vulnerable_share: config.vulnerable_share,
            change_share: config.change_share,
        },
        counts: Counts::default(),
        latency: std::sync::Mutex::new(new_histogram()),
        samples: std::sync::Mutex::new(Vec::new()),
    });
    let mut tasks = JoinSet::new();
    for agent in fleet.agents() {
        let (shared, credential) = (shared.clone(), agent.credential.clone());
        tasks.spawn(drive(shared, credential, agent.index, config.seed));
    }

    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => progress(&shared.progress(started.elapsed(), config.duration)),
            () = sleep_until(shared.deadline) => break,
        }
    }
    let cut_off = shared.deadline + GRACE;
    loop {
        match tokio::time::timeout_at(cut_off, tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tasks.shutdown().await;
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    progress(&shared.progress(elapsed, config.duration));
    Ok(shared.summary(fleet, elapsed))
}

struct Shared {
    http: Http,
    pool: Arc<PackagePool>,
    permits: Semaphore,
    deadline: Instant,
    scan_interval: Duration,
    heartbeat_interval: Duration,
    profile: AgentProfile,
    counts: Counts,
    latency: std::sync::Mutex<Histogram<u64>>,
    samples: std::sync::Mutex<Vec<String>>,
}

#[derive(Default)]
struct Counts {
    inventories_sent: AtomicU64,
    accepted: AtomicU64,
    throttled: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    network_errors: AtomicU64,
    other_answers: AtomicU64,
    records_accepted: AtomicU64,
    heartbeats_sent: AtomicU64,
    heartbeats_accepted: AtomicU64,
}

/// What an agent does after a request.
enum Next {
    /// Carry on with the schedule.
    Continue,
    /// The server asked to wait this long before the next request of this kind.
    Wait(Duration),
    /// Stop: the deadline has passed, or the server refused the credential.
    Stop,
}

/// One simulated agent, until the deadline.
async fn drive(shared: Arc<Shared>, credential: String, index: u64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(agent_seed(seed, index, 2));
    let mut agent = SimulatedAgent::new(&shared.pool, agent_seed(seed, index, 1), shared.profile);
    let first = Instant::now() + random_below(&mut rng, shared.scan_interval);
    let (mut next_scan, mut next_heartbeat) = (first, first);
    let mut first_heartbeat = true;
    // When the inventory waiting to be delivered was scanned (it is the agent's current one).
    let mut undelivered: Option<String> = None;
    loop {
        let wake = next_scan.min(next_heartbeat);
        if wake >= shared.deadline {
            return;
        }
        sleep_until(wake).await;
        let now = Instant::now();
        if now >= next_heartbeat {
            // What the agent measures of itself: no CPU figure on the first heartbeat (its window
            // is too short), then a light, steady use.
            let request = HeartbeatRequest {
                agent_version: AGENT_VERSION,
                cpu_percent: (!first_heartbeat).then(|| rng.random_range(0.05..2.0)),
                rss_bytes: Some(rng.random_range(12..40) << 20),
            };
            first_heartbeat = false;
            next_heartbeat = match shared.heartbeat(&credential, &request).await {
                Next::Continue => now + jittered(shared.heartbeat_interval, &mut rng),
                Next::Wait(wait) => now + wait,
                Next::Stop => return,
            };
        }
        if now >= next_scan {
            if undelivered.is_none() && agent.scan(&shared.pool) {
                undelivered = Some(now_rfc3339());
            }
            let Some(scanned_at) = &undelivered else {
                next_scan = now + jittered(shared.scan_interval, &mut rng);
                continue;
            };
            next_scan = match shared.send_inventory(&agent, scanned_at, &credential).await {
                Next::Continue => {
                    undelivered = None;
                    now + jittered(shared.scan_interval, &mut rng)
                }
                Next::Wait(wait) => now + wait,
                Next::Stop => return,
            };
        }
    }
}

impl Shared {
    /// A request slot, or `None` once the deadline has passed.
    async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        let permit = tokio::select! {
            permit = self.permits.acquire() => permit.ok()?,
            () = sleep_until(self.deadline) => return None,
        };
        (Instant::now() < self.deadline).then_some(permit)
    }

    async fn heartbeat(&self, credential: &str, request: &HeartbeatRequest<'_>) -> Next {
        let Some(_permit) = self.permit().await else {
            return Next::Stop;
        };
        self.counts.heartbeats_sent.fetch_add(1, Ordering::Relaxed);
        let answer = match self
            .http
            .post_json(HEARTBEAT, Some(credential), request)
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                self.sample(format!("heartbeat: {error}"));
                return Next::Continue;
            }
        };
        match (answer.status, answer.wait()) {
            (200, _) => {
                self.counts
                    .heartbeats_accepted
                    .fetch_add(1, Ordering::Relaxed);
                Next::Continue
            }
            (_, Some(wait)) => Next::Wait(wait),
            (status, None) => {
                self.sample(format!("heartbeat: {}", answer.describe()));
                if status == 401 {
                    Next::Stop
                } else {
                    Next::Continue
                }
            }
        }
    }

    async fn send_inventory(
        &self,
        agent: &SimulatedAgent,
        scanned_at: &str,
        credential: &str,
    ) -> Next {
        let Some(_permit) = self.permit().await else {
            return Next::Stop;
        };
        let body = match inventory_body(&agent.report(&self.pool), agent.sequence(), scanned_at) {
            Ok(body) => body,
            Err(error) => {
                self.sample(format!("building an inventory: {error}"));
                return Next::Stop;
            }
        };
        self.counts.inventories_sent.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let answer = match self.http.post_gzip(INVENTORY, credential, body.gzip).await {
            Ok(answer) => answer,
            Err(error) => {
                self.counts.network_errors.fetch_add(1, Ordering::Relaxed);
                self.sample(format!("inventory: {error}"));
                return Next::Continue;
            }
        };
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .saturating_record(micros.max(1));
        let next = match answer.wait() {
            Some(wait) => Next::Wait(wait),
            None if answer.status == 401 => Next::Stop,
            None => Next::Continue,
        };
        let counter = match answer.status {
            202 => {
                self.counts
                    .records_accepted
                    .fetch_add(body.records as u64, Ordering::Relaxed);
                &self.counts.accepted
            }
            429 => &self.counts.throttled,
            400..=499 => &self.counts.client_errors,
            500.. => &self.counts.server_errors,
            _ => &self.counts.other_answers,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if answer.status != 202 && answer.status != 429 {
            self.sample(format!("inventory: {}", answer.describe()));
        }
        next
    }

    fn sample(&self, message: String) {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if samples.len() < MAX_SAMPLES && !samples.contains(&message) {
            samples.push(message);
        }
    }

    fn progress(&self, elapsed: Duration, duration: Duration) -> Progress {
        let c = &self.counts;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Progress {
            elapsed,
            duration,
            inventories_sent: get(&c.inventories_sent),
            accepted: get(&c.accepted),
            throttled: get(&c.throttled),
            errors: get(&c.client_errors) + get(&c.server_errors) + get(&c.network_errors),
            records_accepted: get(&c.records_accepted),
            heartbeats_sent: get(&c.heartbeats_sent),
        }
    }

    fn summary(&self, fleet: &Fleet, elapsed: Duration) -> Summary {
        let c = &self.counts;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ms = |micros: u64| micros as f64 / 1000.0;
        let records_accepted = get(&c.records_accepted);
        Summary {
            orgs: fleet.orgs.len(),
            agents: fleet.agents().count(),
            setup_seconds: fleet.setup_time.as_secs_f64(),
            setup_throttled: fleet.setup_throttled,
            duration_seconds: elapsed.as_secs_f64(),
            inventories_sent: get(&c.inventories_sent),
            accepted: get(&c.accepted),
            throttled: get(&c.throttled),
            client_errors: get(&c.client_errors),
            server_errors: get(&c.server_errors),
            network_errors: get(&c.network_errors),
            other_answers: get(&c.other_answers),
            records_accepted,
            records_per_second: per_second(records_accepted, elapsed),
            latency_ms: Latency {
                p50: ms(latency.value_at_quantile(0.50)),
                p90: ms(latency.value_at_quantile(0.90)),
                p99: ms(latency.value_at_quantile(0.99)),
                max: ms(latency.max()),
            },
            heartbeats_sent: get(&c.heartbeats_sent),
            heartbeats_accepted: get(&c.heartbeats_accepted),
            error_samples: self
                .samples
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }
}

/// Microseconds from 1 µs to an hour, three significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}

fn random_below(rng: &mut StdRng, limit: Duration) -> Duration {
    let millis = limit.as_millis().min(u128::from(u64::MAX)) as u64;
    Duration::from_millis(rng.random_range(0..millis.max(1)))
}

/// `base` give or take a tenth, as the agent schedules itself, so agents drift apart.
fn jittered(base: Duration, rng: &mut StdRng) -> Duration {
    base.saturating_sub(base / 10) + random_below(rng, base / 5)
}
