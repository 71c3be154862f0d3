//! Python: `*.dist-info/METADATA` and `*.egg-info` (directory with `PKG-INFO`, or a file) in
//! site-packages directories.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, is_real_dir, is_regular_file, relative};
use crate::limits::{BoundedLines, MIB};
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;
use crate::scan::{Collected, Context};

/// Where site-packages directories live. Only these are looked at: walking the whole root for
/// `*.dist-info` would cost seconds.
pub const SEARCH_ROOTS: [&str; 16] = [
    "usr/lib/python*/site-packages",
    "usr/lib/python*/dist-packages",
    "usr/lib64/python*/site-packages",
    "usr/local/lib/python*/site-packages",
    "usr/local/lib/python*/dist-packages",
    "usr/local/lib64/python*/site-packages",
    "opt/*/lib/python*/site-packages",
    "opt/*/venv/lib/python*/site-packages",
    "opt/*/.venv/lib/python*/site-packages",
    "opt/conda/lib/python*/site-packages",
    "app/.venv/lib/python*/site-packages",
    "root/.local/lib/python*/site-packages",
    "home/*/.local/lib/python*/site-packages",
    "root/.pyenv/versions/*/lib/python*/site-packages",
    "home/*/.pyenv/versions/*/lib/python*/site-packages",
    "usr/share/python*/site-packages",
];
pub const METADATA_LIMIT: u64 = 4 * MIB;

pub fn collect(ctx: &Context, out: &mut Collected) {
    for pattern in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            collect_site_packages(ctx, &dir, out);
        }
    }
}

/// Reads every distribution in one site-packages directory.
pub fn collect_site_packages(ctx: &Context, dir: &Path, out: &mut Collected) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dist-info") || n.ends_with(".egg-info"))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = relative(ctx.root, &path);
        if ctx.owned.owns(&rel) {
            continue;
        }
        let metadata = if name.ends_with(".dist-info") {
            path.join("METADATA")
        } else if is_real_dir(&path) {
            path.join("PKG-INFO")
        } else {
            path.clone()
        };
        if !is_regular_file(&metadata) {
            continue;
        }
        let location = relative(ctx.root, &metadata);
        match File::open(&metadata)
            .map_err(ParseError::from)
            .and_then(|f| parse_metadata(f, &location))
        {
            Ok(p) => out.packages.push(p),
            Err(e) => out.errors.push(FileError::new(location, e)),
        }
    }
}

/// Reads `Name` and `Version` from core metadata (RFC 822 headers; the body is never read).
pub fn parse_metadata(reader: impl Read, location: &str) -> Result<Package, ParseError> {
    let mut lines = BoundedLines::new(reader, METADATA_LIMIT);
    let (mut name, mut version) = (String::new(), String::new());
    while let Some(line) = lines.next_line() {
        let (n, line) = line?;
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(ParseError::line(n, "expected `Header: value`"));
        };
        match key {
            "Name" => name = value.trim().to_owned(),
            "Version" => version = value.trim().to_owned(),
            _ => {}
        }
        if !name.is_empty() && !version.is_empty() {
            break;
        }
    }
    if name.is_empty() {
        return Err(ParseError::missing("Name"));
    }
    if version.is_empty() {
        return Err(ParseError::missing("Version"));
    }
    let purl = purl::build("pypi", None, &name, &version, &[])?;
    Ok(Package::new(
        Ecosystem::PYPI,
        name,
        version,
        purl,
        Manager::Pip,
        location,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers() {
        let text = "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nSummary: YAML parser\nClassifier: a\n  continued\n\nName: not-this\n";
        let p = parse_metadata(text.as_bytes(), "x/METADATA").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.purl.as_str()),
            ("PyYAML", "6.0.1", "pkg:pypi/pyyaml@6.0.1")
        );
        assert_eq!(
            parse_metadata("Name: a\n\nVersion: 1\n".as_bytes(), "m"),
            Err(ParseError::missing("Version"))
        );
        assert_eq!(
            parse_metadata("\u{0}\u{1}garbage".as_bytes(), "m"),
            Err(ParseError::line(1, "expected `Header: value`"))
        );
    }
}
