//! Hostile input: importers and parsers never panic on garbage and name what they reject.

use std::io::Write;

use proptest::prelude::*;
use zerotrace_vulndb::advisory::Source;
use zerotrace_vulndb::cpe::Cpe;
use zerotrace_vulndb::import::{self, Batch};
use zerotrace_vulndb::{ImportError, KnowledgeBase, names};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn osv_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = import::osv::parse_record(&bytes);
    }

    #[test]
    fn osv_like_json_never_panics(id in ".{0,40}", eco in ".{0,20}", name in ".{0,20}", ev in ".{0,20}", kind in "(SEMVER|ECOSYSTEM|GIT|X)") {
        let doc = serde_json::json!({"id": id, "affected": [{"package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": kind, "events": [{"introduced": ev}, {"fixed": ev}]}], "versions": [ev]}]});
        if let Ok(adv) = import::osv::parse_record(doc.to_string().as_bytes()) {
            // Whatever parsed must also be matchable without panicking.
            let mut kb = KnowledgeBase::new();
            let tmp = tempfile::NamedTempFile::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
            std::fs::write(tmp.path(), doc.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            kb.import_paths(&[tmp.path()], &mut |_| {});
            let _ = kb.matcher().match_package(&zerotrace_vulndb::PackageQuery::new(&adv.affected.first().map(|a| a.ecosystem.clone()).unwrap_or_default(), &name, &ev));
        }
    }

    #[test]
    fn nvd_items_never_panic(s in ".{0,300}") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
            let _ = import::nvd::parse_item(v);
        }
        let doc = serde_json::json!({"cve": {"id": "CVE-1-1", "configurations": [{"nodes": [{"operator": "OR", "cpeMatch": [{"vulnerable": true, "criteria": s}]}]}]}});
        let _ = import::nvd::parse_item(doc);
    }

    #[test]
    fn text_parsers_never_panic(s in "\\PC{0,400}") {
        let _ = Cpe::parse(&s);
        let _ = zerotrace_vulndb::cvss::parse(&s);
        let _ = names::parse_purl(&s);
        let _ = names::normalize_name("pypi", &s);
        let _ = names::normalize_release("debian", &s);
        let _ = names::normalize_release("alpine", &s);
        let _ = zerotrace_vulndb::cpe::compare_versions(&s, "1.0");
        let _ = zerotrace_vulndb::desktop::application_cpes(&s, &s, None);
        let mut batch = Batch::default();
        import::debian::parse_list(&s, Source::DebianDsa, std::path::Path::new("DSA-list"), &mut batch);
        import::alpine::parse_document(s.as_bytes(), std::path::Path::new("secdb.json"), "m", &mut batch);
    }

    #[test]
    fn store_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut framed = b"ZTVULNDB\x01\0\0\0".to_vec();
        framed.extend_from_slice(&bytes);
        prop_assert!(KnowledgeBase::from_bytes(&framed, std::path::Path::new("x")).is_err() || bytes.len() < 8);
        let _ = KnowledgeBase::from_bytes(&bytes, std::path::Path::new("x"));
    }
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    f.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn damaged_feed_files_fail_alone_and_name_themselves() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = tmp.path();
    let good = write(d, "GOOD-1.json", br#"{"id":"GOOD-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0"]}]}"#);
    let truncated_nvd = write(d, "nvd.json", br#"{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{"cve":{"id":"CVE-2020-1","sourceIdentifier":"x","descriptions":[]}},{"cve":{"id":"CVE-2020-2","#);
    let wrong_types = write(d, "nvd2.json", br#"{"format":"NVD_CVE","vulnerabilities":[{"cve":{"id":"CVE-2020-3","sourceIdentifier":"x","configurations":"nope"}},{"cve":{"id":"CVE-2020-4","sourceIdentifier":"x"}}]}"#);
    let zip = write(
        d,
        "broken.zip",
        b"PK\x03\x04 this is not really a zip archive",
    );
    let binary = write(d, "random.bin", &[0u8, 159, 146, 150, 255, 1, 2, 3]);
    let gz = write(d, "scores.csv.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    let epss = write(d, "epss.csv", b"#model_version:x\ncve,epss,percentile\nCVE-2020-1,0.5,0.9\nCVE-2020-2,abc,0.1\nnot-a-cve,0.1,0.1\nCVE-2020-3,7,0.1\n");
    let huge = write(
        d,
        "HUGE-1.json",
        format!(r#"{{"affected":[],"id":"{}"}}"#, "X".repeat(1 << 20)).as_bytes(),
    );
    let mut kb = KnowledgeBase::new();
    let report = kb.import_paths(
        &[
            good,
            truncated_nvd.clone(),
            wrong_types.clone(),
            zip.clone(),
            binary.clone(),
            gz,
            epss.clone(),
            huge.clone(),
        ],
        &mut |_| {},
    );
    let file = |p: &std::path::Path| {
        report
            .files
            .iter()
            .find(|f| f.path == p)
            .unwrap_or_else(|| panic!("{} not reported", p.display()))
    };
    // The truncated NVD document keeps the record before the damage and fails with its name.
    let t = file(&truncated_nvd);
    assert_eq!(
        t.records, 0,
        "a file that fails contributes nothing to the count"
    );
    assert!(
        matches!(t.failure, Some(ImportError::Json { .. })),
        "{:?}",
        t.failure
    );
    assert!(
        t.failure
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("nvd.json")
    );
    // Wrong types inside one record: that record is skipped with its id, the next one loads.
    let w = file(&wrong_types);
    assert_eq!(w.records, 1);
    assert_eq!(w.problems.len(), 1);
    assert_eq!(w.problems[0].record, "CVE-2020-3");
    assert!(matches!(file(&zip).failure, Some(ImportError::Zip { .. })));
    assert!(matches!(
        file(&binary).failure,
        Some(ImportError::Unrecognized { .. })
    ));
    let e = file(&epss);
    assert_eq!(e.records, 1);
    assert_eq!(
        e.problems
            .iter()
            .map(|p| p.record.as_str())
            .collect::<Vec<_>>(),
        vec!["CVE-2020-2", "line 5", "CVE-2020-3"]
    );
    let h = file(&huge);
    assert_eq!(h.records, 0);
    assert!(
        h.problems
            .first()
            .is_some_and(|p| p.message.contains("`id`")),
        "{:?}",
        h.problems
    );
    assert!(
        kb.advisory(Source::Osv, "GOOD-1").is_some(),
        "the good file still loads"
    );
}
