//! EPSS scores in FIRST's daily CSV layout (`#model_version:…,score_date:…`, then
//! `cve,epss,percentile`), plain or gzip.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Batch, ImportError, limits};

/// One CVE's exploit prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    /// The CVE packed as `year << 32 | number` (see [`pack_cve`]): 360k scores stay small.
    pub cve: u64,
    pub score: f32,
    pub percentile: f32,
}

/// `CVE-2021-44228` -> a sortable integer key; `None` for anything else.
pub fn pack_cve(id: &str) -> Option<u64> {
    let rest = id.strip_prefix("CVE-")?;
    let (year, num) = rest.split_once('-')?;
    let year: u64 = year.parse().ok()?;
    let num: u64 = num.parse().ok()?;
    (year < 10_000 && num < (1 << 32)).then_some((year << 32) | num)
}

pub fn import(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let file = super::open(path)?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = super::read_prefix(&mut reader, &mut magic, path)?;
    let chained = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let mut lines = BufReader::new(reader.take(limits::MAX_DOCUMENT_BYTES));
    // The comment line is not CSV; skip it (and any blank lines) before handing over to `csv`.
    let mut header = String::new();
    let mut line = 0usize;
    loop {
        header.clear();
        line += 1;
        let got = lines
            .by_ref()
            .take(limits::MAX_LINE_BYTES as u64)
            .read_line(&mut header)
            .map_err(|source| ImportError::Io {
                path: path.to_owned(),
                source,
            })?;
        if got == 0 {
            return Err(ImportError::Format {
                path: path.to_owned(),
                message: "no `cve,epss,percentile` header".into(),
            });
        }
        let h = header.trim();
        if h.starts_with('#') || h.is_empty() {
            continue;
        }
        if !h.starts_with("cve,epss,percentile") {
            return Err(ImportError::Format {
                path: path.to_owned(),
                message: format!("unexpected header {h:?}"),
            });
        }
        break;
    }
    batch.replaces_epss = true;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(lines);
    let mut record = csv::StringRecord::new();
    loop {
        line += 1;
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                batch.record_error(path, format!("line {line}"), e);
                if fatal {
                    break;
                }
                continue;
            }
        }
        let cve = record.get(0).unwrap_or_default();
        let parsed = (
            pack_cve(cve),
            record.get(1).and_then(|s| s.trim().parse::<f32>().ok()),
            record.get(2).and_then(|s| s.trim().parse::<f32>().ok()),
        );
        match parsed {
            (Some(cve), Some(score), Some(percentile))
                if (0.0..=1.0).contains(&score) && (0.0..=1.0).contains(&percentile) =>
            {
                batch.epss.push(EpssScore {
                    cve,
                    score,
                    percentile,
                })
            }
            (None, ..) => batch.record_error(
                path,
                format!("line {line}"),
                format!("field `cve`: {cve:?} is not a CVE id"),
            ),
            _ => batch.record_error(
                path,
                cve,
                "field `epss`/`percentile`: not a number in 0..=1",
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_cves() {
        assert_eq!(pack_cve("CVE-2021-44228"), Some((2021 << 32) | 44228));
        assert!(pack_cve("CVE-2021-44228") < pack_cve("CVE-2022-1"));
        assert_eq!(pack_cve("GHSA-1"), None);
        assert_eq!(pack_cve("CVE-99999-1"), None);
    }
}
