//! CycloneDX components (nested ones included, the `metadata` subject excluded), from JSON
//! through serde and from XML through quick-xml's pull reader (no DTD, no entity expansion
//! beyond XML's five predefined entities and character references).

use std::io::{BufReader, Read};

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Deserialize;

use super::SbomRead;
use crate::error::ParseError;
use crate::package::SbomKind;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

pub fn parse_json(reader: impl Read, location: &str) -> Result<SbomRead, ParseError> {
    let bom: Bom = serde_json::from_reader(reader)?;
    if bom.bom_format != "CycloneDX" {
        return Err(ParseError::field(
            "bomFormat",
            format!("`{}` is not CycloneDX", bom.bom_format),
        ));
    }
    let mut out = SbomRead::new(SbomKind::CycloneDxJson);
    let mut stack: Vec<&Component> = bom.components.iter().rev().collect();
    while let Some(c) = stack.pop() {
        out.component(location, &c.name, c.version.as_deref(), c.purl.as_deref());
        stack.extend(c.components.iter().rev());
    }
    Ok(out)
}

/// Real BOMs nest a few levels; deeper is hostile.
const MAX_XML_DEPTH: usize = 256;

#[derive(Default)]
struct XmlComponent {
    name: String,
    version: String,
    purl: String,
}

pub fn parse_xml(reader: impl Read, location: &str) -> Result<SbomRead, ParseError> {
    let mut xml = Reader::from_reader(BufReader::new(reader));
    let mut out = SbomRead::new(SbomKind::CycloneDxXml);
    let mut path: Vec<String> = Vec::new();
    // Open components with the depth of their `<component>` element.
    let mut open: Vec<(usize, XmlComponent)> = Vec::new();
    let mut buf = Vec::new();
    let mut saw_bom = false;
    loop {
        let at = |xml: &Reader<BufReader<_>>, m: String| {
            ParseError::format(format!("at byte {}: {m}", xml.buffer_position()))
        };
        let event = xml
            .read_event_into(&mut buf)
            .map_err(|e| at(&xml, e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if name != "bom" {
                        return Err(at(&xml, format!("root element is `{name}`, not `bom`")));
                    }
                    saw_bom = true;
                }
                let in_list = path.last().is_some_and(|p| p == "components");
                let in_metadata = path.iter().any(|p| p == "metadata");
                path.push(name);
                if path.len() > MAX_XML_DEPTH {
                    return Err(at(&xml, "elements nested too deep".to_owned()));
                }
                if in_list && !in_metadata && path.last().is_some_and(|p| p == "component") {
                    open.push((path.len(), XmlComponent::default()));
                }
            }
            Event::End(_) => {
                if let Some((depth, _)) = open.last()
                    && *depth == path.len()
                    && let Some((_, c)) = open.pop()
                {
                    let version = (!c.version.is_empty()).then_some(c.version.as_str());
                    let purl = (!c.purl.is_empty()).then_some(c.purl.as_str());
                    out.component(location, c.name.trim(), version.map(str::trim), purl);
                }
                path.pop();
            }
            Event::Text(t) => push_text(&path, &mut open, &t.xml10_content()),
            Event::CData(t) => push_text(&path, &mut open, &t.into_inner()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| at(&xml, e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| at(&xml, format!("unknown entity `&{name};`")))?
                            .to_owned()
                    }
                };
                push_text(&path, &mut open, &resolved);
            }
            Event::DocType(_) => return Err(at(&xml, "DTDs are not accepted".to_owned())),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_bom || !path.is_empty() {
        return Err(ParseError::format("document ends before `</bom>`"));
    }
    Ok(out)
}

fn push_text(path: &[String], open: &mut [(usize, XmlComponent)], text: &str) {
    let Some((depth, c)) = open.last_mut() else {
        return;
    };
    if path.len() != *depth + 1 {
        return;
    }
    let slot = match path.last().map(String::as_str) {
        Some("name") => &mut c.name,
        Some("version") => &mut c.version,
        Some("purl") => &mut c.purl,
        _ => return,
    };
    slot.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1">
  <metadata><component type="application"><name>app</name><version>1</version><purl>pkg:npm/app@1</purl></component></metadata>
  <components>
    <component type="library" bom-ref="a">
      <group>org.apache</group><name>commons-text</name><version>1.9</version>
      <purl>pkg:maven/org.apache.commons/commons-text@1.9?type=jar&amp;classifier=x</purl>
      <components>
        <component type="library"><name>inner</name><version>2.0</version><purl><![CDATA[pkg:npm/inner@2.0]]></purl></component>
      </components>
    </component>
    <component type="file"><name>readme</name></component>
  </components>
</bom>"#;

    #[test]
    fn xml_components() {
        let r = parse_xml(XML.as_bytes(), "bom.xml").unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.ecosystem.as_str(), p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("npm", "inner", "2.0"),
                ("Maven", "org.apache.commons:commons-text", "1.9")
            ]
        );
        assert_eq!(r.skipped.len(), 1);
        assert!(parse_xml(&XML.as_bytes()[..XML.len() / 2], "l").is_err());
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE bom [<!ENTITY a \"aaaa\">]><bom><components><component><name>&a;</name></component></components></bom>";
        assert!(parse_xml(bomb.as_bytes(), "l").is_err());
    }

    #[test]
    fn json_components() {
        let doc = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"app","purl":"pkg:npm/app@1"}},
          "components":[{"type":"library","name":"left-pad","version":"1.3.0","purl":"pkg:npm/left-pad@1.3.0",
             "components":[{"name":"x","version":"1","purl":"pkg:pypi/x@1"}]},{"name":"nopurl"}]}"#;
        let r = parse_json(doc.as_bytes(), "bom.json").unwrap();
        let got: Vec<_> = r.packages.iter().map(|p| p.purl.as_str()).collect();
        assert_eq!(got, ["pkg:npm/left-pad@1.3.0", "pkg:pypi/x@1"]);
        assert!(parse_json(r#"{"bomFormat":"SPDX"}"#.as_bytes(), "l").is_err());
    }
}
