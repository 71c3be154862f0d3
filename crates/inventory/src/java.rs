//! Java archives (`.jar`, `.war`, `.ear`): `META-INF/maven/<group>/<artifact>/pom.properties`,
//! the manifest when there is no pom, and nested archives (`BOOT-INF/lib/*.jar`,
//! `WEB-INF/lib/*.jar`). Zip central directories are read; entries only when needed.

use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

use walkdir::WalkDir;
use zip::ZipArchive;

use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, relative};
use crate::limits::{KIB, MIB, read_all_bounded};
use crate::limits::{MAX_WALK_ENTRIES, walk_stopped};
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;
use crate::scan::{Collected, Context};

/// Trees walked for archives (no symlinks followed, depth-bounded): application and library
/// directories, not the whole root.
pub const SEARCH_ROOTS: [&str; 8] = [
    "usr/share/java",
    "usr/local/share/java",
    "usr/share/maven*/lib",
    "usr/local/tomcat",
    "opt",
    "app",
    "srv",
    "var/lib/jenkins",
];
const MAX_WALK_DEPTH: usize = 10;
pub const ARCHIVE_LIMIT: u64 = 1024 * MIB;
/// A nested archive is read into memory, so its bound is tighter.
pub const NESTED_LIMIT: u64 = 64 * MIB;
const PROPERTIES_LIMIT: u64 = 64 * KIB;
const MAX_NESTING: usize = 2;

pub fn collect(ctx: &Context, out: &mut Collected) {
    for pattern in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            let walk = WalkDir::new(&dir)
                .max_depth(MAX_WALK_DEPTH)
                .follow_links(false)
                .sort_by_file_name();
            for (seen, entry) in walk.into_iter().enumerate() {
                if seen == MAX_WALK_ENTRIES {
                    out.errors
                        .push(FileError::new(relative(ctx.root, &dir), walk_stopped()));
                    break;
                }
                let Ok(entry) = entry else { continue };
                if !entry.file_type().is_file()
                    || !is_archive_name(&entry.file_name().to_string_lossy())
                {
                    continue;
                }
                let rel = relative(ctx.root, entry.path());
                if ctx.owned.owns(&rel) {
                    continue;
                }
                read_archive_file(entry.path(), &rel, out);
            }
        }
    }
}

fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jar", ".war", ".ear"].iter().any(|s| lower.ends_with(s))
}

/// Reads one archive file; errors are added to `out` under `location`.
pub fn read_archive_file(path: &Path, location: &str, out: &mut Collected) {
    let result = File::open(path).map_err(ParseError::from).and_then(|f| {
        let size = f.metadata()?.len();
        if size > ARCHIVE_LIMIT {
            return Err(ParseError::TooLarge {
                size,
                limit: ARCHIVE_LIMIT,
            });
        }
        Ok(f)
    });
    match result {
        Ok(f) => read_archive(f, location, 0, out),
        Err(e) => out.errors.push(FileError::new(location, e)),
    }
}

fn zip_error(e: zip::result::ZipError) -> ParseError {
    ParseError::format(format!("not a readable zip archive: {e}"))
}

/// Reads packages from an archive and its nested archives. `location` names the archive, with
/// `!` between nesting levels (`app.jar!BOOT-INF/lib/x.jar`).
pub fn read_archive<R: Read + Seek>(
    reader: R,
    location: &str,
    nesting: usize,
    out: &mut Collected,
) {
    let mut archive = match ZipArchive::new(reader) {
        Ok(a) => a,
        Err(e) => return out.errors.push(FileError::new(location, zip_error(e))),
    };
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .collect();
    let mut poms: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("META-INF/maven/") && n.ends_with("/pom.properties"))
        .collect();
    poms.sort();
    let mut found = 0;
    for name in poms {
        let entry_location = format!("{location}!{name}");
        match read_entry(&mut archive, name, PROPERTIES_LIMIT)
            .and_then(|b| parse_pom_properties(&b, location))
        {
            Ok(p) => {
                found += 1;
                out.packages.push(p);
            }
            Err(e) => out.errors.push(FileError::new(entry_location, e)),
        }
    }
    if found == 0 {
        let manifest = read_entry(&mut archive, "META-INF/MANIFEST.MF", PROPERTIES_LIMIT).ok();
        if let Some(p) = package_from_manifest(manifest.as_deref(), location) {
            out.packages.push(p);
        }
    }
    if nesting >= MAX_NESTING {
        return;
    }
    let mut nested: Vec<&String> = names.iter().filter(|n| is_archive_name(n)).collect();
    nested.sort();
    for name in nested {
        let nested_location = format!("{location}!{name}");
        match read_entry(&mut archive, name, NESTED_LIMIT) {
            Ok(bytes) => read_archive(Cursor::new(bytes), &nested_location, nesting + 1, out),
            Err(e) => out.errors.push(FileError::new(nested_location, e)),
        }
    }
}

fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, ParseError> {
    let entry = archive.by_name(name).map_err(zip_error)?;
    let size = entry.size();
    if size > limit {
        return Err(ParseError::TooLarge { size, limit });
    }
    read_all_bounded(entry, limit, size)
}

fn maven_package(
    group: &str,
    artifact: &str,
    version: &str,
    location: &str,
) -> Result<Package, ParseError> {
    let purl = purl::build("maven", Some(group), artifact, version, &[])?;
    let name = if group.is_empty() {
        artifact.to_owned()
    } else {
        format!("{group}:{artifact}")
    };
    Ok(Package::new(
        Ecosystem::MAVEN,
        name,
        version,
        purl,
        Manager::Jar,
        location,
    ))
}

/// `key=value` lines of a `pom.properties` (`#` comments).
pub fn parse_pom_properties(bytes: &[u8], location: &str) -> Result<Package, ParseError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ParseError::format("pom.properties is not UTF-8"))?;
    let (mut group, mut artifact, mut version) = ("", "", "");
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        match k.trim() {
            "groupId" => group = v.trim(),
            "artifactId" => artifact = v.trim(),
            "version" => version = v.trim(),
            _ => {}
        }
    }
    for (field, value) in [
        ("groupId", group),
        ("artifactId", artifact),
        ("version", version),
    ] {
        if value.is_empty() {
            return Err(ParseError::missing(field));
        }
    }
    maven_package(group, artifact, version, location)
}

/// Without a pom: the artifact from the archive's file name (`commons-io-2.11.0.jar`), the
/// version from the manifest or the file name, the group from `Implementation-Vendor-Id`.
fn package_from_manifest(manifest: Option<&[u8]>, location: &str) -> Option<Package> {
    let text = manifest
        .and_then(|m| std::str::from_utf8(m).ok())
        .unwrap_or("");
    let header = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let file = location.rsplit(['/', '!']).next()?;
    let stem = file.get(..file.len().checked_sub(4)?)?;
    let (artifact, file_version) = match stem.match_indices('-').find(|(i, _)| {
        stem.get(i + 1..)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    }) {
        Some((i, _)) => (stem.get(..i)?, stem.get(i + 1..)),
        None => (stem, None),
    };
    let version = header("Implementation-Version")
        .or(header("Bundle-Version"))
        .or(file_version)?;
    let group = header("Implementation-Vendor-Id").unwrap_or("");
    maven_package(group, artifact, version, location).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    pub(crate) fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn pom_manifest_and_nested() {
        let inner = jar(&[(
            "META-INF/maven/org.yaml/snakeyaml/pom.properties",
            b"#Generated\nversion=1.33\ngroupId=org.yaml\nartifactId=snakeyaml\n",
        )]);
        let manifest_only = jar(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nImplementation-Version: 2.11.0\r\nImplementation-Vendor-Id: commons-io\r\n")]);
        let outer = jar(&[
            (
                "META-INF/maven/com.example/app/pom.properties",
                b"groupId=com.example\nartifactId=app\nversion=1.0.0\n",
            ),
            ("BOOT-INF/lib/snakeyaml-1.33.jar", &inner),
            ("BOOT-INF/lib/commons-io-2.11.0.jar", &manifest_only),
            ("BOOT-INF/lib/broken.jar", b"not a zip"),
        ]);
        let mut out = Collected::default();
        read_archive(Cursor::new(outer), "opt/app.jar", 0, &mut out);
        let got: Vec<_> = out
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("com.example:app", "1.0.0", "opt/app.jar"),
                (
                    "commons-io:commons-io",
                    "2.11.0",
                    "opt/app.jar!BOOT-INF/lib/commons-io-2.11.0.jar"
                ),
                (
                    "org.yaml:snakeyaml",
                    "1.33",
                    "opt/app.jar!BOOT-INF/lib/snakeyaml-1.33.jar"
                ),
            ]
        );
        assert_eq!(out.packages[2].purl, "pkg:maven/org.yaml/snakeyaml@1.33");
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].path, "opt/app.jar!BOOT-INF/lib/broken.jar");
    }
}
