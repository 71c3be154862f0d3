//! Prints the knowledge base's figures, each beside a baseline measured in the same run:
//!
//! - import of all of `shared/data/vuln` (time, peak RSS) vs. only reading and inflating the
//!   same files;
//! - load of the saved file (time, resident memory of the loaded index) vs. reading its bytes;
//! - matches per second on one core for distinct real package versions taken from the data
//!   (three samples: every package at its highest fixed version, i.e. a patched fleet; 10,000
//!   versions round-robin over packages, mostly old and heavily affected; 10,000 versions spread
//!   evenly over all versions the advisories name) vs. a bare hash-map probe of the same keys.
//!
//! `cargo run --release -p zerotrace-vulndb --example figures [DATA_DIR]`
//! The load and match figures run in a fresh child process so that resident memory is the
//! loaded index's alone.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zerotrace_vulndb::advisory::{AffectedStatus, RangeEvent};
use zerotrace_vulndb::{KnowledgeBase, PackageQuery};

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Reads every file and inflates every zip member and gzip stream: the I/O floor of an import.
fn read_and_inflate(dir: &Path) -> u64 {
    let mut all = Vec::new();
    files(dir, &mut all);
    let mut total = 0u64;
    for path in all {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.starts_with(b"PK\x03\x04") {
            let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&bytes)) else {
                continue;
            };
            for i in 0..zip.len() {
                if let Ok(mut m) = zip.by_index(i) {
                    let mut buf = Vec::new();
                    total += m.read_to_end(&mut buf).unwrap_or(0) as u64;
                }
            }
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut buf = Vec::new();
            total += flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut buf)
                .unwrap_or(0) as u64;
        } else {
            total += bytes.len() as u64;
        }
    }
    total
}

/// Distinct real `(ecosystem, name, version)` keys from the advisories themselves: listed
/// versions and range bounds, for OS and language packages alike.
fn real_queries(kb: &KnowledgeBase, limit: usize, sample: Sample) -> Vec<PackageQuery> {
    let mut seen = HashSet::new();
    let mut keys = BTreeSet::new();
    for adv in kb.advisories() {
        for aff in adv
            .affected
            .iter()
            .filter(|a| a.status == AffectedStatus::Affected)
        {
            let mut versions: Vec<&str> = aff.versions.iter().map(String::as_str).collect();
            for r in &aff.ranges {
                for e in &r.events {
                    match e {
                        RangeEvent::Introduced(v)
                        | RangeEvent::Fixed(v)
                        | RangeEvent::LastAffected(v)
                            if v != "0" =>
                        {
                            versions.push(v)
                        }
                        _ => {}
                    }
                }
            }
            for v in versions {
                let key = (aff.ecosystem.clone(), aff.package.clone(), v.to_owned());
                if seen.insert(key.clone()) {
                    keys.insert(key);
                }
            }
        }
    }
    let keys: Vec<_> = keys.into_iter().collect();
    match sample {
        Sample::Patched => patched_queries(kb, limit),
        // Every version of the data, evenly spaced: weighted toward the most-advised packages
        // (tensorflow, chromium, linux), whose queries evaluate hundreds of advisories.
        Sample::AdvisoryWeighted => {
            let step = (keys.len() / limit).max(1);
            keys.into_iter()
                .step_by(step)
                .take(limit)
                .map(|(e, n, v)| PackageQuery::new(&e, &n, &v))
                .collect()
        }
        // One version per package in turn, like an inventory: many packages, few versions each.
        Sample::InventoryLike => {
            let mut by_package: std::collections::BTreeMap<(String, String), Vec<String>> =
                std::collections::BTreeMap::new();
            for (e, n, v) in keys {
                by_package.entry((e, n)).or_default().push(v);
            }
            let mut out = Vec::with_capacity(limit);
            let mut round = 0;
            while out.len() < limit && round < 1_000 {
                for ((e, n), versions) in &by_package {
                    if let Some(v) = versions.get(round) {
                        out.push(PackageQuery::new(e, n, v));
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                round += 1;
            }
            out
        }
    }
}

#[derive(Clone, Copy)]
enum Sample {
    AdvisoryWeighted,
    InventoryLike,
    Patched,
}

/// One query per package at its highest `fixed` version: a patched fleet, the common case.
fn patched_queries(kb: &KnowledgeBase, limit: usize) -> Vec<PackageQuery> {
    let mut best: std::collections::BTreeMap<(String, String), String> =
        std::collections::BTreeMap::new();
    for adv in kb.advisories() {
        for aff in &adv.affected {
            let eco = zerotrace_version::Ecosystem::parse(&aff.ecosystem);
            for r in &aff.ranges {
                for e in &r.events {
                    let RangeEvent::Fixed(v) = e else { continue };
                    let slot = best
                        .entry((aff.ecosystem.clone(), aff.package.clone()))
                        .or_insert_with(|| v.clone());
                    if zerotrace_version::compare(&eco, v, slot).is_ok_and(|o| o.is_gt()) {
                        *slot = v.clone();
                    }
                }
            }
        }
    }
    best.into_iter()
        .take(limit)
        .map(|((e, n), v)| PackageQuery::new(&e, &n, &v))
        .collect()
}

fn load_phase(store: &Path) {
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let raw = std::fs::read(store).unwrap_or_default();
    let read_time = t.elapsed();
    drop(raw);
    let t = Instant::now();
    let kb = match KnowledgeBase::load(store) {
        Ok(kb) => kb,
        Err(e) => {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
    };
    let load_time = t.elapsed();
    let rss_after = status_kib("VmRSS:");
    println!(
        "index load           {:>8.1} ms   (baseline: reading the {:.1} MiB file {:>6.1} ms, x{:.1})",
        load_time.as_secs_f64() * 1e3,
        std::fs::metadata(store).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
        read_time.as_secs_f64() * 1e3,
        load_time.as_secs_f64() / read_time.as_secs_f64().max(1e-9)
    );
    println!(
        "loaded index memory  {:>8.1} MiB resident (process {:.1} MiB before load)",
        mib(rss_after.saturating_sub(rss_before)),
        mib(rss_before)
    );

    let matcher = kb.matcher();
    for (label, sample) in [
        ("patched fleet", Sample::Patched),
        ("inventory-like", Sample::InventoryLike),
        ("advisory-weighted", Sample::AdvisoryWeighted),
    ] {
        let queries = real_queries(&kb, 10_000, sample);
        let run = || -> (Duration, usize) {
            let t = Instant::now();
            let found: usize = queries.iter().map(|q| matcher.match_package(q).len()).sum();
            (t.elapsed(), found)
        };
        let (cold, found) = run();
        let best = (0..5).map(|_| run().0).min().unwrap_or(cold);
        // Baseline: the index probe alone (resolve and normalize the key, hash it, look it up).
        let set: HashSet<_> = queries.iter().filter_map(|q| q.package_key()).collect();
        let t = Instant::now();
        let mut hits = 0;
        for _ in 0..5 {
            hits += queries
                .iter()
                .filter(|q| q.package_key().is_some_and(|k| set.contains(&k)))
                .count();
        }
        let probe = t.elapsed() / 5;
        let per_sec = |d: Duration| queries.len() as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "matching ({label:17}) {:>9.0} packages/s on one core: {} distinct real versions, {} findings (first pass, compiling ranges: {:.0}/s)",
            per_sec(best),
            queries.len(),
            found,
            per_sec(cold)
        );
        println!(
            "                     baseline: key resolution + hash probe only {:.0}/s (matching costs x{:.1}; {} hits)",
            per_sec(probe),
            best.as_secs_f64() / probe.as_secs_f64().max(1e-9),
            hits / 5
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--load-phase") {
        if let Some(p) = args.next() {
            load_phase(Path::new(&p));
        }
        return;
    }
    let data = first.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/vuln"
        ))
    });
    if !data.is_dir() {
        eprintln!(
            "no data at {} (pass the vuln data directory as the first argument)",
            data.display()
        );
        return;
    }
    let t = Instant::now();
    let bytes = read_and_inflate(&data);
    let floor = t.elapsed();
    let hwm_floor = status_kib("VmHWM:");

    let t = Instant::now();
    let mut kb = KnowledgeBase::new();
    let report = kb.import_paths(&[&data], &mut |_| {});
    let import = t.elapsed();
    let hwm = status_kib("VmHWM:");
    let status = kb.status();
    println!(
        "data                 {} files, {:.1} MiB inflated, {} records ({} skipped, {} field warnings)",
        report.files.len(),
        bytes as f64 / 1048576.0,
        report.records(),
        report.skipped(),
        report.warnings()
    );
    println!(
        "                     {} advisories, {} vulnerabilities, {} package keys, {} CPE products, {} KEV, {} EPSS",
        status.advisories.values().sum::<usize>(),
        status.vulnerabilities,
        status.packages,
        status.cpe_products,
        status.kev,
        status.epss
    );
    println!(
        "import (all data)    {:>8.1} ms   (baseline: read + inflate only {:>6.1} ms, x{:.1})",
        import.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        import.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
    println!(
        "import peak RSS      {:>8.1} MiB   (baseline: peak after read + inflate {:.1} MiB)",
        mib(hwm),
        mib(hwm_floor)
    );

    let dir = std::env::temp_dir().join(format!("zt-vulndb-figures-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let store = dir.join(zerotrace_vulndb::store_file::FILE_NAME);
    let t = Instant::now();
    if let Err(e) = kb.save(&store) {
        eprintln!("save failed: {e}");
        return;
    }
    println!(
        "save                 {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(kb);
    let me = std::env::current_exe().unwrap_or_default();
    match std::process::Command::new(me)
        .arg("--load-phase")
        .arg(&store)
        .status()
    {
        Ok(s) if s.success() => {}
        other => eprintln!("load phase failed: {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
