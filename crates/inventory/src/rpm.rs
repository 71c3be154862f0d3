//! rpm: the header blob format every rpm database stores per package, and the databases.
//!
//! All three backends rpm has used are read, each by this crate's own reader: `rpmdb.sqlite`
//! (RHEL 9, Fedora 33+, Amazon Linux 2023) through a read-only SQLite page reader ([`sqlite`]),
//! `Packages.db` (SUSE) through [`ndb`], `Packages` (RHEL/CentOS 8 and older) through [`bdb`].
//! The SQLite route exists because the one `libsqlite3-sys` the workspace may link is sqlx's,
//! which an agent-side library must not depend on (the `rpmdb` crate pulls `rusqlite`).

pub mod bdb;
pub mod ndb;
pub mod sqlite;

use std::fs::File;
use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::fsroot::is_regular_file;
use crate::os_release::Distro;
use crate::owned::OwnedFiles;
use crate::package::{Manager, Package, SourcePackage};
use crate::purl;
use crate::scan::Collected;

/// SQLite databases, relative to the root (the first is the newer location).
pub const SQLITE_DATABASES: [&str; 2] = [
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "var/lib/rpm/rpmdb.sqlite",
];
/// NDB databases (SUSE), then the Berkeley DB one. Only the first database found is read:
/// a root has one rpm database (the others are leftovers of a conversion).
pub const NDB_DATABASES: [&str; 2] = [
    "usr/lib/sysimage/rpm/Packages.db",
    "var/lib/rpm/Packages.db",
];
pub const BDB_DATABASE: &str = "var/lib/rpm/Packages";

/// Collects rpm packages under `root`, and the files they own into `owned`; returns whether an
/// rpm database was there.
pub fn collect(root: &Path, distro: &Distro, owned: &mut OwnedFiles, out: &mut Collected) -> bool {
    // When /var/lib/rpm links to /usr/lib/sysimage/rpm both paths name one file: read it once.
    if let Some(rel) = SQLITE_DATABASES
        .iter()
        .find(|rel| is_regular_file(&root.join(rel)))
    {
        let wal = format!("{rel}-wal");
        if std::fs::metadata(root.join(&wal)).is_ok_and(|m| m.len() > 0) {
            out.errors.push(FileError::new(
                wal,
                ParseError::format("write-ahead log not merged into the database: the latest rpm transaction may be missing"),
            ));
        }
        let mut sink = Sink {
            location: rel,
            distro,
            owned,
            out,
        };
        if let Err(e) = read_sqlite(&root.join(rel), &mut sink) {
            sink.out.errors.push(FileError::new(*rel, e));
        }
        return true;
    }
    let ndb = NDB_DATABASES
        .iter()
        .find(|rel| is_regular_file(&root.join(rel)));
    let (rel, reader): (&str, BlobReader) = match ndb {
        Some(rel) => (rel, ndb::for_each_blob),
        None if is_regular_file(&root.join(BDB_DATABASE)) => (BDB_DATABASE, bdb::for_each_blob),
        None => return false,
    };
    let mut sink = Sink {
        location: rel,
        distro,
        owned,
        out,
    };
    let result = File::open(root.join(rel))
        .map_err(ParseError::from)
        .and_then(|file| {
            let len = file.metadata()?.len();
            reader(std::io::BufReader::new(file), len, &mut |id, blob| {
                sink.blob(&format!("package {id}"), blob.as_deref())
            })
        });
    if let Err(e) = result {
        sink.out.errors.push(FileError::new(rel, e));
    }
    true
}

type BlobReader = fn(
    std::io::BufReader<File>,
    u64,
    &mut dyn FnMut(u32, Result<Vec<u8>, ParseError>),
) -> Result<(), ParseError>;

/// Where one database's packages, owned files and per-package errors go.
pub struct Sink<'a> {
    pub location: &'a str,
    pub distro: &'a Distro,
    pub owned: &'a mut OwnedFiles,
    pub out: &'a mut Collected,
}

impl Sink<'_> {
    /// Takes one header blob (`what` names it in errors): its package, unless it is a signing
    /// key (rpm keeps imported keys as `gpg-pubkey` pseudo-packages), and its file list.
    fn blob(&mut self, what: &str, blob: Result<&[u8], &ParseError>) {
        let error =
            |e: &ParseError| FileError::new(self.location, ParseError::field(what, e.to_string()));
        let blob = match blob {
            Ok(b) => b,
            Err(e) => return self.out.errors.push(error(e)),
        };
        match parse_header_blob(blob, self.location, self.distro) {
            Ok(p) if p.name == "gpg-pubkey" => return,
            Ok(p) => self.out.packages.push(p),
            Err(e) => return self.out.errors.push(error(&e)),
        }
        if let Err(e) = owned_paths(blob, self.owned) {
            self.out.errors.push(error(&e));
        }
    }
}

/// Reads every package of an `rpmdb.sqlite`. A bad row is reported and skipped.
pub fn read_sqlite(path: &Path, sink: &mut Sink<'_>) -> Result<(), ParseError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut db = sqlite::Database::open(std::io::BufReader::new(file), len)?;
    let root = db.table_root("Packages")?;
    db.scan_table(root, &mut |rowid, values| {
        let what = format!("Packages row {rowid}");
        match values.iter().find_map(|v| match v {
            sqlite::Value::Blob(b) => Some(b),
            _ => None,
        }) {
            Some(blob) => sink.blob(&what, Ok(blob)),
            None => sink.blob(&what, Err(&ParseError::format("no header blob"))),
        }
        Ok(())
    })
}

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;
const TAG_DIRINDEXES: i32 = 1116;
const TAG_BASENAMES: i32 = 1117;
const TAG_DIRNAMES: i32 = 1118;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm refuses headers with more tags or data than this (`rpmlib` hdr limits).
const MAX_INDEX: u32 = 0x0000_ffff;
const MAX_DATA: u32 = 0x0fff_ffff;

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// A header blob's index and data store, as rpm lays them out (big-endian).
struct Header<'a> {
    index: &'a [u8],
    count: usize,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Self, ParseError> {
        let blob = match blob.strip_prefix(&HEADER_MAGIC) {
            Some(rest) => rest
                .get(4..)
                .ok_or_else(|| ParseError::format("header truncated after magic"))?,
            None => blob,
        };
        let truncated = || ParseError::format("header truncated");
        let index_count = be_u32(blob, 0).ok_or_else(truncated)?;
        let data_len = be_u32(blob, 4).ok_or_else(truncated)?;
        if index_count > MAX_INDEX || data_len > MAX_DATA {
            return Err(ParseError::format(format!(
                "header claims {index_count} tags and {data_len} data bytes"
            )));
        }
        let data_start = 8 + 16 * index_count as usize;
        Ok(Header {
            index: blob.get(8..data_start).ok_or_else(truncated)?,
            count: index_count as usize,
            data: blob
                .get(data_start..data_start + data_len as usize)
                .ok_or_else(truncated)?,
        })
    }

    /// Entry `i`: (tag, type, data offset, value count).
    fn entry(&self, i: usize) -> Option<(i32, u32, usize, usize)> {
        let at = 16 * i;
        Some((
            be_u32(self.index, at)? as i32,
            be_u32(self.index, at + 4)?,
            be_u32(self.index, at + 8)? as usize,
            be_u32(self.index, at + 12)? as usize,
        ))
    }

    fn find(&self, tag: i32, ty: u32) -> Option<(usize, usize)> {
        (0..self.count)
            .filter_map(|i| self.entry(i))
            .find(|(t, y, _, _)| *t == tag && *y == ty)
            .map(|(_, _, offset, count)| (offset, count))
    }

    fn strings(&self, tag: i32) -> Result<Vec<&'a str>, ParseError> {
        let Some((offset, count)) = self.find(tag, TYPE_STRING_ARRAY) else {
            return Ok(Vec::new());
        };
        let bad = || {
            ParseError::field(
                format!("tag {tag}"),
                "string array outside data or not UTF-8",
            )
        };
        let mut rest = self.data.get(offset..).ok_or_else(bad)?;
        let mut out = Vec::with_capacity(count.min(rest.len()));
        for _ in 0..count {
            let end = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
            let (s, tail) = rest.split_at(end);
            out.push(std::str::from_utf8(s).map_err(|_| bad())?);
            rest = tail.get(1..).unwrap_or_default();
        }
        Ok(out)
    }

    fn int32s(&self, tag: i32) -> Result<Vec<u32>, ParseError> {
        let Some((offset, count)) = self.find(tag, TYPE_INT32) else {
            return Ok(Vec::new());
        };
        let bad = || ParseError::field(format!("tag {tag}"), "integer array outside data");
        if count > self.data.len() / 4 {
            return Err(bad());
        }
        (0..count)
            .map(|i| be_u32(self.data, offset + 4 * i).ok_or_else(bad))
            .collect()
    }
}

/// Adds the files a header blob lists (`DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`) to `owned`,
/// so language collectors skip what rpm installed.
pub fn owned_paths(blob: &[u8], owned: &mut OwnedFiles) -> Result<(), ParseError> {
    let header = Header::parse(blob)?;
    let basenames = header.strings(TAG_BASENAMES)?;
    let dirnames = header.strings(TAG_DIRNAMES)?;
    let dirindexes = header.int32s(TAG_DIRINDEXES)?;
    if basenames.len() != dirindexes.len() {
        return Err(ParseError::field(
            "BASENAMES",
            "count differs from DIRINDEXES",
        ));
    }
    for (base, dir) in basenames.iter().zip(dirindexes) {
        let dir = dirnames
            .get(dir as usize)
            .ok_or_else(|| ParseError::field("DIRINDEXES", "index past DIRNAMES"))?;
        owned.insert(&format!("{dir}{base}"));
    }
    Ok(())
}

/// Parses one header blob as databases store it (index count, data length, index entries, data),
/// with or without the 8-byte magic that `.rpm` files put in front. Returns the package.
pub fn parse_header_blob(
    blob: &[u8],
    location: &str,
    distro: &Distro,
) -> Result<Package, ParseError> {
    let header = Header::parse(blob)?;
    let data = header.data;
    let truncated = || ParseError::format("header truncated");
    let mut fields: [Option<String>; 5] = Default::default();
    let mut epoch = None;
    for i in 0..header.count {
        let (tag, ty, offset, _) = header.entry(i).ok_or_else(truncated)?;
        let slot = match tag {
            TAG_NAME => 0,
            TAG_VERSION => 1,
            TAG_RELEASE => 2,
            TAG_ARCH => 3,
            TAG_SOURCERPM => 4,
            TAG_EPOCH if ty == TYPE_INT32 => {
                epoch = Some(
                    be_u32(data, offset)
                        .ok_or_else(|| ParseError::field("EPOCH", "offset outside data"))?,
                );
                continue;
            }
            _ => continue,
        };
        if ty != TYPE_STRING && ty != TYPE_I18NSTRING {
            return Err(ParseError::field(
                format!("tag {tag}"),
                format!("type {ty} where a string was expected"),
            ));
        }
        let rest = data
            .get(offset..)
            .ok_or_else(|| ParseError::field(format!("tag {tag}"), "offset outside data"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ParseError::field(format!("tag {tag}"), "string not terminated"))?;
        let s = std::str::from_utf8(&rest[..end])
            .map_err(|_| ParseError::field(format!("tag {tag}"), "not UTF-8"))?;
        fields[slot] = Some(s.to_owned());
    }
    let [name, version, release, arch, sourcerpm] = fields;
    let name = name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("NAME"))?;
    let version = version
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("VERSION"))?;
    let release = release.unwrap_or_default();
    let evr = match (epoch, release.is_empty()) {
        (Some(e), false) if e > 0 => format!("{e}:{version}-{release}"),
        (Some(e), true) if e > 0 => format!("{e}:{version}"),
        (_, false) => format!("{version}-{release}"),
        (_, true) => version.clone(),
    };
    let purl_version = if release.is_empty() {
        version.clone()
    } else {
        format!("{version}-{release}")
    };
    let epoch_q = epoch
        .filter(|e| *e > 0)
        .map(|e| e.to_string())
        .unwrap_or_default();
    let arch = arch.unwrap_or_default();
    let purl = purl::build(
        "rpm",
        Some(&distro.namespace),
        &name,
        &purl_version,
        &[
            ("arch", &arch),
            ("epoch", &epoch_q),
            ("distro", &distro.qualifier),
        ],
    )?;
    let mut p = Package::new(
        distro.ecosystem.clone(),
        name,
        evr,
        purl,
        Manager::Rpm,
        location,
    );
    p.source = sourcerpm
        .as_deref()
        .and_then(|s| parse_sourcerpm(s, &p.version));
    p.arch = (!arch.is_empty()).then_some(arch);
    Ok(p)
}

/// `openssl-3.0.7-24.el9.src.rpm` -> `openssl`, `3.0.7-24.el9`.
fn parse_sourcerpm(s: &str, binary_version: &str) -> Option<SourcePackage> {
    let stem = s
        .strip_suffix(".src.rpm")
        .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    let full = format!("{version}-{release}");
    let differs = !binary_version.ends_with(&full);
    Some(SourcePackage {
        name: name.to_owned(),
        version: differs.then_some(full),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::package::Ecosystem;

    /// Builds a header blob the way rpm lays it out: index entries, then the data store.
    pub(crate) fn blob(entries: &[(i32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, bytes) in entries {
            if *ty == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn rocky() -> Distro {
        Distro {
            ecosystem: Ecosystem::new("Rocky Linux:9"),
            namespace: "rocky".into(),
            qualifier: "rocky-9.3".into(),
        }
    }

    #[test]
    fn header_blob_fields() {
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, b"openssl-libs\0"),
            (TAG_VERSION, TYPE_STRING, b"3.0.7\0"),
            (TAG_RELEASE, TYPE_STRING, b"24.el9\0"),
            (TAG_EPOCH, TYPE_INT32, &1u32.to_be_bytes()),
            (TAG_ARCH, TYPE_STRING, b"x86_64\0"),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                b"openssl-3.0.7-24.el9.src.rpm\0",
            ),
        ]);
        let p = parse_header_blob(&b, "var/lib/rpm/rpmdb.sqlite", &rocky()).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("openssl-libs", "1:3.0.7-24.el9")
        );
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "openssl".into(),
                version: None
            })
        );
        assert_eq!(
            p.purl,
            "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"
        );
    }

    #[test]
    fn hostile_blobs_are_errors() {
        assert!(parse_header_blob(&[0, 0], "x", &rocky()).is_err());
        assert!(parse_header_blob(&[0xff; 64], "x", &rocky()).is_err());
        let mut b = blob(&[(TAG_NAME, TYPE_STRING, b"a\0")]);
        b.truncate(b.len() - 1);
        assert_eq!(
            parse_header_blob(&b, "x", &rocky()),
            Err(ParseError::format("header truncated"))
        );
        let unterminated = blob(&[(TAG_NAME, TYPE_STRING, b"abc")]);
        assert!(parse_header_blob(&unterminated, "x", &rocky()).is_err());
    }
}
