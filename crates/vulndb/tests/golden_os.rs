//! OS packages: binary packages of a Debian dpkg status matched through their source package
//! and release against the DSA/DLA lists (backported fixes respected), an Alpine installed
//! database against secdb, and the distributions' "not affected" / "end of life" statuses.

mod common;

use std::collections::BTreeSet;

use zerotrace_vulndb::{Confidence, Match, MatchStatus, PackageQuery};

/// A Debian 11 dpkg status excerpt with real package names and versions (older than the
/// bullseye security fixes of 2023-04), including both `Source:` spellings.
const DPKG_STATUS: &str = "\
Package: libssl1.1
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 1.1.1n-0+deb11u3

Package: openssl
Status: install ok installed
Version: 1.1.1n-0+deb11u4

Package: libcurl4
Status: install ok installed
Source: curl
Version: 7.74.0-1.3+deb11u3

Package: xserver-xorg-core
Status: install ok installed
Source: xorg-server (2:1.20.11-1+deb11u5)
Version: 2:1.20.11-1+deb11u5+b1

Package: base-files
Status: install ok installed
Version: 11.1+deb11u6
";

struct Installed {
    name: String,
    version: String,
    source: Option<String>,
    source_version: Option<String>,
}

/// Reads the fields the matcher needs from dpkg status paragraphs.
fn parse_dpkg_status(text: &str) -> Vec<Installed> {
    text.split("\n\n")
        .filter_map(|para| {
            let field = |name: &str| {
                para.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let (source, source_version) = match field("Source:") {
                Some(s) => match s.split_once(" (") {
                    Some((n, v)) => (Some(n.to_owned()), Some(v.trim_end_matches(')').to_owned())),
                    None => (Some(s), None),
                },
                None => (None, None),
            };
            Some(Installed {
                name: field("Package:")?,
                version: field("Version:")?,
                source,
                source_version,
            })
        })
        .collect()
}

fn query(release: &str, p: &Installed) -> PackageQuery {
    let q = PackageQuery::new(release, &p.name, &p.version);
    match &p.source {
        Some(src) => q.with_source(src, p.source_version.as_deref()),
        None => q,
    }
}

fn vulnerable(ms: &[Match]) -> BTreeSet<&str> {
    ms.iter()
        .filter(|m| m.status == MatchStatus::Affected)
        .map(|m| &*m.vulnerability)
        .collect()
}

#[test]
fn debian_11_binaries_match_their_source_packages_dsas() {
    let Some(loaded) = common::all() else { return };
    let matcher = loaded.kb.matcher();
    let pkgs = parse_dpkg_status(DPKG_STATUS);
    assert_eq!(pkgs.len(), 5);
    let by_name = |n: &str| {
        pkgs.iter()
            .find(|p| p.name == n)
            .map(|p| matcher.match_package(&query("Debian:11", p)))
            .unwrap_or_default()
    };

    // libssl1.1 (source openssl) 1.1.1n-0+deb11u3: DSA-5343-1 (fixed u4) applies, DSA-5169-1
    // (fixed u3, this very version) does not.
    let ssl = by_name("libssl1.1");
    let expected: BTreeSet<&str> = [
        "CVE-2022-2097",
        "CVE-2022-4304",
        "CVE-2022-4450",
        "CVE-2023-0215",
        "CVE-2023-0286",
    ]
    .into();
    assert_eq!(vulnerable(&ssl), expected);
    for m in &ssl {
        assert_eq!(
            m.advisories.iter().map(|a| &**a).collect::<Vec<_>>(),
            vec!["DSA-5343-1"]
        );
        assert_eq!(*m.fixed, ["1.1.1n-0+deb11u4"]);
        assert_eq!(m.confidence, Confidence::DistroExact);
        assert!(
            m.reason.to_string().contains("DSA-5343-1")
                && m.reason.to_string().contains("1.1.1n-0+deb11u3"),
            "{}",
            m.reason
        );
    }
    // The same source at the fixed version: nothing left.
    assert!(vulnerable(&by_name("openssl")).is_empty());

    // libcurl4 (source curl) u3: DSA-5330-1 (u5) and DSA-5365-1 (u7), not DSA-5197-1 (u2).
    let curl = by_name("libcurl4");
    let curl_ids = vulnerable(&curl);
    for cve in ["CVE-2022-32221", "CVE-2022-43552", "CVE-2023-23916"] {
        assert!(curl_ids.contains(cve), "{cve} missing from {curl_ids:?}");
    }
    for cve in ["CVE-2021-22898", "CVE-2022-32205"] {
        assert!(!curl_ids.contains(cve), "{cve} was fixed in u2");
    }

    // A binNMU'd binary: the source version from `Source: xorg-server (…)` decides.
    let xorg = by_name("xserver-xorg-core");
    assert!(
        vulnerable(&xorg).contains("CVE-2023-1393"),
        "{:?}",
        vulnerable(&xorg)
    );
    assert!(
        xorg.iter()
            .any(|m| m.advisories.iter().any(|a| &**a == "DSA-5380-1"))
    );

    assert!(by_name("base-files").is_empty());
}

#[test]
fn releases_are_kept_apart_and_dla_covers_lts() {
    let Some(loaded) = common::all() else { return };
    let matcher = loaded.kb.matcher();
    let src = |release: &str, version: &str| {
        matcher.match_package(
            &PackageQuery::new(release, "libssl1.1", version).with_source("openssl", None),
        )
    };
    // Debian 10 (buster LTS): DLA-3325-1 fixes the same CVEs in 1.1.1n-0+deb10u4.
    let buster = src("Debian:10", "1.1.1n-0+deb10u3");
    let m = buster
        .iter()
        .find(|m| *m.vulnerability == *"CVE-2023-0286")
        .unwrap_or_else(|| panic!("{:?}", vulnerable(&buster)));
    assert!(
        m.advisories.iter().any(|a| &**a == "DLA-3325-1"),
        "{:?}",
        m.advisories
    );
    assert!(vulnerable(&src("Debian:10", "1.1.1n-0+deb10u4")).is_empty());
    // A bullseye fix version says nothing about Debian 12 (no bookworm entries in this snapshot),
    // and a release is required for distro advisories.
    assert!(src("Debian:12", "1.1.1n-0+deb11u3").is_empty());
    assert!(src("Debian", "1.1.1n-0+deb11u3").is_empty());
    // Debian's release code names are accepted in queries too.
    assert_eq!(
        vulnerable(&src("Debian:bullseye", "1.1.1n-0+deb11u3")).len(),
        5
    );
}

#[test]
fn distro_statuses_are_reported_as_such() {
    let Some(loaded) = common::all() else { return };
    let matcher = loaded.kb.matcher();
    // DSA-2275-1: "[lenny] - openoffice.org <not-affected> (Vulnerable code not present)".
    let ms = matcher.match_package(&PackageQuery::new(
        "Debian:5",
        "openoffice.org",
        "1:3.0.1-11+lenny1",
    ));
    let m = ms
        .iter()
        .find(|m| *m.vulnerability == *"CVE-2011-2685")
        .unwrap_or_else(|| panic!("{ms:?}"));
    assert_eq!(m.status, MatchStatus::NotAffected);
    assert!(!m.is_vulnerable());
    // DSA-3699-1: "[jessie] - virtualbox <end-of-life>".
    let ms = matcher.match_package(&PackageQuery::new(
        "Debian:8",
        "virtualbox",
        "4.3.36-dfsg-1+deb8u1",
    ));
    let m = ms
        .iter()
        .find(|m| m.advisories.iter().any(|a| &**a == "DSA-3699-1"))
        .unwrap_or_else(|| panic!("{ms:?}"));
    assert_eq!(m.status, MatchStatus::WillNotFix);
    assert!(m.is_vulnerable());
}

/// An Alpine installed database (`/lib/apk/db/installed`) excerpt for v3.11.
const APK_INSTALLED: &str = "\
P:libcrypto1.1
V:1.1.1d-r2
o:openssl

P:musl
V:1.1.23-r1
o:musl

P:busybox
V:1.31.1-r9
o:busybox
";

#[test]
fn alpine_installed_db_matches_secdb() {
    let Some(loaded) = common::all() else { return };
    let matcher = loaded.kb.matcher();
    let mut found = std::collections::BTreeMap::new();
    for para in APK_INSTALLED.split("\n\n") {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_default()
        };
        let q = PackageQuery::new("Alpine:v3.11", field("P:"), field("V:"))
            .with_source(field("o:"), None);
        found.insert(field("P:").to_owned(), matcher.match_package(&q));
    }
    // openssl 1.1.1d-r3 fixed CVE-2019-1551; d-r1 fixed CVE-2019-1547 (already in d-r2).
    let ssl = &found["libcrypto1.1"];
    assert_eq!(vulnerable(ssl), ["CVE-2019-1551"].into());
    assert_eq!(*ssl[0].fixed, ["1.1.1d-r3"]);
    assert_eq!(ssl[0].confidence, Confidence::DistroExact);
    assert_eq!(vulnerable(&found["musl"]), ["CVE-2019-14697"].into());
    assert!(vulnerable(&found["busybox"]).is_empty());
    // The same version on another release is not judged by v3.11's data.
    let other = matcher.match_package(
        &PackageQuery::new("Alpine:v3.19", "libcrypto1.1", "1.1.1d-r2")
            .with_source("openssl", None),
    );
    assert!(other.is_empty());
}

#[test]
fn os_packages_never_fall_back_to_nvd() {
    let Some(loaded) = common::all() else { return };
    // openssl 3.0.2 is in NVD's CVE-2022-3602 range, but a distro package is judged by the
    // distro's advisories only (backports are invisible to CPE ranges).
    let mut q = PackageQuery::new("Debian:12", "openssl", "3.0.2-0ubuntu1");
    q.cpe = Some("cpe:2.3:a:openssl:openssl:3.0.2:*:*:*:*:*:*:*".into());
    assert!(loaded.kb.matcher().match_package(&q).is_empty());
    // The same CPE for software without an ecosystem does reach NVD.
    q.ecosystem = None;
    q.name = "openssl".into();
    q.version = "3.0.2".into();
    let ms = loaded.kb.matcher().match_package(&q);
    assert!(
        ms.iter().any(|m| *m.vulnerability == *"CVE-2022-3602"
            && m.confidence == Confidence::CpeVendorProduct),
        "{ms:?}"
    );
}
