//! CISA Known Exploited Vulnerabilities catalog (JSON).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Batch, ImportError, read_document};

/// One KEV catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KevEntry {
    pub cve: String,
    pub vendor_project: String,
    pub product: String,
    pub name: String,
    pub date_added: String,
    pub due_date: Option<String>,
    /// `Known` or `Unknown`, as CISA writes it.
    pub ransomware_use: Option<String>,
    pub required_action: Option<String>,
}

impl KevEntry {
    pub fn known_ransomware_use(&self) -> bool {
        self.ransomware_use
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("known"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    date_added: String,
    due_date: Option<String>,
    known_ransomware_campaign_use: Option<String>,
    required_action: Option<String>,
}

pub fn import(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let bytes = read_document(path)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|source| ImportError::Json {
        path: path.to_owned(),
        source,
    })?;
    let Some(items) = doc.get("vulnerabilities").and_then(Value::as_array) else {
        return Err(ImportError::Format {
            path: path.to_owned(),
            message: "no `vulnerabilities` array".into(),
        });
    };
    batch.replaces_kev = true;
    for (i, item) in items.iter().enumerate() {
        let id = item
            .get("cveID")
            .and_then(Value::as_str)
            .map_or_else(|| format!("vulnerabilities[{i}]"), str::to_owned);
        match RawEntry::deserialize(item) {
            Ok(r) if r.cve_id.starts_with("CVE-") => batch.kev.push(KevEntry {
                cve: r.cve_id,
                vendor_project: r.vendor_project,
                product: r.product,
                name: r.vulnerability_name,
                date_added: r.date_added,
                due_date: r.due_date,
                ransomware_use: r.known_ransomware_campaign_use,
                required_action: r.required_action,
            }),
            Ok(_) => batch.record_error(path, id, "field `cveID`: not a CVE id"),
            Err(e) => batch.record_error(path, id, e),
        }
    }
    Ok(())
}
