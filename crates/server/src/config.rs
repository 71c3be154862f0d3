//! Server configuration, as the `serve` command assembles it from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use time::Duration;
use zerotrace_queue::QueueOptions;
use zerotrace_store::DatabaseLocation;

use crate::ingest_limit::IngestLimits;
use crate::pipeline::PipelineConfig;
use crate::rate_limit::AttemptLimits;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database: DatabaseLocation,
    /// Hash partitions per org-scoped table, when PostgreSQL tables are first created.
    pub partitions: u16,
    /// The largest request body accepted, in bytes (inventories have their own limit).
    pub body_limit: usize,
    /// The largest inventory body accepted as sent (compressed), in bytes.
    pub inventory_body_limit: usize,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    pub attempt_limits: AttemptLimits,
    pub ingest_limits: IngestLimits,
    /// An agent missing this many heartbeat intervals is reported offline.
    pub heartbeat_interval: Duration,
    /// The knowledge base file (`zerotrace vulndb import` writes it); reloaded when it changes.
    pub vulndb_path: Option<PathBuf>,
    /// `redis://…` for Redis Streams; `None` for the queue inside the database.
    pub queue_url: Option<String>,
    pub queue_options: QueueOptions,
    /// Redis for rate limits and live events shared by several instances; `None` keeps them in
    /// process.
    pub redis_url: Option<String>,
    /// The prefix of every Redis key and channel: deployments (or tests) sharing one Redis
    /// stay apart.
    pub redis_prefix: String,
    pub pipeline: PipelineConfig,
}

impl ServerConfig {
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
    pub const DEFAULT_INVENTORY_BODY_LIMIT: usize = 16 * 1024 * 1024;

    pub fn new(listen: SocketAddr, database: DatabaseLocation) -> Self {
        ServerConfig {
            listen,
            database,
            partitions: 16,
            body_limit: Self::DEFAULT_BODY_LIMIT,
            inventory_body_limit: Self::DEFAULT_INVENTORY_BODY_LIMIT,
            access_token_lifetime: Duration::minutes(15),
            refresh_token_lifetime: Duration::days(30),
            attempt_limits: AttemptLimits::default(),
            ingest_limits: IngestLimits::default(),
            heartbeat_interval: Duration::seconds(60),
            vulndb_path: None,
            queue_url: None,
            queue_options: QueueOptions::default(),
            redis_url: None,
            redis_prefix: zerotrace_queue::REDIS_PREFIX.to_owned(),
            pipeline: PipelineConfig::default(),
        }
    }
}
