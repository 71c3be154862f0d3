//! PEP 440 ordering for PyPI, as Python's `packaging` implements it.
//!
//! Spellings are normalized as PEP 440 says: case, `alpha`/`beta`/`c`/`pre`/`preview` for
//! `a`/`b`/`rc`, `rev`/`r` and `-N` for post-releases, optional separators, a leading `v`, and
//! trailing zeros of the release (`1.0 == 1.0.0`). Local versions compare segment by segment,
//! numbers above strings.
//!
//! A string that is not PEP 440 is read as setuptools' `LegacyVersion` (what pip used before
//! `packaging` 22) and sorts below every PEP 440 version: old releases on PyPI, and so in OSV
//! `versions` lists, still carry such strings. Only the empty string is an error.

use std::cmp::Ordering;

use crate::digits::{Num, all_digits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pep440 {
    Legacy(Vec<Box<str>>),
    Release(Release),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    epoch: Num,
    /// Release numbers with trailing zeros removed.
    release: ReleaseNumbers,
    /// `(phase, number)`: phase 0 is `a`, 1 is `b`, 2 is `rc`.
    pre: Option<(u8, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Vec<Local>,
}

/// Release numbers kept inline in the common case (up to six numbers that fit `u64`), so
/// that comparing two version strings allocates nothing for them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReleaseNumbers {
    Inline { len: u8, numbers: [u64; INLINE] },
    Spilled(Vec<Num>),
}

const INLINE: usize = 6;

impl ReleaseNumbers {
    fn from_nums(mut numbers: Vec<Num>) -> ReleaseNumbers {
        while numbers.last().is_some_and(Num::is_zero) {
            numbers.pop();
        }
        let mut inline = [0u64; INLINE];
        if numbers.len() <= INLINE {
            let mut all_small = true;
            for (slot, n) in inline.iter_mut().zip(&numbers) {
                match n {
                    Num::Small(v) => *slot = *v,
                    Num::Big(_) => all_small = false,
                }
            }
            if all_small {
                return ReleaseNumbers::Inline {
                    len: u8::try_from(numbers.len()).unwrap_or(u8::MAX),
                    numbers: inline,
                };
            }
        }
        ReleaseNumbers::Spilled(numbers)
    }

    fn nums(&self) -> Vec<Num> {
        match self {
            ReleaseNumbers::Inline { len, numbers } => numbers
                .iter()
                .take(usize::from(*len))
                .map(|&v| Num::Small(v))
                .collect(),
            ReleaseNumbers::Spilled(numbers) => numbers.clone(),
        }
    }
}

/// Collects release numbers on the stack, moving to the heap only when they do not fit.
struct ReleaseBuilder {
    len: usize,
    inline: [u64; INLINE],
    spilled: Option<Vec<Num>>,
}

impl ReleaseBuilder {
    fn new() -> Self {
        ReleaseBuilder {
            len: 0,
            inline: [0; INLINE],
            spilled: None,
        }
    }

    fn push(&mut self, n: Num) {
        if let Some(spilled) = &mut self.spilled {
            spilled.push(n);
            return;
        }
        if let (Num::Small(v), Some(slot)) = (&n, self.inline.get_mut(self.len)) {
            *slot = *v;
            self.len += 1;
            return;
        }
        let mut spilled: Vec<Num> = self
            .inline
            .iter()
            .take(self.len)
            .map(|&v| Num::Small(v))
            .collect();
        spilled.push(n);
        self.spilled = Some(spilled);
    }

    fn build(self) -> ReleaseNumbers {
        match self.spilled {
            Some(spilled) => ReleaseNumbers::from_nums(spilled),
            None => {
                let mut len = self.len;
                while len > 0 && self.inline.get(len - 1) == Some(&0) {
                    len -= 1;
                }
                ReleaseNumbers::Inline {
                    len: u8::try_from(len).unwrap_or(u8::MAX),
                    numbers: self.inline,
                }
            }
        }
    }
}

impl Ord for ReleaseNumbers {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (
                ReleaseNumbers::Inline {
                    len: la,
                    numbers: a,
                },
                ReleaseNumbers::Inline {
                    len: lb,
                    numbers: b,
                },
            ) => a.get(..usize::from(*la)).cmp(&b.get(..usize::from(*lb))),
            _ => self.nums().cmp(&other.nums()),
        }
    }
}

impl PartialOrd for ReleaseNumbers {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    // Declared first: a string segment sorts below a numeric one.
    Text(Box<str>),
    Number(Num),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn digits(&mut self) -> Option<Num> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = self.bytes.get(start..self.pos)?;
        (!digits.is_empty()).then(|| Num::from_ascii(digits))
    }

    fn letters(&mut self) -> &[u8] {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    fn separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The optional number after a phase word: `[-_.]?[0-9]+`, absent meaning 0.
    fn phase_number(&mut self) -> Num {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.'))
            && self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
        {
            self.pos += 1;
        }
        self.digits().unwrap_or(Num::ZERO)
    }

    /// `[-_.]?word` where word is one of `words`; the cursor does not move when it fails.
    fn phase<T: Copy>(&mut self, words: &[(&str, T)]) -> Option<T> {
        let saved = self.pos;
        self.separator();
        let run = self.letters();
        let found = words
            .iter()
            .find(|(word, _)| run.eq_ignore_ascii_case(word.as_bytes()))
            .map(|(_, value)| *value);
        if found.is_none() {
            self.pos = saved;
        }
        found
    }
}

const PRE_WORDS: [(&str, u8); 8] = [
    ("a", 0),
    ("alpha", 0),
    ("b", 1),
    ("beta", 1),
    ("c", 2),
    ("rc", 2),
    ("pre", 2),
    ("preview", 2),
];

fn parse_release(text: &str) -> Option<Release> {
    let trimmed = text.trim_ascii();
    let body = match trimmed.as_bytes().first() {
        Some(b'v' | b'V') => trimmed.get(1..).unwrap_or_default(),
        _ => trimmed,
    };
    let mut cursor = Cursor {
        bytes: body.as_bytes(),
        pos: 0,
    };
    let first = cursor.digits()?;
    let epoch = if cursor.peek() == Some(b'!') {
        cursor.pos += 1;
        let epoch = first;
        let mut release = ReleaseBuilder::new();
        release.push(cursor.digits()?);
        release_rest(&mut cursor, &mut release);
        return finish(cursor, epoch, release);
    } else {
        Num::ZERO
    };
    let mut release = ReleaseBuilder::new();
    release.push(first);
    release_rest(&mut cursor, &mut release);
    finish(cursor, epoch, release)
}

fn release_rest(cursor: &mut Cursor<'_>, release: &mut ReleaseBuilder) {
    while cursor.peek() == Some(b'.') && cursor.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
        cursor.pos += 1;
        if let Some(n) = cursor.digits() {
            release.push(n);
        }
    }
}

fn finish(mut cursor: Cursor<'_>, epoch: Num, release: ReleaseBuilder) -> Option<Release> {
    let pre = cursor
        .phase(&PRE_WORDS)
        .map(|phase| (phase, cursor.phase_number()));
    let post =
        if cursor.peek() == Some(b'-') && cursor.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            cursor.pos += 1;
            cursor.digits()
        } else {
            cursor
                .phase(&[("post", ()), ("rev", ()), ("r", ())])
                .map(|()| cursor.phase_number())
        };
    let dev = cursor.phase(&[("dev", ())]).map(|()| cursor.phase_number());
    let mut local = Vec::new();
    if cursor.peek() == Some(b'+') {
        cursor.pos += 1;
        let rest = std::str::from_utf8(cursor.bytes.get(cursor.pos..)?).ok()?;
        for segment in rest.split(['.', '-', '_']) {
            if segment.is_empty() || !segment.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return None;
            }
            local.push(if all_digits(segment.as_bytes()) {
                Local::Number(Num::from_digits(segment))
            } else {
                Local::Text(segment.to_ascii_lowercase().into())
            });
        }
        cursor.pos = cursor.bytes.len();
    }
    if cursor.pos != cursor.bytes.len() {
        return None;
    }
    Some(Release {
        epoch,
        release: release.build(),
        pre,
        post,
        dev,
        local,
    })
}

/// setuptools' `LegacyVersion` key: the parts of `_legacy_cmpkey`.
fn parse_legacy(text: &str) -> Vec<Box<str>> {
    let lower = text.to_lowercase();
    let bytes = lower.as_bytes();
    let mut raw: Vec<&str> = Vec::new();
    let mut pos = 0;
    let mut between = 0;
    while pos < bytes.len() {
        let start = pos;
        let matched = match bytes.get(pos) {
            Some(c) if c.is_ascii_digit() => {
                while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                    pos += 1;
                }
                true
            }
            Some(c) if c.is_ascii_lowercase() => {
                while bytes.get(pos).is_some_and(u8::is_ascii_lowercase) {
                    pos += 1;
                }
                true
            }
            Some(b'.' | b'-') => {
                pos += 1;
                true
            }
            _ => false,
        };
        if matched {
            raw.push(lower.get(between..start).unwrap_or_default());
            raw.push(lower.get(start..pos).unwrap_or_default());
            between = pos;
        } else {
            pos += lower
                .get(pos..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
        }
    }
    raw.push(lower.get(between..).unwrap_or_default());

    let mut parts: Vec<Box<str>> = Vec::new();
    let mapped = raw
        .into_iter()
        .map(|part| match part {
            "pre" | "preview" | "rc" => "c",
            "-" => "final-",
            "dev" => "@",
            other => other,
        })
        .filter(|part| !part.is_empty() && *part != ".")
        .map(|part| {
            if part.starts_with(|c: char| c.is_ascii_digit()) {
                format!("{part:0>8}")
            } else {
                format!("*{part}")
            }
        })
        .chain(std::iter::once("*final".to_owned()));
    for part in mapped {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| &**p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| &**p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part.into());
    }
    parts
}

pub(crate) fn parse(text: &str) -> Result<Pep440, &'static str> {
    if text.trim_ascii().is_empty() {
        return Err("version string is empty");
    }
    Ok(match parse_release(text) {
        Some(release) => Pep440::Release(release),
        None => Pep440::Legacy(parse_legacy(text)),
    })
}

impl Release {
    /// `packaging`'s `_cmpkey` for the pre-release: a dev-only release sorts before all
    /// pre-releases, a final release after them.
    fn pre_key(&self) -> (i8, Option<&(u8, Num)>) {
        match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => (-1, None),
            (None, _, _) => (1, None),
            (Some(pre), _, _) => (0, Some(pre)),
        }
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release.cmp(&other.release))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| match (&self.dev, &other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Pep440::Legacy(a), Pep440::Legacy(b)) => a.cmp(b),
            (Pep440::Legacy(_), Pep440::Release(_)) => Ordering::Less,
            (Pep440::Release(_), Pep440::Legacy(_)) => Ordering::Greater,
            (Pep440::Release(a), Pep440::Release(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440 {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn spellings_normalize() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0ALPHA1", "1.0a1"),
            ("1.0-c1", "1.0rc1"),
            ("1.0-1", "1.0.post1"),
            ("1.0.rev2", "1.0.post2"),
            ("v1.0.dev", "1.0.dev0"),
            ("0!1.0+Ubuntu-1", "1.0+ubuntu.1"),
        ] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} == {b}");
            assert!(matches!(v(a), Pep440::Release(_)), "{a} is PEP 440");
        }
    }

    #[test]
    fn phases_order() {
        let ordered = [
            "1.0.dev0",
            "1.0a1.dev1",
            "1.0a1",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.1",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
            }
        }
        assert!(matches!(v("1.0-bulbasaur"), Pep440::Legacy(_)));
        assert_eq!(v("1.0-bulbasaur").cmp(&v("0.1")), Ordering::Less);
    }
}
