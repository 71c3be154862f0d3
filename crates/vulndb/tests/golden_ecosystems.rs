//! Golden tests on real advisories, per ecosystem: a known vulnerable version matches, the fixed
//! version does not, withdrawn advisories never do; the authority rule and one-finding-per-
//! vulnerability hold.

mod common;

use zerotrace_vulndb::{Confidence, Match, MatchStatus, PackageQuery};

fn matches(q: &PackageQuery) -> Vec<Match> {
    let Some(loaded) = common::all() else {
        return Vec::new();
    };
    loaded.kb.matcher().match_package(q)
}

fn ids(ms: &[Match]) -> Vec<&str> {
    ms.iter().map(|m| &*m.vulnerability).collect()
}

/// (ecosystem, package, vulnerable version, fixed version, advisory, vulnerability id)
const CASES: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "PyPI",
        "Django",
        "1.2.1",
        "1.2.2",
        "PYSEC-2010-12",
        "CVE-2010-3082",
    ),
    (
        "PyPI",
        "django",
        "1.8.1",
        "1.8.2",
        "PYSEC-2015-19",
        "CVE-2015-3982",
    ),
    (
        "crates.io",
        "hyper",
        "0.9.3",
        "0.9.4",
        "RUSTSEC-2016-0002",
        "CVE-2016-10932",
    ),
    (
        "crates.io",
        "openssl",
        "0.8.3",
        "0.9.0",
        "RUSTSEC-2016-0001",
        "CVE-2016-10931",
    ),
    (
        "Go",
        "golang.org/x/net",
        "0.50.0",
        "0.51.0",
        "GO-2026-4559",
        "CVE-2026-27141",
    ),
    (
        "Maven",
        "junit:junit",
        "4.12",
        "4.13.1",
        "GHSA-269g-pwp5-87pp",
        "CVE-2020-15250",
    ),
    (
        "Maven",
        "com.fasterxml.jackson.core:jackson-databind",
        "2.9.10.3",
        "2.9.10.4",
        "GHSA-27xj-rqx5-2255",
        "CVE-2020-11619",
    ),
    (
        "npm",
        "bassmaster",
        "1.5.1",
        "1.5.2",
        "NSWG-ECO-1",
        "CVE-2014-7205",
    ),
    (
        "RubyGems",
        "RedCloth",
        "4.2.9",
        "4.3.0",
        "RUBYSEC-RedCloth-CVE-2012-6684",
        "CVE-2012-6684",
    ),
    (
        "Ubuntu:14.04:LTS",
        "procmail",
        "3.22-21",
        "3.22-21ubuntu0.1",
        "USN-2340-1",
        "USN-2340-1",
    ),
    (
        "Ubuntu:22.04:LTS",
        "pam",
        "1.4.0-11ubuntu2",
        "1.4.0-11ubuntu2.4",
        "CVE-2024-22365",
        "CVE-2024-22365",
    ),
];

#[test]
fn vulnerable_version_matches_fixed_does_not() {
    if common::all().is_none() {
        return;
    }
    for &(eco, pkg, bad, good, advisory, vuln) in CASES {
        let hit = matches(&PackageQuery::new(eco, pkg, bad));
        let m = hit
            .iter()
            .find(|m| *m.vulnerability == *vuln)
            .unwrap_or_else(|| panic!("{eco} {pkg} {bad}: {vuln} not found in {:?}", ids(&hit)));
        assert!(
            m.advisories.iter().any(|a| **a == *advisory),
            "{vuln}: {:?}",
            m.advisories
        );
        assert_eq!(m.status, MatchStatus::Affected);
        let distro = eco.starts_with("Ubuntu");
        assert_eq!(
            m.confidence,
            if distro {
                Confidence::DistroExact
            } else {
                Confidence::EcosystemExact
            }
        );
        assert!(m.reason.to_string().contains(advisory), "{}", m.reason);
        let miss = matches(&PackageQuery::new(eco, pkg, good));
        assert!(
            miss.iter().all(|m| *m.vulnerability != *vuln),
            "{eco} {pkg} {good} still matches {vuln}"
        );
    }
}

#[test]
fn fixed_versions_and_ranges_are_reported() {
    let Some(_) = common::all() else { return };
    let hit = matches(&PackageQuery::new("PyPI", "Django", "1.2.1"));
    let m = hit
        .iter()
        .find(|m| *m.vulnerability == *"CVE-2010-3082")
        .unwrap_or_else(|| panic!("{:?}", ids(&hit)));
    assert_eq!(*m.fixed, ["1.2.2"]);
    assert_eq!(m.range.as_deref(), Some(">=1.2 <1.2.2 (ECOSYSTEM)"));
    // The PYSEC record aliases the CVE and the GHSA: one finding with both names.
    assert!(
        m.aliases.iter().any(|a| **a == *"GHSA-fxpg-gg9g-76gj")
            && m.aliases.iter().any(|a| **a == *"PYSEC-2010-12")
    );
}

#[test]
fn one_vulnerability_is_one_finding() {
    let Some(loaded) = common::all() else { return };
    // Several feeds about one package: duplicates across sources never surface twice.
    for q in [
        PackageQuery::new("PyPI", "django", "1.2"),
        PackageQuery::new("RubyGems", "rails", "4.2.0"),
        PackageQuery::new("npm", "lodash", "4.17.4"),
        PackageQuery::new("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
    ] {
        let ms = loaded.kb.matcher().match_package(&q);
        let mut seen = std::collections::HashSet::new();
        for m in &ms {
            assert!(
                seen.insert(&m.vulnerability),
                "{} twice for {q:?}",
                m.vulnerability
            );
            for a in m.aliases.iter() {
                assert!(
                    !ms.iter().any(|o| o.vulnerability == *a),
                    "{a} is both an alias and a finding"
                );
            }
        }
    }
}

#[test]
fn withdrawn_advisories_never_match() {
    let Some(loaded) = common::all() else { return };
    let kb = &loaded.kb;
    let withdrawn: Vec<_> = kb.advisories().filter(|a| a.withdrawn.is_some()).collect();
    assert_eq!(withdrawn.len(), 40);
    let mut probed = 0;
    for adv in withdrawn {
        for aff in &adv.affected {
            // Every version the withdrawn record names, plus a low version inside `introduced: 0`.
            let mut versions: Vec<String> = aff.versions.clone();
            for r in &aff.ranges {
                for e in &r.events {
                    if let zerotrace_vulndb::advisory::RangeEvent::Introduced(v)
                    | zerotrace_vulndb::advisory::RangeEvent::LastAffected(v) = e
                    {
                        versions.push(if v == "0" {
                            "0.0.1".to_owned()
                        } else {
                            v.clone()
                        });
                    }
                }
            }
            for v in versions {
                let ms = kb.matcher().match_package(&PackageQuery::new(
                    &aff.ecosystem,
                    &aff.package,
                    &v,
                ));
                probed += 1;
                assert!(
                    ms.iter()
                        .all(|m| !m.advisories.iter().any(|a| **a == *adv.id)),
                    "withdrawn {} matched {} {v}",
                    adv.id,
                    aff.package
                );
            }
        }
    }
    assert!(probed >= 40, "{probed}");
    // Spot check: PYSEC-2019-144 (arrayfire) is withdrawn; nothing else covers arrayfire.
    assert!(matches(&PackageQuery::new("PyPI", "arrayfire", "3.5.0")).is_empty());
}

#[test]
fn every_introduced_version_matches_its_advisory() {
    let Some(loaded) = common::all() else { return };
    let kb = &loaded.kb;
    let matcher = kb.matcher();
    let (mut checked, mut failed) = (0usize, Vec::new());
    for adv in kb
        .advisories()
        .filter(|a| a.source == zerotrace_vulndb::Source::Osv && !a.is_retracted())
    {
        for aff in &adv.affected {
            for r in &aff.ranges {
                if r.kind == zerotrace_vulndb::advisory::RangeKind::Git {
                    continue;
                }
                for e in &r.events {
                    let zerotrace_vulndb::advisory::RangeEvent::Introduced(v) = e else {
                        continue;
                    };
                    // Empty intervals in real data (RUSTSEC-2024-0399: introduced 0.23.0, fixed
                    // 0.23.0) affect nothing; OSV sorts such a pair to "not affected".
                    let also_fixed = r.events.iter().any(
                        |o| matches!(o, zerotrace_vulndb::advisory::RangeEvent::Fixed(f) if f == v),
                    );
                    if v == "0" || also_fixed {
                        continue;
                    }
                    checked += 1;
                    let ms =
                        matcher.match_package(&PackageQuery::new(&aff.ecosystem, &aff.package, v));
                    if !ms
                        .iter()
                        .any(|m| m.advisories.iter().any(|a| **a == *adv.id))
                    {
                        failed.push(format!("{} {} {} {v}", adv.id, aff.ecosystem, aff.package));
                    }
                }
            }
        }
    }
    eprintln!(
        "introduced versions checked: {checked}, failed: {}",
        failed.len()
    );
    assert!(checked > 3_000, "{checked}");
    assert!(
        failed.is_empty(),
        "{} failures, first: {:?}",
        failed.len(),
        failed.iter().take(20).collect::<Vec<_>>()
    );
}

#[test]
fn purls_and_name_spellings_reach_the_same_key() {
    let Some(loaded) = common::all() else { return };
    let matcher = loaded.kb.matcher();
    let by_purl = |purl: &str| {
        let q = PackageQuery {
            purl: Some(purl.to_owned()),
            ..PackageQuery::default()
        };
        matcher
            .match_package(&q)
            .into_iter()
            .map(|m| m.vulnerability.to_string())
            .collect::<Vec<_>>()
    };
    assert!(by_purl("pkg:pypi/Django@1.2.1").contains(&"CVE-2010-3082".to_owned()));
    assert!(by_purl("pkg:maven/junit/junit@4.12").contains(&"CVE-2020-15250".to_owned()));
    assert!(by_purl("pkg:cargo/hyper@0.9.3").contains(&"CVE-2016-10932".to_owned()));
    assert!(by_purl("pkg:golang/golang.org/x/net@0.50.0").contains(&"CVE-2026-27141".to_owned()));
    assert!(
        by_purl("pkg:apk/alpine/musl@1.1.23-r1?distro=3.11.6")
            .contains(&"CVE-2019-14697".to_owned())
    );
    assert!(
        by_purl("pkg:pypi/Django@1.2.2")
            .iter()
            .all(|v| v != "CVE-2010-3082")
    );
    // PEP 503: the same project however it is spelled.
    let spelled = |name: &str| {
        matcher
            .match_package(&PackageQuery::new("PyPI", name, "1.2.1"))
            .len()
    };
    assert_eq!(spelled("DJANGO"), spelled("django"));
    assert!(spelled("django") > 0);
}
