//! SemVer 2.0 precedence, for npm, crates.io, Go, Hex and SwiftURL; and Dart's `pub_semver`
//! ordering for Pub, which also orders build metadata.
//!
//! Parsing is lenient in the ways the ecosystems' own data needs: a leading `v`, `V` or `=`
//! (Go's `v1.2.3`, npm's loose `=1.2.3`), surrounding spaces, missing minor or patch
//! numbers (`1.2` is `1.2.0`), numbers of any size, and a pre-release written without its
//! hyphen (`1.2.3beta`). Numbers beyond the third (`1.2.3.4`) are read as build metadata.
//! Go's `+incompatible` is build metadata and so is ignored; pseudo-versions are pre-releases
//! and order as Go orders them. A string that does not start with a number is an error.

use std::cmp::Ordering;

use crate::digits::{Num, all_digits, cmp_digits};

#[derive(Debug, Clone)]
pub(crate) struct SemVer {
    pub(crate) major: Num,
    pub(crate) minor: Num,
    pub(crate) patch: Num,
    /// Pre-release identifiers joined by `.`, without the leading `-`; empty when absent.
    pub(crate) pre: Box<str>,
    /// Build metadata without the leading `+`; empty when absent.
    pub(crate) build: Box<str>,
}

fn number(bytes: &[u8], pos: &mut usize) -> Option<Num> {
    let start = *pos;
    while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
        *pos += 1;
    }
    let digits = bytes.get(start..*pos)?;
    (!digits.is_empty()).then(|| Num::from_ascii(digits))
}

pub(crate) fn parse(text: &str) -> Result<SemVer, &'static str> {
    let trimmed = text.trim_ascii();
    let body = match trimmed.as_bytes().first() {
        Some(b'v' | b'V' | b'=') => trimmed.get(1..).unwrap_or_default().trim_ascii_start(),
        _ => trimmed,
    };
    let bytes = body.as_bytes();
    let mut pos = 0;
    let major = number(bytes, &mut pos).ok_or("expected a major version number")?;
    let mut numbers = [Num::ZERO, Num::ZERO];
    for slot in &mut numbers {
        if bytes.get(pos) == Some(&b'.') && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) {
            pos += 1;
            if let Some(n) = number(bytes, &mut pos) {
                *slot = n;
            }
        } else {
            break;
        }
    }
    let [minor, patch] = numbers;
    let rest = body.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(SemVer {
            major,
            minor,
            patch,
            pre: Box::default(),
            build: Box::default(),
        });
    }
    let (pre, build) = if let Some(extra) = rest.strip_prefix('.') {
        // Components past the third carry no precedence: build metadata.
        ("", extra)
    } else {
        let plus = rest.bytes().position(|c| c == b'+');
        let (pre, build) = match plus {
            Some(at) => (
                rest.get(..at).unwrap_or_default(),
                rest.get(at + 1..).unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let pre = pre.strip_prefix('-').unwrap_or(pre);
        if rest.starts_with('-') && pre.is_empty() {
            return Err("empty pre-release after '-'");
        }
        (pre, build)
    };
    if rest.starts_with('+') && build.is_empty() {
        return Err("empty build metadata after '+'");
    }
    if !pre.is_empty() && pre.as_bytes().split(|&c| c == b'.').any(<[u8]>::is_empty) {
        return Err("empty pre-release identifier");
    }
    Ok(SemVer {
        major,
        minor,
        patch,
        pre: pre.into(),
        build: build.into(),
    })
}

/// SemVer's identifier precedence: numbers numerically, below any alphanumeric identifier,
/// which compare as ASCII; a longer list wins when one is a prefix of the other.
pub(crate) fn cmp_identifiers(a: &str, b: &str, fold_case: bool) -> Ordering {
    let mut ia = a.as_bytes().split(|&c| c == b'.');
    let mut ib = b.as_bytes().split(|&c| c == b'.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (all_digits(x), all_digits(y)) {
                    (true, true) => cmp_digits(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) if fold_case => x
                        .iter()
                        .map(u8::to_ascii_lowercase)
                        .cmp(y.iter().map(u8::to_ascii_lowercase)),
                    (false, false) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// A version without pre-release sorts after the same version with one.
pub(crate) fn cmp_pre(a: &str, b: &str, fold_case: bool) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => cmp_identifiers(a, b, fold_case),
    }
}

impl SemVer {
    pub(crate) fn cmp_precedence(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| cmp_pre(&self.pre, &other.pre, false))
    }

    /// `pub_semver`: after precedence, no build metadata sorts before any.
    pub(crate) fn cmp_pub(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other).then_with(|| {
            match (self.build.is_empty(), other.build.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => cmp_identifiers(&self.build, &other.build, false),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVer {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn precedence_follows_the_spec() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "v1.0.1",
            "1.1",
            "2",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(v(a).cmp_precedence(&v(b)), Ordering::Less, "{a} < {b}");
            }
        }
        assert_eq!(
            v("1.2.3+build").cmp_precedence(&v("1.2.3")),
            Ordering::Equal
        );
        assert_eq!(
            v("v1.2.3+incompatible").cmp_precedence(&v("1.2.3")),
            Ordering::Equal
        );
        assert_eq!(
            v("v0.0.0-20191109021931-daa7c04131f5")
                .cmp_precedence(&v("v0.0.0-20200101000000-aaaaaaaaaaaa")),
            Ordering::Less
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(parse("abc").err(), Some("expected a major version number"));
        assert_eq!(parse("1.2.3-").err(), Some("empty pre-release after '-'"));
        assert_eq!(
            parse("1.2.3+").err(),
            Some("empty build metadata after '+'")
        );
        assert_eq!(
            parse("1.2.3-a..b").err(),
            Some("empty pre-release identifier")
        );
    }
}
