//! npm's range grammar (node-semver): `||`, hyphen ranges, x-ranges, `~`, `^` and the
//! comparison operators, with node-semver's rule that a pre-release version only satisfies a
//! comparator set that names a pre-release of the same `major.minor.patch`.
//!
//! OSV ranges never use this grammar; it is here for advisories and manifests that do
//! (npm audit output, `package.json` constraints).

use std::cmp::Ordering;

use crate::digits::Num;
use crate::semver::{self, SemVer};
use crate::{Scheme, Version, VersionError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    version: SemVer,
}

impl Comparator {
    fn test(&self, v: &SemVer) -> bool {
        let order = v.cmp_precedence(&self.version);
        match self.op {
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
            Op::Gt => order == Ordering::Greater,
            Op::Ge => order != Ordering::Less,
            Op::Eq => order == Ordering::Equal,
        }
    }
}

/// One `||` alternative: all comparators must hold. `None` is a set nothing satisfies.
type Set = Option<Vec<Comparator>>;

/// A parsed npm range such as `^1.2.3 || >=2.0.0 <2.4.0-0`.
#[derive(Debug, Clone)]
pub struct NpmRange {
    sets: Vec<Set>,
}

/// A version with possibly missing (`x`, `*` or absent) parts.
struct Partial {
    major: Option<Num>,
    minor: Option<Num>,
    patch: Option<Num>,
    pre: Box<str>,
}

fn sv(major: Num, minor: Num, patch: Num, pre: &str) -> SemVer {
    SemVer {
        major,
        minor,
        patch,
        pre: pre.into(),
        build: "".into(),
    }
}

fn cmp(op: Op, version: SemVer) -> Comparator {
    Comparator { op, version }
}

fn parse_partial(text: &str) -> Result<Partial, &'static str> {
    let text = text.trim_start_matches(['v', 'V', '=']);
    let (main, _build) = text.split_once('+').unwrap_or((text, ""));
    let (numbers, pre) = main.split_once('-').unwrap_or((main, ""));
    if main.contains('-') && pre.is_empty() {
        return Err("empty pre-release after '-'");
    }
    let mut parts: [Option<Num>; 3] = [None, None, None];
    if !numbers.is_empty() {
        let mut count = 0;
        for (slot, piece) in parts.iter_mut().zip(numbers.split('.')) {
            count += 1;
            *slot = match piece {
                "x" | "X" | "*" => None,
                digits if crate::digits::all_digits(digits.as_bytes()) => {
                    Some(Num::from_digits(digits))
                }
                _ => return Err("expected a number, 'x' or '*' in a range version"),
            };
        }
        if numbers.split('.').count() > count {
            return Err("more than three numbers in a range version");
        }
    }
    // Once a part is a wildcard, the parts after it are too.
    if parts[0].is_none() {
        parts[1] = None;
    }
    if parts[1].is_none() {
        parts[2] = None;
    }
    let [major, minor, patch] = parts;
    Ok(Partial {
        major,
        minor,
        patch,
        pre: pre.into(),
    })
}

fn zero_filled(p: &Partial) -> Option<SemVer> {
    let major = p.major.clone()?;
    let full = p.patch.is_some();
    Some(sv(
        major,
        p.minor.clone().unwrap_or(Num::ZERO),
        p.patch.clone().unwrap_or(Num::ZERO),
        if full { &p.pre } else { "" },
    ))
}

/// The exclusive upper bound of an x-range: `1` -> `<2.0.0-0`, `1.2` -> `<1.3.0-0`.
fn x_upper(p: &Partial) -> Option<SemVer> {
    let major = p.major.clone()?;
    Some(match &p.minor {
        None => sv(major.succ(), Num::ZERO, Num::ZERO, "0"),
        Some(minor) => sv(major, minor.succ(), Num::ZERO, "0"),
    })
}

fn primitive(op: &str, p: &Partial) -> Set {
    let Some(low) = zero_filled(p) else {
        // `*`: every version for `=`, `>=`, `<=`; none for `<` and `>`.
        return match op {
            "<" | ">" => None,
            _ => Some(Vec::new()),
        };
    };
    let full = p.patch.is_some();
    Some(match op {
        "" | "=" if full => vec![cmp(Op::Eq, low)],
        "" | "=" => vec![cmp(Op::Ge, low), cmp(Op::Lt, x_upper(p)?)],
        ">" if full => vec![cmp(Op::Gt, low)],
        ">" => {
            let raised = x_upper(p)?;
            vec![cmp(
                Op::Ge,
                sv(raised.major, raised.minor, raised.patch, ""),
            )]
        }
        ">=" => vec![cmp(Op::Ge, low)],
        "<" if full => vec![cmp(Op::Lt, low)],
        "<" => vec![cmp(Op::Lt, sv(low.major, low.minor, low.patch, "0"))],
        "<=" if full => vec![cmp(Op::Le, low)],
        _ => vec![cmp(Op::Lt, x_upper(p)?)],
    })
}

fn tilde(p: &Partial) -> Set {
    let Some(low) = zero_filled(p) else {
        return Some(Vec::new());
    };
    let upper = match &p.minor {
        None => sv(low.major.succ(), Num::ZERO, Num::ZERO, "0"),
        Some(minor) => sv(low.major.clone(), minor.succ(), Num::ZERO, "0"),
    };
    Some(vec![cmp(Op::Ge, low), cmp(Op::Lt, upper)])
}

fn caret(p: &Partial) -> Set {
    let Some(low) = zero_filled(p) else {
        return Some(Vec::new());
    };
    let upper = match (&p.minor, &p.patch) {
        (None, _) => sv(low.major.succ(), Num::ZERO, Num::ZERO, "0"),
        _ if !low.major.is_zero() => sv(low.major.succ(), Num::ZERO, Num::ZERO, "0"),
        (Some(minor), None) => sv(Num::ZERO, minor.succ(), Num::ZERO, "0"),
        (Some(minor), Some(_)) if !minor.is_zero() => sv(Num::ZERO, minor.succ(), Num::ZERO, "0"),
        (Some(_), Some(patch)) => sv(Num::ZERO, Num::ZERO, patch.succ(), "0"),
    };
    Some(vec![cmp(Op::Ge, low), cmp(Op::Lt, upper)])
}

fn hyphen(from: &Partial, to: &Partial) -> Set {
    let mut set = Vec::new();
    if let Some(low) = zero_filled(from) {
        set.push(cmp(Op::Ge, low));
    }
    if to.patch.is_some() {
        set.push(cmp(Op::Le, zero_filled(to)?));
    } else if let Some(upper) = x_upper(to) {
        set.push(cmp(Op::Lt, upper));
    }
    Some(set)
}

const OPERATORS: [&str; 8] = ["<=", ">=", "~>", "<", ">", "=", "~", "^"];

fn split_operator(token: &str) -> (&str, &str) {
    OPERATORS
        .iter()
        .find_map(|op| token.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("", token))
}

fn parse_set(text: &str) -> Result<Set, &'static str> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if let [from, "-", to] = tokens.as_slice() {
        return Ok(hyphen(&parse_partial(from)?, &parse_partial(to)?));
    }
    let mut comparators = Vec::new();
    let mut iter = tokens.into_iter();
    while let Some(token) = iter.next() {
        let (op, mut rest) = split_operator(token);
        if rest.is_empty() && !op.is_empty() {
            rest = iter.next().ok_or("operator without a version")?;
        }
        let partial = parse_partial(rest)?;
        let set = match op {
            "~" | "~>" => tilde(&partial),
            "^" => caret(&partial),
            other => primitive(other, &partial),
        };
        match set {
            Some(mut more) => comparators.append(&mut more),
            None => return Ok(None),
        }
    }
    Ok(Some(comparators))
}

impl NpmRange {
    /// Parses a range; an error names the part that is not npm range syntax.
    pub fn parse(text: &str) -> Result<NpmRange, VersionError> {
        let sets = text
            .split("||")
            .map(parse_set)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| VersionError::new(Scheme::Semver, text, reason))?;
        Ok(NpmRange { sets })
    }

    /// Whether `version` (read as SemVer) satisfies the range.
    pub fn satisfies(&self, version: &Version) -> Result<bool, VersionError> {
        self.satisfies_str(version.as_str())
    }

    /// Whether the version in `text` satisfies the range.
    pub fn satisfies_str(&self, text: &str) -> Result<bool, VersionError> {
        let v = semver::parse(text)
            .map_err(|reason| VersionError::new(Scheme::Semver, text, reason))?;
        Ok(self.sets.iter().flatten().any(|set| {
            set.iter().all(|c| c.test(&v))
                && (v.pre.is_empty()
                    || set.iter().any(|c| {
                        !c.version.pre.is_empty()
                            && c.version.major == v.major
                            && c.version.minor == v.minor
                            && c.version.patch == v.patch
                    }))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(range: &str, yes: &[&str], no: &[&str]) {
        let r = NpmRange::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        for v in yes {
            assert_eq!(r.satisfies_str(v), Ok(true), "{v} satisfies {range}");
        }
        for v in no {
            assert_eq!(
                r.satisfies_str(v),
                Ok(false),
                "{v} does not satisfy {range}"
            );
        }
    }

    #[test]
    fn node_semver_examples() {
        check(
            "^1.2.3",
            &["1.2.3", "1.9.9"],
            &["2.0.0", "1.2.2", "2.0.0-0", "1.3.0-beta"],
        );
        check("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4"]);
        check(
            "^1.2.3-beta.2",
            &["1.2.3-beta.2", "1.2.3-beta.4", "1.2.3"],
            &["1.2.4-beta.2"],
        );
        check("^0.0.x", &["0.0.9"], &["0.1.0"]);
        check("^0.x", &["0.9.9"], &["1.0.0"]);
        check("~1.2.3", &["1.2.9"], &["1.3.0"]);
        check("~1", &["1.9.0"], &["2.0.0"]);
        check("~> 1.2", &["1.2.0", "1.2.9"], &["1.3.0"]);
        check("1.2.x", &["1.2.0", "1.2.99"], &["1.3.0", "1.1.9"]);
        check("*", &["0.0.0", "9.9.9"], &["1.0.0-rc.1"]);
        check("", &["1.0.0"], &[]);
        check("1.2.3 - 2.3.4", &["1.2.3", "2.3.4"], &["2.3.5"]);
        check("1.2 - 2.3", &["1.2.0", "2.3.9"], &["2.4.0"]);
        check(
            ">=1.0.0 <1.4.0 || >=2.0.0 <2.2.1",
            &["1.3.9", "2.2.0"],
            &["1.4.0", "2.2.1", "3.0.0"],
        );
        check(">1.2", &["1.3.0"], &["1.2.9"]);
        check("<1.2", &["1.1.9"], &["1.2.0", "1.2.0-0"]);
        check("<=1.2", &["1.2.9"], &["1.3.0"]);
        check(">= 1.2.3", &["1.2.3"], &["1.2.2"]);
        check("=v1.2.3", &["1.2.3"], &["1.2.4"]);
        check("<*", &[], &["0.0.0"]);
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(NpmRange::parse("^1.2.3.4").is_err());
        assert!(NpmRange::parse("^a.b").is_err());
        assert!(NpmRange::parse(">=").is_err());
    }
}
