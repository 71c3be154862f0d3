//! rpm's Berkeley DB backend (`Packages`, RHEL/CentOS 8 and older): a hash database whose
//! values are header blobs stored on overflow pages. Every hash page's data items of the
//! off-page kind are followed through their overflow chain. Integers are in the writing
//! machine's byte order, told by the metadata page's magic. Layout per Berkeley DB's `db_page.h`.

use std::io::{Read, Seek, SeekFrom};

use crate::error::ParseError;

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const HASH_UNSORTED_PAGE: u8 = 2;
const HASH_OFF_PAGE_ITEM: u8 = 3;
const OVERFLOW_PAGE: u8 = 7;
const HASH_METADATA_PAGE: u8 = 8;
const HASH_PAGE: u8 = 13;

fn err(message: impl Into<String>) -> ParseError {
    ParseError::format(format!("bdb: {}", message.into()))
}

struct Db<R> {
    file: R,
    page_size: usize,
    last_page: u32,
    big_endian: bool,
}

impl<R: Read + Seek> Db<R> {
    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [
            b.get(at).copied().unwrap_or(0),
            b.get(at + 1).copied().unwrap_or(0),
        ];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let mut v = [0u8; 4];
        if let Some(s) = b.get(at..at + 4) {
            v.copy_from_slice(s);
        }
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn page(&mut self, number: u32) -> Result<Vec<u8>, ParseError> {
        if number > self.last_page {
            return Err(err(format!(
                "page {number} is past the last page {}",
                self.last_page
            )));
        }
        let mut buf = vec![0u8; self.page_size];
        self.file
            .seek(SeekFrom::Start(u64::from(number) * self.page_size as u64))?;
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn overflow_value(&mut self, first: u32) -> Result<Vec<u8>, ParseError> {
        let mut value = Vec::new();
        let mut next = first;
        let mut hops = 0u32;
        while next != 0 {
            hops += 1;
            if hops > self.last_page {
                return Err(err("overflow chain loops"));
            }
            let page = self.page(next)?;
            if page.get(25) != Some(&OVERFLOW_PAGE) {
                return Err(err(format!(
                    "page {next} in an overflow chain is not an overflow page"
                )));
            }
            next = self.u32_at(&page, 16);
            let end = if next == 0 {
                PAGE_HEADER + usize::from(self.u16_at(&page, 22))
            } else {
                self.page_size
            };
            value.extend_from_slice(
                page.get(PAGE_HEADER..end)
                    .ok_or_else(|| err("overflow page length outside the page"))?,
            );
        }
        Ok(value)
    }
}

/// Calls `blob` with (page number, header blob or the error for it) for every stored value.
pub fn for_each_blob<R: Read + Seek>(
    mut file: R,
    file_len: u64,
    blob: &mut dyn FnMut(u32, Result<Vec<u8>, ParseError>),
) -> Result<(), ParseError> {
    let mut meta = [0u8; 72];
    file.read_exact(&mut meta)
        .map_err(|_| err("file shorter than its metadata page"))?;
    let magic = [meta[12], meta[13], meta[14], meta[15]];
    let big_endian = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
        (HASH_MAGIC, _) => false,
        (_, HASH_MAGIC) => true,
        _ => return Err(err("not a Berkeley DB hash database")),
    };
    let mut db = Db {
        file,
        page_size: 0,
        last_page: 0,
        big_endian,
    };
    let page_size = db.u32_at(&meta, 20);
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(err(format!("invalid page size {page_size}")));
    }
    if meta[24] != 0 {
        return Err(err("encrypted database"));
    }
    if meta[25] != HASH_METADATA_PAGE {
        return Err(err("first page is not hash metadata"));
    }
    db.page_size = page_size as usize;
    let last = db.u32_at(&meta, 32);
    let pages_in_file = file_len / u64::from(page_size);
    if u64::from(last) >= pages_in_file {
        return Err(err(format!(
            "last page {last} is beyond the file's {pages_in_file} pages"
        )));
    }
    db.last_page = last;
    for number in 1..=last {
        let page = db.page(number)?;
        let kind = page.get(25).copied().unwrap_or(0);
        if kind != HASH_PAGE && kind != HASH_UNSORTED_PAGE {
            continue;
        }
        let entries = usize::from(db.u16_at(&page, 20));
        // Items come in key/value pairs; the value is the second of each pair.
        for pair in 0..entries / 2 {
            let offset = usize::from(db.u16_at(&page, PAGE_HEADER + 4 * pair + 2));
            if page.get(offset) != Some(&HASH_OFF_PAGE_ITEM) {
                continue;
            }
            let first = db.u32_at(&page, offset + 4);
            blob(number, db.overflow_value(first));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian hash database with one hash page and each value on its own overflow
    /// chain of `chunk`-byte pages.
    pub(crate) fn bdb_file(values: &[&[u8]], page_size: usize) -> Vec<u8> {
        let chunk = page_size - PAGE_HEADER;
        let mut pages: Vec<Vec<u8>> = vec![vec![0u8; page_size], vec![0u8; page_size]];
        let mut hash = vec![0u8; page_size];
        hash[25] = HASH_PAGE;
        hash[20..22].copy_from_slice(&((values.len() * 2) as u16).to_le_bytes());
        let mut item_at = page_size;
        for (i, v) in values.iter().enumerate() {
            let first = pages.len() as u32;
            let parts: Vec<&[u8]> = v.chunks(chunk).collect();
            for (j, part) in parts.iter().enumerate() {
                let mut p = vec![0u8; page_size];
                p[25] = OVERFLOW_PAGE;
                let next = if j + 1 < parts.len() {
                    pages.len() as u32 + 1
                } else {
                    0
                };
                p[16..20].copy_from_slice(&next.to_le_bytes());
                p[22..24].copy_from_slice(&(part.len() as u16).to_le_bytes());
                p[PAGE_HEADER..PAGE_HEADER + part.len()].copy_from_slice(part);
                pages.push(p);
            }
            item_at -= 12;
            hash[item_at] = HASH_OFF_PAGE_ITEM;
            hash[item_at + 4..item_at + 8].copy_from_slice(&first.to_le_bytes());
            hash[item_at + 8..item_at + 12].copy_from_slice(&(v.len() as u32).to_le_bytes());
            hash[PAGE_HEADER + 4 * i + 2..PAGE_HEADER + 4 * i + 4]
                .copy_from_slice(&(item_at as u16).to_le_bytes());
        }
        pages[1] = hash;
        let meta = &mut pages[0];
        meta[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        meta[20..24].copy_from_slice(&(page_size as u32).to_le_bytes());
        meta[25] = HASH_METADATA_PAGE;
        let last = (pages.len() - 1) as u32;
        pages[0][32..36].copy_from_slice(&last.to_le_bytes());
        pages.concat()
    }

    #[test]
    fn overflow_chains() {
        let long = vec![7u8; 1500];
        let file = bdb_file(&[b"short", &long], 512);
        let mut got = Vec::new();
        for_each_blob(
            std::io::Cursor::new(&file),
            file.len() as u64,
            &mut |_, b| got.push(b.unwrap()),
        )
        .unwrap();
        assert_eq!(got, [b"short".to_vec(), long]);
        let mut looped = file.clone();
        // Point the last page of the long chain back at its first.
        let last = looped.len() / 512 - 1;
        looped[last * 512 + 16..last * 512 + 20].copy_from_slice(&3u32.to_le_bytes());
        let mut errors = 0;
        for_each_blob(
            std::io::Cursor::new(&looped),
            looped.len() as u64,
            &mut |_, b| errors += usize::from(b.is_err()),
        )
        .unwrap();
        assert_eq!(errors, 1);
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let original = bdb_file(&[b"short", &[7u8; 1500]], 512);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut bytes = original.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            let mut blobs = 0;
            let _ = for_each_blob(
                std::io::Cursor::new(&bytes),
                bytes.len() as u64,
                &mut |_, b| blobs += usize::from(b.is_ok()),
            );
            assert!(blobs <= 2);
        }
    }
}
