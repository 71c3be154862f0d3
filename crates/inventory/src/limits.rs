//! Every file read has a size bound, so a huge or hostile file costs an error, not the agent's
//! memory budget.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::ParseError;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;

/// Directory entries one search root may cost before its walk stops: keeps a scan inside its
/// time budget on machines with enormous `/opt` trees.
pub const MAX_WALK_ENTRIES: usize = 200_000;

pub fn walk_stopped() -> ParseError {
    ParseError::format(format!("search stopped after {MAX_WALK_ENTRIES} entries"))
}

/// Reads a whole file if it is at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ParseError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(ParseError::TooLarge { size, limit });
    }
    read_all_bounded(file, limit, size)
}

/// Reads a reader to its end, failing once more than `limit` bytes come out of it.
pub fn read_all_bounded(
    reader: impl Read,
    limit: u64,
    size_hint: u64,
) -> Result<Vec<u8>, ParseError> {
    let mut buf = Vec::with_capacity(usize::try_from(size_hint.min(limit)).unwrap_or(0));
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    let size = buf.len() as u64;
    if size > limit {
        return Err(ParseError::TooLarge { size, limit });
    }
    Ok(buf)
}

/// Reads a whole UTF-8 text file of at most `limit` bytes.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, ParseError> {
    text_from_bytes(read_bounded(path, limit)?)
}

pub fn text_from_bytes(bytes: Vec<u8>) -> Result<String, ParseError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .iter()
            .take(valid)
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        ParseError::line(line, "not valid UTF-8 text")
    })
}

/// Line-by-line reading with a total byte budget: databases like dpkg's `status` are streamed,
/// never held whole.
pub struct BoundedLines<R> {
    reader: BufReader<std::io::Take<R>>,
    limit: u64,
    consumed: u64,
    line_no: u64,
    buf: Vec<u8>,
}

impl<R: Read> BoundedLines<R> {
    pub fn new(reader: R, limit: u64) -> Self {
        BoundedLines {
            reader: BufReader::new(reader.take(limit.saturating_add(1))),
            limit,
            consumed: 0,
            line_no: 0,
            buf: Vec::new(),
        }
    }

    /// The next line without its line ending, with its 1-based number; `None` at the end.
    pub fn next_line(&mut self) -> Option<Result<(u64, &str), ParseError>> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => return None,
            Ok(n) => self.consumed += n as u64,
            Err(e) => return Some(Err(e.into())),
        }
        if self.consumed > self.limit {
            return Some(Err(ParseError::TooLarge {
                size: self.consumed,
                limit: self.limit,
            }));
        }
        self.line_no += 1;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Some(match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok((self.line_no, s)),
            Err(_) => Err(ParseError::line(self.line_no, "not valid UTF-8 text")),
        })
    }
}
