//! The rows applying snapshots reads and writes, per backend, for a group of assets of one
//! organization inside a transaction already pointed at it.
//!
//! PostgreSQL takes each step for the whole group as one statement of one shape over arrays: it
//! is prepared once whatever the group's size, and a batch of 64 reports costs about ten round
//! trips per organization instead of ten per report. SQLite, in process with no round trips to
//! save, takes a statement per asset or row.

use std::collections::{HashMap, HashSet};

use sqlx::{Postgres, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{FindingWrites, PackageDiff, PackageKey, Snapshot, to_i64};
use crate::lifecycle::{StoredFinding, stored_finding_columns};
use crate::{AgentId, AssetId, OrgScope, Result};

/// Rows per multi-row INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

/// An asset as a worker finds it, locked until its transaction ends.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct AssetState {
    pub agent_id: AgentId,
    pub id: AssetId,
    pub inventory_sequence: Option<i64>,
    pub inventory_hash: Option<String>,
}

/// How a report ended, as `agent_reports.outcome` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportOutcome {
    Applied,
    Stale,
}

impl ReportOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Applied => "applied",
            ReportOutcome::Stale => "stale",
        }
    }
}

/// The column list of a findings INSERT, shared by both backends' statements.
macro_rules! insert_findings {
    () => {
        "INSERT INTO findings (org_id, id, asset_id, vulnerability_id, ecosystem, package_name,
             package_version, fixed_version, severity, cvss_score, known_exploited, epss_score,
             status, confidence, reason, first_seen_at, updated_at) "
    };
}

/// The column list of a packages INSERT, shared by both backends' statements.
macro_rules! insert_packages {
    () => {
        "INSERT INTO packages (org_id, asset_id, ecosystem, name, version, arch, source_name,
             source_version, purl, manager, match_ecosystem, match_name, first_seen_at) "
    };
}

/// The column list of a receipts INSERT, shared by both backends' statements.
macro_rules! insert_receipts {
    () => {
        "INSERT INTO agent_reports (org_id, agent_id, sequence, batch_id, hash, package_count,
             received_at, processed_at, outcome) "
    };
}

/// A receipt already written (a redelivered report) takes the new outcome unless it is `stale`
/// after an earlier processing: a redelivery keeps the outcome it had.
macro_rules! receipt_conflict {
    () => {
        " ON CONFLICT (org_id, agent_id, sequence) DO UPDATE
             SET processed_at = excluded.processed_at, outcome = excluded.outcome
             WHERE excluded.outcome = 'applied' OR agent_reports.processed_at IS NULL"
    };
}

/// Finds or creates an agent's asset on SQLite, in one statement: the transaction already holds
/// the database's one write lock, so the no-op update of an existing row only reads it back.
const SQLITE_LOCK_ASSET: &str =
    "INSERT INTO assets (org_id, id, agent_id, kind, name, os, created_at, last_seen_at)
     VALUES ($1, $2, $3, 'host', $4, $5, $6, $6)
     ON CONFLICT (org_id, agent_id) DO UPDATE SET last_seen_at = last_seen_at
     RETURNING agent_id, id, inventory_sequence, inventory_hash";

/// Finds or creates the asset of each agent and locks it until the transaction ends.
const POSTGRES_LOCK_ASSETS: &str =
    "SELECT agent_id, id, inventory_sequence, inventory_hash FROM assets
     WHERE org_id = $1 AND agent_id = ANY($2)
     ORDER BY agent_id FOR NO KEY UPDATE";

/// One backend's reads and writes of a group of assets. Every method runs inside a transaction
/// pointed at `scope`, and the caller hands each asset (agent) at most once per call.
pub(crate) trait AssetRows {
    /// Finds or creates the assets of these snapshots' agents and locks their rows until the
    /// transaction ends. The locks make workers holding reports of the same agent take turns
    /// (the Redis queue does not order by key), so the second sees the first one's sequence and
    /// packages. They are taken in agent order, with new assets after existing ones.
    fn lock_assets(
        &mut self,
        scope: OrgScope,
        snapshots: &[&Snapshot],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<AssetState>>> + Send;

    /// The identity of every package the assets hold.
    fn package_keys(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> impl Future<Output = Result<HashMap<AssetId, Vec<PackageKey>>>> + Send;

    /// Every finding of the assets, whatever its status.
    fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> impl Future<Output = Result<HashMap<AssetId, Vec<StoredFinding>>>> + Send;

    fn write_package_diffs(
        &mut self,
        scope: OrgScope,
        diffs: &[(AssetId, PackageDiff<'_>)],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The assets' new inventory (sequence, hash, name, OS) and each report's outcome.
    fn record_reports(
        &mut self,
        scope: OrgScope,
        applied: &[(AssetId, &Snapshot)],
        stale: &[&Snapshot],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
}

fn by_asset<T>(rows: impl IntoIterator<Item = (AssetId, T)>) -> HashMap<AssetId, Vec<T>> {
    let mut grouped: HashMap<AssetId, Vec<T>> = HashMap::new();
    for (asset, row) in rows {
        grouped.entry(asset).or_default().push(row);
    }
    grouped
}

type PackageKeyRow = (AssetId, String, String, String, String);

fn split_key((asset, ecosystem, name, version, arch): PackageKeyRow) -> (AssetId, PackageKey) {
    (asset, (ecosystem, name, version, arch))
}

impl AssetRows for Transaction<'_, Postgres> {
    async fn lock_assets(
        &mut self,
        scope: OrgScope,
        snapshots: &[&Snapshot],
        now: OffsetDateTime,
    ) -> Result<Vec<AssetState>> {
        let agents = column(snapshots, |s| s.agent_id.0);
        let mut held: Vec<AssetState> = sqlx::query_as(POSTGRES_LOCK_ASSETS)
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
            sqlx::query(
                "INSERT INTO assets (org_id, id, agent_id, kind, name, os, created_at, last_seen_at)
                 SELECT $1, id, agent_id, 'host', name, os, $2, $2
                 FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[]) AS n (id, agent_id, name, os)
                 ON CONFLICT (org_id, agent_id) DO NOTHING",
            )
            .bind(scope.org_id())
            .bind(now)
            .bind(column(&missing, |_| AssetId::generate().0))
            .bind(column(&missing, |s| s.agent_id.0))
            .bind(column(&missing, |s| s.hostname.as_str()))
            .bind(column(&missing, |s| s.os.as_str()))
            .execute(&mut **self)
            .await?;
            let created: Vec<AssetState> = sqlx::query_as(POSTGRES_LOCK_ASSETS)
                .bind(scope.org_id())
                .bind(column(&missing, |s| s.agent_id.0))
                .fetch_all(&mut **self)
                .await?;
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
        Ok(by_asset(rows.into_iter().map(split_key)))
    }

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
        let added: Vec<(Uuid, &super::SnapshotPackage)> = diffs
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

impl AssetRows for Transaction<'_, Sqlite> {
    async fn lock_assets(
        &mut self,
        scope: OrgScope,
        snapshots: &[&Snapshot],
        now: OffsetDateTime,
    ) -> Result<Vec<AssetState>> {
        let mut held = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            let state = sqlx::query_as::<_, AssetState>(SQLITE_LOCK_ASSET)
                .bind(scope.org_id())
                .bind(AssetId::generate())
                .bind(snapshot.agent_id)
                .bind(&snapshot.hostname)
                .bind(&snapshot.os)
                .bind(now)
                .fetch_one(&mut **self)
                .await?;
            held.push(state);
        }
        Ok(held)
    }

    async fn package_keys(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<PackageKey>>> {
        let mut rows: Vec<PackageKeyRow> = Vec::new();
        for asset in assets {
            let held: Vec<PackageKeyRow> = sqlx::query_as(
                "SELECT asset_id, ecosystem, name, version, arch FROM packages
                 WHERE org_id = $1 AND asset_id = $2",
            )
            .bind(scope.org_id())
            .bind(asset)
            .fetch_all(&mut **self)
            .await?;
            rows.extend(held);
        }
        Ok(by_asset(rows.into_iter().map(split_key)))
    }

    async fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<StoredFinding>>> {
        let mut rows: Vec<StoredFinding> = Vec::new();
        for asset in assets {
            let held: Vec<StoredFinding> = sqlx::query_as(concat!(
                "SELECT ",
                stored_finding_columns!(),
                " FROM findings WHERE org_id = $1 AND asset_id = $2"
            ))
            .bind(scope.org_id())
            .bind(asset)
            .fetch_all(&mut **self)
            .await?;
            rows.extend(held);
        }
        Ok(by_asset(rows.into_iter().map(|f| (f.asset_id, f))))
    }

    async fn write_package_diffs(
        &mut self,
        scope: OrgScope,
        diffs: &[(AssetId, PackageDiff<'_>)],
        now: OffsetDateTime,
    ) -> Result<()> {
        for (asset, diff) in diffs {
            for (ecosystem, name, version, arch) in &diff.removed {
                sqlx::query(
                    "DELETE FROM packages WHERE org_id = $1 AND asset_id = $2 AND ecosystem = $3
                       AND name = $4 AND version = $5 AND arch = $6",
                )
                .bind(scope.org_id())
                .bind(asset)
                .bind(ecosystem)
                .bind(name)
                .bind(version)
                .bind(arch)
                .execute(&mut **self)
                .await?;
            }
        }
        let added: Vec<(AssetId, &super::SnapshotPackage)> = diffs
            .iter()
            .flat_map(|(asset, diff)| diff.added.iter().map(|p| (*asset, *p)))
            .collect();
        for chunk in added.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::new(insert_packages!());
            insert.push_values(chunk, |mut row, (asset, package)| {
                row.push_bind(scope.org_id())
                    .push_bind(*asset)
                    .push_bind(&package.ecosystem)
                    .push_bind(&package.name)
                    .push_bind(&package.version)
                    .push_bind(&package.arch)
                    .push_bind(package.source_name.as_deref())
                    .push_bind(package.source_version.as_deref())
                    .push_bind(package.purl.as_deref())
                    .push_bind(&package.manager)
                    .push_bind(&package.match_ecosystem)
                    .push_bind(&package.match_name)
                    .push_bind(now);
            });
            insert.build().execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        for (id, want, reopen) in &writes.update {
            sqlx::query(
                "UPDATE findings SET package_version = $3, fixed_version = $4,
                     severity = $5, cvss_score = $6, known_exploited = $7, epss_score = $8,
                     confidence = $9, reason = $10, updated_at = $11,
                     status = CASE WHEN $12 THEN 'open' ELSE status END,
                     fixed_at = CASE WHEN $12 THEN NULL ELSE fixed_at END,
                     reopened_count = reopened_count + CASE WHEN $12 THEN 1 ELSE 0 END
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(scope.org_id())
            .bind(id)
            .bind(&want.package_version)
            .bind(want.fixed_version.as_deref())
            .bind(want.severity.as_str())
            .bind(want.cvss_score)
            .bind(want.known_exploited)
            .bind(want.epss_score)
            .bind(&want.confidence)
            .bind(&want.reason)
            .bind(now)
            .bind(reopen)
            .execute(&mut **self)
            .await?;
        }
        for id in &writes.fix {
            sqlx::query(
                "UPDATE findings SET status = 'fixed', fixed_at = $3, updated_at = $3
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(scope.org_id())
            .bind(id)
            .bind(now)
            .execute(&mut **self)
            .await?;
        }
        for chunk in writes.open.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::new(insert_findings!());
            insert.push_values(chunk, |mut row, (id, asset, want)| {
                row.push_bind(scope.org_id())
                    .push_bind(*id)
                    .push_bind(*asset)
                    .push_bind(&want.vulnerability_id)
                    .push_bind(&want.ecosystem)
                    .push_bind(&want.package_name)
                    .push_bind(&want.package_version)
                    .push_bind(want.fixed_version.as_deref())
                    .push_bind(want.severity.as_str())
                    .push_bind(want.cvss_score)
                    .push_bind(want.known_exploited)
                    .push_bind(want.epss_score)
                    .push_bind("open")
                    .push_bind(&want.confidence)
                    .push_bind(&want.reason)
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.build().execute(&mut **self).await?;
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
        for (asset, snapshot) in applied {
            sqlx::query(
                "UPDATE assets SET inventory_sequence = $3, inventory_hash = $4,
                     last_inventory_at = $5, last_seen_at = $5, name = $6, os = $7
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(scope.org_id())
            .bind(asset)
            .bind(to_i64(snapshot.sequence))
            .bind(&snapshot.hash)
            .bind(now)
            .bind(&snapshot.hostname)
            .bind(&snapshot.os)
            .execute(&mut **self)
            .await?;
        }
        for chunk in outcomes(applied, stale).chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::new(insert_receipts!());
            insert.push_values(chunk, |mut row, (snapshot, outcome)| {
                row.push_bind(scope.org_id())
                    .push_bind(snapshot.agent_id)
                    .push_bind(to_i64(snapshot.sequence))
                    .push_bind(snapshot.batch_id)
                    .push_bind(&snapshot.hash)
                    .push_bind(package_count(snapshot))
                    .push_bind(snapshot.received_at)
                    .push_bind(now)
                    .push_bind(outcome.as_str());
            });
            insert.push(receipt_conflict!());
            insert.build().execute(&mut **self).await?;
        }
        Ok(())
    }
}

/// Each report of a group with how it ended, applied ones first.
fn outcomes<'a>(
    applied: &[(AssetId, &'a Snapshot)],
    stale: &[&'a Snapshot],
) -> Vec<(&'a Snapshot, ReportOutcome)> {
    applied
        .iter()
        .map(|(_, s)| (*s, ReportOutcome::Applied))
        .chain(stale.iter().map(|s| (*s, ReportOutcome::Stale)))
        .collect()
}

fn package_count(snapshot: &Snapshot) -> i64 {
    i64::try_from(snapshot.packages.len()).unwrap_or(i64::MAX)
}

/// One field of every row, as the array a PostgreSQL `UNNEST` takes.
fn column<'a, T, U>(rows: &'a [T], field: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}
