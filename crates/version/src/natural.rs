//! The documented fallback for ecosystems without a known ordering: natural ordering.
//!
//! A version is read as runs of digits and runs of letters; everything else separates runs
//! and carries no weight. Runs compare in turn: numbers by value, letters by bytes, a number
//! above letters; when one version runs out, the longer one is newer. So `1.10 > 1.9`,
//! `1.0 > 1`, `1.0 == 1-0`. A string without any digit or letter is an error.

use std::cmp::Ordering;

use crate::digits::cmp_digits;

pub(crate) fn validate(text: &str) -> Result<(), &'static str> {
    if text.bytes().any(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("no digits or letters to compare")
    }
}

fn runs(text: &str) -> impl Iterator<Item = &[u8]> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while bytes.get(pos).is_some_and(|c| !c.is_ascii_alphanumeric()) {
            pos += 1;
        }
        let start = pos;
        let digit = bytes.get(pos)?.is_ascii_digit();
        while bytes
            .get(pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() && c.is_ascii_digit() == digit)
        {
            pos += 1;
        }
        bytes.get(start..pos)
    })
}

pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    let mut ra = runs(a);
    let mut rb = runs(b);
    loop {
        match (ra.next(), rb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let x_digit = x.first().is_some_and(u8::is_ascii_digit);
                let y_digit = y.first().is_some_and(u8::is_ascii_digit);
                let order = match (x_digit, y_digit) {
                    (true, true) => cmp_digits(x, y),
                    (false, false) => x.cmp(y),
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_by_value() {
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("1.0", "1-0"), Ordering::Equal);
        assert_eq!(compare("1.0", "1"), Ordering::Greater);
        assert_eq!(compare("1.0a", "1.0.1"), Ordering::Less);
        assert!(validate("--").is_err());
    }
}
