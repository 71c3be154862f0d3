//! Shared checks for the fuzz targets: hostile bytes in, a value or an error out, and the
//! answers consistent with each other.

use std::cmp::Ordering;

use zerotrace_version::osv::{AffectedRanges, Event, Range, RangeKind};
use zerotrace_version::{Ecosystem, NpmRange, Scheme, Version, compare_scheme};

/// Splits fuzz input into NUL-separated strings.
fn fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Two versions: comparison must be antisymmetric and agree with parsed `Version`s.
pub fn check_scheme(scheme: Scheme, data: &[u8]) {
    let f = fields(data);
    let a = f.first().map_or("", String::as_str);
    let b = f.get(1).map_or("", String::as_str);
    let ab = compare_scheme(scheme, a, b);
    let ba = compare_scheme(scheme, b, a);
    match (&ab, &ba) {
        (Ok(x), Ok(y)) => assert_eq!(*x, y.reverse(), "antisymmetry: {a:?} vs {b:?}"),
        _ => assert_eq!(ab.is_ok(), ba.is_ok(), "one direction failed: {a:?} vs {b:?}"),
    }
    if let (Ok(va), Ok(vb)) = (Version::parse_scheme(scheme, a), Version::parse_scheme(scheme, b)) {
        assert_eq!(ab.ok(), Some(va.cmp(&vb)), "string vs parsed: {a:?} vs {b:?}");
        assert_eq!(va.cmp(&va), Ordering::Equal);
    }
}

/// A range and a version.
pub fn check_npm_range(data: &[u8]) {
    let f = fields(data);
    let range = f.first().map_or("", String::as_str);
    let version = f.get(1).map_or("", String::as_str);
    if let Ok(parsed) = NpmRange::parse(range) {
        let _ = parsed.satisfies_str(version);
    }
}

/// An ecosystem name, an installed version, then events as `<kind digit><version>` fields.
pub fn check_osv_ranges(data: &[u8]) {
    let f = fields(data);
    let ecosystem = Ecosystem::parse(f.first().map_or("", String::as_str));
    let installed = f.get(1).cloned().unwrap_or_default();
    let events: Vec<Event> = f
        .iter()
        .skip(2)
        .map(|field| {
            let mut chars = field.chars();
            let kind = chars.next();
            let rest: String = chars.collect();
            match kind {
                Some('0') => Event::Introduced(rest),
                Some('1') => Event::Fixed(rest),
                Some('2') => Event::LastAffected(rest),
                _ => Event::Limit(rest),
            }
        })
        .collect();
    let versions: Vec<String> = f.iter().skip(2).take(2).cloned().collect();
    let ranges = [
        Range {
            kind: RangeKind::Ecosystem,
            events: events.clone(),
        },
        Range {
            kind: RangeKind::Semver,
            events,
        },
    ];
    if let Ok(compiled) = AffectedRanges::compile(&ecosystem, &ranges, &versions) {
        let verdict = compiled.evaluate(&installed);
        if let Ok(v) = Version::parse(&ecosystem, &installed) {
            assert_eq!(compiled.evaluate_version(&v), verdict);
        }
    }
}
