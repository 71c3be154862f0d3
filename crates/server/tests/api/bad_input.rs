//! Bad input gets a clear 4xx in our JSON error format, and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{Backend, TestApp};

backend_tests!(
    bad_requests_are_named_and_change_nothing,
    bodies_over_the_limit_are_refused
);

async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn bad_requests_are_named_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Strict Co").await;
    let token = Some(org.admin_token.as_str());
    let json_type = "application/json";

    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            b"{\"name\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            "wrong type",
            br#"{"name": 42}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "name: invalid type",
        ),
        (
            "missing field",
            br#"{}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "missing field `name`",
        ),
        (
            "unknown field",
            br#"{"name": "t", "admin": true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown field `admin`",
        ),
        (
            "over-long string",
            format!(r#"{{"name": "{}"}}"#, "x".repeat(201)).into_bytes(),
            StatusCode::BAD_REQUEST,
            "name: must be at most 200 characters",
        ),
        (
            "empty string",
            br#"{"name": "   "}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "name: must not be empty",
        ),
        (
            "negative number",
            br#"{"name": "t", "max_uses": -1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "max_uses: invalid value",
        ),
        (
            "zero uses",
            br#"{"name": "t", "max_uses": 0}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "max_uses: must be at least 1",
        ),
    ];
    for (what, body, expected, message) in cases {
        let (status, error) = raw(
            &app,
            "POST",
            "/api/v1/enrollment-tokens",
            token,
            json_type,
            body,
        )
        .await;
        assert_eq!(status, expected, "{what}: {error}");
        assert_eq!(error["error"]["code"], "invalid_request", "{what}: {error}");
        let said = error["error"]["message"].as_str().unwrap();
        assert!(
            said.contains(message),
            "{what}: {said:?} should mention {message:?}"
        );
    }
    let (status, error) = raw(
        &app,
        "POST",
        "/api/v1/enrollment-tokens",
        token,
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{error}");

    // None of that wrote anything.
    let (_, tokens) = app.get("/api/v1/enrollment-tokens", &org.admin_token).await;
    assert_eq!(tokens["items"], json!([]));

    // A conflict rolls back whole: no user and no audit entry for the duplicate.
    let user = json!({"email": "dup@strict.example", "password": "a long enough password", "role": "viewer"});
    let (status, _) = app.post("/api/v1/users", token, user.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = app.post("/api/v1/users", token, user).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (_, audit) = app.get("/api/v1/audit", &org.admin_token).await;
    let creations = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.create")
        .count();
    assert_eq!(
        creations, 2,
        "the org admin and the first dup@ only: {audit}"
    );

    // Short passwords, bad emails, unknown roles.
    for (body, field) in [
        (
            json!({"email": "s@strict.example", "password": "short", "role": "viewer"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": "a long enough password", "role": "viewer"}),
            "email",
        ),
        (
            json!({"email": "r@strict.example", "password": "a long enough password", "role": "god"}),
            "role",
        ),
    ] {
        let (status, error) = app.post("/api/v1/users", token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{error}"
        );
    }

    // Routing: unknown route, wrong method, malformed id, missing credentials.
    let (status, error) = app.get("/api/v1/nothing-here", &org.admin_token).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, error) = app
        .call("DELETE", "/api/v1/agents", Some(&org.admin_token), None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (status, error) = app.get("/api/v1/agents/not-a-uuid", &org.admin_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, error) = app.call("GET", "/api/v1/agents", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error,
        json!({"error": {"code": "unauthorized", "message": "valid credentials are required"}})
    );
    let huge_token = "x".repeat(10_000);
    let (status, _) = app.get("/api/v1/agents", &huge_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bodies_over_the_limit_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.body_limit = 4096).await;
    let padding = "x".repeat(8192);
    let body = format!(r#"{{"email": "a@b.example", "password": "{padding}"}}"#).into_bytes();
    let (status, error) = raw(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        "application/json",
        body,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["error"]["code"], "payload_too_large");
}
