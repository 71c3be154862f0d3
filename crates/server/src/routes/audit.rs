//! The organization's audit log.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::audit::AuditRecord;

use crate::auth::{Manage, OrgAccess};
use crate::error::{ApiResult, ErrorBody};
use crate::routes::{Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Serialize, ToSchema)]
struct AuditView {
    id: Uuid,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    at: OffsetDateTime,
    /// `user`, `api_key`, `agent` or `operator` (the admin commands).
    actor_kind: String,
    actor_id: Option<Uuid>,
    /// What happened, e.g. `api_key.create`, `agent.enroll`.
    action: String,
    target_kind: String,
    target_id: Option<Uuid>,
    detail: String,
}

impl From<AuditRecord> for AuditView {
    fn from(record: AuditRecord) -> Self {
        AuditView {
            id: record.id.0,
            at: record.at,
            actor_kind: record.actor_kind,
            actor_id: record.actor_id,
            action: record.action,
            target_kind: record.target_kind,
            target_id: record.target_id,
            detail: record.detail,
        }
    }
}

/// The organization's audit log, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<AuditView>), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<AuditView>>> {
    let page = pagination.page();
    let records = state.store.list_audit(access.scope, page).await?;
    Ok(Json(Paged::new(
        records,
        page,
        |record| record.id.0,
        AuditView::from,
    )))
}
