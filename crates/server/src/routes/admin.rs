//! Platform operations: reloading the knowledge base now (instead of at the next poll) and
//! per-organization ingest rate limits.

use std::num::NonZeroU32;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::OrgId;

use crate::auth::PlatformAdmin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ValidJson;
use crate::pipeline::RematchOutcome;
use crate::routes::Ids;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reload_vulndb))
        .routes(routes!(set_rate_limits))
}

#[derive(Serialize, ToSchema)]
struct ReloadView {
    /// Whether the knowledge-base file had changed since it was last loaded.
    changed: bool,
    /// What the re-match did, when it changed.
    rematch: Option<RematchOutcome>,
}

/// Reload the knowledge base from its file now and re-match what changed.
#[utoipa::path(post, path = "/api/v1/admin/vulndb/reload", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ReloadView), (status = 403, body = ErrorBody), (status = 500, body = ErrorBody)))]
async fn reload_vulndb(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
) -> ApiResult<Json<ReloadView>> {
    let (reply, answer) = oneshot::channel();
    state
        .reloads
        .send(reply)
        .await
        .map_err(|_| ApiError::internal("the pipeline is not running"))?;
    let outcome = answer
        .await
        .map_err(|_| ApiError::internal("the reload was abandoned"))?
        .map_err(ApiError::internal)?;
    Ok(Json(ReloadView {
        changed: outcome.is_some(),
        rematch: outcome,
    }))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RateLimits {
    /// Ingest requests per minute for the whole organization (at least 1); `null`: the server default.
    #[schema(value_type = Option<u32>, minimum = 1)]
    org_requests_per_minute: Option<NonZeroU32>,
    /// Ingest requests per minute per agent (at least 1); `null`: the server default.
    #[schema(value_type = Option<u32>, minimum = 1)]
    agent_requests_per_minute: Option<NonZeroU32>,
}

/// Set an organization's ingest rate limits (heartbeats and inventories).
#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/rate-limits", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)), request_body = RateLimits,
    responses((status = 200, body = RateLimits), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_rate_limits(
    State(state): State<AppState>,
    admin: PlatformAdmin,
    Ids(org_id): Ids<Uuid>,
    ValidJson(limits): ValidJson<RateLimits>,
) -> ApiResult<Json<RateLimits>> {
    let org = OrgId(org_id);
    let updated = state
        .store
        .set_org_rate_limits(
            org,
            limits.org_requests_per_minute,
            limits.agent_requests_per_minute,
            zerotrace_store::audit::Actor::User(admin.user_id),
        )
        .await?;
    if !updated {
        return Err(ApiError::not_found("organization"));
    }
    state.ingest_limiter.forget(org);
    Ok(Json(limits))
}
