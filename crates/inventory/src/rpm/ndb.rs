//! rpm's NDB backend (`Packages.db`, SUSE): a 32-byte header, slot pages of 16-byte slots
//! (`Slot` magic, package index, block offset, block count), and at each used slot's block a
//! blob header (`BlbS` magic, package index, checksum, length) followed by the header blob.
//! All integers are little-endian. Layout per rpm's `lib/backend/ndb/rpmpkg.c`.

use std::io::{Read, Seek, SeekFrom};

use crate::error::ParseError;

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const PAGE_SIZE: u64 = 4096;
const SLOT_SIZE: u64 = 16;
const BLOCK_SIZE: u64 = 16;
/// rpm itself refuses more slot pages than this.
const MAX_SLOT_PAGES: u32 = 2048;

fn err(message: impl Into<String>) -> ParseError {
    ParseError::format(format!("ndb: {}", message.into()))
}

fn le(b: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        word.copy_from_slice(s);
    }
    u32::from_le_bytes(word)
}

/// Calls `blob` with (package index, header blob or the error for that package) for every used
/// slot, in slot order.
pub fn for_each_blob<R: Read + Seek>(
    mut file: R,
    file_len: u64,
    blob: &mut dyn FnMut(u32, Result<Vec<u8>, ParseError>),
) -> Result<(), ParseError> {
    let mut header = [0u8; 32];
    file.read_exact(&mut header)
        .map_err(|_| err("file shorter than its header"))?;
    if le(&header, 0) != HEADER_MAGIC || le(&header, 4) != 0 {
        return Err(err("not an rpm NDB package database (magic or version)"));
    }
    let slot_pages = le(&header, 12);
    if slot_pages == 0
        || slot_pages > MAX_SLOT_PAGES
        || u64::from(slot_pages) * PAGE_SIZE > file_len
    {
        return Err(err(format!("implausible slot page count {slot_pages}")));
    }
    // The header takes the first two slots of the first page.
    let mut slots = vec![0u8; (u64::from(slot_pages) * PAGE_SIZE - 32) as usize];
    file.read_exact(&mut slots)?;
    for slot in slots.chunks_exact(SLOT_SIZE as usize) {
        if le(slot, 0) != SLOT_MAGIC {
            return Err(err("bad slot magic"));
        }
        let (index, block) = (le(slot, 4), le(slot, 8));
        if index == 0 {
            continue;
        }
        blob(
            index,
            read_blob(&mut file, file_len, index, u64::from(block) * BLOCK_SIZE),
        );
    }
    Ok(())
}

fn read_blob<R: Read + Seek>(
    file: &mut R,
    file_len: u64,
    index: u32,
    offset: u64,
) -> Result<Vec<u8>, ParseError> {
    file.seek(SeekFrom::Start(offset))?;
    let mut head = [0u8; 16];
    file.read_exact(&mut head)
        .map_err(|_| err(format!("package {index}: blob header outside the file")))?;
    if le(&head, 0) != BLOB_MAGIC || le(&head, 4) != index {
        return Err(err(format!("package {index}: bad blob header")));
    }
    let len = u64::from(le(&head, 12));
    if offset + 16 + len > file_len {
        return Err(err(format!(
            "package {index}: blob runs past the end of the file"
        )));
    }
    let mut data = vec![0u8; len as usize];
    file.read_exact(&mut data)?;
    Ok(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Lays blobs out the way rpm does: header, one slot page, blocks after it.
    pub(crate) fn ndb_file(blobs: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; PAGE_SIZE as usize];
        out[..4].copy_from_slice(b"RpmP");
        out[12..16].copy_from_slice(&1u32.to_le_bytes());
        for i in 0..(PAGE_SIZE / SLOT_SIZE - 2) as usize {
            out[32 + 16 * i..36 + 16 * i].copy_from_slice(b"Slot");
        }
        for (i, b) in blobs.iter().enumerate() {
            let index = i as u32 + 1;
            let block = (out.len() as u64 / BLOCK_SIZE) as u32;
            let slot = 32 + 16 * i;
            out[slot + 4..slot + 8].copy_from_slice(&index.to_le_bytes());
            out[slot + 8..slot + 12].copy_from_slice(&block.to_le_bytes());
            out.extend_from_slice(b"BlbS");
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(&[0u8; 12]);
            while !out.len().is_multiple_of(BLOCK_SIZE as usize) {
                out.push(0);
            }
        }
        out
    }

    #[test]
    fn slots_and_blobs() {
        let file = ndb_file(&[b"first", b"second blob"]);
        let mut got = Vec::new();
        for_each_blob(
            std::io::Cursor::new(&file),
            file.len() as u64,
            &mut |i, b| got.push((i, b.unwrap())),
        )
        .unwrap();
        assert_eq!(got, [(1, b"first".to_vec()), (2, b"second blob".to_vec())]);
        let mut bad = file.clone();
        bad[PAGE_SIZE as usize] = b'X';
        let mut errors = 0;
        for_each_blob(std::io::Cursor::new(&bad), bad.len() as u64, &mut |_, b| {
            errors += usize::from(b.is_err())
        })
        .unwrap();
        assert_eq!(errors, 1);
        assert!(for_each_blob(std::io::Cursor::new(&file[..100]), 100, &mut |_, _| {}).is_err());
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let original = ndb_file(&[b"first", b"second blob"]);
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
