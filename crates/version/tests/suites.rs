//! The shared version-comparison suites from OSV's tooling
//! (`shared/data/versions/osv-scalibr/`), run for every ecosystem they cover here.
//! Each line `a op b` is checked as written and mirrored (`b op' a`).

use std::cmp::Ordering;
use std::path::PathBuf;

use zerotrace_version::{Ecosystem, compare};

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/versions/osv-scalibr")
}

/// Suite lines judged wrong (see the crate docs): `(file, a, b, what this crate answers)`.
/// They are checked against that answer, not skipped.
const JUDGED_WRONG: &[(&str, &str, &str, Ordering)] = &[
    // Real apk orders these (`<` on apk-tools 3, `>` on 2.x, as the file's own comment says);
    // `=` only holds under OSV's non-transitive junk comparison.
    ("alpine-versions.txt", "1-ruff2", "1--ruff1", Ordering::Less),
    (
        "packagist-versions.txt",
        "1.2.3.#",
        "1.2.3.1",
        Ordering::Less,
    ),
    // Maven before 3.9 puts every `.qualifier` below every `-qualifier`, which is not
    // transitive; here a qualifier compares as a qualifier whatever its prefix (Maven 3.9).
    (
        "maven-versions-generated.txt",
        "3.6.2.FL.20090615",
        "3.6.2-FL-2009-05-11",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "6.1.12.rc5",
        "6.1.12rc1",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.31.sec10",
        "1.1.31_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.34.sec10",
        "1.1.34_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.46.sec10",
        "1.1.46_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.8.sec10_noneautotype",
        "1.2.8_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.31.sec10",
        "1.2.31_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.48.sec10",
        "1.2.48_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.50.sec10",
        "1.2.50_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.54.sec10",
        "1.2.54_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.57.sec10",
        "1.2.57_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.60.sec10",
        "1.2.60_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.67.sec10",
        "1.2.67_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.5.9.RC1",
        "1.5.9-RC0",
        Ordering::Greater,
    ),
];

fn judged(file: &str, a: &str, b: &str) -> Option<Ordering> {
    JUDGED_WRONG.iter().find_map(|(f, x, y, order)| {
        if *f != file {
            None
        } else if (*x, *y) == (a, b) {
            Some(*order)
        } else if (*y, *x) == (a, b) {
            Some(order.reverse())
        } else {
            None
        }
    })
}

fn parse_op(op: &str) -> Option<Ordering> {
    match op {
        "<" => Some(Ordering::Less),
        "=" => Some(Ordering::Equal),
        ">" => Some(Ordering::Greater),
        _ => None,
    }
}

/// Runs one file for the given ecosystems; returns the number of checks, or None when the
/// shared data is absent.
fn run(file: &str, ecosystems: &[&str]) -> Option<usize> {
    let path = suite_dir().join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping {file}: {} is not readable (shared data absent)",
            path.display()
        );
        return None;
    };
    let mut failures = Vec::new();
    let mut checks = 0;
    for ecosystem in ecosystems.iter().map(|name| Ecosystem::parse(name)) {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("# ") || line.starts_with("// ") {
                continue;
            }
            let parts: Vec<&str> = line.split(' ').collect();
            let [a, op, b] = parts.as_slice() else {
                failures.push(format!("{file}:{}: malformed line {line:?}", index + 1));
                continue;
            };
            let Some(expected) = parse_op(op) else {
                failures.push(format!(
                    "{file}:{}: unknown operator in {line:?}",
                    index + 1
                ));
                continue;
            };
            for (x, y, written) in [(a, b, expected), (b, a, expected.reverse())] {
                checks += 1;
                let want = judged(file, x, y).unwrap_or(written);
                match compare(&ecosystem, x, y) {
                    Ok(got) if got == want => {}
                    outcome => failures.push(format!(
                        "{file}:{} [{ecosystem}] {x} vs {y}: want {want:?}, got {outcome:?}",
                        index + 1
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Some(checks)
}

macro_rules! suite {
    ($name:ident, $file:literal, $min:expr, [$($eco:literal),+]) => {
        #[test]
        fn $name() {
            if let Some(checks) = run($file, &[$($eco),+]) {
                assert!(checks >= $min, "{} ran only {checks} checks", $file);
            }
        }
    };
}

suite!(
    semver,
    "semver-versions.txt",
    4 * 2 * 86,
    ["npm", "crates.io", "Go", "Hex"]
);
suite!(pub_versions, "pub-versions.txt", 2 * 100, ["Pub"]);
suite!(pypi, "pypi-versions.txt", 2 * 37, ["PyPI"]);
suite!(
    pypi_generated,
    "pypi-versions-generated.txt",
    2 * 12_375,
    ["PyPI"]
);
suite!(
    debian,
    "debian-versions.txt",
    2 * 2 * 30,
    ["Debian", "Ubuntu"]
);
suite!(
    debian_generated,
    "debian-versions-generated.txt",
    2 * 14_442,
    ["Debian"]
);
suite!(
    redhat,
    "redhat-versions.txt",
    2 * 165,
    ["Red Hat", "Rocky Linux"]
);
suite!(alpine, "alpine-versions.txt", 2 * 778, ["Alpine"]);
suite!(
    alpine_generated,
    "alpine-versions-generated.txt",
    2 * 13_979,
    ["Alpine"]
);
suite!(maven, "maven-versions.txt", 2 * 102, ["Maven"]);
suite!(
    maven_generated,
    "maven-versions-generated.txt",
    2 * 14_752,
    ["Maven"]
);
suite!(rubygems, "rubygems-versions.txt", 2 * 25, ["RubyGems"]);
suite!(
    rubygems_generated,
    "rubygems-versions-generated.txt",
    2 * 4_098,
    ["RubyGems"]
);
suite!(nuget, "nuget-versions.txt", 2 * 35, ["NuGet"]);
suite!(packagist, "packagist-versions.txt", 2 * 95, ["Packagist"]);
suite!(
    packagist_generated,
    "packagist-versions-generated.txt",
    2 * 10_630,
    ["Packagist"]
);
