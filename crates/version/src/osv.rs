//! OSV range evaluation: is an installed version inside an `affected[]` entry?
//!
//! This follows the OSV schema's evaluation rules. Each `SEMVER` or `ECOSYSTEM` range's
//! events are sorted by version (`introduced: "0"` first) and walked in order: `introduced`
//! at or below the version makes it affected, `fixed` at or below makes it not affected,
//! `last_affected` strictly below makes it not affected. When a range has `limit` events the
//! version must also be below one of them (`"*"` is no limit). `SEMVER` ranges compare with
//! SemVer 2.0 whatever the ecosystem; `ECOSYSTEM` ranges with the ecosystem's ordering. The
//! entry is affected if any range says so, or if the version is in the `versions` list.
//!
//! `GIT` ranges are commit ranges: no version ordering can answer them. When an entry has a
//! `GIT` range, no matching `SEMVER`/`ECOSYSTEM` range and no `versions` list, the verdict is
//! [`Verdict::Unknown`], never a guess. When a `versions` list is present, OSV requires it to
//! enumerate the versions the `GIT` ranges cover, so a version absent from it is not affected.
//!
//! Whether an advisory is withdrawn, and which package an entry names, is for the caller.

use std::cmp::Ordering;
use std::str::FromStr;

use crate::{Ecosystem, Key, Scheme, Version, VersionError};

/// The `type` of an OSV range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeKind {
    Semver,
    Ecosystem,
    Git,
}

/// A range `type` other than `SEMVER`, `ECOSYSTEM` or `GIT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OSV range type {0:?}")]
pub struct UnknownRangeKind(pub String);

impl FromStr for RangeKind {
    type Err = UnknownRangeKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SEMVER" => Ok(RangeKind::Semver),
            "ECOSYSTEM" => Ok(RangeKind::Ecosystem),
            "GIT" => Ok(RangeKind::Git),
            other => Err(UnknownRangeKind(other.to_owned())),
        }
    }
}

/// One event of an OSV range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// One OSV range: its type and its events, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Range {
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

/// Why a verdict could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownReason {
    /// The entry is described by the `GIT` range at this index and nothing else.
    GitRange { range: usize },
    /// The installed version cannot be read with the ordering the ranges need.
    InvalidVersion(VersionError),
}

/// The answer for one installed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Affected {
        /// Index (in the ranges given to [`AffectedRanges::compile`]) of the range that
        /// matched; `None` when only the `versions` list did.
        range: Option<usize>,
        /// The first `fixed` version above the installed one: in the matching range, or, for
        /// a match through the `versions` list, in any range. `None` when there is none.
        fixed: Option<String>,
    },
    NotAffected,
    Unknown {
        reason: UnknownReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

#[derive(Debug, Clone)]
enum Bound {
    /// `introduced: "0"`: below every version.
    Zero,
    At(Version),
}

/// An installed version as the ranges see it: its text and its parsed key.
#[derive(Clone, Copy)]
struct Probe<'a> {
    text: &'a str,
    key: &'a Key,
}

impl Probe<'_> {
    /// How `version` orders against this probe.
    fn order_of(&self, version: &Version) -> Ordering {
        version.key.cmp_same(&version.text, self.text, self.key)
    }
}

impl Bound {
    fn cmp_probe(&self, v: Probe<'_>) -> Ordering {
        match self {
            Bound::Zero => Ordering::Less,
            Bound::At(bound) => v.order_of(bound),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledEvent {
    kind: EventKind,
    bound: Bound,
}

#[derive(Debug, Clone)]
enum CompiledRange {
    Git,
    Ordered {
        scheme: Scheme,
        /// Sorted by bound; equal bounds keep their given order.
        events: Vec<CompiledEvent>,
        /// Exclusive upper limits; empty means no limit.
        limits: Vec<Version>,
    },
}

/// An OSV `affected[]` entry's `ranges` and `versions`, parsed once for evaluating many
/// installed versions.
#[derive(Debug, Clone)]
pub struct AffectedRanges {
    scheme: Scheme,
    ranges: Vec<CompiledRange>,
    /// The `versions` list, sorted by the ecosystem's order.
    versions: Vec<Version>,
    /// Listed versions the ecosystem's ordering cannot read; matched by exact text.
    unparsed_versions: Vec<String>,
}

fn compile_range(ecosystem_scheme: Scheme, range: &Range) -> Result<CompiledRange, VersionError> {
    let scheme = match range.kind {
        RangeKind::Git => return Ok(CompiledRange::Git),
        RangeKind::Semver => Scheme::Semver,
        RangeKind::Ecosystem => ecosystem_scheme,
    };
    let mut events = Vec::with_capacity(range.events.len());
    let mut limits = Vec::new();
    for event in &range.events {
        let (kind, text) = match event {
            Event::Introduced(v) if v == "0" => {
                events.push(CompiledEvent {
                    kind: EventKind::Introduced,
                    bound: Bound::Zero,
                });
                continue;
            }
            Event::Limit(v) if v == "*" => continue,
            Event::Limit(v) => {
                limits.push(Version::parse_scheme(scheme, v)?);
                continue;
            }
            Event::Introduced(v) => (EventKind::Introduced, v),
            Event::Fixed(v) => (EventKind::Fixed, v),
            Event::LastAffected(v) => (EventKind::LastAffected, v),
        };
        events.push(CompiledEvent {
            kind,
            bound: Bound::At(Version::parse_scheme(scheme, text)?),
        });
    }
    events.sort_by(|a, b| match (&a.bound, &b.bound) {
        (Bound::Zero, Bound::Zero) => Ordering::Equal,
        (Bound::Zero, Bound::At(_)) => Ordering::Less,
        (Bound::At(_), Bound::Zero) => Ordering::Greater,
        (Bound::At(x), Bound::At(y)) => x.cmp(y),
    });
    Ok(CompiledRange::Ordered {
        scheme,
        events,
        limits,
    })
}

/// Walks one range's sorted events; on a match, returns the `fixed` that ends it, if any.
fn range_matches<'a>(
    events: &'a [CompiledEvent],
    limits: &[Version],
    v: Probe<'_>,
) -> Option<Option<&'a Version>> {
    let mut affected = false;
    for event in events {
        let order = event.bound.cmp_probe(v);
        match event.kind {
            EventKind::Introduced if order != Ordering::Greater => affected = true,
            EventKind::Fixed if order != Ordering::Greater => affected = false,
            EventKind::LastAffected if order == Ordering::Less => affected = false,
            _ => {}
        }
    }
    let below_a_limit = || {
        limits
            .iter()
            .any(|limit| v.order_of(limit) == Ordering::Greater)
    };
    if !affected || (!limits.is_empty() && !below_a_limit()) {
        return None;
    }
    Some(first_fixed_above(events, v))
}

fn first_fixed_above<'a>(events: &'a [CompiledEvent], v: Probe<'_>) -> Option<&'a Version> {
    events
        .iter()
        .find_map(|event| match (&event.kind, &event.bound) {
            (EventKind::Fixed, Bound::At(fixed)) if v.order_of(fixed) == Ordering::Greater => {
                Some(fixed)
            }
            _ => None,
        })
}

/// The installed version, parsed lazily (and without copying its text) for each scheme the
/// ranges need.
struct Installed<'a> {
    text: &'a str,
    given: Option<&'a Version>,
    ecosystem: Option<Result<Key, VersionError>>,
    semver: Option<Result<Key, VersionError>>,
}

impl<'a> Installed<'a> {
    fn get(&mut self, scheme: Scheme, ecosystem_scheme: Scheme) -> Result<Probe<'_>, VersionError> {
        if let Some(given) = self.given.filter(|g| g.scheme() == scheme) {
            return Ok(Probe {
                text: &given.text,
                key: &given.key,
            });
        }
        let text: &'a str = self.text;
        let slot = if scheme == ecosystem_scheme {
            &mut self.ecosystem
        } else {
            &mut self.semver
        };
        match slot.get_or_insert_with(|| {
            Key::parse(scheme, text).map_err(|reason| VersionError::new(scheme, text, reason))
        }) {
            Ok(key) => Ok(Probe { text, key }),
            Err(error) => Err(error.clone()),
        }
    }
}

impl AffectedRanges {
    /// Parses every event version of the `SEMVER` and `ECOSYSTEM` ranges and every listed
    /// version. A range event that cannot be read is an error (the entry cannot be evaluated
    /// faithfully); a listed version that cannot be read is kept and matched by exact text.
    pub fn compile(
        ecosystem: &Ecosystem,
        ranges: &[Range],
        versions: &[String],
    ) -> Result<Self, VersionError> {
        let scheme = ecosystem.scheme();
        let ranges = ranges
            .iter()
            .map(|range| compile_range(scheme, range))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parsed = Vec::with_capacity(versions.len());
        let mut unparsed_versions = Vec::new();
        for text in versions {
            match Version::parse_scheme(scheme, text) {
                Ok(v) => parsed.push(v),
                Err(_) => unparsed_versions.push(text.clone()),
            }
        }
        parsed.sort();
        Ok(AffectedRanges {
            scheme,
            ranges,
            versions: parsed,
            unparsed_versions,
        })
    }

    /// Evaluates an installed version given as text.
    pub fn evaluate(&self, installed: &str) -> Verdict {
        self.evaluate_inner(Installed {
            text: installed,
            given: None,
            ecosystem: None,
            semver: None,
        })
    }

    /// Evaluates an installed version already parsed (normally for the same ecosystem; a
    /// version of another scheme is read again from its text).
    pub fn evaluate_version(&self, installed: &Version) -> Verdict {
        self.evaluate_inner(Installed {
            text: installed.as_str(),
            given: Some(installed),
            ecosystem: None,
            semver: None,
        })
    }

    fn evaluate_inner(&self, mut installed: Installed<'_>) -> Verdict {
        let mut first_error = None;
        for (index, range) in self.ranges.iter().enumerate() {
            let CompiledRange::Ordered {
                scheme,
                events,
                limits,
            } = range
            else {
                continue;
            };
            match installed.get(*scheme, self.scheme) {
                Ok(v) => {
                    if let Some(fixed) = range_matches(events, limits, v) {
                        return Verdict::Affected {
                            range: Some(index),
                            fixed: fixed.map(|f| f.as_str().to_owned()),
                        };
                    }
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if self.unparsed_versions.iter().any(|t| t == installed.text) {
            return Verdict::Affected {
                range: None,
                fixed: self.any_fixed_above(&mut installed),
            };
        }
        match installed.get(self.scheme, self.scheme) {
            Ok(v) => {
                if self
                    .versions
                    .binary_search_by(|listed| v.order_of(listed))
                    .is_ok()
                {
                    return Verdict::Affected {
                        range: None,
                        fixed: self.any_fixed_above(&mut installed),
                    };
                }
            }
            Err(error) if !self.versions.is_empty() => {
                first_error.get_or_insert(error);
            }
            Err(_) => {}
        }
        if let Some(error) = first_error {
            return Verdict::Unknown {
                reason: UnknownReason::InvalidVersion(error),
            };
        }
        if self.versions.is_empty()
            && self.unparsed_versions.is_empty()
            && let Some(range) = self
                .ranges
                .iter()
                .position(|r| matches!(r, CompiledRange::Git))
        {
            return Verdict::Unknown {
                reason: UnknownReason::GitRange { range },
            };
        }
        Verdict::NotAffected
    }

    fn any_fixed_above(&self, installed: &mut Installed<'_>) -> Option<String> {
        let mut best: Option<&Version> = None;
        for range in &self.ranges {
            let CompiledRange::Ordered { scheme, events, .. } = range else {
                continue;
            };
            if *scheme != self.scheme {
                continue;
            }
            let Ok(v) = installed.get(*scheme, self.scheme) else {
                continue;
            };
            if let Some(fixed) = first_fixed_above(events, v)
                && best.is_none_or(|b| fixed < b)
            {
                best = Some(fixed);
            }
        }
        best.map(|b| b.as_str().to_owned())
    }
}
