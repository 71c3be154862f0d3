use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::ExitCode;

use zerotrace_server::ingest_limit::IngestLimits;
use zerotrace_server::{Server, ServerConfig};

use super::database::DatabaseArgs;

/// Run the ZeroTrace server (API, workers) until interrupted.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "ZEROTRACE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ZEROTRACE_BODY_LIMIT", default_value_t = ServerConfig::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Largest agent inventory accepted as sent (gzip-compressed), in bytes.
    #[arg(long, env = "ZEROTRACE_INVENTORY_BODY_LIMIT", default_value_t = ServerConfig::DEFAULT_INVENTORY_BODY_LIMIT)]
    inventory_body_limit: usize,
    /// The queue between API and workers: `redis://host:6379` for Redis Streams; unset for the
    /// queue inside the database (a `queue.db` beside the SQLite file, or the PostgreSQL database).
    #[arg(long, env = "QUEUE_URL", hide_env_values = true)]
    queue_url: Option<String>,
    /// Redis for ingest rate limits shared by several API instances (default: the queue's Redis
    /// when QUEUE_URL is one, else in process).
    #[arg(long, env = "ZEROTRACE_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so deployments sharing a Redis stay apart.
    #[arg(long, env = "ZEROTRACE_REDIS_PREFIX", default_value = "zerotrace")]
    redis_prefix: String,
    /// Seconds before a report a worker took but did not finish is handed to another worker.
    #[arg(long, env = "ZEROTRACE_QUEUE_VISIBILITY_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    queue_visibility_timeout: u32,
    /// Enrichment workers in this process (0: only accept reports; workers run elsewhere).
    #[arg(long, env = "ZEROTRACE_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Reports applied per worker transaction.
    #[arg(long, env = "ZEROTRACE_BATCH", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch: u16,
    /// Seconds between agent heartbeats; an agent silent for three is offline.
    #[arg(long, env = "ZEROTRACE_HEARTBEAT_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    heartbeat_interval: u32,
    /// Ingest requests per minute per organization (organizations can override it).
    #[arg(long, env = "ZEROTRACE_ORG_RATE", default_value = "10000")]
    org_rate: NonZeroU32,
    /// Agent enrollments per minute, per source address and per enrollment token (a fleet
    /// rollout from behind one NAT, or a load test, needs more than the default).
    #[arg(long, env = "ZEROTRACE_ENROLL_RATE")]
    enroll_rate: Option<NonZeroU32>,
    /// Ingest requests per minute per agent (organizations can override it).
    #[arg(long, env = "ZEROTRACE_AGENT_RATE", default_value = "100")]
    agent_rate: NonZeroU32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let location = args.database.location()?;
    let described = location.describe();
    let mut config = ServerConfig::new(args.listen, location);
    config.partitions = args.database.partitions;
    config.body_limit = args.body_limit;
    config.inventory_body_limit = args.inventory_body_limit;
    config.vulndb_path = Some(args.database.data_dir.join(super::vulndb::FILE_NAME));
    config.redis_url = args.redis_url.clone().or_else(|| {
        args.queue_url
            .clone()
            .filter(|url| url.starts_with("redis://") || url.starts_with("rediss://"))
    });
    config.queue_url = args.queue_url;
    config.redis_prefix = args.redis_prefix;
    config.queue_options.visibility_timeout =
        std::time::Duration::from_secs(u64::from(args.queue_visibility_timeout));
    config.pipeline.workers = args.workers;
    config.pipeline.batch_max = usize::from(args.batch);
    config.heartbeat_interval = time::Duration::seconds(i64::from(args.heartbeat_interval));
    if let Some(rate) = args.enroll_rate {
        config.attempt_limits.enroll_per_address = rate;
        config.attempt_limits.enroll_per_token = rate;
    }
    config.ingest_limits = IngestLimits {
        per_org: args.org_rate,
        per_agent: args.agent_rate,
    };
    let server = Server::start(config).await?;
    let address = server.local_addr()?;
    tracing::info!(%address, database = %described, "zerotrace is serving");
    announce(&format!(
        "ZeroTrace is listening on http://{address} (database: {described})"
    ));
    if let Some(admin) = &server.initial_admin {
        print_first_start(address, &admin.email, admin.generated_password.as_deref());
    }
    server.run(shutdown_signal()).await?;
    tracing::info!("zerotrace stopped");
    Ok(())
}

/// Shown once, on the start that created the administrator: how to log in.
fn print_first_start(address: SocketAddr, email: &str, generated_password: Option<&str>) {
    let password = generated_password.unwrap_or("<the value of ZEROTRACE_ADMIN_PASSWORD>");
    announce(&format!(
        "\nFirst start: created the platform administrator.\n  \
         email:    {email}\n  \
         password: {password}\n\
         This password is shown only now. Log in with:\n  \
         curl -s http://{address}/api/v1/auth/login -H 'content-type: application/json' \\\n    \
         -d '{{\"email\":\"{email}\",\"password\":\"{password}\"}}'\n"
    ));
}

/// Writes a banner to stderr in one write. A reader that has gone away (a supervisor that read the
/// address and closed the pipe) must not take the running server down, as `eprintln!` would.
fn announce(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{text}\n").as_bytes());
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
