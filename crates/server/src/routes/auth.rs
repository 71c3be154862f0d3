//! Login, token refresh, logout and "who am I".

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::credentials::{CredentialKind, PresentedCredential};
use zerotrace_store::passwords;
use zerotrace_store::sessions::RotateOutcome;
use zerotrace_store::users::{Role, User};

use crate::auth::jwt::AccessToken;
use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::{Email, Password};
use crate::json::ValidJson;
use crate::routes::users::UserView;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: Email,
    password: Password,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// Tokens for a session: send `access_token` as `Authorization: Bearer …`; trade
/// `refresh_token` (once) for new tokens before the access token expires.
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    /// Seconds until `access_token` expires.
    expires_in: i64,
    refresh_token: String,
}

impl TokenResponse {
    fn new(access: AccessToken, refresh_token: String) -> Self {
        TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in.whole_seconds(),
            refresh_token,
        }
    }
}

/// Log in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong email or password, or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this account", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    state
        .limiter
        .check_login(peer.ip(), request.email.as_str())?;
    let record = state.store.find_login(request.email.as_str()).await?;
    let stored_hash = record.as_ref().map_or_else(
        || passwords::decoy_hash().to_owned(),
        |record| record.password_hash.clone(),
    );
    let password = request.password;
    let matches =
        tokio::task::spawn_blocking(move || passwords::verify(password.as_str(), &stored_hash))
            .await
            .map_err(ApiError::internal)?;
    let user = match record {
        Some(record) if matches && record.user.disabled_at.is_none() => record.user,
        _ => return Err(ApiError::unauthorized()),
    };
    state.store.record_login(user.id).await?;
    issue_tokens(&state, &user).await.map(Json)
}

/// Trade a refresh token for new tokens. Each refresh token works once; presenting a used one
/// again ends the session everywhere.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ValidJson(request): ValidJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let presented = PresentedCredential::parse(CredentialKind::Refresh, &request.refresh_token)
        .ok_or_else(ApiError::unauthorized)?;
    match state
        .store
        .rotate_session(&presented, state.config.refresh_token_lifetime)
        .await?
    {
        RotateOutcome::Rotated { user_id, refresh } => {
            let user = state
                .store
                .get_user(user_id)
                .await?
                .filter(|user| user.disabled_at.is_none())
                .ok_or_else(ApiError::unauthorized)?;
            let access = state
                .authenticator
                .jwt
                .issue(&user)
                .map_err(ApiError::internal)?;
            Ok(Json(TokenResponse::new(access, refresh.token)))
        }
        RotateOutcome::Reused => {
            tracing::warn!("a used refresh token was presented again; its session is revoked");
            Err(ApiError::unauthorized())
        }
        RotateOutcome::Invalid => Err(ApiError::unauthorized()),
    }
}

/// End the session the refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is over; its refresh tokens no longer work"),
        (status = 401, body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    ValidJson(request): ValidJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let presented = PresentedCredential::parse(CredentialKind::Refresh, &request.refresh_token)
        .ok_or_else(ApiError::unauthorized)?;
    if state.store.end_session(&presented).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Who the credential belongs to.
#[derive(Serialize, ToSchema)]
struct MeResponse {
    /// `user`, `api_key` or `agent`.
    kind: &'static str,
    org_id: Option<Uuid>,
    /// `platform_admin`, `org_admin`, `analyst` or `viewer` (users only).
    #[schema(value_type = Option<String>)]
    role: Option<Role>,
    user: Option<UserView>,
    api_key_id: Option<Uuid>,
    scopes: Option<Vec<String>>,
    agent_id: Option<Uuid>,
}

/// The authenticated caller: a user (with their account), an API key or an agent.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> ApiResult<Json<MeResponse>> {
    let org_id = principal.org_scope().map(|scope| scope.org_id().0);
    let base = MeResponse {
        kind: "user",
        org_id,
        role: None,
        user: None,
        api_key_id: None,
        scopes: None,
        agent_id: None,
    };
    Ok(Json(match principal {
        Principal::PlatformAdmin { user_id } | Principal::Member { user_id, .. } => {
            let user = state
                .store
                .get_user(user_id)
                .await?
                .filter(|user| user.disabled_at.is_none())
                .ok_or_else(ApiError::unauthorized)?;
            MeResponse {
                role: Some(user.role),
                user: Some(UserView::from(user)),
                ..base
            }
        }
        Principal::ApiKey { key_id, scopes, .. } => MeResponse {
            kind: "api_key",
            api_key_id: Some(key_id.0),
            scopes: Some(
                scopes
                    .iter()
                    .map(|scope| scope.as_str().to_owned())
                    .collect(),
            ),
            ..base
        },
        Principal::Agent { agent_id, .. } => MeResponse {
            kind: "agent",
            agent_id: Some(agent_id.0),
            ..base
        },
    }))
}

async fn issue_tokens(state: &AppState, user: &User) -> ApiResult<TokenResponse> {
    let access = state
        .authenticator
        .jwt
        .issue(user)
        .map_err(ApiError::internal)?;
    let refresh = state
        .store
        .start_session(user.id, state.config.refresh_token_lifetime)
        .await?;
    Ok(TokenResponse::new(access, refresh.token))
}
