//! Packagist ordering: PHP's `version_compare` after Composer's relaxations.
//!
//! A leading `v`/`V` is dropped; `-`, `_` and `+` become `.`, and a `.` is put between a digit
//! and a non-digit wherever they touch; the pieces then compare in turn: numbers by value,
//! special words by `dev < alpha = a < beta = b < RC = rc < # < pl = p` (matched by prefix,
//! unknown words below `dev`), a number against a word as `#` against the word. When one
//! version runs out, a following number makes the longer one newer; otherwise the rest is
//! compared against `#`. Every string compares, as in PHP; only the empty string is rejected.

use std::cmp::Ordering;

use crate::digits::{all_digits, cmp_digits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComposerVersion {
    parts: Vec<Box<str>>,
}

pub(crate) fn parse(text: &str) -> Result<ComposerVersion, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("version string is empty");
    }
    let body = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let mut canonical = String::with_capacity(body.len() + 4);
    let mut previous: Option<char> = None;
    for c in body.chars() {
        let c = if matches!(c, '-' | '_' | '+') { '.' } else { c };
        if let Some(p) = previous {
            let p_digit = p.is_ascii_digit();
            let c_digit = c.is_ascii_digit();
            if p != '.' && c != '.' && p_digit != c_digit {
                canonical.push('.');
            }
        }
        canonical.push(c);
        previous = Some(c);
    }
    Ok(ComposerVersion {
        parts: canonical.split('.').map(Box::from).collect(),
    })
}

fn special_weight(part: &str) -> i8 {
    if part.starts_with("RC") {
        return 3;
    }
    const SPECIALS: [(&str, i8); 6] = [
        ("dev", 0),
        ("a", 1),
        ("b", 2),
        ("rc", 3),
        ("#", 4),
        ("p", 5),
    ];
    SPECIALS
        .iter()
        .find(|(prefix, _)| part.starts_with(prefix))
        .map_or(-1, |(_, weight)| *weight)
}

/// PHP ranks a number level with `#`, and `#` level with a missing part, yet a number above a
/// missing part: not transitive (`3 = 3.# = 3.0.dev`, but `3 < 3.0.dev`). A number sits just
/// above `#` here, below `p`/`pl`, which keeps the order total; only `1.2.3.# = 1.2.3.1` of the
/// shared suite answers otherwise (`<`).
fn number_vs_special(special: &str) -> Ordering {
    if special_weight(special) > special_weight("#") {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn cmp_part(a: &str, b: &str) -> Ordering {
    match (all_digits(a.as_bytes()), all_digits(b.as_bytes())) {
        (true, true) => cmp_digits(a.as_bytes(), b.as_bytes()),
        (false, false) => special_weight(a).cmp(&special_weight(b)),
        (true, false) => number_vs_special(b),
        (false, true) => number_vs_special(a).reverse(),
    }
}

fn cmp_parts(a: &[Box<str>], b: &[Box<str>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = cmp_part(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    match a.len().cmp(&b.len()) {
        Ordering::Equal => Ordering::Equal,
        Ordering::Greater => {
            let rest = a.get(b.len()..).unwrap_or_default();
            if rest.first().is_some_and(|p| all_digits(p.as_bytes())) {
                Ordering::Greater
            } else {
                cmp_rest(rest)
            }
        }
        Ordering::Less => {
            let rest = b.get(a.len()..).unwrap_or_default();
            if rest.first().is_some_and(|p| all_digits(p.as_bytes())) {
                Ordering::Less
            } else {
                cmp_rest(rest).reverse()
            }
        }
    }
}

/// The tail of the longer version against the single piece `#`.
fn cmp_rest(rest: &[Box<str>]) -> Ordering {
    match rest.first() {
        None => Ordering::Less,
        Some(first) => match cmp_part(first, "#") {
            Ordering::Equal if rest.len() > 1 => {
                let tail = rest.get(1..).unwrap_or_default();
                if tail.first().is_some_and(|p| all_digits(p.as_bytes())) {
                    Ordering::Greater
                } else {
                    cmp_rest(tail)
                }
            }
            order => order,
        },
    }
}

impl Ord for ComposerVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_parts(&self.parts, &other.parts)
    }
}

impl PartialOrd for ComposerVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_special_forms() {
        let v = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let ordered = [
            "1.0-dev", "1.0a1", "1.0b1", "1.0RC1", "1.0", "1.0pl1", "1.1",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
            }
        }
        assert_eq!(v("v1.0.0rc2").cmp(&v("1.0.0.rc2")), Ordering::Equal);
    }
}
