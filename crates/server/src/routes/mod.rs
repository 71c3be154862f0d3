//! The HTTP API, one file per resource. This file assembles the router, its layers and the
//! OpenAPI document, and holds the extractors for paths and pagination that every list shares.

mod admin;
mod agents;
mod api_keys;
mod assets;
mod audit;
mod auth;
mod enrollment_tokens;
mod findings;
mod health;
mod ingest;
mod live;
mod orgs;
mod users;

use std::sync::Arc;

use axum::Extension;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderName, Request, StatusCode};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::Page;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ZeroTrace API",
        description = "Self-hosted security exposure platform. Errors are `{\"error\": {\"code\", \"message\"}}`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's access token (JWT), an API key (`ztk_…`) or an agent's device credential (`ztd_…`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole application: API routes, OpenAPI document, metrics, fallbacks and layers.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(orgs::routes())
        .merge(users::routes())
        .merge(api_keys::routes())
        .merge(enrollment_tokens::routes())
        .merge(agents::routes())
        .merge(audit::routes())
        .merge(health::routes())
        .merge(assets::routes())
        .merge(findings::routes())
        .merge(live::routes())
        .merge(admin::routes())
        .merge(ingest::routes().layer(DefaultBodyLimit::max(state.config.inventory_body_limit)))
        .routes(routes!(openapi_document))
        .split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");

    api.fallback(|| async { ApiError::not_found("route") })
    .method_not_allowed_fallback(|| async {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        )
    })
    .layer(axum::middleware::from_fn(crate::metrics::track))
    .layer(DefaultBodyLimit::max(state.config.body_limit))
    .layer(Extension(Arc::new(openapi)))
    .with_state(state)
    .layer(
        TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }),
    )
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API")))]
async fn openapi_document(
    Extension(openapi): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi.as_ref().clone())
}

/// `?limit=&cursor=` on every list: at most [`Page::MAX_LIMIT`] rows, continuing after `cursor`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Rows per page, 1-500 (default 100).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
}

impl Pagination {
    pub fn page(&self) -> Page {
        Page {
            after: self.cursor,
            limit: self.limit.unwrap_or(100).clamp(1, Page::MAX_LIMIT),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Pagination>::from_request_parts(parts, state)
            .await
            .map(|Query(pagination)| pagination)
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
    }
}

/// One page of a list, and the cursor for the next (absent on the last page).
#[derive(Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

impl<T: ToSchema> Paged<T> {
    /// Builds the page from rows fetched with `page`; `id` gives a row's cursor.
    pub fn new<R>(
        rows: Vec<R>,
        page: Page,
        id: impl Fn(&R) -> Uuid,
        view: impl Fn(R) -> T,
    ) -> Self {
        let next_cursor = match rows.last() {
            Some(last) if rows.len() >= page.limit as usize => Some(id(last)),
            _ => None,
        };
        Paged {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// A path of ids; a malformed id is a 400 that says so, in our error format.
pub struct Ids<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(ids)| Ids(ids))
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
    }
}

/// Timestamps in responses are RFC 3339 strings.
pub(crate) mod timestamp {
    pub use time::serde::rfc3339::option;
    pub use time::serde::rfc3339::serialize;
}
