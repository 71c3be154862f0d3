//! An organization's API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::ApiKeyId;
use zerotrace_store::api_keys::{ApiKey, ApiScope, ApiScopes};

use crate::auth::{Manage, OrgAccess};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::Name;
use crate::json::ValidJson;
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(get_api_key))
        .routes(routes!(revoke_api_key))
}

#[derive(Serialize, ToSchema)]
struct ApiKeyView {
    id: Uuid,
    name: String,
    #[schema(value_type = Vec<String>, example = json!(["read", "ingest"]))]
    scopes: Vec<ApiScope>,
    created_by: Option<Uuid>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        ApiKeyView {
            id: key.id.0,
            name: key.name,
            scopes: key.scopes.iter().collect(),
            created_by: key.created_by,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApiKeyRequest {
    name: Name,
    /// One or more of `read`, `write`, `ingest`, `admin`.
    #[schema(value_type = Vec<String>, example = json!(["read"]))]
    scopes: Vec<ApiScope>,
    /// Days until the key stops working (1-3650); never when absent.
    expires_in_days: Option<u16>,
}

/// The new key. `key` is shown only in this response.
#[derive(Serialize, ToSchema)]
struct CreatedApiKey {
    api_key: ApiKeyView,
    key: String,
}

/// The organization's API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<ApiKeyView>), (status = 403, body = ErrorBody)))]
async fn list_api_keys(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<ApiKeyView>>> {
    let page = pagination.page();
    let keys = state.store.list_api_keys(access.scope, page).await?;
    Ok(Json(Paged::new(
        keys,
        page,
        |key| key.id.0,
        ApiKeyView::from,
    )))
}

/// Create an API key.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody)))]
async fn create_api_key(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    ValidJson(request): ValidJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let scopes = ApiScopes::new(request.scopes)
        .ok_or_else(|| ApiError::invalid_request("scopes: at least one scope is required"))?;
    let expires_at = match request.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(OffsetDateTime::now_utc() + Duration::days(i64::from(days))),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "expires_in_days: must be between 1 and 3650",
            ));
        }
    };
    let (key, secret) = state
        .store
        .create_api_key(
            access.scope,
            request.name.as_str(),
            scopes,
            expires_at,
            access.actor,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: ApiKeyView::from(key),
            key: secret,
        }),
    ))
}

/// One API key.
#[utoipa::path(get, path = "/api/v1/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])),
    params(("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView), (status = 404, body = ErrorBody)))]
async fn get_api_key(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(key_id): Ids<Uuid>,
) -> ApiResult<Json<ApiKeyView>> {
    let key = state
        .store
        .get_api_key(access.scope, ApiKeyId(key_id))
        .await?;
    key.map(|key| Json(ApiKeyView::from(key)))
        .ok_or_else(|| ApiError::not_found("API key"))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(post, path = "/api/v1/api-keys/{key_id}/revoke", tag = "api-keys", security(("bearer" = [])),
    params(("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(key_id): Ids<Uuid>,
) -> ApiResult<Json<ApiKeyView>> {
    let key = state
        .store
        .revoke_api_key(access.scope, ApiKeyId(key_id), access.actor)
        .await?;
    key.map(|key| Json(ApiKeyView::from(key)))
        .ok_or_else(|| ApiError::not_found("API key"))
}
