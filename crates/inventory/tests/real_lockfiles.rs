//! Every real `Cargo.lock` in the shared data parses, and the counts match an independent
//! line-based count of the same file.

use std::path::{Path, PathBuf};

use zerotrace_inventory::LockfileKind;
use zerotrace_inventory::lockfile::read_lockfile;

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lockfiles/cargo");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: shared data not beside the repository ({})",
            dir.display()
        );
        None
    }
}

#[test]
fn every_shared_cargo_lock_parses_with_matching_counts() {
    let Some(dir) = data_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 56, "the README lists 56 files");
    let mut total = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let entries = text.lines().filter(|l| *l == "[[package]]").count();
        let crates_io = text
            .lines()
            .filter(|l| *l == "source = \"registry+https://github.com/rust-lang/crates.io-index\"")
            .count();
        let read = read_lockfile(&path, Some(LockfileKind::CargoLock)).unwrap();
        assert_eq!(
            read.packages.len() + read.skipped.len(),
            entries,
            "{}",
            path.display()
        );
        assert_eq!(read.packages.len(), crates_io, "{}", path.display());
        // purl percent-encodes `+` in versions such as `0.9.0+wasi-snapshot-preview1`.
        assert!(
            read.packages.iter().all(
                |p| p.purl == format!("pkg:cargo/{}@{}", p.name, p.version.replace('+', "%2B"))
            )
        );
        total += entries;
    }
    assert_eq!(total, 16_269, "the README's total");
}

#[test]
fn kind_is_taken_from_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Cargo.lock");
    std::fs::write(&path, "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"sparse+https://index.crates.io/\"\n").unwrap();
    let read = read_lockfile(&path, None).unwrap();
    assert_eq!(
        (read.kind, read.packages.len()),
        (LockfileKind::CargoLock, 1)
    );
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "x").unwrap();
    assert!(
        read_lockfile(&other, None)
            .unwrap_err()
            .to_string()
            .contains("not a known lockfile name")
    );
}
