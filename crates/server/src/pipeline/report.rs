//! The agent's inventory report as it arrives (`crates/agent/INVENTORY_CONTRACT.md`): decoded
//! from gzip or plain JSON with bounded sizes, and validated so every error names its field.
//! The API decodes it to answer 400/413 before accepting; the worker decodes the same bytes
//! again from the queue, so what is queued is what the agent sent.

use std::io::Read;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zerotrace_store::snapshots::SnapshotPackage;
use zerotrace_vulndb::PackageQuery;

/// Limits on one report. Generous for real hosts (a large build server has ~10,000 packages),
/// tight enough that one agent cannot make a worker allocate without bound.
#[derive(Clone, Copy, Debug)]
pub struct ReportLimits {
    pub max_packages: usize,
    pub max_decompressed_bytes: usize,
}

impl Default for ReportLimits {
    fn default() -> Self {
        ReportLimits {
            max_packages: 50_000,
            max_decompressed_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
pub struct InventoryReport {
    pub sequence: u64,
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
    pub os: Option<ReportedOs>,
    pub packages: Vec<ReportedPackage>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ReportedOs {
    pub id: String,
    #[serde(default)]
    pub version_id: Option<String>,
    #[serde(default)]
    pub codename: Option<String>,
    #[serde(default)]
    pub pretty_name: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ReportedPackage {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: Option<ReportedSource>,
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub purl: Option<String>,
    pub manager: String,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ReportedSource {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("the decompressed body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body is not valid gzip: {0}")]
    Gzip(String),
    #[error("{0}")]
    Invalid(String),
}

/// Field length limits, in characters.
const MAX_ECOSYSTEM: usize = 64;
const MAX_NAME: usize = 512;
const MAX_VERSION: usize = 256;
const MAX_ARCH: usize = 64;
const MAX_MANAGER: usize = 64;
const MAX_PURL: usize = 2048;
const MAX_LOCATION: usize = 4096;
const MAX_OS_FIELD: usize = 255;

impl InventoryReport {
    /// Decodes and validates a body (`gzip` says whether it is gzip-compressed).
    pub fn decode(
        body: &[u8],
        gzip: bool,
        limits: &ReportLimits,
    ) -> Result<InventoryReport, ReportError> {
        let plain;
        let json = if gzip {
            plain = gunzip(body, limits.max_decompressed_bytes)?;
            plain.as_slice()
        } else if body.len() > limits.max_decompressed_bytes {
            return Err(ReportError::TooLarge {
                limit: limits.max_decompressed_bytes,
            });
        } else {
            body
        };
        let report: InventoryReport = serde_json::from_slice(json)
            .map_err(|error| ReportError::Invalid(named_json_error(json, error)))?;
        report.validate(limits)?;
        Ok(report)
    }

    fn validate(&self, limits: &ReportLimits) -> Result<(), ReportError> {
        let invalid = |message: String| Err(ReportError::Invalid(message));
        if self.sequence == 0 {
            return invalid("sequence: must be at least 1".into());
        }
        if self.hash.len() != 64
            || !self
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return invalid("hash: must be 64 lowercase hex digits (SHA-256)".into());
        }
        if self.packages.len() > limits.max_packages {
            return invalid(format!(
                "packages: {} packages, more than the limit of {}",
                self.packages.len(),
                limits.max_packages
            ));
        }
        if let Some(os) = &self.os {
            check("os.id", &os.id, MAX_OS_FIELD, true)?;
            for (field, value) in [
                ("os.version_id", &os.version_id),
                ("os.codename", &os.codename),
                ("os.pretty_name", &os.pretty_name),
            ] {
                if let Some(value) = value {
                    check(field, value, MAX_OS_FIELD, false)?;
                }
            }
        }
        for (i, package) in self.packages.iter().enumerate() {
            let source = package.source.as_ref();
            // `None`: an optional field (or the source) is absent, so there is nothing to check.
            for (name, value, max, required) in [
                (
                    "ecosystem",
                    Some(package.ecosystem.as_str()),
                    MAX_ECOSYSTEM,
                    true,
                ),
                ("name", Some(package.name.as_str()), MAX_NAME, true),
                ("version", Some(package.version.as_str()), MAX_VERSION, true),
                ("manager", Some(package.manager.as_str()), MAX_MANAGER, true),
                ("arch", package.arch.as_deref(), MAX_ARCH, false),
                ("purl", package.purl.as_deref(), MAX_PURL, false),
                ("location", package.location.as_deref(), MAX_LOCATION, false),
                (
                    "source.name",
                    source.map(|s| s.name.as_str()),
                    MAX_NAME,
                    true,
                ),
                (
                    "source.version",
                    source.and_then(|s| s.version.as_deref()),
                    MAX_VERSION,
                    false,
                ),
            ] {
                if let Some(value) = value {
                    check(format_args!("packages[{i}].{name}"), value, max, required)?;
                }
            }
        }
        Ok(())
    }

    /// How the asset's OS is shown: the pretty name when the agent had one.
    pub fn os_label(&self) -> String {
        self.os
            .as_ref()
            .map(|os| {
                os.pretty_name.clone().unwrap_or_else(|| {
                    format!("{} {}", os.id, os.version_id.as_deref().unwrap_or_default())
                        .trim()
                        .to_owned()
                })
            })
            .unwrap_or_default()
    }
}

impl ReportedPackage {
    /// The matcher's question for this package.
    pub fn query(&self) -> PackageQuery {
        let mut query = PackageQuery::new(&self.ecosystem, &self.name, &self.version);
        if let Some(source) = &self.source {
            query = query.with_source(&source.name, source.version.as_deref());
        }
        query
    }

    /// The stored form, with the knowledge base's key for re-matching.
    pub fn into_snapshot_package(self) -> SnapshotPackage {
        let key = self.query().package_key();
        let (match_ecosystem, match_name) = key.map(|k| (k.ecosystem, k.name)).unwrap_or_default();
        SnapshotPackage {
            ecosystem: self.ecosystem,
            name: self.name,
            version: self.version,
            arch: self.arch.unwrap_or_default(),
            source_version: self.source.as_ref().and_then(|s| s.version.clone()),
            source_name: self.source.map(|s| s.name),
            purl: self.purl,
            manager: self.manager,
            match_ecosystem,
            match_name,
        }
    }
}

/// Checks one field. `field` names it in the error, and is only formatted for one: a report has
/// thousands of fields.
fn check(
    field: impl std::fmt::Display,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), ReportError> {
    let invalid = |problem: &str| Err(ReportError::Invalid(format!("{field}: {problem}")));
    if required && value.trim().is_empty() {
        return invalid("must not be empty");
    }
    // Characters are never more than bytes, so only a long value needs counting.
    if value.len() > max {
        let length = value.chars().count();
        if length > max {
            return invalid(&format!("must be at most {max} characters (got {length})"));
        }
    }
    if value.chars().any(char::is_control) {
        return invalid("must not contain control characters");
    }
    Ok(())
}

/// Decompresses at most `limit` bytes; a larger result is refused, not truncated, so a gzip bomb
/// costs at most `limit` bytes of memory.
/// A JSON error with the path of the field it is in. Tracking the path to every value cost each
/// good report; a bad one is parsed again with it, to name the field.
fn named_json_error(json: &[u8], error: serde_json::Error) -> String {
    let deserializer = &mut serde_json::Deserializer::from_slice(json);
    match serde_path_to_error::deserialize::<_, InventoryReport>(deserializer) {
        Err(tracked) => format!("{}: {}", tracked.path(), tracked.inner()),
        // Only what follows a complete report is wrong (trailing characters).
        Ok(_) => error.to_string(),
    }
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, ReportError> {
    let mut plain = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut plain)
        .map_err(|e| ReportError::Gzip(e.to_string()))?;
    if plain.len() > limit {
        return Err(ReportError::TooLarge { limit });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HASH: &str = "9f2c000000000000000000000000000000000000000000000000000000000000";

    fn body(packages: &str) -> String {
        format!(
            r#"{{"sequence":3,"hash":"{HASH}","scanned_at":"2026-11-22T04:00:00Z",
               "os":{{"id":"debian","version_id":"12","codename":"bookworm"}},
               "packages":[{packages}]}}"#
        )
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn contract_example_decodes_plain_and_gzip() {
        let json = body(
            r#"{"ecosystem":"Debian:12","name":"curl","version":"7.88.1-10+deb12u5","arch":"amd64",
                "purl":"pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12",
                "manager":"dpkg","location":"var/lib/dpkg/status","source":{"name":"curl"}}"#,
        );
        let limits = ReportLimits::default();
        let plain = InventoryReport::decode(json.as_bytes(), false, &limits).expect("plain");
        let zipped = InventoryReport::decode(&gzip(json.as_bytes()), true, &limits).expect("gzip");
        assert_eq!(plain.sequence, 3);
        assert_eq!(zipped.packages.len(), 1);
        let package = zipped.packages.into_iter().next().expect("one");
        let stored = package.into_snapshot_package();
        assert_eq!(stored.arch, "amd64");
        assert_eq!(stored.match_name, "curl");
        assert!(!stored.match_ecosystem.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let limits = ReportLimits::default();
        let long = "x".repeat(600);
        let json = body(&format!(
            r#"{{"ecosystem":"npm","name":"{long}","version":"1","manager":"npm"}}"#
        ));
        let error = InventoryReport::decode(json.as_bytes(), false, &limits).unwrap_err();
        assert_eq!(
            error,
            ReportError::Invalid(
                "packages[0].name: must be at most 512 characters (got 600)".into()
            )
        );
        let json = body(r#"{"ecosystem":"npm","name":"a","version":7,"manager":"npm"}"#);
        let ReportError::Invalid(message) =
            InventoryReport::decode(json.as_bytes(), false, &limits).unwrap_err()
        else {
            panic!("expected a field error");
        };
        assert!(message.starts_with("packages[0].version"), "{message}");
        let json = body("").replace(HASH, "nothex");
        assert!(matches!(
            InventoryReport::decode(json.as_bytes(), false, &limits),
            Err(ReportError::Invalid(m)) if m.starts_with("hash:")
        ));
        let json = format!("{} and more", body(""));
        assert!(matches!(
            InventoryReport::decode(json.as_bytes(), false, &limits),
            Err(ReportError::Invalid(m)) if m.starts_with("trailing characters")
        ));
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let limits = ReportLimits {
            max_packages: 10,
            max_decompressed_bytes: 1024,
        };
        let bomb = gzip(&vec![b' '; 1024 * 1024]);
        assert_eq!(
            InventoryReport::decode(&bomb, true, &limits).unwrap_err(),
            ReportError::TooLarge { limit: 1024 }
        );
        assert!(matches!(
            InventoryReport::decode(b"not gzip at all", true, &limits),
            Err(ReportError::Gzip(_))
        ));
        let many = [r#"{"ecosystem":"npm","name":"a","version":"1","manager":"npm"}"#; 11];
        let json = body(&many.join(","));
        let limits = ReportLimits {
            max_packages: 10,
            max_decompressed_bytes: 1 << 20,
        };
        assert!(matches!(
            InventoryReport::decode(json.as_bytes(), false, &limits),
            Err(ReportError::Invalid(m)) if m.starts_with("packages: 11 packages")
        ));
    }
}
