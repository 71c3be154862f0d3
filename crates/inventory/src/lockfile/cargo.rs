//! `Cargo.lock`, every format version (v1 with its `[metadata]` checksums, v2 to v4).

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
    source: Option<String>,
}

/// crates.io's index, under its git and sparse protocols.
fn is_crates_io(source: &str) -> bool {
    source == "registry+https://github.com/rust-lang/crates.io-index"
        || source == "sparse+https://index.crates.io/"
}

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let mut out = LockfileRead::new(LockfileKind::CargoLock);
    for e in lock.package {
        let entry = format!("{} {}", e.name, e.version);
        match e.source.as_deref() {
            Some(s) if is_crates_io(s) => {
                let purl = purl::build("cargo", None, &e.name, &e.version, &[])?;
                let manager = Manager::Lockfile(LockfileKind::CargoLock);
                out.packages.push(Package::new(
                    Ecosystem::CRATES_IO,
                    e.name,
                    e.version,
                    purl,
                    manager,
                    location,
                ));
            }
            Some(s) if s.starts_with("git+") => out.skip(location, None, entry, "git dependency"),
            Some(_) => out.skip(location, None, entry, "registry other than crates.io"),
            None => out.skip(location, None, entry, "workspace member or path dependency"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_decide() {
        let text = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"serde\"]\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.190\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"abc\"\n\n[[package]]\nname = \"fork\"\nversion = \"0.3.0\"\nsource = \"git+https://github.com/a/fork?rev=1#1\"\n";
        let r = parse(text, "Cargo.lock").unwrap();
        assert_eq!(r.packages.len(), 1);
        assert_eq!(r.packages[0].purl, "pkg:cargo/serde@1.0.190");
        let reasons: Vec<_> = r.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["workspace member or path dependency", "git dependency"]
        );
        assert!(matches!(
            parse("[[package]]\nname = 1\n", "l"),
            Err(ParseError::Line { line: 2, .. })
        ));
    }
}
