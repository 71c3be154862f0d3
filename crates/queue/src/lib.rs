//! The durable queue between the API and the workers: one [`Queue`] trait and two backends, chosen
//! at start-up by [`AnyQueue::connect`].
//!
//! Producers [`enqueue`](Queue::enqueue) a payload under a topic (`"inventory"`, `"imports"`, …)
//! and a key (the partition/ordering key, e.g. an agent id). Workers [`receive`](Queue::receive)
//! batches, process them, and [`ack`](Queue::ack) after their own database commit, or
//! [`retry`](Queue::retry) with a delay and a reason.
//!
//! # Guarantees common to both backends
//!
//! - **Durable on `Ok`.** `enqueue` returns once the message is committed (database) or
//!   acknowledged by the server (Redis). On SQLite the connection runs with `synchronous=NORMAL`
//!   in WAL mode: a committed message survives a crash of the process, while a power loss can
//!   drop the last commits. On Redis, durability is whatever the server's persistence settings
//!   give (`appendonly yes` with `appendfsync everysec` or `always` for production).
//! - **At-least-once delivery.** A delivery that is not acknowledged within
//!   [`QueueOptions::visibility_timeout`] is delivered again, to any consumer, with
//!   [`Delivery::attempt`] one higher. Handlers must therefore be idempotent. A late `ack` from
//!   the consumer that was too slow still removes the message; acking twice is harmless.
//! - **Dead letters.** A message delivered [`QueueOptions::max_attempts`] times without being
//!   acknowledged (its visibility timeout expired, or it was given back with `retry`) is moved to
//!   the topic's dead letters with its attempt count and a reason, and is never delivered again.
//!   [`Queue::dead_letters`] lists them, oldest first.
//! - **Retry.** `retry` ends the current attempt now instead of at the visibility timeout; the
//!   message is delivered again after the delay, or dead-lettered at once (with the given reason)
//!   if that was its last attempt.
//! - **Backpressure.** `enqueue` fails with [`QueueError::Full`] while a topic has
//!   [`QueueOptions::max_pending`] messages or more that are neither acknowledged nor
//!   dead-lettered (in flight and waiting retries included). Callers answer it with a 503 and a
//!   `Retry-After`, never by dropping what they were given.
//!
//! # Database backend ([`DatabaseQueue`])
//!
//! Two tables, `queue_messages` and `queue_dead_letters` (plus per-topic counters in
//! `queue_counts`), in the same SQLite file or PostgreSQL database as the rest of the data,
//! created by [`DatabaseQueue::open`] with idempotent DDL. A delivery is a lease: `receive` sets
//! `leased_until = now + visibility_timeout` and increments `attempts` in one transaction
//! (`BEGIN IMMEDIATE` on SQLite, `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two consumers never
//! hold the same message at once.
//!
//! **Ordering:** per `(topic, key)`, messages are delivered strictly in enqueue order and never
//! two at once: a message is not deliverable while an earlier message with the same key is still
//! in the queue (in flight, waiting for a retry delay, or simply not yet processed). Across keys
//! delivery is FIFO by id. On PostgreSQL, enqueues of one key are serialized by an advisory lock
//! so their ids follow their commit order; ids of concurrent enqueues of *different* keys may
//! become visible slightly out of order.
//!
//! An idle `receive` polls every 50 ms, backing off to 250 ms; an enqueue in the same process
//! wakes it at once. Timestamps are the worker hosts' clocks in Unix milliseconds, so the hosts'
//! clocks must agree to well within the visibility timeout (NTP). On PostgreSQL the pending count
//! that backpressure reads is taken before the insert, so concurrent enqueues from several
//! connections may overshoot `max_pending` by their number.
//!
//! # Redis Streams backend ([`RedisQueue`])
//!
//! One stream per topic (`{prefix}:{topic}`), consumer group `workers`, dead letters in the
//! stream `{prefix}:{topic}:dead`. Every step that must not be interleaved (the backpressure
//! check with the add, reclaiming expired deliveries with dead-lettering, retry) runs as a Lua
//! script, so it is atomic on the server. A blocking `XREADGROUP` runs on a connection of its
//! own, never on the shared command connection.
//!
//! - The attempt number is the entry's delivery count (kept by the consumer group) plus the
//!   attempts of the earlier copies of the message (field `a`, see retry).
//! - Expired deliveries are reclaimed with `XAUTOCLAIM` at the start of each `receive` and at
//!   least once a second (or once per visibility timeout, if shorter) while a `receive` waits.
//! - `retry` acknowledges the entry (so it is not reclaimed) but leaves it in the stream, and
//!   records it in the sorted set `{prefix}:{topic}:delayed` scored by the time it is due. When
//!   it is due, a `receive` re-adds it at the end of the stream as a new entry carrying the
//!   attempts so far and the reason, and deletes the original. The delay is honoured exactly
//!   (to within a `receive`'s reaction time), and the message counts as pending all along.
//! - **Ordering:** first deliveries are FIFO per stream; there is **no per-key ordering** across
//!   consumers, and a redelivered or retried message comes after newer ones. The pipeline stays
//!   correct through idempotent handling and per-agent sequence numbers, not through the queue.
//! - `TopicStats::in_flight` counts delivered, unacknowledged entries, including those whose
//!   visibility timeout has expired but which no consumer has reclaimed yet.
//! - Requires Redis 7.0 or later (`XAUTOCLAIM` that reports deleted entries).

mod any;
mod database;
mod streams;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use any::{AnyQueue, DatabaseTarget, REDIS_PREFIX};
pub use database::DatabaseQueue;
pub use streams::RedisQueue;

/// The most deliveries one `receive` returns, whatever `max` asks for; it bounds the size of the
/// statements and scripts a batch turns into.
pub const MAX_BATCH: usize = 1000;

/// The longest topic name accepted.
pub const MAX_TOPIC_LEN: usize = 100;

/// How a queue treats its messages. The same options apply to every topic of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueOptions {
    /// A delivery not acknowledged within this is delivered again.
    pub visibility_timeout: Duration,
    /// After this many deliveries without an acknowledgement the message is dead-lettered.
    pub max_attempts: u32,
    /// Per topic: an enqueue while this many messages are pending fails with
    /// [`QueueError::Full`].
    pub max_pending: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            visibility_timeout: Duration::from_secs(30),
            max_attempts: 5,
            max_pending: 100_000,
        }
    }
}

impl QueueOptions {
    fn validate(&self) -> Result<(), QueueError> {
        let problem = if self.visibility_timeout < Duration::from_millis(1) {
            "visibility_timeout must be at least 1 ms"
        } else if self.visibility_timeout > Duration::from_secs(86_400 * 365) {
            "visibility_timeout must be at most one year"
        } else if self.max_attempts == 0 {
            "max_attempts must be at least 1"
        } else if self.max_pending == 0 {
            "max_pending must be at least 1"
        } else if i64::try_from(self.max_pending).is_err() {
            "max_pending must fit in a signed 64-bit integer"
        } else {
            return Ok(());
        };
        Err(QueueError::Options(problem))
    }

    fn visibility_ms(&self) -> i64 {
        millis(self.visibility_timeout)
    }
}

/// One message handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    /// What to pass to `ack` or `retry`.
    pub id: DeliveryId,
    /// The partition/ordering key given at enqueue.
    pub key: String,
    pub payload: Vec<u8>,
    /// 1 on the first delivery.
    pub attempt: u32,
}

/// Identifies a message to `ack` and `retry`. Opaque: the row id on the database backend, the
/// stream entry id on Redis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub String);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message that ran out of attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The id it had while it was queued.
    pub id: DeliveryId,
    pub key: String,
    pub payload: Vec<u8>,
    /// How many times it was delivered.
    pub attempts: u32,
    /// Why it was given up: the last `retry` reason, or the expired visibility timeout.
    pub reason: String,
}

/// A topic's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Enqueued and neither acknowledged nor dead-lettered, in flight included.
    pub pending: u64,
    /// Delivered and not yet acknowledged (see the backend notes in the crate docs).
    pub in_flight: u64,
    /// Dead letters kept for the topic.
    pub dead: u64,
}

#[derive(thiserror::Error, Debug)]
pub enum QueueError {
    #[error(
        "queue topic {topic:?} is full: {pending} messages pending, at or above max_pending; try again later"
    )]
    Full { topic: String, pending: u64 },
    #[error("the queue database is busy: no write turn within {} s; try again later", waited.as_secs())]
    Busy { waited: Duration },
    #[error("queue database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite refused or failed a step on the writer's own handle (an enqueue).
    #[error("queue database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("queue Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid queue URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid queue topic {topic:?}: {reason}")]
    Topic { topic: String, reason: &'static str },
    #[error("invalid delivery id {id:?}: {reason}")]
    DeliveryId { id: String, reason: &'static str },
    #[error("invalid queue options: {0}")]
    Options(&'static str),
    #[error("cannot create the directory {path} for the queue database: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unexpected reply from Redis to {command}: {detail}")]
    Reply {
        command: &'static str,
        detail: String,
    },
}

/// A durable queue of topics. Both backends implement it; the server codes against it through
/// [`AnyQueue`].
pub trait Queue: Send + Sync {
    /// Adds a message. Durable when it returns `Ok` (committed to the database / acknowledged by
    /// Redis). Fails with [`QueueError::Full`] when the topic has `max_pending` messages pending.
    fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<DeliveryId, QueueError>> + Send;

    /// Up to `max` (at most [`MAX_BATCH`]) deliveries for `consumer` (a name unique per worker
    /// process), waiting up to `wait` for the first one; an empty vec on timeout. Includes
    /// redeliveries of messages whose visibility timeout expired.
    ///
    /// Cancelling the future (e.g. losing a `select!` to shutdown) loses nothing: whatever it had
    /// already claimed is delivered again once its visibility timeout expires.
    fn receive(
        &self,
        topic: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, QueueError>> + Send;

    /// Acknowledges (deletes) processed deliveries. Idempotent; acking an unknown id is `Ok`.
    fn ack(
        &self,
        topic: &str,
        ids: &[DeliveryId],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives a delivery back for another attempt after `delay`. The attempt it ends counts; when
    /// it was the last one the message is dead-lettered at once with `reason`, otherwise `reason`
    /// is kept for the dead letter should a later attempt expire. An id that is not in flight
    /// (already acknowledged, dead-lettered or given back) is ignored.
    fn retry(
        &self,
        topic: &str,
        id: &DeliveryId,
        delay: Duration,
        reason: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The topic's oldest `limit` dead letters.
    fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, QueueError>> + Send;

    fn stats(&self, topic: &str) -> impl Future<Output = Result<TopicStats, QueueError>> + Send;
}

/// Topic names become parts of Redis keys and index entries: letters, digits, `_`, `-` and `.`,
/// so that no topic can collide with another topic's dead-letter or retry keys.
fn validate_topic(topic: &str) -> Result<(), QueueError> {
    let reason = if topic.is_empty() {
        "must not be empty"
    } else if topic.len() > MAX_TOPIC_LEN {
        "must be at most 100 bytes long"
    } else if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        "may contain only ASCII letters, digits, '_', '-' and '.'"
    } else {
        return Ok(());
    };
    Err(QueueError::Topic {
        topic: topic.to_owned(),
        reason,
    })
}

/// When a `receive` that may wait `wait` gives up. Waits beyond a day are cut to a day, which no
/// caller means literally and which keeps the `Instant` arithmetic from overflowing.
fn deadline(wait: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + wait.min(Duration::from_secs(86_400))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A URL safe for logs: the user and password are replaced by `…`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_checked() {
        assert!(validate_topic("inventory").is_ok());
        assert!(validate_topic("ct.v1-log_2").is_ok());
        for bad in ["", "a:b", "a b", "é", &"x".repeat(101)] {
            assert!(
                matches!(validate_topic(bad), Err(QueueError::Topic { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn options_are_checked() {
        assert!(QueueOptions::default().validate().is_ok());
        let zero_attempts = QueueOptions {
            max_attempts: 0,
            ..QueueOptions::default()
        };
        assert!(matches!(
            zero_attempts.validate(),
            Err(QueueError::Options("max_attempts must be at least 1"))
        ));
        let no_room = QueueOptions {
            max_pending: 0,
            ..QueueOptions::default()
        };
        assert!(no_room.validate().is_err());
        let no_time = QueueOptions {
            visibility_timeout: Duration::ZERO,
            ..QueueOptions::default()
        };
        assert!(no_time.validate().is_err());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact("redis://user:secret@cache:6379/0"),
            "redis://…@cache:6379/0"
        );
        assert_eq!(redact("redis://cache:6379"), "redis://cache:6379");
    }
}
