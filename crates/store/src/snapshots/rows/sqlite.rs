//! SQLite's rows, stepped on the writer connection's own handle ([`zerotrace_dbconn::with_handle`]):
//! each statement is prepared once per transaction and run once per row.
//!
//! SQLite runs in process, so a statement per row costs no round trip, only the step itself.
//! Through sqlx the same rows went out as multi-row statements whose every value was copied
//! into an allocation of its own and sent, with the statement, to the connection's thread: that
//! took about half of the one writer's turn. Values are bound here the way sqlx binds them, so
//! either can read what the other wrote: ids as 16-byte blobs, times as RFC 3339 text, booleans
//! as integers.

use std::collections::HashMap;

use rusqlite::{CachedStatement, Row, params};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    ADD_TO_SUMMARY, AssetRows, AssetState, FindingRows, by_asset, insert_findings, insert_packages,
    insert_receipts, outcomes, package_count, receipt_conflict,
};
use crate::db::EnterScope;
use crate::lifecycle::{StoredFinding, SummaryDelta, stored_finding_columns};
use crate::snapshots::{FindingWrites, PackageDiff, PackageKey, Snapshot, to_i64};
use crate::{AgentId, AssetId, FindingId, OrgScope, Result, StoreError};

/// Finds or creates an agent's asset in one statement: the transaction already holds the
/// database's one write lock, so the no-op update of an existing row only reads it back.
const LOCK_ASSET: &str =
    "INSERT INTO assets (org_id, id, agent_id, kind, name, os, created_at, last_seen_at)
     VALUES (?1, ?2, ?3, 'host', ?4, ?5, ?6, ?6)
     ON CONFLICT (org_id, agent_id) DO UPDATE SET last_seen_at = last_seen_at
     RETURNING agent_id, id, inventory_sequence, inventory_hash";

/// The rows of a transaction on the writer's handle. Its futures never wait: every step is a
/// synchronous call into SQLite, so they are complete when first polled.
pub(crate) struct SqliteRows<'c> {
    handle: &'c mut rusqlite::Connection,
}

impl<'c> SqliteRows<'c> {
    pub fn new(handle: &'c mut rusqlite::Connection) -> Self {
        SqliteRows { handle }
    }

    fn statement(&self, sql: &str) -> Result<CachedStatement<'_>> {
        Ok(self.handle.prepare_cached(sql)?)
    }

    fn findings_of(&self, scope: OrgScope, assets: &[AssetId]) -> Result<Vec<StoredFinding>> {
        let mut select = self.statement(concat!(
            "SELECT ",
            stored_finding_columns!(),
            " FROM findings WHERE org_id = ?1 AND asset_id = ?2"
        ))?;
        let mut rows = Vec::new();
        for asset in assets {
            let held = select.query_map(params![scope.org_id().0, asset.0], stored_finding)?;
            for finding in held {
                rows.push(finding?);
            }
        }
        Ok(rows)
    }

    fn write_findings_now(
        &self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let org = scope.org_id().0;
        let now = timestamp(now)?;
        if !writes.update.is_empty() {
            let mut update = self.statement(
                "UPDATE findings SET package_version = ?3, fixed_version = ?4,
                     severity = ?5, cvss_score = ?6, known_exploited = ?7, epss_score = ?8,
                     confidence = ?9, reason = ?10, updated_at = ?11,
                     status = CASE WHEN ?12 THEN 'open' ELSE status END,
                     fixed_at = CASE WHEN ?12 THEN NULL ELSE fixed_at END,
                     reopened_count = reopened_count + CASE WHEN ?12 THEN 1 ELSE 0 END
                 WHERE org_id = ?1 AND id = ?2",
            )?;
            for (id, want, reopen) in &writes.update {
                update.execute(params![
                    org,
                    id.0,
                    want.package_version,
                    want.fixed_version,
                    want.severity.as_str(),
                    want.cvss_score,
                    want.known_exploited,
                    want.epss_score,
                    want.confidence,
                    want.reason,
                    now,
                    reopen,
                ])?;
            }
        }
        if !writes.fix.is_empty() {
            let mut fix = self.statement(
                "UPDATE findings SET status = 'fixed', fixed_at = ?3, updated_at = ?3
                 WHERE org_id = ?1 AND id = ?2",
            )?;
            for id in &writes.fix {
                fix.execute(params![org, id.0, now])?;
            }
        }
        if !writes.open.is_empty() {
            let mut insert = self.statement(concat!(
                insert_findings!(),
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'open', ?13, ?14,
                         ?15, ?15)"
            ))?;
            for (id, asset, want) in &writes.open {
                insert.execute(params![
                    org,
                    id.0,
                    asset.0,
                    want.vulnerability_id,
                    want.ecosystem,
                    want.package_name,
                    want.package_version,
                    want.fixed_version,
                    want.severity.as_str(),
                    want.cvss_score,
                    want.known_exploited,
                    want.epss_score,
                    want.confidence,
                    want.reason,
                    now,
                ])?;
            }
        }
        Ok(())
    }

    fn add_to_summary_now(
        &self,
        scope: OrgScope,
        delta: &SummaryDelta,
        now: OffsetDateTime,
    ) -> Result<()> {
        if delta.is_zero() {
            return Ok(());
        }
        let [critical, high, medium, low, none, unknown] = delta.open;
        self.statement(ADD_TO_SUMMARY)?.execute(params![
            scope.org_id().0,
            critical,
            high,
            medium,
            low,
            none,
            unknown,
            delta.open_known_exploited,
            delta.open_fixable,
            delta.fixed,
            timestamp(now)?,
        ])?;
        Ok(())
    }
}

/// A time as sqlx writes it to SQLite, so comparisons between the two writers' values hold.
fn timestamp(at: OffsetDateTime) -> Result<String> {
    at.format(&Rfc3339).map_err(|error| StoreError::Corrupt {
        column: "a timestamp",
        value: format!("{at}: {error}"),
    })
}

fn stored_finding(row: &Row<'_>) -> rusqlite::Result<StoredFinding> {
    Ok(StoredFinding {
        id: FindingId(row.get(0)?),
        asset_id: AssetId(row.get(1)?),
        vulnerability_id: row.get(2)?,
        ecosystem: row.get(3)?,
        package_name: row.get(4)?,
        package_version: row.get(5)?,
        fixed_version: row.get(6)?,
        severity: parsed(row, 7)?,
        cvss_score: row.get(8)?,
        known_exploited: row.get(9)?,
        epss_score: row.get(10)?,
        status: parsed(row, 11)?,
        confidence: row.get(12)?,
        reason: row.get(13)?,
    })
}

/// A text column read as one of our text enums (severity, status).
fn parsed<T: std::str::FromStr<Err = String>>(row: &Row<'_>, column: usize) -> rusqlite::Result<T> {
    row.get::<_, String>(column)?
        .parse()
        .map_err(|error: String| {
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Text,
                error.into(),
            )
        })
}

impl FindingRows for SqliteRows<'_> {
    async fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<StoredFinding>>> {
        let rows = self.findings_of(scope, assets)?;
        Ok(by_asset(rows.into_iter().map(|f| (f.asset_id, f))))
    }

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.write_findings_now(scope, writes, now)
    }

    async fn add_to_summary(
        &mut self,
        scope: OrgScope,
        delta: &SummaryDelta,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.add_to_summary_now(scope, delta, now)
    }
}

impl EnterScope for SqliteRows<'_> {
    async fn enter(&mut self, _scope: OrgScope) -> Result<()> {
        Ok(())
    }
}

impl AssetRows for SqliteRows<'_> {
    async fn lock_assets(
        &mut self,
        scope: OrgScope,
        snapshots: &[&Snapshot],
        now: OffsetDateTime,
    ) -> Result<Vec<AssetState>> {
        let now = timestamp(now)?;
        let mut lock = self.statement(LOCK_ASSET)?;
        let mut held = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            let state = lock.query_row(
                params![
                    scope.org_id().0,
                    AssetId::generate().0,
                    snapshot.agent_id.0,
                    snapshot.hostname,
                    snapshot.os,
                    now,
                ],
                |row| {
                    Ok(AssetState {
                        agent_id: AgentId(row.get(0)?),
                        id: AssetId(row.get(1)?),
                        inventory_sequence: row.get(2)?,
                        inventory_hash: row.get(3)?,
                    })
                },
            )?;
            held.push(state);
        }
        Ok(held)
    }

    async fn package_keys(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<PackageKey>>> {
        let mut select = self.statement(
            "SELECT ecosystem, name, version, arch FROM packages
             WHERE org_id = ?1 AND asset_id = ?2",
        )?;
        let mut keys = HashMap::with_capacity(assets.len());
        for asset in assets {
            let held = select
                .query_map(params![scope.org_id().0, asset.0], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<PackageKey>>>()?;
            if !held.is_empty() {
                keys.insert(*asset, held);
            }
        }
        Ok(keys)
    }

    async fn write_package_diffs(
        &mut self,
        scope: OrgScope,
        diffs: &[(AssetId, PackageDiff<'_>)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let org = scope.org_id().0;
        if diffs.iter().any(|(_, diff)| !diff.removed.is_empty()) {
            let mut delete = self.statement(
                "DELETE FROM packages WHERE org_id = ?1 AND asset_id = ?2 AND ecosystem = ?3
                   AND name = ?4 AND version = ?5 AND arch = ?6",
            )?;
            for (asset, diff) in diffs {
                for (ecosystem, name, version, arch) in &diff.removed {
                    delete.execute(params![org, asset.0, ecosystem, name, version, arch])?;
                }
            }
        }
        if diffs.iter().any(|(_, diff)| !diff.added.is_empty()) {
            let now = timestamp(now)?;
            let mut insert = self.statement(concat!(
                insert_packages!(),
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?;
            for (asset, diff) in diffs {
                for package in &diff.added {
                    insert.execute(params![
                        org,
                        asset.0,
                        package.ecosystem,
                        package.name,
                        package.version,
                        package.arch,
                        package.source_name,
                        package.source_version,
                        package.purl,
                        package.manager,
                        package.match_ecosystem,
                        package.match_name,
                        now,
                    ])?;
                }
            }
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
        let org = scope.org_id().0;
        let now = timestamp(now)?;
        if !applied.is_empty() {
            let mut update = self.statement(
                "UPDATE assets SET inventory_sequence = ?3, inventory_hash = ?4,
                     last_inventory_at = ?5, last_seen_at = ?5, name = ?6, os = ?7
                 WHERE org_id = ?1 AND id = ?2",
            )?;
            for (asset, snapshot) in applied {
                update.execute(params![
                    org,
                    asset.0,
                    to_i64(snapshot.sequence),
                    snapshot.hash,
                    now,
                    snapshot.hostname,
                    snapshot.os,
                ])?;
            }
        }
        let reports = outcomes(applied, stale);
        if !reports.is_empty() {
            let mut insert = self.statement(concat!(
                insert_receipts!(),
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                receipt_conflict!()
            ))?;
            for (snapshot, outcome) in reports {
                insert.execute(params![
                    org,
                    snapshot.agent_id.0,
                    to_i64(snapshot.sequence),
                    snapshot.batch_id.0,
                    snapshot.hash,
                    package_count(snapshot),
                    timestamp(snapshot.received_at)?,
                    now,
                    outcome.as_str(),
                ])?;
            }
        }
        Ok(())
    }
}

/// Outside a worker's batch (re-matching an asset, retention), findings are written on the
/// connection's handle a step at a time.
impl FindingRows for Transaction<'_, Sqlite> {
    async fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> Result<HashMap<AssetId, Vec<StoredFinding>>> {
        let rows = zerotrace_dbconn::with_handle(self, |handle| {
            SqliteRows::new(handle).findings_of(scope, assets)
        })
        .await?;
        Ok(by_asset(rows.into_iter().map(|f| (f.asset_id, f))))
    }

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        zerotrace_dbconn::with_handle(self, |handle| {
            SqliteRows::new(handle).write_findings_now(scope, writes, now)
        })
        .await
    }

    async fn add_to_summary(
        &mut self,
        scope: OrgScope,
        delta: &SummaryDelta,
        now: OffsetDateTime,
    ) -> Result<()> {
        zerotrace_dbconn::with_handle(self, |handle| {
            SqliteRows::new(handle).add_to_summary_now(scope, delta, now)
        })
        .await
    }
}
