//! PostgreSQL's rows: each step for a whole group as one statement of one shape over `UNNEST`
//! arrays.

use std::collections::{HashMap, HashSet};

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    ADD_TO_SUMMARY, AssetRows, AssetState, FindingRows, by_asset, insert_findings, insert_packages,
    insert_receipts, outcomes, package_count, receipt_conflict,
};
use crate::lifecycle::{StoredFinding, SummaryDelta, stored_finding_columns};
use crate::snapshots::{FindingWrites, PackageDiff, PackageKey, Snapshot, SnapshotPackage, to_i64};
use crate::{AgentId, AssetId, OrgScope, Result};

/// Finds or creates the asset of each agent and locks it until the transaction ends.
const LOCK_ASSETS: &str = "SELECT agent_id, id, inventory_sequence, inventory_hash FROM assets
     WHERE org_id = $1 AND agent_id = ANY($2)
     ORDER BY agent_id FOR NO KEY UPDATE";

type PackageKeyRow = (AssetId, String, String, String, String);

impl FindingRows for Transaction<'_, Postgres> {
    async fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<StoredFinding>>> {
        let rows: Vec<StoredFinding> = sqlx::query_as(concat!(
            "SELECT ",
            stored_finding_columns!(),
            " FROM findings WHERE org_id = $1 AND asset_id = ANY($2)"
        ))
        .bind(scope.org_id())
        .bind(column(assets, |a| a.0))
        .fetch_all(&mut **self)
        .await?;
        Ok(by_asset(rows.into_iter().map(|f| (f.asset_id, f))))
    }

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if !writes.update.is_empty() {
            // `id = ANY` puts the ids in the index condition: joined on u.id alone, the generic
            // plan hashed all of the organization's findings to update a few.
            let update = &writes.update;
            sqlx::query(
                "UPDATE findings f SET package_version = u.package_version,
                     fixed_version = u.fixed_version, severity = u.severity,
                     cvss_score = u.cvss_score, known_exploited = u.known_exploited,
                     epss_score = u.epss_score, confidence = u.confidence, reason = u.reason,
                     updated_at = $2,
                     status = CASE WHEN u.reopen THEN 'open' ELSE f.status END,
                     fixed_at = CASE WHEN u.reopen THEN NULL ELSE f.fixed_at END,
                     reopened_count = f.reopened_count + CASE WHEN u.reopen THEN 1 ELSE 0 END
                 FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[],
                             $8::bool[], $9::float8[], $10::text[], $11::text[], $12::bool[])
                     AS u (id, package_version, fixed_version, severity, cvss_score,
                           known_exploited, epss_score, confidence, reason, reopen)
                 WHERE f.org_id = $1 AND f.id = ANY($3) AND f.id = u.id",
            )
            .bind(scope.org_id())
            .bind(now)
            .bind(column(update, |(id, ..)| id.0))
            .bind(column(update, |(_, want, _)| want.package_version.as_str()))
            .bind(column(update, |(_, want, _)| want.fixed_version.as_deref()))
            .bind(column(update, |(_, want, _)| want.severity.as_str()))
            .bind(column(update, |(_, want, _)| want.cvss_score))
            .bind(column(update, |(_, want, _)| want.known_exploited))
            .bind(column(update, |(_, want, _)| want.epss_score))
            .bind(column(update, |(_, want, _)| want.confidence.as_str()))
            .bind(column(update, |(_, want, _)| want.reason.as_str()))
            .bind(column(update, |(.., reopen)| *reopen))
            .execute(&mut **self)
            .await?;
        }
        if !writes.fix.is_empty() {
            sqlx::query(
                "UPDATE findings SET status = 'fixed', fixed_at = $3, updated_at = $3
                 WHERE org_id = $1 AND id = ANY($2)",
            )
            .bind(scope.org_id())
            .bind(column(&writes.fix, |id| id.0))
            .bind(now)
            .execute(&mut **self)
            .await?;
        }
        if !writes.open.is_empty() {
            let open = &writes.open;
            sqlx::query(concat!(
                insert_findings!(),
                "SELECT $1, id, asset_id, vulnerability_id, ecosystem, package_name,
                        package_version, fixed_version, severity, cvss_score, known_exploited,
                        epss_score, 'open', confidence, reason, $2, $2
                 FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::float8[], $12::bool[],
                             $13::float8[], $14::text[], $15::text[])
                     AS u (id, asset_id, vulnerability_id, ecosystem, package_name,
                           package_version, fixed_version, severity, cvss_score,
                           known_exploited, epss_score, confidence, reason)",
            ))
            .bind(scope.org_id())
            .bind(now)
            .bind(column(open, |(id, ..)| id.0))
            .bind(column(open, |(_, asset, _)| asset.0))
            .bind(column(open, |(.., want)| want.vulnerability_id.as_str()))
            .bind(column(open, |(.., want)| want.ecosystem.as_str()))
            .bind(column(open, |(.., want)| want.package_name.as_str()))
            .bind(column(open, |(.., want)| want.package_version.as_str()))
            .bind(column(open, |(.., want)| want.fixed_version.as_deref()))
            .bind(column(open, |(.., want)| want.severity.as_str()))
            .bind(column(open, |(.., want)| want.cvss_score))
            .bind(column(open, |(.., want)| want.known_exploited))
            .bind(column(open, |(.., want)| want.epss_score))
            .bind(column(open, |(.., want)| want.confidence.as_str()))
            .bind(column(open, |(.., want)| want.reason.as_str()))
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn add_to_summary(
        &mut self,
        scope: OrgScope,
        delta: &SummaryDelta,
        now: OffsetDateTime,
    ) -> Result<()> {
        if delta.is_zero() {
            return Ok(());
        }
        let [critical, high, medium, low, none, unknown] = delta.open;
        sqlx::query(ADD_TO_SUMMARY)
            .bind(scope.org_id())
            .bind(critical)
            .bind(high)
            .bind(medium)
            .bind(low)
            .bind(none)
            .bind(unknown)
            .bind(delta.open_known_exploited)
            .bind(delta.open_fixable)
            .bind(delta.fixed)
            .bind(now)
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

impl AssetRows for Transaction<'_, Postgres> {
    async fn lock_assets(
        &mut self,
        scope: OrgScope,
        snapshots: &[&Snapshot],
        now: OffsetDateTime,
    ) -> Result<Vec<AssetState>> {
        let agents = column(snapshots, |s| s.agent_id.0);
        let mut held: Vec<AssetState> = sqlx::query_as(LOCK_ASSETS)
            .bind(scope.org_id())
            .bind(&agents)
            .fetch_all(&mut **self)
            .await?;
        if held.len() < snapshots.len() {
            let found: HashSet<AgentId> = held.iter().map(|a| a.agent_id).collect();
            let missing: Vec<&Snapshot> = snapshots
                .iter()
                .copied()
                .filter(|s| !found.contains(&s.agent_id))
                .collect();
            // A new row is locked by the insert that made it; one another worker made since
            // the lock above is not returned, and is locked as it was found.
            let created: Vec<AssetState> = sqlx::query_as(
                "INSERT INTO assets (org_id, id, agent_id, kind, name, os, created_at, last_seen_at)
                 SELECT $1, id, agent_id, 'host', name, os, $2, $2
                 FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[]) AS n (id, agent_id, name, os)
                 ON CONFLICT (org_id, agent_id) DO NOTHING
                 RETURNING agent_id, id, inventory_sequence, inventory_hash",
            )
            .bind(scope.org_id())
            .bind(now)
            .bind(column(&missing, |_| AssetId::generate().0))
            .bind(column(&missing, |s| s.agent_id.0))
            .bind(column(&missing, |s| s.hostname.as_str()))
            .bind(column(&missing, |s| s.os.as_str()))
            .fetch_all(&mut **self)
            .await?;
            if created.len() < missing.len() {
                let made: HashSet<AgentId> = created.iter().map(|a| a.agent_id).collect();
                let made_elsewhere: Vec<Uuid> = missing
                    .iter()
                    .map(|s| s.agent_id)
                    .filter(|agent| !made.contains(agent))
                    .map(|agent| agent.0)
                    .collect();
                let locked: Vec<AssetState> = sqlx::query_as(LOCK_ASSETS)
                    .bind(scope.org_id())
                    .bind(made_elsewhere)
                    .fetch_all(&mut **self)
                    .await?;
                held.extend(locked);
            }
            held.extend(created);
        }
        Ok(held)
    }

    async fn package_keys(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<PackageKey>>> {
        let rows: Vec<PackageKeyRow> = sqlx::query_as(
            "SELECT asset_id, ecosystem, name, version, arch FROM packages
             WHERE org_id = $1 AND asset_id = ANY($2)",
        )
        .bind(scope.org_id())
        .bind(column(assets, |a| a.0))
        .fetch_all(&mut **self)
        .await?;
        Ok(by_asset(rows.into_iter().map(
            |(asset, ecosystem, name, version, arch)| (asset, (ecosystem, name, version, arch)),
        )))
    }

    async fn write_package_diffs(
        &mut self,
        scope: OrgScope,
        diffs: &[(AssetId, PackageDiff<'_>)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let removed: Vec<(Uuid, &PackageKey)> = diffs
            .iter()
            .flat_map(|(asset, diff)| diff.removed.iter().map(|key| (asset.0, *key)))
            .collect();
        if !removed.is_empty() {
            // `asset_id = ANY` keeps the generic plan on the key of the group's assets rather
            // than the organization's.
            sqlx::query(
                "DELETE FROM packages p
                 USING UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
                     AS r (asset_id, ecosystem, name, version, arch)
                 WHERE p.org_id = $1 AND p.asset_id = ANY($2) AND p.asset_id = r.asset_id
                   AND p.ecosystem = r.ecosystem AND p.name = r.name AND p.version = r.version
                   AND p.arch = r.arch",
            )
            .bind(scope.org_id())
            .bind(column(&removed, |(asset, _)| *asset))
            .bind(column(&removed, |(_, k)| k.0.as_str()))
            .bind(column(&removed, |(_, k)| k.1.as_str()))
            .bind(column(&removed, |(_, k)| k.2.as_str()))
            .bind(column(&removed, |(_, k)| k.3.as_str()))
            .execute(&mut **self)
            .await?;
        }
        let added: Vec<(Uuid, &SnapshotPackage)> = diffs
            .iter()
            .flat_map(|(asset, diff)| diff.added.iter().map(|p| (asset.0, *p)))
            .collect();
        if !added.is_empty() {
            sqlx::query(concat!(
                insert_packages!(),
                "SELECT $1, asset_id, ecosystem, name, version, arch, source_name, source_version,
                        purl, manager, match_ecosystem, match_name, $2
                 FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                             $13::text[])
                     AS i (asset_id, ecosystem, name, version, arch, source_name, source_version,
                           purl, manager, match_ecosystem, match_name)",
            ))
            .bind(scope.org_id())
            .bind(now)
            .bind(column(&added, |(asset, _)| *asset))
            .bind(column(&added, |(_, p)| p.ecosystem.as_str()))
            .bind(column(&added, |(_, p)| p.name.as_str()))
            .bind(column(&added, |(_, p)| p.version.as_str()))
            .bind(column(&added, |(_, p)| p.arch.as_str()))
            .bind(column(&added, |(_, p)| p.source_name.as_deref()))
            .bind(column(&added, |(_, p)| p.source_version.as_deref()))
            .bind(column(&added, |(_, p)| p.purl.as_deref()))
            .bind(column(&added, |(_, p)| p.manager.as_str()))
            .bind(column(&added, |(_, p)| p.match_ecosystem.as_str()))
            .bind(column(&added, |(_, p)| p.match_name.as_str()))
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn record_reports(
        &mut self,
        scope: OrgScope,
        applied: &[(AssetId, &Snapshot)],
        stale: &[&Snapshot],
        now: OffsetDateTime,
    ) -> Result<()> {
        if !applied.is_empty() {
            sqlx::query(
                "UPDATE assets a SET inventory_sequence = u.sequence, inventory_hash = u.hash,
                     last_inventory_at = $2, last_seen_at = $2, name = u.name, os = u.os
                 FROM UNNEST($3::uuid[], $4::int8[], $5::text[], $6::text[], $7::text[])
                     AS u (id, sequence, hash, name, os)
                 WHERE a.org_id = $1 AND a.id = ANY($3) AND a.id = u.id",
            )
            .bind(scope.org_id())
            .bind(now)
            .bind(column(applied, |(asset, _)| asset.0))
            .bind(column(applied, |(_, s)| to_i64(s.sequence)))
            .bind(column(applied, |(_, s)| s.hash.as_str()))
            .bind(column(applied, |(_, s)| s.hostname.as_str()))
            .bind(column(applied, |(_, s)| s.os.as_str()))
            .execute(&mut **self)
            .await?;
        }
        let reports = outcomes(applied, stale);
        if !reports.is_empty() {
            sqlx::query(concat!(
                insert_receipts!(),
                "SELECT $1, u.agent_id, u.sequence, u.batch_id, u.hash, u.package_count,
                     u.received_at, $2, u.outcome
                 FROM UNNEST($3::uuid[], $4::int8[], $5::uuid[], $6::text[], $7::int8[],
                     $8::timestamptz[], $9::text[])
                     AS u (agent_id, sequence, batch_id, hash, package_count, received_at, outcome)",
                receipt_conflict!()
            ))
            .bind(scope.org_id())
            .bind(now)
            .bind(column(&reports, |(s, _)| s.agent_id.0))
            .bind(column(&reports, |(s, _)| to_i64(s.sequence)))
            .bind(column(&reports, |(s, _)| s.batch_id.0))
            .bind(column(&reports, |(s, _)| s.hash.as_str()))
            .bind(column(&reports, |(s, _)| package_count(s)))
            .bind(column(&reports, |(s, _)| s.received_at))
            .bind(column(&reports, |(_, outcome)| outcome.as_str()))
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }
}

/// One field of every row, as the array a PostgreSQL `UNNEST` takes.
fn column<'a, T, U>(rows: &'a [T], field: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}
