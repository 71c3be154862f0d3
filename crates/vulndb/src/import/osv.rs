//! OSV: osv.dev's per-ecosystem `all.zip` (one `<ID>.json` member per advisory), directories of
//! such files and single JSON documents.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Batch, ImportError, Progress, json_str, limits, null_as_default, read_bounded, read_document,
};
use crate::advisory::{Advisory, Affected, RangeEvent, RangeKind, RangeSpec, Source};
use crate::cvss;

#[derive(Deserialize)]
struct OsvRecord {
    id: String,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    related: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    severity: Vec<OsvSeverity>,
    #[serde(default, deserialize_with = "null_as_default")]
    affected: Vec<OsvAffected>,
    #[serde(default, deserialize_with = "null_as_default")]
    references: Vec<OsvReference>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct OsvReference {
    url: String,
}

#[derive(Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct OsvAffected {
    package: Option<OsvPackage>,
    #[serde(default, deserialize_with = "null_as_default")]
    severity: Vec<OsvSeverity>,
    #[serde(default, deserialize_with = "null_as_default")]
    ranges: Vec<OsvRange>,
    #[serde(default, deserialize_with = "null_as_default")]
    versions: Vec<Value>,
    ecosystem_specific: Option<Value>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    events: Vec<serde_json::Map<String, Value>>,
}

/// Converts one OSV document; `Err` names the field at fault.
pub fn parse_record(bytes: &[u8]) -> Result<Advisory, (Option<String>, String)> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| (None, format!("malformed JSON: {e}")))?;
    let id = value.get("id").and_then(Value::as_str).map(str::to_owned);
    let record: OsvRecord =
        serde_json::from_value(value).map_err(|e| (id.clone(), e.to_string()))?;
    convert(record).map_err(|msg| (id, msg))
}

fn convert(r: OsvRecord) -> Result<Advisory, String> {
    if r.id.trim().is_empty() || r.id.len() > 256 {
        return Err("field `id`: empty or longer than 256 bytes".into());
    }
    let mut adv = Advisory::new(r.id, Source::Osv);
    // `0001-01-01T00:00:00Z` is a placeholder some feeds use for "unknown".
    adv.modified = r.modified.filter(|m| !m.starts_with("0001-"));
    adv.published = r.published;
    adv.withdrawn = r.withdrawn;
    adv.related = r.related;
    adv.summary = r.summary.unwrap_or_default();
    adv.details = r.details.unwrap_or_default();
    adv.references = r.references.into_iter().map(|x| x.url).collect();
    // A record that lists several CVEs is an umbrella notice (USN, DSA in OSV form): each CVE is a
    // vulnerability of its own, not another name for this one.
    let cves = r.aliases.iter().filter(|a| a.starts_with("CVE-")).count();
    if cves > 1 {
        let (fixes, aliases): (Vec<_>, Vec<_>) =
            r.aliases.into_iter().partition(|a| a.starts_with("CVE-"));
        adv.fixes = fixes;
        adv.aliases = aliases;
    } else {
        adv.aliases = r.aliases;
    }
    if let Some(db) = &r.database_specific {
        if let Some(cwes) = db.get("cwe_ids").and_then(Value::as_array) {
            adv.cwes = cwes.iter().filter_map(json_str).collect();
        }
        if let Some(sev) = db.get("severity").and_then(Value::as_str) {
            adv.rating = Some(sev.to_owned());
        }
    }
    let mut vectors = Vec::new();
    for s in r
        .severity
        .iter()
        .chain(r.affected.iter().flat_map(|a| a.severity.iter()))
    {
        if s.kind.starts_with("CVSS_V") {
            match cvss::parse(&s.score) {
                Ok(v)
                    if !vectors
                        .iter()
                        .any(|x: &cvss::CvssVector| x.vector == v.vector) =>
                {
                    vectors.push(v)
                }
                Ok(_) => {}
                Err(e) => return Err(format!("field `severity`: {e}")),
            }
        } else if s.kind == "Ubuntu" || s.kind == "Debian" {
            adv.rating = Some(s.score.clone());
        }
    }
    adv.severity = vectors;
    for (i, a) in r.affected.into_iter().enumerate() {
        let Some(pkg) = a.package else {
            // OSV allows affected entries without a package (git-only); nothing to index by name.
            continue;
        };
        if pkg.name.is_empty() || pkg.ecosystem.is_empty() {
            return Err(format!(
                "field `affected[{i}].package`: empty name or ecosystem"
            ));
        }
        let mut aff = Affected::new(pkg.ecosystem, pkg.name);
        aff.purl = pkg.purl;
        for (j, range) in a.ranges.into_iter().enumerate() {
            let kind = match range.kind.as_str() {
                "SEMVER" => RangeKind::Semver,
                "ECOSYSTEM" => RangeKind::Ecosystem,
                "GIT" => RangeKind::Git,
                other => {
                    return Err(format!(
                        "field `affected[{i}].ranges[{j}].type`: unknown {other:?}"
                    ));
                }
            };
            let mut events = Vec::with_capacity(range.events.len());
            for ev in range.events {
                for (key, val) in ev {
                    let Some(v) = json_str(&val) else {
                        return Err(format!(
                            "field `affected[{i}].ranges[{j}].events.{key}`: not a string"
                        ));
                    };
                    events.push(match key.as_str() {
                        "introduced" => RangeEvent::Introduced(v),
                        "fixed" => RangeEvent::Fixed(v),
                        "last_affected" => RangeEvent::LastAffected(v),
                        "limit" => RangeEvent::Limit(v),
                        other => {
                            return Err(format!(
                                "field `affected[{i}].ranges[{j}].events`: unknown event {other:?}"
                            ));
                        }
                    });
                }
            }
            aff.ranges.push(RangeSpec { kind, events });
        }
        aff.versions = a.versions.iter().filter_map(json_str).collect();
        aff.ecosystem_specific = a.ecosystem_specific.map(|v| v.to_string());
        aff.database_specific = a.database_specific.map(|v| v.to_string());
        adv.affected.push(aff);
    }
    Ok(adv)
}

fn push_record(batch: &mut Batch, path: &Path, position: &str, bytes: &[u8]) {
    match parse_record(bytes) {
        Ok(adv) => batch.advisories.push(adv),
        Err((id, msg)) => batch.record_error(path, id.unwrap_or_else(|| position.to_owned()), msg),
    }
}

/// A zip of `<ID>.json` members, read one member at a time.
pub fn import_zip(
    path: &Path,
    batch: &mut Batch,
    progress: &mut Progress<'_>,
) -> Result<(), ImportError> {
    let file = super::open(path)?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|source| ImportError::Zip {
            path: path.to_owned(),
            source,
        })?;
    if archive.len() > limits::MAX_ZIP_MEMBERS {
        return Err(ImportError::Format {
            path: path.to_owned(),
            message: format!("{} members, over the limit", archive.len()),
        });
    }
    for i in 0..archive.len() {
        let mut member = match archive.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                batch.record_error(path, format!("member #{i}"), e);
                continue;
            }
        };
        let name = String::from_utf8_lossy(member.name_raw()).into_owned();
        if member.is_dir() || !name.ends_with(".json") {
            continue;
        }
        if member.size() > limits::MAX_MEMBER_BYTES {
            batch.record_error(
                path,
                name,
                format!("member of {} bytes, over the limit", member.size()),
            );
            continue;
        }
        match read_bounded(&mut member, limits::MAX_MEMBER_BYTES, path) {
            Ok(bytes) => push_record(batch, path, &name, &bytes),
            Err(e) => batch.record_error(path, name, e),
        }
        if (i + 1).is_multiple_of(1000) {
            progress(path, batch.advisories.len());
        }
    }
    Ok(())
}

/// A single OSV document, or a JSON array of them.
pub fn import_json_file(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let bytes = read_document(path)?;
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .and_then(|p| bytes.get(p));
    if trimmed == Some(&b'[') {
        let items: Vec<Value> =
            serde_json::from_slice(&bytes).map_err(|source| ImportError::Json {
                path: path.to_owned(),
                source,
            })?;
        for (i, item) in items.into_iter().enumerate() {
            push_record(
                batch,
                path,
                &format!("element {i}"),
                item.to_string().as_bytes(),
            );
        }
    } else {
        push_record(batch, path, "document", &bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ranges_aliases_and_severity() {
        let doc = br#"{"id":"GHSA-x","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-1"],
          "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
          "affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},
             "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.10"}]}],
             "versions":["1.0", 1.5],"database_specific":{"x":1}}],
          "database_specific":{"cwe_ids":["CWE-79"]}}"#;
        let adv = match parse_record(doc) {
            Ok(a) => a,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(adv.aliases, vec!["CVE-2024-1"]);
        assert_eq!(adv.cwes, vec!["CWE-79"]);
        assert_eq!(adv.severity.first().map(|s| s.base_score), Some(9.8));
        let aff = &adv.affected[0];
        assert_eq!(aff.versions, vec!["1.0", "1.5"]);
        assert_eq!(
            aff.ranges[0].events,
            vec![
                RangeEvent::Introduced("0".into()),
                RangeEvent::Fixed("1.10".into())
            ]
        );
        assert_eq!(aff.database_specific.as_deref(), Some(r#"{"x":1}"#));
    }

    #[test]
    fn umbrella_notices_keep_cves_apart() {
        let doc = br#"{"id":"USN-1-1","aliases":["CVE-1","CVE-2"],"affected":[]}"#;
        let adv = parse_record(doc)
            .map_err(|e| e.1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(adv.aliases.is_empty());
        assert_eq!(adv.fixes, vec!["CVE-1", "CVE-2"]);
    }

    #[test]
    fn garbage_is_reported_with_id_and_field() {
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            (b"{\"id\":\"X-1\",\"affected\":[{\"package\":{\"ecosystem\":\"PyPI\",\"name\":\"a\"},\"ranges\":[{\"type\":\"NOPE\",\"events\":[]}]}]}", Some("X-1"), "ranges[0].type"),
            (b"{\"id\":\"X-2\",\"aliases\":\"CVE-1\"}", Some("X-2"), "invalid type"),
            (b"{\"id\":\"X-3\",\"affected\":[{\"package\":{\"ecosystem\":\"PyPI\",\"name\":\"a\"},\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"fixed\":{}}]}]}]}", Some("X-3"), "events.fixed"),
            (b"{\"id\":\"X-4\",\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/garbage\"}]}", Some("X-4"), "severity"),
            (b"{\"id\":\"X-5\",\"affec", None, "malformed JSON"),
            (b"[1,2,3]", None, "invalid type"),
        ];
        for (doc, id, needle) in cases {
            match parse_record(doc) {
                Ok(a) => panic!("parsed {}", a.id),
                Err((got_id, msg)) => {
                    assert_eq!(got_id.as_deref(), *id);
                    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
                }
            }
        }
    }
}
