//! Health, readiness, metrics and the OpenAPI document.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::support::{Backend, TestApp};

backend_tests!(health_metrics_and_openapi_describe_the_service);

async fn health_metrics_and_openapi_describe_the_service(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let healthz: serde_json::Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(healthz["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );

    let token = app.admin_token().await;
    let agent = uuid::Uuid::now_v7();
    let _ = app.get(&format!("/api/v1/orgs/{agent}"), &token).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("http_requests_total{")
                && line.contains(r#"route="/api/v1/orgs/{org_id}""#)
                && line.contains(r#"status="404""#)),
        "requests are counted by route template and status:\n{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{"),
        "latency histogram present"
    );
    assert!(
        !metrics.contains(&agent.to_string()),
        "no ids in metric labels"
    );

    let openapi: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = openapi["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/orgs", "get"),
        ("/api/v1/orgs", "post"),
        ("/api/v1/orgs/{org_id}", "get"),
        ("/api/v1/orgs/{org_id}/users", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{user_id}", "get"),
        ("/api/v1/users/{user_id}/disable", "post"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys/{key_id}", "get"),
        ("/api/v1/api-keys/{key_id}/revoke", "post"),
        ("/api/v1/enrollment-tokens", "get"),
        ("/api/v1/enrollment-tokens", "post"),
        ("/api/v1/enrollment-tokens/{token_id}", "get"),
        ("/api/v1/enrollment-tokens/{token_id}/revoke", "post"),
        ("/api/v1/agents", "get"),
        ("/api/v1/agents/enroll", "post"),
        ("/api/v1/agents/heartbeat", "post"),
        ("/api/v1/agents/{agent_id}", "get"),
        ("/api/v1/agents/{agent_id}/revoke", "post"),
        ("/api/v1/audit", "get"),
        ("/api/v1/agents/inventory", "post"),
        ("/api/v1/assets", "get"),
        ("/api/v1/assets/{asset_id}", "get"),
        ("/api/v1/assets/{asset_id}/packages", "get"),
        ("/api/v1/findings", "get"),
        ("/api/v1/findings/{finding_id}", "get"),
        ("/api/v1/vulnerabilities/{vulnerability_id}", "get"),
        ("/api/v1/summary", "get"),
        ("/api/v1/ws", "get"),
        ("/api/v1/admin/vulndb/reload", "post"),
        ("/api/v1/orgs/{org_id}/rate-limits", "put"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    assert_eq!(
        paths
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum::<usize>(),
        41,
        "every route is listed above"
    );
}
