//! Assets (hosts, one per agent, created by the first inventory) and their current packages.

use time::OffsetDateTime;

use crate::snapshots::SnapshotPackage;
use crate::{AgentId, AssetId, OrgScope, Page, Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Asset {
    pub id: AssetId,
    pub agent_id: Option<AgentId>,
    pub kind: String,
    pub name: String,
    pub os: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub last_inventory_at: Option<OffsetDateTime>,
    pub inventory_sequence: Option<i64>,
    pub package_count: i64,
    pub open_findings: i64,
}

macro_rules! asset_select {
    () => {
        "SELECT a.id, a.agent_id, a.kind, a.name, a.os, a.created_at, a.last_seen_at,
                a.last_inventory_at, a.inventory_sequence,
                (SELECT count(*) FROM packages p WHERE p.org_id = a.org_id AND p.asset_id = a.id) AS package_count,
                (SELECT count(*) FROM findings f WHERE f.org_id = a.org_id AND f.asset_id = a.id AND f.status = 'open') AS open_findings
         FROM assets a"
    };
}

/// Where a page of packages starts: after this (ecosystem, name, version, arch).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageCursor {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl Store {
    pub async fn list_assets(&self, scope: OrgScope, page: Page) -> Result<Vec<Asset>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, Asset>(concat!(
                asset_select!(),
                " WHERE a.org_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3"
            ))
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    pub async fn get_asset(&self, scope: OrgScope, id: AssetId) -> Result<Option<Asset>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, Asset>(concat!(
                asset_select!(),
                " WHERE a.org_id = $1 AND a.id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// Every asset id of the organization (re-matching after enrichment data changed).
    pub async fn asset_ids(&self, scope: OrgScope) -> Result<Vec<AssetId>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_scalar("SELECT id FROM assets WHERE org_id = $1 ORDER BY id")
                .bind(scope.org_id())
                .fetch_all(&mut *tx)
                .await?
        }))
    }

    /// A page of an asset's packages in (ecosystem, name, version, arch) order.
    pub async fn list_asset_packages(
        &self,
        scope: OrgScope,
        asset: AssetId,
        after: Option<&PackageCursor>,
        limit: u32,
    ) -> Result<Vec<SnapshotPackage>> {
        let after = after.cloned().unwrap_or_default();
        let limit = i64::from(limit.clamp(1, Page::MAX_LIMIT));
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, SnapshotPackage>(
                "SELECT ecosystem, name, version, arch, source_name, source_version, purl, manager,
                        match_ecosystem, match_name
                 FROM packages WHERE org_id = $1 AND asset_id = $2
                   AND (ecosystem, name, version, arch) > ($3, $4, $5, $6)
                 ORDER BY ecosystem, name, version, arch LIMIT $7",
            )
            .bind(scope.org_id())
            .bind(asset)
            .bind(&after.ecosystem)
            .bind(&after.name)
            .bind(&after.version)
            .bind(&after.arch)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
        }))
    }
}
