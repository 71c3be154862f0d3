//! apk-tools' version ordering (`apk version -t`), used by Alpine, Wolfi and Chainguard.
//!
//! A valid version is `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}` where the
//! suffixes sort `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`.
//! A number component after the first that starts with `0` compares as a string (apk treats
//! it as a decimal fraction). The commit hash is ignored.
//!
//! apk accepts junk and so does this module: a string that does not follow the grammar is
//! *invalid*. Versions compare by the parts that could be read; then a version with text left
//! over sorts below the same version without; then a valid version sorts below an invalid
//! one, and two invalid versions compare as byte strings. OSV's tooling compares two invalid
//! versions as byte strings outright, which is not transitive (`0 < 1^`, `1^ < ^`, `^ < 0`):
//! `Version` must be a total order, so this module keeps the byte comparison as the last
//! tie-break only. Two lines of the shared suite that depend on it are listed in the crate
//! docs.

use std::cmp::Ordering;
use std::ops::Range;

use crate::digits::cmp_digits;

/// Suffix names in the order of their weight; `p` is last and no suffix weighs as `""`.
const SUFFIXES: [&str; 10] = [
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const NO_SUFFIX: u8 = 4;
/// The order in which suffix names are tried, longest spelling first where one is a prefix
/// of another (`pre` before `p`).
const SUFFIX_MATCH_ORDER: [u8; 9] = [0, 1, 2, 3, 5, 6, 7, 8, 9];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    invalid: bool,
    components: Vec<Range<usize>>,
    letter: Option<u8>,
    suffixes: Vec<(u8, Range<usize>)>,
    build: Range<usize>,
    has_remainder: bool,
}

pub(crate) fn parse(text: &str) -> Parsed {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut components = Vec::new();
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        components.push(start..pos);
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
        } else {
            break;
        }
    }
    let letter = match bytes.get(pos) {
        Some(&c) if c.is_ascii_lowercase() => {
            pos += 1;
            Some(c)
        }
        _ => None,
    };
    let mut suffixes = Vec::new();
    'suffixes: while bytes.get(pos) == Some(&b'_') {
        let after = bytes.get(pos + 1..).unwrap_or_default();
        for weight in SUFFIX_MATCH_ORDER {
            let name = SUFFIXES
                .get(usize::from(weight))
                .copied()
                .unwrap_or_default()
                .as_bytes();
            if after.starts_with(name) {
                let digits_start = pos + 1 + name.len();
                let mut end = digits_start;
                while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
                suffixes.push((weight, digits_start..end));
                pos = end;
                continue 'suffixes;
            }
        }
        break;
    }
    if bytes.get(pos) == Some(&b'~') {
        let mut end = pos + 1;
        while bytes
            .get(end)
            .is_some_and(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            end += 1;
        }
        if end > pos + 1 {
            pos = end;
        }
    }
    let mut invalid = false;
    let mut build = 0..0;
    if pos < bytes.len() {
        if bytes.get(pos..pos + 2) == Some(b"-r".as_slice()) {
            let start = pos + 2;
            let mut end = start;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            build = start..end;
            pos = end;
        } else {
            invalid = true;
        }
    }
    Parsed {
        invalid,
        components,
        letter,
        suffixes,
        build,
        has_remainder: pos < bytes.len(),
    }
}

fn slice<'a>(text: &'a str, range: &Range<usize>) -> &'a [u8] {
    text.as_bytes().get(range.clone()).unwrap_or_default()
}

fn cmp_components(a_text: &str, a: &Parsed, b_text: &str, b: &Parsed) -> Ordering {
    for index in 0..a.components.len().max(b.components.len()) {
        let ca = a.components.get(index).map(|r| slice(a_text, r));
        let cb = b.components.get(index).map(|r| slice(b_text, r));
        let order = match (ca, cb) {
            (Some(x), Some(y))
                if index > 0 && (x.first() == Some(&b'0') || y.first() == Some(&b'0')) =>
            {
                x.cmp(y)
            }
            (x, y) => cmp_digits(x.unwrap_or(b"0"), y.unwrap_or(b"0")),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn cmp_suffixes(a_text: &str, a: &Parsed, b_text: &str, b: &Parsed) -> Ordering {
    for index in 0..a.suffixes.len().max(b.suffixes.len()) {
        let (wa, na) = a
            .suffixes
            .get(index)
            .map_or((NO_SUFFIX, b"".as_slice()), |(w, r)| (*w, slice(a_text, r)));
        let (wb, nb) = b
            .suffixes
            .get(index)
            .map_or((NO_SUFFIX, b"".as_slice()), |(w, r)| (*w, slice(b_text, r)));
        let order = wa.cmp(&wb).then_with(|| cmp_digits(na, nb));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

pub(crate) fn cmp_parsed(a_text: &str, a: &Parsed, b_text: &str, b: &Parsed) -> Ordering {
    cmp_components(a_text, a, b_text, b)
        .then_with(|| a.letter.cmp(&b.letter))
        .then_with(|| cmp_suffixes(a_text, a, b_text, b))
        .then_with(|| cmp_digits(slice(a_text, &a.build), slice(b_text, &b.build)))
        .then_with(|| b.has_remainder.cmp(&a.has_remainder))
        .then_with(|| match (a.invalid, b.invalid) {
            (false, false) => Ordering::Equal,
            (false, true) => Ordering::Less,
            (true, false) => Ordering::Greater,
            (true, true) => a_text.as_bytes().cmp(b_text.as_bytes()),
        })
}

pub(crate) fn compare_str(a: &str, b: &str) -> Ordering {
    cmp_parsed(a, &parse(a), b, &parse(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_order() {
        let order = [
            "1.2_alpha",
            "1.2_beta",
            "1.2_pre",
            "1.2_rc1",
            "1.2",
            "1.2-r1",
            "1.2_cvs",
            "1.2_svn",
            "1.2_git",
            "1.2_hg",
            "1.2_p1",
            "1.2a",
            "1.2.1",
        ];
        for pair in order.windows(2) {
            if let [a, b] = pair {
                assert_eq!(compare_str(a, b), Ordering::Less, "{a} < {b}");
            }
        }
    }
}
