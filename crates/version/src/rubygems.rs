//! RubyGems' `Gem::Version` ordering.
//!
//! `-` means `.pre.`; the version splits into runs of digits (numbers) and runs of letters
//! (strings, which make it a pre-release); trailing zeros of the numeric part and of the
//! string part are dropped; segments compare in turn, a string below a number, strings by
//! bytes, a missing segment counting as 0. Strings with characters `Gem::Version` rejects
//! are errors.

use std::cmp::Ordering;

use crate::digits::Num;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Number(Num),
    Text(Box<str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GemVersion {
    segments: Vec<Segment>,
}

pub(crate) fn parse(text: &str) -> Result<GemVersion, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("version string is empty");
    }
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("malformed version number string: must start with a number");
    }
    if let Some(bad) = text
        .bytes()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-'))
    {
        return Err(match bad {
            b' ' | b'\t' => "malformed version number string: embedded whitespace",
            _ => "malformed version number string: unexpected character",
        });
    }
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        match bytes.get(pos) {
            Some(c) if c.is_ascii_digit() => {
                while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                    pos += 1;
                }
                segments.push(Segment::Number(Num::from_digits(
                    text.get(start..pos).unwrap_or_default(),
                )));
            }
            Some(c) if c.is_ascii_alphabetic() => {
                while bytes.get(pos).is_some_and(u8::is_ascii_alphabetic) {
                    pos += 1;
                }
                segments.push(Segment::Text(
                    text.get(start..pos).unwrap_or_default().into(),
                ));
            }
            Some(b'-') => {
                // `-` is `.pre.`.
                segments.push(Segment::Text("pre".into()));
                pos += 1;
            }
            _ => pos += 1,
        }
    }
    Ok(GemVersion {
        segments: canonical(segments),
    })
}

/// `canonical_segments`: trailing zeros go from the numeric part and from the rest.
fn canonical(segments: Vec<Segment>) -> Vec<Segment> {
    let split = segments
        .iter()
        .position(|s| matches!(s, Segment::Text(_)))
        .unwrap_or(segments.len());
    let mut numeric = segments;
    let mut rest = numeric.split_off(split);
    let is_zero = |s: &Segment| matches!(s, Segment::Number(n) if n.is_zero());
    while numeric.last().is_some_and(is_zero) {
        numeric.pop();
    }
    while rest.last().is_some_and(is_zero) {
        rest.pop();
    }
    numeric.append(&mut rest);
    numeric
}

const ZERO: Segment = Segment::Number(Num::ZERO);

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let a = self.segments.get(i).unwrap_or(&ZERO);
            let b = other.segments.get(i).unwrap_or(&ZERO);
            let order = match (a, b) {
                (Segment::Number(x), Segment::Number(y)) => x.cmp(y),
                (Segment::Text(x), Segment::Text(y)) => x.cmp(y),
                (Segment::Text(_), Segment::Number(_)) => Ordering::Less,
                (Segment::Number(_), Segment::Text(_)) => Ordering::Greater,
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GemVersion {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn prereleases_sort_first() {
        let ordered = [
            "1.0.a", "1.0.a.1", "1.0.b1", "1.0-rc1", "1.0", "1.0.1", "1.10",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
            }
        }
        assert_eq!(v("1.0.0").cmp(&v("1")), Ordering::Equal);
        assert!(parse("1.0 beta").is_err());
        assert!(parse("beta").is_err());
    }
}
