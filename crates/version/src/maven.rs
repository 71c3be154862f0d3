//! Maven's version order (the "Version Order Specification" of the POM reference, which
//! `ComparableVersion` implements).
//!
//! A version splits into tokens at `.`, `-` and every change between digits and non-digits
//! (such a change counts as `-`); empty tokens are `0`; the null values `0`, `""`, `final`,
//! `ga` and `release` are trimmed from the end of every hyphen-separated part. Tokens compare
//! in turn, the shorter version padded with null tokens of the other's prefix. Qualifiers
//! order `alpha < beta < milestone < rc = cr < snapshot < "" = final = ga = release < sp`, then
//! unknown qualifiers alphabetically; `a1`, `b1`, `m1` mean `alpha-1`, `beta-1`, `milestone-1`.
//! Between prefixes: `.qualifier = -qualifier < -number < .number`: a qualifier compares as
//! a qualifier whether a `.` or a `-` precedes it, as Maven 3.9 reads `.X` as `-X`. Case does
//! not matter.
//!
//! Maven 3.8 and older put every `.qualifier` below every `-qualifier`, which is not
//! transitive (`7.abc < 7alpha < 7 < 7.abc`), and [`crate::Version`] must be a total order.
//! The generated shared suite was made with such a Maven; the 14 lines where that shows are
//! listed in the crate docs.
//! Every string is a Maven version, as in Maven; only the empty string is rejected here.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::digits::{all_digits, cmp_digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// The first token, which has none; it only ever meets another first token.
    Start,
    Dot,
    Hyphen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    prefix: Prefix,
    value: Box<str>,
    is_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MavenVersion {
    tokens: Vec<Token>,
}

const KEYWORDS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn keyword_order(value: &str) -> usize {
    KEYWORDS
        .iter()
        .position(|k| *k == value)
        .unwrap_or(KEYWORDS.len())
}

fn is_number(value: &str) -> bool {
    all_digits(value.as_bytes())
}

impl Token {
    fn should_trim(&self) -> bool {
        matches!(&*self.value, "0" | "")
    }

    fn prefix_order(&self) -> u8 {
        match (is_number(&self.value), self.prefix) {
            (true, Prefix::Hyphen) => 2,
            (true, _) => 3,
            (false, Prefix::Hyphen) => 1,
            (false, _) => 0,
        }
    }

    fn null_like(other: &Token) -> Token {
        match other.prefix {
            Prefix::Hyphen => Token {
                prefix: Prefix::Hyphen,
                value: "".into(),
                is_null: true,
            },
            Prefix::Dot | Prefix::Start => Token {
                prefix: other.prefix,
                // `sp` is the one qualifier above the empty one, so padding against it
                // must be the empty qualifier rather than 0.
                value: if &*other.value == "sp" { "" } else { "0" }.into(),
                is_null: true,
            },
        }
    }

    /// A qualifier, or a padding token, which compares as a qualifier whatever its prefix.
    fn is_qualifier_like(&self) -> bool {
        self.is_null || !is_number(&self.value)
    }

    fn cmp_token(&self, other: &Token) -> Ordering {
        if self.prefix != other.prefix && !(self.is_qualifier_like() && other.is_qualifier_like()) {
            return self.prefix_order().cmp(&other.prefix_order());
        }
        let (a_num, b_num) = (is_number(&self.value), is_number(&other.value));
        if a_num && b_num {
            return cmp_digits(self.value.as_bytes(), other.value.as_bytes());
        }
        if a_num && !self.is_null {
            return Ordering::Greater;
        }
        if b_num && !other.is_null {
            return Ordering::Less;
        }
        let (a, b) = (keyword_order(&self.value), keyword_order(&other.value));
        if a == KEYWORDS.len() && b == KEYWORDS.len() {
            return self.value.cmp(&other.value);
        }
        a.cmp(&b)
    }
}

pub(crate) fn parse(text: &str) -> Result<MavenVersion, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("version string is empty");
    }
    let lower = text.to_ascii_lowercase();
    let mut tokens = Vec::new();
    let mut prefix = Prefix::Start;
    let mut rest = lower.as_str();
    loop {
        let end = rest.find(['.', '-']).unwrap_or(rest.len());
        let raw = rest.get(..end).unwrap_or_default();
        split_transitions(raw, prefix, &mut tokens);
        match rest.as_bytes().get(end) {
            Some(b'.') => prefix = Prefix::Dot,
            Some(_) => prefix = Prefix::Hyphen,
            None => break,
        }
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    trim_nulls(&mut tokens);
    Ok(MavenVersion { tokens })
}

/// Splits one raw token at every digit/non-digit change; the later pieces get a `-` prefix.
fn split_transitions(raw: &str, mut prefix: Prefix, tokens: &mut Vec<Token>) {
    let bytes = raw.as_bytes();
    let mut start = 0;
    loop {
        let first_is_digit = bytes.get(start).is_some_and(u8::is_ascii_digit);
        let len = bytes
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_digit() == first_is_digit)
            .count();
        let end = start + len;
        let piece = raw.get(start..end).unwrap_or_default();
        let followed_by_more = end < bytes.len();
        let value: Box<str> = match piece {
            "" => "0".into(),
            "cr" => "rc".into(),
            "ga" | "final" | "release" => "".into(),
            "a" if followed_by_more => "alpha".into(),
            "b" if followed_by_more => "beta".into(),
            "m" if followed_by_more => "milestone".into(),
            digits if first_is_digit => {
                let trimmed = digits.trim_start_matches('0');
                if trimmed.is_empty() { "0" } else { trimmed }.into()
            }
            other => other.into(),
        };
        tokens.push(Token {
            prefix,
            value,
            is_null: false,
        });
        if !followed_by_more {
            break;
        }
        prefix = Prefix::Hyphen;
        start = end;
    }
}

/// From the end, drops null tokens of each hyphen-separated part, as Maven normalizes.
fn trim_nulls(tokens: &mut Vec<Token>) {
    let mut i = tokens.len().saturating_sub(1);
    while i > 0 {
        if tokens.get(i).is_some_and(Token::should_trim) {
            tokens.remove(i);
            i -= 1;
            continue;
        }
        while tokens.get(i).is_some_and(|t| t.prefix != Prefix::Hyphen) {
            if i == 0 {
                return;
            }
            i -= 1;
        }
        if i == 0 {
            return;
        }
        i -= 1;
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.tokens.len().max(other.tokens.len());
        for i in 0..n {
            let (left, right) = match (self.tokens.get(i), other.tokens.get(i)) {
                (Some(l), Some(r)) => (Cow::Borrowed(l), Cow::Borrowed(r)),
                (None, Some(r)) => (Cow::Owned(Token::null_like(r)), Cow::Borrowed(r)),
                (Some(l), None) => (Cow::Borrowed(l), Cow::Owned(Token::null_like(l))),
                (None, None) => return Ordering::Equal,
            };
            let order = left.cmp_token(&right);
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn qualifiers_order() {
        let ordered = [
            "1-alpha-1",
            "1-beta-1",
            "1-milestone-1",
            "1-rc-1",
            "1-snapshot",
            "1",
            "1-sp",
            "1-abc",
            "1-1",
            "1.1",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
            }
        }
        assert_eq!(v("1.0.0.ga").cmp(&v("1")), Ordering::Equal);
        assert_eq!(v("1CR").cmp(&v("1-rc")), Ordering::Equal);
    }
}
