//! The load generator against a real `zerotrace serve` (this workspace's binary, its own data
//! directory, a free port), as a library and as the `zerotrace loadgen` command. Skipped, with the
//! reason printed, when `../shared/data` is absent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use zerotrace_loadgen::{LoadgenConfig, LoopbackUrl, package_pool};

mod support;

const INVENTORY: &str = "/api/v1/agents/inventory";

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("lockfiles").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no shared data at {}", dir.display());
        None
    }
}

/// `zerotrace serve` on a free loopback port over a fresh data directory; killed on drop.
struct Server {
    child: Child,
    url: String,
    admin_password: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zerotrace"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env_remove("DATABASE_URL")
            .env_remove("ZEROTRACE_ADMIN_PASSWORD")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (address, admin_password) = support::first_start_banner(stderr);
        Server {
            child,
            url: format!("http://{address}"),
            admin_password,
            _data: data,
        }
    }

    /// Whether this server documents (so serves) the agents' inventory endpoint.
    fn has_inventory_endpoint(&self) -> bool {
        let openapi: Value = reqwest::blocking::get(format!("{}/api/v1/openapi.json", self.url))
            .unwrap()
            .json()
            .unwrap();
        openapi["paths"][INVENTORY]["post"].is_object()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_small_fleet_enrolls_heartbeats_and_sends_inventories() {
    let Some(data) = shared_data() else { return };
    let server = Server::start();
    let pool = Arc::new(package_pool(&data).unwrap());
    let mut config = LoadgenConfig::new(
        LoopbackUrl::parse(&server.url).unwrap(),
        server.admin_password.clone(),
    );
    config.orgs = 1;
    config.agents_per_org = 3;
    config.apps = 50;
    config.duration = Duration::from_secs(3);
    config.scan_interval = Duration::from_secs(1);
    config.heartbeat_interval = Duration::from_secs(1);
    config.concurrency = 8;
    config.seed = 1;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut setup_calls = 0;
    let fleet = runtime
        .block_on(zerotrace_loadgen::setup(&config, &pool, |_| {
            setup_calls += 1
        }))
        .expect("setup succeeds");
    assert_eq!(fleet.orgs.len(), 1);
    let org = &fleet.orgs[0];
    assert_eq!(org.slug, format!("loadgen-{}-1", fleet.run_id));
    assert_eq!(org.agents.len(), 3);
    assert!(org.agents.iter().all(|a| a.credential.starts_with("ztd_")));
    assert!(org.enrollment_token.starts_with("zte_"));
    assert!(
        setup_calls >= 1 + 1 + 3,
        "progress after each org and agent"
    );

    let mut progress_calls = 0;
    let summary = runtime
        .block_on(zerotrace_loadgen::run(&fleet, pool, &config, |_| {
            progress_calls += 1
        }))
        .expect("the run completes");
    eprintln!("{summary:#?}");
    assert!(progress_calls >= 3);
    assert_eq!((summary.orgs, summary.agents), (1, 3));
    assert!(summary.duration_seconds >= 3.0 && summary.duration_seconds < 3.0 + 5.5);
    assert!(
        summary.heartbeats_accepted >= 3,
        "every agent heartbeats at least once: {summary:?}"
    );
    assert_eq!(summary.heartbeats_accepted, summary.heartbeats_sent);
    assert!(
        summary.inventories_sent >= 3,
        "every agent sends its first inventory: {summary:?}"
    );
    assert_eq!(
        summary.network_errors + summary.server_errors,
        0,
        "{summary:?}"
    );
    let inventory_endpoint = server.has_inventory_endpoint();
    if inventory_endpoint {
        assert!(summary.accepted > 0, "{summary:?}");
        assert!(
            summary.records_accepted >= summary.accepted * 45,
            "{summary:?}"
        );
        assert!(summary.latency_ms.p50 > 0.0 && summary.latency_ms.max >= summary.latency_ms.p99);
    } else {
        // The endpoint is not deployed: POST falls into `GET /agents/{agent_id}` and answers 405.
        assert_eq!(summary.accepted, 0);
        assert_eq!(
            summary.client_errors, summary.inventories_sent,
            "{summary:?}"
        );
        assert!(
            summary.error_samples.iter().any(|s| s.contains("HTTP 405")),
            "{summary:?}"
        );
    }

    // The organization's own view, through the read API key setup created.
    let read = |path: &str| -> Value {
        reqwest::blocking::Client::new()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&org.read_api_key)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    if inventory_endpoint {
        // Each agent's inventory became an asset holding its packages (workers apply them
        // shortly after the 202).
        let agent_ids: Vec<&str> = org.agents.iter().map(|a| a.id.as_str()).collect();
        let landed = |assets: &Value| {
            let items = assets["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            items.len() == 3
                && items.iter().all(|asset| {
                    agent_ids.contains(&asset["agent_id"].as_str().unwrap_or_default())
                        && (40..=60).contains(&asset["package_count"].as_i64().unwrap_or(0))
                        && asset["inventory_sequence"].as_i64().unwrap_or(0) >= 1
                })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut assets = read("/api/v1/assets");
        while !landed(&assets) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            assets = read("/api/v1/assets");
        }
        assert!(landed(&assets), "{assets}");
    }
    let agents = read("/api/v1/agents");
    let items = agents["items"].as_array().expect("a page of agents");
    assert_eq!(items.len(), 3);
    for item in items {
        assert!(
            item["hostname"]
                .as_str()
                .unwrap()
                .ends_with(&format!(".{}.example", org.slug)),
            "{item}"
        );
        assert_eq!(item["os_version"], "Debian GNU/Linux 10 (buster)");
        assert_eq!(item["status"], "online");
    }
}

fn loadgen(server: &str, password: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zerotrace"))
        .args(["loadgen", "--server", server, "--json"])
        .args(extra)
        .env("ZEROTRACE_ADMIN_PASSWORD", password)
        .env_remove("ZEROTRACE_SHARED_DATA")
        .output()
        .unwrap()
}

#[test]
fn the_command_prints_a_json_summary_and_exits_by_outcome() {
    let Some(data) = shared_data() else { return };
    let data = data.to_str().unwrap();

    let refused = loadgen("http://10.1.2.3:8080", "x", &["--data", data]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--server") && stderr.contains("loopback"),
        "{stderr}"
    );
    let too_many = loadgen(
        "http://127.0.0.1:1",
        "x",
        &["--orgs", "2000", "--data", data],
    );
    assert_eq!(too_many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("--orgs"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = loadgen(&format!("http://127.0.0.1:{port}"), "x", &["--data", data]);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the server"));

    let server = Server::start();
    let wrong = loadgen(&server.url, "not the password", &["--data", data]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--admin-password"));

    let ran = loadgen(
        &server.url,
        &server.admin_password,
        &[
            "--data",
            data,
            "--orgs",
            "2",
            "--agents",
            "2",
            "--apps",
            "20",
            "--duration",
            "2",
            "--scan-interval",
            "1",
            "--heartbeat-interval",
            "1",
        ],
    );
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let summary: Value = serde_json::from_slice(&ran.stdout).expect("--json prints JSON");
    for field in [
        "orgs",
        "agents",
        "setup_seconds",
        "duration_seconds",
        "inventories_sent",
        "accepted",
        "throttled",
        "client_errors",
        "server_errors",
        "network_errors",
        "records_accepted",
        "records_per_second",
        "heartbeats_sent",
    ] {
        assert!(summary[field].is_number(), "{field}: {summary}");
    }
    for quantile in ["p50", "p90", "p99", "max"] {
        assert!(summary["latency_ms"][quantile].is_number(), "{summary}");
    }
    assert_eq!(summary["orgs"], 2);
    assert_eq!(summary["agents"], 4);
    assert!(summary["heartbeats_sent"].as_u64().unwrap() >= 4);
}
