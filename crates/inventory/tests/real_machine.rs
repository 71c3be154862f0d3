//! Scans this machine: the dpkg collector must agree exactly with `dpkg-query`, and what the
//! other collectors find is checked against independent views of the same files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use zerotrace_inventory::dpkg::{self, INSTALLED_STATES};
use zerotrace_inventory::scan::{Collector, ScanOptions, scan};
use zerotrace_inventory::{Collected, Distro, Manager, OsRelease, Package};

type Key = (String, String, String);

/// `dpkg-query`'s view: (package, version, arch) -> count, installed states only.
fn dpkg_query() -> Option<BTreeMap<Key, usize>> {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${Package}\t${Version}\t${Architecture}\t${db:Status-Status}\n",
        ])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "dpkg-query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "{line}");
        if INSTALLED_STATES.contains(&f[3]) {
            *map.entry((f[0].to_owned(), f[1].to_owned(), f[2].to_owned()))
                .or_insert(0) += 1;
        }
    }
    Some(map)
}

fn ours<'a>(packages: impl Iterator<Item = &'a Package>) -> BTreeMap<Key, usize> {
    let mut map = BTreeMap::new();
    for p in packages {
        let key = (
            p.name.clone(),
            p.version.clone(),
            p.arch.clone().unwrap_or_default(),
        );
        *map.entry(key).or_insert(0) += 1;
    }
    map
}

fn has_dpkg() -> bool {
    if Path::new("/var/lib/dpkg/status").is_file() {
        return true;
    }
    println!("skipped: this machine has no dpkg database");
    false
}

#[test]
fn copied_status_file_matches_dpkg_query() {
    if !has_dpkg() {
        return;
    }
    let Some(expected) = dpkg_query() else {
        println!("skipped: dpkg-query not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
    std::fs::copy("/var/lib/dpkg/status", dir.path().join(dpkg::STATUS_PATH)).unwrap();
    let mut out = Collected::default();
    assert!(dpkg::collect(
        dir.path(),
        &Distro::new(None, "debian", "Debian"),
        &mut out
    ));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(ours(out.packages.iter()), expected);
    assert!(
        expected.len() > 10,
        "a Debian machine has more than a handful of packages"
    );
}

#[test]
fn scan_of_root_agrees_with_dpkg_query() {
    if !has_dpkg() {
        return;
    }
    let Some(expected) = dpkg_query() else {
        println!("skipped: dpkg-query not installed");
        return;
    };
    let report = scan(
        Path::new("/"),
        &ScanOptions {
            collectors: vec![Collector::OsPackages],
        },
    );
    let dpkg_pkgs: Vec<&Package> = report
        .packages
        .iter()
        .filter(|p| p.manager == Manager::Dpkg)
        .collect();
    assert_eq!(ours(dpkg_pkgs.iter().copied()), expected);
    let os: &OsRelease = report.os.as_ref().expect("this machine has os-release");
    let eco = os.ecosystem().expect("a known distribution").to_string();
    assert!(
        dpkg_pkgs
            .iter()
            .all(|p| p.ecosystem.as_str() == eco && p.purl.starts_with("pkg:deb/"))
    );
}

/// Every pip package the full scan reports is a `*.dist-info`/`*.egg-info` entry on disk whose
/// directory name spells the same name and version, and none of them is owned by dpkg.
#[test]
fn full_scan_of_root_is_consistent() {
    let report = scan(Path::new("/"), &ScanOptions::default());
    let mut pip_dirs = Vec::new();
    for p in report.packages.iter().filter(|p| p.manager == Manager::Pip) {
        let dir = Path::new(&p.location).parent().unwrap();
        let dir_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let stem = dir_name
            .trim_end_matches(".dist-info")
            .trim_end_matches(".egg-info");
        let normalize = |s: &str| s.to_lowercase().replace(['-', '.'], "_");
        let (name, version) = stem.split_once('-').unwrap_or((stem, ""));
        assert_eq!(normalize(name), normalize(&p.name), "{}", p.location);
        if !version.is_empty() && dir_name.ends_with(".dist-info") {
            assert_eq!(version, p.version, "{}", p.location);
        }
        pip_dirs.push(format!("/{}", dir.display()));
    }
    if Path::new("/usr/bin/dpkg").exists() && !pip_dirs.is_empty() {
        // One `dpkg -S` for all: it prints `package: path` for each owned path.
        let owned = Command::new("dpkg")
            .arg("-S")
            .args(&pip_dirs)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&owned.stdout);
        let owned_dirs: Vec<&str> = stdout
            .lines()
            .filter(|l| pip_dirs.iter().any(|d| l.ends_with(&format!(": {d}"))))
            .collect();
        assert!(
            owned_dirs.is_empty(),
            "owned by dpkg but reported as pip: {owned_dirs:?}"
        );
    }
    let terraform = Path::new("/usr/local/bin/terraform");
    if terraform.is_file() {
        let go: Vec<&Package> = report
            .packages
            .iter()
            .filter(|p| p.location == "usr/local/bin/terraform")
            .collect();
        assert!(
            go.iter().any(|p| p.name == "stdlib"),
            "terraform embeds its Go version"
        );
        // Independent count: `dep` lines between the modinfo sentinels Go's linker writes
        // (the text is in the binary twice; the sentinels frame one copy).
        let bytes = std::fs::read(terraform).unwrap();
        let start_sentinel = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
        let end_sentinel = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
        let start = bytes.windows(16).position(|w| w == start_sentinel).unwrap() + 16;
        let len = bytes[start..]
            .windows(16)
            .position(|w| w == end_sentinel)
            .unwrap();
        let modinfo = &bytes[start..start + len];
        let deps = modinfo.windows(5).filter(|w| w == b"\ndep\t").count();
        let local_replacements = modinfo
            .windows(4)
            .enumerate()
            .filter(|(i, w)| {
                w == b"\n=>\t"
                    && modinfo[i + 4..]
                        .split(|&b| b == b'\n')
                        .next()
                        .is_some_and(|l| {
                            l.split(|&b| b == b'\t').nth(1).is_none_or(<[u8]>::is_empty)
                        })
            })
            .count();
        assert!(deps > 10);
        assert_eq!(
            go.len() - 1,
            deps - local_replacements,
            "modules reported vs dep lines"
        );
    } else {
        println!("skipped Go check: no /usr/local/bin/terraform on this machine");
    }
    println!(
        "root scan: {} packages, {} errors; first errors: {:?}",
        report.packages.len(),
        report.errors.len(),
        report
            .errors
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
}
