//! SARIF 2.1.0: one rule per vulnerability, one result per vulnerable package, so code-scanning
//! dashboards group findings by vulnerability and point at the file that pins the package.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Finding, Scan, advisory_url};

/// SARIF's levels: errors block, warnings inform, notes whisper.
fn level(f: &Finding) -> &'static str {
    if f.informational.is_some() {
        return "note";
    }
    match f.rank() {
        3.. => "error",
        2 => "warning",
        _ => "note",
    }
}

pub(super) fn report(scan: &Scan<'_>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: HashMap<&str, usize> = HashMap::new();
    let mut results = Vec::new();
    for (group, f) in scan.sorted() {
        let id: &str = &f.m.vulnerability;
        let index = *rule_index.entry(id).or_insert_with(|| {
            let description = if f.summary.is_empty() { id } else { &f.summary };
            let mut properties = json!({"tags": ["security", "vulnerability"]});
            // GitHub code scanning ranks alerts by this property (a CVSS score as text).
            if let Some(score) = f.m.cvss_score {
                properties["security-severity"] = json!(format!("{score:.1}"));
            }
            rules.push(json!({
                "id": id,
                "shortDescription": {"text": description},
                "fullDescription": {"text": format!("{id}: {description}")},
                "helpUri": advisory_url(id),
                "help": {"text": format!("{description}\nAliases: {}\n{}", f.m.aliases.join(", "), advisory_url(id))},
                "defaultConfiguration": {"level": level(f)},
                "properties": properties,
            }));
            rules.len() - 1
        });
        let p = scan.package(group);
        let locations: Vec<Value> = scan
            .locations(group)
            .into_iter()
            .map(|uri| {
                json!({
                    "physicalLocation": {"artifactLocation": {"uri": uri}},
                    "logicalLocations": [{"fullyQualifiedName": p.purl, "kind": "module"}],
                })
            })
            .collect();
        results.push(json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": level(f),
            "message": {"text": format!("{} {} is vulnerable to {id}: {}", p.name, p.version, f.m.reason)},
            "locations": locations,
            "partialFingerprints": {
                "zerotracePackageVulnerability/v1": format!("{}/{}@{}/{id}", p.ecosystem, p.name, p.version),
            },
            "properties": {
                "ecosystem": p.ecosystem.as_str(),
                "package": p.name,
                "version": p.version,
                "purl": p.purl,
                "severity": f.severity(),
                "fixed": &*f.m.fixed,
                "fixedIn": f.fixed_in,
                "kev": f.m.kev,
                "epss": f.m.epss,
                "advisories": f.m.advisories.iter().map(|a| &**a).collect::<Vec<&str>>(),
                "confidence": f.m.confidence.as_str(),
                "informational": f.informational,
            },
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ZeroTrace",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
