//! The package pool over the real shared data, and the simulated agents' inventories and bodies,
//! without a server. Skipped, with the reason printed, when `../shared/data` is absent.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::read::GzDecoder;
use serde_json::Value;
use zerotrace_agent::snapshot::Inventory;
use zerotrace_inventory::{OsRelease, Package, ScanReport};
use zerotrace_loadgen::{AgentProfile, PackagePool, SimulatedAgent, inventory_body, package_pool};

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The pool over the shared data, read once per test binary; `None` (with a note) without it.
fn pool() -> Option<&'static PackagePool> {
    static POOL: OnceLock<Option<PackagePool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = shared_data();
        if !dir.join("lockfiles").is_dir() {
            eprintln!("skipped: no shared data at {}", dir.display());
            return None;
        }
        Some(package_pool(&dir).expect("the shared data makes a pool"))
    })
    .as_ref()
}

const PROFILE: AgentProfile = AgentProfile {
    apps: 200,
    vulnerable_share: 0.1,
    change_share: 0.05,
};

/// `ecosystem name` → version of every package in `report`.
fn versions(report: &ScanReport) -> BTreeMap<String, String> {
    report
        .packages
        .iter()
        .map(|p| (format!("{} {}", p.ecosystem, p.name), p.version.clone()))
        .collect()
}

fn vulnerable_keys(pool: &PackagePool) -> HashSet<(String, String, String)> {
    pool.vulnerable_versions()
        .map(|v| {
            (
                v.ecosystem.to_owned(),
                v.name.to_owned(),
                v.version.to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_pool_holds_thousands_of_real_packages_in_several_ecosystems() {
    let Some(pool) = pool() else { return };
    let ecosystems = pool.ecosystems();
    eprintln!(
        "pool: {} versions of {} names ({} vulnerable versions of {} names), {ecosystems:?}, {:?}",
        pool.len(),
        pool.name_count(),
        pool.vulnerable_versions().count(),
        pool.vulnerable_name_count(),
        pool.report()
    );
    for ecosystem in ["crates.io", "npm", "Maven", "Go", "PyPI", "Debian:10"] {
        assert!(
            ecosystems.get(ecosystem).is_some_and(|&n| n >= 100),
            "{ecosystem}: {ecosystems:?}"
        );
    }
    assert!(pool.len() >= 10_000, "{}", pool.len());
    assert!(pool.name_count() >= 4_000, "{}", pool.name_count());
    assert!(pool.vulnerable_name_count() >= 1_000);
    // The data's Debian packages come from a Debian 10.8 image: the fleet runs Debian 10.
    assert_eq!(pool.os().id, "debian");
    assert_eq!(pool.os().version_id.as_deref(), Some("10"));
    let report = pool.report();
    assert!(report.files_read >= 56 + 5, "{report:?}");
    assert!(!report.vulnerable_capped, "{report:?}");
}

#[test]
fn every_vulnerable_version_is_named_by_the_advisory_it_came_from() {
    let Some(pool) = pool() else { return };
    let mut by_zip: BTreeMap<&Path, Vec<_>> = BTreeMap::new();
    for v in pool.vulnerable_versions() {
        by_zip.entry(v.source).or_default().push(v);
    }
    assert!(by_zip.len() >= 4, "{:?}", by_zip.keys());
    let mut checked = 0;
    for (zip, versions) in by_zip {
        assert_eq!(zip.parent(), Some(shared_data().join("vuln/osv").as_path()));
        let mut archive = zip::ZipArchive::new(File::open(zip).unwrap()).unwrap();
        for v in versions {
            let mut text = String::new();
            archive
                .by_name(&format!("{}.json", v.advisory))
                .unwrap_or_else(|e| panic!("{} in {}: {e}", v.advisory, zip.display()))
                .read_to_string(&mut text)
                .unwrap();
            let advisory: Value = serde_json::from_str(&text).unwrap();
            let named = advisory["affected"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| {
                    a["package"]["ecosystem"] == v.ecosystem && a["package"]["name"] == v.name
                })
                .any(|a| {
                    let listed = a["versions"].as_array().into_iter().flatten();
                    let introduced = a["ranges"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["type"] == "SEMVER" || r["type"] == "ECOSYSTEM")
                        .flat_map(|r| r["events"].as_array().into_iter().flatten())
                        .map(|e| &e["introduced"]);
                    listed.chain(introduced).any(|x| x == v.version)
                });
            assert!(named, "{v:?} is not named affected by its advisory");
            assert!(advisory["withdrawn"].is_null(), "{v:?}: withdrawn");
            checked += 1;
        }
    }
    assert!(checked >= 1_000, "{checked}");
}

#[test]
fn successive_inventories_differ_by_about_the_change_share() {
    let Some(pool) = pool() else { return };
    let vulnerable = vulnerable_keys(pool);
    let mut agent = SimulatedAgent::new(pool, 7, PROFILE);
    assert_eq!(agent.sequence(), 0);
    assert!(agent.scan(pool));
    assert_eq!(agent.sequence(), 1);
    let mut previous = agent.report(pool);
    assert_eq!(previous.packages.len(), 200);
    let vulnerable_in_base = previous
        .packages
        .iter()
        .filter(|p| {
            vulnerable.contains(&(p.ecosystem.to_string(), p.name.clone(), p.version.clone()))
        })
        .count();
    assert!(
        (20..=30).contains(&vulnerable_in_base),
        "10% of 200 drawn vulnerable (a few clean picks may be vulnerable too): {vulnerable_in_base}"
    );
    let mut upgraded_total = 0;
    for scan in 2..=30 {
        assert!(agent.scan(pool));
        assert_eq!(agent.sequence(), scan, "one more per changed inventory");
        let current = agent.report(pool);
        let names: BTreeSet<String> = current
            .packages
            .iter()
            .map(|p| format!("{} {}", p.ecosystem, p.name))
            .collect();
        assert_eq!(names.len(), current.packages.len(), "names are distinct");
        let (before, after) = (versions(&previous), versions(&current));
        let removed = before.keys().filter(|k| !after.contains_key(*k)).count();
        let added = after.keys().filter(|k| !before.contains_key(*k)).count();
        let upgraded = after
            .iter()
            .filter(|(k, v)| before.get(*k).is_some_and(|old| old != *v))
            .count();
        // 5% of ~200 is 10 changes: 6 upgrades, 2 removals, 2 installs.
        let changed = removed + added + upgraded;
        assert!(
            (8..=12).contains(&changed),
            "scan {scan}: {removed} removed, {added} added, {upgraded} upgraded"
        );
        assert!(
            removed >= 1 && added >= 1 && upgraded >= 4,
            "scan {scan}: {removed}/{added}/{upgraded}"
        );
        assert!((190..=210).contains(&current.packages.len()));
        upgraded_total += upgraded;
        previous = current;
    }
    assert!(upgraded_total >= 29 * 4);
}

#[test]
fn without_a_change_share_only_the_first_scan_has_something_to_send() {
    let Some(pool) = pool() else { return };
    let mut agent = SimulatedAgent::new(
        pool,
        1,
        AgentProfile {
            change_share: 0.0,
            ..PROFILE
        },
    );
    assert!(agent.scan(pool));
    let first = agent.report(pool);
    assert!(!agent.scan(pool));
    assert_eq!(agent.sequence(), 1);
    assert_eq!(agent.report(pool), first);
}

#[test]
fn the_same_seed_draws_the_same_fleet_and_others_differ() {
    let Some(pool) = pool() else { return };
    let run = |seed| {
        let mut agent = SimulatedAgent::new(pool, seed, PROFILE);
        (0..5)
            .map(|_| {
                agent.scan(pool);
                versions(&agent.report(pool))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn more_apps_than_names_are_capped_at_the_names_the_pool_has() {
    let Some(pool) = pool() else { return };
    let agent = SimulatedAgent::new(
        pool,
        3,
        AgentProfile {
            apps: 5_000,
            vulnerable_share: 1.0,
            change_share: 0.05,
        },
    );
    assert_eq!(agent.len(), 5_000.min(pool.name_count()));
}

#[test]
fn the_body_is_the_contracts_gzip_json_and_its_hash_is_the_agents() {
    let Some(pool) = pool() else { return };
    let mut agent = SimulatedAgent::new(pool, 11, PROFILE);
    agent.scan(pool);
    agent.scan(pool);
    let report = agent.report(pool);
    let body = inventory_body(&report, agent.sequence(), "2026-11-22T04:00:00Z").unwrap();
    assert_eq!(body.records, report.packages.len());

    let mut text = String::new();
    GzDecoder::new(body.gzip.as_slice())
        .read_to_string(&mut text)
        .expect("the body is gzip");
    let json: Value = serde_json::from_str(&text).expect("of JSON");
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["hash", "os", "packages", "scanned_at", "sequence"]);
    assert_eq!(json["sequence"], 2);
    assert_eq!(json["scanned_at"], "2026-11-22T04:00:00Z");
    assert_eq!(json["hash"], body.hash.as_str());
    assert_eq!(body.hash.len(), 64);
    assert!(
        body.hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let os: OsRelease = serde_json::from_value(json["os"].clone()).unwrap();
    assert_eq!(&os, pool.os());
    let packages: Vec<Package> = serde_json::from_value(json["packages"].clone())
        .expect("packages are the inventory crate's");
    assert_eq!(packages.len(), 200);
    for p in &json["packages"].as_array().unwrap()[..] {
        for field in [
            "ecosystem",
            "name",
            "version",
            "purl",
            "manager",
            "location",
        ] {
            assert!(
                p[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} in {p}"
            );
        }
    }
    let managers: BTreeSet<String> = packages.iter().map(|p| p.manager.to_string()).collect();
    assert!(
        managers.contains("dpkg") && managers.contains("pip"),
        "{managers:?}"
    );
    for p in packages
        .iter()
        .filter(|p| p.ecosystem.as_str() == "Debian:10")
    {
        assert!(p.purl.starts_with("pkg:deb/debian/"), "{}", p.purl);
        assert!(p.purl.contains("distro=debian-10"), "{}", p.purl);
        assert_eq!(p.location, "var/lib/dpkg/status");
    }

    // The server's view: rebuild the inventory from what arrived and hash it with the agent's
    // own code.
    let received = ScanReport {
        schema: report.schema.clone(),
        os: Some(os),
        packages,
        errors: Vec::new(),
    };
    assert_eq!(Inventory::new(&received).unwrap().hash, body.hash);
    assert_eq!(Inventory::new(&report).unwrap().hash, body.hash);
}
