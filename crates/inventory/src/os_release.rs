//! `os-release` facts, which decide the ecosystem of OS packages (`Debian:12`, `Alpine:v3.19`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FileError, ParseError};
use crate::fsroot::is_regular_file;
use crate::limits::{KIB, read_text_bounded};
use crate::package::Ecosystem;

/// Where os-release lives, in the order systemd reads them.
pub const OS_RELEASE_PATHS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
const LIMIT: u64 = 64 * KIB;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
}

impl OsRelease {
    /// The OSV ecosystem of this distribution's packages, if OSV knows the distribution.
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        let version = self.version_id.as_deref();
        let eco = |name: &str, v: Option<String>| {
            Some(Ecosystem::new(match v {
                Some(v) => format!("{name}:{v}"),
                None => name.to_owned(),
            }))
        };
        match self.id.as_str() {
            "debian" => eco(
                "Debian",
                version
                    .map(major)
                    .or_else(|| self.codename.as_deref().and_then(debian_release))
                    .map(str::to_owned),
            ),
            "ubuntu" => eco("Ubuntu", version.map(str::to_owned)),
            "alpine" => eco("Alpine", version.map(|v| format!("v{}", major_minor(v)))),
            "rocky" => eco("Rocky Linux", version.map(|v| major(v).to_owned())),
            "almalinux" => eco("AlmaLinux", version.map(|v| major(v).to_owned())),
            "rhel" => eco("Red Hat", None),
            "opensuse-leap" => eco("openSUSE", version.map(|v| format!("Leap {v}"))),
            "photon" => eco("Photon OS", version.map(str::to_owned)),
            "wolfi" => eco("Wolfi", None),
            "chainguard" => eco("Chainguard", None),
            "mageia" => eco("Mageia", version.map(str::to_owned)),
            _ => None,
        }
    }
}

fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

fn major_minor(v: &str) -> &str {
    let mut dots = v.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next()) {
        (Some(_), Some(second)) => v.get(..second).unwrap_or(v),
        _ => v,
    }
}

fn debian_release(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        _ => return None,
    })
}

/// What OS packages need from the distribution: their ecosystem and purl parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    pub ecosystem: Ecosystem,
    /// purl namespace (`debian`, `ubuntu`, `alpine`).
    pub namespace: String,
    /// purl `distro` qualifier (`debian-12`), empty when the release is unknown.
    pub qualifier: String,
}

impl Distro {
    /// The distribution described by os-release, or `fallback_id`'s family when there is none
    /// (a dpkg database without os-release is still Debian-like).
    pub fn new(os: Option<&OsRelease>, fallback_id: &str, fallback_ecosystem: &str) -> Distro {
        match os.and_then(|o| o.ecosystem().map(|e| (o, e))) {
            Some((o, ecosystem)) => Distro {
                ecosystem,
                namespace: o.id.clone(),
                qualifier: o
                    .version_id
                    .as_ref()
                    .map(|v| format!("{}-{v}", o.id))
                    .unwrap_or_default(),
            },
            None => Distro {
                ecosystem: Ecosystem::new(fallback_ecosystem),
                namespace: fallback_id.to_owned(),
                qualifier: String::new(),
            },
        }
    }
}

/// The ecosystem of a distro purl (`pkg:deb/debian/curl?distro=debian-12`) for SBOM readers.
pub(crate) fn distro_ecosystem(
    ty: &str,
    namespace: Option<&str>,
    distro: Option<&str>,
) -> Option<Ecosystem> {
    let ns = namespace.map(str::to_ascii_lowercase);
    // Tools write `distro` as `debian-12`, `alpine-3.19.1`, `bookworm` or `3.19.1`.
    let version = distro.map(|d| match d.rsplit_once('-') {
        Some((_, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => v.to_owned(),
        _ => d.to_owned(),
    });
    let id = match (ty, ns.as_deref()) {
        ("deb", Some("debian")) => "debian",
        ("deb", Some("ubuntu")) => "ubuntu",
        ("apk", Some("alpine")) => "alpine",
        ("apk", Some("wolfi")) => "wolfi",
        ("apk", Some("chainguard")) => "chainguard",
        ("rpm", Some("rocky" | "rocky-linux")) => "rocky",
        ("rpm", Some("almalinux")) => "almalinux",
        ("rpm", Some("redhat" | "rhel")) => "rhel",
        ("rpm", Some("opensuse")) => "opensuse-leap",
        ("rpm", Some("photon")) => "photon",
        _ => return None,
    };
    let (version_id, codename) = match version {
        Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => (Some(v), None),
        other => (None, other),
    };
    OsRelease {
        id: id.to_owned(),
        version_id,
        codename,
        ..OsRelease::default()
    }
    .ecosystem()
}

/// Parses os-release text: `KEY=value` lines, values optionally quoted with shell escapes.
pub fn parse_os_release(text: &str) -> Result<OsRelease, ParseError> {
    let mut release = OsRelease::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ParseError::line(i as u64 + 1, "expected KEY=value"));
        };
        let value = unquote(value.trim());
        let set = |v: String| (!v.is_empty()).then_some(v);
        match key.trim() {
            "ID" => release.id = value,
            "VERSION_ID" => release.version_id = set(value),
            "VERSION_CODENAME" => release.codename = set(value),
            "PRETTY_NAME" => release.pretty_name = set(value),
            "ID_LIKE" => release.id_like = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
    if release.id.is_empty() {
        // The spec's default when ID is absent.
        release.id = "linux".to_owned();
    }
    Ok(release)
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads os-release under `root`; `Ok(None)` when the root has none (not a Linux root).
pub fn read_os_release(root: &Path) -> Result<Option<OsRelease>, FileError> {
    for rel in OS_RELEASE_PATHS {
        let path = root.join(rel);
        // etc/os-release is usually a symlink to ../usr/lib/os-release, sometimes an absolute
        // one that would leave an image's root; the second candidate is the file itself.
        if !is_regular_file(&path) {
            continue;
        }
        return read_text_bounded(&path, LIMIT)
            .and_then(|t| parse_os_release(&t))
            .map(Some)
            .map_err(|e| FileError::new(rel, e));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eco(text: &str) -> Option<String> {
        parse_os_release(text)
            .unwrap()
            .ecosystem()
            .map(|e| e.to_string())
    }

    #[test]
    fn distro_ecosystems() {
        assert_eq!(
            eco("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n").as_deref(),
            Some("Debian:12")
        );
        assert_eq!(
            eco("ID=debian\nVERSION_CODENAME=trixie\n").as_deref(),
            Some("Debian:13")
        );
        assert_eq!(
            eco("ID=ubuntu\nVERSION_ID=\"22.04\"\n").as_deref(),
            Some("Ubuntu:22.04")
        );
        assert_eq!(
            eco("ID=alpine\nVERSION_ID=3.19.1\n").as_deref(),
            Some("Alpine:v3.19")
        );
        assert_eq!(
            eco("ID=\"rocky\"\nVERSION_ID=\"9.3\"\n").as_deref(),
            Some("Rocky Linux:9")
        );
        assert_eq!(eco("ID=gentoo\n"), None);
    }

    #[test]
    fn quoting_and_errors() {
        let r =
            parse_os_release("# c\nPRETTY_NAME='A \\\"b\\\"'\nID_LIKE=\"rhel fedora\"\n").unwrap();
        assert_eq!(r.pretty_name.as_deref(), Some("A \"b\""));
        assert_eq!(r.id_like, ["rhel", "fedora"]);
        assert_eq!(r.id, "linux");
        assert_eq!(
            parse_os_release("ID=x\ngarbage\n"),
            Err(ParseError::line(2, "expected KEY=value"))
        );
    }

    #[test]
    fn purl_distros() {
        let e = |t, n, d| distro_ecosystem(t, Some(n), d).map(|e| e.to_string());
        assert_eq!(
            e("deb", "debian", Some("debian-12")).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(
            e("deb", "debian", Some("bookworm")).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(e("deb", "debian", None).as_deref(), Some("Debian"));
        assert_eq!(
            e("apk", "alpine", Some("3.18.4")).as_deref(),
            Some("Alpine:v3.18")
        );
        assert_eq!(e("deb", "kali", None), None);
    }
}
