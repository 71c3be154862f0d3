use std::sync::Arc;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::mpsc;
use zerotrace_queue::AnyQueue;
use zerotrace_store::Store;

use crate::auth::Authenticator;
use crate::check_ins::CheckIns;
use crate::config::ServerConfig;
use crate::events::EventBus;
use crate::ingest_limit::IngestLimiter;
use crate::pipeline::knowledge::Knowledge;
use crate::pipeline::{PipelineConfig, ReloadRequest};
use crate::rate_limit::AttemptLimiter;

/// What every handler can reach. The scope authority is not here: it lives inside the
/// [`Authenticator`] and the pipeline's workers, out of handlers' reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Heartbeats waiting to be written.
    pub check_ins: Arc<CheckIns>,
    pub authenticator: Arc<Authenticator>,
    pub limiter: Arc<AttemptLimiter>,
    pub ingest_limiter: Arc<IngestLimiter>,
    pub config: Arc<ServerConfig>,
    pub pipeline: Arc<PipelineConfig>,
    pub metrics: PrometheusHandle,
    pub queue: AnyQueue,
    pub knowledge: Arc<Knowledge>,
    pub events: EventBus,
    /// Asks the pipeline to reload the knowledge base now.
    pub reloads: mpsc::Sender<ReloadRequest>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
