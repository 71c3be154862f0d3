//! The agent and the server end to end: the real `zerotrace-agent run` reports a fixture root to a
//! real `zerotrace serve` with an imported knowledge base, and the server's API shows the asset,
//! its packages and the finding, through its whole life (open, then fixed by an upgrade).

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// requests before 2.31.0 leaks Proxy-Authorization headers on redirects (PYSEC-2023-74 in the
/// feed; findings name a vulnerability by its CVE).
const VULNERABILITY: &str = "CVE-2023-32681";
const VULNERABLE: &str = "2.30.0";
const FIXED: &str = "2.31.0";

/// Polls the organization's findings for `requests` until one satisfies `check`; returns it.
fn eventually_finding(
    server: &Server,
    org: &Org,
    running: &Running,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let url = format!(
        "{}/api/v1/findings?status=all&package=requests",
        server.url()
    );
    let mut last = Value::Null;
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let (status, page) = get(&url, &org.api_key);
        assert_eq!(status, 200, "{page}");
        if let Some(finding) = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["vulnerability_id"] == VULNERABILITY)
            && check(finding)
        {
            return finding.clone();
        }
        last = page;
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "timed out waiting for the {VULNERABILITY} finding; last page: {last}\nagent log:\n{}",
        running.log()
    );
}

#[test]
fn a_vulnerable_package_is_found_and_its_upgrade_fixes_the_finding() {
    let Some(feed) = osv_feed("PyPI.zip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_knowledge(&data, &feed);
    let server = Server::start(&data, "127.0.0.1:0");
    let org = org(&server, "Pipeline Corp");
    let home = dir.path().join("agent");
    let (config, enrolled) = enroll(&home, &server.url(), &org.token);
    let agent_id = enrolled["agent_id"].as_str().unwrap().to_owned();
    let agent_url = format!("{}/api/v1/agents/{agent_id}", server.url());
    let root = fixture_root(dir.path());
    python_package(&root, "requests", VULNERABLE);

    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(Duration::from_secs(30), "snapshot 1 accepted", || {
        let delivered = &state(&home)["last_delivered"];
        delivered["sequence"] == 1 && delivered["status"] == "accepted"
    });
    let asset = eventually_asset(&server, &org, &agent_id, |a| a["inventory_sequence"] == 1);
    assert_eq!(
        asset["package_count"], 3,
        "two dpkg packages and requests: {asset}"
    );
    assert_eq!(asset["kind"], "host");
    let asset_id = asset["id"].as_str().unwrap().to_owned();
    let (status, packages) = get(
        &format!("{}/api/v1/assets/{asset_id}/packages", server.url()),
        &org.api_key,
    );
    assert_eq!(status, 200, "{packages}");
    let requests: Vec<&Value> = packages["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "requests")
        .collect();
    assert_eq!(requests.len(), 1, "{packages}");
    assert_eq!(requests[0]["version"], VULNERABLE);
    assert_eq!(requests[0]["ecosystem"], "PyPI");

    let open = eventually_finding(&server, &org, &running, |f| f["status"] == "open");
    assert_eq!(open["asset_id"].as_str(), Some(asset_id.as_str()));
    assert_eq!(open["package_version"], VULNERABLE);
    assert_eq!(open["fixed_version"], FIXED);
    assert_eq!(open["confidence"], "ecosystem-exact");

    // The server takes heartbeats carrying the agent's CPU and memory (its heartbeat body
    // refuses unknown fields, so an accepted one proves the fields are understood). The agent
    // view does not show them, so the proof is a heartbeat accepted after CPU was measured.
    running.eventually(Duration::from_secs(20), "CPU measured", || {
        state(&home)["cpu_percent"].is_f64()
    });
    let measured = state(&home)["last_heartbeat_at"].clone();
    running.eventually(
        Duration::from_secs(20),
        "a heartbeat with CPU and memory accepted",
        || {
            let s = state(&home);
            s["last_heartbeat_at"] != measured && s["last_heartbeat_error"].is_null()
        },
    );
    let (_, view) = get(&agent_url, &org.api_key);
    assert_eq!(view["status"], "online", "{view}");
    assert!(
        !running.log().contains("heartbeat failed"),
        "{}",
        running.log()
    );
    assert_eq!(running.terminate(), 0);

    // pip install --upgrade requests, and the agent's next scan (here: its restart).
    python_package(&root, "requests", FIXED);
    let mut upgraded = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    upgraded.eventually(Duration::from_secs(30), "snapshot 2 accepted", || {
        let delivered = &state(&home)["last_delivered"];
        delivered["sequence"] == 2 && delivered["status"] == "accepted"
    });
    let fixed = eventually_finding(&server, &org, &upgraded, |f| f["status"] == "fixed");
    assert_eq!(fixed["id"], open["id"], "the same finding, now fixed");
    assert!(fixed["fixed_at"].is_string(), "{fixed}");
    let asset = eventually_asset(&server, &org, &agent_id, |a| a["inventory_sequence"] == 2);
    assert_eq!(asset["package_count"], 3, "{asset}");
    assert_eq!(asset["open_findings"], 0, "{asset}");
    assert_eq!(upgraded.terminate(), 0);
}
