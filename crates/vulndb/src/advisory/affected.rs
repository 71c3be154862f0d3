use serde::{Deserialize, Serialize};

/// One affected package of an advisory (an OSV `affected[]` entry, one release line of a DSA, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The OSV ecosystem string as the source wrote it, release included (`Debian:11`, `Alpine:v3.11`,
    /// `PyPI`). The index splits it into ecosystem and release.
    pub ecosystem: String,
    /// The package name as the source wrote it; the index normalizes it per ecosystem.
    pub package: String,
    pub purl: Option<String>,
    pub status: AffectedStatus,
    pub ranges: Vec<RangeSpec>,
    /// Explicitly enumerated affected versions (OSV `versions`).
    pub versions: Vec<String>,
    /// Native requirement expressions (RubySec, Node.js WG) that are not OSV ranges.
    pub requirements: Option<Requirements>,
    /// OSV `ecosystem_specific` / `database_specific`, kept as JSON text (the store format has no
    /// self-describing values).
    pub ecosystem_specific: Option<String>,
    pub database_specific: Option<String>,
}

impl Affected {
    pub fn new(ecosystem: impl Into<String>, package: impl Into<String>) -> Self {
        Self {
            ecosystem: ecosystem.into(),
            package: package.into(),
            purl: None,
            status: AffectedStatus::Affected,
            ranges: Vec::new(),
            versions: Vec::new(),
            requirements: None,
            ecosystem_specific: None,
            database_specific: None,
        }
    }
}

/// What a source says about a package, before any version is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AffectedStatus {
    /// Affected within the ranges/versions given.
    Affected,
    /// The distribution says this release was never affected (`<not-affected>`, secdb fix `0`).
    NotAffected,
    /// The distribution will not fix it in this release (`<end-of-life>`, `<no-dsa>`, ...).
    WillNotFix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    Semver,
    Ecosystem,
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// An OSV range as written by the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeSpec {
    pub kind: RangeKind,
    pub events: Vec<RangeEvent>,
}

impl RangeSpec {
    /// The `fixed` versions of this range, in order.
    pub fn fixed_versions(&self) -> impl Iterator<Item = &str> {
        self.events.iter().filter_map(|e| match e {
            RangeEvent::Fixed(v) => Some(v.as_str()),
            _ => None,
        })
    }
}

/// Which requirement language a native feed writes its ranges in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequirementSyntax {
    /// RubyGems requirements (`~> 4.2.5`, `>= 4.2.5.1`), a list of AND-ed comparators per string.
    RubyGems,
    /// node-semver ranges (`<=1.5.1`, `^8.1.4 || ^7.10.1`, `1.2.3 - 2.0.0`).
    NodeSemver,
}

/// Native ranges: a version is affected when it satisfies `vulnerable` (or `vulnerable` is absent)
/// and satisfies none of `safe` (RubySec `patched_versions` + `unaffected_versions`, Node.js WG
/// `patched_versions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    pub syntax: RequirementSyntax,
    pub vulnerable: Option<String>,
    pub safe: Vec<String>,
}
