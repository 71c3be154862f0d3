//! ZeroTrace's vulnerability knowledge base and matcher.
//!
//! # Bird's-eye view
//!
//! Feed files an operator brings (OSV zips, NVD CVE API 2.0 JSON, the Debian security tracker's
//! DSA/DLA lists, Alpine secdb, RubySec, the Node.js Security WG, CISA KEV, EPSS) go in through
//! [`KnowledgeBase::import_paths`]; a [`KnowledgeBase`] comes out, which is saved to and loaded
//! from one compact file ([`store_file`]) and answers [`Matcher::match_package`] for any
//! installed package: which vulnerabilities apply, through which range, fixed in what, why, and
//! how sure.
//!
//! # Code map
//!
//! - [`advisory`]: the model, one advisory as one source published it.
//! - [`import`]: one file per feed format; malformed records are reported and skipped.
//! - [`cvss`], [`cpe`]: CVSS scoring, CPE 2.3 names and NVD configurations.
//! - [`names`]: ecosystem, release and package-name normalization (the index key).
//! - `index`: alias grouping into vulnerabilities, the package and CPE indexes (derived, not stored).
//! - [`matcher`]: the matching rule, the only place it lives. [`desktop`] maps application names
//!   to CPEs through the `cpe_products.tsv` table.
//! - [`store_file`]: the persisted format (postcard; the reasons are in its docs).
//!
//! # Entry points (what `vulndb import/status/show` and `scan` call)
//!
//! ```no_run
//! use std::path::Path;
//! use zerotrace_vulndb::{KnowledgeBase, PackageQuery, Platform};
//!
//! let mut kb = KnowledgeBase::new();
//! let report = kb.import_paths(&[Path::new("feeds/")], &mut |p| eprintln!("{} {}", p.path.display(), p.records));
//! // `report.changes.packages` / `.cpe_products`: the keys to re-match after a re-import.
//! kb.save(Path::new("data/zerotrace-vulndb.bin"))?;
//! let kb = KnowledgeBase::load(Path::new("data/zerotrace-vulndb.bin"))?;
//! let q = PackageQuery::new("Debian:11", "libssl1.1", "1.1.1n-0+deb11u3").with_source("openssl", None);
//! for m in kb.matcher().match_package(&q) {
//!     println!("{} {} {} fixed in {:?}: {}", m.vulnerability, m.status.as_str(), m.confidence.as_str(), m.fixed, m.reason);
//! }
//! let app = PackageQuery::application("Mozilla Firefox (x64 en-US)", "121.0", Some(Platform::Windows));
//! let _ = kb.matcher().match_package(&app);
//! let _ = kb.show("CVE-2023-4863");
//! let _ = kb.status();
//! # Ok::<(), zerotrace_vulndb::StoreError>(())
//! ```
//!
//! # Matching rule and confidence labels
//!
//! - `distro-exact`: a distribution advisory (DSA/DLA, Alpine secdb, Ubuntu/Debian OSV) for the
//!   query's *source* package and release; OS packages are judged by nothing else, so a
//!   backported fix counts and NVD never second-guesses it.
//! - `ecosystem-exact`: an ecosystem advisory (OSV/GHSA, RubySec, Node.js WG) for the package.
//! - `cpe-vendor-product`: an NVD configuration matched on a CPE the inventory supplied, for
//!   software no feed covers.
//! - `cpe-heuristic`: the same on a CPE derived from an application's display name through
//!   `cpe_products.tsv` (exact lookups of normalized names, never substrings).
//!
//! Advisories are grouped into vulnerabilities by `aliases`; umbrella notices (a DSA or USN
//! fixing several CVEs) report one finding per CVE instead of merging the CVEs. Distribution
//! statuses come back as [`MatchStatus::NotAffected`] / [`MatchStatus::WillNotFix`].
//!
//! # Figures
//!
//! `cargo run --release -p zerotrace-vulndb --example figures` prints import time and peak RSS
//! for all of `shared/data/vuln`, load time and resident size of the saved index, and matches
//! per second on one core, each beside a baseline measured in the same run.
//!
//! # Invariants
//!
//! - No async, no network, no database: files in, values out. Every read is size-bounded and no
//!   input makes an importer panic.
//! - Version ordering is `zerotrace-version`'s; this crate never compares ecosystem versions
//!   itself (CPE versions, which belong to no ecosystem, follow NVD's convention in [`cpe`]).
//! - Distro advisories decide for OS packages, ecosystem advisories for language packages, NVD
//!   only for what neither covers. Withdrawn/rejected advisories never match.

pub mod advisory;
pub mod cpe;
pub mod cvss;
pub mod desktop;
mod fxhash;
pub mod import;
mod index;
mod kb;
pub mod matcher;
pub mod names;
mod ranges;
pub mod store_file;

pub use advisory::{Advisory, Affected, AffectedStatus, Source};
pub use desktop::Platform;
pub use import::epss::EpssScore;
pub use import::kev::KevEntry;
pub use import::{Format, ImportError, RecordError};
pub use index::{Severity, Vulnerability};
pub use kb::{
    AdvisoryKey, ChangeSet, FileReport, ImportProgress, ImportReport, KnowledgeBase, PackageKey,
    Status, VulnerabilityView,
};
pub use matcher::{Confidence, Match, MatchStatus, Matcher, PackageQuery, Reason};
pub use store_file::StoreError;
