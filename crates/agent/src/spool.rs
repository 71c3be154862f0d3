//! The on-disk spool of snapshots waiting for delivery, and the retry schedule.
//!
//! Every new snapshot is written here *before* it is sent, so a crash, a SIGTERM or a server that
//! is down loses nothing: delivery always takes the oldest file, and removes it only once the
//! server has answered 202 (or refused it for good). The spool is bounded by a number of files and
//! a total size; past either, the oldest snapshots are dropped (each snapshot is a full inventory,
//! so the newest one alone still tells the server everything).
//!
//! Files are named `<sequence, 20 digits>.json.gz`, so their name order is their sequence order,
//! and are written through a temporary file and a rename, so a half-written one is never sent.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;

use crate::config::{create_private_dir, write_private};

const SUFFIX: &str = ".json.gz";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot {sequence} is {size} bytes, more than the whole spool may hold ({limit})")]
    TooLarge {
        sequence: u64,
        size: u64,
        limit: u64,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sequence: u64,
    pub path: PathBuf,
    pub size: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_snapshots: usize,
    max_bytes: u64,
}

impl Spool {
    /// Opens (creating it 0700 if needed) the spool in `dir`; leftovers of interrupted writes are
    /// removed.
    pub fn open(dir: &Path, max_snapshots: usize, max_bytes: u64) -> Result<Spool, SpoolError> {
        create_private_dir(dir).map_err(io(dir))?;
        for item in fs::read_dir(dir).map_err(io(dir))? {
            let item = item.map_err(io(dir))?;
            if item.file_name().to_string_lossy().ends_with(".tmp") {
                let path = item.path();
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(Spool {
            dir: dir.to_owned(),
            max_snapshots: max_snapshots.max(1),
            max_bytes,
        })
    }

    /// The spooled snapshots, oldest (lowest sequence) first. Files that are not ours are ignored.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let item = item.map_err(io(&self.dir))?;
            let name = item.file_name();
            let Some(sequence) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = item.path();
            let size = item.metadata().map_err(io(&path))?.len();
            entries.push(Entry {
                sequence,
                path,
                size,
            });
        }
        entries.sort_unstable_by_key(|e| e.sequence);
        Ok(entries)
    }

    pub fn oldest(&self) -> Result<Option<Entry>, SpoolError> {
        Ok(self.entries()?.into_iter().next())
    }

    /// Adds snapshot `sequence`, then drops the oldest ones until the bounds hold again.
    /// Returns the sequence numbers dropped.
    pub fn push(&self, sequence: u64, gzip_body: &[u8]) -> Result<Vec<u64>, SpoolError> {
        let size = gzip_body.len() as u64;
        if size > self.max_bytes {
            return Err(SpoolError::TooLarge {
                sequence,
                size,
                limit: self.max_bytes,
            });
        }
        let path = self.dir.join(format!("{sequence:020}{SUFFIX}"));
        write_private(&path, gzip_body, true).map_err(io(&path))?;
        let entries = self.entries()?;
        let mut count = entries.len();
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut dropped = Vec::new();
        for entry in entries {
            if count <= self.max_snapshots && total <= self.max_bytes {
                break;
            }
            if entry.sequence == sequence {
                continue;
            }
            fs::remove_file(&entry.path).map_err(io(&entry.path))?;
            count -= 1;
            total -= entry.size;
            dropped.push(entry.sequence);
        }
        Ok(dropped)
    }

    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>, SpoolError> {
        fs::read(&entry.path).map_err(io(&entry.path))
    }

    /// Removes a delivered (or refused) snapshot; one already gone is not an error.
    pub fn remove(&self, entry: &Entry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&entry.path)(e)),
            _ => Ok(()),
        }
    }
}

/// Exponential backoff with jitter: the n-th consecutive failure waits a random time between half
/// and all of `base * 2^(n-1)`, capped at `max`, so a fleet that lost its server does not come
/// back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            failures: 0,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Counts one more failure and returns how long to wait before the next attempt.
    pub fn fail(&mut self, rng: &mut impl Rng) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32 << (self.failures - 1).min(20);
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        let floor = ceiling / 2;
        let jitter_ms = ceiling.saturating_sub(floor).as_millis() as u64;
        floor + Duration::from_millis(rng.random_range(0..=jitter_ms))
    }

    /// Counts a failure the server timed for us (`Retry-After`): wait what it says, plus up to a
    /// tenth more so agents told the same time spread out.
    pub fn fail_after(&mut self, retry_after: Duration, rng: &mut impl Rng) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let spread = (retry_after / 10).as_millis() as u64;
        retry_after + Duration::from_millis(rng.random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn spool(dir: &Path, max_snapshots: usize, max_bytes: u64) -> Spool {
        Spool::open(&dir.join("spool"), max_snapshots, max_bytes).unwrap()
    }

    fn sequences(spool: &Spool) -> Vec<u64> {
        spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect()
    }

    #[test]
    fn delivers_in_sequence_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), 16, 1 << 20);
        // Sequence 10 sorts after 9 although "10" < "9" as text: names are zero-padded.
        for seq in [10, 9, 11] {
            s.push(seq, format!("body {seq}").as_bytes()).unwrap();
        }
        drop(s);
        let s = spool(dir.path(), 16, 1 << 20);
        assert_eq!(sequences(&s), [9, 10, 11]);
        let oldest = s.oldest().unwrap().unwrap();
        assert_eq!(s.read(&oldest).unwrap(), b"body 9");
        s.remove(&oldest).unwrap();
        s.remove(&oldest).unwrap();
        assert_eq!(s.oldest().unwrap().unwrap().sequence, 10);
    }

    #[test]
    fn count_bound_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), 3, 1 << 20);
        let mut dropped = Vec::new();
        for seq in 1..=5 {
            dropped.extend(s.push(seq, b"x").unwrap());
        }
        assert_eq!(dropped, [1, 2]);
        assert_eq!(sequences(&s), [3, 4, 5]);
    }

    #[test]
    fn size_bound_drops_the_oldest_but_keeps_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), 16, 100);
        s.push(1, &[0; 40]).unwrap();
        s.push(2, &[0; 40]).unwrap();
        assert_eq!(s.push(3, &[0; 90]).unwrap(), [1, 2]);
        assert_eq!(sequences(&s), [3]);
        let error = s.push(4, &[0; 101]).unwrap_err();
        assert!(matches!(error, SpoolError::TooLarge { size: 101, .. }));
        assert_eq!(
            sequences(&s),
            [3],
            "a refused snapshot leaves the spool as it was"
        );
    }

    #[test]
    fn interrupted_writes_and_foreign_files_are_not_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), 16, 1 << 20);
        s.push(1, b"a").unwrap();
        let spool_dir = dir.path().join("spool");
        fs::write(spool_dir.join("00000000000000000002.json.gz.tmp"), b"half").unwrap();
        fs::write(spool_dir.join("notes.txt"), b"x").unwrap();
        assert_eq!(sequences(&s), [1]);
        drop(s);
        let s = spool(dir.path(), 16, 1 << 20);
        assert!(!spool_dir.join("00000000000000000002.json.gz.tmp").exists());
        assert_eq!(sequences(&s), [1]);
    }

    #[test]
    fn spooled_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), 16, 1 << 20);
        s.push(1, b"a").unwrap();
        let entry = s.oldest().unwrap().unwrap();
        let mode = fs::metadata(&entry.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let delays: Vec<Duration> = (0..8).map(|_| b.fail(&mut rng)).collect();
        for (n, d) in delays.iter().enumerate() {
            let ceiling = (Duration::from_secs(10) * (1 << n)).min(Duration::from_secs(300));
            assert!(
                *d >= ceiling / 2 && *d <= ceiling,
                "failure {n}: {d:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        assert!(delays[7] >= Duration::from_secs(150));
        assert_eq!(b.failures(), 8);
        b.reset();
        assert!(b.fail(&mut rng) <= Duration::from_secs(10));
    }

    #[test]
    fn retry_after_is_never_shortened() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        for _ in 0..50 {
            let d = b.fail_after(Duration::from_secs(120), &mut rng);
            assert!(d >= Duration::from_secs(120) && d <= Duration::from_secs(132));
        }
    }

    #[test]
    fn backoff_does_not_overflow_after_many_failures() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(3600));
        let mut last = Duration::ZERO;
        for _ in 0..100 {
            last = b.fail(&mut rng);
        }
        assert!(last >= Duration::from_secs(1800) && last <= Duration::from_secs(3600));
    }
}
