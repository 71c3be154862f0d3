//! A real `zerotrace serve` per test (its own data dir, a random port), the admin commands that
//! set up an organization, and the agent binary under test.

#![allow(dead_code)] // Each test file uses its own share of these helpers.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const AGENT: &str = env!("CARGO_BIN_EXE_zerotrace-agent");

/// The `zerotrace` server binary: `ZEROTRACE_BIN` if set; else the one next to these tests
/// (`cargo test --workspace` and nextest build it before any test runs); else one built here in
/// a target directory of its own, because `cargo test` keeps its own directory locked while the
/// tests run (a nested build there would wait forever).
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ZEROTRACE_BIN") {
            return PathBuf::from(bin);
        }
        // This test executable is <target>/<profile>/deps/<name>.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let beside = profile_dir.join("zerotrace");
        if beside.exists() {
            return beside;
        }
        let own_target = profile_dir.join("zerotrace-agent-tests");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .args(["build", "-p", "zerotrace-cli", "--bin", "zerotrace"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", &own_target);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().unwrap();
        assert!(status.success(), "cannot build the zerotrace server binary");
        own_target
            .join(if release { "release" } else { "debug" })
            .join("zerotrace")
    })
    .clone()
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log: std::sync::Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `zerotrace serve` on `listen` (use port 0 for a free one) over `data_dir`.
    pub fn start(data_dir: &Path, listen: &str) -> Server {
        let mut child = Command::new(server_binary())
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ZeroTrace is listening on http://") {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start: {:?}", log.lock().unwrap()));
        Server {
            child,
            addr: addr.parse().unwrap(),
            data_dir: data_dir.to_owned(),
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs an admin command (`org create ...`) on this server's database; returns its JSON.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = Command::new(server_binary())
            .args(args)
            .arg("--json")
            .env("ZEROTRACE_DATA_DIR", &self.data_dir)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zerotrace {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An organization with an enrollment token and an API key (read + admin) to look at it.
pub struct Org {
    pub slug: String,
    pub token: String,
    pub api_key: String,
}

pub fn org(server: &Server, name: &str) -> Org {
    let org = server.admin(&["org", "create", "--name", name]);
    let slug = org["slug"].as_str().unwrap().to_owned();
    let token = server.admin(&["token", "create", "--org", &slug]);
    let key = server.admin(&[
        "apikey",
        "create",
        "--org",
        &slug,
        "--name",
        "agent-tests",
        "--scopes",
        "read,admin",
    ]);
    Org {
        slug,
        token: token["token"].as_str().unwrap().to_owned(),
        api_key: key["key"].as_str().unwrap().to_owned(),
    }
}

pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET with a bearer token; status and JSON body.
pub fn get(url: &str, bearer: &str) -> (u16, Value) {
    let mut response = http()
        .get(url)
        .header("Authorization", &format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

pub fn post(url: &str, bearer: &str) -> (u16, Value) {
    let mut response = http()
        .post(url)
        .header("Authorization", &format!("Bearer {bearer}"))
        .send_empty()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A tiny Debian root: os-release and two installed packages.
pub fn fixture_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n\n\
         Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n",
    )
    .unwrap();
    root
}

/// Installs a Python distribution into `root`'s system site-packages (what `pip install` leaves
/// that the inventory reads: `<name>-<version>.dist-info/METADATA`), replacing any other version.
pub fn python_package(root: &Path, name: &str, version: &str) {
    let site = root.join("usr/lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(&site).unwrap().map(Result::unwrap) {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    let dist_info = site.join(format!("{name}-{version}.dist-info"));
    std::fs::create_dir_all(&dist_info).unwrap();
    std::fs::write(
        dist_info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
    )
    .unwrap();
}

/// An OSV feed from `../shared/data/vuln/osv`, or `None` (with the reason printed) where the
/// shared data is not present.
pub fn osv_feed(file: &str) -> Option<PathBuf> {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/vuln/osv"
    ))
    .join(file);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: no OSV data at {}", path.display());
        None
    }
}

/// `zerotrace vulndb import <feed>` into `data_dir`, where `serve` loads its knowledge base from.
pub fn import_knowledge(data_dir: &Path, feed: &Path) {
    let out = Command::new(server_binary())
        .args(["vulndb", "import", "--json", "--data-dir"])
        .arg(data_dir)
        .arg(feed)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vulndb import {}: {}",
        feed.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls the organization's assets until the one of `agent_id` satisfies `check`; returns it.
pub fn eventually_asset(
    server: &Server,
    org: &Org,
    agent_id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let (status, assets) = get(&format!("{}/api/v1/assets", server.url()), &org.api_key);
        assert_eq!(status, 200, "{assets}");
        if let Some(asset) = assets["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["agent_id"].as_str() == Some(agent_id))
        {
            if check(asset) {
                return asset.clone();
            }
            last = asset.clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for agent {agent_id}'s asset; last seen: {last}");
}

pub fn agent() -> Command {
    let mut command = Command::new(AGENT);
    command
        .env_remove("ZEROTRACE_AGENT_CONFIG")
        .env("RUST_LOG", "info");
    command
}

/// Enrolls with `--config <dir>/agent.toml`; returns the config path and the `--json` output.
pub fn enroll(dir: &Path, server: &str, token: &str) -> (PathBuf, Value) {
    let config = dir.join("agent.toml");
    let out = agent()
        .args(["enroll", "--json", "--server", server, "--config"])
        .arg(&config)
        .env("ZEROTRACE_ENROLL_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enroll: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (config, serde_json::from_slice(&out.stdout).unwrap())
}

/// A running `zerotrace-agent run` whose stderr is collected.
pub struct Running {
    pub child: Child,
    pub log: std::sync::Arc<Mutex<String>>,
}

pub fn run_agent(config: &Path, root: &Path, extra: &[&str]) -> Running {
    let mut child = agent()
        .args(["run", "--cpu-limit", "100", "--config"])
        .arg(config)
        .arg("--root")
        .arg(root)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    Running { child, log }
}

impl Running {
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Like [`eventually`], with the agent's log in the failure message.
    pub fn eventually(&self, limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for: {what}\nagent log:\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self) -> i32 {
        // SAFETY: kill with the pid of a child we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait(Duration::from_secs(20))
            .expect("agent did not stop within 20s of SIGTERM")
    }

    /// Waits up to `limit` for the agent to exit; its code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 100 ms for up to `limit`; panics with `what` if it never holds.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

pub fn state(config_dir: &Path) -> Value {
    std::fs::read(config_dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub fn spooled(config_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config_dir.join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
