//! The shared SBOM samples: component counts from our readers against independent counts
//! (a `serde_json::Value` walk for JSON, element counting for XML, the README's figures).

use std::path::{Path, PathBuf};

use serde_json::Value;
use zerotrace_inventory::SbomKind;
use zerotrace_inventory::sbom::read_sbom;

fn data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {} not present", p.display());
        None
    }
}

/// Components (nested included, metadata's excluded) and how many of them carry a purl.
fn walk_cdx(components: &Value, count: &mut (usize, usize)) {
    for c in components.as_array().into_iter().flatten() {
        count.0 += 1;
        if c.get("purl")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty())
        {
            count.1 += 1;
        }
        if let Some(nested) = c.get("components") {
            walk_cdx(nested, count);
        }
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json") {
            out.push(e.into_path());
        }
    }
    out
}

#[test]
fn cyclonedx_json_counts() {
    let dirs: Vec<PathBuf> = ["sbom/cyclonedx", "scans/cyclonedx"]
        .iter()
        .filter_map(|d| data(d))
        .collect();
    let mut checked = 0;
    for dir in dirs {
        for path in json_files(&dir) {
            let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if value.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
                continue;
            }
            let mut count = (0, 0);
            walk_cdx(&value["components"], &mut count);
            let read = read_sbom(&path).unwrap();
            assert_eq!(read.kind, SbomKind::CycloneDxJson);
            assert_eq!(
                read.packages.len() + read.skipped.len(),
                count.0,
                "{}",
                path.display()
            );
            assert!(read.packages.len() <= count.1, "{}", path.display());
            checked += 1;
        }
    }
    if let Some(p) = data("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.json") {
        let read = read_sbom(&p).unwrap();
        assert_eq!(
            (read.packages.len(), read.skipped.len()),
            (1115, 0),
            "README: 1115 npm components, all with purl"
        );
        assert!(read.packages.iter().all(|p| p.ecosystem.as_str() == "npm"));
    }
    if let Some(p) = data("sbom/cyclonedx/proton-bridge-v1.8.0-gomod.cdx-1.2.json") {
        let read = read_sbom(&p).unwrap();
        assert_eq!(read.packages.len(), 201);
        assert!(read.packages.iter().all(|p| p.ecosystem.as_str() == "Go"));
    }
    println!("checked {checked} CycloneDX JSON documents");
}

/// `<component` elements outside `<metadata>`, counted on the raw text.
fn xml_component_count(text: &str) -> usize {
    let without_metadata = match (text.find("<metadata>"), text.find("</metadata>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], &text[b..]),
        _ => text.to_owned(),
    };
    without_metadata.matches("<component ").count()
        + without_metadata.matches("<component>").count()
}

#[test]
fn cyclonedx_xml_counts() {
    for (rel, readme) in [
        (
            "sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.xml",
            Some(1115),
        ),
        (
            "sbom/cyclonedx/keycloak-10.0.2-maven.cdx-1.2.xml",
            Some(903),
        ),
        ("sbom/cyclonedx/spec/valid-vulnerability-1.6.xml", None),
    ] {
        let Some(path) = data(rel) else { continue };
        let text = std::fs::read_to_string(&path).unwrap();
        let read = read_sbom(&path).unwrap();
        assert_eq!(read.kind, SbomKind::CycloneDxXml);
        let total = read.packages.len() + read.skipped.len();
        assert_eq!(total, xml_component_count(&text), "{rel}");
        if let Some(n) = readme {
            assert_eq!(total, n, "{rel}: README count");
        }
    }
    if let Some(path) = data("sbom/cyclonedx/keycloak-10.0.2-maven.cdx-1.2.xml") {
        let read = read_sbom(&path).unwrap();
        assert!(
            read.packages
                .iter()
                .all(|p| p.ecosystem.as_str() == "Maven" && p.name.contains(':'))
        );
        // The JSON and XML forms of juice-shop are the same BOM.
        if let (Some(x), Some(j)) = (
            data("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.xml"),
            data("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.json"),
        ) {
            let key = |r: zerotrace_inventory::sbom::SbomRead| {
                let mut v: Vec<String> = r.packages.into_iter().map(|p| p.purl).collect();
                v.sort();
                v
            };
            assert_eq!(key(read_sbom(&x).unwrap()), key(read_sbom(&j).unwrap()));
        }
    }
}

#[test]
fn spdx_json_counts() {
    let Some(dir) = data("sbom/spdx") else { return };
    for path in json_files(&dir) {
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let packages = value["packages"].as_array().map_or(0, Vec::len);
        let with_purl = value["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["externalRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["referenceType"] == "purl")
            })
            .count();
        let read = read_sbom(&path).unwrap();
        assert_eq!(read.kind, SbomKind::SpdxJson);
        assert_eq!(
            read.packages.len() + read.skipped.len(),
            packages,
            "{}",
            path.display()
        );
        assert!(read.packages.len() <= with_purl, "{}", path.display());
    }
    if let Some(p) = data("sbom/spdx/trivy-fluentd-image.spdx-2.2.json") {
        let read = read_sbom(&p).unwrap();
        assert_eq!(
            read.packages.len() + read.skipped.len(),
            514,
            "README: 514 packages"
        );
    }
    if let Some(p) = data("sbom/spdx/example11-rust-hello-server.spdx-2.3.json") {
        let read = read_sbom(&p).unwrap();
        let mut got: Vec<String> = read
            .packages
            .iter()
            .map(|p| format!("{} {} {}", p.ecosystem, p.name, p.version))
            .collect();
        got.sort();
        // Read off the document's four purls by eye (one is a deb, despite the README).
        assert_eq!(
            got,
            [
                "Debian libselinux1-dev 3.1-3",
                "crates.io hyper 0.14",
                "crates.io pretty_env_logger 0.4.0",
                "crates.io tokio 1.19.2"
            ]
        );
    }
}

#[test]
fn other_formats_are_errors_not_guesses() {
    for rel in [
        "sbom/spdx/SPDXTagExample-v2.3.spdx",
        "sbom/spdx3/package_sbom.spdx3.json",
        "sbom/README.md",
    ] {
        let Some(path) = data(rel) else { continue };
        let err = read_sbom(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a CycloneDX or SPDX JSON document"),
            "{rel}: {err}"
        );
    }
}
