//! SPDX 2.x JSON: `packages[]` with their `PACKAGE-MANAGER` `purl` external references.

use std::io::Read;

use serde::Deserialize;

use super::SbomRead;
use crate::error::ParseError;
use crate::package::SbomKind;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: String,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    #[serde(default)]
    reference_type: String,
    #[serde(default)]
    reference_locator: String,
}

pub fn parse_json(reader: impl Read, location: &str) -> Result<SbomRead, ParseError> {
    let doc: Document = serde_json::from_reader(reader)?;
    if !doc.spdx_version.starts_with("SPDX-2.") {
        return Err(ParseError::field(
            "spdxVersion",
            format!("`{}` is not SPDX 2.x", doc.spdx_version),
        ));
    }
    let mut out = SbomRead::new(SbomKind::SpdxJson);
    for p in &doc.packages {
        let purl = p
            .external_refs
            .iter()
            .find(|r| r.reference_type == "purl")
            .map(|r| r.reference_locator.as_str());
        out.component(location, &p.name, p.version_info.as_deref(), purl);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_with_and_without_purl() {
        let doc = r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[
          {"SPDXID":"SPDXRef-a","name":"openssl","versionInfo":"3.0.11-1~deb12u2","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"}]},
          {"SPDXID":"SPDXRef-b","name":"image"}]}"#;
        let r = parse_json(doc.as_bytes(), "sbom.json").unwrap();
        let p = &r.packages[0];
        assert_eq!(
            (
                p.ecosystem.as_str(),
                p.name.as_str(),
                p.version.as_str(),
                p.arch.as_deref()
            ),
            ("Debian:12", "openssl", "3.0.11-1~deb12u2", Some("amd64"))
        );
        assert_eq!(
            (r.skipped[0].entry.as_str(), r.skipped[0].reason.as_str()),
            ("image", "no purl")
        );
        assert!(parse_json(r#"{"spdxVersion":"SPDX-3.0"}"#.as_bytes(), "l").is_err());
    }
}
