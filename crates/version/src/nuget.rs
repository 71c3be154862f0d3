//! NuGet's version ordering (`NuGetVersion`): SemVer 2.0 with a fourth "revision" number for
//! legacy versions, pre-release labels compared case-insensitively, build metadata ignored.
//! Missing numbers count as 0, so `1.0 == 1.0.0.0`; leading zeros are allowed (`1.0.01`).

use std::cmp::Ordering;

use crate::digits::Num;
use crate::semver::cmp_pre;

#[derive(Debug, Clone)]
pub(crate) struct NuGetVersion {
    numbers: [Num; 4],
    pre: Box<str>,
}

pub(crate) fn parse(text: &str) -> Result<NuGetVersion, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("version string is empty");
    }
    let (main, _metadata) = text.split_once('+').unwrap_or((text, ""));
    let (release, pre) = main.split_once('-').unwrap_or((main, ""));
    if main.contains('-') && pre.is_empty() {
        return Err("empty pre-release label after '-'");
    }
    if pre
        .split('.')
        .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        && !pre.is_empty()
    {
        return Err("pre-release labels must be non-empty and alphanumeric");
    }
    let mut numbers = [Num::ZERO, Num::ZERO, Num::ZERO, Num::ZERO];
    for (count, part) in release.split('.').enumerate() {
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err("version numbers must be digits separated by '.'");
        }
        let slot = numbers
            .get_mut(count)
            .ok_or("more than four version numbers")?;
        *slot = Num::from_digits(part);
    }
    Ok(NuGetVersion {
        numbers,
        pre: pre.into(),
    })
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| cmp_pre(&self.pre, &other.pre, true))
    }
}

impl PartialOrd for NuGetVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NuGetVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NuGetVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_semver_forms() {
        let v = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(v("1.0").cmp(&v("1.0.0.0")), Ordering::Equal);
        assert_eq!(v("1.0.0-BETA").cmp(&v("1.0.0-beta+x")), Ordering::Equal);
        assert_eq!(v("1.0.0.1-rc").cmp(&v("1.0.0.1")), Ordering::Less);
        assert_eq!(
            parse("1.0.0.0.0").err(),
            Some("more than four version numbers")
        );
        assert!(parse("1.x").is_err());
    }
}
