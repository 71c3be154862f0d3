//! Each endpoint enforces its role: viewers read, org admins manage, platform admins manage
//! organizations only, API keys get what their scopes say.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::support::{Backend, TestApp};

backend_tests!(roles_and_scopes_are_enforced);

async fn roles_and_scopes_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Roles Ltd").await;
    let viewer = app
        .create_user(&org, "viewer@roles.example", "viewer")
        .await;
    let analyst = app
        .create_user(&org, "analyst@roles.example", "analyst")
        .await;
    let platform = app.admin_token().await;
    let (_, read_key) = app
        .post(
            "/api/v1/api-keys",
            Some(&org.admin_token),
            json!({"name": "reader", "scopes": ["read"]}),
        )
        .await;
    let read_key = read_key["key"].as_str().unwrap().to_owned();
    let (_, ingest_key) = app
        .post(
            "/api/v1/api-keys",
            Some(&org.admin_token),
            json!({"name": "ingest", "scopes": ["ingest"]}),
        )
        .await;
    let ingest_key = ingest_key["key"].as_str().unwrap().to_owned();

    // Reading the fleet: every member and a read key; not an ingest-only key nor the platform admin.
    for (who, token, expected) in [
        ("viewer", &viewer, StatusCode::OK),
        ("analyst", &analyst, StatusCode::OK),
        ("org admin", &org.admin_token, StatusCode::OK),
        ("read key", &read_key, StatusCode::OK),
        ("ingest key", &ingest_key, StatusCode::FORBIDDEN),
        ("platform admin", &platform, StatusCode::FORBIDDEN),
    ] {
        let (status, body) = app.get("/api/v1/agents", token).await;
        assert_eq!(status, expected, "{who} listing agents: {body}");
    }

    // Managing: only the org admin.
    for (who, token) in [
        ("viewer", &viewer),
        ("analyst", &analyst),
        ("read key", &read_key),
        ("platform admin", &platform),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/enrollment-tokens",
                Some(token),
                json!({"name": "sneaky"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{who} creating a token: {body}"
        );
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, _) = app.get("/api/v1/users", token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} listing users");
    }

    // Organizations: only the platform admin.
    for (who, token) in [
        ("org admin", &org.admin_token),
        ("viewer", &viewer),
        ("read key", &read_key),
    ] {
        let (status, _) = app.get("/api/v1/orgs", token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} listing organizations");
        let (status, _) = app
            .post("/api/v1/orgs", Some(token), json!({"name": "Mine"}))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{who} creating an organization"
        );
    }
    let (status, orgs) = app.get("/api/v1/orgs", &platform).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orgs["items"].as_array().unwrap().len(), 1);

    // An org admin cannot mint a platform admin.
    let (status, body) = app
        .post("/api/v1/users", Some(&org.admin_token), json!({"email": "up@roles.example", "password": "a long enough password", "role": "platform_admin"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
