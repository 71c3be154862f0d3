//! Arbitrary-length decimal numbers, compared without parsing them into machine integers:
//! version strings in the wild carry dates, build stamps and 30-digit junk that overflow `u64`.

use std::cmp::Ordering;

/// Compares two ASCII digit strings by numeric value; leading zeros do not count.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    s.get(start..).unwrap_or_default()
}

pub(crate) fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// A non-negative integer of any length: a `u64` when it fits, its digits otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Num {
    Small(u64),
    /// Digits without leading zeros; always more than `u64::MAX`.
    Big(Box<str>),
}

impl Num {
    pub(crate) const ZERO: Num = Num::Small(0);

    /// Parses a string of ASCII digits; the caller guarantees it is non-empty and all digits.
    pub(crate) fn from_digits(digits: &str) -> Num {
        Num::from_ascii(digits.as_bytes())
    }

    /// [`Num::from_digits`] on bytes, for parsers that walk bytes.
    pub(crate) fn from_ascii(digits: &[u8]) -> Num {
        // 19 digits always fit in a u64: no overflow checks on the common path.
        if digits.len() <= 19 {
            return Num::Small(
                digits
                    .iter()
                    .fold(0u64, |v, &c| v * 10 + u64::from(c.wrapping_sub(b'0'))),
            );
        }
        let mut value: u64 = 0;
        for &c in digits {
            match value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c.wrapping_sub(b'0'))))
            {
                Some(v) => value = v,
                None => {
                    let trimmed = strip_zeros(digits);
                    return Num::Big(String::from_utf8_lossy(trimmed).into());
                }
            }
        }
        Num::Small(value)
    }

    /// The next integer.
    pub(crate) fn succ(&self) -> Num {
        match self {
            Num::Small(n) => match n.checked_add(1) {
                Some(next) => Num::Small(next),
                None => Num::Big("18446744073709551616".into()),
            },
            Num::Big(digits) => {
                let mut bytes = digits.as_bytes().to_vec();
                let mut carry = true;
                for b in bytes.iter_mut().rev() {
                    if !carry {
                        break;
                    }
                    if *b == b'9' {
                        *b = b'0';
                    } else {
                        *b += 1;
                        carry = false;
                    }
                }
                if carry {
                    bytes.insert(0, b'1');
                }
                Num::Big(String::from_utf8(bytes).unwrap_or_default().into())
            }
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Num::Small(0))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Num::Small(a), Num::Small(b)) => a.cmp(b),
            (Num::Small(_), Num::Big(_)) => Ordering::Less,
            (Num::Big(_), Num::Small(_)) => Ordering::Greater,
            (Num::Big(a), Num::Big(b)) => cmp_digits(a.as_bytes(), b.as_bytes()),
        }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_compare_by_value() {
        assert_eq!(cmp_digits(b"0010", b"9"), Ordering::Greater);
        assert_eq!(cmp_digits(b"000", b""), Ordering::Equal);
        let big = Num::from_digits("999999999999999999999999999991");
        let bigger = Num::from_digits("0999999999999999999999999999999");
        assert!(big < bigger);
        assert!(Num::from_digits("18446744073709551615") < big);
        assert_eq!(Num::from_digits("007"), Num::Small(7));
        assert_eq!(
            Num::Small(u64::MAX).succ(),
            Num::from_digits("18446744073709551616")
        );
        assert_eq!(
            Num::from_digits("99999999999999999999").succ(),
            Num::from_digits("100000000000000000000")
        );
    }
}
