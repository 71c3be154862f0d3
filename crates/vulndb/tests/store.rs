//! The persisted file: a round trip keeps every answer, and damaged files are refused cleanly.

mod common;

use zerotrace_vulndb::{KnowledgeBase, PackageQuery, Platform, StoreError};

#[test]
fn save_load_round_trip_keeps_matches() {
    let Some(loaded) = common::all() else { return };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = tmp.path().join(zerotrace_vulndb::store_file::FILE_NAME);
    loaded.kb.save(&path).unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(&path)
        .map(|m| m.len())
        .unwrap_or_default();
    assert!(size > 1_000_000 && size < 100_000_000, "{size}");
    let back = KnowledgeBase::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.status(), loaded.kb.status());
    let queries = [
        PackageQuery::new("PyPI", "django", "1.2.1"),
        PackageQuery::new("Debian:11", "libssl1.1", "1.1.1n-0+deb11u3")
            .with_source("openssl", None),
        PackageQuery::new("Alpine:v3.11", "musl", "1.1.23-r1"),
        PackageQuery::new("npm", "bassmaster", "1.5.1"),
        PackageQuery::application("Google Chrome", "120.0.6099.109", Some(Platform::Windows)),
    ];
    for q in &queries {
        let a = loaded.kb.matcher().match_package(q);
        assert!(!a.is_empty(), "{q:?}");
        assert_eq!(a, back.matcher().match_package(q), "{q:?}");
    }
    assert_eq!(
        back.epss("CVE-2021-44228"),
        loaded.kb.epss("CVE-2021-44228")
    );
    assert_eq!(back.debian_cpe("openssl"), loaded.kb.debian_cpe("openssl"));
}

#[test]
fn damaged_files_are_refused() {
    let Some(loaded) = common::all() else { return };
    let bytes = loaded.kb.to_bytes().unwrap_or_else(|e| panic!("{e}"));
    let origin = std::path::Path::new("test.bin");
    assert!(matches!(
        KnowledgeBase::from_bytes(b"", origin),
        Err(StoreError::BadMagic { .. })
    ));
    assert!(matches!(
        KnowledgeBase::from_bytes(b"NOTADBXX\x01\0\0\0", origin),
        Err(StoreError::BadMagic { .. })
    ));
    let mut newer = bytes.clone();
    newer[8] = 99;
    let err = KnowledgeBase::from_bytes(&newer, origin)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("test.bin") && err.contains("version 99"),
        "{err}"
    );
    for cut in [12, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(
                KnowledgeBase::from_bytes(&bytes[..cut], origin),
                Err(StoreError::Decode { .. })
            ),
            "cut at {cut}"
        );
    }
    let missing = KnowledgeBase::load(std::path::Path::new("/nonexistent/zerotrace-vulndb.bin"))
        .err()
        .map(|e| e.to_string());
    assert!(missing.is_some_and(|m| m.contains("/nonexistent/zerotrace-vulndb.bin")));
}

#[test]
fn knowledge_base_is_shareable_across_worker_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<KnowledgeBase>();
    shareable::<zerotrace_vulndb::Match>();
    let Some(loaded) = common::all() else { return };
    let q = PackageQuery::new("PyPI", "django", "1.2.1");
    let expected = loaded.kb.matcher().match_package(&q);
    // Ranges compile lazily on first use; concurrent first uses must agree.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| loaded.kb.matcher().match_package(&q)))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap_or_default(), expected);
        }
    });
}
