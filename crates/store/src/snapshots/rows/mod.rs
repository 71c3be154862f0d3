//! The rows applying snapshots reads and writes, per backend, for a group of assets of one
//! organization inside a transaction already pointed at it.
//!
//! PostgreSQL (`postgres.rs`) takes each step for the whole group as one statement of one shape
//! over arrays: it is prepared once whatever the group's size, and a batch of 64 reports costs
//! about ten round trips per organization instead of ten per report. SQLite (`sqlite.rs`), in
//! process with no round trips to save, steps a statement per row on the connection's own
//! handle, prepared once per transaction.

mod postgres;
mod sqlite;

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{FindingWrites, PackageDiff, PackageKey, Snapshot};
use crate::db::EnterScope;
use crate::lifecycle::{StoredFinding, SummaryDelta};
use crate::{AgentId, AssetId, OrgScope, Result};
pub(crate) use sqlite::SqliteRows;

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bound-parameter limits.
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
use {insert_findings, insert_packages, insert_receipts, receipt_conflict};

/// Adds a delta to an organization's summary row. Its parameters are numbered in the order they
/// first appear, so SQLite, which reads `$n` as a name, binds them by position too.
const ADD_TO_SUMMARY: &str = "INSERT INTO org_summaries (org_id, open_critical, open_high,
         open_medium, open_low, open_none, open_unknown, open_known_exploited, open_fixable,
         fixed_total, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (org_id) DO UPDATE SET
         open_critical = org_summaries.open_critical + excluded.open_critical,
         open_high = org_summaries.open_high + excluded.open_high,
         open_medium = org_summaries.open_medium + excluded.open_medium,
         open_low = org_summaries.open_low + excluded.open_low,
         open_none = org_summaries.open_none + excluded.open_none,
         open_unknown = org_summaries.open_unknown + excluded.open_unknown,
         open_known_exploited = org_summaries.open_known_exploited + excluded.open_known_exploited,
         open_fixable = org_summaries.open_fixable + excluded.open_fixable,
         fixed_total = org_summaries.fixed_total + excluded.fixed_total,
         updated_at = excluded.updated_at";

/// One backend's reads and writes of assets' findings and their organization's summary. Every
/// method runs inside a transaction pointed at `scope`, and the caller hands each asset at most
/// once per call.
pub(crate) trait FindingRows {
    /// Every finding of the assets, whatever its status.
    fn stored_findings(
        &mut self,
        scope: OrgScope,
        assets: &[AssetId],
    ) -> impl Future<Output = Result<HashMap<AssetId, Vec<StoredFinding>>>> + Send;

    fn write_findings(
        &mut self,
        scope: OrgScope,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Adds `delta` to the organization's summary (nothing when it is zero).
    fn add_to_summary(
        &mut self,
        scope: OrgScope,
        delta: &SummaryDelta,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// One backend's reads and writes of a group of assets applying their snapshots, in a
/// transaction that several organizations' groups enter in turn.
pub(crate) trait AssetRows: FindingRows + EnterScope {
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

    fn write_package_diffs(
        &mut self,
        scope: OrgScope,
        diffs: &[(AssetId, PackageDiff<'_>)],
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
