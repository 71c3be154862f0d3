//! Crash safety of the scale-out pipeline with the real binary: PostgreSQL, Redis Streams, an
//! API-only instance and a separate worker instance that is killed with SIGKILL while it holds
//! a batch it has not acknowledged. After a new worker starts, every report is reflected exactly
//! once: every asset holds its snapshot, no finding is lost or doubled, and the summary's
//! running totals equal a recount (a batch applied twice would count its findings twice).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

const AGENTS: usize = 40;
const FILLER_PACKAGES: usize = 150;

fn shared(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Deployment {
    data_dir: tempfile::TempDir,
    database_url: String,
    redis_url: String,
    prefix: String,
    admin_url: String,
    schema: String,
}

impl Deployment {
    fn zerotrace(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zerotrace"));
        command
            .env("ZEROTRACE_DATA_DIR", self.data_dir.path())
            .env("DATABASE_URL", &self.database_url)
            .env("QUEUE_URL", &self.redis_url)
            .env("ZEROTRACE_REDIS_PREFIX", &self.prefix)
            .env("ZEROTRACE_ADMIN_PASSWORD", "crash test password")
            .env("ZEROTRACE_QUEUE_VISIBILITY_TIMEOUT", "2")
            .env("RUST_LOG", "warn");
        command
    }

    /// Starts `serve` with `workers` workers; returns it and its base URL once it answers.
    fn serve(&self, workers: usize, batch: usize) -> (Process, String) {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = self
            .zerotrace()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--workers",
                &workers.to_string(),
                "--batch",
                &batch.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let process = Process(child);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        (process, base)
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(self.redis_url.as_str())
            .and_then(|c| c.get_connection())
            .expect("redis")
    }

    /// Deliveries handed out and not acknowledged.
    fn pending(&self) -> u64 {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(format!("{}:inventory", self.prefix))
            .arg("workers")
            .query(&mut self.redis())
            .unwrap_or(redis::Value::Nil);
        match reply {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(count)) => u64::try_from(*count).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        }
    }

    fn stream_len(&self, suffix: &str) -> u64 {
        redis::cmd("XLEN")
            .arg(format!("{}:inventory{suffix}", self.prefix))
            .query(&mut self.redis())
            .unwrap_or(0)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let mut redis = self.redis();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut redis)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut redis);
        }
        let admin_url = self.admin_url.clone();
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        })
        .join();
    }
}

fn deployment() -> Deployment {
    let admin_url = std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url =
        std::env::var("ZEROTRACE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let schema = format!("crash_{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} is needed (scripts/test.sh starts it): {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
    });
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let deployment = Deployment {
        data_dir: tempfile::tempdir().expect("tempdir"),
        database_url: format!("{admin_url}{separator}options=-csearch_path%3D{schema}"),
        redis_url,
        prefix: format!("zt-crash-{}", uuid::Uuid::new_v4().simple()),
        admin_url,
        schema,
    };
    redis::cmd("PING")
        .query::<String>(&mut deployment.redis())
        .expect("Redis is needed (scripts/test.sh starts it)");
    deployment
}

fn run_json(command: &mut Command) -> Value {
    let output = command.output().expect("zerotrace runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn report(agent: usize) -> Value {
    let mut packages = vec![
        json!({"ecosystem": "crates.io", "name": "time", "version": "0.1.43", "manager": "lockfile:cargo-lock"}),
        json!({"ecosystem": "crates.io", "name": "smallvec", "version": "0.6.9", "manager": "lockfile:cargo-lock"}),
    ];
    packages.extend((0..FILLER_PACKAGES).map(|i| {
        json!({"ecosystem": "crates.io", "name": format!("zt-filler-{i}"), "version": format!("1.{agent}.0"), "manager": "lockfile:cargo-lock"})
    }));
    json!({
        "sequence": 1,
        "hash": format!("{agent:064x}"),
        "scanned_at": "2026-11-22T04:00:00Z",
        "os": null,
        "packages": packages,
    })
}

#[test]
fn a_worker_killed_mid_batch_loses_and_doubles_nothing() {
    let feed = shared("vuln/osv/crates.io.zip");
    if !feed.is_file() {
        eprintln!("skipped: no OSV data at {}", feed.display());
        return;
    }
    let deployment = deployment();
    let output = deployment
        .zerotrace()
        .args(["vulndb", "import"])
        .arg(&feed)
        .output()
        .expect("import runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let org = run_json(
        deployment
            .zerotrace()
            .args(["org", "create", "--name", "Crash Co", "--json"]),
    );
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let token = run_json(
        deployment
            .zerotrace()
            .args(["token", "create", "--org", &org_id, "--json"]),
    );
    let token = token["token"].as_str().expect("token").to_owned();
    let user = run_json(deployment.zerotrace().args([
        "user",
        "create",
        "--org",
        "crash-co",
        "--email",
        "ops@crash.example",
        "--role",
        "analyst",
        "--json",
    ]));
    let password = user["password"].as_str().expect("password").to_owned();

    // The API instance accepts and queues; no workers.
    let (_api, api) = deployment.serve(0, 64);
    let client = reqwest::blocking::Client::new();
    let mut credentials = Vec::new();
    for i in 0..AGENTS {
        let enrolled: Value = client
            .post(format!("{api}/api/v1/agents/enroll"))
            .json(
                &json!({"token": token, "hostname": format!("crash-{i:02}"), "os": "linux",
                          "os_version": "Debian 12", "arch": "x86_64", "agent_version": "0.1.0"}),
            )
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("enroll");
        credentials.push(
            enrolled["credential"]
                .as_str()
                .expect("credential")
                .to_owned(),
        );
    }
    for (i, credential) in credentials.iter().enumerate() {
        let response = client
            .post(format!("{api}/api/v1/agents/inventory"))
            .bearer_auth(credential)
            .json(&report(i))
            .send()
            .expect("send");
        assert_eq!(response.status(), 202);
    }
    assert_eq!(
        deployment.stream_len(""),
        AGENTS as u64,
        "all reports queued"
    );

    let login: Value = client
        .post(format!("{api}/api/v1/auth/login"))
        .json(&json!({"email": "ops@crash.example", "password": password}))
        .send()
        .and_then(|r| r.json())
        .expect("login");
    let access = login["access_token"].as_str().expect("token").to_owned();
    let get = |path: &str| -> Value {
        client
            .get(format!("{api}{path}"))
            .bearer_auth(&access)
            .send()
            .and_then(|r| r.json())
            .expect("get")
    };
    let applied = || {
        get("/api/v1/assets?limit=500")["items"]
            .as_array()
            .map_or(0, |items| {
                items
                    .iter()
                    .filter(|a| a["inventory_sequence"] == 1)
                    .count()
            })
    };

    // A worker with small batches; kill it with SIGKILL once it has committed some batches and
    // holds another it has not acknowledged. Timing decides when that is, so try until a kill
    // lands there.
    let mut killed_holding = 0;
    for _attempt in 0..20 {
        let (mut worker, _) = deployment.serve(1, 3);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut done = 0;
        let mut pending = 0;
        while Instant::now() < deadline {
            pending = deployment.pending();
            done = applied();
            if (pending > 0 && done >= 3) || done == AGENTS {
                break;
            }
        }
        worker.0.kill().expect("SIGKILL the worker");
        let _ = worker.0.wait();
        if pending > 0 && (3..AGENTS).contains(&done) {
            killed_holding = pending;
            break;
        }
    }
    assert!(
        killed_holding > 0,
        "never caught the worker holding a batch"
    );
    let before_restart = applied();
    assert!(before_restart < AGENTS, "work was left for the next worker");

    // A new worker takes over the backlog and the dead worker's deliveries (after the 2 s
    // visibility timeout).
    let (_worker, _) = deployment.serve(1, 16);
    let deadline = Instant::now() + Duration::from_secs(120);
    while applied() < AGENTS || deployment.stream_len("") > 0 {
        assert!(
            Instant::now() < deadline,
            "backlog not drained: {} applied",
            applied()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(deployment.stream_len(":dead"), 0, "nothing dead-lettered");

    let assets = get("/api/v1/assets?limit=500");
    let assets = assets["items"].as_array().expect("assets");
    assert_eq!(assets.len(), AGENTS, "one asset per agent, none twice");
    assert!(
        assets
            .iter()
            .all(|a| a["package_count"] == FILLER_PACKAGES as u64 + 2),
        "every snapshot complete"
    );
    let findings = get("/api/v1/findings?status=all&limit=500");
    let findings = findings["items"].as_array().expect("findings");
    let per_asset = findings.len() / AGENTS;
    assert!(per_asset >= 2, "time and smallvec findings on every asset");
    assert_eq!(
        findings.len(),
        per_asset * AGENTS,
        "the same findings on every asset"
    );
    assert!(
        assets
            .iter()
            .all(|a| a["open_findings"] == per_asset as u64)
    );
    let summary = get("/api/v1/summary");
    assert_eq!(
        summary["open_total"],
        findings.len() as u64,
        "running totals counted each report once: {summary}"
    );
    eprintln!(
        "killed a worker holding {killed_holding} deliveries with {before_restart}/{AGENTS} reports applied; \
         after restart {AGENTS}/{AGENTS} applied, {} findings, summary {}",
        findings.len(),
        summary["open_total"]
    );
}
