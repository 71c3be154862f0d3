//! An organization's agent enrollment tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::EnrollmentTokenId;
use zerotrace_store::enrollment::EnrollmentToken;

use crate::auth::{Manage, OrgAccess};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::Name;
use crate::json::ValidJson;
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(get_token))
        .routes(routes!(revoke_token))
}

#[derive(Serialize, ToSchema)]
struct EnrollmentTokenView {
    id: Uuid,
    name: String,
    max_uses: Option<i64>,
    uses: i64,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
    created_by: Option<Uuid>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<OffsetDateTime>,
}

impl From<EnrollmentToken> for EnrollmentTokenView {
    fn from(token: EnrollmentToken) -> Self {
        EnrollmentTokenView {
            id: token.id.0,
            name: token.name,
            max_uses: token.max_uses,
            uses: token.uses,
            expires_at: token.expires_at,
            created_by: token.created_by,
            created_at: token.created_at,
            revoked_at: token.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTokenRequest {
    name: Name,
    /// How many agents may enroll with it; unlimited when absent.
    max_uses: Option<u32>,
    /// Hours until it stops working (1-87600); never when absent.
    expires_in_hours: Option<u32>,
}

/// The new token. `token` is shown only in this response; give it to `zerotrace-agent enroll`.
#[derive(Serialize, ToSchema)]
struct CreatedToken {
    enrollment_token: EnrollmentTokenView,
    token: String,
}

/// The organization's enrollment tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/enrollment-tokens", tag = "enrollment-tokens", security(("bearer" = [])),
    params(Pagination),
    responses((status = 200, body = Paged<EnrollmentTokenView>), (status = 403, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<EnrollmentTokenView>>> {
    let page = pagination.page();
    let tokens = state
        .store
        .list_enrollment_tokens(access.scope, page)
        .await?;
    Ok(Json(Paged::new(
        tokens,
        page,
        |token| token.id.0,
        EnrollmentTokenView::from,
    )))
}

/// Create an enrollment token.
#[utoipa::path(post, path = "/api/v1/enrollment-tokens", tag = "enrollment-tokens", security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    ValidJson(request): ValidJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    if request.max_uses == Some(0) {
        return Err(ApiError::invalid_request("max_uses: must be at least 1"));
    }
    let expires_at = match request.expires_in_hours {
        None => None,
        Some(hours @ 1..=87_600) => {
            Some(OffsetDateTime::now_utc() + Duration::hours(i64::from(hours)))
        }
        Some(_) => {
            return Err(ApiError::invalid_request(
                "expires_in_hours: must be between 1 and 87600",
            ));
        }
    };
    let (token, secret) = state
        .store
        .create_enrollment_token(
            access.scope,
            request.name.as_str(),
            request.max_uses.map(i64::from),
            expires_at,
            access.actor,
        )
        .await?;
    let created = CreatedToken {
        enrollment_token: EnrollmentTokenView::from(token),
        token: secret,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One enrollment token.
#[utoipa::path(get, path = "/api/v1/enrollment-tokens/{token_id}", tag = "enrollment-tokens",
    security(("bearer" = [])), params(("token_id" = Uuid, Path)),
    responses((status = 200, body = EnrollmentTokenView), (status = 404, body = ErrorBody)))]
async fn get_token(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(token_id): Ids<Uuid>,
) -> ApiResult<Json<EnrollmentTokenView>> {
    let token = state
        .store
        .get_enrollment_token(access.scope, EnrollmentTokenId(token_id))
        .await?;
    token
        .map(|token| Json(EnrollmentTokenView::from(token)))
        .ok_or_else(|| ApiError::not_found("enrollment token"))
}

/// Revoke an enrollment token; agents enrolled with it keep working.
#[utoipa::path(post, path = "/api/v1/enrollment-tokens/{token_id}/revoke", tag = "enrollment-tokens",
    security(("bearer" = [])), params(("token_id" = Uuid, Path)),
    responses((status = 200, body = EnrollmentTokenView), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(token_id): Ids<Uuid>,
) -> ApiResult<Json<EnrollmentTokenView>> {
    let token = state
        .store
        .revoke_enrollment_token(access.scope, EnrollmentTokenId(token_id), access.actor)
        .await?;
    token
        .map(|token| Json(EnrollmentTokenView::from(token)))
        .ok_or_else(|| ApiError::not_found("enrollment token"))
}
