//! `poetry.lock`: `[[package]]` tables; packages from a directory, file, URL or git are not
//! PyPI releases.

use serde::Deserialize;

use super::{LockfileRead, toml_error};
use crate::error::ParseError;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};
use crate::purl;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<Source>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(default, rename = "type")]
    kind: String,
}

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let mut out = LockfileRead::new(LockfileKind::PoetryLock);
    for e in lock.package {
        if let Some(kind) = e
            .source
            .map(|s| s.kind)
            .filter(|k| matches!(k.as_str(), "git" | "directory" | "file" | "url"))
        {
            out.skip(
                location,
                None,
                format!("{} {}", e.name, e.version),
                format!("{kind} source, not a PyPI release"),
            );
            continue;
        }
        let purl = purl::build("pypi", None, &e.name, &e.version, &[])?;
        out.packages.push(Package::new(
            Ecosystem::PYPI,
            e.name,
            e.version,
            purl,
            Manager::Lockfile(LockfileKind::PoetryLock),
            location,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_sources() {
        let text = "[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\ndescription = \"HTTP\"\noptional = false\npython-versions = \">=3.7\"\nfiles = [\n    {file = \"requests-2.31.0.tar.gz\", hash = \"sha256:94\"},\n]\n\n[package.dependencies]\nidna = \">=2.5,<4\"\n\n[[package]]\nname = \"mylib\"\nversion = \"0.1.0\"\n\n[package.source]\ntype = \"directory\"\nurl = \"../mylib\"\n\n[metadata]\nlock-version = \"2.0\"\n";
        let r = parse(text, "poetry.lock").unwrap();
        assert_eq!(
            r.packages
                .iter()
                .map(|p| p.purl.as_str())
                .collect::<Vec<_>>(),
            ["pkg:pypi/requests@2.31.0"]
        );
        assert_eq!(r.skipped[0].reason, "directory source, not a PyPI release");
    }
}
