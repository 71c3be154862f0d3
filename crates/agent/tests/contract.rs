//! The agent's requests against a stand-in server that answers as `INVENTORY_CONTRACT.md` says
//! and records what the agent sent: answers the real server gives only under load (429, 503)
//! or that it must never be relied on to give (413 for our snapshots, a revoked credential in the
//! middle of a delivery). The real server is in `agent.rs` and `pipeline.rs`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use support::*;

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, gunzipped when the agent compressed it.
    fn json(&self) -> serde_json::Value {
        if self.header("content-encoding") != Some("gzip") {
            return serde_json::from_slice(&self.body).unwrap();
        }
        let mut text = String::new();
        GzDecoder::new(self.body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// Answers heartbeats with 200, and inventories with `script` in order, then 202s.
struct FakeServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    fn start(listen: &str, script: Vec<(u16, &'static str, &'static str)>) -> FakeServer {
        let listener = TcpListener::bind(listen).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            let mut batches = 0;
            while !halt.load(Ordering::Relaxed) {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                };
                stream.set_nonblocking(false).unwrap();
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                let (status, extra, body) = if request.path.ends_with("/heartbeat") {
                    (200, "", r#"{"heartbeat_interval_secs":60}"#.to_owned())
                } else {
                    match script.next() {
                        Some((status, extra, body)) => (status, extra, body.to_owned()),
                        None => {
                            batches += 1;
                            (
                                202,
                                "",
                                format!(r#"{{"batch_id":"batch-{batches}","status":"accepted"}}"#),
                            )
                        }
                    }
                };
                log.lock().unwrap().push(request);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                    body.len()
                );
            }
        });
        FakeServer {
            addr,
            requests,
            stop,
        }
    }

    fn inventories(&self) -> Vec<Request> {
        self.sent("/api/v1/agents/inventory")
    }

    fn heartbeats(&self) -> Vec<Request> {
        self.sent("/api/v1/agents/heartbeat")
    }

    fn sent(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Let the accept loop see the flag and close the listener.
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// An enrolled agent's config pointing at `addr` (enrollment itself is tested against the real
/// server).
fn config_for(dir: &Path, addr: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "server = \"http://{addr}\"\nagent_id = \"a-1\"\norg_id = \"o-1\"\ncredential = \"ztd_test\"\nstate_dir = {:?}\n",
            dir.to_str().unwrap()
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_429_and_a_full_queue_are_waited_out_and_the_snapshot_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(
        "127.0.0.1:0",
        vec![
            (
                429,
                "retry-after: 2\r\n",
                r#"{"error":{"code":"rate_limited","message":"slow down"}}"#,
            ),
            (
                503,
                "retry-after: 2\r\n",
                r#"{"error":{"code":"queue_full","message":"the server is behind"}}"#,
            ),
        ],
    );
    let config = config_for(dir.path(), server.addr);
    let root = fixture_root(dir.path());
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(Duration::from_secs(30), "a delivery", || {
        state(dir.path())["last_delivered"]["batch_id"] == "batch-1"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(running.terminate(), 0);

    let sent = server.inventories();
    assert_eq!(
        sent.len(),
        3,
        "refused with 429, then 503, then one delivery, nothing after"
    );
    for pair in sent.windows(2) {
        let waited = pair[1].at - pair[0].at;
        assert!(
            waited >= Duration::from_secs(2),
            "Retry-After: 2 obeyed, waited {waited:?}"
        );
    }
    for request in &sent {
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(request.header("authorization"), Some("Bearer ztd_test"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.body, sent[0].body,
            "every retry sends the same snapshot"
        );
    }
    let body = sent[2].json();
    assert_eq!(body["sequence"], 1);
    assert_eq!(body["hash"].as_str().map(str::len), Some(64));
    assert_eq!(body["os"]["id"], "debian");
    let names: Vec<&str> = body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["curl", "zlib1g"]);
    assert_eq!(body["packages"][0]["ecosystem"], "Debian:12");
    assert!(body["scanned_at"].as_str().unwrap().ends_with('Z'));
    assert!(spooled(dir.path()).is_empty());
    assert_eq!(state(dir.path())["last_delivered"]["status"], "accepted");
    let log = running.log();
    assert!(log.contains("slow down (rate_limited)"), "{log}");
    assert!(log.contains("the server is behind (queue_full)"), "{log}");

    // Every heartbeat carries the agent's memory; all but the first (too soon after start to
    // measure over) its CPU use.
    let beats: Vec<serde_json::Value> = server.heartbeats().iter().map(Request::json).collect();
    assert!(beats.len() >= 3, "{beats:?}");
    for beat in &beats {
        assert_eq!(beat["agent_version"], env!("CARGO_PKG_VERSION"));
        assert!(
            beat["rss_bytes"].as_u64().is_some_and(|rss| rss > 100_000),
            "{beat}"
        );
    }
    assert!(beats[0].get("cpu_percent").is_none(), "{}", beats[0]);
    for beat in &beats[1..] {
        let cpu = beat["cpu_percent"].as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&cpu), "{beat}");
    }
}

#[test]
fn server_down_then_back_delivers_the_spooled_snapshot_once() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then leave it closed: the server is "down".
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = config_for(dir.path(), addr);
    let root = fixture_root(dir.path());
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(
        Duration::from_secs(60),
        "the snapshot spooled while down",
        || running.log().contains("kept in the spool") && spooled(dir.path()).len() == 1,
    );

    let server = FakeServer::start(&addr.to_string(), Vec::new());
    running.eventually(
        Duration::from_secs(30),
        "delivery once the server is back",
        || state(dir.path())["last_delivered"]["sequence"] == 1,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(running.terminate(), 0);
    assert_eq!(server.inventories().len(), 1, "delivered exactly once");
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn a_413_drops_the_snapshot_and_a_401_stops_the_agent_keeping_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(
        "127.0.0.1:0",
        vec![(
            413,
            "",
            r#"{"error":{"code":"too_large","message":"body over 16 MiB"}}"#,
        )],
    );
    let config = config_for(dir.path(), server.addr);
    let root = fixture_root(dir.path());
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(Duration::from_secs(60), "the 413", || {
        running.log().contains("body over 16 MiB")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(running.terminate(), 0);
    assert!(spooled(dir.path()).is_empty(), "a 413 snapshot is dropped");
    assert_eq!(server.inventories().len(), 1);
    drop(server);

    // A changed inventory, and a server that no longer knows the credential.
    let server = FakeServer::start(
        "127.0.0.1:0",
        vec![(
            401,
            "",
            r#"{"error":{"code":"unauthorized","message":"credential revoked"}}"#,
        )],
    );
    let config = config_for(dir.path(), server.addr);
    let status_file = root.join("var/lib/dpkg/status");
    let mut dpkg = std::fs::read_to_string(&status_file).unwrap();
    dpkg.push_str(
        "Package: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n\n",
    );
    std::fs::write(&status_file, dpkg).unwrap();
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    assert_eq!(
        running.wait(Duration::from_secs(60)),
        Some(3),
        "{}",
        running.log()
    );
    assert!(running.log().contains("credential revoked"));
    assert_eq!(
        spooled(dir.path()),
        ["00000000000000000002.json.gz"],
        "snapshot 2 is kept for a re-enrolled agent to inspect"
    );
    assert_eq!(server.inventories().len(), 1);
}
