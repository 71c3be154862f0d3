//! The bridge to `zerotrace-version`: affected entries compiled once into range evaluators.
//!
//! All version ordering is the version crate's; this module only turns the advisory model's
//! ranges and native requirement strings (RubyGems `~>`, node-semver) into its calls.

use std::cmp::Ordering;

use zerotrace_version::osv::{AffectedRanges, Event, Range, RangeKind as VRangeKind, Verdict};
use zerotrace_version::{Ecosystem, NpmRange, Version};

use crate::advisory::{Affected, RangeEvent, RangeKind, RequirementSyntax};

/// An affected entry ready for evaluation.
#[derive(Debug)]
pub(crate) enum Compiled {
    Osv(AffectedRanges),
    RubyGems {
        vulnerable: Option<Vec<Vec<GemConstraint>>>,
        safe: Vec<Vec<GemConstraint>>,
    },
    Npm {
        vulnerable: Option<NpmRange>,
        safe: Vec<NpmRange>,
    },
    /// The source's ranges could not be read; reported, never matched.
    Invalid(String),
}

/// What evaluating one installed version said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RangeVerdict {
    Affected {
        range: Option<usize>,
        fixed: Option<String>,
    },
    NotAffected,
    Unknown(String),
}

fn version_ecosystem(aff: &Affected) -> Ecosystem {
    Ecosystem::parse(&aff.ecosystem)
}

pub(crate) fn compile(aff: &Affected) -> Compiled {
    if let Some(req) = &aff.requirements {
        return match req.syntax {
            RequirementSyntax::RubyGems => {
                let parse_all = |list: &[String]| {
                    list.iter()
                        .map(|s| parse_gem_requirement(s))
                        .collect::<Result<Vec<_>, _>>()
                };
                let vulnerable = req
                    .vulnerable
                    .as_deref()
                    .map(|v| parse_all(&[v.to_owned()]))
                    .transpose();
                match (vulnerable, parse_all(&req.safe)) {
                    (Ok(vulnerable), Ok(safe)) => Compiled::RubyGems { vulnerable, safe },
                    (Err(e), _) | (_, Err(e)) => Compiled::Invalid(e),
                }
            }
            RequirementSyntax::NodeSemver => {
                let vulnerable = req.vulnerable.as_deref().map(NpmRange::parse).transpose();
                let safe = req
                    .safe
                    .iter()
                    .map(|s| NpmRange::parse(s))
                    .collect::<Result<Vec<_>, _>>();
                match (vulnerable, safe) {
                    (Ok(vulnerable), Ok(safe)) => Compiled::Npm { vulnerable, safe },
                    (Err(e), _) | (_, Err(e)) => Compiled::Invalid(e.to_string()),
                }
            }
        };
    }
    let ranges: Vec<Range> = aff
        .ranges
        .iter()
        .map(|r| Range {
            kind: match r.kind {
                RangeKind::Semver => VRangeKind::Semver,
                RangeKind::Ecosystem => VRangeKind::Ecosystem,
                RangeKind::Git => VRangeKind::Git,
            },
            events: r
                .events
                .iter()
                .map(|e| match e {
                    RangeEvent::Introduced(v) => Event::Introduced(v.clone()),
                    RangeEvent::Fixed(v) => Event::Fixed(v.clone()),
                    RangeEvent::LastAffected(v) => Event::LastAffected(v.clone()),
                    RangeEvent::Limit(v) => Event::Limit(v.clone()),
                })
                .collect(),
        })
        .collect();
    match AffectedRanges::compile(&version_ecosystem(aff), &ranges, &aff.versions) {
        Ok(c) => Compiled::Osv(c),
        Err(e) => Compiled::Invalid(e.to_string()),
    }
}

impl Compiled {
    /// `parsed` is the installed version read once per query with the entry's ecosystem (OSV
    /// entries evaluate it without re-parsing); `installed` is its text.
    pub(crate) fn evaluate(&self, installed: &str, parsed: Option<&Version>) -> RangeVerdict {
        match self {
            Compiled::Osv(ranges) => match parsed.map_or_else(
                || ranges.evaluate(installed),
                |v| ranges.evaluate_version(v),
            ) {
                Verdict::Affected { range, fixed } => RangeVerdict::Affected { range, fixed },
                Verdict::NotAffected => RangeVerdict::NotAffected,
                Verdict::Unknown { reason } => RangeVerdict::Unknown(format!("{reason:?}")),
            },
            Compiled::RubyGems { vulnerable, safe } => {
                let check = |sets: &[Vec<GemConstraint>]| -> Result<bool, String> {
                    for set in sets {
                        if gem_satisfies(set, installed)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                };
                let in_vulnerable = match vulnerable {
                    Some(v) => check(v),
                    None => Ok(true),
                };
                match (in_vulnerable, check(safe)) {
                    (Ok(true), Ok(false)) => RangeVerdict::Affected {
                        range: None,
                        fixed: None,
                    },
                    (Ok(_), Ok(_)) => RangeVerdict::NotAffected,
                    (Err(e), _) | (_, Err(e)) => RangeVerdict::Unknown(e),
                }
            }
            Compiled::Npm { vulnerable, safe } => {
                let in_vulnerable = match vulnerable {
                    Some(r) => r.satisfies_str(installed),
                    None => Ok(true),
                };
                let in_safe = safe
                    .iter()
                    .try_fold(false, |any, r| r.satisfies_str(installed).map(|s| any || s));
                match (in_vulnerable, in_safe) {
                    (Ok(true), Ok(false)) => RangeVerdict::Affected {
                        range: None,
                        fixed: None,
                    },
                    (Ok(_), Ok(_)) => RangeVerdict::NotAffected,
                    (Err(e), _) | (_, Err(e)) => RangeVerdict::Unknown(e.to_string()),
                }
            }
            Compiled::Invalid(e) => RangeVerdict::Unknown(e.clone()),
        }
    }
}

/// One RubyGems requirement comparator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GemConstraint {
    op: GemOp,
    version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GemOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `~>`: at least this version, below the next release of its second-to-last segment.
    Pessimistic,
}

/// Parses `"~> 4.2.5, >= 4.2.5.1"` (comparators AND-ed).
pub(crate) fn parse_gem_requirement(s: &str) -> Result<Vec<GemConstraint>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (op, rest) = [
            ("~>", GemOp::Pessimistic),
            (">=", GemOp::Ge),
            ("<=", GemOp::Le),
            ("!=", GemOp::Ne),
            (">", GemOp::Gt),
            ("<", GemOp::Lt),
            ("=", GemOp::Eq),
        ]
        .iter()
        .find_map(|(sym, op)| part.strip_prefix(sym).map(|rest| (*op, rest)))
        .unwrap_or((GemOp::Eq, part));
        let version = rest.trim();
        if version.is_empty() || version.len() > 128 || version.contains(char::is_whitespace) {
            return Err(format!("bad RubyGems requirement {s:?}"));
        }
        out.push(GemConstraint {
            op,
            version: version.to_owned(),
        });
    }
    if out.is_empty() {
        return Err(format!("empty RubyGems requirement {s:?}"));
    }
    Ok(out)
}

/// The exclusive upper bound of `~> v`: drop the last segment, bump the one before
/// (`~> 4.2.5` -> `4.3`, `~> 2` -> `3`); pre-release segments are dropped first.
fn pessimistic_bound(v: &str) -> Option<String> {
    let mut segs: Vec<&str> = v
        .split('.')
        .take_while(|s| s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty())
        .collect();
    if segs.len() > 1 {
        segs.pop();
    }
    let last: u64 = segs.last()?.parse().ok()?;
    let bumped = (last + 1).to_string();
    let mut out: Vec<String> = segs.iter().map(|s| (*s).to_owned()).collect();
    if let Some(l) = out.last_mut() {
        *l = bumped;
    }
    Some(out.join("."))
}

fn gem_satisfies(set: &[GemConstraint], installed: &str) -> Result<bool, String> {
    let eco = Ecosystem::RubyGems;
    let cmp = |a: &str, b: &str| zerotrace_version::compare(&eco, a, b).map_err(|e| e.to_string());
    for c in set {
        let ord = cmp(installed, &c.version)?;
        let ok = match c.op {
            GemOp::Eq => ord == Ordering::Equal,
            GemOp::Ne => ord != Ordering::Equal,
            GemOp::Gt => ord == Ordering::Greater,
            GemOp::Ge => ord != Ordering::Less,
            GemOp::Lt => ord == Ordering::Less,
            GemOp::Le => ord != Ordering::Greater,
            GemOp::Pessimistic => {
                let bound = pessimistic_bound(&c.version)
                    .ok_or_else(|| format!("bad `~>` version {:?}", c.version))?;
                ord != Ordering::Less && cmp(installed, &bound)? == Ordering::Less
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pessimistic_bounds() {
        assert_eq!(pessimistic_bound("4.2.5").as_deref(), Some("4.3"));
        assert_eq!(pessimistic_bound("2").as_deref(), Some("3"));
        assert_eq!(pessimistic_bound("1.2.3.rc1").as_deref(), Some("1.3"));
    }

    #[test]
    fn gem_requirements() {
        let req = parse_gem_requirement("~> 4.2.5, >= 4.2.5.1").unwrap_or_default();
        assert_eq!(gem_satisfies(&req, "4.2.5.1"), Ok(true));
        assert_eq!(gem_satisfies(&req, "4.2.9"), Ok(true));
        assert_eq!(gem_satisfies(&req, "4.2.5"), Ok(false));
        assert_eq!(gem_satisfies(&req, "4.3.0"), Ok(false));
        assert!(parse_gem_requirement(">= ").is_err());
        assert!(parse_gem_requirement("").is_err());
    }
}
