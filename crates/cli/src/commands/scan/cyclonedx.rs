//! CycloneDX 1.5 JSON with VEX: the inventory's components as `zerotrace-inventory` writes
//! them, plus one `vulnerabilities` entry per vulnerability whose `affects` point at the
//! components by `bom-ref`.

use std::collections::HashMap;

use anyhow::Context;
use serde_json::{Value, json};
use zerotrace_inventory::ScanReport;
use zerotrace_inventory::scan::REPORT_SCHEMA;
use zerotrace_vulndb::MatchStatus;
use zerotrace_vulndb::cvss::{CvssVector, CvssVersion};

use super::{Scan, advisory_url};

/// One `bom-ref` per package, in package order: the purl, `#2`, `#3`, ... for repeats, and a
/// synthetic ref for a package without a purl (an empty `bom-ref` would be invalid).
fn bom_refs(scan: &Scan<'_>) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    scan.inventory
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.purl.is_empty() {
                return format!("zerotrace:component-{}", i + 1);
            }
            let n = seen.entry(p.purl.as_str()).or_insert(0);
            *n += 1;
            if *n == 1 {
                p.purl.clone()
            } else {
                format!("{}#{n}", p.purl)
            }
        })
        .collect()
}

fn method(v: &CvssVector) -> &'static str {
    match v.version {
        CvssVersion::V2 => "CVSSv2",
        CvssVersion::V3_0 => "CVSSv3",
        CvssVersion::V3_1 => "CVSSv31",
        CvssVersion::V4_0 => "CVSSv4",
    }
}

fn source(id: &str) -> Value {
    let name = match id.split('-').next().unwrap_or_default() {
        "CVE" => "NVD",
        "GHSA" => "GitHub",
        "RUSTSEC" => "RustSec",
        "DSA" | "DLA" => "Debian",
        _ => "OSV",
    };
    json!({"name": name, "url": advisory_url(id)})
}

pub(super) fn report(scan: &Scan<'_>) -> anyhow::Result<Value> {
    let inventory = ScanReport {
        schema: REPORT_SCHEMA.to_owned(),
        os: scan.inventory.os.clone(),
        packages: scan.inventory.packages.clone(),
        errors: Vec::new(),
    };
    let mut bytes = Vec::new();
    zerotrace_inventory::cyclonedx_out::write_cyclonedx(&inventory, &mut bytes)
        .context("writing the CycloneDX components")?;
    let mut bom: Value = serde_json::from_slice(&bytes).context("reading back the BOM")?;
    let refs = bom_refs(scan);
    if let Some(components) = bom.get_mut("components").and_then(Value::as_array_mut) {
        for (component, bom_ref) in components.iter_mut().zip(&refs) {
            component["bom-ref"] = json!(bom_ref);
        }
    }

    // One entry per vulnerability, in severity order, collecting every package it affects.
    let mut order: Vec<&str> = Vec::new();
    let mut entries: HashMap<&str, Value> = HashMap::new();
    for (group, f) in scan.sorted() {
        let id: &str = &f.m.vulnerability;
        let entry = entries.entry(id).or_insert_with(|| {
            order.push(id);
            let mut ratings = Vec::new();
            if let Some(view) = scan.kb.show(id) {
                let severity = &view.vulnerability.severity;
                for v in [&severity.cvss_v3, &severity.cvss_v4, &severity.cvss_v2]
                    .into_iter()
                    .flatten()
                {
                    ratings.push(json!({
                        "score": v.base_score,
                        "severity": v.severity().as_str(),
                        "method": method(v),
                        "vector": v.vector,
                    }));
                }
            }
            if ratings.is_empty() {
                ratings.push(json!({"severity": f.severity(), "method": "other"}));
            }
            let references: Vec<Value> =
                f.m.aliases
                    .iter()
                    .chain(f.m.advisories.iter())
                    .filter(|a| ***a != *id)
                    .map(|a| json!({"id": &**a, "source": source(a)}))
                    .collect();
            let mut properties =
                vec![json!({"name": "zerotrace:kev", "value": f.m.kev.to_string()})];
            if let Some(epss) = f.m.epss {
                properties.push(json!({"name": "zerotrace:epss", "value": epss.to_string()}));
            }
            if let Some(kind) = &f.informational {
                properties.push(json!({"name": "zerotrace:informational", "value": kind}));
            }
            json!({
                "bom-ref": format!("vulnerability:{id}"),
                "id": id,
                "source": source(id),
                "references": references,
                "ratings": ratings,
                "description": f.summary,
                "affects": [],
                "properties": properties,
            })
        });
        let p = scan.package(group);
        let fix = match (&f.fixed_in, f.m.status) {
            (_, MatchStatus::WillNotFix) => "the distribution will not fix it".to_owned(),
            (Some(v), _) => format!("upgrade {} to {v}", p.name),
            (None, _) if f.m.fixed.is_empty() => "no fixed version is known".to_owned(),
            (None, _) => format!("fixed in {}", f.m.fixed.join(", ")),
        };
        // VEX analysis: matched by version only, exploitability not assessed.
        entry["analysis"] = json!({
            "state": "in_triage",
            "detail": f.m.reason.to_string(),
        });
        if f.m.status == MatchStatus::WillNotFix {
            entry["analysis"]["response"] = json!(["will_not_fix"]);
        }
        entry["recommendation"] = json!(fix);
        if let Some(affects) = entry["affects"].as_array_mut() {
            for &member in &group.members {
                if let Some(bom_ref) = refs.get(member) {
                    affects.push(json!({
                        "ref": bom_ref,
                        "versions": [{"version": p.version, "status": "affected"}],
                    }));
                }
            }
        }
    }
    bom["vulnerabilities"] = Value::Array(
        order
            .into_iter()
            .filter_map(|id| entries.remove(id))
            .collect(),
    );
    Ok(bom)
}
