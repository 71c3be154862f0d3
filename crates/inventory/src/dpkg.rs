//! dpkg: `var/lib/dpkg/status` (and distroless images' `status.d/*`), streamed stanza by stanza,
//! and `info/*.list` for the files each package owns.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::fsroot::{is_real_dir, is_regular_file};
use crate::limits::{BoundedLines, MIB};
use crate::os_release::Distro;
use crate::owned::OwnedFiles;
use crate::package::{Manager, Package, SourcePackage};
use crate::purl;
use crate::scan::Collected;

pub const STATUS_PATH: &str = "var/lib/dpkg/status";
pub const STATUS_DIR: &str = "var/lib/dpkg/status.d";
pub const INFO_DIR: &str = "var/lib/dpkg/info";
pub const STATUS_LIMIT: u64 = 64 * MIB;
const LIST_LIMIT: u64 = 16 * MIB;
const STANZA_DIR_FILE_LIMIT: u64 = MIB;
const MAX_ERRORS_PER_FILE: usize = 100;

/// The `db:Status-Status` values whose files are on disk and configured (or only waiting on a
/// trigger): the packages `dpkg -l` shows as `ii`, `it`, `iw`.
pub const INSTALLED_STATES: [&str; 3] = ["installed", "triggers-pending", "triggers-awaited"];

/// Collects dpkg packages under `root`; returns whether a dpkg database was there.
pub fn collect(root: &Path, distro: &Distro, out: &mut Collected) -> bool {
    let mut found = false;
    let status = root.join(STATUS_PATH);
    if is_regular_file(&status) {
        found = true;
        match File::open(&status) {
            Ok(f) => parse_status(f, STATUS_PATH, distro, STATUS_LIMIT, out),
            Err(e) => out.errors.push(FileError::new(STATUS_PATH, e.into())),
        }
    }
    let status_d = root.join(STATUS_DIR);
    if is_real_dir(&status_d) {
        found = true;
        let mut names: Vec<_> = fs::read_dir(&status_d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".md5sums"))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("{STATUS_DIR}/{name}");
            match File::open(root.join(&rel)) {
                Ok(f) => parse_status(f, &rel, distro, STANZA_DIR_FILE_LIMIT, out),
                Err(e) => out.errors.push(FileError::new(rel, e.into())),
            }
        }
    }
    found
}

/// Parses a dpkg status file, keeping installed packages. A malformed stanza is reported and
/// skipped; the rest of the file is still read.
pub fn parse_status(
    reader: impl Read,
    location: &str,
    distro: &Distro,
    limit: u64,
    out: &mut Collected,
) {
    let mut lines = BoundedLines::new(reader, limit);
    let mut stanza = Stanza::default();
    let mut skipping = false;
    let mut errors = 0usize;
    loop {
        let next = lines.next_line();
        let line = match next {
            None => None,
            Some(Ok((n, line))) => Some((n, line)),
            Some(Err(e)) => {
                let fatal = matches!(e, ParseError::TooLarge { .. } | ParseError::Io { .. });
                out.errors.push(FileError::new(location, e));
                errors += 1;
                if fatal || errors >= MAX_ERRORS_PER_FILE {
                    return;
                }
                stanza = Stanza::default();
                skipping = true;
                continue;
            }
        };
        match line {
            None | Some((_, "")) => {
                if !skipping && !stanza.is_empty() {
                    match stanza.into_package(location, distro) {
                        Ok(Some(p)) => out.packages.push(p),
                        Ok(None) => {}
                        Err(e) => {
                            out.errors.push(FileError::new(location, e));
                            errors += 1;
                        }
                    }
                }
                stanza = Stanza::default();
                skipping = false;
                if line.is_none() || errors >= MAX_ERRORS_PER_FILE {
                    return;
                }
            }
            Some(_) if skipping => {}
            Some((_, l)) if l.starts_with([' ', '\t']) => {}
            Some((line_no, l)) => {
                if stanza.first_line == 0 {
                    stanza.first_line = line_no;
                }
                let Some((key, value)) = l.split_once(':') else {
                    out.errors.push(FileError::new(
                        location,
                        ParseError::line(line_no, "expected `Field: value`"),
                    ));
                    errors += 1;
                    skipping = true;
                    continue;
                };
                let value = value.trim();
                let slot = match key {
                    "Package" => &mut stanza.package,
                    "Version" => &mut stanza.version,
                    "Architecture" => &mut stanza.arch,
                    "Status" => &mut stanza.status,
                    "Source" => &mut stanza.source,
                    _ => continue,
                };
                *slot = value.to_owned();
            }
        }
    }
}

#[derive(Default)]
struct Stanza {
    first_line: u64,
    package: String,
    version: String,
    arch: String,
    status: String,
    source: String,
}

impl Stanza {
    fn is_empty(&self) -> bool {
        self.first_line == 0
    }

    fn into_package(self, location: &str, distro: &Distro) -> Result<Option<Package>, ParseError> {
        let at = |field: &str, msg: &str| {
            ParseError::line(
                self.first_line,
                format!("stanza `{}`: field `{field}` {msg}", self.package),
            )
        };
        if self.package.is_empty() {
            return Err(at("Package", "is missing"));
        }
        // Status is "want flag state"; status.d files of distroless images have none and list
        // only installed packages.
        let state = self.status.split_whitespace().nth(2).unwrap_or("installed");
        if !INSTALLED_STATES.contains(&state) {
            return Ok(None);
        }
        if self.version.is_empty() {
            return Err(at("Version", "is missing"));
        }
        let source = parse_source(&self.source, &self.version);
        let mut qualifiers = vec![
            ("arch", self.arch.as_str()),
            ("distro", distro.qualifier.as_str()),
        ];
        if let Some(src) = &source {
            qualifiers.push(("upstream", src.name.as_str()));
        }
        let purl = purl::build(
            "deb",
            Some(&distro.namespace),
            &self.package,
            &self.version,
            &qualifiers,
        )
        .map_err(|e| at("Package", &e.to_string()))?;
        let mut p = Package::new(
            distro.ecosystem.clone(),
            self.package,
            self.version,
            purl,
            Manager::Dpkg,
            location,
        );
        p.arch = (!self.arch.is_empty()).then_some(self.arch);
        p.source = source;
        Ok(Some(p))
    }
}

/// `Source: foo` or `Source: foo (1.2-3)`; the version is kept only when it differs.
fn parse_source(field: &str, version: &str) -> Option<SourcePackage> {
    let field = field.trim();
    if field.is_empty() {
        return None;
    }
    let (name, src_version) = match field.split_once('(') {
        Some((name, rest)) => (name.trim(), Some(rest.trim_end_matches(')').trim())),
        None => (field, None),
    };
    Some(SourcePackage {
        name: name.to_owned(),
        version: src_version
            .filter(|v| !v.is_empty() && *v != version)
            .map(str::to_owned),
    })
}

/// Reads `info/*.list` into `owned`. A missing info directory is not an error (distroless images
/// have none).
pub fn owned_files(root: &Path, owned: &mut OwnedFiles, errors: &mut Vec<FileError>) {
    let Ok(entries) = fs::read_dir(root.join(INFO_DIR)) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".list") {
            continue;
        }
        let rel = format!("{INFO_DIR}/{name}");
        let file = match File::open(entry.path()) {
            Ok(f) => f,
            Err(e) => {
                errors.push(FileError::new(rel, e.into()));
                continue;
            }
        };
        let mut lines = BoundedLines::new(file, LIST_LIMIT);
        while let Some(line) = lines.next_line() {
            match line {
                Ok((_, path)) => owned.insert(path),
                Err(e) => {
                    errors.push(FileError::new(rel.clone(), e));
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Ecosystem;

    fn debian() -> Distro {
        Distro {
            ecosystem: Ecosystem::new("Debian:12"),
            namespace: "debian".into(),
            qualifier: "debian-12".into(),
        }
    }

    const SAMPLE: &str = "Package: libssl3\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nMulti-Arch: same\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\nDescription: Secure Sockets Layer toolkit\n multi-line\n .\n description\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n";

    #[test]
    fn installed_packages_with_sources() {
        let mut out = Collected::default();
        parse_status(
            SAMPLE.as_bytes(),
            STATUS_PATH,
            &debian(),
            STATUS_LIMIT,
            &mut out,
        );
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.packages.len(), 2);
        let ssl = &out.packages[0];
        assert_eq!(
            (ssl.name.as_str(), ssl.version.as_str()),
            ("libssl3", "3.0.11-1~deb12u2+b1")
        );
        assert_eq!(
            ssl.source,
            Some(SourcePackage {
                name: "openssl".into(),
                version: Some("3.0.11-1~deb12u2".into())
            })
        );
        assert_eq!(ssl.ecosystem.as_str(), "Debian:12");
        assert_eq!(
            ssl.purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&distro=debian-12&upstream=openssl"
        );
        let zlib = &out.packages[1];
        assert_eq!(
            zlib.source,
            Some(SourcePackage {
                name: "zlib".into(),
                version: None
            })
        );
        assert_eq!(zlib.arch.as_deref(), Some("amd64"));
    }

    #[test]
    fn bad_stanza_is_reported_and_the_rest_kept() {
        let text = format!(
            "Package: broken\nStatus: install ok installed\nno colon here\nVersion: 1\n\n{SAMPLE}\nPackage: nover\nStatus: install ok installed\n"
        );
        let mut out = Collected::default();
        parse_status(
            text.as_bytes(),
            STATUS_PATH,
            &debian(),
            STATUS_LIMIT,
            &mut out,
        );
        assert_eq!(out.packages.len(), 2);
        assert_eq!(out.errors.len(), 2);
        assert_eq!(
            out.errors[0].error,
            ParseError::line(3, "expected `Field: value`")
        );
        assert!(
            out.errors[1]
                .to_string()
                .contains("`nover`: field `Version` is missing"),
            "{}",
            out.errors[1]
        );
    }

    #[test]
    fn size_limit_stops_the_file() {
        let mut out = Collected::default();
        parse_status(SAMPLE.as_bytes(), STATUS_PATH, &debian(), 40, &mut out);
        assert!(out.packages.is_empty());
        assert!(matches!(
            out.errors[..],
            [FileError {
                error: ParseError::TooLarge { limit: 40, .. },
                ..
            }]
        ));
    }
}
