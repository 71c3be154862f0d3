//! `zerotrace-agent`: wiring only. Flags become calls into the library; errors become a message a
//! person can act on and an exit code a script can test.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use zerotrace_agent::client::{Client, ClientError, EnrollRequest, ServerUrl};
use zerotrace_agent::config::{self, Config, ConfigError, Settings};
use zerotrace_agent::daemon::{self, AGENT_VERSION, Exit, RunOptions};
use zerotrace_agent::host::{HostFacts, cpu_time};
use zerotrace_agent::quiet::{self, Throttle};
use zerotrace_agent::spool::Spool;
use zerotrace_agent::state::State;
use zerotrace_inventory::{ScanOptions, cyclonedx_out, scan};

/// Exit codes, so scripts and service managers can tell failures apart.
mod code {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const CREDENTIAL_REJECTED: u8 = 3;
    pub const NOT_ENROLLED: u8 = 4;
    pub const ENROLLMENT_REFUSED: u8 = 5;
    pub const SERVER_UNAVAILABLE: u8 = 6;
    pub const ALREADY_ENROLLED: u8 = 7;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  unexpected failure (the message says what: a file that cannot be written, ...)
  2  bad command line
  3  the server refused the device credential (revoked): re-enroll with `enroll --force`
  4  not enrolled, or the configuration file is unreadable or invalid
  5  enrollment refused: the token is invalid, revoked, expired or used up
  6  the server could not be reached or answered unexpectedly (or rate limited enrollment)
  7  already enrolled (pass --force to enroll again)";

/// The ZeroTrace agent: reports this device's installed software to a ZeroTrace server.
#[derive(Parser)]
#[command(name = "zerotrace-agent", version, after_help = EXIT_CODES)]
struct Cli {
    /// Configuration file [default: /etc/zerotrace/agent.toml as root, else
    /// $XDG_CONFIG_HOME/zerotrace/agent.toml or ~/.config/zerotrace/agent.toml].
    #[arg(long, global = true, env = "ZEROTRACE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join an organization with an enrollment token and store the device credential.
    #[command(after_help = EXIT_CODES)]
    Enroll {
        /// The ZeroTrace server, like https://zerotrace.example.
        #[arg(long, env = "ZEROTRACE_SERVER")]
        server: String,
        /// The enrollment token (`zte_…`). Prefer the environment variable: arguments are visible
        /// to every user in the process list.
        #[arg(long, env = "ZEROTRACE_ENROLL_TOKEN", hide_env_values = true)]
        token: String,
        /// Where state and the inventory spool go [default: /var/lib/zerotrace-agent with the
        /// system configuration, else the configuration's directory].
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Enroll again even if a configuration exists (it is replaced).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run the agent: heartbeats, scheduled inventories, delivery. Stops on SIGTERM or SIGINT.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// Seconds between heartbeats [default: what the server says, 60].
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        heartbeat_interval: Option<u64>,
        /// Seconds between inventories, give or take 10% [default: settings.inventory_interval_secs, 14400].
        #[arg(long, value_parser = clap::value_parser!(u64).range(60..))]
        scan_interval: Option<u64>,
        /// CPU cap of scans in percent of one core [default: settings.cpu_limit_percent, 5].
        #[arg(long)]
        cpu_limit: Option<f64>,
        /// Filesystem root to inventory [default: settings.scan_root, /].
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Print this device's inventory (nothing is sent).
    #[command(after_help = EXIT_CODES)]
    Scan {
        /// Filesystem root to inventory: `/`, an unpacked image, a mounted disk.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Cap the scan's CPU use, in percent of one core [default: no cap].
        #[arg(long)]
        cpu_limit: Option<f64>,
    },
    /// Show enrollment, last heartbeat, last scan and the spool.
    #[command(after_help = EXIT_CODES)]
    Status {
        #[arg(long)]
        json: bool,
        /// Also ask the server whether it accepts the credential.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// ZeroTrace's inventory JSON.
    Json,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

/// An error with the exit code that says what kind it is.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            code: code::FAILURE,
            error: error.into(),
        }
    }
}

fn fail(code: u8, error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code,
        error: error.into(),
    }
}

fn config_failure(error: ConfigError) -> Failure {
    fail(code::NOT_ENROLLED, error)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Enroll {
            server,
            token,
            state_dir,
            force,
            json,
        } => enroll(cli.config, &server, &token, state_dir, force, json),
        Command::Run {
            heartbeat_interval,
            scan_interval,
            cpu_limit,
            root,
        } => run(
            cli.config,
            heartbeat_interval,
            scan_interval,
            cpu_limit,
            root,
        ),
        Command::Scan {
            root,
            format,
            cpu_limit,
        } => scan_command(&root, format, cpu_limit),
        Command::Status { json, check } => status(cli.config, json, check),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, error }) => {
            eprintln!("zerotrace-agent: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn config_path(flag: Option<PathBuf>) -> Result<PathBuf, Failure> {
    match flag {
        Some(path) => Ok(path),
        None => config::default_path().map_err(config_failure),
    }
}

#[derive(Serialize)]
struct EnrollOutput<'a> {
    agent_id: &'a str,
    org_id: &'a str,
    server: &'a str,
    config: &'a Path,
    state_dir: &'a Path,
}

fn enroll(
    config: Option<PathBuf>,
    server: &str,
    token: &str,
    state_dir: Option<PathBuf>,
    force: bool,
    json: bool,
) -> Result<u8, Failure> {
    let path = config_path(config)?;
    let server = ServerUrl::parse(server).map_err(|e| fail(code::FAILURE, e))?;
    if path.exists() && !force {
        return Err(fail(
            code::ALREADY_ENROLLED,
            anyhow::anyhow!(
                "{} already exists: this device is enrolled. Pass --force to enroll again (the old credential is forgotten)",
                path.display()
            ),
        ));
    }
    if !server.is_https() {
        eprintln!(
            "zerotrace-agent: warning: {} is plain HTTP; the device credential will cross the network unencrypted",
            server.as_str()
        );
    }
    let facts = HostFacts::gather(Path::new("/"));
    let client = Client::new(server.clone());
    let enrolled = client
        .enroll(&EnrollRequest {
            token: token.trim(),
            hostname: &facts.hostname,
            os: &facts.os,
            os_version: &facts.os_version,
            arch: &facts.arch,
            agent_version: AGENT_VERSION,
        })
        .map_err(|error| match error {
            ClientError::Unauthorized { .. } => fail(
                code::ENROLLMENT_REFUSED,
                anyhow::anyhow!(
                    "the server does not know this enrollment token; check it was copied whole"
                ),
            ),
            ClientError::Forbidden { message } => fail(
                code::ENROLLMENT_REFUSED,
                anyhow::anyhow!("enrollment refused: {message}"),
            ),
            ClientError::NotFound { url } => fail(
                code::SERVER_UNAVAILABLE,
                anyhow::anyhow!("{url} answered 404: is --server the ZeroTrace server's base URL?"),
            ),
            other => fail(code::SERVER_UNAVAILABLE, other),
        })?;
    let state_dir = state_dir.unwrap_or_else(|| config::default_state_dir(&path));
    let new = Config {
        server: server.as_str().to_owned(),
        agent_id: enrolled.agent_id,
        org_id: enrolled.org_id,
        credential: enrolled.credential,
        state_dir,
        settings: Settings::default(),
    };
    new.save(&path).context(
        "enrolled, but the credential could not be stored; enroll again with a new token",
    )?;
    // A fresh identity starts from a fresh state: old sequence numbers, snapshots spooled under
    // them and a revocation notice all belong to the previous agent.
    State::default()
        .save(&new.state_dir)
        .context("cannot write the agent's state")?;
    let spool = Spool::open(
        &new.state_dir.join("spool"),
        new.settings.spool_max_snapshots,
        new.settings.spool_max_bytes,
    )?;
    for entry in spool.entries()? {
        spool.remove(&entry)?;
    }
    let output = EnrollOutput {
        agent_id: &new.agent_id,
        org_id: &new.org_id,
        server: &new.server,
        config: &path,
        state_dir: &new.state_dir,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        println!(
            "Enrolled as agent {} in organization {}.\nConfiguration: {} (mode 0600)\nStart the agent with `zerotrace-agent run` (or `systemctl enable --now zerotrace-agent`).",
            output.agent_id,
            output.org_id,
            path.display()
        );
    }
    Ok(code::OK)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

fn run(
    config: Option<PathBuf>,
    heartbeat_interval: Option<u64>,
    scan_interval: Option<u64>,
    cpu_limit: Option<f64>,
    root: Option<PathBuf>,
) -> Result<u8, Failure> {
    let path = config_path(config)?;
    let config = Config::load(&path).map_err(config_failure)?;
    let mut options = RunOptions::from_config(&config);
    if let Some(secs) = heartbeat_interval {
        options.heartbeat_interval = Some(Duration::from_secs(secs));
    }
    if let Some(secs) = scan_interval {
        options.inventory_interval = Duration::from_secs(secs);
    }
    if let Some(cap) = cpu_limit {
        options.cpu_limit_percent = check_cap(cap)?;
    }
    if let Some(root) = root {
        options.root = root;
    }
    init_logging();
    for refusal in quiet::lower_priority(10) {
        tracing::warn!(error = %refusal, "running at normal priority");
    }
    match daemon::run(&config, &options).map_err(|e| fail(code::FAILURE, e))? {
        Exit::Stopped => Ok(code::OK),
        Exit::CredentialRejected(why) => Err(fail(
            code::CREDENTIAL_REJECTED,
            anyhow::anyhow!("stopped: {why}"),
        )),
    }
}

fn check_cap(cap: f64) -> Result<f64, Failure> {
    if cap > 0.0 && cap <= 100.0 {
        Ok(cap)
    } else {
        Err(fail(
            code::FAILURE,
            anyhow::anyhow!("--cpu-limit must be a percentage in (0, 100], not {cap}"),
        ))
    }
}

fn scan_command(root: &Path, format: Format, cpu_limit: Option<f64>) -> Result<u8, Failure> {
    if !root.is_dir() {
        return Err(fail(
            code::FAILURE,
            anyhow::anyhow!("--root {}: not a directory", root.display()),
        ));
    }
    let cap = cpu_limit.map(check_cap).transpose()?;
    let started = Instant::now();
    let cpu_before = cpu_time();
    let (report, paused) = {
        let throttle = match cap {
            Some(cap) => Throttle::start(cap)?,
            None => None,
        };
        let report = scan(root, &ScanOptions::default());
        (report, throttle.map(|t| t.paused()).unwrap_or_default())
    };
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(stdout);
    match format {
        Format::Json => serde_json::to_writer(&mut out, &report)?,
        Format::Cyclonedx => cyclonedx_out::write_cyclonedx(&report, &mut out)?,
    }
    writeln!(out)?;
    out.flush()?;
    eprintln!(
        "{} packages, {} unreadable files, in {:.2}s ({:.2}s CPU, {:.2}s paused by the CPU cap)",
        report.packages.len(),
        report.errors.len(),
        started.elapsed().as_secs_f64(),
        cpu_time().saturating_sub(cpu_before).as_secs_f64(),
        paused.as_secs_f64()
    );
    Ok(code::OK)
}

#[derive(Serialize)]
struct StatusOutput<'a> {
    config: &'a Path,
    server: &'a str,
    agent_id: &'a str,
    org_id: &'a str,
    state_dir: &'a Path,
    #[serde(flatten)]
    state: &'a State,
    spooled_snapshots: usize,
    spooled_bytes: u64,
    /// With --check: whether the server accepts the credential now.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_check: Option<String>,
}

fn status(config: Option<PathBuf>, json: bool, check: bool) -> Result<u8, Failure> {
    let path = config_path(config)?;
    let config = Config::load(&path).map_err(config_failure)?;
    let state = State::load(&config.state_dir)?;
    let spool_dir = config.state_dir.join("spool");
    let entries = if spool_dir.is_dir() {
        Spool::open(
            &spool_dir,
            config.settings.spool_max_snapshots,
            config.settings.spool_max_bytes,
        )?
        .entries()?
    } else {
        Vec::new()
    };
    let mut exit = if state.credential_rejected.is_some() {
        code::CREDENTIAL_REJECTED
    } else {
        code::OK
    };
    let server_check = if check {
        let server = ServerUrl::parse(&config.server).map_err(|e| fail(code::NOT_ENROLLED, e))?;
        Some(match Client::new(server).whoami(&config.credential) {
            Ok(me) if me.agent_id.as_deref() == Some(config.agent_id.as_str()) => {
                "credential accepted".to_owned()
            }
            Ok(me) => format!(
                "the credential belongs to a {} that is not this agent",
                me.kind
            ),
            Err(error @ ClientError::Unauthorized { .. }) => {
                exit = code::CREDENTIAL_REJECTED;
                error.to_string()
            }
            Err(error) => {
                exit = exit.max(code::SERVER_UNAVAILABLE);
                error.to_string()
            }
        })
    } else {
        None
    };
    let output = StatusOutput {
        config: &path,
        server: &config.server,
        agent_id: &config.agent_id,
        org_id: &config.org_id,
        state_dir: &config.state_dir,
        state: &state,
        spooled_snapshots: entries.len(),
        spooled_bytes: entries.iter().map(|e| e.size).sum(),
        server_check,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(exit);
    }
    let or_never = |v: &Option<String>| v.clone().unwrap_or_else(|| "never".to_owned());
    println!(
        "Enrolled:        agent {} in organization {}",
        output.agent_id, output.org_id
    );
    println!("Server:          {}", output.server);
    println!("Configuration:   {}", path.display());
    println!("State:           {}", config.state_dir.display());
    println!("Last heartbeat:  {}", or_never(&state.last_heartbeat_at));
    if let Some(error) = &state.last_heartbeat_error {
        println!("  last failure:  {error}");
    }
    match &state.last_scan {
        Some(scan) => println!(
            "Last scan:       {} ({} packages, {} unreadable files, {} ms CPU)",
            scan.at, scan.packages, scan.errors, scan.cpu_ms
        ),
        None => println!("Last scan:       never"),
    }
    match &state.last_delivered {
        Some(d) => println!(
            "Last delivery:   {} (snapshot {}, batch {}{})",
            d.at,
            d.sequence,
            d.batch_id,
            d.status
                .as_ref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default()
        ),
        None => println!("Last delivery:   never"),
    }
    println!(
        "Spool:           {} snapshot(s), {} bytes",
        output.spooled_snapshots, output.spooled_bytes
    );
    if let (Some(cpu), Some(rss)) = (state.cpu_percent, state.rss_bytes) {
        println!(
            "Own use:         {cpu:.2}% CPU, {:.1} MiB resident",
            rss as f64 / 1048576.0
        );
    }
    if let Some(check) = &output.server_check {
        println!("Server check:    {check}");
    }
    if let Some(why) = &state.credential_rejected {
        println!("STOPPED:         {why}");
    }
    Ok(exit)
}
