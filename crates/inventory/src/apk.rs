//! Alpine's apk: `lib/apk/db/installed`, streamed record by record. `o:` is the origin (source)
//! package; `F:`/`R:` lines list the files each package owns.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::fsroot::is_regular_file;
use crate::limits::{BoundedLines, MIB};
use crate::os_release::Distro;
use crate::owned::OwnedFiles;
use crate::package::{Manager, Package, SourcePackage};
use crate::purl;
use crate::scan::Collected;

pub const INSTALLED_PATH: &str = "lib/apk/db/installed";
pub const INSTALLED_LIMIT: u64 = 64 * MIB;
const MAX_ERRORS_PER_FILE: usize = 100;

/// Collects apk packages and the files they own; returns whether an apk database was there.
pub fn collect(root: &Path, distro: &Distro, owned: &mut OwnedFiles, out: &mut Collected) -> bool {
    let path = root.join(INSTALLED_PATH);
    if !is_regular_file(&path) {
        return false;
    }
    match File::open(&path) {
        Ok(f) => parse_installed(f, INSTALLED_PATH, distro, INSTALLED_LIMIT, owned, out),
        Err(e) => out.errors.push(FileError::new(INSTALLED_PATH, e.into())),
    }
    true
}

#[derive(Default)]
struct Record {
    first_line: u64,
    name: String,
    version: String,
    arch: String,
    origin: String,
}

pub fn parse_installed(
    reader: impl Read,
    location: &str,
    distro: &Distro,
    limit: u64,
    owned: &mut OwnedFiles,
    out: &mut Collected,
) {
    let mut lines = BoundedLines::new(reader, limit);
    let mut record = Record::default();
    let mut dir = String::new();
    let mut errors = 0usize;
    loop {
        let line = match lines.next_line() {
            None => None,
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                let fatal = matches!(e, ParseError::TooLarge { .. } | ParseError::Io { .. });
                out.errors.push(FileError::new(location, e));
                errors += 1;
                if fatal || errors >= MAX_ERRORS_PER_FILE {
                    return;
                }
                continue;
            }
        };
        match line {
            None | Some((_, "")) => {
                if record.first_line != 0 {
                    match std::mem::take(&mut record).into_package(location, distro) {
                        Ok(p) => out.packages.push(p),
                        Err(e) => {
                            out.errors.push(FileError::new(location, e));
                            errors += 1;
                        }
                    }
                }
                dir.clear();
                if line.is_none() || errors >= MAX_ERRORS_PER_FILE {
                    return;
                }
            }
            Some((n, l)) => {
                if record.first_line == 0 {
                    record.first_line = n;
                }
                let Some((key, value)) = l.split_once(':') else {
                    out.errors.push(FileError::new(
                        location,
                        ParseError::line(n, "expected `K:value`"),
                    ));
                    errors += 1;
                    continue;
                };
                match key {
                    "P" => record.name = value.to_owned(),
                    "V" => record.version = value.to_owned(),
                    "A" => record.arch = value.to_owned(),
                    "o" => record.origin = value.to_owned(),
                    "F" => {
                        dir = value.to_owned();
                        owned.insert(&format!("/{dir}"));
                    }
                    "R" => owned.insert(&format!("/{dir}/{value}")),
                    _ => {}
                }
            }
        }
    }
}

impl Record {
    fn into_package(self, location: &str, distro: &Distro) -> Result<Package, ParseError> {
        let at = |field: &str| {
            ParseError::line(
                self.first_line,
                format!("record `{}`: field `{field}` is missing", self.name),
            )
        };
        if self.name.is_empty() {
            return Err(at("P"));
        }
        if self.version.is_empty() {
            return Err(at("V"));
        }
        let purl = purl::build(
            "apk",
            Some(&distro.namespace),
            &self.name,
            &self.version,
            &[("arch", &self.arch), ("distro", &distro.qualifier)],
        )?;
        let mut p = Package::new(
            distro.ecosystem.clone(),
            self.name,
            self.version,
            purl,
            Manager::Apk,
            location,
        );
        p.arch = (!self.arch.is_empty()).then_some(self.arch);
        p.source = (!self.origin.is_empty()).then_some(SourcePackage {
            name: self.origin,
            version: None,
        });
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Ecosystem;

    // The shape of a real Alpine 3.19 `installed` record, shortened.
    const SAMPLE: &str = "C:Q1hdUpqRv5mYgJEqW52UmVsvmy3RE=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:407278\nI:663552\nT:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nt:1701116153\nc:a3ef2e0f3fbd38d7c8eb6b2ddc14de5d1b1c4d1d\np:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nR:libc.musl-x86_64.so.1\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nF:usr/bin\nR:openssl\n";

    #[test]
    fn records_origin_and_owned_files() {
        let distro = Distro {
            ecosystem: Ecosystem::new("Alpine:v3.19"),
            namespace: "alpine".into(),
            qualifier: "alpine-3.19.1".into(),
        };
        let mut owned = OwnedFiles::default();
        let mut out = Collected::default();
        parse_installed(
            SAMPLE.as_bytes(),
            INSTALLED_PATH,
            &distro,
            INSTALLED_LIMIT,
            &mut owned,
            &mut out,
        );
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let got: Vec<_> = out
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.source.as_ref().map(|s| s.name.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("musl", "1.2.4_git20230717-r4", Some("musl")),
                ("libcrypto3", "3.1.4-r5", Some("openssl"))
            ]
        );
        assert_eq!(
            out.packages[1].purl,
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1"
        );
        assert!(owned.owns("usr/bin/openssl"));
    }

    #[test]
    fn record_without_version_is_an_error() {
        let distro = Distro {
            ecosystem: Ecosystem::new("Alpine"),
            namespace: "alpine".into(),
            qualifier: String::new(),
        };
        let mut out = Collected::default();
        parse_installed(
            "P:a\n\nP:b\nV:1\n".as_bytes(),
            INSTALLED_PATH,
            &distro,
            INSTALLED_LIMIT,
            &mut OwnedFiles::default(),
            &mut out,
        );
        assert_eq!(out.packages.len(), 1);
        assert_eq!(
            out.errors[0].error,
            ParseError::line(1, "record `a`: field `V` is missing")
        );
    }
}
