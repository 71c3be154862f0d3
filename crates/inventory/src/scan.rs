//! One scan of a filesystem root: OS facts, OS package databases (whose file lists mark what
//! they own), then language packages, binaries and applications in known locations only.
//!
//! Search roots (all relative to the scanned root; `/proc`, `/sys`, `/dev` and everything else
//! not listed are never walked, and symlinks are never followed):
//! - OS packages: [`crate::dpkg::STATUS_PATH`], [`crate::dpkg::STATUS_DIR`],
//!   [`crate::apk::INSTALLED_PATH`], [`crate::rpm::SQLITE_DATABASES`],
//!   [`crate::rpm::NDB_DATABASES`], [`crate::rpm::BDB_DATABASE`].
//! - Python: [`crate::python::SEARCH_ROOTS`]; npm: [`crate::node::SEARCH_ROOTS`];
//!   RubyGems: [`crate::ruby::SEARCH_ROOTS`]; Java archives: [`crate::java::SEARCH_ROOTS`];
//!   Go and cargo-auditable binaries: [`crate::binary::SEARCH_ROOTS`];
//!   macOS bundles: [`crate::macos::SEARCH_ROOTS`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::os_release::{Distro, OsRelease, read_os_release};
use crate::owned::OwnedFiles;
use crate::package::Package;
use crate::{apk, binary, dpkg, java, macos, node, python, rpm, ruby};

/// What collectors produce: packages and the files that could not be read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    pub packages: Vec<Package>,
    pub errors: Vec<FileError>,
}

/// What the language collectors need to know about the root.
#[derive(Debug)]
pub struct Context<'a> {
    pub root: &'a Path,
    pub owned: OwnedFiles,
}

type CollectFn = fn(&Context, &mut Collected);

/// The collector families a scan can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collector {
    /// dpkg, apk and rpm databases.
    OsPackages,
    Python,
    Node,
    Ruby,
    Java,
    /// Go build info and cargo-auditable sections in executables.
    Binaries,
    MacApps,
}

impl Collector {
    pub const ALL: [Collector; 7] = [
        Collector::OsPackages,
        Collector::Python,
        Collector::Node,
        Collector::Ruby,
        Collector::Java,
        Collector::Binaries,
        Collector::MacApps,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    pub collectors: Vec<Collector>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            collectors: Collector::ALL.to_vec(),
        }
    }
}

impl ScanOptions {
    fn runs(&self, c: Collector) -> bool {
        self.collectors.contains(&c)
    }
}

/// The result of a scan, serialized as ZeroTrace's own inventory JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Identifies this JSON shape for readers.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    pub packages: Vec<Package>,
    pub errors: Vec<FileError>,
}

pub const REPORT_SCHEMA: &str = "zerotrace.inventory.v1";

/// Scans `root` with every collector `options` selects. Never fails: what cannot be read is in
/// [`ScanReport::errors`].
pub fn scan(root: &Path, options: &ScanOptions) -> ScanReport {
    let mut out = Collected::default();
    let os = match read_os_release(root) {
        Ok(os) => os,
        Err(e) => {
            out.errors.push(e);
            None
        }
    };
    let mut owned = OwnedFiles::default();
    if options.runs(Collector::OsPackages) {
        let debian = Distro::new(os.as_ref(), "debian", "Debian");
        if dpkg::collect(root, &debian, &mut out) {
            dpkg::owned_files(root, &mut owned, &mut out.errors);
        }
        let alpine = Distro::new(os.as_ref(), "alpine", "Alpine");
        apk::collect(root, &alpine, &mut owned, &mut out);
        let redhat = Distro::new(os.as_ref(), "redhat", "Red Hat");
        rpm::collect(root, &redhat, &mut owned, &mut out);
    }
    let ctx = Context { root, owned };
    let language: [(Collector, CollectFn); 6] = [
        (Collector::Python, python::collect),
        (Collector::Node, node::collect),
        (Collector::Ruby, ruby::collect),
        (Collector::Java, java::collect),
        (Collector::Binaries, binary::collect),
        (Collector::MacApps, macos::collect),
    ];
    for (collector, run) in language {
        if options.runs(collector) {
            run(&ctx, &mut out);
        }
    }
    ScanReport {
        schema: REPORT_SCHEMA.to_owned(),
        os,
        packages: out.packages,
        errors: out.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ParseError;
    use crate::package::{Ecosystem, LockfileKind, Manager};

    #[test]
    fn report_json_shape_round_trips() {
        let mut p = Package::new(
            Ecosystem::PYPI,
            "requests",
            "2.31.0",
            "pkg:pypi/requests@2.31.0".into(),
            Manager::Pip,
            "x/METADATA",
        );
        p.arch = Some("noarch".into());
        let lock = Package::new(
            Ecosystem::NPM,
            "ms",
            "2.1.3",
            "pkg:npm/ms@2.1.3".into(),
            Manager::Lockfile(LockfileKind::YarnLock),
            "yarn.lock",
        );
        let report = ScanReport {
            schema: REPORT_SCHEMA.into(),
            os: None,
            packages: vec![p, lock],
            errors: vec![FileError::new(
                "a/package.json",
                ParseError::TooLarge { size: 9, limit: 8 },
            )],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["packages"][0]["manager"], "pip");
        assert_eq!(json["packages"][1]["manager"], "lockfile:yarn-lock");
        assert_eq!(json["packages"][0]["ecosystem"], "PyPI");
        assert!(
            json["packages"][1].get("arch").is_none(),
            "absent options are left out"
        );
        assert_eq!(json["errors"][0]["error"]["kind"], "too_large");
        let back: ScanReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
