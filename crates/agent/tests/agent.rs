//! The agent binary against a real `zerotrace serve`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use support::*;

#[test]
fn enroll_writes_a_private_config_and_heartbeats_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let org = org(&server, "Heartbeat Corp");
    let home = dir.path().join("agent");
    let (config, enrolled) = enroll(&home, &server.url(), &org.token);

    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the config holds the device credential");
    let text = std::fs::read_to_string(&config).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let credential = parsed["credential"].as_str().unwrap().to_owned();
    assert!(credential.starts_with("ztd_"), "{credential}");
    let agent_id = enrolled["agent_id"].as_str().unwrap().to_owned();
    assert_eq!(parsed["agent_id"].as_str(), Some(agent_id.as_str()));

    // The stored credential is the agent's identity on the server.
    let (status, me) = get(&format!("{}/api/v1/auth/me", server.url()), &credential);
    assert_eq!(status, 200);
    assert_eq!(me["kind"], "agent");
    assert_eq!(me["agent_id"].as_str(), Some(agent_id.as_str()));

    let agent_url = format!("{}/api/v1/agents/{agent_id}", server.url());
    let (_, before) = get(&agent_url, &org.api_key);
    let enrolled_seen = before["last_seen_at"].as_str().unwrap().to_owned();
    assert_eq!(before["hostname"].as_str().map(str::is_empty), Some(false));

    std::thread::sleep(Duration::from_millis(1100));
    let root = fixture_root(dir.path());
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(
        Duration::from_secs(60),
        "a heartbeat after enrollment",
        || {
            let (_, view) = get(&agent_url, &org.api_key);
            view["last_seen_at"].as_str() != Some(enrolled_seen.as_str())
        },
    );
    let (_, after) = get(&agent_url, &org.api_key);
    assert_eq!(after["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(after["status"], "online");

    // The first snapshot is delivered and leaves the spool.
    running.eventually(
        Duration::from_secs(60),
        "the first snapshot delivered",
        || state(&home)["last_delivered"]["sequence"] == 1,
    );
    assert!(spooled(&home).is_empty());
    assert_eq!(running.terminate(), 0, "SIGTERM is a clean stop");
    assert!(running.log().contains("agent stopped"));

    let s = state(&home);
    assert_eq!(s["last_scan"]["packages"], 2);
    assert!(s["last_heartbeat_at"].is_string());
    assert!(s["last_heartbeat_error"].is_null(), "{s}");
    assert!(s["rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(s["last_delivered"]["status"], "accepted");

    // `status --json` tells the same story, and `--check` asks the server.
    let out = agent()
        .args(["status", "--json", "--check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["agent_id"].as_str(), Some(agent_id.as_str()));
    assert_eq!(status["spooled_snapshots"], 0);
    assert_eq!(status["last_scan"]["packages"], 2);
    assert_eq!(status["last_delivered"]["status"], "accepted");
    assert_eq!(status["server_check"], "credential accepted");
    let out = agent()
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let batch = s["last_delivered"]["batch_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("(snapshot 1, batch {batch}, accepted)")),
        "{text}"
    );

    // A restart scans the same packages again: same hash, nothing new sent.
    let mut again = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    again.eventually(
        Duration::from_secs(60),
        "the restarted agent's scan",
        || again.log().contains("inventory unchanged"),
    );
    assert_eq!(again.terminate(), 0);
    assert_eq!(state(&home)["sequence"], 1);
    assert_eq!(state(&home)["last_delivered"]["batch_id"], batch);

    // A changed inventory becomes snapshot 2, delivered in turn.
    let status_file = root.join("var/lib/dpkg/status");
    let mut dpkg = std::fs::read_to_string(&status_file).unwrap();
    dpkg.push_str(
        "Package: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n\n",
    );
    std::fs::write(&status_file, dpkg).unwrap();
    let mut changed = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    changed.eventually(Duration::from_secs(60), "snapshot 2 delivered", || {
        state(&home)["last_delivered"]["sequence"] == 2
    });
    assert_eq!(changed.terminate(), 0);
    assert_eq!(state(&home)["last_delivered"]["status"], "accepted");
    assert!(spooled(&home).is_empty());
}

#[test]
fn revoked_credential_stops_the_agent_with_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let org = org(&server, "Revoke Corp");
    let home = dir.path().join("agent");
    let (config, enrolled) = enroll(&home, &server.url(), &org.token);
    let agent_id = enrolled["agent_id"].as_str().unwrap();
    let root = fixture_root(dir.path());

    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(Duration::from_secs(60), "the first heartbeat", || {
        state(&home)["last_heartbeat_at"].is_string()
    });
    let (status, view) = post(
        &format!("{}/api/v1/agents/{agent_id}/revoke", server.url()),
        &org.api_key,
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "revoked");

    let code = running.wait(Duration::from_secs(60));
    assert_eq!(code, Some(3), "{}", running.log());
    let log = running.log();
    assert!(log.contains("revoked"), "{log}");
    assert!(
        log.contains("enroll --force"),
        "the message says what to do: {log}"
    );
    let reason = state(&home)["credential_rejected"].clone();
    assert!(reason.as_str().unwrap().contains("401"), "{reason}");

    // It stays stopped: `run` refuses at once, `status` reports it, the server agrees.
    let out = agent()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    let out = agent()
        .args(["status", "--check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STOPPED") && text.contains("401"), "{text}");

    // Enrolling again is a new identity with a fresh start: no revocation notice, sequence
    // numbers from 1, nothing spooled under the old identity.
    std::fs::write(home.join("spool/00000000000000000009.json.gz"), b"old").unwrap();
    let out = agent()
        .args([
            "enroll",
            "--force",
            "--json",
            "--server",
            &server.url(),
            "--config",
        ])
        .arg(&config)
        .env("ZEROTRACE_ENROLL_TOKEN", &org.token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(again["agent_id"].as_str(), Some(agent_id));
    let fresh = state(&home);
    assert!(fresh["credential_rejected"].is_null(), "{fresh}");
    assert_eq!(fresh["sequence"], 0);
    assert!(spooled(&home).is_empty());
}

#[test]
fn enrollment_failures_have_distinct_exit_codes_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let org = org(&server, "Codes Corp");
    let once = server.admin(&["token", "create", "--org", &org.slug, "--max-uses", "1"]);
    let once = once["token"].as_str().unwrap();
    let config = dir.path().join("a/agent.toml");
    let enroll_with = |server: &str, token: &str, force: bool| {
        let mut command = agent();
        command
            .args(["enroll", "--server", server, "--config"])
            .arg(&config)
            .env("ZEROTRACE_ENROLL_TOKEN", token);
        if force {
            command.arg("--force");
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, err) = enroll_with(&server.url(), "zte_not-a-token", false);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("does not know this enrollment token"), "{err}");
    assert!(!config.exists(), "a refused enrollment writes nothing");

    let (code, err) = enroll_with(&server.url(), once, false);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = enroll_with(&server.url(), once, false);
    assert_eq!(code, Some(7), "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, err) = enroll_with(&server.url(), once, true);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("used as often as it allows"), "{err}");

    // Port 1 on loopback: nothing listens there.
    let (code, err) = enroll_with("http://127.0.0.1:1", &org.token, true);
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("cannot reach the server"), "{err}");

    let (code, err) = enroll_with("zerotrace.example", &org.token, true);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("must start with https://"), "{err}");

    let out = agent()
        .args(["run", "--config"])
        .arg(dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zerotrace-agent enroll"));
}

#[test]
fn a_snapshot_spooled_while_the_server_is_down_is_applied_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr;
    let org = org(&server, "Outage Corp");
    let home = dir.path().join("agent");
    let (config, enrolled) = enroll(&home, &server.url(), &org.token);
    let agent_id = enrolled["agent_id"].as_str().unwrap().to_owned();
    server.stop();

    let root = fixture_root(dir.path());
    let mut running = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    running.eventually(
        Duration::from_secs(60),
        "a failed heartbeat and a spooled snapshot",
        || {
            let s = state(&home);
            s["last_heartbeat_error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot reach the server"))
                && spooled(&home).len() == 1
                && running.log().contains("kept in the spool")
        },
    );
    let snapshot = home.join("spool/00000000000000000001.json.gz");
    let spooled_bytes = std::fs::read(&snapshot).unwrap();

    let server = Server::start(&data, &addr.to_string());
    running.eventually(
        Duration::from_secs(60),
        "a heartbeat once the server is back",
        || {
            let s = state(&home);
            s["last_heartbeat_at"].is_string() && s["last_heartbeat_error"].is_null()
        },
    );
    let (_, view) = get(
        &format!("{}/api/v1/agents/{agent_id}", server.url()),
        &org.api_key,
    );
    assert_eq!(view["status"], "online");
    // The first retry comes 5 to 10 s after the failure; a second one (if the server was not up
    // yet) 10 to 20 s after that.
    running.eventually(
        Duration::from_secs(40),
        "the spooled snapshot delivered",
        || state(&home)["last_delivered"]["status"] == "accepted",
    );
    assert_eq!(running.terminate(), 0);
    assert!(spooled(&home).is_empty());
    let batch = state(&home)["last_delivered"]["batch_id"].clone();
    let asset = eventually_asset(&server, &org, &agent_id, |a| a["inventory_sequence"] == 1);
    assert_eq!(asset["package_count"], 2, "{asset}");

    // The 202 lost on the way back: the agent still has snapshot 1 and sends it again. The
    // server recognizes it, answers with the first batch id, and applies nothing twice.
    std::fs::write(&snapshot, &spooled_bytes).unwrap();
    let mut again = run_agent(&config, &root, &["--heartbeat-interval", "1"]);
    again.eventually(Duration::from_secs(60), "the repeat answered", || {
        state(&home)["last_delivered"]["status"] == "duplicate"
    });
    assert_eq!(again.terminate(), 0);
    assert_eq!(state(&home)["last_delivered"]["batch_id"], batch);
    assert!(spooled(&home).is_empty());
    let (_, assets) = get(&format!("{}/api/v1/assets", server.url()), &org.api_key);
    let items = assets["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{assets}");
    assert_eq!(items[0]["inventory_sequence"], 1);
    assert_eq!(items[0]["last_inventory_at"], asset["last_inventory_at"]);
}
