//! Lockfiles written by npm, yarn (classic and berry), poetry and pip (see
//! `tests/data/lockfiles/README.md`), checked against the tools' own listings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use zerotrace_inventory::LockfileKind;
use zerotrace_inventory::lockfile::{LockfileRead, read_lockfile};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/lockfiles")
        .join(name)
}

fn listing(name: &str) -> BTreeSet<String> {
    std::fs::read_to_string(data(name))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn name_versions(read: &LockfileRead) -> BTreeSet<String> {
    read.packages
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect()
}

/// npm resolved one `package.json` three times; every lockfile version lists what `npm ls` does.
#[test]
fn package_lock_versions_agree_with_npm_ls() {
    let expected = listing("npm-ls.txt");
    assert_eq!(expected.len(), 110);
    for file in [
        "package-lock.v1.json",
        "package-lock.v2.json",
        "package-lock.v3.json",
    ] {
        let read = read_lockfile(&data(file), Some(LockfileKind::PackageLock)).unwrap();
        assert_eq!(name_versions(&read), expected, "{file}");
        assert_eq!(
            read.packages.len(),
            expected.len(),
            "{file}: one package per name@version"
        );
        assert!(read.skipped.is_empty(), "{file}: {:?}", read.skipped);
    }
}

/// yarn classic and berry resolved the same `package.json`: they agree with each other, and with
/// npm on every package both resolved (the resolvers may pick different versions of a range).
#[test]
fn yarn_lockfiles_agree() {
    let v1 = read_lockfile(&data("yarn.v1.lock"), Some(LockfileKind::YarnLock)).unwrap();
    let berry = read_lockfile(&data("yarn.berry.lock"), Some(LockfileKind::YarnLock)).unwrap();
    assert_eq!(name_versions(&v1), name_versions(&berry));
    assert!(v1.skipped.is_empty());
    // Berry lists the project itself as `zt-fixture@workspace:.`.
    let skipped: Vec<&str> = berry.skipped.iter().map(|s| s.entry.as_str()).collect();
    assert_eq!(skipped, ["zt-fixture@workspace:."]);
    // Independent count: entries with a `resolution:` line, less the workspace and the
    // `patch:` entry of typescript, which is the same name@version as its `npm:` entry.
    let text = std::fs::read_to_string(data("yarn.berry.lock")).unwrap();
    let resolutions = text
        .lines()
        .filter(|l| l.starts_with("  resolution: "))
        .count();
    let patches = text
        .lines()
        .filter(|l| l.starts_with("  resolution: ") && l.contains("@patch:"))
        .count();
    assert_eq!((resolutions, patches), (112, 1));
    assert_eq!(berry.packages.len(), resolutions - 1 - patches);
    let npm = listing("npm-ls.txt");
    let npm_names: BTreeSet<&str> = npm.iter().map(|s| s.rsplit_once('@').unwrap().0).collect();
    let yarn_names: BTreeSet<&str> = berry.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(yarn_names, npm_names);
}

#[test]
fn poetry_lock_agrees_with_poetry_show() {
    let read = read_lockfile(&data("poetry.lock"), None).unwrap();
    let text = std::fs::read_to_string(data("poetry.lock")).unwrap();
    assert_eq!(
        read.packages.len(),
        text.lines().filter(|l| *l == "[[package]]").count()
    );
    // `poetry show` leaves out packages whose markers exclude this platform (colorama).
    let shown = listing("poetry-show.txt");
    let ours: BTreeSet<String> = name_versions(&read)
        .into_iter()
        .map(|s| s.to_lowercase())
        .collect();
    assert!(
        shown.is_subset(&ours),
        "{:?}",
        shown.difference(&ours).collect::<Vec<_>>()
    );
    assert_eq!(
        ours.difference(&shown).collect::<Vec<_>>(),
        ["colorama@0.4.6"]
    );
}

#[test]
fn pip_freeze_requirements_agree_with_pip_list() {
    let read = read_lockfile(&data("requirements.txt"), None).unwrap();
    assert!(read.skipped.is_empty(), "{:?}", read.skipped);
    let listed: BTreeSet<String> = listing("pip-list.txt")
        .into_iter()
        .map(|l| l.to_lowercase())
        .collect();
    for p in &read.packages {
        assert!(
            listed.contains(&format!("{}=={}", p.name, p.version).to_lowercase()),
            "{}",
            p.name
        );
    }
    assert_eq!(
        read.packages.len(),
        std::fs::read_to_string(data("requirements.txt"))
            .unwrap()
            .lines()
            .count()
    );
}
