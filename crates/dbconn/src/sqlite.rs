//! SQLite files: one connection that writes, a pool that reads, a checkpointer beside them.
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
//!
//! Checkpoints took a tenth of the server's CPU samples in that drain, all of it on the
//! writers' threads inside their commits; the checkpointer moves it to a thread of its own.
//! Neither it nor the one writer connection moved the drain's rate (36.5k records/s against
//! 36.7k and 37.6k without, on one machine): the store's writer is bound by its statements.
//! Half of those statements' time was sqlx's own (copied arguments, hops to the connection's
//! thread); stepping the same rows on the connection's handle ([`with_handle`]) took that drain
//! from 40.5k to 69.8k records/s on another machine.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use tokio::sync::oneshot;

/// Runs `work` on `connection`'s own SQLite handle, through rusqlite, inside whatever
/// transaction the connection has open: statements prepared once and stepped per row, with no
/// trip to sqlx's worker thread per statement and no arguments copied for one.
///
/// The store's worker batches write most of the embedded database's rows. Through sqlx, a
/// report of 100 packages spent about half of the writer's turn outside SQLite: every bound
/// value copied into an `Arc` of its own, each statement sent to the connection's thread and its
/// result sent back. `work` runs on this thread (moved off the async runtime's core while it
/// runs, when the runtime has others), so it should be one transaction's worth of rows, not a
/// wait on anything else.
pub async fn with_handle<T, E>(
    connection: &mut SqliteConnection,
    work: impl FnOnce(&mut rusqlite::Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<sqlx::Error> + From<rusqlite::Error>,
{
    let mut locked = connection.lock_handle().await?;
    // SAFETY: the handle is locked out of sqlx's worker thread while `locked` lives, which is
    // longer than `direct` and the statements it prepares (finalized when it drops). A
    // connection made `from_handle` does not close the handle when it drops.
    let mut direct = unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) }?;
    let output = match tokio::runtime::Handle::try_current().map(|r| r.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
            tokio::task::block_in_place(|| work(&mut direct))
        }
        _ => work(&mut direct),
    };
    drop(direct);
    output
}

/// Settings of every connection beyond WAL mode, `NORMAL` syncs, the busy timeout and the page
/// cache ([`PageCache`]):
/// - a checkpoint every 10,000 WAL pages (40 MiB) instead of every 1,000;
/// - statement journals (a multi-row INSERT's undo) in memory instead of a temporary file;
/// - all of SQLite's memory in the process (every file's connections) softly held to 512 MiB:
///   past it, SQLite frees cached pages before it allocates more.
const TUNING: [(&str, &str); 3] = [
    ("wal_autocheckpoint", "10000"),
    ("temp_store", "memory"),
    ("soft_heap_limit", "536870912"),
];

/// How much page cache each connection of a file keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageCache {
    /// 64 MiB instead of SQLite's 2 MiB: the store, whose B-trees grow to gigabytes and whose one
    /// writer revisits tens of MiB of them in a batch.
    Large,
    /// 8 MiB: a queue, which writes at its tail and reads at its head. SQLite tidies a
    /// connection's page cache at every commit, and the queue commits once per message: in
    /// the queue's `queue_throughput` example (40,000 messages of 4 KiB, two runs each) enqueues
    /// ran at 3,228 and 2,730 messages/s against 2,535 and 2,529 with 64 MiB, and consuming at
    /// 16,702 and 13,107 against 14,674 and 12,583.
    Small,
}

impl PageCache {
    /// `PRAGMA cache_size`: negative values are KiB.
    fn pragma(self) -> &'static str {
        match self {
            PageCache::Large => "-65536",
            PageCache::Small => "-8192",
        }
    }
}

/// How often the checkpointer copies committed WAL pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// A SQLite file as ZeroTrace opens it. Cheap to clone; the checkpointer stops when the last
/// clone is dropped.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    /// The connection every write transaction runs on: always the same one. SQLite empties a
    /// connection's page cache when it finds that another connection wrote since its own last
    /// transaction, so writers taking turns on a pool's connections all ran on a cold cache.
    pub writer: SqlitePool,
    /// Read-only connections.
    pub readers: SqlitePool,
    _checkpointer: Arc<oneshot::Sender<()>>,
}

impl SqliteFile {
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

fn options(path: &Path, cache: PageCache) -> SqliteConnectOptions {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("cache_size", cache.pragma());
    TUNING.into_iter().fold(options, |options, (name, value)| {
        options.pragma(name, value)
    })
}

/// Opens the SQLite file at `path` (created if missing; its folder must exist) with `readers`
/// connections for reads, each connection with `cache`, and starts its checkpointer.
pub async fn open_sqlite(
    path: &Path,
    readers: u32,
    cache: PageCache,
) -> Result<SqliteFile, sqlx::Error> {
    // Opened first: it creates the file and switches it to WAL, which read-only connections
    // cannot do.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // Kept open for good: closing it would throw its cache away.
        .idle_timeout(None)
        .max_lifetime(None)
        // A connection to a local file cannot go stale: the liveness ping the pool sends by
        // default would only add a hop to SQLite's thread per transaction.
        .test_before_acquire(false)
        .connect_with(options(path, cache))
        .await?;
    let readers = SqlitePoolOptions::new()
        .max_connections(readers)
        .test_before_acquire(false)
        .connect_with(
            options(path, cache)
                .read_only(true)
                .create_if_missing(false),
        )
        .await?;
    let checkpointer = options(path, cache).connect().await?;
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(checkpoint(checkpointer, stopped));
    Ok(SqliteFile {
        writer,
        readers,
        _checkpointer: Arc::new(stop),
    })
}

/// Copies committed WAL pages into the database file every [`CHECKPOINT_EVERY`] on a
/// connection of its own, off the writer's path, until `stop` is dropped. The writer's own
/// automatic checkpoint then finds little left to copy; it remains as the backstop that lets
/// the WAL start over from its beginning.
async fn checkpoint(mut connection: SqliteConnection, mut stop: oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {}
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::warn!(%error, "a background checkpoint failed; the writer's own checkpoints go on");
        }
    }
}
