//! A scan as a CycloneDX 1.5 JSON BOM: one component per package, with ZeroTrace's facts that
//! CycloneDX has no field for (manager, location, source package, ecosystem) as properties.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::package::Package;
use crate::scan::ScanReport;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    bom_format: &'static str,
    spec_version: &'static str,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<Component<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    tools: Tools,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<Component<'a>>,
}

#[derive(Serialize)]
struct Tools {
    components: [Tool; 1],
}

#[derive(Serialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Component<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    publisher: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    name: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property<'a>>,
}

#[derive(Serialize)]
struct Property<'a> {
    name: &'static str,
    value: std::borrow::Cow<'a, str>,
}

fn component<'a>(p: &'a Package, bom_ref: String) -> Component<'a> {
    use crate::package::Manager;
    let kind = match p.manager {
        Manager::MacApp | Manager::WindowsApp => "application",
        _ => "library",
    };
    // Maven names are `group:artifact`; CycloneDX keeps the group apart.
    let (group, name) = match p.ecosystem.as_str() {
        "Maven" => match p.name.split_once(':') {
            Some((g, a)) => (Some(g), a),
            None => (None, p.name.as_str()),
        },
        _ => (None, p.name.as_str()),
    };
    let mut properties = vec![
        Property {
            name: "zerotrace:ecosystem",
            value: p.ecosystem.as_str().into(),
        },
        Property {
            name: "zerotrace:manager",
            value: p.manager.to_string().into(),
        },
        Property {
            name: "zerotrace:location",
            value: p.location.as_str().into(),
        },
    ];
    if let Some(src) = &p.source {
        properties.push(Property {
            name: "zerotrace:source_name",
            value: src.name.as_str().into(),
        });
        if let Some(v) = &src.version {
            properties.push(Property {
                name: "zerotrace:source_version",
                value: v.as_str().into(),
            });
        }
    }
    if let Some(arch) = &p.arch {
        properties.push(Property {
            name: "zerotrace:arch",
            value: arch.as_str().into(),
        });
    }
    Component {
        kind,
        bom_ref,
        publisher: p.app.as_ref().and_then(|a| a.publisher.as_deref()),
        group,
        name,
        version: &p.version,
        purl: (!p.purl.is_empty()).then_some(p.purl.as_str()),
        properties,
    }
}

/// Writes `report` as CycloneDX 1.5 JSON. `bom-ref`s are the purls, suffixed `#2`, `#3`, ...
/// when the same purl was found at several locations.
pub fn write_cyclonedx(report: &ScanReport, writer: impl Write) -> Result<(), serde_json::Error> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let components = report
        .packages
        .iter()
        .map(|p| {
            let n = seen.entry(p.purl.as_str()).or_insert(0);
            *n += 1;
            let bom_ref = if *n == 1 {
                p.purl.clone()
            } else {
                format!("{}#{n}", p.purl)
            };
            component(p, bom_ref)
        })
        .collect();
    let subject = report.os.as_ref().map(|os| Component {
        kind: "operating-system",
        bom_ref: "os".to_owned(),
        publisher: None,
        group: None,
        name: &os.id,
        version: os.version_id.as_deref().unwrap_or(""),
        purl: None,
        properties: Vec::new(),
    });
    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.5",
        version: 1,
        metadata: Metadata {
            tools: Tools {
                components: [Tool {
                    kind: "application",
                    name: "zerotrace-inventory",
                    version: env!("CARGO_PKG_VERSION"),
                }],
            },
            component: subject,
        },
        components,
    };
    serde_json::to_writer(writer, &bom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{Ecosystem, Manager, SourcePackage};
    use crate::sbom::cyclonedx::parse_json;

    #[test]
    fn round_trips_through_our_reader() {
        let mut dpkg = Package::new(
            Ecosystem::new("Debian:12"),
            "libssl3",
            "3.0.11-1",
            "pkg:deb/debian/libssl3@3.0.11-1?distro=debian-12".into(),
            Manager::Dpkg,
            "var/lib/dpkg/status",
        );
        dpkg.source = Some(SourcePackage {
            name: "openssl".into(),
            version: None,
        });
        let jar = Package::new(
            Ecosystem::MAVEN,
            "org.yaml:snakeyaml",
            "1.33",
            "pkg:maven/org.yaml/snakeyaml@1.33".into(),
            Manager::Jar,
            "opt/a.jar",
        );
        let report = ScanReport {
            schema: "x".into(),
            os: None,
            packages: vec![dpkg, jar.clone(), jar],
            errors: vec![],
        };
        let mut buf = Vec::new();
        write_cyclonedx(&report, &mut buf).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(value["specVersion"], "1.5");
        assert_eq!(value["components"][1]["group"], "org.yaml");
        assert_eq!(
            value["components"][2]["bom-ref"],
            "pkg:maven/org.yaml/snakeyaml@1.33#2"
        );
        assert_eq!(value["components"][0]["properties"][3]["value"], "openssl");
        let back = parse_json(buf.as_slice(), "bom.json").unwrap();
        let eco: Vec<_> = back
            .packages
            .iter()
            .map(|p| (p.ecosystem.as_str(), p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            eco,
            [
                ("Debian:12", "libssl3", "3.0.11-1"),
                ("Maven", "org.yaml:snakeyaml", "1.33"),
                ("Maven", "org.yaml:snakeyaml", "1.33")
            ]
        );
    }
}
