//! CVSS scoring checked against every vector/score pair NVD published in the bundled documents
//! (NVD computes them with FIRST's calculators), for v2, v3.0, v3.1 and v4.0.

mod common;

use std::collections::BTreeMap;

#[test]
fn every_nvd_score_is_reproduced() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for name in ["nvd/nvdcve-2.0-sample.json", "nvd/nvdcve-2.0-desktop.json"] {
        let text =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for item in doc["vulnerabilities"].as_array().into_iter().flatten() {
            let metrics = &item["cve"]["metrics"];
            for key in [
                "cvssMetricV2",
                "cvssMetricV30",
                "cvssMetricV31",
                "cvssMetricV40",
            ] {
                for m in metrics[key].as_array().into_iter().flatten() {
                    let vector = m["cvssData"]["vectorString"].as_str().unwrap_or_default();
                    let published = m["cvssData"]["baseScore"].as_f64().unwrap_or(-1.0);
                    match zerotrace_vulndb::cvss::parse(vector) {
                        Ok(v) if (v.base_score - published).abs() < 1e-9 => {
                            *per_version.entry(key.to_owned()).or_default() += 1;
                        }
                        Ok(v) => mismatches
                            .push(format!("{vector}: {} vs NVD {published}", v.base_score)),
                        Err(e) => mismatches.push(e.to_string()),
                    }
                }
            }
        }
    }
    eprintln!("scores reproduced: {per_version:?}");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(
        per_version.get("cvssMetricV31").is_some_and(|n| *n > 150),
        "{per_version:?}"
    );
    assert!(
        per_version.get("cvssMetricV2").is_some_and(|n| *n > 50),
        "{per_version:?}"
    );
    assert!(per_version.contains_key("cvssMetricV40"), "{per_version:?}");
}
