//! rpm's version ordering (`rpmvercmp` over `[epoch:]version[-release]`), used by Red Hat,
//! AlmaLinux, Rocky Linux, SUSE, openSUSE, Mageia and other RPM distributions.
//!
//! rpm never rejects a version: every string compares. The epoch is the run of digits before
//! the first `:` (anything else before a colon is part of the version, as in `parseEVR`); a
//! missing epoch is `0`. The release is whatever follows the last `-`.
//!
//! One choice rpm leaves open: `rpmVersionCompare` skips the release when either side has
//! none. Here, as in OSV's own tooling and the shared suite (`1 < 1-0`), a missing release
//! sorts before any release. Installed packages and advisories always carry a release, so
//! this only decides how bare versions typed by hand compare.

use std::cmp::Ordering;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    epoch: Option<Range<usize>>,
    version: Range<usize>,
    release: Option<Range<usize>>,
}

pub(crate) fn parse(text: &str) -> Parsed {
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
    let (epoch, version_start) = if bytes.get(digits) == Some(&b':') {
        (Some(0..digits), digits + 1)
    } else {
        (None, 0)
    };
    let rest = text.get(version_start..).unwrap_or_default();
    match rest.rfind('-') {
        Some(hyphen) => Parsed {
            epoch,
            version: version_start..version_start + hyphen,
            release: Some(version_start + hyphen + 1..text.len()),
        },
        None => Parsed {
            epoch,
            version: version_start..text.len(),
            release: None,
        },
    }
}

fn slice<'a>(text: &'a str, range: &Range<usize>) -> &'a [u8] {
    text.as_bytes().get(range.clone()).unwrap_or_default()
}

pub(crate) fn cmp_parsed(a_text: &str, a: &Parsed, b_text: &str, b: &Parsed) -> Ordering {
    let epoch = |text, range: &Option<Range<usize>>| match range {
        Some(range) if !range.is_empty() => slice(text, range),
        _ => b"0".as_slice(),
    };
    rpmvercmp(epoch(a_text, &a.epoch), epoch(b_text, &b.epoch))
        .then_with(|| rpmvercmp(slice(a_text, &a.version), slice(b_text, &b.version)))
        .then_with(|| match (&a.release, &b.release) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(ra), Some(rb)) => rpmvercmp(slice(a_text, ra), slice(b_text, rb)),
        })
}

pub(crate) fn compare_str(a: &str, b: &str) -> Ordering {
    cmp_parsed(a, &parse(a), b, &parse(b))
}

fn is_separator(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// rpm's `rpmvercmp`, segment by segment.
pub(crate) fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    loop {
        while a.get(i).is_some_and(|&c| is_separator(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| is_separator(c)) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let Some(first) = ca else {
            return Ordering::Less;
        };
        if cb.is_none() {
            return Ordering::Greater;
        }
        let numeric = first.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a_len = a
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| class(c))
            .count();
        let seg_b_len = b
            .get(j..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| class(c))
            .count();
        let seg_a = a.get(i..i + seg_a_len).unwrap_or_default();
        let seg_b = b.get(j..j + seg_b_len).unwrap_or_default();
        i += seg_a_len;
        j += seg_b_len;
        if seg_b.is_empty() {
            // Segments of different kinds: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            crate::digits::cmp_digits(seg_a, seg_b)
        } else {
            seg_a.cmp(seg_b)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_and_caret() {
        assert_eq!(compare_str("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(compare_str("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(compare_str("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(compare_str("2:1.0-1", "1:9.0-1"), Ordering::Greater);
        assert_eq!(compare_str("1.0-1.el9", "1.0-1.el9_2"), Ordering::Less);
    }
}
