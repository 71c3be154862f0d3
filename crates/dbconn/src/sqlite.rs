//! SQLite pools.
//!
//! SQLite's defaults are made for small databases; the seed's fleet writes gigabytes. Measured
//! on the drain of the seed's first inventories (100,000 hosts, 8.98 M package records, 2
//! workers, `benches/pipeline_throughput.sh`'s drain phase at that size, the first 120 s):
//! 21.3k records/s with the defaults, 24.6k with the first three settings below. Each alone
//! gained under 2%: a batch's transaction dirtied more pages than the default 2 MiB cache holds,
//! so SQLite spilled them to the WAL in the middle of the transaction (a spilled page then goes
//! to the statement journal too, a temporary file by default) and read them back, and it
//! checkpointed every 4 MiB of WAL. A memory map of the file added 2% more, not worth its
//! failure mode (an I/O error becomes a SIGBUS).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Settings of every connection beyond WAL mode, `NORMAL` syncs and the busy timeout:
/// - a page cache of 64 MiB per connection instead of 2 MiB;
/// - a checkpoint every 10,000 WAL pages (40 MiB) instead of every 1,000;
/// - statement journals (a multi-row INSERT's undo) in memory instead of a temporary file;
/// - all of SQLite's memory in the process (every file's connections) softly held to 512 MiB:
///   past it, SQLite frees cached pages before it allocates more.
const TUNING: [(&str, &str); 4] = [
    ("cache_size", "-65536"),
    ("wal_autocheckpoint", "10000"),
    ("temp_store", "memory"),
    ("soft_heap_limit", "536870912"),
];

/// A pool of at most `max_connections` on the SQLite file at `path` (created if missing; its
/// folder must exist).
pub async fn connect_sqlite(path: &Path, max_connections: u32) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let options = TUNING.into_iter().fold(options, |options, (name, value)| {
        options.pragma(name, value)
    });
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // A connection to a local file cannot go stale: the liveness ping the pool sends by
        // default would only add a hop to SQLite's thread per transaction.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}
