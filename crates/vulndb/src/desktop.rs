//! Installed applications without a package ecosystem ("Google Chrome 120.0.6099", "7-Zip 23.01
//! (x64)") -> CPE names, through the maintained table `cpe_products.tsv`.
//!
//! The display name is normalized (case, parenthesized parts, locale suffix, trailing version
//! numbers) and then looked up exactly; a name that is not in the table gets no CPE at all,
//! never a guess from substrings.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::cpe::{Component, Cpe};

const TABLE: &str = include_str!("cpe_products.tsv");

/// Where the software runs; decides the platform CPEs that AND configurations need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Windows,
    Macos,
    Linux,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "windows" | "win" | "win32" | "win64" => Some(Platform::Windows),
            "macos" | "darwin" | "osx" | "mac" => Some(Platform::Macos),
            "linux" => Some(Platform::Linux),
            _ => None,
        }
    }

    /// The OS CPEs NVD uses for this platform in "running on" configurations.
    pub fn cpes(self) -> Vec<Cpe> {
        let names: &[(&str, &str)] = match self {
            Platform::Windows => &[("microsoft", "windows")],
            Platform::Macos => &[("apple", "macos"), ("apple", "mac_os_x")],
            Platform::Linux => &[("linux", "linux_kernel")],
        };
        names.iter().map(|(v, p)| Cpe::product(v, p)).collect()
    }

    fn target_sw(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Row {
    products: Vec<(String, String)>,
    version: Option<String>,
    update: Option<String>,
    sw_edition: Option<String>,
    target_hw: Option<String>,
    patch_update: Option<String>,
    sw_edition_by_parts: Vec<(usize, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("cpe_products.tsv line {line}: {reason}")]
pub struct TableError {
    pub line: usize,
    pub reason: String,
}

fn parse_table(text: &str) -> Result<HashMap<String, Row>, TableError> {
    let mut rows = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let err = |reason: String| TableError {
            line: n + 1,
            reason,
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, products, attrs] = cols.as_slice() else {
            return Err(err(format!("{} columns, expected 3", cols.len())));
        };
        let mut row = Row::default();
        for vp in products.split_whitespace() {
            let cpe = Cpe::parse(&format!("cpe:2.3:a:{vp}:*:*:*:*:*:*:*:*"))
                .map_err(|e| err(e.to_string()))?;
            let (Some(v), Some(p)) = (cpe.vendor.value(), cpe.product.value()) else {
                return Err(err(format!("{vp:?} is not vendor:product")));
            };
            row.products.push((v.to_owned(), p.to_owned()));
        }
        if row.products.is_empty() {
            return Err(err("no vendor:product".into()));
        }
        for attr in attrs.split(';').filter(|a| *a != "-" && !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| err(format!("attribute {attr:?} without `=`")))?;
            match k {
                "version" => row.version = Some(v.to_owned()),
                "update" => row.update = Some(v.to_owned()),
                "sw_edition" => row.sw_edition = Some(v.to_owned()),
                "target_hw" => row.target_hw = Some(v.to_owned()),
                "patch_update" => row.patch_update = Some(v.to_owned()),
                "sw_edition_by_parts" => {
                    for pair in v.split(',') {
                        let (parts, edition) = pair
                            .split_once(':')
                            .ok_or_else(|| err(format!("bad pair {pair:?}")))?;
                        let parts = parts
                            .parse()
                            .map_err(|_| err(format!("bad part count {parts:?}")))?;
                        row.sw_edition_by_parts.push((parts, edition.to_owned()));
                    }
                }
                other => return Err(err(format!("unknown attribute {other:?}"))),
            }
        }
        rows.insert(name.trim().to_owned(), row);
    }
    Ok(rows)
}

fn table() -> &'static HashMap<String, Row> {
    static TABLE_ROWS: OnceLock<HashMap<String, Row>> = OnceLock::new();
    // The table is compiled in and checked by a unit test, so a parse error cannot ship; an empty
    // map is still the safe answer if it ever did.
    TABLE_ROWS.get_or_init(|| parse_table(TABLE).unwrap_or_default())
}

/// Lower-cases and strips the decorations installers add to names.
pub fn normalize_display_name(name: &str) -> String {
    let lower = name.to_lowercase().replace(['®', '™'], "");
    let mut out = String::with_capacity(lower.len());
    let mut depth = 0usize;
    for c in lower.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let mut words: Vec<&str> = out.split_whitespace().collect();
    // "Microsoft 365 Apps for enterprise - en-us": a trailing locale after a dash.
    if let [.., dash, locale] = words.as_slice()
        && *dash == "-"
        && locale.len() == 5
        && locale.as_bytes().get(2) == Some(&b'-')
    {
        words.truncate(words.len() - 2);
    }
    words.join(" ")
}

/// The CPEs to try for an installed application, with the version and attributes filled in.
pub fn application_cpes(display_name: &str, version: &str, platform: Option<Platform>) -> Vec<Cpe> {
    let rows = table();
    let mut words: Vec<String> = normalize_display_name(display_name)
        .split(' ')
        .map(str::to_owned)
        .collect();
    let row = loop {
        if words.is_empty() {
            return Vec::new();
        }
        if let Some(row) = rows.get(&words.join(" ")) {
            break row;
        }
        // Drop one trailing version-like word ("7-zip 23.01", "teamviewer 14") and retry.
        match words.last() {
            Some(w) if w.chars().any(|c| c.is_ascii_digit()) => {
                words.pop();
            }
            _ => return Vec::new(),
        }
    };
    let mut version = version.trim().to_owned();
    let mut update = row.update.clone().unwrap_or_else(|| "-".to_owned());
    if let Some(prefix) = &row.patch_update
        && let Some(pos) = version.rfind('p')
        && pos > 0
        && version[pos + 1..].chars().all(|c| c.is_ascii_digit())
        && !version[pos + 1..].is_empty()
    {
        update = format!("{prefix}{}", &version[pos + 1..]);
        version.truncate(pos);
    }
    let parts = version.split('.').count();
    let sw_edition = row
        .sw_edition_by_parts
        .iter()
        .find(|(n, _)| *n == parts)
        .map(|(_, e)| e.clone())
        .or_else(|| row.sw_edition.clone())
        .unwrap_or_else(|| "-".to_owned());
    let version = row.version.clone().unwrap_or(version);
    let component = |s: &str| match s {
        "*" => Component::Any,
        "-" => Component::NotApplicable,
        v => Component::Value(v.to_ascii_lowercase()),
    };
    row.products
        .iter()
        .map(|(vendor, product)| {
            let mut cpe = Cpe::product(vendor, product);
            cpe.part = Component::Value("a".into());
            cpe.version = component(&version);
            cpe.update = component(&update);
            cpe.sw_edition = component(&sw_edition);
            cpe.target_hw = row.target_hw.as_deref().map_or(Component::Any, component);
            cpe.target_sw = platform.map_or(Component::Any, |p| {
                Component::Value(p.target_sw().to_owned())
            });
            cpe
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses() {
        let rows = parse_table(TABLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.len() > 30);
        assert!(parse_table("a\tb\n").is_err());
        assert!(parse_table("a\tv:p\tcolour=red\n").is_err());
    }

    #[test]
    fn names_normalize_to_table_rows() {
        assert_eq!(
            normalize_display_name("Mozilla Firefox (x64 en-US)"),
            "mozilla firefox"
        );
        assert_eq!(
            normalize_display_name("Java(TM) SE Development Kit 17.0.2 (64-bit)"),
            "java se development kit 17.0.2"
        );
        assert_eq!(
            normalize_display_name("Microsoft 365 Apps for enterprise - en-us"),
            "microsoft 365 apps for enterprise"
        );
        let c = application_cpes("7-Zip 23.01 (x64)", "23.01", Some(Platform::Windows));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].vendor_product(), "7-zip:7-zip");
        let c = application_cpes("sudo", "1.9.5p1", Some(Platform::Linux));
        assert_eq!(
            (c[0].version.value(), c[0].update.value()),
            (Some("1.9.5"), Some("patch1"))
        );
        let c = application_cpes("Jenkins", "2.426.2", None);
        assert_eq!(c[0].sw_edition.value(), Some("lts"));
        assert!(application_cpes("Totally Unknown App 1.0", "1.0", None).is_empty());
        assert!(
            application_cpes("Google", "1.0", None).is_empty(),
            "no prefix guesses"
        );
    }
}
