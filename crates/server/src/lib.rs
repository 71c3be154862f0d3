//! The ZeroTrace server: the HTTP API over the store, with authentication, organization
//! isolation, rate limits, metrics and the OpenAPI document, and the ingest pipeline's workers
//! (`pipeline/`) with the live event bus (`events.rs`).
//!
//! Entry point: [`Server::start`] binds, migrates and bootstraps; [`Server::run`] serves until
//! shutdown. `routes/` holds one file per resource; `auth/` is the only place scopes are minted.

mod auth;
mod bootstrap;
pub mod check_ins;
pub mod config;
mod error;
pub mod events;
pub mod fields;
pub mod ingest_limit;
mod json;
mod metrics;
pub mod pipeline;
pub mod rate_limit;
mod routes;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use zerotrace_queue::{AnyQueue, DatabaseTarget, QueueError};
use zerotrace_store::{DatabaseLocation, Store};

pub use bootstrap::InitialAdmin;
pub use config::ServerConfig;

use auth::Authenticator;
use auth::jwt::JwtKeys;
use check_ins::CheckIns;
use events::EventBus;
use ingest_limit::IngestLimiter;
use pipeline::knowledge::{Knowledge, KnowledgeError};
use pipeline::{PipelineContext, ReloadRequest};
use rate_limit::AttemptLimiter;
use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] zerotrace_store::StoreError),
    #[error("cannot open the queue: {0}")]
    Queue(#[from] QueueError),
    #[error("cannot load the knowledge base: {0}")]
    Knowledge(#[from] KnowledgeError),
    #[error("cannot connect to Redis (rate limits, events): {0}")]
    Redis(#[from] redis::RedisError),
}

/// A server that is bound and ready to serve.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    pipeline: Arc<PipelineContext>,
    check_ins: Arc<CheckIns>,
    reloads: mpsc::Receiver<ReloadRequest>,
    /// Set when this start created the platform administrator.
    pub initial_admin: Option<InitialAdmin>,
}

/// The queue's database: beside the main SQLite file in a file of its own (SQLite has one
/// writer per file, so the API's enqueues and the workers' writes do not wait on each other),
/// or the same PostgreSQL database.
fn queue_database(location: &DatabaseLocation) -> DatabaseTarget {
    match location {
        DatabaseLocation::SqliteFile(path) => {
            DatabaseTarget::SqliteFile(path.with_file_name("queue.db"))
        }
        DatabaseLocation::Postgres(url) => DatabaseTarget::Postgres(url.clone()),
    }
}

impl Server {
    /// Connects to the database, applies migrations, creates the platform administrator on first
    /// start, and binds the listening socket.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        let (store, authority) = Store::open(&config.database).await?;
        store.migrate(config.partitions).await?;
        if store.bypasses_row_security().await? {
            tracing::warn!(
                "the database role bypasses row-level security (superuser or BYPASSRLS): \
                 organization isolation rests on the application alone; connect as an ordinary role"
            );
        }
        let initial_admin = bootstrap::ensure_platform_admin(&store).await?;
        let jwt = JwtKeys::load_or_create(&store, config.access_token_lifetime).await?;
        let limiter = AttemptLimiter::new(config.attempt_limits);
        limiter.spawn_sweeper();
        let authority = Arc::new(authority);
        let queue = AnyQueue::connect(
            config.queue_url.as_deref(),
            queue_database(&config.database),
            &config.redis_prefix,
            config.queue_options.clone(),
        )
        .await?;
        let vulndb_path = config.vulndb_path.clone();
        let knowledge = tokio::task::spawn_blocking(move || Knowledge::open(vulndb_path))
            .await
            .map_err(|e| StartError::Knowledge(KnowledgeError::Panicked(e.to_string())))??;
        if !knowledge.is_loaded() {
            tracing::warn!(
                path = ?knowledge.path(),
                "no knowledge base loaded: reports are stored but match nothing until `zerotrace vulndb import` writes one"
            );
        }
        let knowledge = Arc::new(knowledge);
        let ingest_limiter = Arc::new(match &config.redis_url {
            Some(url) => {
                IngestLimiter::redis(
                    store.clone(),
                    config.ingest_limits,
                    url,
                    zerotrace_queue::REDIS_PREFIX,
                )
                .await?
            }
            None => IngestLimiter::local(store.clone(), config.ingest_limits),
        });
        spawn_sweeper(&ingest_limiter);
        let events = match &config.redis_url {
            Some(url) => EventBus::with_redis(url, &config.redis_prefix)?,
            None => EventBus::new(),
        };
        let mut pipeline_config = config.pipeline.clone();
        pipeline_config.heartbeat_interval = config.heartbeat_interval.unsigned_abs();
        let pipeline = Arc::new(PipelineContext {
            store: store.clone(),
            queue: queue.clone(),
            knowledge: knowledge.clone(),
            authority: authority.clone(),
            events: events.clone(),
            config: pipeline_config,
        });
        let (reload_sender, reloads) = mpsc::channel(4);
        tracing::info!(
            queue = %queue.describe(),
            rate_limits = ingest_limiter.describe(),
            workers = pipeline.config.workers,
            "pipeline ready"
        );
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    address: config.listen,
                    source,
                })?;
        let check_ins = Arc::new(CheckIns::new(store.clone(), events.clone()));
        // Another server can revoke an agent of this one's database unannounced only when they
        // share PostgreSQL without Redis (one server serves a SQLite file).
        let revocations_announced = events.crosses_instances()
            || matches!(config.database, DatabaseLocation::SqliteFile(_));
        let device_trust = if revocations_announced {
            auth::DEVICE_TRUST_ANNOUNCED
        } else {
            auth::DEVICE_TRUST_UNANNOUNCED
        };
        let authenticator =
            Authenticator::new(store.clone(), authority, jwt, &events, device_trust);
        let state = AppState {
            store: store.clone(),
            check_ins: check_ins.clone(),
            authenticator: Arc::new(authenticator),
            limiter,
            ingest_limiter,
            pipeline: Arc::new(pipeline.config.clone()),
            config: Arc::new(config),
            metrics: metrics::handle(),
            queue,
            knowledge,
            events,
            reloads: reload_sender,
        };
        Ok(Server {
            listener,
            router: routes::router(state),
            store,
            pipeline,
            check_ins,
            reloads,
            initial_admin,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves (and runs the pipeline's workers) until `shutdown` completes, then finishes
    /// in-flight requests, lets the workers finish their batches and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = pipeline::spawn(self.pipeline.clone(), &stopped, self.reloads);
        tasks.push(tokio::spawn(check_ins::run(
            self.check_ins,
            stopped.clone(),
        )));
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop.send(true);
        for task in tasks {
            if tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .is_err()
            {
                tracing::warn!(
                    "a pipeline task did not stop within 30 s; its batch will be redelivered"
                );
            }
        }
        self.store.close().await;
        served
    }
}

/// Forgets recovered rate-limit keys every minute while the server runs.
fn spawn_sweeper(limiter: &Arc<IngestLimiter>) {
    let weak = Arc::downgrade(limiter);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            match weak.upgrade() {
                Some(limiter) => limiter.sweep(),
                None => break,
            }
        }
    });
}
