//! SBOM package readers: CycloneDX (JSON, XML) and SPDX 2.x JSON. Each component's purl gives
//! ecosystem, name and version; components without a usable purl are returned as skipped.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::package::{Manager, Package, SbomKind, Skipped};
use crate::purl::package_from_purl;

pub mod cyclonedx;
pub mod spdx;

/// The largest real SBOMs (whole container images) are tens of MiB.
pub const SBOM_LIMIT: u64 = 256 * 1024 * 1024;
const SNIFF_LEN: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomRead {
    pub kind: SbomKind,
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

impl SbomRead {
    pub(crate) fn new(kind: SbomKind) -> Self {
        SbomRead {
            kind,
            packages: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Adds a component: a package when its purl is usable, a skipped entry otherwise.
    pub(crate) fn component(
        &mut self,
        location: &str,
        name: &str,
        version: Option<&str>,
        purl: Option<&str>,
    ) {
        let entry = match version {
            Some(v) => format!("{name} {v}"),
            None => name.to_owned(),
        };
        let result = match purl.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => package_from_purl(p, Manager::Sbom(self.kind), location),
            None => Err("no purl".to_owned()),
        };
        match result {
            Ok(p) => self.packages.push(p),
            Err(reason) => self.skipped.push(Skipped {
                location: location.to_owned(),
                line: None,
                entry,
                reason,
            }),
        }
    }
}

/// Which SBOM format a document's first bytes show.
pub fn detect(head: &[u8]) -> Option<SbomKind> {
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        return text
            .contains("cyclonedx.org/schema/bom")
            .then_some(SbomKind::CycloneDxXml);
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    if text.contains("\"bomFormat\"") {
        Some(SbomKind::CycloneDxJson)
    } else if text.contains("\"spdxVersion\"") {
        Some(SbomKind::SpdxJson)
    } else {
        None
    }
}

fn not_an_sbom() -> ParseError {
    ParseError::format("not a CycloneDX or SPDX JSON document")
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default, rename = "bomFormat")]
    bom_format: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "spdxVersion")]
    spdx_version: Option<serde::de::IgnoredAny>,
}

fn probe_json(reader: impl Read) -> Result<SbomKind, ParseError> {
    let probe: Probe = serde_json::from_reader(reader)?;
    match (probe.bom_format, probe.spdx_version) {
        (Some(_), _) => Ok(SbomKind::CycloneDxJson),
        (None, Some(_)) => Ok(SbomKind::SpdxJson),
        (None, None) => Err(not_an_sbom()),
    }
}

/// Parses an SBOM of a known kind from a reader (already size-bounded by the caller).
pub fn parse_sbom(
    kind: SbomKind,
    reader: impl Read,
    location: &str,
) -> Result<SbomRead, ParseError> {
    match kind {
        SbomKind::CycloneDxJson => cyclonedx::parse_json(reader, location),
        SbomKind::CycloneDxXml => cyclonedx::parse_xml(reader, location),
        SbomKind::SpdxJson => spdx::parse_json(reader, location),
    }
}

/// Reads an SBOM file, detecting its format from its content.
pub fn read_sbom(path: &Path) -> Result<SbomRead, FileError> {
    let location = path.to_string_lossy().into_owned();
    let at = |e: ParseError| FileError::new(&location, e);
    let mut file = File::open(path).map_err(|e| at(e.into()))?;
    let size = file.metadata().map_err(|e| at(e.into()))?.len();
    if size > SBOM_LIMIT {
        return Err(at(ParseError::TooLarge {
            size,
            limit: SBOM_LIMIT,
        }));
    }
    let mut head = Vec::new();
    (&mut file)
        .take(SNIFF_LEN)
        .read_to_end(&mut head)
        .map_err(|e| at(e.into()))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| at(e.into()))?;
    let kind = match detect(&head) {
        Some(kind) => kind,
        // Tools that sort keys put `spdxVersion` last: read the document once for its type
        // fields only (everything else is skipped as it streams by), then parse it.
        None if head.trim_ascii_start().starts_with(b"{") => {
            let kind = probe_json(BufReader::new((&mut file).take(SBOM_LIMIT))).map_err(at)?;
            file.seek(SeekFrom::Start(0)).map_err(|e| at(e.into()))?;
            kind
        }
        None => return Err(at(not_an_sbom())),
    };
    parse_sbom(kind, BufReader::new(file.take(SBOM_LIMIT)), &location).map_err(at)
}
