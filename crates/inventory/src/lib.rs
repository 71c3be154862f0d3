//! Installed-software inventory for ZeroTrace.
//!
//! Collectors read a filesystem root (`/`, an unpacked container image, a test fixture) and
//! yield [`Package`]s: OS packages (dpkg, apk, rpm headers), language packages (Python, npm,
//! RubyGems, Java archives), binaries that embed their dependencies (Go build info,
//! cargo-auditable), and desktop applications (macOS bundles, Windows uninstall entries).
//! [`scan::scan`] runs them all and returns packages *and* per-file errors: one bad file never
//! stops a scan. Lockfile and SBOM readers turn project files into the same [`Package`] type.
//!
//! This crate knows nothing of HTTP, SQL or async runtimes; every read is size-bounded and
//! parsers never panic on hostile input.

pub mod apk;
pub mod binary;
pub mod cargo_auditable;
pub mod cyclonedx_out;
pub mod dpkg;
pub mod error;
pub mod fsroot;
pub mod go_binary;
pub mod java;
pub mod limits;
pub mod lockfile;
pub mod macos;
pub mod node;
pub mod os_release;
pub mod owned;
pub mod package;
pub mod purl;
pub mod python;
pub mod rpm;
pub mod ruby;
pub mod sbom;
pub mod scan;
pub mod windows;

pub use error::{FileError, ParseError};
pub use os_release::{Distro, OsRelease};
pub use package::{
    AppInfo, Ecosystem, LockfileKind, Manager, Package, SbomKind, Skipped, SourcePackage,
};
pub use scan::{Collected, ScanOptions, ScanReport, scan};
