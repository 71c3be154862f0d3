//! Organizations, managed by platform administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::OrgId;
use zerotrace_store::audit::Actor;
use zerotrace_store::orgs::Organization;

use crate::auth::PlatformAdmin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::{Name, Slug};
use crate::json::ValidJson;
use crate::routes::users::{CreateUserRequest, UserView, create_member};
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org))
        .routes(routes!(create_org_user))
}

#[derive(Serialize, ToSchema)]
struct OrgView {
    id: Uuid,
    name: String,
    slug: String,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<Organization> for OrgView {
    fn from(org: Organization) -> Self {
        OrgView {
            id: org.id.0,
            name: org.name,
            slug: org.slug,
            created_at: org.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateOrgRequest {
    name: Name,
    /// Derived from the name when absent.
    slug: Option<Slug>,
}

/// All organizations.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "organizations", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<OrgView>), (status = 403, body = ErrorBody)))]
async fn list_orgs(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    pagination: Pagination,
) -> ApiResult<Json<Paged<OrgView>>> {
    let page = pagination.page();
    let orgs = state.store.list_orgs(page).await?;
    Ok(Json(Paged::new(orgs, page, |org| org.id.0, OrgView::from)))
}

/// Create an organization.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "organizations", security(("bearer" = [])),
    request_body = CreateOrgRequest,
    responses((status = 201, body = OrgView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_org(
    State(state): State<AppState>,
    admin: PlatformAdmin,
    ValidJson(request): ValidJson<CreateOrgRequest>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let slug = match request.slug {
        Some(slug) => slug,
        None => Slug::from_name(request.name.as_str()).ok_or_else(|| {
            ApiError::invalid_request("slug: cannot be derived from the name; give one")
        })?,
    };
    let org = state
        .store
        .create_org(
            request.name.as_str(),
            slug.as_str(),
            Actor::User(admin.user_id),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(OrgView::from(org))))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/orgs/{org_id}", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody)))]
async fn get_org(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Ids(org_id): Ids<Uuid>,
) -> ApiResult<Json<OrgView>> {
    let org = state.store.get_org(OrgId(org_id)).await?;
    org.map(|org| Json(OrgView::from(org)))
        .ok_or_else(|| ApiError::not_found("organization"))
}

/// Add a user to an organization (how an organization gets its first administrator).
#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/users", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_org_user(
    State(state): State<AppState>,
    admin: PlatformAdmin,
    Ids(org_id): Ids<Uuid>,
    ValidJson(request): ValidJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let org = state
        .store
        .get_org(OrgId(org_id))
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let scope = admin.act_in(org.id);
    let user = create_member(&state.store, scope, request, Actor::User(admin.user_id)).await?;
    Ok((StatusCode::CREATED, Json(user)))
}
