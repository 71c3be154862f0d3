//! CPE 2.3 names and NVD applicability statements (configurations).
//!
//! Parses the formatted-string binding (`cpe:2.3:a:vendor:product:…`, with `\`-escapes) and the
//! older URI binding (`cpe:/a:vendor:product`, used by Debian's CPE list), and evaluates NVD
//! configurations: nodes of `cpeMatch` entries combined by OR/AND, `vulnerable` flags and the
//! `versionStart/End{Including,Excluding}` bounds.
//!
//! CPE versions belong to no package ecosystem, so they are compared with NVD's own convention
//! (see [`compare_versions`]) rather than through `zerotrace-version`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// One attribute of a CPE name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Component {
    /// `*`: any value.
    Any,
    /// `-`: not applicable.
    NotApplicable,
    /// A literal, unescaped and lower-cased.
    Value(String),
}

impl Component {
    fn parse(raw: &str) -> Self {
        match raw {
            "*" | "" => Component::Any,
            "-" => Component::NotApplicable,
            _ => Component::Value(unescape(raw).to_ascii_lowercase()),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match self {
            Component::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The criteria-side test for attributes other than the version: ANY or equal.
    fn admits(&self, target: &Component) -> bool {
        matches!(self, Component::Any) || self == target
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Component::Any => f.write_str("*"),
            Component::NotApplicable => f.write_str("-"),
            Component::Value(v) => f.write_str(v),
        }
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A CPE name: part, vendor, product, version and the remaining attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cpe {
    pub part: Component,
    pub vendor: Component,
    pub product: Component,
    pub version: Component,
    pub update: Component,
    pub edition: Component,
    pub language: Component,
    pub sw_edition: Component,
    pub target_sw: Component,
    pub target_hw: Component,
    pub other: Component,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPE name {name:?}: {reason}")]
pub struct CpeError {
    pub name: String,
    pub reason: &'static str,
}

impl Cpe {
    /// A CPE with every attribute ANY except vendor and product.
    pub fn product(vendor: &str, product: &str) -> Self {
        Self {
            part: Component::Any,
            vendor: Component::parse(vendor),
            product: Component::parse(product),
            version: Component::Any,
            update: Component::Any,
            edition: Component::Any,
            language: Component::Any,
            sw_edition: Component::Any,
            target_sw: Component::Any,
            target_hw: Component::Any,
            other: Component::Any,
        }
    }

    /// Parses a 2.3 formatted string or a 2.2 URI.
    pub fn parse(name: &str) -> Result<Self, CpeError> {
        let err = |reason| CpeError {
            name: name.chars().take(200).collect(),
            reason,
        };
        if name.len() > 1024 {
            return Err(err("longer than 1024 bytes"));
        }
        let fields: Vec<&str> = if let Some(rest) = name.strip_prefix("cpe:2.3:") {
            split_escaped(rest)
        } else if let Some(rest) = name.strip_prefix("cpe:/") {
            rest.split(':').collect()
        } else {
            return Err(err("does not start with cpe:2.3: or cpe:/"));
        };
        if fields.len() < 3 || (name.starts_with("cpe:2.3:") && fields.len() != 11) {
            return Err(err("wrong number of attributes"));
        }
        let at = |i: usize| {
            fields
                .get(i)
                .map_or(Component::Any, |f| Component::parse(f))
        };
        let cpe = Self {
            part: at(0),
            vendor: at(1),
            product: at(2),
            version: at(3),
            update: at(4),
            edition: at(5),
            language: at(6),
            sw_edition: at(7),
            target_sw: at(8),
            target_hw: at(9),
            other: at(10),
        };
        if !matches!(&cpe.part, Component::Value(p) if p == "a" || p == "o" || p == "h") {
            return Err(err("part is not a, o or h"));
        }
        Ok(cpe)
    }

    /// `vendor:product`, the key the index uses.
    pub fn vendor_product(&self) -> String {
        format!("{}:{}", self.vendor, self.product)
    }
}

/// Splits on `:` that are not escaped by `\`.
fn split_escaped(s: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(11);
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ':' => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// NVD's version convention: components split at `.`, `-`, `_` and at digit/letter boundaries;
/// numbers compare numerically, letters lexically; missing trailing numbers count as 0 (so
/// `17.0.2.0` equals `17.0.2`), and a release sorts after a letter suffix (`1.0` > `1.0rc1`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let ta = tokens(a);
    let tb = tokens(b);
    let n = ta.len().max(tb.len());
    for i in 0..n {
        let ord = match (ta.get(i), tb.get(i)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(Token::Num(x)), None) => x.cmp(&0),
            (None, Some(Token::Num(y))) => 0.cmp(y),
            (Some(Token::Alpha(_)), None) => Ordering::Less,
            (None, Some(Token::Alpha(_))) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    // Declared first so that a letter component sorts below a number.
    Alpha(String),
    Num(u128),
}

fn tokens(v: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let lower = v.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // Digit runs longer than u128 saturate: such versions only need to sort high.
            out.push(Token::Num(lower[start..i].parse().unwrap_or(u128::MAX)));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Token::Alpha(lower[start..i].to_owned()));
        } else {
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    And,
    Or,
}

/// One `cpeMatch` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpeMatch {
    pub vulnerable: bool,
    pub criteria: Cpe,
    pub start_including: Option<String>,
    pub start_excluding: Option<String>,
    pub end_including: Option<String>,
    pub end_excluding: Option<String>,
}

impl CpeMatch {
    fn has_bounds(&self) -> bool {
        self.start_including.is_some()
            || self.start_excluding.is_some()
            || self.end_including.is_some()
            || self.end_excluding.is_some()
    }

    /// Whether the installed software `target` falls under this entry.
    pub fn matches(&self, target: &Cpe) -> bool {
        let c = &self.criteria;
        if !(c.part.admits(&target.part) || target.part == Component::Any) {
            return false;
        }
        if c.vendor != target.vendor || c.product != target.product {
            return false;
        }
        let version_ok = match (&c.version, &target.version) {
            (Component::NotApplicable, t) => *t == Component::NotApplicable && !self.has_bounds(),
            (Component::Any, _) if !self.has_bounds() => true,
            (Component::Any, Component::Value(v)) => self.within_bounds(v),
            (Component::Any, _) => false,
            (Component::Value(want), Component::Value(have)) => {
                compare_versions(want, have) == Ordering::Equal
            }
            (Component::Value(_), _) => false,
        };
        version_ok
            && c.update.admits(&target.update)
            && c.edition.admits(&target.edition)
            && c.language.admits(&target.language)
            && c.sw_edition.admits(&target.sw_edition)
            && c.target_sw.admits(&target.target_sw)
            && c.target_hw.admits(&target.target_hw)
            && c.other.admits(&target.other)
    }

    fn within_bounds(&self, v: &str) -> bool {
        let cmp = |bound: &Option<String>| bound.as_deref().map(|b| compare_versions(v, b));
        !matches!(cmp(&self.start_including), Some(Ordering::Less))
            && !matches!(
                cmp(&self.start_excluding),
                Some(Ordering::Less | Ordering::Equal)
            )
            && !matches!(cmp(&self.end_including), Some(Ordering::Greater))
            && !matches!(
                cmp(&self.end_excluding),
                Some(Ordering::Greater | Ordering::Equal)
            )
    }

    /// A one-line rendering of the range, for match reasons.
    pub fn describe(&self) -> String {
        let c = &self.criteria;
        let mut s = format!("{}:{}", c.vendor, c.product);
        if c.version != Component::Any {
            s.push_str(&format!(" {}", c.version));
        }
        for (label, bound) in [
            (">=", &self.start_including),
            (">", &self.start_excluding),
            ("<=", &self.end_including),
            ("<", &self.end_excluding),
        ] {
            if let Some(b) = bound {
                s.push_str(&format!(" {label}{b}"));
            }
        }
        for (label, comp) in [
            ("update", &c.update),
            ("sw_edition", &c.sw_edition),
            ("target_sw", &c.target_sw),
        ] {
            if *comp != Component::Any {
                s.push_str(&format!(" {label}={comp}"));
            }
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub operator: Operator,
    pub negate: bool,
    pub matches: Vec<CpeMatch>,
}

/// One NVD configuration: nodes combined by `operator` (AND = "running on/with").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    pub operator: Operator,
    pub negate: bool,
    pub nodes: Vec<Node>,
}

/// What is installed where: the software's CPE and the CPEs of the platform it runs on
/// (`microsoft:windows`, ...). Platform CPEs satisfy nodes by vendor and product alone, because
/// an agent rarely knows the OS's CPE version the way NVD spells it.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub software: &'a Cpe,
    pub platform: &'a [Cpe],
}

impl Node {
    /// `Some(entry)` for the vulnerable entry that names the software, `None` with `satisfied`
    /// telling whether the node holds at all (a platform node holds without naming the software).
    fn evaluate<'m>(&'m self, target: &Target<'_>) -> (bool, Option<&'m CpeMatch>) {
        let mut hits = self.matches.iter().map(|m| {
            let on_software = m.matches(target.software);
            let on_platform = target
                .platform
                .iter()
                .any(|p| m.criteria.vendor == p.vendor && m.criteria.product == p.product);
            (m, on_software, on_platform)
        });
        let (satisfied, vulnerable) = match self.operator {
            Operator::Or => {
                let mut satisfied = false;
                let mut vulnerable = None;
                for (m, sw, pf) in hits.by_ref() {
                    satisfied |= sw || pf;
                    if sw && m.vulnerable && vulnerable.is_none() {
                        vulnerable = Some(m);
                    }
                }
                (satisfied, vulnerable)
            }
            Operator::And => {
                let mut all = true;
                let mut vulnerable = None;
                for (m, sw, pf) in hits.by_ref() {
                    all &= sw || pf;
                    if sw && m.vulnerable && vulnerable.is_none() {
                        vulnerable = Some(m);
                    }
                }
                (all && !self.matches.is_empty(), vulnerable)
            }
        };
        if self.negate {
            (!satisfied, None)
        } else {
            (satisfied, vulnerable.filter(|_| satisfied))
        }
    }
}

impl Configuration {
    /// The vulnerable entry through which `target` is affected, if this configuration applies.
    pub fn affects<'m>(&'m self, target: &Target<'_>) -> Option<&'m CpeMatch> {
        let mut evaluated = self.nodes.iter().map(|n| n.evaluate(target));
        let result = match self.operator {
            Operator::Or => evaluated.find_map(|(_, vulnerable)| vulnerable),
            Operator::And => {
                let mut all = true;
                let mut vulnerable = None;
                for (satisfied, v) in evaluated {
                    all &= satisfied;
                    vulnerable = vulnerable.or(v);
                }
                if all { vulnerable } else { None }
            }
        };
        if self.negate { None } else { result }
    }

    /// Every `vendor:product` that this configuration can mark vulnerable.
    pub fn vulnerable_products(&self) -> impl Iterator<Item = String> + '_ {
        self.nodes
            .iter()
            .flat_map(|n| n.matches.iter())
            .filter(|m| m.vulnerable)
            .map(|m| m.criteria.vendor_product())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpe(s: &str) -> Cpe {
        match Cpe::parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parses_escapes_and_uri_binding() {
        let c = cpe(r"cpe:2.3:a:notepad-plus-plus:notepad\+\+:8.5.6:*:*:*:*:*:*:*");
        assert_eq!(c.product, Component::Value("notepad++".into()));
        assert_eq!(c.version, Component::Value("8.5.6".into()));
        let c =
            cpe(r"cpe:2.3:h:netapp:solidfire\,_enterprise_sds_\&_hci_storage_node:-:*:*:*:*:*:*:*");
        assert_eq!(
            c.product.value(),
            Some("solidfire,_enterprise_sds_&_hci_storage_node")
        );
        assert_eq!(c.version, Component::NotApplicable);
        let c = cpe("cpe:/a:gnu:a2ps");
        assert_eq!(c.vendor_product(), "gnu:a2ps");
        assert_eq!(c.version, Component::Any);
        let c = cpe(r"cpe:2.3:a:foo:bar\:baz:1:*:*:*:*:*:*:*");
        assert_eq!(c.product.value(), Some("bar:baz"));
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "",
            "cpe:2.3:a:x",
            "cpe:2.3:z:v:p:*:*:*:*:*:*:*:*",
            "foo",
            "cpe:2.3:a:v:p:*:*:*:*:*:*:*:*:extra",
        ] {
            assert!(Cpe::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nvd_version_order() {
        use Ordering::*;
        assert_eq!(compare_versions("17.0.2.0", "17.0.2"), Equal);
        assert_eq!(compare_versions("0.73.0.0", "0.73"), Equal);
        assert_eq!(compare_versions("120.0.6099.109", "120.0.6099.129"), Less);
        assert_eq!(compare_versions("13.1-59.19", "13.1-49.15"), Greater);
        assert_eq!(compare_versions("r27", "r3"), Greater);
        assert_eq!(compare_versions("1.0rc1", "1.0"), Less);
        assert_eq!(compare_versions("2.426.2", "2.426.3"), Less);
    }

    #[test]
    fn bounds_and_attributes() {
        let m = CpeMatch {
            vulnerable: true,
            criteria: cpe("cpe:2.3:a:mozilla:firefox:*:*:*:*:esr:*:*:*"),
            start_including: Some("128.1.0".into()),
            start_excluding: None,
            end_including: None,
            end_excluding: Some("128.3.1".into()),
        };
        let mut t = Cpe::product("mozilla", "firefox");
        t.part = Component::Value("a".into());
        t.version = Component::Value("128.3.0".into());
        t.sw_edition = Component::Value("esr".into());
        assert!(m.matches(&t));
        t.version = Component::Value("128.3.1".into());
        assert!(!m.matches(&t));
        t.version = Component::Value("128.2".into());
        t.sw_edition = Component::Any;
        assert!(
            !m.matches(&t),
            "criteria sw_edition esr must not admit an unknown edition"
        );
    }
}
