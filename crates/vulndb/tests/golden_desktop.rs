//! Desktop and server applications without an ecosystem, matched against NVD CPE
//! configurations: every row of `nvd/desktop-apps.tsv` must get exactly the CVEs its
//! `vulnerable_to` column lists from `nvdcve-2.0-desktop.json`, platform-dependent
//! configurations included.

mod common;

use std::collections::BTreeSet;

use zerotrace_vulndb::{Confidence, KnowledgeBase, MatchStatus, PackageQuery, Platform};

#[test]
fn desktop_apps_get_exactly_the_listed_cves() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut kb = KnowledgeBase::new();
    // Only the desktop document: the TSV's expectations are relative to its 135 records.
    let report = kb.import_paths(&[dir.join("nvd/nvdcve-2.0-desktop.json")], &mut |_| {});
    assert_eq!(report.records(), 135);
    let tsv = std::fs::read_to_string(dir.join("nvd/desktop-apps.tsv")).unwrap_or_default();
    let matcher = kb.matcher();
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [
            name,
            _publisher,
            version,
            platform,
            _vp,
            vulnerable_to,
            _note,
        ] = cols.as_slice()
        else {
            panic!("bad row {line}");
        };
        rows += 1;
        let expected: BTreeSet<String> = vulnerable_to
            .split(';')
            .filter(|c| *c != "-" && !c.is_empty())
            .map(str::to_owned)
            .collect();
        let q = PackageQuery::application(name, version, Platform::parse(platform));
        let matches = matcher.match_package(&q);
        for m in &matches {
            assert_eq!(m.confidence, Confidence::CpeHeuristic);
            assert_eq!(m.status, MatchStatus::Affected);
            assert!(m.reason.to_string().contains(&*m.vulnerability) && m.range.is_some());
        }
        let got: BTreeSet<String> = matches
            .into_iter()
            .map(|m| m.vulnerability.to_string())
            .collect();
        if got != expected {
            failures.push(format!(
                "{name} {version} ({platform}): missing {:?}, extra {:?}",
                expected.difference(&got).collect::<Vec<_>>(),
                got.difference(&expected).collect::<Vec<_>>()
            ));
        }
    }
    assert_eq!(rows, 64);
    assert!(
        failures.is_empty(),
        "{} of 64 rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn explicit_cpe_and_platform_split() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut kb = KnowledgeBase::new();
    kb.import_paths(&[dir.join("nvd/nvdcve-2.0-desktop.json")], &mut |_| {});
    let matcher = kb.matcher();
    // An inventory-supplied CPE is matched as given, with the stronger confidence label.
    let mut q = PackageQuery::application("whatever", "138.0.7204.96", Some(Platform::Windows));
    q.cpe = Some("cpe:2.3:a:google:chrome:138.0.7204.96:*:*:*:*:*:*:*".into());
    let on_windows: Vec<String> = matcher
        .match_package(&q)
        .into_iter()
        .map(|m| m.vulnerability.to_string())
        .collect();
    // On Windows 138.0.7204.96 is exactly CVE-2025-6554's fix; only CVE-2025-6558 remains.
    assert_eq!(on_windows, vec!["CVE-2025-6558"]);
    q.version = "138.0.7204.93".into();
    q.cpe = Some("cpe:2.3:a:google:chrome:138.0.7204.93:*:*:*:*:*:*:*".into());
    let windows: Vec<String> = matcher
        .match_package(&q)
        .into_iter()
        .map(|m| m.vulnerability.to_string())
        .collect();
    q.platform = Some(Platform::Macos);
    let macos: Vec<String> = matcher
        .match_package(&q)
        .into_iter()
        .map(|m| m.vulnerability.to_string())
        .collect();
    // Between the macOS (<.92) and Windows (<.96) bounds of CVE-2025-6554.
    assert!(
        windows.iter().any(|a| &**a == "CVE-2025-6554"),
        "{windows:?}"
    );
    assert!(!macos.iter().any(|a| &**a == "CVE-2025-6554"), "{macos:?}");
    q.platform = None;
    let nowhere = matcher.match_package(&q);
    assert!(
        nowhere.iter().all(|m| *m.vulnerability != *"CVE-2025-6554"),
        "AND configurations need the platform"
    );
    assert!(
        nowhere
            .iter()
            .all(|m| m.confidence == Confidence::CpeVendorProduct)
    );
}

#[test]
fn rejected_nvd_records_never_match() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cve = |id: &str, status: &str| {
        format!(
            r#"{{"cve":{{"id":"{id}","sourceIdentifier":"x","vulnStatus":"{status}","descriptions":[],
            "configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,
            "criteria":"cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*","versionEndExcluding":"200.0"}}]}}]}}]}}}}"#
        )
    };
    let doc = format!(
        r#"{{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{},{}]}}"#,
        cve("CVE-2099-0001", "Rejected"),
        cve("CVE-2099-0002", "Analyzed")
    );
    let path = tmp.path().join("nvd.json");
    std::fs::write(&path, doc).unwrap_or_else(|e| panic!("{e}"));
    let mut kb = KnowledgeBase::new();
    let report = kb.import_paths(&[path], &mut |_| {});
    assert_eq!(report.records(), 2);
    let ms = kb.matcher().match_package(&PackageQuery::application(
        "Google Chrome",
        "120.0",
        Some(Platform::Windows),
    ));
    let ids: Vec<&str> = ms.iter().map(|m| &*m.vulnerability).collect();
    assert_eq!(ids, vec!["CVE-2099-0002"]);
}
