//! Property tests: for every scheme the order is total (sorting generated versions and
//! checking every pair afterwards catches antisymmetry and transitivity failures), string
//! comparison agrees with parsed `Version` ordering, and spellings that normalize to the same
//! version compare equal.

use std::cmp::Ordering;

use proptest::prelude::*;
use zerotrace_version::{Scheme, Version, compare_scheme};

/// Versions shaped like each scheme's real data, with some junk mixed in where the scheme
/// accepts junk.
fn versions(scheme: Scheme) -> BoxedStrategy<String> {
    let shaped = match scheme {
        Scheme::Dpkg => r"([0-9]{1,2}:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z][0-9a-z.+~]{0,4})?",
        Scheme::Rpm => r"([0-9]{1,2}:)?[0-9a-z.~^_+]{1,8}(-[0-9a-z.~^]{1,5})?",
        Scheme::Apk => {
            r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,2}){0,2}(-r[0-9]{1,2})?"
        }
        Scheme::Semver | Scheme::Pub => {
            r"v?[0-9]{1,2}(\.[0-9]{1,2}){0,2}(-[0-9a-zA-Z]{1,3}(\.[0-9a-zA-Z]{1,3}){0,2})?(\+[0-9a-z]{1,3}(\.[0-9]{1,2})?)?"
        }
        Scheme::Pep440 => {
            r"([0-9]!)?[0-9]{1,2}(\.[0-9]{1,2}){0,3}((a|b|rc|alpha|c|pre)[0-9]{0,2})?(\.post[0-9]{0,2}|-[0-9])?(\.dev[0-9]{0,2})?(\+[a-z0-9]{1,3}(\.[a-z0-9]{1,3})?)?"
        }
        Scheme::Maven => {
            r"[0-9]{1,2}([.-]?([0-9]{1,2}|alpha|beta|milestone|rc|cr|snapshot|ga|final|release|sp|m|a|b|xyz|)){0,5}"
        }
        Scheme::RubyGems => r"[0-9]{1,2}(\.([0-9]{1,2}|[a-z]{1,3})){0,4}(-[a-z0-9]{1,3})?",
        Scheme::NuGet => {
            r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-[a-zA-Z0-9]{1,3}(\.[a-zA-Z0-9]{1,3}){0,2})?"
        }
        Scheme::Composer => {
            r"[vV]?[0-9]{1,2}([._+-]?([0-9]{1,2}|dev|alpha|a|b|beta|RC|rc|p|pl|#|x)){0,4}"
        }
        Scheme::Natural => r"[0-9a-z]{1,3}([.-][0-9a-z]{1,3}){0,3}",
    };
    let junk = r"[0-9a-z.~^_+:-]{1,8}";
    match scheme {
        Scheme::Rpm | Scheme::Apk | Scheme::Maven | Scheme::Composer | Scheme::Pep440 => {
            prop_oneof![4 => shaped, 1 => junk].boxed()
        }
        _ => shaped.boxed(),
    }
}

fn parsed(scheme: Scheme, texts: &[String]) -> Vec<Version> {
    texts
        .iter()
        .filter_map(|t| Version::parse_scheme(scheme, t).ok())
        .collect()
}

fn check_total_order(scheme: Scheme, texts: &[String]) -> Result<(), TestCaseError> {
    let mut list = parsed(scheme, texts);
    for v in &list {
        prop_assert_eq!(v.cmp(v), Ordering::Equal, "{} is not equal to itself", v);
    }
    for a in &list {
        for b in &list {
            prop_assert_eq!(a.cmp(b), b.cmp(a).reverse(), "antisymmetry: {} vs {}", a, b);
            let by_text = compare_scheme(scheme, a.as_str(), b.as_str());
            prop_assert_eq!(by_text, Ok(a.cmp(b)), "string vs parsed: {} vs {}", a, b);
        }
    }
    list.sort();
    for (i, a) in list.iter().enumerate() {
        for b in list.iter().skip(i + 1) {
            prop_assert_ne!(
                a.cmp(b),
                Ordering::Greater,
                "transitivity: {} sorted before {}",
                a,
                b
            );
        }
    }
    Ok(())
}

macro_rules! total_order {
    ($name:ident, $scheme:expr) => {
        proptest! {
            #[test]
            fn $name(texts in proptest::collection::vec(versions($scheme), 2..10)) {
                check_total_order($scheme, &texts)?;
            }
        }
    };
}

total_order!(dpkg_order_is_total, Scheme::Dpkg);
total_order!(rpm_order_is_total, Scheme::Rpm);
total_order!(apk_order_is_total, Scheme::Apk);
total_order!(semver_order_is_total, Scheme::Semver);
total_order!(pub_order_is_total, Scheme::Pub);
total_order!(pep440_order_is_total, Scheme::Pep440);
total_order!(maven_order_is_total, Scheme::Maven);
total_order!(rubygems_order_is_total, Scheme::RubyGems);
total_order!(nuget_order_is_total, Scheme::NuGet);
total_order!(composer_order_is_total, Scheme::Composer);
total_order!(natural_order_is_total, Scheme::Natural);

fn equal(scheme: Scheme, a: &str, b: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        compare_scheme(scheme, a, b),
        Ok(Ordering::Equal),
        "{} == {} in {}",
        a,
        b,
        scheme
    );
    Ok(())
}

proptest! {
    #[test]
    fn normalized_spellings_compare_equal(
        release in r"[1-9][0-9]{0,2}(\.[0-9]{1,2}){0,2}",
        zeros in 1usize..3,
        epochless in r"[0-9][0-9a-z.+]{0,5}",
    ) {
        let padded = format!("{release}{}", ".0".repeat(zeros));
        equal(Scheme::Pep440, &release, &padded)?;
        equal(Scheme::Pep440, &release, &format!("v{padded}"))?;
        equal(Scheme::Pep440, &format!("{release}a1"), &format!("{padded}.ALPHA.1"))?;
        equal(Scheme::Pep440, &format!("{release}.post2"), &format!("{padded}-2"))?;
        equal(Scheme::Maven, &release, &padded)?;
        equal(Scheme::Maven, &release, &format!("{padded}-ga"))?;
        equal(Scheme::Maven, &format!("{release}-rc1"), &format!("{padded}-CR1"))?;
        equal(Scheme::RubyGems, &release, &padded)?;
        equal(Scheme::Composer, &format!("v{release}"), &release)?;
        equal(Scheme::Dpkg, &epochless, &format!("0:{epochless}"))?;
        equal(Scheme::Dpkg, &epochless, &format!("{epochless}-0"))?;
        equal(Scheme::Rpm, &epochless, &format!("0:{epochless}"))?;
        equal(Scheme::Semver, &release, &format!("v{release}+build.5"))?;
        if release.matches('.').count() + zeros <= 3 {
            equal(Scheme::NuGet, &release, &padded)?;
        }
    }
}
