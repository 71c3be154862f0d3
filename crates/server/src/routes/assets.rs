//! Assets (one host per agent, created by its first inventory) and their current packages.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::assets::{Asset, PackageCursor};
use zerotrace_store::{AssetId, Page};

use crate::auth::{OrgAccess, Read};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets))
        .routes(routes!(get_asset))
        .routes(routes!(list_packages))
}

#[derive(Serialize, ToSchema)]
struct AssetView {
    id: Uuid,
    agent_id: Option<Uuid>,
    /// `host`, `container_image`, `repository` or `other`.
    kind: String,
    name: String,
    os: String,
    package_count: i64,
    open_findings: i64,
    /// The sequence number of the inventory the asset holds now.
    inventory_sequence: Option<i64>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_inventory_at: Option<OffsetDateTime>,
}

impl From<Asset> for AssetView {
    fn from(asset: Asset) -> Self {
        AssetView {
            id: asset.id.0,
            agent_id: asset.agent_id.map(|a| a.0),
            kind: asset.kind,
            name: asset.name,
            os: asset.os,
            package_count: asset.package_count,
            open_findings: asset.open_findings,
            inventory_sequence: asset.inventory_sequence,
            created_at: asset.created_at,
            last_inventory_at: asset.last_inventory_at,
        }
    }
}

/// The organization's assets.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<AssetView>), (status = 403, body = ErrorBody)))]
async fn list_assets(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<AssetView>>> {
    let page = pagination.page();
    let assets = state.store.list_assets(access.scope, page).await?;
    Ok(Json(Paged::new(assets, page, |a| a.id.0, AssetView::from)))
}

/// One asset.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}", tag = "assets", security(("bearer" = [])),
    params(("asset_id" = Uuid, Path)),
    responses((status = 200, body = AssetView), (status = 404, body = ErrorBody)))]
async fn get_asset(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    Ids(asset_id): Ids<Uuid>,
) -> ApiResult<Json<AssetView>> {
    state
        .store
        .get_asset(access.scope, AssetId(asset_id))
        .await?
        .map(|a| Json(a.into()))
        .ok_or_else(|| ApiError::not_found("asset"))
}

#[derive(Serialize, ToSchema)]
struct PackageView {
    ecosystem: String,
    name: String,
    version: String,
    arch: String,
    source_name: Option<String>,
    source_version: Option<String>,
    purl: Option<String>,
    /// What installed it: `dpkg`, `rpm`, `pip`, `npm`, ...
    manager: String,
}

#[derive(Serialize, ToSchema)]
struct PackagePage {
    items: Vec<PackageView>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PackagePagination {
    /// Rows per page, 1-500 (default 100).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PackagePagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<PackagePagination>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| query)
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
    }
}

fn decode_cursor(cursor: &str) -> Result<PackageCursor, ApiError> {
    let invalid = || ApiError::invalid_request("cursor: not a cursor this API returned");
    if cursor.len() > 4096 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

fn encode_cursor(cursor: &PackageCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// The asset's installed packages (its latest inventory), by ecosystem and name.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}/packages", tag = "assets", security(("bearer" = [])),
    params(("asset_id" = Uuid, Path), PackagePagination),
    responses((status = 200, body = PackagePage), (status = 404, body = ErrorBody)))]
async fn list_packages(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    Ids(asset_id): Ids<Uuid>,
    pagination: PackagePagination,
) -> ApiResult<Json<PackagePage>> {
    let after = pagination
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?;
    let asset = AssetId(asset_id);
    if state.store.get_asset(access.scope, asset).await?.is_none() {
        return Err(ApiError::not_found("asset"));
    }
    let limit = pagination.limit.unwrap_or(100).clamp(1, Page::MAX_LIMIT);
    let packages = state
        .store
        .list_asset_packages(access.scope, asset, after.as_ref(), limit)
        .await?;
    let next_cursor = match packages.last() {
        Some(last) if packages.len() >= limit as usize => Some(encode_cursor(&PackageCursor {
            ecosystem: last.ecosystem.clone(),
            name: last.name.clone(),
            version: last.version.clone(),
            arch: last.arch.clone(),
        })),
        _ => None,
    };
    Ok(Json(PackagePage {
        items: packages
            .into_iter()
            .map(|p| PackageView {
                ecosystem: p.ecosystem,
                name: p.name,
                version: p.version,
                arch: p.arch,
                source_name: p.source_name,
                source_version: p.source_version,
                purl: p.purl,
                manager: p.manager,
            })
            .collect(),
        next_cursor,
    }))
}
