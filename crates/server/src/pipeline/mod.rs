//! The ingest and enrichment pipeline behind `POST /api/v1/agents/inventory`:
//!
//! ```text
//! API (validated, durable enqueue, 202) -> queue "inventory" -> workers (batch: match through
//! the cache, apply in one transaction, ack) -> findings + summary -> events -> WebSocket
//! ```
//!
//! Beside the workers run three periodic tasks: the knowledge-base watcher (reload the file when
//! `zerotrace vulndb import` rewrote it and re-match only what changed), the agent sweeper
//! (offline after three missed heartbeats) and retention.

pub mod envelope;
pub mod knowledge;
mod rematch;
pub mod report;
mod sweeper;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zerotrace_queue::AnyQueue;
use zerotrace_store::{ScopeAuthority, Store};

use crate::events::EventBus;
use knowledge::Knowledge;
use report::ReportLimits;

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Worker tasks in this process (0: this instance only accepts reports).
    pub workers: usize,
    /// Reports per batch (one transaction) and how long a worker waits to fill one.
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub limits: ReportLimits,
    /// How often the knowledge-base file is checked for a newer version.
    pub knowledge_poll: Duration,
    pub heartbeat_interval: Duration,
    pub retention: RetentionPolicy,
}

#[derive(Clone, Copy, Debug)]
pub struct RetentionPolicy {
    pub every: Duration,
    pub packages: Duration,
    pub fixed_findings: Duration,
    pub reports: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60;
        RetentionPolicy {
            every: Duration::from_secs(60 * 60),
            packages: Duration::from_secs(90 * DAY),
            fixed_findings: Duration::from_secs(365 * DAY),
            reports: Duration::from_secs(30 * DAY),
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 2,
            batch_max: 64,
            batch_wait: Duration::from_millis(200),
            limits: ReportLimits::default(),
            knowledge_poll: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(60),
            retention: RetentionPolicy::default(),
        }
    }
}

/// What the pipeline's tasks share.
pub struct PipelineContext {
    pub store: Store,
    pub queue: AnyQueue,
    pub knowledge: Arc<Knowledge>,
    /// Mints scopes for reports the API authenticated before enqueueing them.
    pub authority: Arc<ScopeAuthority>,
    pub events: EventBus,
    pub config: PipelineConfig,
}

/// A request to reload the knowledge base now, answered with what the re-match did (`None`:
/// the file had not changed).
pub type ReloadRequest = oneshot::Sender<Result<Option<RematchOutcome>, String>>;

/// Starts the workers and periodic tasks; they stop when `shutdown` turns true.
pub fn spawn(
    context: Arc<PipelineContext>,
    shutdown: &watch::Receiver<bool>,
    reloads: mpsc::Receiver<ReloadRequest>,
) -> Vec<JoinHandle<()>> {
    let instance = uuid::Uuid::now_v7().simple().to_string();
    let mut tasks: Vec<JoinHandle<()>> = (0..context.config.workers)
        .map(|i| {
            tokio::spawn(worker::run(
                context.clone(),
                format!("{}-{i}", &instance[..12]),
                shutdown.clone(),
            ))
        })
        .collect();
    tasks.push(tokio::spawn(rematch::watch_knowledge(
        context.clone(),
        shutdown.clone(),
        reloads,
    )));
    tasks.push(tokio::spawn(sweeper::run(context, shutdown.clone())));
    tasks
}

pub use rematch::{RematchOutcome, rematch};
