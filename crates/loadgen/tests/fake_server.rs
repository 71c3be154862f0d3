//! Setup and run against a scripted HTTP server on loopback: what is sent (the wire format, the
//! credentials), how 429s are obeyed, and that any answer — any status, any body — is counted,
//! never followed off the machine, never a panic. Skipped without `../shared/data`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flate2::read::GzDecoder;
use serde_json::Value;
use zerotrace_loadgen::{LoadgenConfig, LoadgenError, LoopbackUrl, PackagePool, package_pool};

fn pool() -> Option<Arc<PackagePool>> {
    static POOL: OnceLock<Option<Arc<PackagePool>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        if !dir.join("lockfiles").is_dir() {
            eprintln!("skipped: no shared data at {}", dir.display());
            return None;
        }
        Some(Arc::new(package_pool(&dir).unwrap()))
    })
    .clone()
}

struct Request {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

fn throttle(seconds: u64) -> Answer {
    Answer {
        headers: vec![("Retry-After", seconds.to_string())],
        ..answer(
            429,
            r#"{"error":{"code":"rate_limited","message":"slow down"}}"#,
        )
    }
}

type Script = dyn Fn(&Request, usize) -> Answer + Send + Sync;

/// Serves `script(request, how many requests to this path came before)` on a free loopback
/// port, one connection per request; every request is kept.
fn serve(
    script: impl Fn(&Request, usize) -> Answer + Send + Sync + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let (script, counts, sink) = (script.clone(), counts.clone(), sink.clone());
            std::thread::spawn(move || handle(stream, &*script, &counts, &sink));
        }
    });
    (addr, log)
}

fn handle(
    stream: TcpStream,
    script: &Script,
    counts: &Mutex<HashMap<String, usize>>,
    log: &Mutex<Vec<Request>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Request {
        path,
        headers,
        body,
    };
    let nth = {
        let mut counts = counts.lock().unwrap();
        let count = counts.entry(request.path.clone()).or_default();
        *count += 1;
        *count - 1
    };
    let reply = script(&request, nth);
    log.lock().unwrap().push(request);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

/// The API's happy answers for setup.
fn setup_answers(request: &Request, nth: usize) -> Option<Answer> {
    Some(match request.path.as_str() {
        "/api/v1/auth/login" => answer(
            200,
            r#"{"access_token":"jwt","token_type":"Bearer","expires_in":900,"refresh_token":"r"}"#,
        ),
        "/api/v1/orgs" => answer(201, r#"{"id":"org-1","slug":"loadgen-x-1","name":"n"}"#),
        "/api/v1/orgs/org-1/users" => answer(201, "{}"),
        "/api/v1/enrollment-tokens" => answer(201, r#"{"token":"zte_token"}"#),
        "/api/v1/api-keys" => answer(201, r#"{"key":"ztk_key"}"#),
        "/api/v1/agents/enroll" if nth == 0 => throttle(1),
        "/api/v1/agents/enroll" => answer(
            201,
            &format!(
                r#"{{"agent_id":"agent-{nth}","org_id":"org-1","credential":"ztd_{nth}","heartbeat_interval_secs":60}}"#
            ),
        ),
        _ => return None,
    })
}

fn config(addr: SocketAddr) -> LoadgenConfig {
    let mut config =
        LoadgenConfig::new(LoopbackUrl::parse(&format!("http://{addr}")).unwrap(), "pw");
    config.orgs = 1;
    config.agents_per_org = 3;
    config.apps = 30;
    config.duration = Duration::from_secs(4);
    config.scan_interval = Duration::from_secs(1);
    config.heartbeat_interval = Duration::from_secs(1);
    config.concurrency = 4;
    config
}

#[test]
fn any_answer_is_counted_429s_are_obeyed_and_redirects_not_followed() {
    let Some(pool) = pool() else { return };
    let (addr, log) = serve(|request, nth| {
        if let Some(answer) = setup_answers(request, nth) {
            return answer;
        }
        match request.path.as_str() {
            "/api/v1/agents/heartbeat" => answer(200, "not even json \u{0}"),
            "/api/v1/agents/inventory" => match nth % 7 {
                0 | 5 => answer(202, r#"{"batch_id":"b","status":"accepted"}"#),
                6 => Answer {
                    headers: vec![("Retry-After", "1".to_owned())],
                    ..answer(503, r#"{"error":{"code":"queue_full","message":"busy"}}"#)
                },
                1 => throttle(1),
                2 => answer(500, "<html>oops</html>"),
                3 => Answer {
                    body: vec![0xff, 0x00, 0xfe],
                    ..answer(400, "")
                },
                _ => Answer {
                    headers: vec![("Location", "http://example.com/".to_owned())],
                    ..answer(302, "")
                },
            },
            _ => answer(404, ""),
        }
    });
    let config = config(addr);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fleet = runtime
        .block_on(zerotrace_loadgen::setup(&config, &pool, |_| {}))
        .unwrap();
    assert_eq!(
        fleet.setup_throttled, 1,
        "the enrollment 429 was waited out"
    );
    assert!(fleet.setup_time >= Duration::from_secs(1));
    let org = &fleet.orgs[0];
    assert_eq!(
        (org.id.as_str(), org.read_api_key.as_str()),
        ("org-1", "ztk_key")
    );
    let credentials: Vec<&str> = fleet.agents().map(|a| a.credential.as_str()).collect();
    assert_eq!(credentials.len(), 3);

    let summary = runtime
        .block_on(zerotrace_loadgen::run(&fleet, pool, &config, |_| {}))
        .unwrap();
    eprintln!("{summary:#?}");
    let answered = summary.accepted
        + summary.throttled
        + summary.client_errors
        + summary.server_errors
        + summary.other_answers
        + summary.network_errors;
    assert_eq!(
        answered, summary.inventories_sent,
        "every inventory has one outcome"
    );
    assert!(summary.accepted >= 2 && summary.throttled >= 1 && summary.server_errors >= 2);
    assert!(
        summary.client_errors >= 1 && summary.other_answers >= 1,
        "{summary:?}"
    );
    assert_eq!(summary.records_accepted, summary.accepted * 30);
    assert_eq!(summary.heartbeats_accepted, summary.heartbeats_sent);
    assert!(
        summary
            .error_samples
            .iter()
            .any(|s| s.contains("HTTP 500: <html>oops</html>"))
    );
    assert!(summary.latency_ms.max >= summary.latency_ms.p50);

    let log = log.lock().unwrap();
    let mut sequences: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for request in log.iter().filter(|r| r.path == "/api/v1/agents/inventory") {
        let credential = request.headers["authorization"]
            .strip_prefix("Bearer ")
            .unwrap()
            .to_owned();
        assert!(credentials.contains(&credential.as_str()));
        assert_eq!(request.headers["content-encoding"], "gzip");
        assert_eq!(request.headers["content-type"], "application/json");
        let mut text = String::new();
        GzDecoder::new(request.body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        let hash = body["hash"].as_str().unwrap().to_owned();
        sequences
            .entry(credential)
            .or_default()
            .push((body["sequence"].as_u64().unwrap(), hash));
    }
    for (credential, sent) in &sequences {
        assert_eq!(sent[0].0, 1, "{credential} starts at 1");
        for pair in sent.windows(2) {
            let ((a, hash_a), (b, hash_b)) = (&pair[0], &pair[1]);
            // The same snapshot again after a 429, else the next one.
            assert!(
                (a == b && hash_a == hash_b) || (b == &(a + 1) && hash_a != hash_b),
                "{credential}: {sent:?}"
            );
        }
    }
    let resent = sequences
        .values()
        .flat_map(|sent| sent.windows(2))
        .filter(|pair| pair[0].0 == pair[1].0)
        .count();
    let inventories = sequences.values().map(Vec::len).sum::<usize>();
    let paced = summary.throttled + (0..inventories).filter(|nth| nth % 7 == 6).count() as u64;
    assert!(
        resent >= 1 && resent as u64 <= paced,
        "a 429 or a 503 with Retry-After is followed by a resend unless the run ended first"
    );
    // Heartbeats carry what the agent reports of itself: no CPU figure the first time.
    let mut heartbeats: HashMap<&str, Vec<Value>> = HashMap::new();
    for request in log.iter().filter(|r| r.path == "/api/v1/agents/heartbeat") {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        heartbeats
            .entry(request.headers["authorization"].as_str())
            .or_default()
            .push(body);
    }
    assert_eq!(heartbeats.len(), 3);
    for sent in heartbeats.values() {
        assert!(
            sent.iter()
                .all(|b| b["agent_version"].is_string() && b["rss_bytes"].is_u64())
        );
        assert!(sent[0].get("cpu_percent").is_none(), "{sent:?}");
        assert!(
            sent[1..].iter().all(|b| b["cpu_percent"].is_f64()),
            "{sent:?}"
        );
    }
    assert!(
        log.iter().all(|r| r.path.starts_with("/api/v1/")),
        "nothing but the API was asked for"
    );
}

#[test]
fn a_wrong_password_or_a_garbled_answer_fails_setup_with_words() {
    let Some(pool) = pool() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let (addr, _) =
        serve(|_, _| answer(401, r#"{"error":{"code":"unauthorized","message":"no"}}"#));
    let error = runtime
        .block_on(zerotrace_loadgen::setup(&config(addr), &pool, |_| {}))
        .err()
        .unwrap();
    assert!(matches!(error, LoadgenError::Setup { .. }), "{error:?}");
    assert!(error.to_string().contains("--admin-password"), "{error}");

    let (addr, _) = serve(|request, nth| match request.path.as_str() {
        "/api/v1/orgs" => answer(201, "\u{0}garbage"),
        _ => setup_answers(request, nth).unwrap_or_else(|| answer(404, "")),
    });
    let error = runtime
        .block_on(zerotrace_loadgen::setup(&config(addr), &pool, |_| {}))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("creating organization") && error.contains("does not understand"),
        "{error}"
    );

    let (addr, log) = serve(|_, _| answer(503, "down for maintenance"));
    let error = runtime
        .block_on(zerotrace_loadgen::setup(&config(addr), &pool, |_| {}))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("HTTP 503: down for maintenance"), "{error}");
    assert_eq!(log.lock().unwrap().len(), 4, "5xx is tried four times");
}
