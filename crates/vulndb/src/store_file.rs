//! The persisted knowledge base: `zerotrace-vulndb.bin` in the data dir.
//!
//! Format: the 8-byte magic `ZTVULNDB`, a little-endian `u32` format version, then one
//! [`postcard`] document of [`StoreBody`]. Why postcard: it is a stable, documented, compact
//! (varint) serde format with no schema compiler, decoding ~25 MB of advisories takes tens of
//! milliseconds, and unlike rkyv it needs no `unsafe` validation step or layout-stable types; the
//! index is rebuilt on load, so nothing in the file depends on in-memory layout. Any change to
//! the advisory model bumps [`FORMAT_VERSION`]; an old file is then refused with a clear error and
//! re-imported from the feeds (the file is a cache of them, not the source of truth).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::advisory::Advisory;
use crate::import::epss::EpssScore;
use crate::import::kev::KevEntry;
use crate::kb::KnowledgeBase;

pub const MAGIC: &[u8; 8] = b"ZTVULNDB";
pub const FORMAT_VERSION: u32 = 1;
/// The conventional file name in the data dir.
pub const FILE_NAME: &str = "zerotrace-vulndb.bin";
/// Refuse to read more than this (the whole NVD plus OSV is well below).
pub const MAX_STORE_BYTES: u64 = 8 << 30;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a ZeroTrace vulnerability database (bad magic)")]
    BadMagic { path: PathBuf },
    #[error("{path}: format version {found}, this build reads {expected}; re-import the feeds")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: corrupt body: {source}")]
    Decode {
        path: PathBuf,
        source: postcard::Error,
    },
    #[error("{path}: cannot encode: {source}")]
    Encode {
        path: PathBuf,
        source: postcard::Error,
    },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
}

#[derive(Deserialize)]
struct StoreBody {
    advisories: Vec<Advisory>,
    kev: Vec<KevEntry>,
    epss: Vec<EpssScore>,
    debian_cpe: Vec<(String, Vec<String>)>,
    cpe_aliases: Vec<Vec<String>>,
}

/// The same layout as [`StoreBody`], borrowed, so saving does not copy the advisories.
#[derive(Serialize)]
struct StoreBodyRef<'a> {
    advisories: &'a [Advisory],
    kev: Vec<&'a KevEntry>,
    epss: &'a [EpssScore],
    debian_cpe: Vec<(&'a String, &'a Vec<String>)>,
    cpe_aliases: &'a [Vec<String>],
}

pub(crate) fn encode(kb: &KnowledgeBase, path: &Path) -> Result<Vec<u8>, StoreError> {
    let body = StoreBodyRef {
        advisories: &kb.advisories,
        kev: kb.kev.values().collect(),
        epss: &kb.epss,
        debian_cpe: kb.debian_cpe.iter().collect(),
        cpe_aliases: &kb.cpe_aliases,
    };
    let mut out = Vec::with_capacity(32 << 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    postcard::to_io(&body, &mut out).map_err(|source| StoreError::Encode {
        path: path.to_owned(),
        source,
    })?;
    Ok(out)
}

pub(crate) fn save(kb: &KnowledgeBase, path: &Path) -> Result<(), StoreError> {
    let bytes = encode(kb, path)?;
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<KnowledgeBase, StoreError> {
    let (magic, rest) =
        bytes
            .split_at_checked(MAGIC.len())
            .ok_or_else(|| StoreError::BadMagic {
                path: path.to_owned(),
            })?;
    if magic != MAGIC {
        return Err(StoreError::BadMagic {
            path: path.to_owned(),
        });
    }
    let (version, body) = rest
        .split_at_checked(4)
        .ok_or_else(|| StoreError::BadMagic {
            path: path.to_owned(),
        })?;
    let found = <[u8; 4]>::try_from(version)
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::BadMagic {
            path: path.to_owned(),
        })?;
    if found != FORMAT_VERSION {
        return Err(StoreError::Version {
            path: path.to_owned(),
            found,
            expected: FORMAT_VERSION,
        });
    }
    let body: StoreBody = postcard::from_bytes(body).map_err(|source| StoreError::Decode {
        path: path.to_owned(),
        source,
    })?;
    let by_key: HashMap<_, _> = body
        .advisories
        .iter()
        .enumerate()
        .map(|(i, a)| ((a.source, a.id.clone()), i))
        .collect();
    Ok(KnowledgeBase {
        advisories: body.advisories,
        by_key,
        kev: body.kev.into_iter().map(|k| (k.cve.clone(), k)).collect(),
        epss: body.epss,
        debian_cpe: body.debian_cpe.into_iter().collect::<BTreeMap<_, _>>(),
        cpe_aliases: body.cpe_aliases,
        index: Default::default(),
    })
}

pub(crate) fn load(path: &Path) -> Result<KnowledgeBase, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_STORE_BYTES {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            limit: MAX_STORE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode(&bytes, path)
}
