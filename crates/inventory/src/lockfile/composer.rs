//! `composer.lock`: `packages` and `packages-dev`.

use serde::Deserialize;

use super::LockfileRead;
use crate::error::ParseError;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};
use crate::purl;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    packages: Vec<Entry>,
    #[serde(default, rename = "packages-dev")]
    packages_dev: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
}

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let lock: Lock = serde_json::from_str(text)?;
    let mut out = LockfileRead::new(LockfileKind::ComposerLock);
    for e in lock.packages.into_iter().chain(lock.packages_dev) {
        let (vendor, name) = e.name.split_once('/').unwrap_or(("", &e.name));
        let purl = purl::build("composer", Some(vendor), name, &e.version, &[])?;
        out.packages.push(Package::new(
            Ecosystem::PACKAGIST,
            e.name.clone(),
            e.version,
            purl,
            Manager::Lockfile(LockfileKind::ComposerLock),
            location,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists() {
        let text = r#"{"_readme":["x"],"content-hash":"h","packages":[{"name":"monolog/monolog","version":"3.5.0","source":{"type":"git"}}],"packages-dev":[{"name":"phpunit/phpunit","version":"10.4.2"}]}"#;
        let r = parse(text, "composer.lock").unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("monolog/monolog", "pkg:composer/monolog/monolog@3.5.0"),
                ("phpunit/phpunit", "pkg:composer/phpunit/phpunit@10.4.2")
            ]
        );
        assert!(matches!(
            parse(r#"{"packages":[{"name":"a"}]}"#, "l"),
            Err(ParseError::Line { line: 1, .. })
        ));
    }
}
