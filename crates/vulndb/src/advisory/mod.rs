//! The advisory model: one record as one source published it.
//!
//! Every importer turns its native format into [`Advisory`] values; the index groups them into
//! vulnerabilities by alias and the matcher evaluates their [`Affected`] entries. Advisories keep
//! each source's own view (ids, ranges, ratings): nothing is merged at this level.

mod affected;
mod source;

pub use affected::{
    Affected, AffectedStatus, RangeEvent, RangeKind, RangeSpec, RequirementSyntax, Requirements,
};
pub use source::Source;

use serde::{Deserialize, Serialize};

use crate::cpe::Configuration;
use crate::cvss::CvssVector;

/// One advisory from one source (an OSV record, an NVD CVE, a DSA, a secdb fix, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// The id the source gives it (`GHSA-…`, `CVE-…`, `DSA-5380-1`, `ALPINE-CVE-…`).
    pub id: String,
    pub source: Source,
    /// Other ids of the same vulnerability (OSV `aliases`; the CVE of a GHSA, ...).
    pub aliases: Vec<String>,
    /// Ids of different but related vulnerabilities (OSV `related`); never used for grouping.
    pub related: Vec<String>,
    /// For umbrella advisories (a DSA/DLA/USN fixing several CVEs): the CVEs it fixes. Each one is
    /// a vulnerability of its own, so these are not aliases.
    pub fixes: Vec<String>,
    pub summary: String,
    pub details: String,
    pub published: Option<String>,
    pub modified: Option<String>,
    /// OSV `withdrawn`: a withdrawn advisory never matches.
    pub withdrawn: Option<String>,
    /// NVD `vulnStatus: Rejected`: never matches either.
    pub rejected: bool,
    pub severity: Vec<CvssVector>,
    /// A source's own rating when it has no vector (Node.js WG `severity`, ...).
    pub rating: Option<String>,
    pub cwes: Vec<String>,
    pub references: Vec<String>,
    pub affected: Vec<Affected>,
    /// NVD CPE applicability statements; empty for every other source.
    pub configurations: Vec<Configuration>,
}

impl Advisory {
    /// An empty advisory with this id and source, for importers to fill in.
    pub fn new(id: impl Into<String>, source: Source) -> Self {
        Self {
            id: id.into(),
            source,
            aliases: Vec::new(),
            related: Vec::new(),
            fixes: Vec::new(),
            summary: String::new(),
            details: String::new(),
            published: None,
            modified: None,
            withdrawn: None,
            rejected: false,
            severity: Vec::new(),
            rating: None,
            cwes: Vec::new(),
            references: Vec::new(),
            affected: Vec::new(),
            configurations: Vec::new(),
        }
    }

    /// Withdrawn or rejected advisories stay in the store (so `show` can explain them) but never match.
    pub fn is_retracted(&self) -> bool {
        self.withdrawn.is_some() || self.rejected
    }

    /// Every CVE id this advisory names: its own id, its aliases and the CVEs it fixes.
    pub fn cve_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .chain(self.fixes.iter().map(String::as_str))
            .filter(|id| id.starts_with("CVE-"))
    }
}
