//! The isolation matrix: every endpoint that takes an id or lists rows, called with a second
//! organization's credentials (a user token and an API key), must neither show nor touch the
//! first organization's objects, and must answer 404 (not 403) for them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{Backend, TestApp};

backend_tests!(another_organization_sees_and_touches_nothing);

/// What organization A owns, created through the API.
struct Owned {
    user_id: String,
    api_key_id: String,
    token_id: String,
    agent_id: String,
}

async fn another_organization_sees_and_touches_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.org_with_admin("Org A").await;
    let b = app.org_with_admin("Org B").await;

    let owned = {
        let (_, user) = app
            .post("/api/v1/users", Some(&a.admin_token), json!({"email": "analyst@a.example", "password": "a long enough password", "role": "analyst"}))
            .await;
        let (_, key) = app
            .post(
                "/api/v1/api-keys",
                Some(&a.admin_token),
                json!({"name": "ci", "scopes": ["read"]}),
            )
            .await;
        let (_, token) = app
            .post(
                "/api/v1/enrollment-tokens",
                Some(&a.admin_token),
                json!({"name": "fleet"}),
            )
            .await;
        let (agent_id, _) = app.enroll_agent(&a, "a-host").await;
        Owned {
            user_id: user["id"].as_str().unwrap().to_owned(),
            api_key_id: key["api_key"]["id"].as_str().unwrap().to_owned(),
            token_id: token["enrollment_token"]["id"].as_str().unwrap().to_owned(),
            agent_id,
        }
    };

    // B's callers: its admin's token and an admin-scoped API key of B.
    let (status, b_key) = app
        .post(
            "/api/v1/api-keys",
            Some(&b.admin_token),
            json!({"name": "b-admin", "scopes": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let b_callers = [
        b.admin_token.clone(),
        b_key["key"].as_str().unwrap().to_owned(),
    ];

    let by_id: Vec<(&str, String)> = vec![
        ("GET", format!("/api/v1/users/{}", owned.user_id)),
        ("POST", format!("/api/v1/users/{}/disable", owned.user_id)),
        ("GET", format!("/api/v1/api-keys/{}", owned.api_key_id)),
        (
            "POST",
            format!("/api/v1/api-keys/{}/revoke", owned.api_key_id),
        ),
        (
            "GET",
            format!("/api/v1/enrollment-tokens/{}", owned.token_id),
        ),
        (
            "POST",
            format!("/api/v1/enrollment-tokens/{}/revoke", owned.token_id),
        ),
        ("GET", format!("/api/v1/agents/{}", owned.agent_id)),
        ("POST", format!("/api/v1/agents/{}/revoke", owned.agent_id)),
    ];
    let lists = [
        "/api/v1/users",
        "/api/v1/api-keys",
        "/api/v1/enrollment-tokens",
        "/api/v1/agents",
        "/api/v1/audit",
    ];
    let a_ids = [
        &owned.user_id,
        &owned.api_key_id,
        &owned.token_id,
        &owned.agent_id,
    ];

    for caller in &b_callers {
        for (method, path) in &by_id {
            let body = (*method == "POST").then(|| json!({}));
            let (status, error) = app.call(method, path, Some(caller), body).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {path} as B: {error}"
            );
            assert_eq!(error["error"]["code"], "not_found");
        }
        for list in lists {
            let (status, page) = app.get(list, caller).await;
            assert_eq!(status, StatusCode::OK, "{list}: {page}");
            let text = page.to_string();
            for id in a_ids {
                assert!(
                    !text.contains(id.as_str()),
                    "{list} as B shows A's {id}: {page}"
                );
            }
        }
    }

    // Nothing of A changed: its objects are all still live, and its audit log has no entry by B.
    let (_, agent) = app
        .get(
            &format!("/api/v1/agents/{}", owned.agent_id),
            &a.admin_token,
        )
        .await;
    assert_eq!(agent["status"], "online");
    let (_, key) = app
        .get(
            &format!("/api/v1/api-keys/{}", owned.api_key_id),
            &a.admin_token,
        )
        .await;
    assert_eq!(key["revoked_at"], Value::Null);
    let (_, token) = app
        .get(
            &format!("/api/v1/enrollment-tokens/{}", owned.token_id),
            &a.admin_token,
        )
        .await;
    assert_eq!(token["revoked_at"], Value::Null);
    let (_, user) = app
        .get(&format!("/api/v1/users/{}", owned.user_id), &a.admin_token)
        .await;
    assert_eq!(user["disabled_at"], Value::Null);
    let (_, audit) = app.get("/api/v1/audit", &a.admin_token).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        !actions
            .iter()
            .any(|action| action.ends_with(".revoke") || *action == "user.disable"),
        "{actions:?}"
    );

    // And A's own lists do show them (the matrix is not passing because lists are empty).
    for (list, id) in [
        ("/api/v1/users", &owned.user_id),
        ("/api/v1/agents", &owned.agent_id),
    ] {
        let (_, page) = app.get(list, &a.admin_token).await;
        assert!(
            page.to_string().contains(id.as_str()),
            "{list} as A lacks {id}"
        );
    }

    // An agent of B cannot read A's (or even B's) management endpoints.
    let (_, b_agent_credential) = app.enroll_agent(&b, "b-host").await;
    let (status, _) = app.get("/api/v1/agents", &b_agent_credential).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
