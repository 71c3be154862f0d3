//! Importers: every feed format into [`Batch`]es of advisories and side tables.
//!
//! A file is recognized by its container (zip, gzip, plain) and a sniff of its first bytes, so an
//! operator can point `import` at a directory of whatever they downloaded. Every read is bounded
//! ([`limits`]); a malformed record becomes a [`RecordError`] naming the file and record and is
//! skipped, while an unreadable file becomes an [`ImportError`] and the other files still load.

pub mod alpine;
pub mod debian;
pub mod epss;
pub mod kev;
pub mod nodejs;
pub mod nvd;
pub mod osv;
pub mod rubysec;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::advisory::Advisory;
use epss::EpssScore;
use kev::KevEntry;

/// Size bounds on everything read, so a hostile or corrupt file cannot exhaust memory.
pub mod limits {
    /// One input file on disk (zip archives of a whole ecosystem included).
    pub const MAX_FILE_BYTES: u64 = 4 << 30;
    /// One JSON document after decompression (an NVD yearly feed is a few hundred MiB).
    pub const MAX_DOCUMENT_BYTES: u64 = 1 << 30;
    /// One advisory inside a zip (OSV members are a few KiB; GHSA version lists reach ~1 MiB).
    pub const MAX_MEMBER_BYTES: u64 = 64 << 20;
    /// Members of one zip archive.
    pub const MAX_ZIP_MEMBERS: usize = 2_000_000;
    /// One line of a text feed.
    pub const MAX_LINE_BYTES: usize = 1 << 20;
}

/// What a file was recognized as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OsvZip,
    OsvJson,
    NvdJson,
    KevJson,
    EpssCsv,
    DebianDsaList,
    DebianDlaList,
    DebianCpeList,
    DebianCpeAliases,
    AlpineSecdbZip,
    AlpineSecdbJson,
    RubySecJson,
    NodejsNpmJson,
    NodejsCoreJson,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OsvZip => "osv-zip",
            Format::OsvJson => "osv-json",
            Format::NvdJson => "nvd-cve-api-2.0",
            Format::KevJson => "cisa-kev",
            Format::EpssCsv => "epss-csv",
            Format::DebianDsaList => "debian-dsa-list",
            Format::DebianDlaList => "debian-dla-list",
            Format::DebianCpeList => "debian-cpe-list",
            Format::DebianCpeAliases => "debian-cpe-aliases",
            Format::AlpineSecdbZip => "alpine-secdb-zip",
            Format::AlpineSecdbJson => "alpine-secdb-json",
            Format::RubySecJson => "rubysec-json",
            Format::NodejsNpmJson => "nodejs-wg-npm",
            Format::NodejsCoreJson => "nodejs-wg-core",
        }
    }
}

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than the limit of {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: bad zip archive: {source}")]
    Zip {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    #[error("{path}: malformed JSON document: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: not a recognized vulnerability feed")]
    Unrecognized { path: PathBuf },
}

/// One record that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub file: PathBuf,
    /// The record's id when it could be read, else its position (`member X.json`, `line 12`).
    pub record: String,
    pub message: String,
    /// `true` when the record was dropped; `false` when only the named field was ignored
    /// (an unreadable CVSS vector, an empty fix list) and the rest of the record was kept.
    pub skipped: bool,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.skipped {
            "skipped"
        } else {
            "kept without the field"
        };
        write!(
            f,
            "{}: {}: {} ({what})",
            self.file.display(),
            self.record,
            self.message
        )
    }
}

/// Everything one file contributed.
#[derive(Debug, Default)]
pub struct Batch {
    pub advisories: Vec<Advisory>,
    pub kev: Vec<KevEntry>,
    pub epss: Vec<EpssScore>,
    /// Debian source package -> CPE names.
    pub debian_cpe: Vec<(String, String)>,
    /// Groups of CPE `vendor:product` names that denote the same product.
    pub cpe_aliases: Vec<Vec<String>>,
    pub errors: Vec<RecordError>,
    /// Whether this file replaces the whole KEV / EPSS table (they are snapshots).
    pub replaces_kev: bool,
    pub replaces_epss: bool,
}

impl Batch {
    /// A record that was dropped.
    pub(crate) fn record_error(
        &mut self,
        file: &Path,
        record: impl Into<String>,
        message: impl std::fmt::Display,
    ) {
        self.problem(file, record.into(), message.to_string(), true);
    }

    /// A field that was ignored in a record that was kept.
    pub(crate) fn field_warning(
        &mut self,
        file: &Path,
        record: impl Into<String>,
        message: impl std::fmt::Display,
    ) {
        self.problem(file, record.into(), message.to_string(), false);
    }

    fn problem(&mut self, file: &Path, record: String, message: String, skipped: bool) {
        let mut message = message;
        if message.len() > 500 {
            let mut cut = 500;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        self.errors.push(RecordError {
            file: file.to_owned(),
            record,
            message,
            skipped,
        });
    }

    pub fn records(&self) -> usize {
        self.advisories.len()
            + self.kev.len()
            + self.epss.len()
            + self.debian_cpe.len()
            + self.cpe_aliases.len()
    }
}

/// Called with a running count of records while a file is read.
pub type Progress<'a> = dyn FnMut(&Path, usize) + 'a;

pub(crate) fn open(path: &Path) -> Result<File, ImportError> {
    let file = File::open(path).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| ImportError::Io {
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > limits::MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            limit: limits::MAX_FILE_BYTES,
        });
    }
    Ok(file)
}

/// Reads at most `limit` bytes; more is an error rather than a silent truncation.
pub(crate) fn read_bounded(
    mut reader: impl Read,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>, ImportError> {
    let mut buf = Vec::new();
    reader
        .by_ref()
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ImportError::Io {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(buf)
}

/// The whole file, gunzipped when it is gzip, within the document limit.
pub(crate) fn read_document(path: &Path) -> Result<Vec<u8>, ImportError> {
    let file = open(path)?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = read_prefix(&mut reader, &mut magic, path)?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(reader);
    if n == 2 && magic == [0x1f, 0x8b] {
        read_bounded(
            flate2::read::MultiGzDecoder::new(chained),
            limits::MAX_DOCUMENT_BYTES,
            path,
        )
    } else {
        read_bounded(chained, limits::MAX_DOCUMENT_BYTES, path)
    }
}

fn read_prefix(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, ImportError> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(ImportError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(n)
}

/// Recognizes a file by name, container and a sniff of its (decompressed) beginning.
pub fn detect(path: &Path) -> Result<Format, ImportError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut file = open(path)?;
    let mut head = [0u8; 4];
    let n = read_prefix(&mut file, &mut head, path)?;
    if n == 4 && head == *b"PK\x03\x04" {
        let archive = zip::ZipArchive::new(open(path)?).map_err(|source| ImportError::Zip {
            path: path.to_owned(),
            source,
        })?;
        let secdb = archive.file_names_raw().any(|m| {
            let m = String::from_utf8_lossy(m).to_ascii_lowercase();
            m.ends_with("/main.json") || m.ends_with("/community.json")
        });
        return Ok(if secdb {
            Format::AlpineSecdbZip
        } else {
            Format::OsvZip
        });
    }
    match name.as_str() {
        "dsa-list" => return Ok(Format::DebianDsaList),
        "dla-list" => return Ok(Format::DebianDlaList),
        "cpe-list" => return Ok(Format::DebianCpeList),
        "cpe-aliases" => return Ok(Format::DebianCpeAliases),
        _ => {}
    }
    // Sniff a prefix of the decompressed content.
    let file = open(path)?;
    let reader: Box<dyn Read> = if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut prefix = vec![0u8; 64 * 1024];
    let mut reader = reader;
    let got = read_prefix(&mut reader, &mut prefix, path)?;
    prefix.truncate(got);
    let text = String::from_utf8_lossy(&prefix);
    let trimmed = text.trim_start();
    let has = |s: &str| text.contains(s);
    let format = if trimmed.starts_with("#model_version") || trimmed.starts_with("cve,epss") {
        Format::EpssCsv
    } else if trimmed.starts_with("[")
        && trimmed
            .get(1..2)
            .is_some_and(|c| c.chars().all(|c| c.is_ascii_digit()))
    {
        if has("DLA-") {
            Format::DebianDlaList
        } else {
            Format::DebianDsaList
        }
    } else if has("\"catalogVersion\"") && has("\"cveID\"") {
        Format::KevJson
    } else if has("\"NVD_CVE\"")
        || (has("\"vulnerabilities\"") && has("\"cve\"") && has("\"sourceIdentifier\""))
    {
        Format::NvdJson
    } else if has("\"distroversion\"") && has("\"secfixes\"") {
        Format::AlpineSecdbJson
    } else if has("\"_path\"") && (has("\"gem\"") || has("\"engine\"")) {
        Format::RubySecJson
    } else if has("\"vulnerable_versions\"") && has("\"module_name\"") {
        Format::NodejsNpmJson
    } else if has("\"vulnerable\"") && has("\"patched\"") && trimmed.starts_with('{') {
        Format::NodejsCoreJson
    } else if trimmed.starts_with('{')
        && has("\"id\"")
        && (has("\"affected\"") || has("\"modified\""))
        && !has("\"$schema\"")
    {
        Format::OsvJson
    } else {
        return Err(ImportError::Unrecognized {
            path: path.to_owned(),
        });
    };
    Ok(format)
}

/// Imports one file of a known format into a batch.
pub fn import_file(
    path: &Path,
    format: Format,
    progress: &mut Progress<'_>,
) -> Result<Batch, ImportError> {
    let mut batch = Batch::default();
    match format {
        Format::OsvZip => osv::import_zip(path, &mut batch, progress)?,
        Format::OsvJson => osv::import_json_file(path, &mut batch)?,
        Format::NvdJson => nvd::import(path, &mut batch, progress)?,
        Format::KevJson => kev::import(path, &mut batch)?,
        Format::EpssCsv => epss::import(path, &mut batch)?,
        Format::DebianDsaList => {
            debian::import_list(path, crate::advisory::Source::DebianDsa, &mut batch)?
        }
        Format::DebianDlaList => {
            debian::import_list(path, crate::advisory::Source::DebianDla, &mut batch)?
        }
        Format::DebianCpeList => debian::import_cpe_list(path, &mut batch)?,
        Format::DebianCpeAliases => debian::import_cpe_aliases(path, &mut batch)?,
        Format::AlpineSecdbZip => alpine::import_zip(path, &mut batch)?,
        Format::AlpineSecdbJson => alpine::import_json_file(path, &mut batch)?,
        Format::RubySecJson => rubysec::import(path, &mut batch)?,
        Format::NodejsNpmJson => nodejs::import_npm(path, &mut batch)?,
        Format::NodejsCoreJson => nodejs::import_core(path, &mut batch)?,
    }
    progress(path, batch.records());
    Ok(batch)
}

/// Feeds write `null` where they mean "none" (`"cves": null`); read it as the empty default.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// Text of a JSON value that should be a string, tolerating numbers (some YAML-converted feeds
/// turned `1.10` into strings, others did not).
pub(crate) fn json_str(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
