use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::support::{Backend, TestApp, eventually, host_facts};

backend_tests!(
    enrolled_agent_heartbeats_until_revoked,
    enrollment_tokens_enforce_uses_expiry_and_revocation,
    agent_list_pages_with_a_cursor,
);

async fn enrolled_agent_heartbeats_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Fleet Co").await;
    let (agent_id, credential) = app.enroll_agent(&org, "web-01").await;
    assert!(credential.starts_with("ztd_"));

    // Heartbeats are written behind; the last one's version and measurements are what stays.
    for version in ["0.1.1", "0.1.2", "0.1.3"] {
        let (status, beat) = app
            .post(
                "/api/v1/agents/heartbeat",
                Some(&credential),
                json!({"agent_version": version, "cpu_percent": 1.5, "rss_bytes": 4096}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{beat}");
        assert_eq!(beat["heartbeat_interval_secs"], 60);
    }
    let agent = eventually("the heartbeat's version written", async || {
        let (status, agent) = app
            .get(&format!("/api/v1/agents/{agent_id}"), &org.admin_token)
            .await;
        assert_eq!(status, StatusCode::OK);
        (agent["agent_version"] == "0.1.3").then_some(agent)
    })
    .await;
    assert_eq!(agent["hostname"], "web-01");
    assert_eq!(
        (agent["cpu_percent"].as_f64(), agent["rss_bytes"].as_i64()),
        (Some(1.5), Some(4096))
    );
    assert_eq!(agent["status"], "online");

    let (status, me) = app.get("/api/v1/auth/me", &credential).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["kind"].as_str(), me["agent_id"].as_str()),
        (Some("agent"), Some(agent_id.as_str()))
    );
    // The server trusts this agent's credential from its cache now: the same agent with
    // another secret is still refused.
    let (status, body) = app
        .post(
            "/api/v1/agents/heartbeat",
            Some(&with_another_secret(&credential)),
            json!({"agent_version": "0.1.1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, revoked) = app.revoke_agent(&org, &agent_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    let (status, body) = app
        .post(
            "/api/v1/agents/heartbeat",
            Some(&credential),
            json!({"agent_version": "0.1.1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (_, audit) = app.get("/api/v1/audit", &org.admin_token).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"agent.enroll") && actions.contains(&"agent.revoke"),
        "{actions:?}"
    );
}

async fn enrollment_tokens_enforce_uses_expiry_and_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Tokens Inc").await;
    let (status, created) = app
        .post(
            "/api/v1/enrollment-tokens",
            Some(&org.admin_token),
            json!({"name": "two hosts", "max_uses": 2, "expires_in_hours": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap();
    assert!(created["enrollment_token"]["expires_at"].is_string());

    for host in ["h1", "h2"] {
        let (status, body) = app
            .post("/api/v1/agents/enroll", None, host_facts(token, host))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{host}: {body}");
    }
    let (status, body) = app
        .post("/api/v1/agents/enroll", None, host_facts(token, "h3"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("used as often"),
        "{body}"
    );

    let id = created["enrollment_token"]["id"].as_str().unwrap();
    let (_, listed) = app
        .get(&format!("/api/v1/enrollment-tokens/{id}"), &org.admin_token)
        .await;
    assert_eq!(listed["uses"], 2);
    let (_, agents) = app.get("/api/v1/agents", &org.admin_token).await;
    assert_eq!(
        agents["items"].as_array().unwrap().len(),
        2,
        "the refused enrollment wrote nothing"
    );

    let (_, open) = app
        .post(
            "/api/v1/enrollment-tokens",
            Some(&org.admin_token),
            json!({"name": "open"}),
        )
        .await;
    let open_id = open["enrollment_token"]["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/enrollment-tokens/{open_id}/revoke"),
            Some(&org.admin_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            "/api/v1/agents/enroll",
            None,
            host_facts(open["token"].as_str().unwrap(), "h4"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // A forged token (right shape, wrong secret) and garbage both get a bare 401.
    let mut forged = token.to_owned();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for bad in [forged.as_str(), "zte_garbage", "not a token"] {
        let (status, body) = app
            .post("/api/v1/agents/enroll", None, host_facts(bad, "h5"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
    }
}

async fn agent_list_pages_with_a_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Paging AG").await;
    let (_, created) = app
        .post(
            "/api/v1/enrollment-tokens",
            Some(&org.admin_token),
            json!({"name": "many"}),
        )
        .await;
    let token = created["token"].as_str().unwrap();
    for n in 0..5 {
        let (status, _) = app
            .post(
                "/api/v1/agents/enroll",
                None,
                host_facts(token, &format!("host-{n}")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/agents?limit=2&cursor={cursor}"),
            None => "/api/v1/agents?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path, &org.admin_token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|agent| agent["hostname"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..5).map(|n| format!("host-{n}")).collect::<Vec<_>>(),
        "every agent once, in enrollment order"
    );

    let (status, body) = app.get("/api/v1/agents?limit=abc", &org.admin_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .get("/api/v1/agents?cursor=not-a-uuid", &org.admin_token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// `credential` with one character of its secret changed: same organization and agent.
fn with_another_secret(credential: &str) -> String {
    let mut chars: Vec<char> = credential.chars().collect();
    let in_secret = chars.len() - 5;
    chars[in_secret] = if chars[in_secret] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
