//! RubySec's ruby-advisory-db, as one JSON array of its YAML advisories (each with `_path`).
//! Ranges are RubyGems requirements: affected = not patched and not unaffected.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Batch, ImportError, json_str, read_document};
use crate::advisory::{Advisory, Affected, RequirementSyntax, Requirements, Source};
use crate::cvss::{CvssVersion, SeverityLevel};

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "_path")]
    path: String,
    gem: Option<String>,
    engine: Option<String>,
    cve: Option<Value>,
    ghsa: Option<Value>,
    osvdb: Option<Value>,
    title: Option<String>,
    date: Option<String>,
    description: Option<String>,
    url: Option<String>,
    cvss_v2: Option<Value>,
    cvss_v3: Option<Value>,
    cvss_v4: Option<Value>,
    #[serde(default)]
    patched_versions: Vec<Value>,
    #[serde(default)]
    unaffected_versions: Vec<Value>,
}

fn convert(r: Raw) -> Result<Advisory, String> {
    let stem = r
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&r.path)
        .trim_end_matches(".yml");
    let (ecosystem, package) = match (r.gem, r.engine) {
        (Some(gem), _) => ("RubyGems", gem),
        // Interpreter advisories (`rubies/<engine>`): no package ecosystem; kept for `show`.
        (None, Some(engine)) => ("Ruby", engine),
        (None, None) => return Err("field `gem`/`engine`: both missing".into()),
    };
    let mut adv = Advisory::new(format!("RUBYSEC-{package}-{stem}"), Source::RubySec);
    if let Some(cve) = r.cve.as_ref().and_then(json_str) {
        adv.aliases.push(format!("CVE-{cve}"));
    }
    if let Some(ghsa) = r.ghsa.as_ref().and_then(json_str) {
        adv.aliases.push(format!("GHSA-{ghsa}"));
    }
    if let Some(osvdb) = r.osvdb.as_ref().and_then(json_str) {
        adv.aliases.push(format!("OSVDB-{osvdb}"));
    }
    adv.summary = r.title.unwrap_or_default();
    adv.details = r.description.unwrap_or_default();
    adv.published = r.date;
    adv.references.extend(r.url);
    // RubySec records scores, not vectors; keep the best as a rating.
    let score = |v: &Option<Value>| {
        v.as_ref()
            .and_then(json_str)
            .and_then(|s| s.parse::<f64>().ok())
    };
    let rating = [
        (CvssVersion::V4_0, score(&r.cvss_v4)),
        (CvssVersion::V3_1, score(&r.cvss_v3)),
        (CvssVersion::V2, score(&r.cvss_v2)),
    ]
    .into_iter()
    .find_map(|(version, s)| s.map(|s| SeverityLevel::from_score(version, s)));
    adv.rating = rating.map(|r| r.as_str().to_owned());
    let strings = |vs: Vec<Value>, field: &str| -> Result<Vec<String>, String> {
        vs.iter()
            .map(|v| json_str(v).ok_or_else(|| format!("field `{field}`: not a string")))
            .collect()
    };
    let mut safe = strings(r.patched_versions, "patched_versions")?;
    safe.extend(strings(r.unaffected_versions, "unaffected_versions")?);
    let mut aff = Affected::new(ecosystem, package);
    aff.requirements = Some(Requirements {
        syntax: RequirementSyntax::RubyGems,
        vulnerable: None,
        safe,
    });
    adv.affected.push(aff);
    Ok(adv)
}

pub fn import(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let bytes = read_document(path)?;
    let items: Vec<Value> = serde_json::from_slice(&bytes).map_err(|source| ImportError::Json {
        path: path.to_owned(),
        source,
    })?;
    for (i, item) in items.into_iter().enumerate() {
        let position = item
            .get("_path")
            .and_then(Value::as_str)
            .map_or_else(|| format!("element {i}"), str::to_owned);
        match Raw::deserialize(item)
            .map_err(|e| e.to_string())
            .and_then(convert)
        {
            Ok(adv) => batch.advisories.push(adv),
            Err(e) => batch.record_error(path, position, e),
        }
    }
    Ok(())
}
