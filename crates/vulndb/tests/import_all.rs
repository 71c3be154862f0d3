//! Importing every file of `shared/data/vuln`: formats recognized, counts as the data README
//! states them, malformed records reported by id and skipped.

mod common;

use zerotrace_vulndb::{Format, Source};

#[test]
fn every_feed_file_is_recognized_and_counted() {
    let Some(loaded) = common::all() else { return };
    let report = &loaded.report;
    for f in &report.files {
        eprintln!(
            "{:60} {:>22} {:>7} records {:>4} skipped {}",
            f.path.display(),
            f.format.map_or("-", |x| x.as_str()),
            f.records,
            f.problems.len(),
            f.failure
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        for e in f.problems.iter().take(40) {
            eprintln!("    {e}");
        }
    }
    assert!(
        report.files.iter().all(|f| f.failure.is_none()),
        "a file failed"
    );
    let by_name = |name: &str| {
        report
            .files
            .iter()
            .find(|f| f.path.file_name().and_then(|n| n.to_str()) == Some(name))
            .unwrap_or_else(|| panic!("{name} not imported"))
    };
    // Counts from shared/data/vuln/README.md.
    assert_eq!(by_name("PyPI.zip").records, 2_663);
    assert_eq!(by_name("crates.io.zip").records, 1_206);
    assert_eq!(by_name("Go.zip").records, 4_293);
    assert_eq!(by_name("Maven.zip").records, 356);
    assert_eq!(by_name("Ubuntu.zip").records, 2);
    assert_eq!(by_name("nvdcve-2.0-sample.json").records, 37);
    assert_eq!(by_name("nvdcve-2.0-desktop.json").records, 135);
    assert_eq!(
        by_name("known_exploited_vulnerabilities.json").records,
        1_404
    );
    assert_eq!(by_name("epss_scores.csv.gz").records, 360_142);
    assert_eq!(by_name("rubysec-advisories.json.gz").records, 1_381);
    assert_eq!(by_name("nodejs-security-wg-npm.json").records, 467);
    assert_eq!(by_name("nodejs-security-wg-core.json").records, 171);
    assert_eq!(by_name("DSA-list").format, Some(Format::DebianDsaList));
    assert_eq!(by_name("DSA-list").records, 5_406);
    assert_eq!(by_name("DLA-list").records, 3_534);
    assert_eq!(by_name("CPE-list").format, Some(Format::DebianCpeList));
    assert_eq!(
        by_name("alpine-secdb.zip").format,
        Some(Format::AlpineSecdbZip)
    );
    assert_eq!(
        report.skipped(),
        0,
        "no record of the real data should be skipped"
    );
    // Real quirks kept with the field ignored: heimdal's `7.4.0-r0: null` fix list in Alpine
    // v3.6, and NSWG-ECO-504's vector with `I:U/A:U` (not CVSS values).
    let warnings: Vec<String> = report
        .files
        .iter()
        .flat_map(|f| &f.problems)
        .map(|p| p.record.clone())
        .collect();
    assert_eq!(
        warnings,
        vec![
            "v3.6/main.json heimdal 7.4.0-r0".to_owned(),
            "NSWG-ECO-504".to_owned()
        ]
    );

    let status = loaded.kb.status();
    // 8,516 unique OSV ids (MANIFEST.tsv); the same GHSA in several zips is one advisory.
    assert_eq!(status.advisories.get(&Source::Osv), Some(&8_516));
    assert_eq!(status.advisories.get(&Source::DebianDsa), Some(&5_406));
    assert_eq!(status.kev, 1_404);
    assert_eq!(status.epss, 360_142);
    assert!(status.debian_cpe > 2_000, "{status:?}");
    // Withdrawn: PyPI 10, crates.io 13, Go 17 (README).
    let withdrawn = loaded
        .kb
        .advisories()
        .filter(|a| a.withdrawn.is_some())
        .count();
    assert_eq!(withdrawn, 40);
}

#[test]
fn kev_and_epss_attach_to_vulnerabilities() {
    let Some(loaded) = common::all() else { return };
    let kb = &loaded.kb;
    let log4shell = kb
        .kev_entry("CVE-2021-44228")
        .unwrap_or_else(|| panic!("log4shell not in KEV"));
    assert_eq!(log4shell.date_added, "2021-12-10");
    assert!(log4shell.known_ransomware_use());
    let epss = kb
        .epss("CVE-2021-44228")
        .unwrap_or_else(|| panic!("no EPSS for log4shell"));
    assert!(epss.score > 0.9 && epss.percentile > 0.99, "{epss:?}");
    let view = kb
        .show("CVE-2023-4863")
        .unwrap_or_else(|| panic!("CVE-2023-4863 unknown"));
    assert!(view.vulnerability.kev);
    assert!(view.kev.is_some());
    assert!(view.advisories.iter().any(|a| a.source == Source::Nvd));
}
