use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::support::{Backend, TestApp};

backend_tests!(api_key_is_shown_once_works_until_revoked);

async fn api_key_is_shown_once_works_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Keys GmbH").await;
    let (status, created) = app
        .post(
            "/api/v1/api-keys",
            Some(&org.admin_token),
            json!({"name": "ci", "scopes": ["read", "ingest", "read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ztk_"));
    assert_eq!(
        created["api_key"]["scopes"],
        json!(["read", "ingest"]),
        "sorted and deduplicated"
    );
    assert!(created["api_key"]["last_used_at"].is_null());

    let (status, me) = app.get("/api/v1/auth/me", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["org_id"], org.id.as_str());

    let (status, _) = app.get("/api/v1/agents", &key).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = app
        .get(&format!("/api/v1/api-keys/{key_id}"), &org.admin_token)
        .await;
    assert!(
        listed["last_used_at"].is_string(),
        "use is recorded: {listed}"
    );
    assert!(
        !listed.to_string().contains(&key[4..]),
        "the secret is never shown again"
    );

    let (status, _) = app
        .post(
            &format!("/api/v1/api-keys/{key_id}/revoke"),
            Some(&org.admin_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/api/v1/agents", &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    for bad in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "x", "scopes": ["read"], "expires_in_days": 0}),
    ] {
        let (status, body) = app
            .post("/api/v1/api-keys", Some(&org.admin_token), bad.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}
