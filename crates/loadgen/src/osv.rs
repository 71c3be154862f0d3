//! Known-vulnerable package versions, read from OSV advisory zips (osv.dev's `all.zip` layout:
//! one `<ID>.json` per advisory).
//!
//! A load test whose inventories match nothing exercises only half the pipeline, so part of
//! every inventory is drawn from here. Only versions an advisory names itself are taken: the
//! entries of `affected[].versions[]`, or, for advisories that list none (RustSec, the Go
//! database), the `introduced` events of their SEMVER/ECOSYSTEM ranges — each of those is inside
//! its range by definition. Members are read one at a time, each bounded, and the number taken is
//! capped, so a huge feed costs neither memory nor time.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;

/// Members larger than this are not advisories; they are skipped.
const MEMBER_LIMIT: u64 = 16 * 1024 * 1024;
/// Versions taken from one `affected[].versions[]` list: its first, middle and last.
const PER_LIST: usize = 3;

/// One affected version, as an advisory lists it.
pub(crate) struct Affected {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub advisory: String,
}

#[derive(Deserialize)]
struct Advisory {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    affected: Vec<AffectedEntry>,
}

#[derive(Deserialize)]
struct AffectedEntry {
    #[serde(default)]
    package: Option<PackageRef>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    ranges: Vec<Range>,
}

#[derive(Deserialize)]
struct PackageRef {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    introduced: Option<String>,
}

/// What reading one zip gave.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZipRead {
    pub advisories: usize,
    /// Members that were not a readable advisory (too large, not JSON, not OSV).
    pub unreadable: usize,
}

/// Calls `take` with each affected version of each advisory in the zip at `path`, in member
/// order, until `take` returns `false`.
pub(crate) fn read_zip(
    path: &Path,
    mut take: impl FnMut(Affected) -> bool,
) -> Result<ZipRead, std::io::Error> {
    let mut archive =
        zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(std::io::Error::other)?;
    let mut read = ZipRead::default();
    for index in 0..archive.len() {
        let Ok(member) = archive.by_index(index) else {
            read.unreadable += 1;
            continue;
        };
        let is_json = member.name().is_ok_and(|name| name.ends_with(".json"));
        if !member.is_file() || !is_json || member.size() > MEMBER_LIMIT {
            read.unreadable += 1;
            continue;
        }
        let Ok(advisory) =
            serde_json::from_reader::<_, Advisory>(BufReader::new(member.take(MEMBER_LIMIT)))
        else {
            read.unreadable += 1;
            continue;
        };
        read.advisories += 1;
        if advisory.withdrawn.is_some() {
            continue;
        }
        for entry in &advisory.affected {
            let Some(package) = &entry.package else {
                continue;
            };
            for version in affected_versions(entry) {
                let more = take(Affected {
                    ecosystem: package.ecosystem.clone(),
                    name: package.name.clone(),
                    version: version.to_owned(),
                    advisory: advisory.id.clone(),
                });
                if !more {
                    return Ok(read);
                }
            }
        }
    }
    Ok(read)
}

/// The versions of one `affected` entry worth taking (see the module doc).
fn affected_versions(entry: &AffectedEntry) -> Vec<&str> {
    let listed = &entry.versions;
    if !listed.is_empty() {
        let mut picks: Vec<&str> = [0, listed.len() / 2, listed.len() - 1]
            .into_iter()
            .filter_map(|i| listed.get(i).map(String::as_str))
            .collect();
        picks.dedup();
        picks.truncate(PER_LIST);
        return picks;
    }
    let mut picks: Vec<&str> = entry
        .ranges
        .iter()
        .filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
        .flat_map(|r| r.events.iter().filter_map(|e| e.introduced.as_deref()))
        // "0" means "from the first version", and "1.22.0-0" is a range bound, not a release.
        .filter(|v| *v != "0" && !v.ends_with("-0") && !v.trim().is_empty())
        .collect();
    picks.dedup();
    picks.truncate(PER_LIST);
    picks
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A zip of `members` in a temporary directory.
    fn zip_of(members: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("osv.zip");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        for (name, text) in members {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(text.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        (dir, path)
    }

    #[test]
    fn listed_versions_and_introduced_events_are_taken_withdrawn_and_garbage_skipped() {
        let (_dir, zip) = zip_of(&[
            (
                "A-1.json",
                r#"{"id":"A-1","affected":[{"package":{"ecosystem":"PyPI","name":"x"},
                    "versions":["1.0","1.1","1.2","1.3","1.4"]}]}"#,
            ),
            (
                "A-2.json",
                r#"{"id":"A-2","affected":[{"package":{"ecosystem":"crates.io","name":"y"},
                    "ranges":[{"type":"SEMVER","events":[{"introduced":"0.0.0-0"},{"fixed":"0.3.0"},
                    {"introduced":"0.4.0"},{"fixed":"0.4.2"}]},
                    {"type":"GIT","events":[{"introduced":"abc123"}]}]}]}"#,
            ),
            (
                "A-3.json",
                r#"{"id":"A-3","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"z"},"versions":["9"]}]}"#,
            ),
            ("A-4.json", "not json"),
            ("README.md", "hello"),
        ]);
        let mut seen = Vec::new();
        let read = read_zip(&zip, |a| {
            seen.push(format!(
                "{} {} {} {}",
                a.advisory, a.ecosystem, a.name, a.version
            ));
            true
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "A-1 PyPI x 1.0",
                "A-1 PyPI x 1.2",
                "A-1 PyPI x 1.4",
                "A-2 crates.io y 0.4.0"
            ]
        );
        assert_eq!(
            read,
            ZipRead {
                advisories: 3,
                unreadable: 2
            }
        );

        let mut first = 0;
        read_zip(&zip, |_| {
            first += 1;
            false
        })
        .unwrap();
        assert_eq!(first, 1, "reading stops when asked");
    }
}
