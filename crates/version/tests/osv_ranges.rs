//! OSV range evaluation: every event kind, several ranges, the `versions` list, GIT ranges.

use zerotrace_version::osv::{AffectedRanges, Event, Range, RangeKind, UnknownReason, Verdict};
use zerotrace_version::{Ecosystem, Version};

fn range(kind: RangeKind, events: &[Event]) -> Range {
    Range {
        kind,
        events: events.to_vec(),
    }
}

fn intro(v: &str) -> Event {
    Event::Introduced(v.into())
}
fn fixed(v: &str) -> Event {
    Event::Fixed(v.into())
}
fn last(v: &str) -> Event {
    Event::LastAffected(v.into())
}
fn limit(v: &str) -> Event {
    Event::Limit(v.into())
}

fn compile(eco: &str, ranges: &[Range], versions: &[&str]) -> AffectedRanges {
    let versions: Vec<String> = versions.iter().map(|v| (*v).to_owned()).collect();
    AffectedRanges::compile(&Ecosystem::parse(eco), ranges, &versions)
        .unwrap_or_else(|e| panic!("compile: {e}"))
}

fn affected(range: Option<usize>, fixed: Option<&str>) -> Verdict {
    Verdict::Affected {
        range,
        fixed: fixed.map(str::to_owned),
    }
}

#[test]
fn introduced_zero_and_fixed() {
    let r = compile(
        "PyPI",
        &[range(RangeKind::Ecosystem, &[intro("0"), fixed("2.0.1")])],
        &[],
    );
    assert_eq!(r.evaluate("0.1"), affected(Some(0), Some("2.0.1")));
    assert_eq!(r.evaluate("2.0.1rc1"), affected(Some(0), Some("2.0.1")));
    assert_eq!(r.evaluate("2.0.1"), Verdict::NotAffected);
    assert_eq!(
        r.evaluate("2.0.1.0"),
        Verdict::NotAffected,
        "PEP 440: 2.0.1 == 2.0.1.0"
    );
    assert_eq!(r.evaluate("3"), Verdict::NotAffected);
}

#[test]
fn introduced_is_inclusive_fixed_is_exclusive() {
    let r = compile(
        "npm",
        &[range(RangeKind::Semver, &[intro("1.2.0"), fixed("1.2.5")])],
        &[],
    );
    assert_eq!(r.evaluate("1.1.9"), Verdict::NotAffected);
    assert_eq!(r.evaluate("1.2.0"), affected(Some(0), Some("1.2.5")));
    assert_eq!(r.evaluate("1.2.4"), affected(Some(0), Some("1.2.5")));
    assert_eq!(r.evaluate("1.2.5-beta.1"), affected(Some(0), Some("1.2.5")));
    assert_eq!(r.evaluate("1.2.5"), Verdict::NotAffected);
}

#[test]
fn last_affected_is_inclusive() {
    let r = compile(
        "Debian:12",
        &[range(RangeKind::Ecosystem, &[intro("0"), last("1.2-3")])],
        &[],
    );
    assert_eq!(r.evaluate("1.2-3"), affected(Some(0), None));
    assert_eq!(r.evaluate("1.2-3~deb12u1"), affected(Some(0), None));
    assert_eq!(r.evaluate("1.2-3+deb12u1"), Verdict::NotAffected);
}

#[test]
fn limit_caps_the_range() {
    let r = compile(
        "Go",
        &[range(RangeKind::Semver, &[intro("1.0.0"), limit("1.5.0")])],
        &[],
    );
    assert_eq!(r.evaluate("v1.4.9"), affected(Some(0), None));
    assert_eq!(r.evaluate("v1.5.0"), Verdict::NotAffected);
    let unlimited = compile(
        "Go",
        &[range(RangeKind::Semver, &[intro("1.0.0"), limit("*")])],
        &[],
    );
    assert_eq!(unlimited.evaluate("v9.0.0"), affected(Some(0), None));
}

#[test]
fn events_are_sorted_before_evaluation() {
    // Two intervals given out of order: [1.0, 1.1) and [2.0, 2.3).
    let events = [fixed("2.3"), intro("2.0"), fixed("1.1"), intro("1.0")];
    let r = compile("Maven", &[range(RangeKind::Ecosystem, &events)], &[]);
    assert_eq!(r.evaluate("1.0.5"), affected(Some(0), Some("1.1")));
    assert_eq!(r.evaluate("1.5"), Verdict::NotAffected);
    assert_eq!(r.evaluate("2.1"), affected(Some(0), Some("2.3")));
    assert_eq!(r.evaluate("2.3"), Verdict::NotAffected);
    assert_eq!(r.evaluate("0.9"), Verdict::NotAffected);
}

#[test]
fn several_ranges_report_the_matching_one() {
    let ranges = [
        range(RangeKind::Ecosystem, &[intro("1.0"), fixed("1.4")]),
        range(RangeKind::Ecosystem, &[intro("2.0"), fixed("2.2")]),
    ];
    let r = compile("RubyGems", &ranges, &[]);
    assert_eq!(r.evaluate("1.3"), affected(Some(0), Some("1.4")));
    assert_eq!(r.evaluate("2.1.9"), affected(Some(1), Some("2.2")));
    assert_eq!(r.evaluate("1.9"), Verdict::NotAffected);
}

#[test]
fn explicit_versions_list_alone_and_with_ranges() {
    let r = compile("PyPI", &[], &["1.0", "1.1.post1", "not a version!"]);
    assert_eq!(r.evaluate("1.0.0"), affected(None, None));
    assert_eq!(r.evaluate("1.1.post1"), affected(None, None));
    assert_eq!(r.evaluate("not a version!"), affected(None, None));
    assert_eq!(r.evaluate("1.1"), Verdict::NotAffected);

    let r = compile(
        "crates.io",
        &[range(RangeKind::Semver, &[intro("0.5.0"), fixed("0.5.3")])],
        &["0.4.0"],
    );
    assert_eq!(r.evaluate("0.5.1"), affected(Some(0), Some("0.5.3")));
    assert_eq!(r.evaluate("0.4.0"), affected(None, Some("0.5.3")));
    assert_eq!(r.evaluate("0.4.1"), Verdict::NotAffected);
}

#[test]
fn git_ranges_answer_unknown() {
    let git = range(RangeKind::Git, &[intro("0"), fixed("deadbeef")]);
    let r = compile("npm", std::slice::from_ref(&git), &[]);
    assert_eq!(
        r.evaluate("1.0.0"),
        Verdict::Unknown {
            reason: UnknownReason::GitRange { range: 0 }
        }
    );
    // With an enumerated versions list the answer is definite.
    let r = compile("npm", std::slice::from_ref(&git), &["1.0.0"]);
    assert_eq!(r.evaluate("1.0.0"), affected(None, None));
    assert_eq!(r.evaluate("1.0.1"), Verdict::NotAffected);
    // A matching ordered range still wins over the GIT range.
    let r = compile(
        "npm",
        &[
            git,
            range(RangeKind::Semver, &[intro("1.0.0"), fixed("1.0.2")]),
        ],
        &[],
    );
    assert_eq!(r.evaluate("1.0.1"), affected(Some(1), Some("1.0.2")));
    assert!(matches!(r.evaluate("2.0.0"), Verdict::Unknown { .. }));
}

#[test]
fn semver_ranges_use_semver_in_any_ecosystem() {
    // In PyPI, 1.0.0-rc1 is not PEP 440 ordering territory; the SEMVER range reads it as SemVer.
    let r = compile(
        "PyPI",
        &[range(RangeKind::Semver, &[intro("1.0.0"), fixed("1.1.0")])],
        &[],
    );
    assert_eq!(r.evaluate("1.0.5"), affected(Some(0), Some("1.1.0")));
    assert_eq!(r.evaluate("1.1.0-rc.1"), affected(Some(0), Some("1.1.0")));
}

#[test]
fn invalid_installed_version_is_unknown() {
    let r = compile(
        "npm",
        &[range(RangeKind::Semver, &[intro("0"), fixed("1.0.0")])],
        &[],
    );
    let Verdict::Unknown {
        reason: UnknownReason::InvalidVersion(error),
    } = r.evaluate("latest")
    else {
        panic!("expected an invalid-version verdict");
    };
    assert_eq!(error.input, "latest");
}

#[test]
fn invalid_event_version_fails_compilation() {
    let ranges = [range(RangeKind::Ecosystem, &[intro("0"), fixed("")])];
    let error = AffectedRanges::compile(&Ecosystem::Debian, &ranges, &[]).err();
    assert_eq!(
        error.map(|e| e.reason.into_owned()),
        Some("version string is empty".to_owned())
    );
}

#[test]
fn parsed_versions_evaluate_like_text() {
    let r = compile(
        "Alpine:v3.19",
        &[range(
            RangeKind::Ecosystem,
            &[intro("0"), fixed("1.2.3-r2")],
        )],
        &[],
    );
    let installed =
        Version::parse(&Ecosystem::Alpine, "1.2.3-r1").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.evaluate_version(&installed),
        affected(Some(0), Some("1.2.3-r2"))
    );
    assert_eq!(r.evaluate_version(&installed), r.evaluate("1.2.3-r1"));
}

#[test]
fn range_kinds_parse_from_osv_names() {
    assert_eq!("SEMVER".parse(), Ok(RangeKind::Semver));
    assert_eq!("ECOSYSTEM".parse(), Ok(RangeKind::Ecosystem));
    assert_eq!("GIT".parse(), Ok(RangeKind::Git));
    assert!("git".parse::<RangeKind>().is_err());
}
