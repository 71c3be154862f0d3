//! Agent inventory reports: what the workers do with one (apply the snapshot to the asset's
//! stored packages, move its findings through their lifecycle and the organization's summary
//! with them, in one transaction per batch, per run of organizations on SQLite) and the receipt
//! they write in the same transaction, which the API reads to answer a repeated or late report
//! (idempotent by the agent's sequence number). The API itself writes nothing for a report: on
//! SQLite its receipts took a third of the one writer's time while agents were sending.

mod held;
mod rows;

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use futures_util::FutureExt;
use time::OffsetDateTime;

use crate::db::{Pool, TxMode, begin_postgres, begin_sqlite};
use crate::findings::FindingStatus;
use crate::lifecycle::{Action, DesiredFinding, StoredFinding, SummaryDelta};
use crate::{AgentId, AssetId, BatchId, FindingId, OrgId, OrgScope, Result, Store, StoreError};
use held::HeldAsset;
pub(crate) use held::HeldAssets;
use rows::AssetState;
use rows::{AssetRows, SqliteRows};
pub(crate) use rows::{FindingRows, INSERT_CHUNK};

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
    /// What the API answered the agent with (its receipt's id).
    pub batch_id: BatchId,
    /// When the API accepted the report.
    pub received_at: OffsetDateTime,
    pub hostname: String,
    pub os: String,
    pub sequence: u64,
    pub hash: String,
    pub scanned_at: OffsetDateTime,
    pub packages: Vec<SnapshotPackage>,
}

impl Snapshot {
    /// The identities of the packages, each once: what the asset holds once this is applied.
    fn package_keys(&self) -> Arc<[PackageKey]> {
        let mut seen = HashSet::with_capacity(self.packages.len());
        self.packages
            .iter()
            .filter(|p| seen.insert(p.identity()))
            .map(|p| {
                (
                    p.ecosystem.clone(),
                    p.name.clone(),
                    p.version.clone(),
                    p.arch.clone(),
                )
            })
            .collect()
    }
}

/// What the API answers for a report before it enqueues it, from the receipts of the reports
/// workers have processed. A repeat that arrives while the first is still queued looks new: it
/// is queued again, and the worker finds it stale (the asset holds its sequence by then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportCheck {
    /// Not processed before: enqueue it.
    New,
    /// This sequence was processed before (a lost 202): answer with the same batch id.
    Duplicate(BatchId),
    /// Older than a report already processed: acknowledge and ignore.
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
        /// The asset's first inventory (its host's first report).
        first_inventory: bool,
        packages_added: usize,
        packages_removed: usize,
        findings: FindingChanges,
    },
    /// The asset already holds this sequence or a later one (a redelivery, or a late report).
    Stale { asset_sequence: u64 },
}

/// A batch that failed part way. On SQLite each organization's group commits on its own, so the
/// groups before the failing one are applied; the caller settles those and retries the rest
/// (which a one-by-one retry would otherwise find already applied, and report stale).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BatchFailure {
    /// Each snapshot's outcome when its group committed before the failure, in the order given.
    pub committed: Vec<Option<ApplyOutcome>>,
    #[source]
    pub error: StoreError,
}

/// The fewest reports a SQLite transaction of a batch carries (when the batch has them). A
/// commit writes every page its rows touched: with a commit per organization, a fleet of 100
/// organizations committed about one report at a time (the seed's 100 × 1,000 hosts' first
/// inventories: 16.4k records/s, 19.5k with 16 reports). Since the API stopped writing a receipt
/// per report, only occasional writes (check-ins once a second, enrollments, administration)
/// wait for a batch's transaction, so it now takes a whole default batch: the drain of those
/// inventories on the writer's handle went from 72.9k to 75.9k records/s (16 against 64, two
/// runs each), and a short write waits for about 85 ms of rows at most.
pub const SQLITE_REPORTS_PER_TRANSACTION: usize = 64;

/// Splits `groups` into runs of whole groups, each holding at least `at_least` reports (the
/// last run: whatever is left).
fn transactions(
    groups: &[(OrgScope, Vec<usize>)],
    at_least: usize,
) -> Vec<&[(OrgScope, Vec<usize>)]> {
    let mut runs = Vec::new();
    let (mut start, mut reports) = (0, 0);
    for (end, (_, indexes)) in groups.iter().enumerate() {
        reports += indexes.len();
        if reports >= at_least {
            runs.push(&groups[start..=end]);
            (start, reports) = (end + 1, 0);
        }
    }
    if start < groups.len() {
        runs.push(&groups[start..]);
    }
    runs
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The rows a lifecycle plan writes for a group of assets.
#[derive(Default)]
pub(crate) struct FindingWrites<'a> {
    pub open: Vec<(FindingId, AssetId, &'a DesiredFinding)>,
    /// Refreshed facts; `true` also reopens a fixed finding.
    pub update: Vec<(FindingId, &'a DesiredFinding, bool)>,
    pub fix: Vec<FindingId>,
}

/// A stored package's identity: (ecosystem, name, version, arch).
type PackageKey = (String, String, String, String);

/// What a snapshot changes in its asset's stored packages.
///
/// It is made in process, not in the database: a report mostly repeats the last one, and reading
/// the keys back (an index-only scan) and writing only what changed cost PostgreSQL a fraction of
/// receiving all of the report's rows as arrays and anti-joining them there (1.6 ms of a 5.6 ms
/// statement went to unpacking the arrays alone).
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

/// Plans the lifecycle of one asset's findings against `desired`, adding the rows it writes to
/// `writes`. Returns the changes (with the summary movement, for the caller to apply) and the
/// findings the asset holds once `writes` commit.
fn plan_findings<'a>(
    asset: AssetId,
    stored: &Arc<[StoredFinding]>,
    desired: &'a [DesiredFinding],
    writes: &mut FindingWrites<'a>,
) -> (FindingChanges, Arc<[StoredFinding]>) {
    let (actions, summary) = crate::lifecycle::plan(stored, desired);
    let mut changes = FindingChanges {
        summary,
        ..FindingChanges::default()
    };
    if actions.is_empty() {
        return (changes, stored.clone());
    }
    let mut held = stored.to_vec();
    let position: HashMap<FindingId, usize> =
        held.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let mut added = Vec::new();
    for action in actions {
        match action {
            Action::Open(want) => {
                let id = FindingId::generate();
                changes.opened.push(opened(id, want, false));
                writes.open.push((id, asset, want));
                added.push(StoredFinding::opened(id, asset, want));
            }
            Action::Reopen(id, want) => {
                changes.opened.push(opened(id, want, true));
                writes.update.push((id, want, true));
                if let Some(finding) = position.get(&id).map(|&i| &mut held[i]) {
                    finding.take_facts(want);
                    finding.status = FindingStatus::Open;
                }
            }
            Action::Refresh(id, want) => {
                changes.refreshed += 1;
                writes.update.push((id, want, false));
                if let Some(finding) = position.get(&id).map(|&i| &mut held[i]) {
                    finding.take_facts(want);
                }
            }
            Action::Fix(id) => {
                changes.fixed += 1;
                writes.fix.push(id);
                if let Some(finding) = position.get(&id).map(|&i| &mut held[i]) {
                    finding.status = FindingStatus::Fixed;
                }
            }
        }
    }
    held.extend(added);
    (changes, held.into())
}

/// Runs the finding lifecycle of one asset against `desired` inside a transaction pointed at
/// `scope`. The summary movement is returned in the changes, for the caller to apply.
pub(crate) async fn reconcile<T: FindingRows>(
    tx: &mut T,
    scope: OrgScope,
    asset: AssetId,
    desired: &[DesiredFinding],
    now: OffsetDateTime,
) -> Result<FindingChanges> {
    let stored: Arc<[StoredFinding]> = tx
        .stored_findings(scope, &[asset])
        .await?
        .remove(&asset)
        .unwrap_or_default()
        .into();
    let mut writes = FindingWrites::default();
    let (changes, _) = plan_findings(asset, &stored, desired, &mut writes);
    tx.write_findings(scope, &writes, now).await?;
    Ok(changes)
}

/// What [`apply_group`] did: each snapshot's outcome, in the order given (the summary movement
/// is in the outcomes), and the packages and findings each asset holds now, to remember once
/// the transaction commits.
struct GroupApplied {
    outcomes: Vec<ApplyOutcome>,
    held: Vec<(AssetId, HeldAsset)>,
}

/// Applies one organization's snapshots, one per agent, inside a transaction pointed at it:
/// the package diffs, the findings' lifecycle and the bookkeeping of assets and reports.
async fn apply_group<T: AssetRows>(
    tx: &mut T,
    remembered: &HeldAssets,
    scope: OrgScope,
    group: &[&SnapshotWork<'_>],
    keys: &[&Arc<[PackageKey]>],
    now: OffsetDateTime,
) -> Result<GroupApplied> {
    let snapshots: Vec<&Snapshot> = group.iter().map(|item| item.snapshot).collect();
    let assets: HashMap<AgentId, AssetState> = tx
        .lock_assets(scope, &snapshots, now)
        .await?
        .into_iter()
        .map(|state| (state.agent_id, state))
        .collect();
    // Every agent has its asset now; a missing one is a broken invariant, not bad input.
    let asset_of = |snapshot: &Snapshot| {
        assets.get(&snapshot.agent_id).ok_or(StoreError::Corrupt {
            column: "assets.agent_id",
            value: snapshot.agent_id.to_string(),
        })
    };
    let mut fresh: Vec<(&SnapshotWork<'_>, &AssetState, &Arc<[PackageKey]>)> =
        Vec::with_capacity(group.len());
    let mut stale: Vec<&Snapshot> = Vec::new();
    for (item, keys) in group.iter().zip(keys) {
        let asset = asset_of(item.snapshot)?;
        match asset.inventory_sequence {
            Some(held) if held >= to_i64(item.snapshot.sequence) => stale.push(item.snapshot),
            _ => fresh.push((item, asset, keys)),
        }
    }
    // Asset rows are only created by `lock_assets`, in the transaction that applies their first
    // report: one without a sequence holds no packages or findings yet, and nothing is read.
    let mut stored_packages: HashMap<AssetId, Arc<[PackageKey]>> = HashMap::new();
    let mut stored_findings: HashMap<AssetId, Arc<[StoredFinding]>> = HashMap::new();
    let mut unremembered: Vec<AssetId> = Vec::new();
    for (_, asset, _) in &fresh {
        let sequence = asset.inventory_sequence;
        if sequence.is_none() {
            continue;
        }
        match remembered.get(asset.id, sequence, asset.inventory_hash.as_deref()) {
            Some(held) => {
                stored_packages.insert(asset.id, held.keys.clone());
                stored_findings.insert(asset.id, held.findings.clone());
            }
            None => unremembered.push(asset.id),
        }
    }
    if !unremembered.is_empty() {
        let read = tx.package_keys(scope, &unremembered).await?;
        stored_packages.extend(read.into_iter().map(|(asset, keys)| (asset, keys.into())));
    }
    let diffs: Vec<(AssetId, PackageDiff<'_>)> = fresh
        .iter()
        .map(|(item, asset, _)| {
            let stored = stored_packages.get(&asset.id).map_or(&[][..], |k| &k[..]);
            (
                asset.id,
                PackageDiff::between(stored, &item.snapshot.packages),
            )
        })
        .collect();
    tx.write_package_diffs(scope, &diffs, now).await?;

    if !unremembered.is_empty() {
        let read = tx.stored_findings(scope, &unremembered).await?;
        stored_findings.extend(read.into_iter().map(|(asset, rows)| (asset, rows.into())));
    }
    let mut writes = FindingWrites::default();
    let none: Arc<[StoredFinding]> = Arc::from([]);
    let (changes, held_findings): (Vec<FindingChanges>, Vec<Arc<[StoredFinding]>>) = fresh
        .iter()
        .map(|(item, asset, _)| {
            let stored = stored_findings.get(&asset.id).unwrap_or(&none);
            plan_findings(asset.id, stored, item.desired, &mut writes)
        })
        .unzip();
    tx.write_findings(scope, &writes, now).await?;

    let applied: Vec<(AssetId, &Snapshot)> = fresh
        .iter()
        .map(|(item, asset, _)| (asset.id, item.snapshot))
        .collect();
    tx.record_reports(scope, &applied, &stale, now).await?;

    let mut applied_outcomes =
        fresh
            .iter()
            .zip(diffs)
            .zip(changes)
            .map(
                |(((_, asset, _), (_, diff)), findings)| ApplyOutcome::Applied {
                    asset_id: asset.id,
                    first_inventory: asset.inventory_sequence.is_none(),
                    packages_added: diff.added.len(),
                    packages_removed: diff.removed.len(),
                    findings,
                },
            );
    let mut outcomes = Vec::with_capacity(group.len());
    for item in group {
        let asset = asset_of(item.snapshot)?;
        let outcome = match asset.inventory_sequence {
            Some(held) if held >= to_i64(item.snapshot.sequence) => ApplyOutcome::Stale {
                asset_sequence: u64::try_from(held).unwrap_or_default(),
            },
            _ => applied_outcomes.next().ok_or(StoreError::Corrupt {
                column: "assets.inventory_sequence",
                value: item.snapshot.sequence.to_string(),
            })?,
        };
        outcomes.push(outcome);
    }
    let held = fresh
        .iter()
        .zip(held_findings)
        .map(|((item, asset, keys), findings)| {
            let snapshot = item.snapshot;
            let holds = HeldAsset {
                sequence: to_i64(snapshot.sequence),
                hash: snapshot.hash.clone(),
                keys: Arc::clone(keys),
                findings,
            };
            (asset.id, holds)
        })
        .collect();
    Ok(GroupApplied { outcomes, held })
}

/// What [`apply_in`] did: each applied snapshot's outcome with its index in the batch, and
/// what the assets hold once the transaction commits.
struct Applied {
    outcomes: Vec<(usize, ApplyOutcome)>,
    held: Vec<(AssetId, HeldAsset)>,
}

/// Applies `groups` of `work` inside one open transaction.
async fn apply_in<T: AssetRows>(
    tx: &mut T,
    remembered: &HeldAssets,
    work: &[SnapshotWork<'_>],
    keys: &[Arc<[PackageKey]>],
    groups: &[(OrgScope, Vec<usize>)],
    now: OffsetDateTime,
) -> Result<Applied> {
    // Rows are locked in one order by every worker (organization, agent), and the
    // organizations' summary rows, which every report of an organization updates, only at the
    // end: two workers never wait on each other in a cycle, and a summary row is held only for
    // the end of a transaction.
    let mut summaries: BTreeMap<OrgId, (OrgScope, SummaryDelta)> = BTreeMap::new();
    let mut applied = Applied {
        outcomes: Vec::new(),
        held: Vec::new(),
    };
    for (scope, indexes) in groups {
        let scope = *scope;
        tx.enter(scope).await?;
        let group: Vec<&SnapshotWork<'_>> = indexes.iter().map(|&i| &work[i]).collect();
        let group_keys: Vec<&Arc<[PackageKey]>> = indexes.iter().map(|&i| &keys[i]).collect();
        let group_applied = apply_group(tx, remembered, scope, &group, &group_keys, now).await?;
        applied.held.extend(group_applied.held);
        for (&index, outcome) in indexes.iter().zip(group_applied.outcomes) {
            if let ApplyOutcome::Applied { findings, .. } = &outcome {
                summaries
                    .entry(scope.org_id())
                    .or_insert((scope, SummaryDelta::default()))
                    .1
                    .add(&findings.summary);
            }
            applied.outcomes.push((index, outcome));
        }
    }
    for (scope, delta) in summaries.values() {
        tx.enter(*scope).await?;
        tx.add_to_summary(*scope, delta, now).await?;
    }
    Ok(applied)
}

/// Splits a batch into the groups [`apply_group`] takes: per organization, in (organization,
/// agent, sequence) order, and with an agent's second report in the batch in a later group than
/// its first, so each group holds an agent once and applies after its predecessor.
fn groups(work: &[SnapshotWork<'_>]) -> Vec<(OrgScope, Vec<usize>)> {
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&i| {
        let item = &work[i];
        (
            item.scope.org_id(),
            item.snapshot.agent_id,
            item.snapshot.sequence,
        )
    });
    let mut groups: Vec<(OrgScope, Vec<usize>)> = Vec::new();
    let mut org_start = 0;
    let mut round_of_agent: Option<(AgentId, usize)> = None;
    for &index in &order {
        let item = &work[index];
        let new_org = groups
            .get(org_start)
            .is_none_or(|(scope, _)| scope.org_id() != item.scope.org_id());
        if new_org {
            org_start = groups.len();
            round_of_agent = None;
        }
        let round = match round_of_agent {
            Some((agent, round)) if agent == item.snapshot.agent_id => round + 1,
            _ => 0,
        };
        round_of_agent = Some((item.snapshot.agent_id, round));
        while groups.len() <= org_start + round {
            groups.push((item.scope, Vec::new()));
        }
        groups[org_start + round].1.push(index);
    }
    groups
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
    /// Whether an agent's report with `sequence` is new, a repeat, or older than one processed.
    pub async fn check_report(
        &self,
        scope: OrgScope,
        agent_id: AgentId,
        sequence: u64,
    ) -> Result<ReportCheck> {
        let (same, latest): (Option<BatchId>, Option<i64>) =
            scoped_statement!(self, scope, |conn| {
                sqlx::query_as(
                    "SELECT (SELECT batch_id FROM agent_reports
                             WHERE org_id = $1 AND agent_id = $2 AND sequence = $3),
                            (SELECT max(sequence) FROM agent_reports
                             WHERE org_id = $1 AND agent_id = $2)",
                )
                .bind(scope.org_id())
                .bind(agent_id)
                .bind(to_i64(sequence))
                .fetch_one(&mut *conn)
                .await?
            });
        Ok(match (same, latest.and_then(|l| u64::try_from(l).ok())) {
            (Some(batch), _) => ReportCheck::Duplicate(batch),
            (None, Some(latest)) if latest > sequence => ReportCheck::Stale { latest },
            (None, _) => ReportCheck::New,
        })
    }

    /// Applies snapshots: per snapshot, the package diff against the asset's stored packages,
    /// the finding lifecycle against `desired`, the summary movement, and the asset's and
    /// report's bookkeeping. A snapshot whose sequence the asset already holds is skipped, so a
    /// redelivered batch changes nothing. Returns each snapshot's outcome, in the order given.
    ///
    /// PostgreSQL applies the batch in one transaction. SQLite applies a batch larger than
    /// [`SQLITE_REPORTS_PER_TRANSACTION`] in several, each of whole groups (one organization's
    /// reports), so a short write never waits for more than that many reports' rows. An error
    /// there leaves the transactions before it committed, and [`BatchFailure`] says which
    /// reports they applied.
    pub async fn apply_snapshots(
        &self,
        work: &[SnapshotWork<'_>],
    ) -> std::result::Result<Vec<ApplyOutcome>, BatchFailure> {
        let now = OffsetDateTime::now_utc();
        let groups = groups(work);
        // What each asset will hold, made before any writer's turn: a copy of every package's
        // key, a few hundred strings a report, which the one writer need not wait for.
        let keys: Vec<Arc<[PackageKey]>> = work
            .iter()
            .map(|item| item.snapshot.package_keys())
            .collect();
        let mut committed: Vec<Option<ApplyOutcome>> = vec![None; work.len()];
        let at_least = match &self.pool {
            Pool::Sqlite(_) => SQLITE_REPORTS_PER_TRANSACTION,
            Pool::Postgres(_) => usize::MAX,
        };
        for part in transactions(&groups, at_least) {
            match self.apply_groups(work, &keys, part, now).await {
                Ok(outcomes) => {
                    for (index, outcome) in outcomes {
                        committed[index] = Some(outcome);
                    }
                }
                Err(error) => return Err(BatchFailure { committed, error }),
            }
        }
        Ok(committed.into_iter().flatten().collect())
    }

    /// Applies `groups` of `work` in one transaction. Returns each applied snapshot's outcome
    /// with its index in `work`.
    async fn apply_groups(
        &self,
        work: &[SnapshotWork<'_>],
        keys: &[Arc<[PackageKey]>],
        groups: &[(OrgScope, Vec<usize>)],
        now: OffsetDateTime,
    ) -> Result<Vec<(usize, ApplyOutcome)>> {
        let applied = match &self.pool {
            Pool::Sqlite(db) => {
                let (_turn, mut tx) = begin_sqlite(db, TxMode::Batch).await?;
                let applied = zerotrace_dbconn::with_handle(&mut tx, |handle| {
                    let mut rows = SqliteRows::new(handle);
                    apply_in(&mut rows, &self.held, work, keys, groups, now)
                        .now_or_never()
                        .unwrap_or(Err(StoreError::Corrupt {
                            column: "SQLite rows",
                            value: "a step waited, which a call into SQLite never does".into(),
                        }))
                })
                .await?;
                tx.commit().await?;
                applied
            }
            Pool::Postgres(pool) => {
                let mut tx = begin_postgres(pool, None).await?;
                let applied = apply_in(&mut tx, &self.held, work, keys, groups, now).await?;
                tx.commit().await?;
                applied
            }
        };
        // Committed: only now are the applied inventories what the assets hold.
        for (asset, holds) in applied.held {
            self.held.insert(asset, holds);
        }
        Ok(applied.outcomes)
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
            let changes = reconcile(&mut tx, scope, asset, desired, now).await?;
            tx.add_to_summary(scope, &changes.summary, now).await?;
            if !changes.opened.is_empty() || changes.fixed > 0 || changes.refreshed > 0 {
                // A worker's memory of this asset's findings (`held.rs`) is stale now.
                sqlx::query(
                    "UPDATE assets SET inventory_hash = NULL WHERE org_id = $1 AND id = $2",
                )
                .bind(scope.org_id())
                .bind(asset)
                .execute(&mut *tx)
                .await?;
            }
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
    use crate::test_support::{enroll, org_with_agent, sqlite_store};

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

    fn snapshot(agent: u128, sequence: u64) -> Snapshot {
        Snapshot {
            agent_id: AgentId(uuid::Uuid::from_u128(agent)),
            batch_id: BatchId::of_report(AgentId(uuid::Uuid::from_u128(agent)), sequence),
            received_at: OffsetDateTime::UNIX_EPOCH,
            hostname: format!("host-{agent}"),
            os: "Debian 12".into(),
            sequence,
            hash: String::new(),
            scanned_at: OffsetDateTime::UNIX_EPOCH,
            packages: Vec::new(),
        }
    }

    #[test]
    fn a_batch_groups_by_organization_with_each_agent_once_per_group() {
        let (org_a, org_b) = (
            OrgScope::new(OrgId(uuid::Uuid::from_u128(1))),
            OrgScope::new(OrgId(uuid::Uuid::from_u128(2))),
        );
        let reports = [
            (org_b, snapshot(7, 1)),
            (org_a, snapshot(5, 3)),
            (org_a, snapshot(6, 1)),
            (org_a, snapshot(5, 2)),
            (org_a, snapshot(5, 4)),
        ];
        let work: Vec<SnapshotWork<'_>> = reports
            .iter()
            .map(|(scope, snapshot)| SnapshotWork {
                scope: *scope,
                snapshot,
                desired: &[],
            })
            .collect();
        let grouped: Vec<(OrgId, Vec<(u128, u64)>)> = groups(&work)
            .into_iter()
            .map(|(scope, indexes)| {
                let reports = indexes
                    .iter()
                    .map(|&i| {
                        (
                            work[i].snapshot.agent_id.0.as_u128(),
                            work[i].snapshot.sequence,
                        )
                    })
                    .collect();
                (scope.org_id(), reports)
            })
            .collect();
        assert_eq!(
            grouped,
            [
                (org_a.org_id(), vec![(5, 2), (6, 1)]),
                (org_a.org_id(), vec![(5, 3)]),
                (org_a.org_id(), vec![(5, 4)]),
                (org_b.org_id(), vec![(7, 1)]),
            ]
        );
    }

    #[test]
    fn a_transaction_takes_whole_groups_until_it_holds_enough_reports() {
        let scope = OrgScope::new(OrgId(uuid::Uuid::from_u128(1)));
        let groups: Vec<(OrgScope, Vec<usize>)> = [3, 1, 4, 1, 2]
            .iter()
            .scan(0, |next, &size| {
                let indexes = (*next..*next + size).collect();
                *next += size;
                Some((scope, indexes))
            })
            .collect();
        let sizes = |at_least| -> Vec<usize> {
            transactions(&groups, at_least)
                .iter()
                .map(|run| run.len())
                .collect()
        };
        assert_eq!(sizes(4), [2, 1, 2]);
        assert_eq!(sizes(1), [1, 1, 1, 1, 1]);
        assert_eq!(sizes(usize::MAX), [5]);
        assert!(transactions(&[], 4).is_empty());
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

    #[tokio::test]
    async fn a_failed_batch_names_the_reports_whose_organization_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(dir.path()).await;
        // Organization ids grow with creation, and groups apply in organization order. The
        // first organization has enough reports for a transaction of its own.
        let first = store
            .create_org("first", "first", crate::audit::Actor::Operator)
            .await
            .expect("org");
        let first = OrgScope::new(first.id);
        let mut known = Vec::new();
        for host in 0..SQLITE_REPORTS_PER_TRANSACTION {
            let agent = enroll(&store, first, &format!("first-{host}")).await;
            let mut report = snapshot(0, 1);
            report.agent_id = agent;
            report.packages = vec![package("left-pad", "1.0.0")];
            known.push(report);
        }
        let (second, _) = org_with_agent(&store, "second").await;
        // No such agent: the asset row's foreign key refuses it, and its group fails.
        let unknown = snapshot(7, 1);
        let mut work = vec![SnapshotWork {
            scope: second,
            snapshot: &unknown,
            desired: &[],
        }];
        work.extend(known.iter().map(|snapshot| SnapshotWork {
            scope: first,
            snapshot,
            desired: &[],
        }));
        let failure = store
            .apply_snapshots(&work)
            .await
            .expect_err("the unknown agent fails its group");
        assert!(failure.committed[0].is_none(), "{:?}", failure.committed);
        assert!(
            failure.committed[1..].iter().all(|outcome| matches!(
                outcome,
                Some(ApplyOutcome::Applied {
                    packages_added: 1,
                    ..
                })
            )),
            "{:?}",
            failure.committed
        );
        // Committed means committed: the same report again is stale.
        let again = store
            .apply_snapshots(&work[1..2])
            .await
            .expect("applies alone");
        assert_eq!(again, [ApplyOutcome::Stale { asset_sequence: 1 }]);
    }

    fn want(vulnerability: &str, name: &str, version: &str) -> DesiredFinding {
        DesiredFinding {
            vulnerability_id: vulnerability.into(),
            ecosystem: "npm".into(),
            package_name: name.into(),
            package_version: version.into(),
            fixed_version: Some("9.0.0".into()),
            severity: crate::findings::Severity::High,
            cvss_score: Some(7.5),
            known_exploited: false,
            epss_score: None,
            confidence: "ecosystem-exact".into(),
            reason: format!("{name} {version} is in range"),
        }
    }

    #[tokio::test]
    async fn remembered_findings_equal_the_rows_each_report_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(dir.path()).await;
        let (scope, agent) = org_with_agent(&store, "held").await;
        let mut refreshed = want("CVE-1", "a", "2.0.0");
        refreshed.severity = crate::findings::Severity::Critical;
        // Opens two; refreshes one, fixes one and opens one; reopens the fixed one.
        let reports = [
            (
                vec![package("a", "1.0.0"), package("b", "1.0.0")],
                vec![want("CVE-1", "a", "1.0.0"), want("CVE-2", "b", "1.0.0")],
            ),
            (
                vec![package("a", "2.0.0"), package("c", "1.0.0")],
                vec![refreshed.clone(), want("CVE-3", "c", "1.0.0")],
            ),
            (
                vec![
                    package("a", "2.0.0"),
                    package("b", "1.0.0"),
                    package("c", "1.0.0"),
                ],
                vec![
                    refreshed,
                    want("CVE-2", "b", "1.0.0"),
                    want("CVE-3", "c", "1.0.0"),
                ],
            ),
        ];
        for (sequence, (packages, desired)) in (1..).zip(reports) {
            let mut report = snapshot(0, sequence);
            report.agent_id = agent;
            report.hash = format!("{sequence:064x}");
            report.packages = packages;
            let work = [SnapshotWork {
                scope,
                snapshot: &report,
                desired: &desired,
            }];
            let outcomes = store.apply_snapshots(&work).await.expect("applies");
            let [ApplyOutcome::Applied { asset_id, .. }] = outcomes[..] else {
                panic!("report {sequence} was not applied: {outcomes:?}");
            };
            let held = store
                .held
                .get(asset_id, Some(to_i64(sequence)), Some(&report.hash))
                .expect("remembered after the commit");
            let Pool::Sqlite(db) = &store.pool else {
                panic!("a file location opens SQLite");
            };
            let mut tx = db.file.readers.begin().await.expect("begin");
            let mut read = tx
                .stored_findings(scope, &[asset_id])
                .await
                .expect("read back")
                .remove(&asset_id)
                .unwrap_or_default();
            let mut remembered = held.findings.to_vec();
            read.sort_by_key(|f| f.id);
            remembered.sort_by_key(|f| f.id);
            assert_eq!(remembered, read, "after report {sequence}");
        }
    }
}
