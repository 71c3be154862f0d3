//! `zerotrace loadgen`: a simulated fleet against a ZeroTrace server on this machine, to measure
//! how many inventory records a second it takes in and how fast it answers. Wiring only: flags
//! in, the `zerotrace-loadgen` library, a table or JSON out.
//!
//! Exit codes: 0 when the run completed (throttling and error answers included: they are what
//! is being measured), 1 when the server could not be reached or setup failed, 2 for a request
//! out of bounds.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use zerotrace_loadgen::{
    Fleet, LoadgenConfig, LoadgenError, LoopbackUrl, PackagePool, Summary, package_pool,
};

/// Enroll simulated agents on a local server and send them realistic, changing inventories.
///
/// Package names and versions come from the real data in ../shared/data (lockfiles, SBOMs, and
/// versions OSV advisories name as affected). Loopback servers only; fleet size and duration
/// are bounded.
#[derive(clap::Args)]
pub struct Args {
    /// The server to load: http:// and a loopback host (127.0.0.0/8, [::1] or localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Organizations to create (at most 1,000).
    #[arg(long, default_value_t = 2)]
    orgs: u32,
    /// Agents per organization (at most 10,000; 100,000 in all).
    #[arg(long, default_value_t = 10)]
    agents: u32,
    /// Packages per inventory (at most 5,000).
    #[arg(long, default_value_t = 200)]
    apps: u32,
    /// Seconds to run after setup (at most 3,600).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds between two inventories of one agent.
    #[arg(long, default_value_t = 10)]
    scan_interval: u64,
    /// Seconds between two heartbeats of one agent.
    #[arg(long, default_value_t = 60)]
    heartbeat_interval: u64,
    /// Share of each inventory drawn from versions advisories name as affected.
    #[arg(long, default_value_t = 0.1)]
    vulnerable_share: f64,
    /// Share of an inventory's packages that change between two scans.
    #[arg(long, default_value_t = 0.05)]
    change_share: f64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The shared data directory [default: ../shared/data, else the one beside this build's
    /// repository].
    #[arg(long, env = "ZEROTRACE_SHARED_DATA")]
    data: Option<PathBuf>,
    /// The platform administrator's email.
    #[arg(long, default_value = "admin@zerotrace.local")]
    admin_email: String,
    /// The platform administrator's password.
    #[arg(long, env = "ZEROTRACE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// Seeds every inventory and schedule: the same seed sends the same load.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, data) = match configure(&args) {
        Ok(configured) => configured,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    eprintln!("loadgen: reading package data from {}", data.display());
    let pool = Arc::new(package_pool(&data)?);
    eprintln!(
        "loadgen: {} package versions of {} names, {} of them named by advisories; machines run {}",
        pool.len(),
        pool.name_count(),
        pool.vulnerable_versions().count(),
        pool.os().pretty_name.as_deref().unwrap_or(&pool.os().id),
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = match runtime.block_on(load(&config, pool)) {
        Ok(summary) => summary,
        Err(LoadgenError::Usage(error)) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
        Err(error) => return Err(error.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", table(&config, &summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// The library's configuration from the flags, and the data directory; or what is wrong.
fn configure(args: &Args) -> Result<(LoadgenConfig, PathBuf), String> {
    let server = LoopbackUrl::parse(&args.server).map_err(|e| e.to_string())?;
    let mut config = LoadgenConfig::new(server, args.admin_password.clone());
    config.orgs = args.orgs;
    config.agents_per_org = args.agents;
    config.apps = args.apps;
    config.duration = Duration::from_secs(args.duration);
    config.scan_interval = Duration::from_secs(args.scan_interval);
    config.heartbeat_interval = Duration::from_secs(args.heartbeat_interval);
    config.vulnerable_share = args.vulnerable_share;
    config.change_share = args.change_share;
    config.concurrency = args.concurrency;
    config.admin_email = args.admin_email.clone();
    config.seed = args.seed;
    config.check().map_err(|e| e.to_string())?;
    Ok((config, data_dir(args.data.as_deref())?))
}

/// `--data`, else `../shared/data` from here, else the one beside the repository this binary
/// was built from.
fn data_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = given {
        return if dir.is_dir() {
            Ok(dir.to_owned())
        } else {
            Err(format!("--data {}: no such directory", dir.display()))
        };
    }
    let candidates = [
        PathBuf::from("../shared/data"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    ];
    candidates
        .iter()
        .find(|dir| dir.is_dir())
        .cloned()
        .ok_or_else(|| {
            format!(
                "no shared data at {} or {}: pass --data DIR or set ZEROTRACE_SHARED_DATA",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// Setup, then the run, with progress bars on a terminal.
async fn load(config: &LoadgenConfig, pool: Arc<PackagePool>) -> Result<Summary, LoadgenError> {
    let terminal = std::io::stderr().is_terminal();
    let bar = |template: &str| {
        if !terminal {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    eprintln!(
        "loadgen: setting up {} organizations and {} agents on {}",
        config.orgs,
        config.agents(),
        config.server.as_str()
    );
    let setup_bar =
        bar("setup    [{bar:30}] {pos}/{len} agents enrolled, {msg} ({elapsed}, eta {eta})");
    let fleet: Fleet = zerotrace_loadgen::setup(config, &pool, |p| {
        setup_bar.set_length(p.agents);
        setup_bar.set_position(p.agents_enrolled);
        setup_bar.set_message(format!("{}/{} organizations", p.orgs_ready, p.orgs));
    })
    .await?;
    setup_bar.finish_and_clear();
    eprintln!(
        "loadgen: setup took {:.1} s (run {}); running for {} s",
        fleet.setup_time.as_secs_f64(),
        fleet.run_id,
        config.duration.as_secs()
    );
    let run_bar = bar("run      [{bar:30}] {pos}/{len} s, {msg}");
    run_bar.set_length(config.duration.as_secs());
    let summary = zerotrace_loadgen::run(&fleet, pool, config, |p| {
        run_bar.set_position(p.elapsed.as_secs().min(config.duration.as_secs()));
        run_bar.set_message(format!(
            "{:.0} records/s accepted, {} inventories, {} throttled, {} errors",
            p.records_per_second(),
            p.inventories_sent,
            p.throttled,
            p.errors
        ));
    })
    .await?;
    run_bar.finish_and_clear();
    Ok(summary)
}

/// The summary as label/value rows.
fn table(config: &LoadgenConfig, s: &Summary) -> String {
    let mut rows = vec![
        ("server", config.server.as_str().to_owned()),
        (
            "fleet",
            format!(
                "{} organizations, {} agents, {} packages per inventory (seed {})",
                s.orgs, s.agents, config.apps, config.seed
            ),
        ),
        (
            "setup",
            format!(
                "{:.1} s ({} rate-limit waits)",
                s.setup_seconds, s.setup_throttled
            ),
        ),
        ("run", format!("{:.1} s", s.duration_seconds)),
        ("inventories sent", s.inventories_sent.to_string()),
        ("  accepted (202)", s.accepted.to_string()),
        ("  throttled (429)", s.throttled.to_string()),
        ("  client errors", s.client_errors.to_string()),
        ("  server errors", s.server_errors.to_string()),
        ("  network errors", s.network_errors.to_string()),
    ];
    if s.other_answers > 0 {
        rows.push(("  other answers", s.other_answers.to_string()));
    }
    rows.extend([
        (
            "records accepted",
            format!("{} ({:.1}/s)", s.records_accepted, s.records_per_second),
        ),
        (
            "latency",
            format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.max
            ),
        ),
        (
            "heartbeats",
            format!(
                "{} sent, {} accepted",
                s.heartbeats_sent, s.heartbeats_accepted
            ),
        ),
    ]);
    for sample in &s.error_samples {
        rows.push(("error seen", sample.clone()));
    }
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}
