//! dpkg's version ordering (`dpkg --compare-versions`), used by Debian and Ubuntu.
//!
//! A version is `[epoch:]upstream[-revision]`. The epoch is a number; upstream and revision are
//! compared by `verrevcmp`: alternating runs of non-digits (compared character by character,
//! where `~` sorts before everything, even the end of the string, and letters sort before
//! other characters) and digits (compared numerically). A missing revision is `""`, which
//! compares equal to `"0"`. Parsing rejects exactly what dpkg's `parseversion` rejects; the
//! things dpkg only warns about (an upstream part not starting with a digit, odd characters)
//! are accepted and compared as dpkg compares them.

use std::cmp::Ordering;
use std::ops::Range;

/// Offsets of the parts of a parsed version inside its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    epoch: u32,
    upstream: Range<usize>,
    revision: Range<usize>,
}

pub(crate) fn parse(text: &str) -> Result<Parsed, &'static str> {
    let start = text.len() - text.trim_start().len();
    let end = text.trim_end().len();
    if start >= end {
        return Err("version string is empty");
    }
    let body = text.get(start..end).unwrap_or_default();
    if body.bytes().any(|c| c.is_ascii_whitespace()) {
        return Err("version string has embedded spaces");
    }
    let (epoch, upstream_start) = match body.find(':') {
        Some(colon) => {
            let digits = body.get(..colon).unwrap_or_default();
            if digits.is_empty() {
                return Err("epoch in version is empty");
            }
            if !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err("epoch in version is not number");
            }
            let epoch = digits
                .parse::<u32>()
                .ok()
                .filter(|&e| e <= i32::MAX as u32)
                .ok_or("epoch in version is too big")?;
            if colon + 1 == body.len() {
                return Err("nothing after colon in version number");
            }
            (epoch, start + colon + 1)
        }
        None => (0, start),
    };
    let rest = text.get(upstream_start..end).unwrap_or_default();
    let (upstream, revision) = match rest.rfind('-') {
        Some(hyphen) => {
            if hyphen + 1 == rest.len() {
                return Err("revision number is empty");
            }
            (
                upstream_start..upstream_start + hyphen,
                upstream_start + hyphen + 1..end,
            )
        }
        None => (upstream_start..end, end..end),
    };
    if upstream.is_empty() {
        return Err("version number is empty");
    }
    Ok(Parsed {
        epoch,
        upstream,
        revision,
    })
}

pub(crate) fn cmp_parsed(a_text: &str, a: &Parsed, b_text: &str, b: &Parsed) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(slice(a_text, &a.upstream), slice(b_text, &b.upstream)))
        .then_with(|| verrevcmp(slice(a_text, &a.revision), slice(b_text, &b.revision)))
}

fn slice<'a>(text: &'a str, range: &Range<usize>) -> &'a [u8] {
    text.as_bytes().get(range.clone()).unwrap_or_default()
}

/// Compares two version strings without keeping them.
pub(crate) fn compare_str(a: &str, b: &str) -> Result<Ordering, (bool, &'static str)> {
    let pa = parse(a).map_err(|reason| (true, reason))?;
    let pb = parse(b).map_err(|reason| (false, reason))?;
    Ok(cmp_parsed(a, &pa, b, &pb))
}

/// dpkg's weight of a non-digit character; the end of the string weighs 0.
fn order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(&c) if c.is_ascii_digit() => 0,
        Some(&c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(&c) => i32::from(c) + 256,
    }
}

fn is_digit(c: Option<&u8>) -> bool {
    c.is_some_and(u8::is_ascii_digit)
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a.get(i))) || (j < b.len() && !is_digit(b.get(j))) {
            let ac = order(a.get(i));
            let bc = order(b.get(j));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a.get(i)) && is_digit(b.get(j)) {
            if first_diff == Ordering::Equal {
                first_diff = a.get(i).cmp(&b.get(j));
            }
            i += 1;
            j += 1;
        }
        if is_digit(a.get(i)) {
            return Ordering::Greater;
        }
        if is_digit(b.get(j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare_str(a, b).unwrap_or_else(|e| panic!("{a} vs {b}: {e:?}"))
    }

    #[test]
    fn tilde_sorts_before_everything() {
        assert_eq!(cmp("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(cmp("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(cmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0-1", "1.0-1.0"), Ordering::Less);
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        assert_eq!(parse(""), Err("version string is empty"));
        assert_eq!(parse("1 2"), Err("version string has embedded spaces"));
        assert_eq!(parse("a:1"), Err("epoch in version is not number"));
        assert_eq!(parse(":1"), Err("epoch in version is empty"));
        assert_eq!(parse("1:"), Err("nothing after colon in version number"));
        assert_eq!(parse("1.0-"), Err("revision number is empty"));
        assert_eq!(parse("-1"), Err("version number is empty"));
        assert_eq!(parse("99999999999:1"), Err("epoch in version is too big"));
        assert!(parse(" 1.0 ").is_ok());
    }
}
