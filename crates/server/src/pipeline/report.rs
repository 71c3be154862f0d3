//! The agent's inventory report as it arrives (`crates/agent/INVENTORY_CONTRACT.md`): decoded
//! from gzip or plain JSON with bounded sizes, and validated so every error names its field.
//! The API decodes it to answer 400/413 before accepting; the worker decodes the same bytes
//! again from the queue, so what is queued is what the agent sent.
//!
//! A report's strings borrow from the decoded body wherever JSON lets them (no escapes): the API
//! only checks them, and the worker copies only the ones it stores, so a 100-package report is
//! not a thousand allocations per decode.

use std::borrow::Cow;
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
pub struct InventoryReport<'a> {
    pub sequence: u64,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
    pub os: Option<ReportedOs>,
    #[serde(borrow)]
    pub packages: Vec<ReportedPackage<'a>>,
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
pub struct ReportedPackage<'a> {
    #[serde(borrow)]
    pub ecosystem: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    #[serde(default, borrow)]
    pub source: Option<ReportedSource<'a>>,
    #[serde(default, borrow)]
    pub arch: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub purl: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub manager: Cow<'a, str>,
    #[serde(default, borrow)]
    pub location: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ReportedSource<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub version: Option<Cow<'a, str>>,
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

impl InventoryReport<'_> {
    /// Decodes and validates a body (`gzip` says whether it is gzip-compressed), and hands the
    /// report, which may borrow from the decompressed text, to `use_report`.
    pub fn decode_with<T>(
        body: &[u8],
        gzip: bool,
        limits: &ReportLimits,
        use_report: impl FnOnce(InventoryReport<'_>) -> T,
    ) -> Result<T, ReportError> {
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
        let report: InventoryReport<'_> = serde_json::from_slice(json)
            .map_err(|error| ReportError::Invalid(named_json_error(json, error)))?;
        report.validate(limits)?;
        Ok(use_report(report))
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
                ("ecosystem", Some(&*package.ecosystem), MAX_ECOSYSTEM, true),
                ("name", Some(&*package.name), MAX_NAME, true),
                ("version", Some(&*package.version), MAX_VERSION, true),
                ("manager", Some(&*package.manager), MAX_MANAGER, true),
                ("arch", package.arch.as_deref(), MAX_ARCH, false),
                ("purl", package.purl.as_deref(), MAX_PURL, false),
                ("location", package.location.as_deref(), MAX_LOCATION, false),
                ("source.name", source.map(|s| &*s.name), MAX_NAME, true),
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

impl ReportedPackage<'_> {
    /// The matcher's question for this package.
    pub fn query(&self) -> PackageQuery {
        let mut query = PackageQuery::new(&self.ecosystem, &self.name, &self.version);
        if let Some(source) = &self.source {
            query = query.with_source(&source.name, source.version.as_deref());
        }
        query
    }

    /// The stored form, with the knowledge base's key for re-matching.
    pub fn to_snapshot_package(&self) -> SnapshotPackage {
        let key = self.query().package_key();
        let (match_ecosystem, match_name) = key.map(|k| (k.ecosystem, k.name)).unwrap_or_default();
        SnapshotPackage {
            ecosystem: self.ecosystem.to_string(),
            name: self.name.to_string(),
            version: self.version.to_string(),
            arch: self.arch.as_deref().unwrap_or_default().to_owned(),
            source_name: self.source.as_ref().map(|s| s.name.to_string()),
            source_version: self
                .source
                .as_ref()
                .and_then(|s| s.version.as_deref().map(str::to_owned)),
            purl: self.purl.as_deref().map(str::to_owned),
            manager: self.manager.to_string(),
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

/// A JSON error with the path of the field it is in. Tracking the path to every value cost each
/// good report; a bad one is parsed again with it, to name the field.
fn named_json_error(json: &[u8], error: serde_json::Error) -> String {
    let deserializer = &mut serde_json::Deserializer::from_slice(json);
    match serde_path_to_error::deserialize::<_, InventoryReport<'_>>(deserializer) {
        Err(tracked) => format!("{}: {}", tracked.path(), tracked.inner()),
        // Only what follows a complete report is wrong (trailing characters).
        Ok(_) => error.to_string(),
    }
}

/// Decompresses at most `limit` bytes; a larger result is refused, not truncated, so a gzip bomb
/// costs at most `limit` bytes of memory.
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

    /// What the tests look at: the sequence and each package's stored form.
    fn decode(
        body: &[u8],
        gzip: bool,
        limits: &ReportLimits,
    ) -> Result<(u64, Vec<SnapshotPackage>), ReportError> {
        InventoryReport::decode_with(body, gzip, limits, |report| {
            let packages = report.packages.iter();
            (
                report.sequence,
                packages.map(ReportedPackage::to_snapshot_package).collect(),
            )
        })
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
        let (sequence, _) = decode(json.as_bytes(), false, &limits).expect("plain");
        let (_, packages) = decode(&gzip(json.as_bytes()), true, &limits).expect("gzip");
        assert_eq!(sequence, 3);
        let [stored] = &packages[..] else {
            panic!("one package: {packages:?}");
        };
        assert_eq!(stored.arch, "amd64");
        assert_eq!(stored.version, "7.88.1-10+deb12u5");
        assert_eq!(stored.source_name.as_deref(), Some("curl"));
        assert_eq!(stored.match_name, "curl");
        assert!(!stored.match_ecosystem.is_empty());
    }

    #[test]
    fn escaped_strings_decode_to_their_text() {
        let json = body(
            r#"{"ecosystem":"npm","name":"\u0040scope\/pkg","version":"1.0.0","manager":"npm"}"#,
        );
        let (_, packages) =
            decode(json.as_bytes(), false, &ReportLimits::default()).expect("decodes");
        assert_eq!(packages[0].name, "@scope/pkg");
        assert_eq!(packages[0].version, "1.0.0");
    }

    #[test]
    fn errors_name_the_field() {
        let limits = ReportLimits::default();
        let long = "x".repeat(600);
        let json = body(&format!(
            r#"{{"ecosystem":"npm","name":"{long}","version":"1","manager":"npm"}}"#
        ));
        let error = decode(json.as_bytes(), false, &limits).unwrap_err();
        assert_eq!(
            error,
            ReportError::Invalid(
                "packages[0].name: must be at most 512 characters (got 600)".into()
            )
        );
        let json = body(r#"{"ecosystem":"npm","name":"a","version":7,"manager":"npm"}"#);
        let ReportError::Invalid(message) = decode(json.as_bytes(), false, &limits).unwrap_err()
        else {
            panic!("expected a field error");
        };
        assert!(message.starts_with("packages[0].version"), "{message}");
        let json = body("").replace(HASH, "nothex");
        assert!(matches!(
            decode(json.as_bytes(), false, &limits),
            Err(ReportError::Invalid(m)) if m.starts_with("hash:")
        ));
        let json = format!("{} and more", body(""));
        assert!(matches!(
            decode(json.as_bytes(), false, &limits),
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
            decode(&bomb, true, &limits).unwrap_err(),
            ReportError::TooLarge { limit: 1024 }
        );
        assert!(matches!(
            decode(b"not gzip at all", true, &limits),
            Err(ReportError::Gzip(_))
        ));
        let many = [r#"{"ecosystem":"npm","name":"a","version":"1","manager":"npm"}"#; 11];
        let json = body(&many.join(","));
        let limits = ReportLimits {
            max_packages: 10,
            max_decompressed_bytes: 1 << 20,
        };
        assert!(matches!(
            decode(json.as_bytes(), false, &limits),
            Err(ReportError::Invalid(m)) if m.starts_with("packages: 11 packages")
        ));
    }
}
