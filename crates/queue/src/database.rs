//! The queue in the deployment's own database: leases on rows of `queue_messages`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::OptionalExtension;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;
use tokio::sync::Notify;
use zerotrace_dbconn::{PageCache, SqliteFile};

use crate::{
    DatabaseTarget, DeadLetter, Delivery, DeliveryId, MAX_BATCH, Queue, QueueError, QueueOptions,
    TopicStats, deadline, millis, now_ms, validate_topic,
};

/// An idle `receive` polls this often at first …
const POLL_MIN: Duration = Duration::from_millis(50);
/// … and backs off to this.
const POLL_MAX: Duration = Duration::from_millis(250);

/// The pending count of a topic is spread over this many counter rows so that concurrent
/// enqueues and acks on PostgreSQL rarely wait for one another's row lock.
const COUNT_SLOTS: i64 = 16;

/// As long as SQLite's busy timeout: a writer that waits longer fails the same way.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory-lock class (first key) of every lock this module takes on PostgreSQL ("ZTQU").
const PG_LOCK_CLASS: i32 = 0x5A54_5155;

const SQLITE_SCHEMA: &[&str] = &[
    // AUTOINCREMENT: an id is never reused, so a late ack of an old delivery cannot delete a
    // newer message that happened to get the same rowid.
    "CREATE TABLE IF NOT EXISTS queue_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        payload BLOB NOT NULL,
        enqueued_at INTEGER NOT NULL,
        available_at INTEGER NOT NULL,
        leased_until INTEGER,
        consumer TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        head BOOLEAN NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS queue_messages_by_key ON queue_messages (topic, msg_key, id)",
    "CREATE INDEX IF NOT EXISTS queue_messages_heads ON queue_messages (topic, id) WHERE head",
    "CREATE TABLE IF NOT EXISTS queue_dead_letters (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        payload BLOB NOT NULL,
        enqueued_at INTEGER NOT NULL,
        dead_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        reason TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS queue_dead_letters_by_topic
        ON queue_dead_letters (topic, dead_at, id)",
    "CREATE TABLE IF NOT EXISTS queue_counts (
        topic TEXT NOT NULL,
        slot INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        PRIMARY KEY (topic, slot)
    )",
];

const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS queue_messages (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        payload BYTEA NOT NULL,
        enqueued_at BIGINT NOT NULL,
        available_at BIGINT NOT NULL,
        leased_until BIGINT,
        consumer TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        head BOOLEAN NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS queue_messages_by_key ON queue_messages (topic, msg_key, id)",
    "CREATE INDEX IF NOT EXISTS queue_messages_heads ON queue_messages (topic, id) WHERE head",
    "CREATE TABLE IF NOT EXISTS queue_dead_letters (
        id BIGINT PRIMARY KEY,
        topic TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        payload BYTEA NOT NULL,
        enqueued_at BIGINT NOT NULL,
        dead_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        reason TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS queue_dead_letters_by_topic
        ON queue_dead_letters (topic, dead_at, id)",
    "CREATE TABLE IF NOT EXISTS queue_counts (
        topic TEXT NOT NULL,
        slot BIGINT NOT NULL,
        pending BIGINT NOT NULL,
        PRIMARY KEY (topic, slot)
    )",
];

const PENDING: &str =
    "SELECT CAST(COALESCE(SUM(pending), 0) AS BIGINT) FROM queue_counts WHERE topic = $1";

fn full(topic: &str, pending: i64) -> QueueError {
    QueueError::Full {
        topic: topic.to_owned(),
        pending: u64::try_from(pending).unwrap_or_default(),
    }
}

/// Serializes the enqueues of one key, so that the ids of a key follow their commit order.
const LOCK_KEY: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";

const LAST_OF_KEY: &str =
    "SELECT id FROM queue_messages WHERE topic = $1 AND msg_key = $2 ORDER BY id DESC LIMIT 1";

/// On PostgreSQL the enqueue locks the key's last message: if an ack is deleting it, the enqueue
/// waits and then sees it gone (so the new message is the head); if the enqueue holds it first,
/// the ack waits, and its promotion of the next head then sees the new message.
const LAST_OF_KEY_LOCKING: &str = "SELECT id FROM queue_messages WHERE topic = $1 AND msg_key = $2 \
     ORDER BY id DESC LIMIT 1 FOR UPDATE";

const INSERT: &str = "INSERT INTO queue_messages \
     (topic, msg_key, payload, enqueued_at, available_at, attempts, head) \
     VALUES ($1, $2, $3, $4, $4, 0, $5) RETURNING id";

const COUNT_UP: &str = "INSERT INTO queue_counts (topic, slot, pending) VALUES ($1, $2, 1) \
     ON CONFLICT (topic, slot) DO UPDATE SET pending = queue_counts.pending + 1";

const COUNT_DOWN: &str =
    "UPDATE queue_counts SET pending = pending - $3 WHERE topic = $1 AND slot = $2";

/// The deliverable messages: the head of their key (`head` narrows the scan to heads, the
/// `NOT EXISTS` is the rule itself), due, and not leased or with an expired lease.
macro_rules! claim_sql {
    ($locking:literal) => {
        concat!(
            "SELECT m.id, m.msg_key, m.payload, m.attempts, m.last_error FROM queue_messages m
             WHERE m.topic = $1 AND m.head AND m.available_at <= $2
               AND (m.leased_until IS NULL OR m.leased_until <= $2)
               AND NOT EXISTS (SELECT 1 FROM queue_messages e
                               WHERE e.topic = m.topic AND e.msg_key = m.msg_key AND e.id < m.id)
             ORDER BY m.id LIMIT $3",
            $locking
        )
    };
}
const CLAIM: &str = claim_sql!("");
const CLAIM_LOCKING: &str = claim_sql!(" FOR UPDATE SKIP LOCKED");

const BURY: &str = "INSERT INTO queue_dead_letters \
     (id, topic, msg_key, payload, enqueued_at, dead_at, attempts, reason) \
     SELECT id, topic, msg_key, payload, enqueued_at, $2, attempts, $3 \
     FROM queue_messages WHERE id = $1";

const DELETE_ONE: &str = "DELETE FROM queue_messages WHERE id = $1";

const IN_FLIGHT: &str = "SELECT attempts, msg_key FROM queue_messages \
     WHERE topic = $1 AND id = $2 AND leased_until IS NOT NULL";
const IN_FLIGHT_LOCKING: &str = "SELECT attempts, msg_key FROM queue_messages \
     WHERE topic = $1 AND id = $2 AND leased_until IS NOT NULL FOR UPDATE";

const GIVE_BACK: &str = "UPDATE queue_messages \
     SET available_at = $2, leased_until = NULL, consumer = NULL, last_error = $3 WHERE id = $1";

const STATS: &str = "SELECT COUNT(*), COUNT(CASE WHEN leased_until > $2 THEN 1 END) \
     FROM queue_messages WHERE topic = $1";

const DEAD_COUNT: &str = "SELECT COUNT(*) FROM queue_dead_letters WHERE topic = $1";

const DEAD_LETTERS: &str = "SELECT id, msg_key, payload, attempts, reason FROM queue_dead_letters \
     WHERE topic = $1 ORDER BY dead_at, id LIMIT $2";

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lease_sql(count: usize) -> String {
    format!(
        "UPDATE queue_messages SET leased_until = $1, consumer = $2, attempts = attempts + 1 \
         WHERE id IN ({})",
        placeholders(3, count)
    )
}

/// On SQLite the table is named `NOT INDEXED`, so the ids are looked up by rowid. Without
/// statistics SQLite costs `topic = ?` on the key index as a few rows, and from three ids on it
/// chose to scan that index (every message of the topic) over the lookups: with the seed's
/// backlog of 90,000 reports an ack of 128 took 28 ms instead of 3 ms, and acks were 14% of the
/// embedded pipeline's statement time.
fn ack_sql(count: usize, pg: bool) -> String {
    format!(
        "DELETE FROM queue_messages{} WHERE topic = $1 AND id IN ({}) RETURNING id, msg_key",
        if pg { "" } else { " NOT INDEXED" },
        placeholders(2, count)
    )
}

/// Makes the oldest remaining message of each given key its head.
fn promote_sql(keys: usize) -> String {
    format!(
        "UPDATE queue_messages SET head = TRUE WHERE NOT head AND id IN \
         (SELECT MIN(id) FROM queue_messages WHERE topic = $1 AND msg_key IN ({}) GROUP BY msg_key)",
        placeholders(2, keys)
    )
}

/// The queue in the deployment's database (SQLite or PostgreSQL). Cheap to clone.
#[derive(Clone)]
pub struct DatabaseQueue {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// SQLite: the turn this process's writers take before `BEGIN IMMEDIATE`, so they queue in
    /// order and start as soon as the lock is free instead of polling it with the busy handler's
    /// sleeps (up to 100 ms each). The busy timeout remains for other processes.
    sqlite_writer: tokio::sync::Mutex<()>,
    options: QueueOptions,
    target: DatabaseTarget,
    /// Per topic: woken by enqueues, acks and retries in this process so that a waiting
    /// `receive` looks again at once instead of at its next poll.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
}

enum Pool {
    Sqlite(SqliteFile),
    Postgres(PgPool),
}

impl fmt::Debug for DatabaseQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseQueue")
            .field("target", &self.inner.target.describe())
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Runs `$body` in a transaction on whichever backend the queue has; with `$pg`, the body learns
/// whether it runs on PostgreSQL. The transaction commits when the body finishes; a `?` or
/// `return` inside the body rolls it back. SQLite transactions take the write lock up front
/// (`BEGIN IMMEDIATE`): every transaction here writes, and a deferred one could fail to upgrade
/// its read lock instead of waiting on the busy timeout.
macro_rules! transaction {
    ($queue:expr, |$tx:ident| $body:expr) => {
        transaction!($queue, |$tx, _pg| $body)
    };
    ($queue:expr, |$tx:ident, $pg:ident| $body:expr) => {
        match &$queue.inner.pool {
            Pool::Sqlite(file) => {
                let _turn =
                    tokio::time::timeout(WRITE_TURN_TIMEOUT, $queue.inner.sqlite_writer.lock())
                        .await
                        .map_err(|_| QueueError::Busy {
                            waited: WRITE_TURN_TIMEOUT,
                        })?;
                let mut $tx = file.writer.begin_with("BEGIN IMMEDIATE").await?;
                let $pg = false;
                let output = $body;
                $tx.commit().await?;
                output
            }
            Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let $pg = true;
                let output = $body;
                $tx.commit().await?;
                output
            }
        }
    };
}

/// Runs `$body` against the pool directly (single read-only statements).
macro_rules! on_pool {
    ($queue:expr, |$pool:ident| $body:expr) => {
        match &$queue.inner.pool {
            Pool::Sqlite(file) => {
                let $pool = &file.readers;
                $body
            }
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Inside a `transaction!` body: moves message `$id` to the dead letters with `$reason`. The
/// caller follows up with `forget!` for it.
macro_rules! bury {
    ($tx:ident, $id:expr, $now:expr, $reason:expr) => {{
        sqlx::query(BURY)
            .bind($id)
            .bind($now)
            .bind($reason)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(DELETE_ONE).bind($id).execute(&mut *$tx).await?;
    }};
}

/// Inside a `transaction!` body, after messages `$removed` (id, key) left `queue_messages`:
/// makes the next message of each of their keys its head and lowers the topic's pending count.
/// The counter row is locked last in every transaction (enqueue included), so that on PostgreSQL
/// no two transactions wait on each other's row and counter locks in opposite orders.
macro_rules! forget {
    ($tx:ident, $topic:expr, $removed:expr) => {{
        let removed: &[(i64, String)] = $removed;
        if let Some((first, _)) = removed.first() {
            let keys: BTreeSet<&str> = removed.iter().map(|(_, key)| key.as_str()).collect();
            let mut promote = sqlx::query(AssertSqlSafe(promote_sql(keys.len()))).bind($topic);
            for key in keys {
                promote = promote.bind(key);
            }
            promote.execute(&mut *$tx).await?;
            sqlx::query(COUNT_DOWN)
                .bind($topic)
                .bind(first % COUNT_SLOTS)
                .bind(i64::try_from(removed.len()).unwrap_or(i64::MAX))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// A row the claim found deliverable.
#[derive(sqlx::FromRow)]
struct Claimable {
    id: i64,
    msg_key: String,
    payload: Vec<u8>,
    attempts: i32,
    last_error: Option<String>,
}

/// What one claiming transaction did.
struct Claim {
    deliveries: Vec<Delivery>,
    /// Messages found out of attempts and dead-lettered; their keys may now have deliverable
    /// successors.
    buried: usize,
}

impl DatabaseQueue {
    /// Connects (creating the SQLite file and its folder if needed) and creates the queue's
    /// tables if they do not exist yet.
    pub async fn open(
        target: &DatabaseTarget,
        options: QueueOptions,
    ) -> Result<DatabaseQueue, QueueError> {
        options.validate()?;
        let pool = match target {
            DatabaseTarget::SqliteFile(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|source| QueueError::DataDir {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                Pool::Sqlite(zerotrace_dbconn::open_sqlite(path, 8, PageCache::Small).await?)
            }
            DatabaseTarget::Postgres(url) => {
                Pool::Postgres(zerotrace_dbconn::connect_postgres(url, "zerotrace-queue", 8).await?)
            }
        };
        let queue = DatabaseQueue {
            inner: Arc::new(Inner {
                pool,
                sqlite_writer: tokio::sync::Mutex::new(()),
                options,
                target: target.clone(),
                wakers: Mutex::new(HashMap::new()),
            }),
        };
        queue.create_schema().await?;
        Ok(queue)
    }

    /// The backend and where it is, for logs (no password).
    pub fn describe(&self) -> String {
        format!("database queue in {}", self.inner.target.describe())
    }

    /// Not through sqlx's migrator: the store's migrator owns `_sqlx_migrations` in the same
    /// database, and these tables are the queue's own business.
    async fn create_schema(&self) -> Result<(), QueueError> {
        transaction!(self, |tx, pg| {
            if pg {
                // Two processes starting together would otherwise race on CREATE … IF NOT EXISTS.
                sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
                    .bind(PG_LOCK_CLASS)
                    .execute(&mut *tx)
                    .await?;
            }
            for statement in if pg { POSTGRES_SCHEMA } else { SQLITE_SCHEMA } {
                sqlx::query(*statement).execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    /// An enqueue on SQLite, begun, run and committed on the writer connection's own handle
    /// (`zerotrace_dbconn::with_handle`). It is the one write of every inventory an API takes:
    /// through sqlx its five statements and the pool's check on release were seven trips to the
    /// connection's thread and back; this is two.
    async fn enqueue_on_sqlite(
        &self,
        file: &SqliteFile,
        topic: &str,
        key: &str,
        payload: &[u8],
        now: i64,
        max_pending: i64,
    ) -> Result<i64, QueueError> {
        let _turn = tokio::time::timeout(WRITE_TURN_TIMEOUT, self.inner.sqlite_writer.lock())
            .await
            .map_err(|_| QueueError::Busy {
                waited: WRITE_TURN_TIMEOUT,
            })?;
        let mut writer = file.writer.acquire().await?;
        zerotrace_dbconn::with_handle(&mut writer, |handle| {
            let tx = handle.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let pending: i64 = tx.query_row(PENDING, [topic], |row| row.get(0))?;
            if pending >= max_pending {
                return Err(full(topic, pending));
            }
            let earlier: Option<i64> = tx
                .query_row(LAST_OF_KEY, [topic, key], |row| row.get(0))
                .optional()?;
            let id: i64 = tx.query_row(
                INSERT,
                rusqlite::params![topic, key, payload, now, earlier.is_none()],
                |row| row.get(0),
            )?;
            tx.execute(COUNT_UP, rusqlite::params![topic, id % COUNT_SLOTS])?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    fn waker(&self, topic: &str) -> Arc<Notify> {
        let mut wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(wakers.entry(topic.to_owned()).or_default())
    }

    fn wake(&self, topic: &str) {
        let wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = wakers.get(topic) {
            waker.notify_waiters();
        }
    }

    async fn claim(&self, topic: &str, consumer: &str, max: usize) -> Result<Claim, QueueError> {
        let options = &self.inner.options;
        let now = now_ms();
        let leased_until = now.saturating_add(options.visibility_ms());
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let max_attempts = i64::from(options.max_attempts);
        let claim = transaction!(self, |tx, pg| {
            let rows: Vec<Claimable> = sqlx::query_as(if pg { CLAIM_LOCKING } else { CLAIM })
                .bind(topic)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut deliveries = Vec::with_capacity(rows.len());
            let mut leased = Vec::with_capacity(rows.len());
            let mut buried = Vec::new();
            for row in rows {
                let (id, attempts) = (row.id, row.attempts);
                if i64::from(attempts) >= max_attempts {
                    let reason =
                        expired_reason(options.visibility_timeout, attempts, row.last_error);
                    tracing::warn!(topic, id, attempts, %reason, "queue message dead-lettered");
                    bury!(tx, id, now, &reason);
                    buried.push((id, row.msg_key));
                } else {
                    leased.push(id);
                    deliveries.push(Delivery {
                        topic: topic.to_owned(),
                        id: DeliveryId(id.to_string()),
                        key: row.msg_key,
                        payload: row.payload,
                        attempt: u32::try_from(attempts).unwrap_or_default() + 1,
                    });
                }
            }
            if !leased.is_empty() {
                let mut lease = sqlx::query(AssertSqlSafe(lease_sql(leased.len())))
                    .bind(leased_until)
                    .bind(consumer);
                for id in &leased {
                    lease = lease.bind(id);
                }
                lease.execute(&mut *tx).await?;
            }
            forget!(tx, topic, &buried);
            Claim {
                deliveries,
                buried: buried.len(),
            }
        });
        Ok(claim)
    }
}

fn expired_reason(
    visibility_timeout: Duration,
    attempts: i32,
    last_error: Option<String>,
) -> String {
    let mut reason = format!(
        "not acknowledged within the visibility timeout ({} ms) after {attempts} attempts",
        millis(visibility_timeout)
    );
    if let Some(error) = last_error {
        reason.push_str("; last error: ");
        reason.push_str(&error);
    }
    reason
}

fn row_id(id: &DeliveryId) -> Result<i64, QueueError> {
    id.0.parse().map_err(|_| QueueError::DeliveryId {
        id: id.0.clone(),
        reason: "the database queue's ids are row numbers",
    })
}

impl Queue for DatabaseQueue {
    async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<DeliveryId, QueueError> {
        validate_topic(topic)?;
        let max_pending = i64::try_from(self.inner.options.max_pending).unwrap_or(i64::MAX);
        let now = now_ms();
        let id = match &self.inner.pool {
            Pool::Sqlite(file) => {
                self.enqueue_on_sqlite(file, topic, key, payload, now, max_pending)
                    .await?
            }
            Pool::Postgres(_) => transaction!(self, |tx| {
                sqlx::query(LOCK_KEY)
                    .bind(PG_LOCK_CLASS)
                    .bind(format!("{topic}\n{key}"))
                    .execute(&mut *tx)
                    .await?;
                let pending: i64 = sqlx::query_scalar(PENDING)
                    .bind(topic)
                    .fetch_one(&mut *tx)
                    .await?;
                if pending >= max_pending {
                    return Err(full(topic, pending));
                }
                let earlier: Option<i64> = sqlx::query_scalar(LAST_OF_KEY_LOCKING)
                    .bind(topic)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let id: i64 = sqlx::query_scalar(INSERT)
                    .bind(topic)
                    .bind(key)
                    .bind(payload)
                    .bind(now)
                    .bind(earlier.is_none())
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(COUNT_UP)
                    .bind(topic)
                    .bind(id % COUNT_SLOTS)
                    .execute(&mut *tx)
                    .await?;
                id
            }),
        };
        self.wake(topic);
        Ok(DeliveryId(id.to_string()))
    }

    async fn receive(
        &self,
        topic: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        validate_topic(topic)?;
        let max = max.min(MAX_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = deadline(wait);
        let waker = self.waker(topic);
        let mut pause = POLL_MIN;
        loop {
            // Registered before looking, so a wake-up between the look and the sleep is not lost.
            let mut woken = std::pin::pin!(waker.notified());
            woken.as_mut().enable();
            let claim = self.claim(topic, consumer, max).await?;
            if !claim.deliveries.is_empty() {
                return Ok(claim.deliveries);
            }
            if claim.buried > 0 {
                continue;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(pause.min(deadline - now)) => {}
            }
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    async fn ack(&self, topic: &str, ids: &[DeliveryId]) -> Result<(), QueueError> {
        validate_topic(topic)?;
        let ids = ids.iter().map(row_id).collect::<Result<Vec<_>, _>>()?;
        let mut removed_any = false;
        for chunk in ids.chunks(MAX_BATCH) {
            let removed = transaction!(self, |tx, pg| {
                let mut delete =
                    sqlx::query_as(AssertSqlSafe(ack_sql(chunk.len(), pg))).bind(topic);
                for id in chunk {
                    delete = delete.bind(id);
                }
                let removed: Vec<(i64, String)> = delete.fetch_all(&mut *tx).await?;
                forget!(tx, topic, &removed);
                removed.len()
            });
            removed_any |= removed > 0;
        }
        if removed_any {
            // The next message of an acknowledged key may have become deliverable.
            self.wake(topic);
        }
        Ok(())
    }

    async fn retry(
        &self,
        topic: &str,
        id: &DeliveryId,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        validate_topic(topic)?;
        let row = row_id(id)?;
        let now = now_ms();
        let available_at = now.saturating_add(millis(delay));
        let max_attempts = i64::from(self.inner.options.max_attempts);
        transaction!(self, |tx, pg| {
            let in_flight: Option<(i32, String)> =
                sqlx::query_as(if pg { IN_FLIGHT_LOCKING } else { IN_FLIGHT })
                    .bind(topic)
                    .bind(row)
                    .fetch_optional(&mut *tx)
                    .await?;
            match in_flight {
                None => {}
                Some((attempts, key)) if i64::from(attempts) >= max_attempts => {
                    tracing::warn!(
                        topic,
                        id = row,
                        attempts,
                        reason,
                        "queue message dead-lettered"
                    );
                    bury!(tx, row, now, reason);
                    forget!(tx, topic, &[(row, key)]);
                }
                Some(_) => {
                    sqlx::query(GIVE_BACK)
                        .bind(row)
                        .bind(available_at)
                        .bind(reason)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        });
        self.wake(topic);
        Ok(())
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        validate_topic(topic)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, Vec<u8>, i32, String)> = on_pool!(self, |pool| {
            sqlx::query_as(DEAD_LETTERS)
                .bind(topic)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, key, payload, attempts, reason)| DeadLetter {
                id: DeliveryId(id.to_string()),
                key,
                payload,
                attempts: u32::try_from(attempts).unwrap_or_default(),
                reason,
            })
            .collect())
    }

    async fn stats(&self, topic: &str) -> Result<TopicStats, QueueError> {
        validate_topic(topic)?;
        let now = now_ms();
        let ((pending, in_flight), dead): ((i64, i64), i64) = on_pool!(self, |pool| {
            (
                sqlx::query_as(STATS)
                    .bind(topic)
                    .bind(now)
                    .fetch_one(pool)
                    .await?,
                sqlx::query_scalar(DEAD_COUNT)
                    .bind(topic)
                    .fetch_one(pool)
                    .await?,
            )
        });
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        Ok(TopicStats {
            pending: count(pending),
            in_flight: count(in_flight),
            dead: count(dead),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for an ack of `count` messages on a queue holding a few hundred.
    async fn sqlite_ack_plan(count: usize) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = DatabaseQueue::open(
            &DatabaseTarget::SqliteFile(dir.path().join("queue.db")),
            QueueOptions::default(),
        )
        .await
        .expect("open");
        for n in 0..300 {
            queue
                .enqueue("inventory", &format!("agent-{n}"), b"report")
                .await
                .expect("enqueue");
        }
        let Pool::Sqlite(file) = &queue.inner.pool else {
            panic!("a file target opens SQLite");
        };
        let plan = format!("EXPLAIN QUERY PLAN {}", ack_sql(count, false));
        let mut explain =
            sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(plan)).bind("inventory");
        for id in 0..count {
            explain = explain.bind(id as i64);
        }
        let steps = explain.fetch_all(&file.readers).await.expect("explain");
        steps
            .into_iter()
            .map(|(.., step)| step)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn a_sqlite_ack_looks_its_messages_up_by_rowid() {
        for count in [1, 3, MAX_BATCH] {
            let plan = sqlite_ack_plan(count).await;
            assert!(
                plan.contains("USING INTEGER PRIMARY KEY") && !plan.contains("INDEX"),
                "an ack of {count} plans: {plan}"
            );
        }
    }
}
