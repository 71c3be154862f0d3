//! An organization's users, managed by its administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::audit::Actor;
use zerotrace_store::passwords;
use zerotrace_store::users::{NewUser, Role, User};
use zerotrace_store::{OrgScope, Store, UserId};

use crate::auth::{Manage, OrgAccess};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::{Email, Name, Password};
use crate::json::ValidJson;
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: Uuid,
    org_id: Option<Uuid>,
    email: String,
    display_name: String,
    #[schema(value_type = String, example = "analyst")]
    role: Role,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_login_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    disabled_at: Option<OffsetDateTime>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id.0,
            org_id: user.org_id.map(|org| org.0),
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
            disabled_at: user.disabled_at,
        }
    }
}

/// A new member of an organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: Email,
    /// Defaults to the email address.
    display_name: Option<Name>,
    /// At least 12 characters.
    password: Password,
    /// `org_admin`, `analyst` or `viewer`.
    #[schema(value_type = String, example = "analyst")]
    role: Role,
}

/// Creates a member of `scope`'s organization (shared with the platform administrators' route).
pub async fn create_member(
    store: &Store,
    scope: OrgScope,
    request: CreateUserRequest,
    actor: Actor,
) -> ApiResult<UserView> {
    if request.role == Role::PlatformAdmin {
        return Err(ApiError::invalid_request(
            "role: platform_admin cannot belong to an organization",
        ));
    }
    if request.password.as_str().chars().count() < passwords::MIN_PASSWORD_LEN {
        return Err(ApiError::invalid_request(format!(
            "password: must be at least {} characters",
            passwords::MIN_PASSWORD_LEN
        )));
    }
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || passwords::hash(password.as_str()))
        .await
        .map_err(ApiError::internal)??;
    let display_name = request
        .display_name
        .as_ref()
        .map_or(request.email.as_str(), Name::as_str);
    let new = NewUser {
        email: request.email.as_str(),
        display_name,
        password_hash: &password_hash,
        role: request.role,
    };
    Ok(UserView::from(store.create_user(scope, new, actor).await?))
}

/// The organization's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<UserView>), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<UserView>>> {
    let page = pagination.page();
    let users = state.store.list_org_users(access.scope, page).await?;
    Ok(Json(Paged::new(
        users,
        page,
        |user| user.id.0,
        UserView::from,
    )))
}

/// Add a user to the organization.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    ValidJson(request): ValidJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let user = create_member(&state.store, access.scope, request, access.actor).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user of the organization.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(user_id): Ids<Uuid>,
) -> ApiResult<Json<UserView>> {
    let user = state
        .store
        .get_org_user(access.scope, UserId(user_id))
        .await?;
    user.map(|user| Json(UserView::from(user)))
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Disable a user: they can no longer log in or refresh their session.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/disable", tag = "users", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn disable_user(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(user_id): Ids<Uuid>,
) -> ApiResult<Json<UserView>> {
    let user = state
        .store
        .disable_user(access.scope, UserId(user_id), access.actor)
        .await?;
    user.map(|user| Json(UserView::from(user)))
        .ok_or_else(|| ApiError::not_found("user"))
}
