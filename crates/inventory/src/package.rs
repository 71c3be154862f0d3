//! The one record every collector and reader produces.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OSV ecosystem name, with the distribution release where OSV wants one
/// (`Debian:12`, `Alpine:v3.19`) and the bare name otherwise (`PyPI`, `npm`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ecosystem(Cow<'static, str>);

impl Ecosystem {
    pub const PYPI: Ecosystem = Ecosystem(Cow::Borrowed("PyPI"));
    pub const NPM: Ecosystem = Ecosystem(Cow::Borrowed("npm"));
    pub const CRATES_IO: Ecosystem = Ecosystem(Cow::Borrowed("crates.io"));
    pub const GO: Ecosystem = Ecosystem(Cow::Borrowed("Go"));
    pub const MAVEN: Ecosystem = Ecosystem(Cow::Borrowed("Maven"));
    pub const RUBYGEMS: Ecosystem = Ecosystem(Cow::Borrowed("RubyGems"));
    pub const PACKAGIST: Ecosystem = Ecosystem(Cow::Borrowed("Packagist"));
    pub const NUGET: Ecosystem = Ecosystem(Cow::Borrowed("NuGet"));
    pub const HEX: Ecosystem = Ecosystem(Cow::Borrowed("Hex"));
    pub const PUB: Ecosystem = Ecosystem(Cow::Borrowed("Pub"));
    /// Desktop applications have no OSV ecosystem; the matcher goes through CPE for them.
    pub const MACOS_APP: Ecosystem = Ecosystem(Cow::Borrowed("macOS"));
    pub const WINDOWS_APP: Ecosystem = Ecosystem(Cow::Borrowed("Windows"));

    pub fn new(name: impl Into<String>) -> Self {
        Ecosystem(Cow::Owned(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which lockfile format a package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockfileKind {
    PackageLock,
    YarnLock,
    CargoLock,
    PoetryLock,
    Requirements,
    GoMod,
    GemfileLock,
    ComposerLock,
}

impl LockfileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LockfileKind::PackageLock => "package-lock",
            LockfileKind::YarnLock => "yarn-lock",
            LockfileKind::CargoLock => "cargo-lock",
            LockfileKind::PoetryLock => "poetry-lock",
            LockfileKind::Requirements => "requirements",
            LockfileKind::GoMod => "go-mod",
            LockfileKind::GemfileLock => "gemfile-lock",
            LockfileKind::ComposerLock => "composer-lock",
        }
    }

    const ALL: [LockfileKind; 8] = [
        LockfileKind::PackageLock,
        LockfileKind::YarnLock,
        LockfileKind::CargoLock,
        LockfileKind::PoetryLock,
        LockfileKind::Requirements,
        LockfileKind::GoMod,
        LockfileKind::GemfileLock,
        LockfileKind::ComposerLock,
    ];
}

/// Which SBOM format a package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SbomKind {
    CycloneDxJson,
    CycloneDxXml,
    SpdxJson,
}

impl SbomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SbomKind::CycloneDxJson => "cyclonedx-json",
            SbomKind::CycloneDxXml => "cyclonedx-xml",
            SbomKind::SpdxJson => "spdx-json",
        }
    }
}

/// What put the package on the machine (or which document listed it). A package owned by an OS
/// package manager is reported once, under that manager, never again under a language manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Manager {
    Dpkg,
    Rpm,
    Apk,
    Pip,
    Npm,
    Gem,
    Jar,
    CargoAuditable,
    GoBinary,
    MacApp,
    WindowsApp,
    Lockfile(LockfileKind),
    Sbom(SbomKind),
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = match self {
            Manager::Dpkg => "dpkg",
            Manager::Rpm => "rpm",
            Manager::Apk => "apk",
            Manager::Pip => "pip",
            Manager::Npm => "npm",
            Manager::Gem => "gem",
            Manager::Jar => "jar",
            Manager::CargoAuditable => "cargo-auditable",
            Manager::GoBinary => "go-binary",
            Manager::MacApp => "macos-app",
            Manager::WindowsApp => "windows-app",
            Manager::Lockfile(kind) => return write!(f, "lockfile:{}", kind.as_str()),
            Manager::Sbom(kind) => return write!(f, "sbom:{}", kind.as_str()),
        };
        f.write_str(simple)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown package manager `{0}`")]
pub struct UnknownManager(String);

impl FromStr for Manager {
    type Err = UnknownManager;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let simple = [
            Manager::Dpkg,
            Manager::Rpm,
            Manager::Apk,
            Manager::Pip,
            Manager::Npm,
            Manager::Gem,
            Manager::Jar,
            Manager::CargoAuditable,
            Manager::GoBinary,
            Manager::MacApp,
            Manager::WindowsApp,
        ];
        let lockfiles = LockfileKind::ALL.map(Manager::Lockfile);
        let sboms = [
            SbomKind::CycloneDxJson,
            SbomKind::CycloneDxXml,
            SbomKind::SpdxJson,
        ]
        .map(Manager::Sbom);
        simple
            .into_iter()
            .chain(lockfiles)
            .chain(sboms)
            .find(|m| m.to_string() == s)
            .ok_or_else(|| UnknownManager(s.to_owned()))
    }
}

impl Serialize for Manager {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Manager {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The source package a binary package was built from (dpkg `Source:`, apk `o:`, rpm SOURCERPM).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    pub name: String,
    /// Only set when it differs from the binary package's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What desktop platforms show about an application besides name and version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// macOS `CFBundleIdentifier`, Windows uninstall key name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// One installed (or listed) package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    /// The name as the ecosystem's advisories spell it (Maven: `group:artifact`, npm: `@scope/name`).
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub purl: String,
    pub manager: Manager,
    /// Where it was found: a `/`-separated path relative to the scanned root (or the read file).
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppInfo>,
}

impl Package {
    /// A package with the fields every collector has; the optional ones are set afterwards.
    pub fn new(
        ecosystem: Ecosystem,
        name: impl Into<String>,
        version: impl Into<String>,
        purl: String,
        manager: Manager,
        location: impl Into<String>,
    ) -> Self {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            source: None,
            arch: None,
            purl,
            manager,
            location: location.into(),
            app: None,
        }
    }
}

/// An entry a reader saw but did not turn into a package (unpinned requirement, path dependency,
/// SBOM component without purl), kept so the caller can say what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub entry: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_names_round_trip() {
        for m in [
            Manager::Dpkg,
            Manager::GoBinary,
            Manager::Lockfile(LockfileKind::CargoLock),
            Manager::Sbom(SbomKind::SpdxJson),
        ] {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Manager>(&json).unwrap(), m);
        }
        assert_eq!(
            Manager::Lockfile(LockfileKind::YarnLock).to_string(),
            "lockfile:yarn-lock"
        );
        assert!("lockfile:nope".parse::<Manager>().is_err());
    }
}
