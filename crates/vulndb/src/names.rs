//! Ecosystem and package-name normalization: the index key `(ecosystem, normalized name)`.
//!
//! Advisories and queries spell the same package differently (`Django` / `django`, PEP 503's
//! `zope.interface` / `zope-interface`, Maven `group:artifact` / purl `group/artifact`, crates.io
//! `-` / `_`), and distributions name releases differently (`bullseye`, `11`, `22.04:LTS`,
//! `3.19`). Both sides go through the functions here, so they meet on one key.

/// The canonical lower-case key of an OSV ecosystem's base name (`PyPI` -> `pypi`).
pub fn ecosystem_key(base: &str) -> String {
    let lower = base.trim().to_ascii_lowercase();
    match lower.as_str() {
        "golang" => "go".to_owned(),
        "cargo" | "crates" | "rust" => "crates.io".to_owned(),
        "python" | "pip" => "pypi".to_owned(),
        "gem" | "rubygem" => "rubygems".to_owned(),
        "composer" => "packagist".to_owned(),
        "apk" => "alpine".to_owned(),
        _ => lower,
    }
}

/// Splits an OSV ecosystem string into base and release: `Debian:11` -> (`Debian`, `11`),
/// `Ubuntu:22.04:LTS` -> (`Ubuntu`, `22.04:LTS`).
pub fn split_ecosystem(osv: &str) -> (&str, Option<&str>) {
    match osv.split_once(':') {
        Some((base, release)) if !release.is_empty() => (base, Some(release)),
        Some((base, _)) => (base, None),
        None => (osv, None),
    }
}

/// Whether the ecosystem is an operating-system distribution (distro advisories decide there).
pub fn is_distro(ecosystem_key: &str) -> bool {
    matches!(
        ecosystem_key,
        "debian"
            | "ubuntu"
            | "alpine"
            | "rocky linux"
            | "almalinux"
            | "red hat"
            | "suse"
            | "opensuse"
            | "photon os"
            | "mageia"
            | "wolfi"
            | "chainguard"
            | "azure linux"
            | "openeuler"
    )
}

/// Debian release code names as the security tracker writes them, with their version numbers.
const DEBIAN_RELEASES: &[(&str, &str)] = &[
    ("buzz", "1.1"),
    ("rex", "1.2"),
    ("bo", "1.3"),
    ("hamm", "2.0"),
    ("slink", "2.1"),
    ("potato", "2.2"),
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
];

/// The Debian version number of a code name (`bullseye` -> `11`).
pub fn debian_release_number(code_name: &str) -> Option<&'static str> {
    let name = code_name.trim().to_ascii_lowercase();
    // The tracker also writes LTS/security suites as `squeeze-lts`, `buster-security`.
    let base = name.split('-').next().unwrap_or_default();
    DEBIAN_RELEASES
        .iter()
        .find(|(n, _)| *n == base)
        .map(|(_, v)| *v)
}

/// The release a query or advisory means, in one spelling per ecosystem: Debian `11` (from
/// `bullseye`, `11`, `11.8`), Ubuntu `22.04` (from `22.04:LTS`), Alpine `v3.19` (from `3.19`,
/// `v3.19`, `3.19.1`).
pub fn normalize_release(ecosystem_key: &str, release: &str) -> String {
    let release = release.trim();
    match ecosystem_key {
        "debian" => {
            if let Some(n) = debian_release_number(release) {
                return n.to_owned();
            }
            let major = release.split('.').next().unwrap_or(release);
            // 3.0 and 3.1 are releases of their own; later point releases fold into the major.
            if major == "3" || major.parse::<u32>().is_err() {
                release.to_ascii_lowercase()
            } else {
                major.to_owned()
            }
        }
        // `22.04:LTS`, `Pro:18.04:LTS`, `Pro:FIPS-updates:20.04:LTS`: the version-like part.
        "ubuntu" => release
            .split(':')
            .find(|part| {
                part.split('.').count() == 2
                    && part
                        .split('.')
                        .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
            .unwrap_or(release)
            .to_owned(),
        "alpine" => {
            let bare = release.trim_start_matches('v');
            let mut parts = bare.split('.');
            match (parts.next(), parts.next()) {
                (Some(major), Some(minor)) => format!("v{major}.{minor}"),
                _ => format!("v{bare}"),
            }
        }
        _ => release.to_ascii_lowercase(),
    }
}

/// The normalized package name for an ecosystem.
pub fn normalize_name(ecosystem_key: &str, name: &str) -> String {
    let name = name.trim();
    match ecosystem_key {
        // PEP 503: lower-case, runs of `-`, `_`, `.` become one `-`.
        "pypi" => {
            let mut out = String::with_capacity(name.len());
            let mut in_sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !in_sep {
                        out.push('-');
                    }
                    in_sep = true;
                } else {
                    out.extend(c.to_lowercase());
                    in_sep = false;
                }
            }
            out
        }
        // crates.io treats `-` and `_` as the same name.
        "crates.io" => name.to_ascii_lowercase().replace('_', "-"),
        // Maven coordinates: `group:artifact`; purl writes `group/artifact`.
        "maven" => name.to_ascii_lowercase().replacen('/', ":", 1),
        // Go module paths are case-sensitive (the proxy escapes capitals); only drop a scheme and
        // trailing slash that some inventories add.
        "go" => name
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
        // npm names (scoped `@scope/name` included), NuGet ids, gems, Debian source packages,
        // Alpine origins: case-insensitive in practice.
        _ => name.to_ascii_lowercase(),
    }
}

/// What a package URL says about a package, in OSV terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// OSV ecosystem, with the release for distribution packages (`Debian:11`).
    pub ecosystem: String,
    pub name: String,
    pub version: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes.get(i),
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (Some(b'%'), Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `pkg:type/namespace/name@version?qualifiers` for the types the index knows.
pub fn parse_purl(purl: &str) -> Option<Purl> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split('#').next()?;
    let (rest, qualifiers) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let (path, version) = match rest.rsplit_once('@') {
        Some((p, v)) if !p.is_empty() && !p.ends_with('/') => (p, Some(percent_decode(v))),
        _ => (rest, None),
    };
    let (kind, path) = path.split_once('/')?;
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let (name, namespace) = segments.split_last()?;
    let qualifier = |key: &str| {
        qualifiers.split('&').find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| percent_decode(v))
        })
    };
    let joined = |sep: &str| {
        let mut all = namespace.to_vec();
        all.push(name.clone());
        all.join(sep)
    };
    let (ecosystem, name) = match kind.to_ascii_lowercase().as_str() {
        "pypi" => ("PyPI".to_owned(), name.clone()),
        "npm" => ("npm".to_owned(), joined("/")),
        "maven" => ("Maven".to_owned(), joined(":")),
        "golang" => ("Go".to_owned(), joined("/")),
        "cargo" => ("crates.io".to_owned(), name.clone()),
        "gem" => ("RubyGems".to_owned(), name.clone()),
        "nuget" => ("NuGet".to_owned(), name.clone()),
        "composer" => ("Packagist".to_owned(), joined("/")),
        "hex" => ("Hex".to_owned(), name.clone()),
        "pub" => ("Pub".to_owned(), name.clone()),
        "deb" | "apk" | "rpm" => {
            let vendor = namespace.first()?.to_ascii_lowercase();
            let base = match vendor.as_str() {
                "debian" => "Debian",
                "ubuntu" => "Ubuntu",
                "alpine" => "Alpine",
                _ => return None,
            };
            let eco = match qualifier("distro") {
                Some(d) => {
                    let release = d
                        .strip_prefix(&format!("{vendor}-"))
                        .unwrap_or(&d)
                        .to_owned();
                    format!(
                        "{base}:{}",
                        normalize_release(&ecosystem_key(base), &release)
                    )
                }
                None => base.to_owned(),
            };
            (eco, name.clone())
        }
        _ => return None,
    };
    Some(Purl {
        ecosystem,
        name,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503() {
        assert_eq!(normalize_name("pypi", "Zope.Interface"), "zope-interface");
        assert_eq!(normalize_name("pypi", "foo__bar-.baz"), "foo-bar-baz");
    }

    #[test]
    fn other_ecosystems() {
        assert_eq!(normalize_name("crates.io", "Serde_JSON"), "serde-json");
        assert_eq!(
            normalize_name("maven", "org.apache.logging.log4j/log4j-core"),
            "org.apache.logging.log4j:log4j-core"
        );
        assert_eq!(normalize_name("npm", "@Babel/Core"), "@babel/core");
        assert_eq!(
            normalize_name("go", "github.com/BurntSushi/toml/"),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(ecosystem_key("PyPI"), "pypi");
        assert_eq!(
            split_ecosystem("Ubuntu:22.04:LTS"),
            ("Ubuntu", Some("22.04:LTS"))
        );
    }

    #[test]
    fn purls() {
        let p = parse_purl("pkg:npm/%40babel/core@7.0.0");
        assert_eq!(
            p,
            Some(Purl {
                ecosystem: "npm".into(),
                name: "@babel/core".into(),
                version: Some("7.0.0".into())
            })
        );
        let p = parse_purl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar");
        assert_eq!(
            p.map(|p| p.name),
            Some("org.apache.logging.log4j:log4j-core".into())
        );
        let p = parse_purl("pkg:deb/debian/openssl@1.1.1n-0%2Bdeb11u3?arch=amd64&distro=debian-11");
        assert_eq!(p.as_ref().map(|p| p.ecosystem.as_str()), Some("Debian:11"));
        assert_eq!(p.and_then(|p| p.version), Some("1.1.1n-0+deb11u3".into()));
        assert_eq!(
            parse_purl("pkg:apk/alpine/musl@1.2.4-r2?distro=3.19.1").map(|p| p.ecosystem),
            Some("Alpine:v3.19".into())
        );
        assert_eq!(parse_purl("not a purl"), None);
        assert_eq!(parse_purl("pkg:"), None);
        assert_eq!(parse_purl("pkg:npm/"), None);
    }

    #[test]
    fn releases() {
        assert_eq!(normalize_release("debian", "bullseye"), "11");
        assert_eq!(normalize_release("debian", "11.8"), "11");
        assert_eq!(normalize_release("debian", "buster-lts"), "10");
        assert_eq!(normalize_release("debian", "3.1"), "3.1");
        assert_eq!(normalize_release("ubuntu", "22.04:LTS"), "22.04");
        assert_eq!(normalize_release("ubuntu", "Pro:14.04:LTS"), "14.04");
        assert_eq!(normalize_release("alpine", "3.19.1"), "v3.19");
        assert_eq!(normalize_release("alpine", "v3.11"), "v3.11");
    }
}
