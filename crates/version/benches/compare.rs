//! Comparisons per second per ecosystem and OSV range checks per second, each next to the
//! best existing crate for that ecosystem, measured in the same run.
//!
//! Data: the shared version suites (real version strings from OSV) and the real OSV ranges in
//! `shared/data/vuln/osv/*.zip`. Run with `cargo bench -p zerotrace-version --bench compare`;
//! next to criterion's own report (wall-clock throughput) it prints one `ratio` line per
//! comparison, in operations per CPU-second of the measuring thread ("per core").

use std::cmp::Ordering;
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use zerotrace_version::osv::{AffectedRanges, Event, Range, RangeKind, Verdict};
use zerotrace_version::{Ecosystem, Version, compare};

type Pairs = Vec<(String, String)>;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn suite_pairs(file: &str) -> Pairs {
    let path = shared().join("versions/osv-scalibr").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with("# ") && !l.starts_with("// "))
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let a = parts.next()?;
            let _op = parts.next()?;
            let b = parts.next()?;
            Some((a.to_owned(), b.to_owned()))
        })
        .collect()
}

/// Every OSV record in one of the shared zips, as JSON.
fn osv_records(zip_name: &str) -> Vec<serde_json::Value> {
    let path = shared().join("vuln/osv").join(zip_name);
    let Ok(file) = std::fs::File::open(&path) else {
        return Vec::new();
    };
    let Ok(mut archive) = zip::ZipArchive::new(file) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else {
            continue;
        };
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_ok()
            && let Ok(value) = serde_json::from_str(&text)
        {
            records.push(value);
        }
    }
    records
}

struct Affected {
    ecosystem: Ecosystem,
    ranges: Vec<Range>,
    versions: Vec<String>,
}

fn affected_entries(records: &[serde_json::Value]) -> Vec<Affected> {
    let mut out = Vec::new();
    for record in records {
        let Some(list) = record.get("affected").and_then(|a| a.as_array()) else {
            continue;
        };
        for affected in list {
            let Some(eco) = affected
                .pointer("/package/ecosystem")
                .and_then(|e| e.as_str())
            else {
                continue;
            };
            let mut ranges = Vec::new();
            for range in affected
                .get("ranges")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                let Some(kind) = range
                    .get("type")
                    .and_then(|t| t.as_str())
                    .and_then(|t| RangeKind::from_str(t).ok())
                else {
                    continue;
                };
                let events = range
                    .get("events")
                    .and_then(|e| e.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|e| {
                        let (key, value) = e.as_object()?.iter().next()?;
                        let value = value.as_str()?.to_owned();
                        Some(match key.as_str() {
                            "introduced" => Event::Introduced(value),
                            "fixed" => Event::Fixed(value),
                            "last_affected" => Event::LastAffected(value),
                            _ => Event::Limit(value),
                        })
                    })
                    .collect();
                ranges.push(Range { kind, events });
            }
            let versions = affected
                .get("versions")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            out.push(Affected {
                ecosystem: Ecosystem::parse(eco),
                ranges,
                versions,
            });
        }
    }
    out
}

fn event_versions(entries: &[Affected]) -> Vec<String> {
    let mut all: Vec<String> = entries
        .iter()
        .flat_map(|a| a.ranges.iter().filter(|r| r.kind != RangeKind::Git))
        .flat_map(|r| r.events.iter())
        .filter_map(|e| match e {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) if v != "0" => {
                Some(v.clone())
            }
            _ => None,
        })
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Pairs of neighbouring versions after a fixed shuffle, so that pairs share prefixes as
/// real comparisons in a range check do.
fn pairs_of(versions: &[String]) -> Pairs {
    let mut shuffled = versions.to_vec();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..shuffled.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap_or(0);
        shuffled.swap(i, j);
    }
    shuffled
        .windows(2)
        .filter_map(|w| Some((w.first()?.clone(), w.get(1)?.clone())))
        .collect()
}

/// CPU time this thread has run, from Linux's schedstat; the machines that run this bench
/// are shared, so rates per CPU-second ("per core") are steadier than rates per wall second.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Runs `f` for about 300 ms of wall time; returns operations per CPU-second of this thread
/// (per wall second where CPU time cannot be read).
fn per_core_rate(ops_per_round: usize, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    let cpu_start = thread_cpu_time();
    let mut done = 0u64;
    while start.elapsed() < Duration::from_millis(300) {
        f();
        done += ops_per_round as u64;
    }
    let seconds = match (cpu_start, thread_cpu_time()) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => start.elapsed().as_secs_f64(),
    };
    done as f64 / seconds
}

/// Comparisons per CPU-second of `f` over `pairs`.
fn rate(pairs: &Pairs, f: &dyn Fn(&str, &str) -> Option<Ordering>) -> f64 {
    per_core_rate(pairs.len(), &mut || {
        for (a, b) in pairs {
            black_box(f(black_box(a), black_box(b)));
        }
    })
}

fn ratio_line(what: &str, n: usize, ours: f64, baseline: Option<(&str, f64)>) {
    match baseline {
        Some((name, theirs)) => println!(
            "ratio {what:<38} n={n:<6} ours {:>6.2} M/s/core  {name:<14} {:>6.2} M/s/core  ours/baseline {:.2}x",
            ours / 1e6,
            theirs / 1e6,
            ours / theirs
        ),
        None => println!(
            "ratio {what:<38} n={n:<6} ours {:>6.2} M/s/core  (no baseline crate)",
            ours / 1e6
        ),
    }
}

type Baseline = (&'static str, fn(&str, &str) -> Option<Ordering>);

fn semver_crate(a: &str, b: &str) -> Option<Ordering> {
    Some(
        semver::Version::parse(a)
            .ok()?
            .cmp(&semver::Version::parse(b).ok()?),
    )
}
fn nodejs_semver_crate(a: &str, b: &str) -> Option<Ordering> {
    Some(
        nodejs_semver::Version::parse(a)
            .ok()?
            .cmp(&nodejs_semver::Version::parse(b).ok()?),
    )
}
fn pep440_crate(a: &str, b: &str) -> Option<Ordering> {
    Some(
        pep440_rs::Version::from_str(a)
            .ok()?
            .cmp(&pep440_rs::Version::from_str(b).ok()?),
    )
}
fn debversion_crate(a: &str, b: &str) -> Option<Ordering> {
    Some(
        debversion::Version::from_str(a)
            .ok()?
            .cmp(&debversion::Version::from_str(b).ok()?),
    )
}
fn rpm_version_crate(a: &str, b: &str) -> Option<Ordering> {
    Some(rpm_version::rpm_evr_compare(a, b))
}

struct Dataset {
    name: &'static str,
    ecosystem: Ecosystem,
    pairs: Pairs,
    baselines: Vec<Baseline>,
}

fn datasets() -> Vec<Dataset> {
    let crates_versions = event_versions(&affected_entries(&osv_records("crates.io.zip")));
    let go_versions = event_versions(&affected_entries(&osv_records("Go.zip")));
    vec![
        Dataset {
            name: "Debian",
            ecosystem: Ecosystem::Debian,
            pairs: suite_pairs("debian-versions-generated.txt"),
            baselines: vec![("debversion", debversion_crate)],
        },
        Dataset {
            name: "Red Hat (rpm)",
            ecosystem: Ecosystem::parse("Red Hat"),
            pairs: suite_pairs("redhat-versions.txt"),
            baselines: vec![("rpm-version", rpm_version_crate)],
        },
        Dataset {
            name: "crates.io (semver)",
            ecosystem: Ecosystem::CratesIo,
            pairs: pairs_of(&crates_versions),
            baselines: vec![
                ("semver", semver_crate),
                ("nodejs-semver", nodejs_semver_crate),
            ],
        },
        Dataset {
            name: "Go (semver, v-prefixed)",
            ecosystem: Ecosystem::Go,
            pairs: pairs_of(&go_versions),
            baselines: vec![("nodejs-semver", nodejs_semver_crate)],
        },
        Dataset {
            name: "PyPI (PEP 440)",
            ecosystem: Ecosystem::PyPI,
            pairs: suite_pairs("pypi-versions-generated.txt"),
            baselines: vec![("pep440_rs", pep440_crate)],
        },
        Dataset {
            name: "Alpine (apk)",
            ecosystem: Ecosystem::Alpine,
            pairs: suite_pairs("alpine-versions-generated.txt"),
            baselines: vec![],
        },
        Dataset {
            name: "Maven",
            ecosystem: Ecosystem::Maven,
            pairs: suite_pairs("maven-versions-generated.txt"),
            baselines: vec![],
        },
        Dataset {
            name: "RubyGems",
            ecosystem: Ecosystem::RubyGems,
            pairs: suite_pairs("rubygems-versions-generated.txt"),
            baselines: vec![],
        },
        Dataset {
            name: "Packagist",
            ecosystem: Ecosystem::Packagist,
            pairs: suite_pairs("packagist-versions-generated.txt"),
            baselines: vec![],
        },
        Dataset {
            name: "NuGet",
            ecosystem: Ecosystem::NuGet,
            pairs: suite_pairs("nuget-versions.txt"),
            baselines: vec![],
        },
    ]
}

fn bench_compare(c: &mut Criterion, data: &[Dataset]) {
    for set in data.iter().filter(|s| !s.pairs.is_empty()) {
        let mut group = c.benchmark_group(format!("compare/{}", set.name));
        for (baseline, f) in &set.baselines {
            // Both sides measured on the pairs the baseline accepts.
            let pairs: Pairs = set
                .pairs
                .iter()
                .filter(|(a, b)| f(a, b).is_some())
                .cloned()
                .collect();
            group.throughput(Throughput::Elements(pairs.len() as u64));
            let eco = set.ecosystem.clone();
            let ours = rate(&pairs, &|a, b| compare(&eco, a, b).ok());
            let theirs = rate(&pairs, &|a, b| f(a, b));
            ratio_line(set.name, pairs.len(), ours, Some((baseline, theirs)));
            group.bench_function(format!("ours (pairs {baseline} accepts)"), |bench| {
                bench.iter(|| {
                    pairs
                        .iter()
                        .filter_map(|(a, b)| compare(&eco, a, b).ok())
                        .count()
                })
            });
            group.bench_function(*baseline, |bench| {
                bench.iter(|| pairs.iter().filter_map(|(a, b)| f(a, b)).count())
            });
        }
        if set.baselines.is_empty() {
            let eco = set.ecosystem.clone();
            group.throughput(Throughput::Elements(set.pairs.len() as u64));
            ratio_line(
                set.name,
                set.pairs.len(),
                rate(&set.pairs, &|a, b| compare(&eco, a, b).ok()),
                None,
            );
            group.bench_function("ours", |bench| {
                bench.iter(|| {
                    set.pairs
                        .iter()
                        .filter_map(|(a, b)| compare(&eco, a, b).ok())
                        .count()
                })
            });
        }
        let eco = set.ecosystem.clone();
        let parsed: Vec<(Version, Version)> = set
            .pairs
            .iter()
            .filter_map(|(a, b)| {
                Some((Version::parse(&eco, a).ok()?, Version::parse(&eco, b).ok()?))
            })
            .collect();
        group.throughput(Throughput::Elements(parsed.len() as u64));
        group.bench_function("ours, pre-parsed Version", |bench| {
            bench.iter(|| parsed.iter().filter(|(a, b)| a < b).count())
        });
        group.finish();
    }
}

/// One range check: every installed version against one compiled entry.
struct RangeCase {
    compiled: AffectedRanges,
    raw: Vec<Range>,
    installed: Vec<String>,
}

fn range_cases(zip_name: &str) -> Vec<RangeCase> {
    let entries = affected_entries(&osv_records(zip_name));
    let installed = event_versions(&entries);
    let step = (installed.len() / 50).max(1);
    let sample: Vec<String> = installed.iter().step_by(step).cloned().collect();
    entries
        .into_iter()
        .filter(|e| e.ranges.iter().any(|r| r.kind != RangeKind::Git))
        .filter_map(|e| {
            let compiled = AffectedRanges::compile(&e.ecosystem, &e.ranges, &e.versions).ok()?;
            Some(RangeCase {
                compiled,
                raw: e.ranges,
                installed: sample.clone(),
            })
        })
        .collect()
}

/// The baseline range check: events pre-parsed with the baseline crate, the installed
/// version parsed per check, intervals walked as the OSV schema says.
fn baseline_affected<V: Ord>(events: &[(u8, Option<V>)], v: &V) -> bool {
    let mut affected = false;
    for (kind, bound) in events {
        let at_or_below = bound.as_ref().is_none_or(|b| b <= v);
        match kind {
            0 if at_or_below => affected = true,
            1 if at_or_below => affected = false,
            2 if bound.as_ref().is_some_and(|b| b < v) => affected = false,
            _ => {}
        }
    }
    affected
}

fn baseline_events<V: Ord>(
    ranges: &[Range],
    parse: fn(&str) -> Option<V>,
) -> Vec<Vec<(u8, Option<V>)>> {
    ranges
        .iter()
        .filter(|r| r.kind != RangeKind::Git)
        .map(|r| {
            let mut events: Vec<(u8, Option<V>)> = r
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Introduced(v) if v == "0" => Some((0, None)),
                    Event::Introduced(v) => Some((0, Some(parse(v)?))),
                    Event::Fixed(v) => Some((1, Some(parse(v)?))),
                    Event::LastAffected(v) => Some((2, Some(parse(v)?))),
                    Event::Limit(_) => None,
                })
                .collect();
            events.sort_by(|a, b| a.1.cmp(&b.1));
            events
        })
        .collect()
}

/// Name, zip, and the baseline parser for that ecosystem (the other one unused).
type RangeSet = (
    &'static str,
    &'static str,
    fn(&str) -> Option<semver::Version>,
    fn(&str) -> Option<pep440_rs::Version>,
);

fn bench_ranges(c: &mut Criterion) {
    let sets: [RangeSet; 2] = [
        (
            "crates.io",
            "crates.io.zip",
            |s| semver::Version::parse(s).ok(),
            |_| None,
        ),
        (
            "PyPI",
            "PyPI.zip",
            |_| None,
            |s| pep440_rs::Version::from_str(s).ok(),
        ),
    ];
    for (name, zip_name, semver_parse, pep_parse) in sets {
        let cases = range_cases(zip_name);
        if cases.is_empty() {
            continue;
        }
        let checks: usize = cases.iter().map(|c| c.installed.len()).sum();
        let run_ours = || {
            let mut hits = 0usize;
            for case in &cases {
                for v in &case.installed {
                    hits += usize::from(matches!(
                        case.compiled.evaluate(v),
                        Verdict::Affected { .. }
                    ));
                }
            }
            hits
        };
        let ours = per_core_rate(checks, &mut || {
            black_box(run_ours());
        });

        let semver_events: Vec<_> = cases
            .iter()
            .map(|c| baseline_events(&c.raw, semver_parse))
            .collect();
        let pep_events: Vec<_> = cases
            .iter()
            .map(|c| baseline_events(&c.raw, pep_parse))
            .collect();
        let run_theirs = || {
            let mut hits = 0usize;
            for (i, case) in cases.iter().enumerate() {
                for v in &case.installed {
                    let hit = if name == "PyPI" {
                        pep_parse(v).is_some_and(|v| {
                            pep_events
                                .get(i)
                                .into_iter()
                                .flatten()
                                .any(|r| baseline_affected(r, &v))
                        })
                    } else {
                        semver_parse(v).is_some_and(|v| {
                            semver_events
                                .get(i)
                                .into_iter()
                                .flatten()
                                .any(|r| baseline_affected(r, &v))
                        })
                    };
                    hits += usize::from(hit);
                }
            }
            hits
        };
        let theirs = per_core_rate(checks, &mut || {
            black_box(run_theirs());
        });
        let baseline = if name == "PyPI" {
            "pep440_rs"
        } else {
            "semver"
        };
        ratio_line(
            &format!("range checks {name} ({} entries)", cases.len()),
            checks,
            ours,
            Some((baseline, theirs)),
        );

        let mut group = c.benchmark_group(format!("osv-range/{name}"));
        group.throughput(Throughput::Elements(checks as u64));
        group.bench_function("ours: AffectedRanges::evaluate(&str)", |b| b.iter(run_ours));
        group.bench_function(format!("{baseline} + schema walk"), |b| b.iter(run_theirs));
        group.finish();
    }
}

fn main() {
    let data = datasets();
    if data.iter().all(|d| d.pairs.is_empty()) {
        println!(
            "shared data absent ({}): nothing to measure",
            shared().display()
        );
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .sample_size(10)
        .configure_from_args();
    bench_compare(&mut c, &data);
    bench_ranges(&mut c);
    c.final_summary();
}
