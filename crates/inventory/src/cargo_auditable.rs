//! Rust binaries built with `cargo auditable`: the `.dep-v0` section holds zlib-compressed JSON
//! listing every crate compiled in.

use flate2::read::ZlibDecoder;
use serde::Deserialize;

use crate::error::ParseError;
use crate::limits::{MIB, read_all_bounded};
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;

pub const SECTION: &str = ".dep-v0";
/// cargo-auditable's own extractor caps the decompressed JSON at 8 MiB too: a zip bomb in a
/// binary costs an error, not memory.
pub const DECOMPRESSED_LIMIT: u64 = 8 * MIB;

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// Parses the compressed section into the crates.io packages compiled into the binary
/// (build-time-only crates, the root crate and path/git crates are left out: only registry
/// crates have advisories).
pub fn parse_dep_v0(compressed: &[u8], location: &str) -> Result<Vec<Package>, ParseError> {
    let json = read_all_bounded(ZlibDecoder::new(compressed), DECOMPRESSED_LIMIT, 0).map_err(
        |e| match e {
            ParseError::Io { message } => ParseError::format(format!("bad zlib stream: {message}")),
            other => other,
        },
    )?;
    let info: VersionInfo = serde_json::from_slice(&json)?;
    let mut out = Vec::new();
    for p in info.packages {
        if p.root || p.kind.as_deref() == Some("build") || p.source != "crates.io" {
            continue;
        }
        let purl = purl::build("cargo", None, &p.name, &p.version, &[])?;
        out.push(Package::new(
            Ecosystem::CRATES_IO,
            p.name,
            p.version,
            purl,
            Manager::CargoAuditable,
            location,
        ));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    pub(crate) const SAMPLE: &str = r#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"serde","version":"1.0.190","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"},{"name":"mine","version":"0.2.0","source":"git"}]}"#;

    pub(crate) fn compress(bytes: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn runtime_registry_crates_only() {
        let pkgs = parse_dep_v0(&compress(SAMPLE.as_bytes()), "bin/hello").unwrap();
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
            .collect();
        assert_eq!(got, [("serde", "1.0.190", "pkg:cargo/serde@1.0.190")]);
    }

    #[test]
    fn bombs_and_garbage() {
        let bomb = compress(&vec![b' '; (DECOMPRESSED_LIMIT + 1) as usize]);
        assert!(matches!(
            parse_dep_v0(&bomb, "b"),
            Err(ParseError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_dep_v0(b"garbage", "b"),
            Err(ParseError::Format { .. })
        ));
        assert!(parse_dep_v0(&compress(b"{\"packages\":[{\"name\":1}]}"), "b").is_err());
    }
}
