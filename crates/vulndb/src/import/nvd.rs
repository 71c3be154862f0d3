//! NVD CVE API 2.0 JSON (API responses and the yearly/modified feed files, plain or gzip).
//!
//! The `vulnerabilities` array is streamed: each element is deserialized and converted on its own,
//! so a feed file of any size needs memory for one record at a time (plus the advisories kept).

use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Batch, ImportError, Progress, limits};
use crate::advisory::{Advisory, Source};
use crate::cpe::{Configuration, Cpe, CpeMatch, Node, Operator};
use crate::cvss;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdCve {
    id: String,
    published: Option<String>,
    last_modified: Option<String>,
    vuln_status: Option<String>,
    #[serde(default)]
    descriptions: Vec<LangString>,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    weaknesses: Vec<Weakness>,
    #[serde(default)]
    configurations: Vec<NvdConfiguration>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct LangString {
    lang: String,
    value: String,
}

#[derive(Deserialize, Default)]
struct Metrics {
    #[serde(default, rename = "cvssMetricV40")]
    v40: Vec<Metric>,
    #[serde(default, rename = "cvssMetricV31")]
    v31: Vec<Metric>,
    #[serde(default, rename = "cvssMetricV30")]
    v30: Vec<Metric>,
    #[serde(default, rename = "cvssMetricV2")]
    v2: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    source: Option<String>,
    cvss_data: CvssData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssData {
    vector_string: String,
}

#[derive(Deserialize)]
struct Weakness {
    #[serde(default)]
    description: Vec<LangString>,
}

#[derive(Deserialize)]
struct Reference {
    url: String,
}

#[derive(Deserialize)]
struct NvdConfiguration {
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    nodes: Vec<NvdNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdNode {
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    cpe_match: Vec<NvdCpeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdCpeMatch {
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

fn operator(op: Option<&str>, field: &str) -> Result<Operator, String> {
    match op {
        None | Some("OR") => Ok(Operator::Or),
        Some("AND") => Ok(Operator::And),
        Some(other) => Err(format!("field `{field}`: unknown operator {other:?}")),
    }
}

fn convert(c: NvdCve) -> Result<Advisory, String> {
    if !c.id.starts_with("CVE-") || c.id.len() > 64 {
        return Err("field `id`: not a CVE id".into());
    }
    let mut adv = Advisory::new(c.id, Source::Nvd);
    adv.published = c.published;
    adv.modified = c.last_modified;
    adv.rejected = c.vuln_status.as_deref() == Some("Rejected");
    adv.details = c
        .descriptions
        .into_iter()
        .find(|d| d.lang == "en")
        .map(|d| d.value)
        .unwrap_or_default();
    for m in c
        .metrics
        .v40
        .iter()
        .chain(&c.metrics.v31)
        .chain(&c.metrics.v30)
        .chain(&c.metrics.v2)
    {
        let mut v =
            cvss::parse(&m.cvss_data.vector_string).map_err(|e| format!("field `metrics`: {e}"))?;
        v.scorer = m.source.clone();
        adv.severity.push(v);
    }
    for w in c.weaknesses {
        for d in w.description {
            if d.value.starts_with("CWE-") && !adv.cwes.contains(&d.value) {
                adv.cwes.push(d.value);
            }
        }
    }
    adv.references = c.references.into_iter().map(|r| r.url).collect();
    for (i, cfg) in c.configurations.into_iter().enumerate() {
        let mut nodes = Vec::with_capacity(cfg.nodes.len());
        for (j, node) in cfg.nodes.into_iter().enumerate() {
            let mut matches = Vec::with_capacity(node.cpe_match.len());
            for (k, m) in node.cpe_match.into_iter().enumerate() {
                let criteria = Cpe::parse(&m.criteria).map_err(|e| {
                    format!("field `configurations[{i}].nodes[{j}].cpeMatch[{k}].criteria`: {e}")
                })?;
                matches.push(CpeMatch {
                    vulnerable: m.vulnerable,
                    criteria,
                    start_including: m.version_start_including,
                    start_excluding: m.version_start_excluding,
                    end_including: m.version_end_including,
                    end_excluding: m.version_end_excluding,
                });
            }
            nodes.push(Node {
                operator: operator(
                    node.operator.as_deref(),
                    &format!("configurations[{i}].nodes[{j}].operator"),
                )?,
                negate: node.negate,
                matches,
            });
        }
        adv.configurations.push(Configuration {
            operator: operator(
                cfg.operator.as_deref(),
                &format!("configurations[{i}].operator"),
            )?,
            negate: cfg.negate,
            nodes,
        });
    }
    Ok(adv)
}

/// Converts one `vulnerabilities[]` element (`{"cve": {...}}`).
pub fn parse_item(item: Value) -> Result<Advisory, (Option<String>, String)> {
    let Value::Object(mut map) = item else {
        return Err((None, "not an object".into()));
    };
    let cve = map
        .remove("cve")
        .ok_or((None, "missing field `cve`".to_owned()))?;
    let id = cve.get("id").and_then(Value::as_str).map(str::to_owned);
    let parsed: NvdCve = serde_json::from_value(cve).map_err(|e| (id.clone(), e.to_string()))?;
    convert(parsed).map_err(|m| (id, m))
}

struct Document<'a, 'p> {
    batch: &'a mut Batch,
    path: &'a Path,
    progress: &'a mut Progress<'p>,
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an NVD CVE API 2.0 document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut saw = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "vulnerabilities" {
                map.next_value_seed(Items {
                    batch: &mut *self.batch,
                    path: self.path,
                    progress: &mut *self.progress,
                })?;
                saw = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(saw)
    }
}

struct Items<'a, 'p> {
    batch: &'a mut Batch,
    path: &'a Path,
    progress: &'a mut Progress<'p>,
}

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CVE items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while let Some(item) = seq.next_element::<Value>()? {
            match parse_item(item) {
                Ok(adv) => self.batch.advisories.push(adv),
                Err((id, msg)) => self.batch.record_error(
                    self.path,
                    id.unwrap_or_else(|| format!("vulnerabilities[{i}]")),
                    msg,
                ),
            }
            i += 1;
            if i.is_multiple_of(1000) {
                (self.progress)(self.path, self.batch.advisories.len());
            }
        }
        Ok(())
    }
}

pub fn import(
    path: &Path,
    batch: &mut Batch,
    progress: &mut Progress<'_>,
) -> Result<(), ImportError> {
    let file = super::open(path)?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = super::read_prefix(&mut reader, &mut magic, path)?;
    let chained = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(chained)))
    } else {
        Box::new(chained)
    };
    let bounded = reader.take(limits::MAX_DOCUMENT_BYTES);
    let mut de = serde_json::Deserializer::from_reader(bounded);
    let saw = de
        .deserialize_map(Document {
            batch,
            path,
            progress,
        })
        .map_err(|source| ImportError::Json {
            path: path.to_owned(),
            source,
        })?;
    if !saw {
        return Err(ImportError::Format {
            path: path.to_owned(),
            message: "no `vulnerabilities` array".into(),
        });
    }
    Ok(())
}
