//! The Node.js Security WG advisories: `vuln/npm/index.json` (npm modules) and
//! `vuln/core/index.json` (Node.js itself), both objects keyed by advisory number, ranges in
//! node-semver syntax.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Batch, ImportError, json_str, null_as_default, read_document};
use crate::advisory::{Advisory, Affected, RequirementSyntax, Requirements, Source};
use crate::cvss;

/// The ecosystem under which Node.js runtime advisories are indexed (no OSV ecosystem exists).
pub const NODEJS_RUNTIME_ECOSYSTEM: &str = "Node.js";

#[derive(Deserialize)]
struct NpmRaw {
    module_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    cves: Vec<String>,
    vulnerable_versions: Option<String>,
    patched_versions: Option<String>,
    title: Option<String>,
    overview: Option<String>,
    publish_date: Option<String>,
    updated_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    references: Vec<Value>,
    cvss_vector: Option<String>,
}

#[derive(Deserialize)]
struct CoreRaw {
    #[serde(default, deserialize_with = "null_as_default")]
    cve: Vec<String>,
    vulnerable: Option<String>,
    patched: Option<String>,
    description: Option<String>,
    overview: Option<String>,
    severity: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn set_cves(adv: &mut Advisory, cves: Vec<String>) {
    if cves.len() > 1 {
        adv.fixes = cves;
    } else {
        adv.aliases = cves;
    }
}

fn entries(path: &Path) -> Result<serde_json::Map<String, Value>, ImportError> {
    let bytes = read_document(path)?;
    serde_json::from_slice(&bytes).map_err(|source| ImportError::Json {
        path: path.to_owned(),
        source,
    })
}

pub fn import_npm(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    for (key, item) in entries(path)? {
        let id = format!("NSWG-ECO-{key}");
        let raw = match NpmRaw::deserialize(item) {
            Ok(r) => r,
            Err(e) => {
                batch.record_error(path, id, e);
                continue;
            }
        };
        let mut adv = Advisory::new(id, Source::NodejsWg);
        set_cves(&mut adv, raw.cves);
        adv.summary = raw.title.unwrap_or_default();
        adv.details = raw.overview.unwrap_or_default();
        adv.published = raw.publish_date;
        adv.modified = raw.updated_at;
        adv.references = raw.references.iter().filter_map(json_str).collect();
        if let Some(v) = raw.cvss_vector.filter(|v| !v.is_empty()) {
            match cvss::parse(&v) {
                Ok(v) => adv.severity.push(v),
                Err(e) => {
                    batch.field_warning(path, adv.id.clone(), format!("field `cvss_vector`: {e}"))
                }
            }
        }
        let mut aff = Affected::new("npm", raw.module_name);
        aff.requirements = Some(Requirements {
            syntax: RequirementSyntax::NodeSemver,
            vulnerable: raw.vulnerable_versions,
            safe: raw
                .patched_versions
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .collect(),
        });
        adv.affected.push(aff);
        batch.advisories.push(adv);
    }
    Ok(())
}

pub fn import_core(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    for (key, item) in entries(path)? {
        let id = format!("NSWG-CORE-{key}");
        let raw = match CoreRaw::deserialize(item) {
            Ok(r) => r,
            Err(e) => {
                batch.record_error(path, id, e);
                continue;
            }
        };
        let mut adv = Advisory::new(id, Source::NodejsWg);
        set_cves(&mut adv, raw.cve);
        adv.summary = raw.description.unwrap_or_default();
        adv.details = raw.overview.unwrap_or_default();
        adv.rating = raw.severity;
        adv.references.extend(raw.reference);
        let mut aff = Affected::new(NODEJS_RUNTIME_ECOSYSTEM, "node");
        aff.requirements = Some(Requirements {
            syntax: RequirementSyntax::NodeSemver,
            vulnerable: raw.vulnerable,
            safe: raw
                .patched
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .collect(),
        });
        adv.affected.push(aff);
        batch.advisories.push(adv);
    }
    Ok(())
}
