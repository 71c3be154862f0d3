//! Agent inventory reports: the receipt the API writes when it accepts one (idempotent by the
//! agent's sequence number), and what the workers do with it: apply the snapshot to the asset's
//! stored packages, move its findings through their lifecycle and the organization's summary
//! with them, all in one transaction per batch.

use std::collections::{HashMap, HashSet};

use sqlx::{Postgres, Sqlite, Transaction};
use time::OffsetDateTime;

use crate::db::EnterScope;
use crate::lifecycle::{DesiredFinding, SummaryDelta};
use crate::{AgentId, AssetId, BatchId, FindingId, OrgScope, Result, Store};

/// One installed package of a snapshot, with the key the knowledge base indexes it under.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotPackage {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    /// Empty when the format has no architecture.
    pub arch: String,
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    pub purl: Option<String>,
    pub manager: String,
    /// The knowledge base's `(ecosystem, normalized name)` for this package (its source package
    /// for distributions), so a changed advisory finds the assets it touches.
    pub match_ecosystem: String,
    pub match_name: String,
}

impl SnapshotPackage {
    fn identity(&self) -> (&str, &str, &str, &str) {
        (&self.ecosystem, &self.name, &self.version, &self.arch)
    }
}

/// A full inventory of one agent's host, as the worker applies it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub agent_id: AgentId,
    pub hostname: String,
    pub os: String,
    pub sequence: u64,
    pub hash: String,
    pub scanned_at: OffsetDateTime,
    pub packages: Vec<SnapshotPackage>,
}

/// What the API answers for a report before it enqueues it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportCheck {
    /// Not seen: enqueue it, then [`Store::record_report`].
    New,
    /// This sequence was accepted before (a lost 202): answer with the same batch id.
    Duplicate(BatchId),
    /// Older than a report already accepted: acknowledge and ignore.
    Stale { latest: u64 },
}

/// One snapshot to apply, with the findings the knowledge base says its packages have.
pub struct SnapshotWork<'a> {
    pub scope: OrgScope,
    pub snapshot: &'a Snapshot,
    pub desired: &'a [DesiredFinding],
}

/// A finding a report opened or reopened (what the live feed announces).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedFinding {
    pub id: FindingId,
    pub vulnerability_id: String,
    pub package_name: String,
    pub package_version: String,
    pub severity: crate::findings::Severity,
    pub known_exploited: bool,
    pub reopened: bool,
}

/// What applying one snapshot (or re-matching one asset) changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingChanges {
    pub opened: Vec<OpenedFinding>,
    pub fixed: usize,
    pub refreshed: usize,
    pub summary: SummaryDelta,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ApplyOutcome {
    Applied {
        asset_id: AssetId,
        packages_added: usize,
        packages_removed: usize,
        findings: FindingChanges,
    },
    /// The asset already holds this sequence or a later one (a redelivery, or a late report).
    Stale { asset_sequence: u64 },
}

#[derive(sqlx::FromRow)]
struct AssetState {
    id: AssetId,
    inventory_sequence: Option<i64>,
}

/// Rows per multi-row INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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

/// Finds or creates the asset of the snapshot's agent and locks its row until the transaction
/// ends, inside a transaction already pointed at `$scope`. The lock makes workers that hold
/// reports of the same agent take turns (the Redis queue does not order by key), so the second
/// sees the first one's sequence and packages. The no-op UPDATE is the lock on PostgreSQL (and
/// reads the row in the same round trip); on SQLite the transaction already holds the database's
/// one write lock.
macro_rules! asset_of_agent {
    ($tx:ident, $scope:expr, $snapshot:expr, $now:expr) => {{
        let snapshot: &Snapshot = $snapshot;
        let lock = "UPDATE assets SET last_seen_at = last_seen_at WHERE org_id = $1 AND agent_id = $2
                    RETURNING id, inventory_sequence";
        let locked = sqlx::query_as::<_, AssetState>(lock)
            .bind($scope.org_id())
            .bind(snapshot.agent_id)
            .fetch_optional(&mut *$tx)
            .await?;
        match locked {
            Some(state) => state,
            None => {
                sqlx::query(
                    "INSERT INTO assets (org_id, id, agent_id, kind, name, os, created_at, last_seen_at)
                     VALUES ($1, $2, $3, 'host', $4, $5, $6, $6)
                     ON CONFLICT (org_id, agent_id) DO NOTHING",
                )
                .bind($scope.org_id())
                .bind(AssetId::generate())
                .bind(snapshot.agent_id)
                .bind(&snapshot.hostname)
                .bind(&snapshot.os)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
                sqlx::query_as::<_, AssetState>(lock)
                    .bind($scope.org_id())
                    .bind(snapshot.agent_id)
                    .fetch_one(&mut *$tx)
                    .await?
            }
        }
    }};
}

/// Runs the lifecycle for one asset inside the transaction `$tx` (pointed at `$scope`). The
/// summary movement is returned in the changes, for the caller to apply (see `apply_snapshots`
/// for why it comes last).
macro_rules! reconcile_findings {
    ($tx:ident, $scope:expr, $asset:expr, $desired:expr, $now:expr) => {{
        let asset: $crate::AssetId = $asset;
        let desired: &[$crate::lifecycle::DesiredFinding] = $desired;
        let stored = sqlx::query_as::<_, $crate::findings::Finding>(concat!(
            "SELECT ",
            finding_columns!(),
            " FROM findings WHERE org_id = $1 AND asset_id = $2"
        ))
        .bind($scope.org_id())
        .bind(asset)
        .fetch_all(&mut *$tx)
        .await?;
        let (actions, summary) = $crate::lifecycle::plan(&stored, desired);
        let mut changes = $crate::snapshots::FindingChanges {
            summary,
            ..$crate::snapshots::FindingChanges::default()
        };
        let mut writes = $crate::snapshots::FindingWrites::default();
        for action in actions {
            match action {
                $crate::lifecycle::Action::Open(want) => {
                    let id = $crate::FindingId::generate();
                    changes
                        .opened
                        .push($crate::snapshots::opened(id, want, false));
                    writes.open.push((id, want));
                }
                $crate::lifecycle::Action::Reopen(id, want) => {
                    changes
                        .opened
                        .push($crate::snapshots::opened(id, want, true));
                    writes.update.push((id, want, true));
                }
                $crate::lifecycle::Action::Refresh(id, want) => {
                    changes.refreshed += 1;
                    writes.update.push((id, want, false));
                }
                $crate::lifecycle::Action::Fix(id) => {
                    changes.fixed += 1;
                    writes.fix.push(id);
                }
            }
        }
        $crate::snapshots::WriteAssetRows::write_findings(&mut $tx, $scope, asset, &writes, $now)
            .await?;
        changes
    }};
}

/// The rows a lifecycle plan writes for one asset.
#[derive(Default)]
pub(crate) struct FindingWrites<'a> {
    pub open: Vec<(FindingId, &'a DesiredFinding)>,
    /// Refreshed facts; `true` also reopens a fixed finding.
    pub update: Vec<(FindingId, &'a DesiredFinding, bool)>,
    pub fix: Vec<FindingId>,
}

/// A stored package's identity: (ecosystem, name, version, arch).
type PackageKey = (String, String, String, String);

/// What a snapshot changes in its asset's stored packages.
pub(crate) struct PackageDiff<'a> {
    pub added: Vec<&'a SnapshotPackage>,
    pub removed: Vec<&'a PackageKey>,
}

impl<'a> PackageDiff<'a> {
    /// A package listed twice in the snapshot is added once.
    fn between(stored: &'a [PackageKey], packages: &'a [SnapshotPackage]) -> PackageDiff<'a> {
        let stored_keys: HashSet<(&str, &str, &str, &str)> = stored
            .iter()
            .map(|(e, n, v, a)| (e.as_str(), n.as_str(), v.as_str(), a.as_str()))
            .collect();
        let mut incoming = HashSet::with_capacity(packages.len());
        let added = packages
            .iter()
            .filter(|p| incoming.insert(p.identity()) && !stored_keys.contains(&p.identity()))
            .collect();
        let removed = stored
            .iter()
            .filter(|(e, n, v, a)| {
                !incoming.contains(&(e.as_str(), n.as_str(), v.as_str(), a.as_str()))
            })
            .collect();
        PackageDiff { added, removed }
    }
}

/// The rows applying a snapshot writes for one asset, inside a transaction pointed at its
/// organization: the package diff and the findings' lifecycle plan. PostgreSQL takes each kind of
/// write as one statement of one shape over arrays, so it is prepared once whatever the
/// report's size; SQLite, in process, takes a statement per row and multi-row INSERTs.
///
/// `apply_snapshots` reads the asset's package keys and makes the [`PackageDiff`] in process,
/// not in the database: a report mostly repeats the last one, and reading the keys back (an
/// index-only scan) and writing only what changed cost PostgreSQL a fraction of receiving all of
/// the report's rows as arrays and anti-joining them there (1.6 ms of a 5.6 ms statement went to
/// unpacking the arrays alone).
pub(crate) trait WriteAssetRows {
    async fn write_package_diff(
        &mut self,
        scope: OrgScope,
        asset: AssetId,
        diff: &PackageDiff<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        asset: AssetId,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
}

impl WriteAssetRows for Transaction<'static, Postgres> {
    async fn write_package_diff(
        &mut self,
        scope: OrgScope,
        asset: AssetId,
        diff: &PackageDiff<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if !diff.removed.is_empty() {
            sqlx::query(
                "DELETE FROM packages p
                 USING UNNEST($3::text[], $4::text[], $5::text[], $6::text[])
                     AS r (ecosystem, name, version, arch)
                 WHERE p.org_id = $1 AND p.asset_id = $2 AND p.ecosystem = r.ecosystem
                   AND p.name = r.name AND p.version = r.version AND p.arch = r.arch",
            )
            .bind(scope.org_id())
            .bind(asset)
            .bind(column(&diff.removed, |k| k.0.as_str()))
            .bind(column(&diff.removed, |k| k.1.as_str()))
            .bind(column(&diff.removed, |k| k.2.as_str()))
            .bind(column(&diff.removed, |k| k.3.as_str()))
            .execute(&mut **self)
            .await?;
        }
        if !diff.added.is_empty() {
            let added = &diff.added;
            sqlx::query(concat!(
                insert_packages!(),
                "SELECT $1, $2, ecosystem, name, version, arch, source_name, source_version, purl,
                        manager, match_ecosystem, match_name, $13
                 FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                     AS i (ecosystem, name, version, arch, source_name, source_version, purl,
                           manager, match_ecosystem, match_name)",
            ))
            .bind(scope.org_id())
            .bind(asset)
            .bind(column(added, |p| p.ecosystem.as_str()))
            .bind(column(added, |p| p.name.as_str()))
            .bind(column(added, |p| p.version.as_str()))
            .bind(column(added, |p| p.arch.as_str()))
            .bind(column(added, |p| p.source_name.as_deref()))
            .bind(column(added, |p| p.source_version.as_deref()))
            .bind(column(added, |p| p.purl.as_deref()))
            .bind(column(added, |p| p.manager.as_str()))
            .bind(column(added, |p| p.match_ecosystem.as_str()))
            .bind(column(added, |p| p.match_name.as_str()))
            .bind(now)
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn write_findings(
        &mut self,
        scope: OrgScope,
        asset: AssetId,
        writes: &FindingWrites<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if !writes.update.is_empty() {
            // `id = ANY` puts the ids in the index condition: joined on u.id alone, the generic
            // plan hashed all of the organization's findings to update a few.
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
            .bind(column(&writes.update, |(id, ..)| id.0))
            .bind(column(&writes.update, |(_, want, _)| {
                want.package_version.as_str()
            }))
            .bind(column(&writes.update, |(_, want, _)| {
                want.fixed_version.as_deref()
            }))
            .bind(column(&writes.update, |(_, want, _)| {
                want.severity.as_str()
            }))
            .bind(column(&writes.update, |(_, want, _)| want.cvss_score))
            .bind(column(&writes.update, |(_, want, _)| want.known_exploited))
            .bind(column(&writes.update, |(_, want, _)| want.epss_score))
            .bind(column(&writes.update, |(_, want, _)| {
                want.confidence.as_str()
            }))
            .bind(column(&writes.update, |(_, want, _)| want.reason.as_str()))
            .bind(column(&writes.update, |(.., reopen)| *reopen))
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
            sqlx::query(concat!(
                insert_findings!(),
                "SELECT $1, id, $2, vulnerability_id, ecosystem, package_name, package_version,
                        fixed_version, severity, cvss_score, known_exploited, epss_score, 'open',
                        confidence, reason, $3, $3
                 FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[],
                             $9::text[], $10::text[], $11::float8[], $12::bool[], $13::float8[],
                             $14::text[], $15::text[])
                     AS u (id, vulnerability_id, ecosystem, package_name, package_version,
                           fixed_version, severity, cvss_score, known_exploited, epss_score,
                           confidence, reason)",
            ))
            .bind(scope.org_id())
            .bind(asset)
            .bind(now)
            .bind(column(&writes.open, |(id, _)| id.0))
            .bind(column(&writes.open, |(_, want)| {
                want.vulnerability_id.as_str()
            }))
            .bind(column(&writes.open, |(_, want)| want.ecosystem.as_str()))
            .bind(column(&writes.open, |(_, want)| want.package_name.as_str()))
            .bind(column(&writes.open, |(_, want)| {
                want.package_version.as_str()
            }))
            .bind(column(&writes.open, |(_, want)| {
                want.fixed_version.as_deref()
            }))
            .bind(column(&writes.open, |(_, want)| want.severity.as_str()))
            .bind(column(&writes.open, |(_, want)| want.cvss_score))
            .bind(column(&writes.open, |(_, want)| want.known_exploited))
            .bind(column(&writes.open, |(_, want)| want.epss_score))
            .bind(column(&writes.open, |(_, want)| want.confidence.as_str()))
            .bind(column(&writes.open, |(_, want)| want.reason.as_str()))
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }
}

impl WriteAssetRows for Transaction<'static, Sqlite> {
    async fn write_package_diff(
        &mut self,
        scope: OrgScope,
        asset: AssetId,
        diff: &PackageDiff<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
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
        for chunk in diff.added.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::new(insert_packages!());
            insert.push_values(chunk, |mut row, package| {
                row.push_bind(scope.org_id())
                    .push_bind(asset)
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
        asset: AssetId,
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
        // One multi-row INSERT per chunk: a host's first report opens dozens at once.
        for chunk in writes.open.chunks(INSERT_CHUNK / 2) {
            let mut insert = sqlx::QueryBuilder::new(insert_findings!());
            insert.push_values(chunk, |mut row, (id, want)| {
                row.push_bind(scope.org_id())
                    .push_bind(*id)
                    .push_bind(asset)
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
}

/// One field of every row, as the array a PostgreSQL `UNNEST` takes.
fn column<'a, T, U>(rows: &'a [T], field: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}

pub(crate) fn opened(id: FindingId, want: &DesiredFinding, reopened: bool) -> OpenedFinding {
    OpenedFinding {
        id,
        vulnerability_id: want.vulnerability_id.clone(),
        package_name: want.package_name.clone(),
        package_version: want.package_version.clone(),
        severity: want.severity,
        known_exploited: want.known_exploited,
        reopened,
    }
}

impl Store {
    /// Whether an agent's report with `sequence` is new, a repeat, or older than one accepted.
    pub async fn check_report(
        &self,
        scope: OrgScope,
        agent_id: AgentId,
        sequence: u64,
    ) -> Result<ReportCheck> {
        Ok(scoped!(self, scope, Read, |tx| {
            let same: Option<BatchId> = sqlx::query_scalar(
                "SELECT batch_id FROM agent_reports
                 WHERE org_id = $1 AND agent_id = $2 AND sequence = $3",
            )
            .bind(scope.org_id())
            .bind(agent_id)
            .bind(to_i64(sequence))
            .fetch_optional(&mut *tx)
            .await?;
            match same {
                Some(batch) => ReportCheck::Duplicate(batch),
                None => {
                    let latest: Option<i64> = sqlx::query_scalar(
                        "SELECT max(sequence) FROM agent_reports WHERE org_id = $1 AND agent_id = $2",
                    )
                    .bind(scope.org_id())
                    .bind(agent_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    match latest.and_then(|l| u64::try_from(l).ok()) {
                        Some(latest) if latest > sequence => ReportCheck::Stale { latest },
                        _ => ReportCheck::New,
                    }
                }
            }
        }))
    }

    /// Records an enqueued report. Returns the batch id stored for `(agent, sequence)`: `batch`
    /// itself, or the first one when the same report raced in twice.
    pub async fn record_report(
        &self,
        scope: OrgScope,
        agent_id: AgentId,
        sequence: u64,
        hash: &str,
        package_count: usize,
        batch: BatchId,
    ) -> Result<BatchId> {
        let now = OffsetDateTime::now_utc();
        Ok(scoped!(self, scope, Write, |tx| {
            sqlx::query(
                "INSERT INTO agent_reports (org_id, agent_id, sequence, batch_id, hash, package_count, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (org_id, agent_id, sequence) DO NOTHING",
            )
            .bind(scope.org_id())
            .bind(agent_id)
            .bind(to_i64(sequence))
            .bind(batch)
            .bind(hash)
            .bind(i64::try_from(package_count).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query_scalar::<_, BatchId>(
                "SELECT batch_id FROM agent_reports WHERE org_id = $1 AND agent_id = $2 AND sequence = $3",
            )
            .bind(scope.org_id())
            .bind(agent_id)
            .bind(to_i64(sequence))
            .fetch_one(&mut *tx)
            .await?
        }))
    }

    /// Applies snapshots in one transaction: per snapshot, the package diff against the asset's
    /// stored packages, the finding lifecycle against `desired`, the summary movement, and the
    /// asset's and report's bookkeeping. A snapshot whose sequence the asset already holds is
    /// skipped, so a redelivered batch changes nothing. Any error rolls the whole batch back.
    pub async fn apply_snapshots(&self, work: &[SnapshotWork<'_>]) -> Result<Vec<ApplyOutcome>> {
        let now = OffsetDateTime::now_utc();
        // Rows are locked in one order by every worker (organization, agent, sequence), and the
        // organizations' summary rows, which every report of an organization updates, only at
        // the end: two workers never wait on each other in a cycle, and a summary row is held
        // only for the end of a transaction.
        let mut order: Vec<usize> = (0..work.len()).collect();
        order.sort_by_key(|&i| {
            let item = &work[i];
            (
                item.scope.org_id(),
                item.snapshot.agent_id,
                item.snapshot.sequence,
            )
        });
        let mut summaries: std::collections::BTreeMap<crate::OrgId, (OrgScope, SummaryDelta)> =
            std::collections::BTreeMap::new();
        let mut outcomes: Vec<Option<ApplyOutcome>> = vec![None; work.len()];
        global!(self, Write, |tx| {
            let mut entered = None;
            for &index in &order {
                let item = &work[index];
                let scope = item.scope;
                let snapshot = item.snapshot;
                if entered != Some(scope.org_id()) {
                    tx.enter(scope).await?;
                    entered = Some(scope.org_id());
                }
                let asset = asset_of_agent!(tx, scope, snapshot, now);
                let sequence = to_i64(snapshot.sequence);
                if let Some(held) = asset.inventory_sequence.filter(|held| *held >= sequence) {
                    outcomes[index] = Some(ApplyOutcome::Stale {
                        asset_sequence: u64::try_from(held).unwrap_or_default(),
                    });
                    sqlx::query(
                        "UPDATE agent_reports SET processed_at = $4, outcome = 'stale'
                         WHERE org_id = $1 AND agent_id = $2 AND sequence = $3 AND processed_at IS NULL",
                    )
                    .bind(scope.org_id())
                    .bind(snapshot.agent_id)
                    .bind(sequence)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    continue;
                }

                let stored: Vec<PackageKey> = sqlx::query_as(
                    "SELECT ecosystem, name, version, arch FROM packages
                     WHERE org_id = $1 AND asset_id = $2",
                )
                .bind(scope.org_id())
                .bind(asset.id)
                .fetch_all(&mut *tx)
                .await?;
                let diff = PackageDiff::between(&stored, &snapshot.packages);
                tx.write_package_diff(scope, asset.id, &diff, now).await?;
                let (packages_added, packages_removed) = (diff.added.len(), diff.removed.len());
                let findings = reconcile_findings!(tx, scope, asset.id, item.desired, now);
                summaries
                    .entry(scope.org_id())
                    .or_insert((scope, SummaryDelta::default()))
                    .1
                    .add(&findings.summary);

                sqlx::query(
                    "UPDATE assets SET inventory_sequence = $3, inventory_hash = $4,
                         last_inventory_at = $5, last_seen_at = $5, name = $6, os = $7
                     WHERE org_id = $1 AND id = $2",
                )
                .bind(scope.org_id())
                .bind(asset.id)
                .bind(sequence)
                .bind(&snapshot.hash)
                .bind(now)
                .bind(&snapshot.hostname)
                .bind(&snapshot.os)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE agent_reports SET processed_at = $4, outcome = 'applied'
                     WHERE org_id = $1 AND agent_id = $2 AND sequence = $3",
                )
                .bind(scope.org_id())
                .bind(snapshot.agent_id)
                .bind(sequence)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                outcomes[index] = Some(ApplyOutcome::Applied {
                    asset_id: asset.id,
                    packages_added,
                    packages_removed,
                    findings,
                });
            }
            for (scope, delta) in summaries.values() {
                tx.enter(*scope).await?;
                apply_summary_delta!(tx, scope, delta, now);
            }
        });
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// The assets of the organization holding a package under one of these knowledge-base keys
    /// (`(ecosystem, normalized name)`): what a changed advisory must be re-matched against.
    pub async fn assets_with_match_keys(
        &self,
        scope: OrgScope,
        keys: &[(String, String)],
    ) -> Result<Vec<AssetId>> {
        let mut assets = HashSet::new();
        for chunk in keys.chunks(INSERT_CHUNK) {
            let found: Vec<AssetId> = scoped!(self, scope, Read, |tx| {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT DISTINCT asset_id FROM packages WHERE org_id = ",
                );
                query.push_bind(scope.org_id());
                query.push(" AND (match_ecosystem, match_name) IN ");
                query.push_tuples(chunk, |mut row, (ecosystem, name)| {
                    row.push_bind(ecosystem).push_bind(name);
                });
                query
                    .build_query_scalar::<AssetId>()
                    .fetch_all(&mut *tx)
                    .await?
            });
            assets.extend(found);
        }
        let mut assets: Vec<AssetId> = assets.into_iter().collect();
        assets.sort();
        Ok(assets)
    }

    /// An asset's current packages (its latest snapshot).
    pub async fn asset_packages(
        &self,
        scope: OrgScope,
        asset: AssetId,
    ) -> Result<Vec<SnapshotPackage>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, SnapshotPackage>(
                "SELECT ecosystem, name, version, arch, source_name, source_version, purl, manager,
                        match_ecosystem, match_name
                 FROM packages WHERE org_id = $1 AND asset_id = $2
                 ORDER BY ecosystem, name, version, arch",
            )
            .bind(scope.org_id())
            .bind(asset)
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    /// Re-runs the finding lifecycle of one asset against a new `desired` set (after the
    /// knowledge base changed), in one transaction: readers see the old findings or the new ones,
    /// never a gap.
    pub async fn reconcile_asset(
        &self,
        scope: OrgScope,
        asset: AssetId,
        desired: &[DesiredFinding],
    ) -> Result<FindingChanges> {
        let now = OffsetDateTime::now_utc();
        Ok(scoped!(self, scope, Write, |tx| {
            let changes = reconcile_findings!(tx, scope, asset, desired, now);
            apply_summary_delta!(tx, scope, &changes.summary, now);
            changes
        }))
    }

    /// Every organization's id, for work that visits each (re-matching, sweeps, retention).
    pub async fn org_ids(&self) -> Result<Vec<crate::OrgId>> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY id")
                .fetch_all(&mut *tx)
                .await?
        }))
    }
}

/// Groups the desired findings of several installed versions of one package into one finding
/// per (vulnerability, ecosystem, package name), with the versions joined.
pub fn merge_versions(desired: Vec<DesiredFinding>) -> Vec<DesiredFinding> {
    let mut merged: Vec<DesiredFinding> = Vec::with_capacity(desired.len());
    let mut index: HashMap<(String, String, String), usize> = HashMap::new();
    for finding in desired {
        let key = (
            finding.vulnerability_id.clone(),
            finding.ecosystem.clone(),
            finding.package_name.clone(),
        );
        match index.get(&key) {
            Some(&at) => {
                let kept = &mut merged[at];
                let mut versions: Vec<&str> = kept.package_version.split(", ").collect();
                if !versions.contains(&finding.package_version.as_str()) {
                    versions.push(&finding.package_version);
                    versions.sort_unstable();
                    kept.package_version = versions.join(", ");
                }
                if kept.fixed_version.is_none() {
                    kept.fixed_version = finding.fixed_version;
                }
            }
            None => {
                index.insert(key, merged.len());
                merged.push(finding);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str) -> SnapshotPackage {
        SnapshotPackage {
            ecosystem: "npm".into(),
            name: name.into(),
            version: version.into(),
            arch: String::new(),
            source_name: None,
            source_version: None,
            purl: None,
            manager: "npm".into(),
            match_ecosystem: "npm".into(),
            match_name: name.into(),
        }
    }

    fn key(name: &str, version: &str) -> PackageKey {
        ("npm".into(), name.into(), version.into(), String::new())
    }

    #[test]
    fn a_diff_adds_the_new_once_and_removes_what_is_gone() {
        let stored = [
            key("kept", "1.0.0"),
            key("upgraded", "1.0.0"),
            key("gone", "2.0.0"),
        ];
        let snapshot = [
            package("kept", "1.0.0"),
            package("upgraded", "1.1.0"),
            package("new", "0.1.0"),
            package("new", "0.1.0"),
        ];
        let diff = PackageDiff::between(&stored, &snapshot);
        let added: Vec<_> = diff
            .added
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(added, [("upgraded", "1.1.0"), ("new", "0.1.0")]);
        assert_eq!(diff.removed, [&stored[1], &stored[2]]);

        let unchanged = PackageDiff::between(&stored[..1], &snapshot[..1]);
        assert!(unchanged.added.is_empty() && unchanged.removed.is_empty());
    }
}
