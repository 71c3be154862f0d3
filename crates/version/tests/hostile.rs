//! Hostile input: arbitrary strings and bytes fed to every parser and comparator must give a
//! value or an error, never a panic, and string comparison must agree with parsed versions.

use proptest::prelude::*;
use zerotrace_version::osv::{AffectedRanges, Event, Range, RangeKind};
use zerotrace_version::{Ecosystem, NpmRange, Scheme, Version, compare_scheme};

const SCHEMES: [Scheme; 11] = [
    Scheme::Dpkg,
    Scheme::Rpm,
    Scheme::Apk,
    Scheme::Semver,
    Scheme::Pub,
    Scheme::Pep440,
    Scheme::Maven,
    Scheme::RubyGems,
    Scheme::NuGet,
    Scheme::Composer,
    Scheme::Natural,
];

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..48)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        r"[0-9a-zA-Z.~^_+:!#*|<>= -]{0,24}",
    ]
}

fn check_pair(a: &str, b: &str) -> Result<(), TestCaseError> {
    for scheme in SCHEMES {
        let by_text = compare_scheme(scheme, a, b);
        match (
            Version::parse_scheme(scheme, a),
            Version::parse_scheme(scheme, b),
        ) {
            (Ok(va), Ok(vb)) => {
                prop_assert_eq!(by_text, Ok(va.cmp(&vb)), "{}: {:?} vs {:?}", scheme, a, b)
            }
            (Err(e), _) | (_, Err(e)) => {
                prop_assert!(
                    by_text.is_err(),
                    "{}: {:?} vs {:?} compared despite {}",
                    scheme,
                    a,
                    b,
                    e
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn comparators_never_panic(a in any_text(), b in any_text()) {
        check_pair(&a, &b)?;
    }

    #[test]
    fn npm_ranges_never_panic(range in any_text(), version in any_text()) {
        if let Ok(parsed) = NpmRange::parse(&range) {
            let satisfied = parsed.satisfies_str(&version);
            prop_assert_eq!(satisfied.is_err(), Version::parse_scheme(Scheme::Semver, &version).is_err());
        }
    }

    #[test]
    fn range_evaluation_never_panics(
        ecosystem in any_text(),
        events in proptest::collection::vec((0u8..4, any_text()), 0..5),
        listed in proptest::collection::vec(any_text(), 0..3),
        installed in any_text(),
    ) {
        let ecosystem = Ecosystem::parse(&ecosystem);
        let events: Vec<Event> = events
            .into_iter()
            .map(|(kind, text)| match kind {
                0 => Event::Introduced(text),
                1 => Event::Fixed(text),
                2 => Event::LastAffected(text),
                _ => Event::Limit(text),
            })
            .collect();
        let ranges = [
            Range { kind: RangeKind::Ecosystem, events: events.clone() },
            Range { kind: RangeKind::Git, events },
        ];
        if let Ok(compiled) = AffectedRanges::compile(&ecosystem, &ranges, &listed) {
            let verdict = compiled.evaluate(&installed);
            if let Ok(v) = Version::parse(&ecosystem, &installed) {
                prop_assert_eq!(compiled.evaluate_version(&v), verdict);
            }
        }
    }
}
