//! The ingest pipeline end to end over HTTP, on both backends: inventories become findings
//! through the queue and the workers, with the lifecycle (an upgrade fixes, a removal and re-add
//! reopens), idempotent repeats, late reports ignored, summaries that match the findings, the
//! live WebSocket feed, re-matching after the knowledge base changes, and bad input refused.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use zerotrace_vulndb::KnowledgeBase;

use crate::backend_tests;
use crate::support::{Backend, TestApp, eventually};

backend_tests!(
    inventories_become_findings_through_their_lifecycle,
    websocket_announces_the_organizations_events_only,
    a_changed_knowledge_base_rematches_only_what_it_touches,
    bad_inventories_are_refused_and_change_nothing,
    agents_are_rate_limited_with_retry_after,
    another_organization_sees_none_of_the_pipelines_data,
    silent_agents_go_offline_once_and_come_back,
    retention_clears_silent_assets_then_old_fixed_findings,
    a_deleted_fixed_finding_opens_again_when_its_package_returns,
);

fn osv(file: &str) -> Option<PathBuf> {
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

/// A knowledge base file built from these OSV feeds.
fn knowledge_base(dir: &Path, feeds: &[PathBuf]) -> PathBuf {
    let mut kb = KnowledgeBase::new();
    let report = kb.import_paths(feeds, &mut |_| {});
    assert!(report.records() > 0, "imported nothing from {feeds:?}");
    let path = dir.join("vulndb.bin");
    kb.save(&path).expect("save the knowledge base");
    path
}

async fn app_with_knowledge(backend: Backend, vulndb: PathBuf) -> TestApp {
    TestApp::spawn_with(backend, move |config| {
        config.vulndb_path = Some(vulndb);
        config.pipeline.workers = 1;
        config.pipeline.batch_wait = Duration::from_millis(50);
        config.pipeline.knowledge_poll = Duration::from_secs(3600);
    })
    .await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn report(sequence: u64, packages: &[(&str, &str, &str)]) -> Value {
    json!({
        "sequence": sequence,
        "hash": format!("{sequence:064x}"),
        "scanned_at": "2026-11-22T04:00:00Z",
        "os": {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
        "packages": packages.iter().map(|(ecosystem, name, version)| json!({
            "ecosystem": ecosystem, "name": name, "version": version,
            "purl": format!("pkg:generic/{name}@{version}"),
            "manager": "lockfile:cargo-lock", "location": "srv/app/Cargo.lock",
        })).collect::<Vec<_>>(),
    })
}

async fn send(app: &TestApp, credential: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/agents/inventory"))
        .bearer_auth(credential)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&serde_json::to_vec(body).expect("json")))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the findings list (all statuses) until `done` holds; panics after 20 s.
async fn findings_until(app: &TestApp, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, page) = app
            .get("/api/v1/findings?status=all&limit=500", token)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if done(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "findings never settled: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn finding<'a>(items: &'a [Value], package: &str, vulnerability: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|f| f["package_name"] == package && f["vulnerability_id"] == vulnerability)
}

fn status_of(items: &[Value], package: &str, vulnerability: &str) -> Option<String> {
    finding(items, package, vulnerability).and_then(|f| f["status"].as_str().map(str::to_owned))
}

const TIME_VULN: &str = "CVE-2020-26235";

async fn inventories_become_findings_through_their_lifecycle(backend: Backend) {
    let Some(crates) = osv("crates.io.zip") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_knowledge(backend, knowledge_base(dir.path(), &[crates])).await;
    lifecycle(&app).await;
}

/// The scale-out configuration: PostgreSQL, Redis Streams for the queue, Redis for rate
/// limits and events.
mod postgres_and_redis {
    use super::*;
    use crate::support::TestRedis;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inventories_become_findings_through_their_lifecycle() {
        let Some(crates) = osv("crates.io.zip") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let vulndb = knowledge_base(dir.path(), &[crates]);
        let redis = TestRedis::new();
        let app = TestApp::spawn_with(Backend::Postgres, |config| {
            redis.configure(config);
            config.vulndb_path = Some(vulndb);
            config.pipeline.workers = 2;
            config.pipeline.batch_wait = Duration::from_millis(50);
        })
        .await;
        lifecycle(&app).await;
        let mut connection = redis::Client::open(redis.url.as_str())
            .and_then(|c| c.get_connection())
            .expect("redis");
        let backlog: u64 = redis::cmd("XLEN")
            .arg(format!("{}:inventory", redis.prefix))
            .query(&mut connection)
            .expect("XLEN");
        assert_eq!(
            backlog, 0,
            "every report acknowledged and deleted from the stream"
        );
    }

    /// Reports that piled up while no worker ran reach one worker as one batch. Redis Streams
    /// do not order by key, so the batch holds two reports of one agent next to another agent's:
    /// each agent ends with its last report applied, its first one's findings moved on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backlog_applies_each_agents_reports_in_order() {
        let Some(crates) = osv("crates.io.zip") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let vulndb = knowledge_base(dir.path(), &[crates]);
        let redis = TestRedis::new();
        let app = TestApp::spawn_with(Backend::Postgres, |config| {
            redis.configure(config);
            config.pipeline.workers = 0;
        })
        .await;
        let org = app.org_with_admin("Backlog Co").await;
        let (_, upgraded) = app.enroll_agent(&org, "build-01").await;
        let (_, untouched) = app.enroll_agent(&org, "build-02").await;
        let vulnerable = [
            ("crates.io", "time", "0.1.43"),
            ("crates.io", "smallvec", "0.6.9"),
        ];
        let backlog = [
            (&upgraded, report(1, &vulnerable)),
            (
                &upgraded,
                report(2, &[("crates.io", "time", "0.2.23"), vulnerable[1]]),
            ),
            (&untouched, report(1, &vulnerable[..1])),
        ];
        for (credential, body) in &backlog {
            let (status, receipt) = send(&app, credential, body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
        }

        let _worker = app
            .spawn_another(|config| {
                redis.configure(config);
                config.vulndb_path = Some(vulndb);
                config.pipeline.workers = 1;
                config.pipeline.batch_wait = Duration::from_millis(500);
            })
            .await;
        let token = &org.admin_token;
        let items = findings_until(&app, token, |items| {
            let time: Vec<_> = items
                .iter()
                .filter(|f| f["vulnerability_id"] == TIME_VULN)
                .collect();
            time.len() == 2 && time.iter().any(|f| f["status"] == "fixed")
        })
        .await;
        let time_statuses: BTreeSet<&str> = items
            .iter()
            .filter(|f| f["vulnerability_id"] == TIME_VULN)
            .filter_map(|f| f["status"].as_str())
            .collect();
        assert_eq!(
            time_statuses,
            BTreeSet::from(["fixed", "open"]),
            "{items:#?}"
        );
        assert!(
            items
                .iter()
                .filter(|f| f["package_name"] == "smallvec")
                .all(|f| f["status"] == "open" && f["package_version"] == "0.6.9"),
            "{items:#?}"
        );
        let (_, assets) = app.get("/api/v1/assets", token).await;
        let counts: BTreeSet<(i64, &str)> = assets["items"]
            .as_array()
            .expect("assets")
            .iter()
            .filter_map(|a| Some((a["package_count"].as_i64()?, a["name"].as_str()?)))
            .collect();
        assert_eq!(
            counts,
            BTreeSet::from([(2, "build-01"), (1, "build-02")]),
            "{assets}"
        );
        let open = items.iter().filter(|f| f["status"] == "open").count();
        let (_, summary) = app.get("/api/v1/summary", token).await;
        assert_eq!(
            summary["open_total"].as_u64(),
            Some(open as u64),
            "{summary}"
        );
        assert_eq!(summary["fixed_total"], 1, "{summary}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_api_instances_share_one_rate_limit() {
        let redis = TestRedis::new();
        let per_agent = std::num::NonZeroU32::new(4).expect("nonzero");
        let app = TestApp::spawn_with(Backend::Postgres, |config| {
            redis.configure(config);
            config.ingest_limits.per_agent = per_agent;
        })
        .await;
        let spread = app.org_with_admin("Spread Co").await;
        let capped = app.org_with_admin("Capped Co").await;
        let platform = app.admin_token().await;
        let (status, _) = app
            .call(
                "PUT",
                &format!("/api/v1/orgs/{}/rate-limits", capped.id),
                Some(&platform),
                Some(json!({"org_requests_per_minute": 3, "agent_requests_per_minute": 100})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let second = app
            .spawn_another(|config| {
                redis.configure(config);
                config.ingest_limits.per_agent = per_agent;
            })
            .await;
        let beat = json!({"agent_version": "0.1.0"});
        let heartbeat = |base: String, credential: String| {
            let request = app
                .client
                .post(format!("{base}/api/v1/agents/heartbeat"))
                .bearer_auth(credential)
                .json(&beat);
            async move { request.send().await.expect("sent").status().as_u16() }
        };

        // One agent's budget (4 a minute), whichever instance its requests reach.
        let (_, credential) = app.enroll_agent(&spread, "spread-01").await;
        let mut statuses = Vec::new();
        for i in 0..6 {
            let base = if i % 2 == 0 { &app.base } else { &second.base };
            statuses.push(heartbeat(base.clone(), credential.clone()).await);
        }
        assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);

        // One organization's budget (its own 3 a minute), shared by its agents and instances.
        let (_, first) = app.enroll_agent(&capped, "capped-01").await;
        let (_, other) = app.enroll_agent(&capped, "capped-02").await;
        let mut statuses = Vec::new();
        for (base, credential) in [
            (&app.base, &first),
            (&second.base, &other),
            (&app.base, &other),
            (&second.base, &first),
        ] {
            statuses.push(heartbeat(base.clone(), credential.clone()).await);
        }
        assert_eq!(statuses, [200, 200, 200, 429]);
    }

    /// Each instance trusts a verified device credential for minutes; a revocation through
    /// another instance reaches it over Redis, so the agent is refused everywhere at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_through_one_instance_reaches_the_other() {
        let redis = TestRedis::new();
        let app = TestApp::spawn_with(Backend::Postgres, |config| redis.configure(config)).await;
        let second = app.spawn_another(|config| redis.configure(config)).await;
        let org = app.org_with_admin("Revoked Co").await;
        let (agent_id, credential) = app.enroll_agent(&org, "revoked-01").await;
        let heartbeat = |base: &str| {
            let request = app
                .client
                .post(format!("{base}/api/v1/agents/heartbeat"))
                .bearer_auth(&credential)
                .json(&json!({"agent_version": "0.1.0"}));
            async move { request.send().await.expect("sent").status() }
        };
        // The second instance verifies the credential and keeps it.
        assert_eq!(heartbeat(&second.base).await, StatusCode::OK);

        let (status, _) = app.revoke_agent(&org, &agent_id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(heartbeat(&app.base).await, StatusCode::UNAUTHORIZED);
        eventually(
            "the second instance refusing the revoked agent",
            async || (heartbeat(&second.base).await == StatusCode::UNAUTHORIZED).then_some(()),
        )
        .await;
    }
}

async fn lifecycle(app: &TestApp) {
    let org = app.org_with_admin("Pipeline Co").await;
    let (agent_id, credential) = app.enroll_agent(&org, "build-01").await;
    let token = &org.admin_token;

    // serde is listed twice (two managers may report one package): it is stored once.
    let first = report(
        1,
        &[
            ("crates.io", "time", "0.1.43"),
            ("crates.io", "smallvec", "0.6.9"),
            ("crates.io", "serde", "1.0.200"),
            ("crates.io", "serde", "1.0.200"),
        ],
    );
    let (status, receipt) = send(app, &credential, &first).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["status"], "accepted");
    let batch = receipt["batch_id"].as_str().expect("batch id").to_owned();

    let items = findings_until(app, token, |items| {
        status_of(items, "time", TIME_VULN).is_some() && finding_for(items, "smallvec")
    })
    .await;
    assert!(items.iter().all(|f| f["status"] == "open"), "{items:#?}");
    assert!(
        items.iter().all(|f| f["package_name"] != "serde"),
        "serde 1.0.200 is clean"
    );
    let time = finding(&items, "time", TIME_VULN).expect("time finding");
    assert_eq!(time["package_version"], "0.1.43");
    assert_eq!(time["confidence"], "ecosystem-exact");
    assert!(time["fixed_version"].is_string(), "{time}");
    let time_id = time["id"].clone();
    let smallvec_vulns: Vec<Value> = items
        .iter()
        .filter(|f| f["package_name"] == "smallvec")
        .map(|f| f["vulnerability_id"].clone())
        .collect();

    // The same sequence again (a lost 202): the same batch id, nothing new.
    let (status, again) = send(app, &credential, &first).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (again["status"].as_str(), again["batch_id"].as_str()),
        (Some("duplicate"), Some(batch.as_str()))
    );

    // The asset holds the snapshot.
    let (_, assets) = app.get("/api/v1/assets", token).await;
    let asset = &assets["items"][0];
    assert_eq!(
        assets["items"].as_array().map(Vec::len),
        Some(1),
        "{assets}"
    );
    assert_eq!(asset["agent_id"].as_str(), Some(agent_id.as_str()));
    assert_eq!(asset["name"], "build-01");
    assert_eq!(asset["package_count"], 3);
    let asset_id = asset["id"].as_str().expect("asset id").to_owned();
    let (status, packages) = app
        .get(
            &format!("/api/v1/assets/{asset_id}/packages?limit=2"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(packages["items"].as_array().map(Vec::len), Some(2));
    let cursor = packages["next_cursor"].as_str().expect("a second page");
    let (_, rest) = app
        .get(
            &format!("/api/v1/assets/{asset_id}/packages?limit=2&cursor={cursor}"),
            token,
        )
        .await;
    assert_eq!(rest["items"][0]["name"], "time");
    assert!(rest["next_cursor"].is_null());

    // Upgrade time past the fix: its finding is fixed, smallvec's stay open.
    let (status, _) = send(
        app,
        &credential,
        &report(
            2,
            &[
                ("crates.io", "time", "0.2.23"),
                ("crates.io", "smallvec", "0.6.9"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let items = findings_until(app, token, |items| {
        status_of(items, "time", TIME_VULN).as_deref() == Some("fixed")
    })
    .await;
    let fixed = finding(&items, "time", TIME_VULN).expect("time finding");
    assert_eq!(fixed["id"], time_id, "the same finding, now fixed");
    assert!(fixed["fixed_at"].is_string());
    assert!(
        items
            .iter()
            .filter(|f| f["package_name"] == "smallvec")
            .all(|f| f["status"] == "open")
    );

    // Remove smallvec, then bring it back: fixed, then reopened under the same id.
    send(
        app,
        &credential,
        &report(3, &[("crates.io", "time", "0.2.23")]),
    )
    .await;
    let items = findings_until(app, token, |items| {
        items
            .iter()
            .filter(|f| f["package_name"] == "smallvec")
            .all(|f| f["status"] == "fixed")
    })
    .await;
    let smallvec_ids: Vec<Value> = items
        .iter()
        .filter(|f| f["package_name"] == "smallvec")
        .map(|f| f["id"].clone())
        .collect();
    // Sequence 5: the agent's sequence only grows with changes, and 4 is left for the late
    // report below.
    send(
        app,
        &credential,
        &report(
            5,
            &[
                ("crates.io", "time", "0.2.23"),
                ("crates.io", "smallvec", "0.6.9"),
            ],
        ),
    )
    .await;
    let items = findings_until(app, token, |items| {
        items
            .iter()
            .filter(|f| f["package_name"] == "smallvec")
            .all(|f| f["status"] == "open")
    })
    .await;
    for f in items.iter().filter(|f| f["package_name"] == "smallvec") {
        assert!(
            smallvec_ids.contains(&f["id"]),
            "reopened, not duplicated: {f}"
        );
        assert_eq!(f["reopened_count"], 1);
    }
    assert_eq!(
        items
            .iter()
            .filter(|f| f["package_name"] == "smallvec")
            .count(),
        smallvec_vulns.len()
    );

    // A late report (sequence 4 after 5) is acknowledged and ignored; a repeat is a duplicate.
    let (status, late) = send(
        app,
        &credential,
        &report(4, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    assert_eq!(
        (status, late["status"].as_str()),
        (StatusCode::ACCEPTED, Some("stale"))
    );
    let (status, repeat) = send(app, &credential, &report(3, &[])).await;
    assert_eq!(
        (status, repeat["status"].as_str()),
        (StatusCode::ACCEPTED, Some("duplicate"))
    );

    // The summary equals what the findings say.
    let (_, summary) = app.get("/api/v1/summary", token).await;
    let open = items.iter().filter(|f| f["status"] == "open").count() as i64;
    let fixed = items.iter().filter(|f| f["status"] == "fixed").count() as i64;
    assert_eq!(summary["open_total"], open, "{summary}");
    assert_eq!(summary["fixed_total"], fixed, "{summary}");
    assert_eq!(summary["assets"], 1);
    let fixable = items
        .iter()
        .filter(|f| f["status"] == "open" && f["fixed_version"].is_string())
        .count() as i64;
    assert_eq!(summary["open_fixable"], fixable);

    // Filters narrow the list.
    let (_, open_time) = app.get("/api/v1/findings?package=time", token).await;
    assert_eq!(
        open_time["items"].as_array().map(Vec::len),
        Some(0),
        "time is fixed"
    );
    let (_, by_text) = app.get("/api/v1/findings?q=SMALLVEC", token).await;
    assert_eq!(
        by_text["items"].as_array().map(Vec::len),
        Some(smallvec_vulns.len())
    );
    let (status, bad) = app.get("/api/v1/findings?severity=urgent", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("severity")
    );

    // One vulnerability by an alias, with the organization's finding of it.
    let (status, view) = app
        .get("/api/v1/vulnerabilities/RUSTSEC-2020-0071", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["id"], TIME_VULN);
    assert_eq!(view["findings"][0]["id"], time_id);
}

fn finding_for(items: &[Value], package: &str) -> bool {
    items.iter().any(|f| f["package_name"] == package)
}

/// The organization's live event feed, as a dashboard opens it with `token`.
async fn live_events(
    app: &TestApp,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = app
        .url("/api/v1/ws")
        .replace("http://", "ws://")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

async fn websocket_announces_the_organizations_events_only(backend: Backend) {
    let Some(crates) = osv("crates.io.zip") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_knowledge(backend, knowledge_base(dir.path(), &[crates])).await;
    let org = app.org_with_admin("Live Co").await;
    let other = app.org_with_admin("Other Co").await;
    let (_, credential) = app.enroll_agent(&org, "live-01").await;
    let (_, other_credential) = app.enroll_agent(&other, "other-01").await;

    let mut socket = live_events(&app, &org.admin_token).await;

    send(
        &app,
        &other_credential,
        &report(1, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    send(
        &app,
        &credential,
        &report(1, &[("crates.io", "time", "0.1.43")]),
    )
    .await;

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|e: &Value| e["type"] == "scan_complete") {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("an event within 20 s")
            .expect("socket open")
            .expect("message");
        if let Ok(text) = message.to_text() {
            seen.push(serde_json::from_str(text).expect("event JSON"));
        }
    }
    assert!(
        seen.iter().all(|e| e["org_id"] == org.id.as_str()),
        "{seen:#?}"
    );
    let new = seen
        .iter()
        .find(|e| e["type"] == "new_vulnerability")
        .expect("a new_vulnerability event");
    assert_eq!(new["package_name"], "time");
    assert_eq!(new["vulnerability_id"], TIME_VULN);
    let complete = seen
        .iter()
        .find(|e| e["type"] == "scan_complete")
        .expect("scan_complete");
    assert_eq!(complete["packages_added"], 1);
    assert!(complete["findings_opened"].as_u64() >= Some(1));

    // Without credentials there is no socket.
    let anonymous =
        tokio_tungstenite::connect_async(app.url("/api/v1/ws").replace("http://", "ws://")).await;
    assert!(anonymous.is_err());
}

async fn a_changed_knowledge_base_rematches_only_what_it_touches(backend: Backend) {
    let (Some(crates), Some(nuget)) = (osv("crates.io.zip"), osv("NuGet.zip")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = knowledge_base(dir.path(), std::slice::from_ref(&crates));
    let app = app_with_knowledge(backend, path.clone()).await;
    let org = app.org_with_admin("Rematch Co").await;
    let (_, credential) = app.enroll_agent(&org, "win-01").await;
    let token = &org.admin_token;
    let (_, other_credential) = app.enroll_agent(&org, "untouched-01").await;

    send(
        &app,
        &credential,
        &report(
            1,
            &[
                ("crates.io", "time", "0.1.43"),
                ("NuGet", "BouncyCastle.Cryptography", "2.1.1"),
            ],
        ),
    )
    .await;
    send(
        &app,
        &other_credential,
        &report(1, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    let before = findings_until(&app, token, |items| {
        items.iter().filter(|f| f["package_name"] == "time").count() == 2
    })
    .await;
    assert!(
        !finding_for(&before, "BouncyCastle.Cryptography"),
        "no NuGet data yet"
    );

    // The operator imports NuGet advisories; the file is rewritten and reloaded.
    let platform = app.admin_token().await;
    let next = dir.path().join("next");
    std::fs::create_dir_all(&next).expect("create dir");
    let fresh = knowledge_base(&next, &[crates, nuget]);
    std::fs::rename(&fresh, &path).expect("replace the knowledge base");
    let (status, reload) = app
        .post("/api/v1/admin/vulndb/reload", Some(&platform), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reload}");
    assert_eq!(reload["changed"], true);
    let rematch = &reload["rematch"];
    assert!(rematch["advisories_added"].as_u64() > Some(0), "{rematch}");
    assert_eq!(
        rematch["assets_rematched"], 1,
        "only the asset with a NuGet package: {rematch}"
    );
    assert!(rematch["findings_opened"].as_u64() >= Some(3), "{rematch}");

    let after = findings_until(&app, token, |items| {
        finding_for(items, "BouncyCastle.Cryptography")
    })
    .await;
    let bouncy: Vec<&Value> = after
        .iter()
        .filter(|f| f["package_name"] == "BouncyCastle.Cryptography")
        .collect();
    assert!(
        bouncy
            .iter()
            .all(|f| f["status"] == "open" && f["fixed_version"] == "2.3.1"),
        "{bouncy:#?}"
    );
    // The findings that were there stayed, with their ids: nothing was dropped and re-added.
    for f in before {
        let same = after.iter().find(|a| a["id"] == f["id"]).expect("kept");
        assert_eq!(same["status"], "open");
    }
    // The host reports the NuGet package upgraded past the fix: the findings the re-match
    // opened are fixed, planned against the rows and not a worker's memory of report 1.
    send(
        &app,
        &credential,
        &report(
            2,
            &[
                ("crates.io", "time", "0.1.43"),
                ("NuGet", "BouncyCastle.Cryptography", "2.3.1"),
            ],
        ),
    )
    .await;
    let upgraded = findings_until(&app, token, |items| {
        items
            .iter()
            .filter(|f| f["package_name"] == "BouncyCastle.Cryptography")
            .all(|f| f["status"] == "fixed")
    })
    .await;
    let open = upgraded.iter().filter(|f| f["status"] == "open").count();
    let (_, summary) = app.get("/api/v1/summary", token).await;
    assert_eq!(
        summary["open_total"].as_u64(),
        Some(open as u64),
        "{summary}"
    );
    let (_, again) = app
        .post("/api/v1/admin/vulndb/reload", Some(&platform), json!({}))
        .await;
    assert_eq!(again["changed"], false);

    let (status, _) = app
        .post("/api/v1/admin/vulndb/reload", Some(token), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "platform administrators only"
    );
}

async fn bad_inventories_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.inventory_body_limit = 64 * 1024;
        config.pipeline.limits.max_decompressed_bytes = 256 * 1024;
        config.pipeline.limits.max_packages = 100;
    })
    .await;
    let org = app.org_with_admin("Hostile Co").await;
    let (_, credential) = app.enroll_agent(&org, "edge-01").await;
    let post = |body: Vec<u8>, encoding: Option<&'static str>, content_type: &'static str| {
        let mut request = app
            .client
            .post(app.url("/api/v1/agents/inventory"))
            .bearer_auth(&credential)
            .header("content-type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let message = |body: &Value| {
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let bomb = gzip(&vec![b' '; 4 * 1024 * 1024]);
    let (status, body) = post(bomb, Some("gzip"), "application/json").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, _) = post(vec![b'x'; 128 * 1024], None, "application/json").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let valid = serde_json::to_vec(&report(1, &[("npm", "lodash", "4.17.0")])).expect("json");
    let (status, body) = post(valid.clone(), Some("br"), "application/json").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, _) = post(valid.clone(), None, "text/plain").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = post(
        b"\x1f\x8b\x08garbage".to_vec(),
        Some("gzip"),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("gzip"), "{body}");

    let long_name = "n".repeat(600);
    let mut bad = report(1, &[("npm", "lodash", "4.17.0")]);
    bad["packages"][0]["name"] = json!(long_name);
    let (status, body) = post(
        serde_json::to_vec(&bad).expect("json"),
        None,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("packages[0].name"), "{body}");
    let mut bad = report(1, &[]);
    bad["sequence"] = json!(-1);
    let (status, body) = post(
        serde_json::to_vec(&bad).expect("json"),
        None,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("sequence"), "{body}");
    let many: Vec<(&str, &str, &str)> = vec![("npm", "a", "1"); 101];
    let (status, body) = post(
        serde_json::to_vec(&report(1, &many)).expect("json"),
        None,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("limit of 100"), "{body}");

    // Hostile query strings and heartbeats are refused with the field named.
    let (_, assets) = app.get("/api/v1/assets", &org.admin_token).await;
    let any_asset = uuid::Uuid::now_v7();
    for (path, field) in [
        (
            format!("/api/v1/assets/{any_asset}/packages?cursor=%00%ff-not-a-cursor"),
            "cursor",
        ),
        (
            format!("/api/v1/vulnerabilities/{}", "C".repeat(300)),
            "vulnerability_id",
        ),
        ("/api/v1/findings?epss_min=7".to_owned(), "epss_min"),
        (format!("/api/v1/findings?q={}", "x".repeat(300)), "q"),
    ] {
        let (status, body) = app.get(&path, &org.admin_token).await;
        assert!(
            status == StatusCode::BAD_REQUEST
                || (field == "cursor" && status == StatusCode::NOT_FOUND),
            "{path}: {status} {body}"
        );
        if status == StatusCode::BAD_REQUEST {
            assert!(message(&body).starts_with(field), "{path}: {body}");
        }
    }
    assert_eq!(assets["items"], json!([]));
    let (status, body) = app
        .post(
            "/api/v1/agents/heartbeat",
            Some(&credential),
            json!({"agent_version": "0.1.0", "cpu_percent": -3.0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("cpu_percent"), "{body}");

    // A user token is not a device credential.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/agents/inventory",
            Some(&org.admin_token),
            Some(report(1, &[])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Nothing was stored: the first good report is still sequence 1's first acceptance.
    let (status, body) = post(valid, None, "application/json").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("accepted"))
    );
}

async fn agents_are_rate_limited_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.ingest_limits.per_agent = std::num::NonZeroU32::new(3).expect("nonzero");
    })
    .await;
    let org = app.org_with_admin("Chatty Co").await;
    let (_, chatty) = app.enroll_agent(&org, "chatty-01").await;
    let (_, quiet) = app.enroll_agent(&org, "quiet-01").await;
    let beat = json!({"agent_version": "0.1.0", "cpu_percent": 0.4, "rss_bytes": 7_000_000});
    for _ in 0..3 {
        let (status, body) = app
            .post("/api/v1/agents/heartbeat", Some(&chatty), beat.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/agents/heartbeat"))
        .bearer_auth(&chatty)
        .json(&beat)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The accepted heartbeats carried measurements; they are written behind.
    let chatty_id = agents_of(&app, &org).await[0].clone();
    eventually("the heartbeat's CPU and memory written", async || {
        let (_, view) = app
            .get(&format!("/api/v1/agents/{chatty_id}"), &org.admin_token)
            .await;
        (view["cpu_percent"].as_f64() == Some(0.4) && view["rss_bytes"].as_i64() == Some(7_000_000))
            .then_some(())
    })
    .await;
    // Another agent of the same organization has its own budget.
    let (status, _) = app
        .post("/api/v1/agents/heartbeat", Some(&quiet), beat.clone())
        .await;
    assert_eq!(status, StatusCode::OK);

    // An organization's own limit, set by the platform administrator, applies to all its agents.
    let platform = app.admin_token().await;
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/orgs/{}/rate-limits", org.id),
            Some(&platform),
            Some(json!({"org_requests_per_minute": 1, "agent_requests_per_minute": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, fresh) = app.enroll_agent(&org, "fresh-01").await;
    let (first, _) = app
        .post("/api/v1/agents/heartbeat", Some(&fresh), beat.clone())
        .await;
    let (second, _) = app
        .post("/api/v1/agents/heartbeat", Some(&fresh), beat)
        .await;
    assert_eq!(first, StatusCode::OK);
    assert_eq!(second, StatusCode::TOO_MANY_REQUESTS);
}

async fn another_organization_sees_none_of_the_pipelines_data(backend: Backend) {
    let Some(crates) = osv("crates.io.zip") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_knowledge(backend, knowledge_base(dir.path(), &[crates])).await;
    let a = app.org_with_admin("Owner Co").await;
    let b = app.org_with_admin("Prying Co").await;
    let (_, credential) = app.enroll_agent(&a, "secret-01").await;
    send(
        &app,
        &credential,
        &report(1, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    let items = findings_until(&app, &a.admin_token, |items| !items.is_empty()).await;
    let finding_id = items[0]["id"].as_str().expect("finding id").to_owned();
    let (_, assets) = app.get("/api/v1/assets", &a.admin_token).await;
    let asset_id = assets["items"][0]["id"]
        .as_str()
        .expect("asset id")
        .to_owned();

    for path in [
        format!("/api/v1/findings/{finding_id}"),
        format!("/api/v1/assets/{asset_id}"),
        format!("/api/v1/assets/{asset_id}/packages"),
    ] {
        let (status, body) = app.get(&path, &b.admin_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for path in ["/api/v1/findings?status=all", "/api/v1/assets"] {
        let (status, body) = app.get(path, &b.admin_token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"], json!([]), "{path}");
    }
    let (_, view) = app
        .get("/api/v1/vulnerabilities/CVE-2020-26235", &b.admin_token)
        .await;
    assert_eq!(
        view["findings"],
        json!([]),
        "B sees the advisory but none of A's findings"
    );
    let (_, summary) = app.get("/api/v1/summary", &b.admin_token).await;
    assert_eq!(
        (summary["open_total"].as_i64(), summary["assets"].as_i64()),
        (Some(0), Some(0))
    );
    let (_, summary) = app.get("/api/v1/summary", &a.admin_token).await;
    assert_eq!(summary["open_total"].as_i64(), Some(items.len() as i64));
}

async fn silent_agents_go_offline_once_and_come_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.heartbeat_interval = time::Duration::seconds(1);
    })
    .await;
    let org = app.org_with_admin("Sleepy Co").await;
    let (agent_id, credential) = app.enroll_agent(&org, "sleepy-01").await;
    let mut socket = live_events(&app, &org.admin_token).await;
    let mut next_status = async || loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("an event within 15 s")
            .expect("socket open")
            .expect("message");
        let event: Value =
            serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
        if event["type"] == "agent_status" {
            return event;
        }
    };

    // Three missed one-second heartbeats: offline, announced once.
    let offline = next_status().await;
    assert_eq!(
        (offline["agent_id"].as_str(), offline["status"].as_str()),
        (Some(agent_id.as_str()), Some("offline"))
    );
    let (_, agent) = app
        .get(&format!("/api/v1/agents/{agent_id}"), &org.admin_token)
        .await;
    assert_eq!(agent["status"], "offline");
    let (_, summary) = app.get("/api/v1/summary", &org.admin_token).await;
    assert_eq!(
        (
            summary["agents_online"].as_i64(),
            summary["agents_offline"].as_i64()
        ),
        (Some(0), Some(1))
    );

    // A heartbeat brings it back, announced once.
    let (status, _) = app
        .post(
            "/api/v1/agents/heartbeat",
            Some(&credential),
            json!({"agent_version": "0.1.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let online = next_status().await;
    assert_eq!(online["status"], "online");
    let (_, summary) = app.get("/api/v1/summary", &org.admin_token).await;
    assert_eq!(summary["agents_online"].as_i64(), Some(1));
}

/// A server over the crates.io advisories (`None` without them) whose retention runs every
/// 500 ms and keeps `(packages, fixed findings)` this long.
async fn app_with_retention(
    backend: Backend,
    dir: &Path,
    (packages, fixed_findings): (Duration, Duration),
) -> Option<TestApp> {
    let crates = osv("crates.io.zip")?;
    let vulndb = knowledge_base(dir, &[crates]);
    let app = TestApp::spawn_with(backend, move |config| {
        config.vulndb_path = Some(vulndb);
        config.pipeline.batch_wait = Duration::from_millis(50);
        config.pipeline.retention.every = Duration::from_millis(500);
        config.pipeline.retention.packages = packages;
        config.pipeline.retention.fixed_findings = fixed_findings;
    })
    .await;
    Some(app)
}

async fn retention_clears_silent_assets_then_old_fixed_findings(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = (Duration::from_secs(3), Duration::from_secs(3));
    let Some(app) = app_with_retention(backend, dir.path(), retention).await else {
        return;
    };
    let org = app.org_with_admin("Forgetful Co").await;
    let (_, credential) = app.enroll_agent(&org, "gone-01").await;
    let token = &org.admin_token;
    send(
        &app,
        &credential,
        &report(1, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    let opened = findings_until(&app, token, |items| !items.is_empty()).await;
    assert!(opened.iter().all(|f| f["status"] == "open"));

    // Silent past the package retention: its packages go and its findings close.
    let closed = findings_until(&app, token, |items| {
        !items.is_empty() && items.iter().all(|f| f["status"] == "fixed")
    })
    .await;
    assert_eq!(closed.len(), opened.len());
    let (_, assets) = app.get("/api/v1/assets", token).await;
    assert_eq!(assets["items"][0]["package_count"], 0);

    // Fixed past the fixed-finding retention: deleted, and the summary follows.
    findings_until(&app, token, |items| items.is_empty()).await;
    let (_, summary) = app.get("/api/v1/summary", token).await;
    assert_eq!(
        (
            summary["open_total"].as_i64(),
            summary["fixed_total"].as_i64()
        ),
        (Some(0), Some(0)),
        "{summary}"
    );

    // The host reports again with the same software: its packages are all back (not diffed
    // against what the worker remembered before retention) and its findings open again.
    send(
        &app,
        &credential,
        &report(2, &[("crates.io", "time", "0.1.43")]),
    )
    .await;
    let back = findings_until(&app, token, |items| !items.is_empty()).await;
    assert_eq!(back.len(), opened.len());
    assert!(back.iter().all(|f| f["status"] == "open"));
    let (_, assets) = app.get("/api/v1/assets", token).await;
    assert_eq!(assets["items"][0]["package_count"], 1);
}

/// A fixed finding deleted by retention while its host keeps reporting. When the vulnerable
/// version comes back the finding opens again: a worker remembering the deleted row
/// (`snapshots/held.rs`) would reopen it by an id that no longer exists, and nothing would open.
async fn a_deleted_fixed_finding_opens_again_when_its_package_returns(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = (Duration::from_secs(3600), Duration::from_secs(2));
    let Some(app) = app_with_retention(backend, dir.path(), retention).await else {
        return;
    };
    let org = app.org_with_admin("Upgrader Co").await;
    let (_, credential) = app.enroll_agent(&org, "web-01").await;
    let token = &org.admin_token;
    let time_is = |wanted: &'static str| {
        move |items: &[Value]| status_of(items, "time", TIME_VULN).as_deref() == Some(wanted)
    };
    let vulnerable = [("crates.io", "time", "0.1.43")];
    send(&app, &credential, &report(1, &vulnerable)).await;
    findings_until(&app, token, time_is("open")).await;
    send(
        &app,
        &credential,
        &report(2, &[("crates.io", "time", "0.2.23")]),
    )
    .await;
    findings_until(&app, token, time_is("fixed")).await;
    findings_until(&app, token, |items| {
        finding(items, "time", TIME_VULN).is_none()
    })
    .await;

    send(&app, &credential, &report(3, &vulnerable)).await;
    let back = findings_until(&app, token, time_is("open")).await;
    let open = back.iter().filter(|f| f["status"] == "open").count();
    let (_, summary) = app.get("/api/v1/summary", token).await;
    assert_eq!(
        summary["open_total"].as_u64(),
        Some(open as u64),
        "{summary}"
    );
}

async fn agents_of(app: &TestApp, org: &crate::support::Org) -> Vec<String> {
    let (_, agents) = app.get("/api/v1/agents", &org.admin_token).await;
    agents["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| a["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
