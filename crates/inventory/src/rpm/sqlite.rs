//! A minimal read-only reader for one SQLite table, enough for `rpmdb.sqlite`'s
//! `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`: the file header, table b-tree pages,
//! records and overflow chains, per the SQLite file format document. Pages are read on demand,
//! so memory stays at a page plus the row being read, whatever the database's size.
//!
//! This exists because the workspace links exactly one `libsqlite3-sys` (sqlx's), which an
//! agent-side library must not pull in.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

use crate::error::ParseError;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
const LEAF_TABLE: u8 = 0x0d;
const INTERIOR_TABLE: u8 = 0x05;
/// Deeper b-trees than this would need more rows than any file can hold.
const MAX_DEPTH: usize = 32;

fn err(message: impl Into<String>) -> ParseError {
    ParseError::format(format!("sqlite: {}", message.into()))
}

/// A value of a record column, as far as this reader needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
    Other,
}

pub struct Database<R> {
    file: R,
    page_size: usize,
    usable: usize,
    page_count: u32,
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..9 {
        let byte = *b.get(i)?;
        if i == 8 {
            return Some(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn be(b: &[u8], at: usize, n: usize) -> Option<u64> {
    Some(
        b.get(at..at.checked_add(n)?)?
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
    )
}

impl<R: Read + Seek> Database<R> {
    pub fn open(mut file: R, file_len: u64) -> Result<Self, ParseError> {
        let mut header = [0u8; 100];
        file.read_exact(&mut header)
            .map_err(|_| err("file shorter than the 100-byte header"))?;
        if &header[..16] != MAGIC {
            return Err(err("not an SQLite 3 database"));
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => usize::from(n),
            n => return Err(err(format!("invalid page size {n}"))),
        };
        let usable = page_size - usize::from(header[20]);
        if usable < 480 {
            return Err(err("reserved space leaves too little of each page"));
        }
        if u32::from_be_bytes([header[56], header[57], header[58], header[59]]) > 1 {
            return Err(err("text encoding is not UTF-8"));
        }
        let page_count =
            u32::try_from(file_len / page_size as u64).map_err(|_| err("file too large"))?;
        Ok(Database {
            file,
            page_size,
            usable,
            page_count,
        })
    }

    fn page(&mut self, number: u32) -> Result<Vec<u8>, ParseError> {
        if number == 0 || number > self.page_count {
            return Err(err(format!(
                "page {number} is outside the file ({} pages)",
                self.page_count
            )));
        }
        let mut buf = vec![0u8; self.page_size];
        self.file.seek(SeekFrom::Start(
            u64::from(number - 1) * self.page_size as u64,
        ))?;
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// The root page of table `name`, from `sqlite_master` (page 1).
    pub fn table_root(&mut self, name: &str) -> Result<u32, ParseError> {
        let mut root = None;
        self.scan_table(1, &mut |_, record| {
            if let [
                Value::Text(kind),
                Value::Text(n),
                _,
                Value::Integer(page),
                ..,
            ] = record.as_slice()
                && kind == "table"
                && n == name
            {
                root = u32::try_from(*page).ok();
            }
            Ok(())
        })?;
        root.ok_or_else(|| err(format!("no table `{name}`")))
    }

    /// Calls `row` with (rowid, columns) for every row of the table rooted at `root`, in rowid
    /// order. A row callback error stops the scan.
    pub fn scan_table(
        &mut self,
        root: u32,
        row: &mut dyn FnMut(i64, Vec<Value>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        let mut visited = HashSet::new();
        self.walk(root, 0, &mut visited, row)
    }

    fn walk(
        &mut self,
        number: u32,
        depth: usize,
        visited: &mut HashSet<u32>,
        row: &mut dyn FnMut(i64, Vec<Value>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        if depth > MAX_DEPTH || !visited.insert(number) {
            return Err(err(format!("b-tree loops or is too deep at page {number}")));
        }
        let page = self.page(number)?;
        let base = if number == 1 { 100 } else { 0 };
        let kind = *page.get(base).ok_or_else(|| err("empty page"))?;
        let cells = be(&page, base + 3, 2).ok_or_else(|| err("page header truncated"))? as usize;
        let header_len = match kind {
            LEAF_TABLE => 8,
            INTERIOR_TABLE => 12,
            other => {
                return Err(err(format!(
                    "page {number} has type {other:#x}, not a table b-tree page"
                )));
            }
        };
        for i in 0..cells {
            let ptr = be(&page, base + header_len + 2 * i, 2)
                .ok_or_else(|| err("cell pointer array truncated"))? as usize;
            let cell = page
                .get(ptr..)
                .ok_or_else(|| err(format!("cell {i} of page {number} outside the page")))?;
            if kind == INTERIOR_TABLE {
                let child = be(cell, 0, 4).ok_or_else(|| err("interior cell truncated"))? as u32;
                self.walk(child, depth + 1, visited, row)?;
            } else {
                let (rowid, values) = self.leaf_cell(cell)?;
                row(rowid, values)?;
            }
        }
        if kind == INTERIOR_TABLE {
            let right = be(&page, base + 8, 4).ok_or_else(|| err("page header truncated"))? as u32;
            self.walk(right, depth + 1, visited, row)?;
        }
        Ok(())
    }

    fn leaf_cell(&mut self, cell: &[u8]) -> Result<(i64, Vec<Value>), ParseError> {
        let bad = || err("leaf cell truncated");
        let (payload_len, a) = varint(cell).ok_or_else(bad)?;
        let (rowid, b) = varint(cell.get(a..).ok_or_else(bad)?).ok_or_else(bad)?;
        let payload_len = usize::try_from(payload_len).map_err(|_| bad())?;
        // Overflow rules of the file format (table b-tree leaf cells).
        let u = self.usable;
        let x = u - 35;
        let local = if payload_len <= x {
            payload_len
        } else {
            let m = ((u - 12) * 32 / 255) - 23;
            let k = m + ((payload_len - m) % (u - 4));
            if k <= x { k } else { m }
        };
        let start = a + b;
        let mut payload = Vec::with_capacity(payload_len.min(64 * 1024 * 1024));
        payload.extend_from_slice(cell.get(start..start + local).ok_or_else(bad)?);
        if local < payload_len {
            let mut next = be(cell, start + local, 4).ok_or_else(bad)? as u32;
            let mut hops = 0usize;
            while payload.len() < payload_len {
                hops += 1;
                if next == 0 || hops > self.page_count as usize {
                    return Err(err("overflow chain ends early or loops"));
                }
                let page = self.page(next)?;
                next = be(&page, 0, 4).ok_or_else(bad)? as u32;
                let take = (payload_len - payload.len()).min(u - 4);
                payload.extend_from_slice(page.get(4..4 + take).ok_or_else(bad)?);
            }
        }
        Ok((rowid as i64, record(&payload)?))
    }
}

/// Decodes a record: a header of serial types, then the values.
fn record(payload: &[u8]) -> Result<Vec<Value>, ParseError> {
    let bad = || err("record truncated");
    let (header_len, mut pos) = varint(payload).ok_or_else(bad)?;
    let header_len = usize::try_from(header_len).map_err(|_| bad())?;
    let mut body = header_len;
    let mut values = Vec::new();
    while pos < header_len {
        let (serial, n) = varint(payload.get(pos..header_len).ok_or_else(bad)?).ok_or_else(bad)?;
        pos += n;
        let (len, value_kind) = match serial {
            0 | 8 | 9 => (0, serial),
            1..=4 => (serial as usize, 1),
            5 => (6, 1),
            6 | 7 => (8, serial),
            n if n >= 12 => (((n - 12) / 2) as usize, n),
            _ => return Err(err(format!("reserved serial type {serial}"))),
        };
        let bytes = payload
            .get(body..body.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        body += len;
        values.push(match value_kind {
            0 => Value::Null,
            8 => Value::Integer(0),
            9 => Value::Integer(1),
            1 | 6 => {
                // Big-endian two's complement of `len` bytes.
                let raw = bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
                let shift = 64 - 8 * len as u32;
                Value::Integer(((raw << shift) as i64) >> shift)
            }
            n if n >= 12 && n % 2 == 0 => Value::Blob(bytes.to_vec()),
            n if n >= 13 => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
            _ => Value::Other,
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_records() {
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x80]), None);
        // header: len 4, types NULL, int8, text(2 bytes); body: -2, "hi"
        let rec = [4, 0, 1, 17, 0xfe, b'h', b'i'];
        assert_eq!(
            record(&rec).unwrap(),
            [Value::Null, Value::Integer(-2), Value::Text("hi".into())]
        );
        assert!(record(&[4, 0, 1, 17, 0xfe, b'h']).is_err());
    }

    #[test]
    fn rejects_non_databases() {
        assert!(Database::open(std::io::Cursor::new(vec![0u8; 200]), 200).is_err());
        let mut header = MAGIC.to_vec();
        header.resize(100, 0);
        header[16] = 0x03; // page size 0x0300 is not a power of two
        assert!(Database::open(std::io::Cursor::new(header), 100).is_err());
    }
}
