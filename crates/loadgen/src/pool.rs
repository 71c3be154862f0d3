//! The package pool: every (ecosystem, name, version) the simulated fleet may have installed,
//! taken from real data rather than invented, so the server's matcher and caches see the name
//! and version distributions of real software.
//!
//! Sources, under the shared data directory (`../shared/data`):
//! - `lockfiles/`: real lockfiles, read with the inventory crate's lockfile readers;
//! - `sbom/`: real SBOMs (CycloneDX, SPDX), read with its SBOM readers — npm, Maven, Go and the
//!   Debian packages of a container image;
//! - `vuln/osv/*.zip`: versions that OSV advisories name as affected (see [`crate::osv`]), which
//!   make up the vulnerable share of each inventory.
//!
//! Only ecosystems a ZeroTrace agent actually reports are kept (Debian, PyPI, npm, crates.io, Go,
//! Maven, RubyGems), and OS packages of one Debian release only (the one the data has most of),
//! since a machine runs one distribution. Each package is then placed where the agent's collector
//! for it would have found it (`var/lib/dpkg/status`, a `dist-info` directory, a jar...).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use packageurl::PackageUrl;
use zerotrace_inventory::lockfile::{kind_from_file_name, read_lockfile};
use zerotrace_inventory::sbom::read_sbom;
use zerotrace_inventory::{Ecosystem, LockfileKind, Manager, OsRelease, Package};

use crate::osv;

/// Vulnerable versions taken from the advisories at most: enough variety for any inventory,
/// bounded however large the feeds are.
pub const MAX_VULNERABLE: usize = 20_000;
/// Names and versions longer than this are not what a fleet has installed.
const MAX_FIELD: usize = 200;
/// The OS of the simulated machines when the data has no Debian packages.
const DEFAULT_DEBIAN_RELEASE: &str = "12";

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "no usable packages under {0} (expected lockfiles/, sbom/ and vuln/osv/ as in ../shared/data): point --data at the shared data directory"
    )]
    Empty(PathBuf),
}

/// The agent collector that reports an ecosystem's packages, which decides their manager,
/// location and package URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Debian,
    PyPI,
    Npm,
    Cargo,
    Go,
    Maven,
    RubyGems,
}

impl Kind {
    fn of(ecosystem: &str, debian: &str) -> Option<Kind> {
        Some(match ecosystem {
            "PyPI" => Kind::PyPI,
            "npm" => Kind::Npm,
            "crates.io" => Kind::Cargo,
            "Go" => Kind::Go,
            "Maven" => Kind::Maven,
            "RubyGems" => Kind::RubyGems,
            other if other == debian => Kind::Debian,
            _ => return None,
        })
    }
}

/// One package name and the versions of it the pool holds.
pub(crate) struct Group {
    pub kind: Kind,
    pub ecosystem: Ecosystem,
    pub name: String,
    pub entries: Vec<u32>,
}

/// One version of a package.
pub(crate) struct Entry {
    pub group: u32,
    pub version: String,
    pub arch: Option<String>,
    /// Index into the pool's advisories when an advisory names this version as affected.
    pub advisory: Option<u32>,
}

struct AdvisoryRef {
    id: String,
    zip: u32,
}

/// What building the pool read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolReport {
    /// Lockfiles and SBOMs read.
    pub files_read: usize,
    /// Files under `lockfiles/` and `sbom/` no reader could use (the data has a few on purpose).
    pub files_unreadable: usize,
    pub advisories_read: usize,
    /// Whether [`MAX_VULNERABLE`] stopped the reading of advisories.
    pub vulnerable_capped: bool,
}

/// A version an advisory names as affected, and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VulnerableVersion<'a> {
    pub ecosystem: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub advisory: &'a str,
    /// The OSV zip holding the advisory.
    pub source: &'a Path,
}

/// Every package the simulated fleet may have; see the module doc.
pub struct PackagePool {
    pub(crate) groups: Vec<Group>,
    pub(crate) entries: Vec<Entry>,
    /// Groups with at least one version no advisory names.
    pub(crate) clean_groups: Vec<u32>,
    /// Groups with at least one version an advisory names.
    pub(crate) vulnerable_groups: Vec<u32>,
    advisories: Vec<AdvisoryRef>,
    zips: Vec<PathBuf>,
    os: OsRelease,
    debian_release: String,
    report: PoolReport,
}

/// Reads the pool from the shared data directory (`../shared/data`): see the module doc.
pub fn package_pool(data_dir: &Path) -> Result<PackagePool, PoolError> {
    let mut report = PoolReport::default();
    let mut listed = Vec::new();
    for path in files_under(&data_dir.join("lockfiles"))? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_cargo_dir = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "cargo");
        let kind = kind_from_file_name(&name).or_else(|| {
            (in_cargo_dir && name.ends_with(".lock")).then_some(LockfileKind::CargoLock)
        });
        match kind.map(|kind| read_lockfile(&path, Some(kind))) {
            Some(Ok(read)) => {
                report.files_read += 1;
                listed.extend(read.packages);
            }
            _ => report.files_unreadable += 1,
        }
    }
    for path in files_under(&data_dir.join("sbom"))? {
        let is_document = path.extension().is_some_and(|e| e == "json" || e == "xml");
        match is_document.then(|| read_sbom(&path)) {
            Some(Ok(read)) => {
                report.files_read += 1;
                listed.extend(read.packages);
            }
            _ => report.files_unreadable += 1,
        }
    }

    let debian_release = most_common_debian_release(&listed);
    let debian = format!("Debian:{debian_release}");
    let mut builder = Builder::default();
    for package in &listed {
        if let Some(kind) = Kind::of(package.ecosystem.as_str(), &debian) {
            builder.add(
                kind,
                &package.ecosystem,
                &package.name,
                &package.version,
                package.arch.as_deref(),
                None,
            );
        }
    }

    let mut zips: Vec<PathBuf> = files_under(&data_dir.join("vuln").join("osv"))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    let mut taken = 0;
    for (zip_index, zip) in zips.iter().enumerate() {
        if report.vulnerable_capped {
            break;
        }
        let read = osv::read_zip(zip, |affected| {
            let Some(kind) = Kind::of(&affected.ecosystem, &debian) else {
                return true;
            };
            let advisory = builder.advisory(&affected.advisory, zip_index);
            if builder.add(
                kind,
                &Ecosystem::new(affected.ecosystem),
                &affected.name,
                &affected.version,
                None,
                Some(advisory),
            ) {
                taken += 1;
            }
            let more = taken < MAX_VULNERABLE;
            report.vulnerable_capped |= !more;
            more
        })
        .map_err(|e| PoolError::Io {
            path: zip.clone(),
            message: e.to_string(),
        })?;
        report.advisories_read += read.advisories;
    }

    if builder.entries.is_empty() {
        return Err(PoolError::Empty(data_dir.to_owned()));
    }
    let Builder {
        groups,
        entries,
        advisories,
        ..
    } = builder;
    let has = |group: &Group, vulnerable: bool| {
        group
            .entries
            .iter()
            .any(|&e| entries[e as usize].advisory.is_some() == vulnerable)
    };
    let select = |vulnerable: bool| -> Vec<u32> {
        (0..groups.len() as u32)
            .filter(|&g| has(&groups[g as usize], vulnerable))
            .collect()
    };
    let (clean_groups, vulnerable_groups) = (select(false), select(true));
    Ok(PackagePool {
        os: debian_os_release(&debian_release),
        clean_groups,
        vulnerable_groups,
        groups,
        entries,
        advisories,
        zips,
        debian_release,
        report,
    })
}

impl PackagePool {
    /// Package versions in the pool.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct (ecosystem, name) pairs: the most packages one inventory can hold.
    pub fn name_count(&self) -> usize {
        self.groups.len()
    }

    /// Distinct names with a version an advisory names: the most vulnerable packages one
    /// inventory can hold.
    pub fn vulnerable_name_count(&self) -> usize {
        self.vulnerable_groups.len()
    }

    /// Package versions per ecosystem.
    pub fn ecosystems(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for entry in &self.entries {
            let ecosystem = self.groups[entry.group as usize].ecosystem.as_str();
            *counts.entry(ecosystem.to_owned()).or_default() += 1;
        }
        counts
    }

    /// Every version an advisory names, with the advisory and the file it came from.
    pub fn vulnerable_versions(&self) -> impl Iterator<Item = VulnerableVersion<'_>> {
        self.entries.iter().filter_map(|entry| {
            let advisory = &self.advisories[entry.advisory? as usize];
            let group = &self.groups[entry.group as usize];
            Some(VulnerableVersion {
                ecosystem: group.ecosystem.as_str(),
                name: &group.name,
                version: &entry.version,
                advisory: &advisory.id,
                source: &self.zips[advisory.zip as usize],
            })
        })
    }

    /// The OS every simulated machine runs: the Debian release of the pool's Debian packages.
    pub fn os(&self) -> &OsRelease {
        &self.os
    }

    pub fn report(&self) -> &PoolReport {
        &self.report
    }

    /// Entry `entry` as the agent would report it, its version bumped `bump` times.
    pub(crate) fn package(&self, entry: u32, bump: u16) -> Package {
        let entry = &self.entries[entry as usize];
        let group = &self.groups[entry.group as usize];
        let version = bumped(&entry.version, bump);
        let name = group.name.as_str();
        let (manager, location) = match group.kind {
            Kind::Debian => (Manager::Dpkg, "var/lib/dpkg/status".to_owned()),
            Kind::PyPI => (
                Manager::Pip,
                format!(
                    "usr/lib/python3/dist-packages/{}-{version}.dist-info/METADATA",
                    name.replace('-', "_")
                ),
            ),
            Kind::Npm => (
                Manager::Npm,
                format!("usr/lib/node_modules/{name}/package.json"),
            ),
            // One Rust and one Go service embed these dependencies; the agent reads them from
            // the binary.
            Kind::Cargo => (
                Manager::CargoAuditable,
                "usr/local/bin/rust-service".to_owned(),
            ),
            Kind::Go => (Manager::GoBinary, "usr/local/bin/go-service".to_owned()),
            Kind::Maven => (
                Manager::Jar,
                format!(
                    "opt/app/lib/{}-{version}.jar",
                    name.rsplit(':').next().unwrap_or(name)
                ),
            ),
            Kind::RubyGems => (
                Manager::Gem,
                format!("var/lib/gems/3.1.0/specifications/{name}-{version}.gemspec"),
            ),
        };
        let arch = match group.kind {
            Kind::Debian => Some(entry.arch.clone().unwrap_or_else(|| "amd64".to_owned())),
            _ => None,
        };
        let purl = purl(
            group.kind,
            name,
            &version,
            arch.as_deref(),
            &self.debian_release,
        )
        .unwrap_or_else(|| format!("pkg:generic/{name}@{version}"));
        let mut package = Package::new(
            group.ecosystem.clone(),
            name,
            version,
            purl,
            manager,
            location,
        );
        package.arch = arch;
        package
    }
}

#[derive(Default)]
struct Builder {
    groups: Vec<Group>,
    entries: Vec<Entry>,
    advisories: Vec<AdvisoryRef>,
    group_index: HashMap<(String, String), u32>,
    entry_index: HashMap<(u32, String), u32>,
    advisory_index: HashMap<String, u32>,
}

impl Builder {
    fn advisory(&mut self, id: &str, zip: usize) -> u32 {
        if let Some(&index) = self.advisory_index.get(id) {
            return index;
        }
        let index = self.advisories.len() as u32;
        self.advisories.push(AdvisoryRef {
            id: id.to_owned(),
            zip: zip as u32,
        });
        self.advisory_index.insert(id.to_owned(), index);
        index
    }

    /// Adds one version; `true` when it is new or newly known to be vulnerable.
    fn add(
        &mut self,
        kind: Kind,
        ecosystem: &Ecosystem,
        name: &str,
        version: &str,
        arch: Option<&str>,
        advisory: Option<u32>,
    ) -> bool {
        let (name, version) = (name.trim(), version.trim());
        let usable = |text: &str| {
            !text.is_empty()
                && text.len() <= MAX_FIELD
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !usable(name)
            || !usable(version)
            || (kind == Kind::Maven && !name.contains(':'))
            || purl(kind, name, version, arch, "").is_none()
        {
            return false;
        }
        let key = (ecosystem.as_str().to_owned(), name.to_owned());
        let group = match self.group_index.get(&key) {
            Some(&group) => group,
            None => {
                let group = self.groups.len() as u32;
                self.groups.push(Group {
                    kind,
                    ecosystem: ecosystem.clone(),
                    name: name.to_owned(),
                    entries: Vec::new(),
                });
                self.group_index.insert(key, group);
                group
            }
        };
        match self.entry_index.get(&(group, version.to_owned())) {
            Some(&entry) => {
                let known = &mut self.entries[entry as usize].advisory;
                let newly_vulnerable = known.is_none() && advisory.is_some();
                if newly_vulnerable {
                    *known = advisory;
                }
                newly_vulnerable
            }
            None => {
                let entry = self.entries.len() as u32;
                self.entries.push(Entry {
                    group,
                    version: version.to_owned(),
                    arch: arch.map(str::to_owned),
                    advisory,
                });
                self.groups[group as usize].entries.push(entry);
                self.entry_index.insert((group, version.to_owned()), entry);
                true
            }
        }
    }
}

/// Regular files under `dir` in name order (absent directory: none), symlinks not followed.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, PoolError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for item in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .max_depth(6)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| PoolError::Io {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
        if item.file_type().is_file() {
            files.push(item.into_path());
        }
    }
    Ok(files)
}

/// The Debian release (`10`) most of the listed Debian packages belong to.
fn most_common_debian_release(packages: &[Package]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for package in packages {
        if let Some(release) = package.ecosystem.as_str().strip_prefix("Debian:") {
            *counts.entry(release).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(_, count)| count)
        .map_or_else(|| DEFAULT_DEBIAN_RELEASE.to_owned(), |(r, _)| r.to_owned())
}

fn debian_os_release(release: &str) -> OsRelease {
    let codename = match release {
        "9" => Some("stretch"),
        "10" => Some("buster"),
        "11" => Some("bullseye"),
        "12" => Some("bookworm"),
        "13" => Some("trixie"),
        _ => None,
    };
    OsRelease {
        id: "debian".to_owned(),
        version_id: Some(release.to_owned()),
        codename: codename.map(str::to_owned),
        pretty_name: Some(match codename {
            Some(codename) => format!("Debian GNU/Linux {release} ({codename})"),
            None => format!("Debian GNU/Linux {release}"),
        }),
        id_like: Vec::new(),
    }
}

/// The package URL the agent's collector writes for this package; `None` when the parts make none.
fn purl(
    kind: Kind,
    name: &str,
    version: &str,
    arch: Option<&str>,
    debian_release: &str,
) -> Option<String> {
    let split = |separator: char| match name.rsplit_once(separator) {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, name),
    };
    let (ty, namespace, plain) = match kind {
        Kind::Debian => ("deb", Some("debian"), name),
        Kind::PyPI => ("pypi", None, name),
        Kind::Npm => {
            let (namespace, plain) = split('/');
            ("npm", namespace, plain)
        }
        Kind::Cargo => ("cargo", None, name),
        Kind::Go => {
            let (namespace, plain) = split('/');
            ("golang", namespace, plain)
        }
        Kind::Maven => {
            let (namespace, plain) = split(':');
            ("maven", namespace, plain)
        }
        Kind::RubyGems => ("gem", None, name),
    };
    let mut purl = PackageUrl::new(ty, plain).ok()?;
    if let Some(namespace) = namespace.filter(|n| !n.is_empty()) {
        purl.with_namespace(namespace).ok()?;
    }
    purl.with_version(version).ok()?;
    if kind == Kind::Debian {
        if let Some(arch) = arch {
            purl.add_qualifier("arch", arch).ok()?;
        }
        if !debian_release.is_empty() {
            purl.add_qualifier("distro", format!("debian-{debian_release}"))
                .ok()?;
        }
    }
    Some(purl.to_string())
}

/// `version` with its last run of digits raised by `times` (`1.2.3` → `1.2.4`), or `.times`
/// appended when it has no number to raise.
pub(crate) fn bumped(version: &str, times: u16) -> Cow<'_, str> {
    if times == 0 {
        return Cow::Borrowed(version);
    }
    let bytes = version.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_digit).map(|i| i + 1) else {
        return Cow::Owned(format!("{version}.{times}"));
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    match version[start..end].parse::<u64>() {
        Ok(number) => Cow::Owned(format!(
            "{}{}{}",
            &version[..start],
            number + u64::from(times),
            &version[end..]
        )),
        Err(_) => Cow::Owned(format!("{version}.{times}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_raise_the_last_number() {
        assert_eq!(bumped("1.2.3", 0), "1.2.3");
        assert_eq!(bumped("1.2.3", 1), "1.2.4");
        assert_eq!(bumped("1.2.9", 2), "1.2.11");
        assert_eq!(bumped("1.0.0-beta", 1), "1.0.1-beta");
        assert_eq!(bumped("1:1.2.13.dfsg-1", 1), "1:1.2.13.dfsg-2");
        assert_eq!(bumped("latest", 3), "latest.3");
        assert_eq!(
            bumped("1.99999999999999999999999", 1),
            "1.99999999999999999999999.1"
        );
    }

    #[test]
    fn purls_follow_each_ecosystem() {
        assert_eq!(
            purl(Kind::Maven, "org.apache:commons-io", "2.4", None, "10").as_deref(),
            Some("pkg:maven/org.apache/commons-io@2.4")
        );
        assert_eq!(
            purl(Kind::Npm, "@babel/core", "7.0.0", None, "10").as_deref(),
            Some("pkg:npm/%40babel/core@7.0.0")
        );
        assert_eq!(
            purl(Kind::Go, "golang.org/x/net", "0.1.0", None, "10").as_deref(),
            Some("pkg:golang/golang.org/x/net@0.1.0")
        );
        assert_eq!(
            purl(Kind::Debian, "curl", "7.64.0-4", Some("amd64"), "10").as_deref(),
            Some("pkg:deb/debian/curl@7.64.0-4?arch=amd64&distro=debian-10")
        );
        assert_eq!(purl(Kind::Cargo, "", "1.0", None, "10"), None);
    }

    #[test]
    fn an_empty_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = package_pool(dir.path()).err().unwrap().to_string();
        assert!(error.contains("--data"), "{error}");
        assert!(
            error.contains(dir.path().to_string_lossy().as_ref()),
            "{error}"
        );
    }
}
