//! The finding lifecycle as a pure function: given an asset's stored findings and what the
//! knowledge base says applies to its packages now, which rows to insert, reopen, refresh and
//! fix, and how the organization's summary counts move.
//!
//! A finding is keyed by (vulnerability, ecosystem, package name), not by version: upgrading from
//! one vulnerable version to another keeps the finding open (and updates its version), while an
//! upgrade past the fix or a removal fixes it. A finding seen again after it was fixed is
//! reopened, keeping its id and first-seen time. An ignored finding stays ignored while its
//! package is there, and is fixed when the package goes.

use foldhash::{HashMap, HashSet, HashSetExt};

use crate::findings::{FindingStatus, Severity};
use crate::{AssetId, FindingId};

/// What the knowledge base says applies to one package of an asset.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredFinding {
    pub vulnerability_id: String,
    pub ecosystem: String,
    pub package_name: String,
    /// The installed version(s) the vulnerability applies to, comma-separated when several
    /// versions of one package are installed.
    pub package_version: String,
    pub fixed_version: Option<String>,
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub known_exploited: bool,
    pub epss_score: Option<f64>,
    pub confidence: String,
    pub reason: String,
}

impl DesiredFinding {
    fn key(&self) -> (&str, &str, &str) {
        (&self.vulnerability_id, &self.ecosystem, &self.package_name)
    }
}

/// A stored finding as far as the lifecycle reads it: its key, its status and the facts a
/// desired finding is compared on (not its timestamps or counters, which only the database
/// keeps). What a worker reads back, or remembers from its last report (`snapshots/held.rs`).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub(crate) struct StoredFinding {
    pub id: FindingId,
    pub asset_id: AssetId,
    pub vulnerability_id: String,
    pub ecosystem: String,
    pub package_name: String,
    pub package_version: String,
    pub fixed_version: Option<String>,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub known_exploited: bool,
    pub epss_score: Option<f64>,
    #[sqlx(try_from = "String")]
    pub status: FindingStatus,
    pub confidence: String,
    pub reason: String,
}

impl StoredFinding {
    /// The row an `Open` of `want` inserts.
    pub fn opened(id: FindingId, asset_id: AssetId, want: &DesiredFinding) -> StoredFinding {
        StoredFinding {
            id,
            asset_id,
            vulnerability_id: want.vulnerability_id.clone(),
            ecosystem: want.ecosystem.clone(),
            package_name: want.package_name.clone(),
            package_version: want.package_version.clone(),
            fixed_version: want.fixed_version.clone(),
            severity: want.severity,
            cvss_score: want.cvss_score,
            known_exploited: want.known_exploited,
            epss_score: want.epss_score,
            status: FindingStatus::Open,
            confidence: want.confidence.clone(),
            reason: want.reason.clone(),
        }
    }

    /// What a `Refresh` or `Reopen` of `want` writes over this row.
    pub fn take_facts(&mut self, want: &DesiredFinding) {
        self.package_version.clone_from(&want.package_version);
        self.fixed_version.clone_from(&want.fixed_version);
        self.severity = want.severity;
        self.cvss_score = want.cvss_score;
        self.known_exploited = want.known_exploited;
        self.epss_score = want.epss_score;
        self.confidence.clone_from(&want.confidence);
        self.reason.clone_from(&want.reason);
    }
}

/// The columns [`StoredFinding`] reads, for a `SELECT`.
macro_rules! stored_finding_columns {
    () => {
        "id, asset_id, vulnerability_id, ecosystem, package_name, package_version, fixed_version, \
         severity, cvss_score, known_exploited, epss_score, status, confidence, reason"
    };
}
pub(crate) use stored_finding_columns;

/// What the lifecycle compares of a stored finding with a desired one.
fn key(finding: &StoredFinding) -> (&str, &str, &str) {
    (
        &finding.vulnerability_id,
        &finding.ecosystem,
        &finding.package_name,
    )
}

fn same_facts(finding: &StoredFinding, desired: &DesiredFinding) -> bool {
    finding.package_version == desired.package_version
        && finding.fixed_version == desired.fixed_version
        && finding.severity == desired.severity
        && finding.cvss_score == desired.cvss_score
        && finding.known_exploited == desired.known_exploited
        && finding.epss_score == desired.epss_score
        && finding.confidence == desired.confidence
        && finding.reason == desired.reason
}

#[derive(Debug, PartialEq)]
pub(crate) enum Action<'a> {
    Open(&'a DesiredFinding),
    Reopen(FindingId, &'a DesiredFinding),
    /// Still applies; its facts (version, fix, scores, reason) changed. Status is kept.
    Refresh(FindingId, &'a DesiredFinding),
    Fix(FindingId),
}

/// Movement of an organization's summary counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SummaryDelta {
    /// Open findings by [`Severity::index`].
    pub open: [i64; 6],
    pub open_known_exploited: i64,
    pub open_fixable: i64,
    pub fixed: i64,
}

impl SummaryDelta {
    fn count_open(&mut self, severity: Severity, kev: bool, fixable: bool, by: i64) {
        self.open[severity.index()] += by;
        self.open_known_exploited += i64::from(kev) * by;
        self.open_fixable += i64::from(fixable) * by;
    }

    pub fn add(&mut self, other: &SummaryDelta) {
        for (mine, theirs) in self.open.iter_mut().zip(other.open) {
            *mine += theirs;
        }
        self.open_known_exploited += other.open_known_exploited;
        self.open_fixable += other.open_fixable;
        self.fixed += other.fixed;
    }

    pub fn is_zero(&self) -> bool {
        *self == SummaryDelta::default()
    }
}

/// The actions that take `stored` to `desired`, and the summary movement they cause.
pub(crate) fn plan<'a>(
    stored: &[StoredFinding],
    desired: &'a [DesiredFinding],
) -> (Vec<Action<'a>>, SummaryDelta) {
    let wanted: HashMap<_, _> = desired.iter().map(|d| (d.key(), d)).collect();
    let mut actions = Vec::new();
    let mut delta = SummaryDelta::default();
    let mut seen = HashSet::new();
    for finding in stored {
        seen.insert(key(finding));
        let was_open = finding.status == FindingStatus::Open;
        match (wanted.get(&key(finding)), finding.status) {
            (Some(want), FindingStatus::Fixed) => {
                actions.push(Action::Reopen(finding.id, want));
                delta.fixed -= 1;
                delta.count_open(
                    want.severity,
                    want.known_exploited,
                    want.fixed_version.is_some(),
                    1,
                );
            }
            (Some(want), _) if !same_facts(finding, want) => {
                actions.push(Action::Refresh(finding.id, want));
                if was_open {
                    delta.count_open(
                        finding.severity,
                        finding.known_exploited,
                        finding.fixed_version.is_some(),
                        -1,
                    );
                    delta.count_open(
                        want.severity,
                        want.known_exploited,
                        want.fixed_version.is_some(),
                        1,
                    );
                }
            }
            (Some(_), _) | (None, FindingStatus::Fixed) => {}
            (None, _) => {
                actions.push(Action::Fix(finding.id));
                delta.fixed += 1;
                if was_open {
                    delta.count_open(
                        finding.severity,
                        finding.known_exploited,
                        finding.fixed_version.is_some(),
                        -1,
                    );
                }
            }
        }
    }
    for want in desired {
        if seen.insert(want.key()) {
            actions.push(Action::Open(want));
            delta.count_open(
                want.severity,
                want.known_exploited,
                want.fixed_version.is_some(),
                1,
            );
        }
    }
    (actions, delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn desired(vuln: &str, version: &str, severity: Severity) -> DesiredFinding {
        DesiredFinding {
            vulnerability_id: vuln.into(),
            ecosystem: "npm".into(),
            package_name: "lodash".into(),
            package_version: version.into(),
            fixed_version: Some("4.17.21".into()),
            severity,
            cvss_score: None,
            known_exploited: false,
            epss_score: None,
            confidence: "ecosystem-exact".into(),
            reason: "in range".into(),
        }
    }

    fn stored(want: &DesiredFinding, status: FindingStatus) -> StoredFinding {
        let id = FindingId(Uuid::now_v7());
        let mut row = StoredFinding::opened(id, crate::AssetId(Uuid::now_v7()), want);
        row.status = status;
        row
    }

    #[test]
    fn new_findings_open_and_count() {
        let want = [desired("CVE-1", "4.17.0", Severity::High)];
        let (actions, delta) = plan(&[], &want);
        assert_eq!(actions, vec![Action::Open(&want[0])]);
        assert_eq!(delta.open[Severity::High.index()], 1);
        assert_eq!(delta.open_fixable, 1);
        assert_eq!(delta.fixed, 0);
    }

    #[test]
    fn unchanged_findings_cost_nothing() {
        let want = [desired("CVE-1", "4.17.0", Severity::High)];
        let have = [stored(&want[0], FindingStatus::Open)];
        let (actions, delta) = plan(&have, &want);
        assert!(actions.is_empty());
        assert!(delta.is_zero());
    }

    #[test]
    fn gone_findings_are_fixed_and_fixed_ones_reopen() {
        let want = desired("CVE-1", "4.17.0", Severity::Critical);
        let have = [stored(&want, FindingStatus::Open)];
        let (actions, delta) = plan(&have, &[]);
        assert_eq!(actions, vec![Action::Fix(have[0].id)]);
        assert_eq!(delta.open[Severity::Critical.index()], -1);
        assert_eq!(delta.fixed, 1);

        let fixed = [stored(&want, FindingStatus::Fixed)];
        let again = [want.clone()];
        let (actions, delta) = plan(&fixed, &again);
        assert_eq!(actions, vec![Action::Reopen(fixed[0].id, &again[0])]);
        assert_eq!(delta.open[Severity::Critical.index()], 1);
        assert_eq!(delta.fixed, -1);
        // A fixed finding that stays away is left alone.
        assert!(plan(&fixed, &[]).0.is_empty());
    }

    #[test]
    fn an_upgrade_to_another_vulnerable_version_refreshes_in_place() {
        let old = desired("CVE-1", "4.17.0", Severity::Medium);
        let have = [stored(&old, FindingStatus::Open)];
        let mut new = old.clone();
        new.package_version = "4.17.19".into();
        new.severity = Severity::High;
        let want = [new];
        let (actions, delta) = plan(&have, &want);
        assert_eq!(actions, vec![Action::Refresh(have[0].id, &want[0])]);
        assert_eq!(delta.open[Severity::Medium.index()], -1);
        assert_eq!(delta.open[Severity::High.index()], 1);
        assert_eq!(delta.open_fixable, 0);
    }

    #[test]
    fn a_refreshed_row_holds_the_facts_it_was_refreshed_with() {
        let old = desired("CVE-1", "4.17.0", Severity::Medium);
        let mut row = stored(&old, FindingStatus::Ignored);
        let mut new = old.clone();
        new.package_version = "4.17.19".into();
        new.fixed_version = None;
        new.epss_score = Some(0.5);
        new.reason = "moved".into();
        row.take_facts(&new);
        assert!(same_facts(&row, &new));
        assert_eq!(row.status, FindingStatus::Ignored);
        let opened = StoredFinding::opened(row.id, row.asset_id, &new);
        assert!(same_facts(&opened, &new));
        assert_eq!(opened.status, FindingStatus::Open);
    }

    #[test]
    fn ignored_findings_stay_ignored_and_out_of_the_counts() {
        let want = desired("CVE-1", "4.17.0", Severity::High);
        let have = [stored(&want, FindingStatus::Ignored)];
        let mut moved = want.clone();
        moved.package_version = "4.17.1".into();
        let wanted = [moved];
        let (actions, delta) = plan(&have, &wanted);
        assert_eq!(actions, vec![Action::Refresh(have[0].id, &wanted[0])]);
        assert!(delta.is_zero());
        let (actions, delta) = plan(&have, &[]);
        assert_eq!(actions, vec![Action::Fix(have[0].id)]);
        assert_eq!(delta.fixed, 1);
        assert_eq!(delta.open, [0; 6]);
    }
}
