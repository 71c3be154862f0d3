//! Hostile input: arbitrary bytes, truncated real files and oversized files give errors for
//! that file, never a panic, and never a package with an empty name or version.

use std::path::Path;

use proptest::prelude::*;
use zerotrace_inventory::error::ParseError;
use zerotrace_inventory::lockfile::{LOCKFILE_LIMIT, parse_lockfile, read_lockfile};
use zerotrace_inventory::os_release::parse_os_release;
use zerotrace_inventory::owned::OwnedFiles;
use zerotrace_inventory::sbom::{SBOM_LIMIT, SbomRead, parse_sbom, read_sbom};
use zerotrace_inventory::{Collected, Distro, LockfileKind, Package, SbomKind};
use zerotrace_inventory::{
    apk, cargo_auditable, dpkg, go_binary, java, macos, node, python, rpm, ruby, windows,
};

const KINDS: [LockfileKind; 8] = [
    LockfileKind::PackageLock,
    LockfileKind::YarnLock,
    LockfileKind::CargoLock,
    LockfileKind::PoetryLock,
    LockfileKind::Requirements,
    LockfileKind::GoMod,
    LockfileKind::GemfileLock,
    LockfileKind::ComposerLock,
];
const SBOMS: [SbomKind; 3] = [
    SbomKind::CycloneDxJson,
    SbomKind::CycloneDxXml,
    SbomKind::SpdxJson,
];

fn well_formed(packages: &[Package]) {
    for p in packages {
        assert!(
            !p.name.is_empty() && !p.version.is_empty() && !p.purl.is_empty(),
            "{p:?}"
        );
    }
}

fn debian() -> Distro {
    Distro::new(None, "debian", "Debian")
}

/// Runs every parser on `bytes`; returns how many of the byte-level parsers accepted them.
fn every_parser(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let mut accepted = 0;
    let _ = parse_os_release(&text);
    let mut out = Collected::default();
    dpkg::parse_status(bytes, "s", &debian(), dpkg::STATUS_LIMIT, &mut out);
    apk::parse_installed(
        bytes,
        "i",
        &debian(),
        apk::INSTALLED_LIMIT,
        &mut OwnedFiles::default(),
        &mut out,
    );
    java::read_archive(std::io::Cursor::new(bytes), "a.jar", 0, &mut out);
    let len = bytes.len() as u64;
    let _ = rpm::owned_paths(bytes, &mut OwnedFiles::default());
    let _ = rpm::ndb::for_each_blob(std::io::Cursor::new(bytes), len, &mut |_, _| {});
    let _ = rpm::bdb::for_each_blob(std::io::Cursor::new(bytes), len, &mut |_, _| {});
    let _ = rpm::sqlite::Database::open(std::io::Cursor::new(bytes), len)
        .and_then(|mut db| db.table_root("Packages"));
    well_formed(&out.packages);
    let singles: [Result<Vec<Package>, ParseError>; 8] = [
        python::parse_metadata(bytes, "m").map(|p| vec![p]),
        node::parse_package_json(bytes, "p").map(|p| vec![p]),
        ruby::parse_gemspec(&text, "g").map(|p| vec![p]),
        java::parse_pom_properties(bytes, "p").map(|p| vec![p]),
        macos::parse_info_plist(bytes, "i").map(|p| vec![p]),
        rpm::parse_header_blob(bytes, "r", &debian()).map(|p| vec![p]),
        cargo_auditable::parse_dep_v0(bytes, "c"),
        go_binary::parse_buildinfo(bytes).and_then(|b| b.packages("g")),
    ];
    for r in singles.into_iter().flatten() {
        well_formed(&r);
        accepted += 1;
    }
    if let Ok(apps) = windows::decode_reg(bytes).and_then(|t| windows::parse_reg_export(&t, "r")) {
        well_formed(&apps.packages);
    }
    for kind in KINDS {
        if let Ok(r) = parse_lockfile(kind, &text, "l") {
            well_formed(&r.packages);
        }
    }
    for kind in SBOMS {
        if let Ok(r) = parse_sbom(kind, bytes, "s") {
            well_formed(&r.packages);
        }
    }
    accepted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        every_parser(&bytes);
    }

    /// Text close to the formats' own syntax reaches deeper into the parsers than random bytes.
    #[test]
    fn format_like_text(text in "([A-Za-z0-9_@./:-]{0,12}|[ \t\"'=:,\\[\\]{}()<>#\\\\]|\n){0,200}") {
        every_parser(text.as_bytes());
    }
}

#[test]
fn binary_garbage_is_an_error_for_byte_parsers() {
    // Not UTF-8 anywhere, no format's magic.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| 0x80 | (i.wrapping_mul(2_654_435_761) >> 25) as u8)
        .collect();
    assert_eq!(every_parser(&garbage), 0);
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let path = dir.path().join("garbage.lock");
        std::fs::write(&path, &garbage).unwrap();
        let err = read_lockfile(&path, Some(kind)).unwrap_err();
        assert!(
            matches!(err.error, ParseError::Line { line: 1, .. }),
            "{kind:?}: {err}"
        );
    }
    let path = dir.path().join("garbage.json");
    std::fs::write(&path, &garbage).unwrap();
    assert!(read_sbom(&path).is_err());
}

fn shared(rel: &str) -> Option<Vec<u8>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    std::fs::read(&p).ok().or_else(|| {
        println!("skipped: {} not present", p.display());
        None
    })
}

#[test]
fn truncated_real_files() {
    if let Some(bytes) = shared("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.json") {
        for cut in (1..bytes.len() - 2).step_by(bytes.len() / 50) {
            assert!(
                parse_sbom(SbomKind::CycloneDxJson, &bytes[..cut], "s").is_err(),
                "cut at {cut}"
            );
        }
    }
    for rel in [
        "sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.xml",
        "sbom/cyclonedx/keycloak-10.0.2-maven.cdx-1.2.xml",
    ] {
        let Some(bytes) = shared(rel) else { continue };
        for cut in (1..bytes.len() - 10).step_by(bytes.len() / 50) {
            let r: Result<SbomRead, _> = parse_sbom(SbomKind::CycloneDxXml, &bytes[..cut], "s");
            assert!(r.is_err(), "{rel} cut at {cut}");
        }
    }
    if let Some(bytes) = shared("lockfiles/cargo/alacritty__alacritty__727531406c.lock") {
        let text = String::from_utf8(bytes).unwrap();
        let full = parse_lockfile(LockfileKind::CargoLock, &text, "l")
            .unwrap()
            .packages
            .len();
        // A TOML file cut between tables is still valid TOML: then it lists fewer packages.
        for cut in (1..text.len()).step_by(997) {
            let Some(prefix) = text.get(..cut) else {
                continue;
            };
            if let Ok(r) = parse_lockfile(LockfileKind::CargoLock, prefix, "l") {
                assert!(r.packages.len() <= full);
                well_formed(&r.packages);
            }
        }
    }
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("Cargo.lock");
    std::fs::File::create(&lock)
        .unwrap()
        .set_len(LOCKFILE_LIMIT + 1)
        .unwrap();
    assert!(matches!(
        read_lockfile(&lock, None).unwrap_err().error,
        ParseError::TooLarge { .. }
    ));
    let bom = dir.path().join("bom.json");
    std::fs::File::create(&bom)
        .unwrap()
        .set_len(SBOM_LIMIT + 1)
        .unwrap();
    assert!(matches!(
        read_sbom(&bom).unwrap_err().error,
        ParseError::TooLarge { .. }
    ));
    let mut out = Collected::default();
    let status = "Package: a\nStatus: install ok installed\nVersion: 1\n\n".repeat(1000);
    dpkg::parse_status(status.as_bytes(), "s", &debian(), 4096, &mut out);
    assert!(out.packages.len() < 100);
    assert!(matches!(
        out.errors.last().map(|e| &e.error),
        Some(ParseError::TooLarge { limit: 4096, .. })
    ));
}
