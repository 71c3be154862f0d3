//! Re-importing newer files replaces advisories by `modified` and reports what moved, down to
//! the `(ecosystem, name)` keys the pipeline must re-match.

mod common;

use zerotrace_vulndb::{KnowledgeBase, PackageKey, PackageQuery, Source};

fn record(modified: &str, fixed: &str, withdrawn: bool) -> String {
    let withdrawn = if withdrawn {
        r#""withdrawn": "2031-01-01T00:00:00Z","#
    } else {
        ""
    };
    format!(
        r#"{{"id": "PYSEC-2010-12", "modified": "{modified}", {withdrawn}
  "aliases": ["CVE-2010-3082", "GHSA-fxpg-gg9g-76gj"],
  "affected": [{{"package": {{"name": "django", "ecosystem": "PyPI"}},
    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "1.2"}}, {{"fixed": "{fixed}"}}]}}]}}]}}"#
    )
}

fn hits(kb: &KnowledgeBase, version: &str) -> bool {
    kb.matcher()
        .match_package(&PackageQuery::new("PyPI", "Django", version))
        .iter()
        .any(|m| m.advisories.iter().any(|a| &**a == "PYSEC-2010-12"))
}

#[test]
fn reimport_reports_added_updated_withdrawn_and_keys() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut kb = KnowledgeBase::new();
    let zip = dir.join("osv/PyPI.zip");
    let first = kb.import_paths(std::slice::from_ref(&zip), &mut |_| {});
    assert_eq!(first.changes.added.len(), 2_663);
    assert!(hits(&kb, "1.2.1") && !hits(&kb, "1.2.2"));

    // The same file again: nothing moved.
    let again = kb.import_paths(std::slice::from_ref(&zip), &mut |_| {});
    assert!(again.changes.is_empty(), "{:?}", again.changes.updated);
    assert_eq!(again.changes.unchanged, 2_663);
    assert!(again.changes.packages.is_empty());

    // A newer record with a later fix: updated, and django is the key to re-match.
    let file = tmp.path().join("PYSEC-2010-12.json");
    let write = |text: String| std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    write(record("2030-01-01T00:00:00Z", "1.2.3", false));
    let newer = kb.import_paths(std::slice::from_ref(&file), &mut |_| {});
    assert_eq!(
        newer.changes.updated,
        vec![(Source::Osv, "PYSEC-2010-12".to_owned())]
    );
    let key = PackageKey {
        ecosystem: "pypi".into(),
        name: "django".into(),
    };
    assert_eq!(
        newer.changes.packages.iter().collect::<Vec<_>>(),
        vec![&key]
    );
    assert_eq!(
        PackageQuery::new("PyPI", "Django", "1.2.2").package_key(),
        Some(key.clone())
    );
    assert!(hits(&kb, "1.2.2") && !hits(&kb, "1.2.3"));

    // An older copy does not roll it back.
    write(record("2020-01-01T00:00:00Z", "1.2.2", false));
    let older = kb.import_paths(std::slice::from_ref(&file), &mut |_| {});
    assert!(older.changes.is_empty());
    assert!(hits(&kb, "1.2.2"));

    // Withdrawn upstream: reported as withdrawn, and it stops matching.
    write(record("2031-01-01T00:00:00Z", "1.2.3", true));
    let gone = kb.import_paths(std::slice::from_ref(&file), &mut |_| {});
    assert_eq!(
        gone.changes.withdrawn,
        vec![(Source::Osv, "PYSEC-2010-12".to_owned())]
    );
    assert!(gone.changes.packages.contains(&key));
    assert!(!hits(&kb, "1.2.1"));
    // `show` still explains it.
    let view = kb
        .show("CVE-2010-3082")
        .unwrap_or_else(|| panic!("unknown"));
    assert!(
        view.advisories
            .iter()
            .any(|a| a.id == "PYSEC-2010-12" && a.withdrawn.is_some())
    );

    // A new advisory: added, with its key.
    let new_file = tmp.path().join("NEW-1.json");
    std::fs::write(
        &new_file,
        r#"{"id":"NEW-1","modified":"2030-01-01T00:00:00Z","affected":[{"package":{"name":"Zope.Interface","ecosystem":"PyPI"},"versions":["1.0"]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let added = kb.import_paths(std::slice::from_ref(&new_file), &mut |_| {});
    assert_eq!(added.changes.added, vec![(Source::Osv, "NEW-1".to_owned())]);
    assert!(added.changes.packages.contains(&PackageKey {
        ecosystem: "pypi".into(),
        name: "zope-interface".into()
    }));
    let ms = kb
        .matcher()
        .match_package(&PackageQuery::new("PyPI", "zope_interface", "1.0"));
    assert_eq!(
        ms.iter().map(|m| &*m.vulnerability).collect::<Vec<_>>(),
        vec!["NEW-1"]
    );
}

#[test]
fn kev_and_epss_are_snapshots() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut kb = KnowledgeBase::new();
    let report = kb.import_paths(&[dir.join("kev"), dir.join("epss")], &mut |_| {});
    assert!(report.changes.kev_replaced && report.changes.epss_replaced);
    assert!(report.changes.added.is_empty());
    // The schema file beside the catalog is documentation, not a feed.
    assert_eq!(
        report.files.len(),
        2,
        "{:?}",
        report.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    assert_eq!(kb.status().kev, 1_404);
}
