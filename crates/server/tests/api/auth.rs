use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::support::{Backend, TestApp, access_token};

backend_tests!(
    login_issues_tokens_that_identify_the_user,
    wrong_password_and_unknown_user_answer_alike,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_ends_the_session,
    disabled_user_cannot_log_in_or_refresh,
    login_attempts_are_rate_limited_per_account,
);

async fn login_issues_tokens_that_identify_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.login(&app.admin_email, &app.admin_password).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("ztr_")
    );

    let (status, me) = app.get("/api/v1/auth/me", &access_token(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["kind"], "user");
    assert_eq!(me["role"], "platform_admin");
    assert_eq!(me["user"]["email"], app.admin_email.as_str());
    assert!(
        me["user"]["last_login_at"].is_string(),
        "login is recorded: {me}"
    );
}

async fn wrong_password_and_unknown_user_answer_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (wrong_status, wrong_body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": app.admin_email, "password": "not the password"}),
        )
        .await;
    let (unknown_status, unknown_body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "whatever"}),
        )
        .await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_body, unknown_body, "no hint which part was wrong");
    assert_eq!(wrong_body["error"]["code"], "unauthorized");

    let (status, _) = app.get("/api/v1/auth/me", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.login(&app.admin_email, &app.admin_password).await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let (status, second) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first_refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(
        first_refresh, second_refresh,
        "a refresh token is replaced on use"
    );
    let (status, _) = app.get("/api/v1/auth/me", &access_token(&second)).await;
    assert_eq!(status, StatusCode::OK);

    // The first token again: someone copied it. The whole family dies, the legitimate successor too.
    let (status, body) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first_refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the successor is revoked with its family"
    );

    // Another session of the same user is untouched.
    let other = app.login(&app.admin_email, &app.admin_password).await;
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn logout_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.login(&app.admin_email, &app.admin_password).await;
    let refresh = tokens["refresh_token"].clone();
    let (status, _) = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": "ztr_forged"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn disabled_user_cannot_log_in_or_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.org_with_admin("Disabling Inc").await;
    let (status, user) = app
        .post(
            "/api/v1/users",
            Some(&org.admin_token),
            json!({"email": "leaver@disabling.example", "password": "a long enough password", "role": "analyst"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let tokens = app
        .login("leaver@disabling.example", "a long enough password")
        .await;

    let path = format!("/api/v1/users/{}/disable", user["id"].as_str().unwrap());
    let (status, disabled) = app.post(&path, Some(&org.admin_token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert!(disabled["disabled_at"].is_string());

    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "leaver@disabling.example", "password": "a long enough password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn login_attempts_are_rate_limited_per_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"email": "target@example.com", "password": "guess"});
    for attempt in 0..10 {
        let (status, _) = app.post("/api/v1/auth/login", None, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt} is not limited yet"
        );
    }
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limited");

    // Another account from the same address is still let through.
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": app.admin_email, "password": app.admin_password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
