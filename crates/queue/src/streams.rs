//! The queue on Redis Streams: one stream and one consumer group per topic.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Script, Value};

use crate::{
    DeadLetter, Delivery, DeliveryId, MAX_BATCH, Queue, QueueError, QueueOptions, TopicStats,
    deadline, millis, now_ms, redact, validate_topic,
};

/// The consumer group of every topic (the Lua scripts name it too).
const GROUP: &str = "workers";

/// One blocking read waits at most this long (and at most the visibility timeout), so that a
/// waiting `receive` looks for expired deliveries and due retries at least this often.
const MAX_BLOCK: Duration = Duration::from_secs(1);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Blocking-read connections kept for reuse; more concurrent receives open more and close the
/// surplus afterwards.
const IDLE_READERS: usize = 16;

/// `(entry id, field names and values)`, as XREADGROUP and XRANGE return them.
type Entry = (String, Vec<Vec<u8>>);

/// claim.lua's answer: the reclaimed deliveries as `(entry id, fields, attempt)`, and when the
/// next waiting retry is due (ms), if any.
type ClaimReply = (Vec<(String, Vec<Vec<u8>>, i64)>, Option<i64>);

/// The queue on Redis Streams. Cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    commands: ConnectionManager,
    /// A blocking XREADGROUP holds its connection for the whole wait and would stall every
    /// other command sent on it, so blocking reads get connections of their own.
    readers: Mutex<Vec<MultiplexedConnection>>,
    prefix: String,
    options: QueueOptions,
    url: String,
    scripts: Scripts,
}

struct Scripts {
    enqueue: Script,
    claim: Script,
    retry: Script,
    ack: Script,
    stats: Script,
}

struct Keys {
    stream: String,
    dead: String,
    delayed: String,
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.prefix)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl RedisQueue {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`). Every key the queue
    /// writes starts with `prefix:`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        options: QueueOptions,
    ) -> Result<RedisQueue, QueueError> {
        options.validate()?;
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(QueueError::Options(
                "the Redis key prefix must be non-empty and contain no braces",
            ));
        }
        let client = Client::open(url).map_err(|error| QueueError::Url {
            url: redact(url),
            reason: error.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let commands = client.get_connection_manager_with_config(config).await?;
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                client,
                commands,
                readers: Mutex::new(Vec::new()),
                prefix: prefix.to_owned(),
                options,
                url: redact(url),
                scripts: Scripts {
                    enqueue: Script::new(include_str!("lua/enqueue.lua")),
                    claim: Script::new(concat!(
                        include_str!("lua/common.lua"),
                        include_str!("lua/claim.lua")
                    )),
                    retry: Script::new(concat!(
                        include_str!("lua/common.lua"),
                        include_str!("lua/retry.lua")
                    )),
                    ack: Script::new(include_str!("lua/ack.lua")),
                    stats: Script::new(include_str!("lua/stats.lua")),
                },
            }),
        })
    }

    /// The backend and where it is, for logs (no password).
    pub fn describe(&self) -> String {
        format!(
            "Redis Streams queue at {} (key prefix {})",
            self.inner.url, self.inner.prefix
        )
    }

    fn keys(&self, topic: &str) -> Keys {
        let stream = format!("{}:{topic}", self.inner.prefix);
        Keys {
            dead: format!("{stream}:dead"),
            delayed: format!("{stream}:delayed"),
            stream,
        }
    }

    fn commands(&self) -> ConnectionManager {
        self.inner.commands.clone()
    }

    async fn reader(&self) -> Result<MultiplexedConnection, QueueError> {
        let idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => Ok(self
                .inner
                .client
                .get_multiplexed_async_connection_with_config(
                    &AsyncConnectionConfig::new().set_connection_timeout(Some(CONNECT_TIMEOUT)),
                )
                .await?),
        }
    }

    fn give_back(&self, reader: MultiplexedConnection) {
        let mut readers = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if readers.len() < IDLE_READERS {
            readers.push(reader);
        }
    }

    /// New entries for `consumer`, waiting up to `block` (not at all when it is under 1 ms).
    async fn read_new(
        &self,
        stream: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, QueueError> {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        // BLOCK 0 would mean "forever".
        if millis(block) > 0 {
            command.arg("BLOCK").arg(millis(block));
        }
        command.arg("STREAMS").arg(stream).arg(">");
        let mut reader = self.reader().await?;
        reader.set_response_timeout(block + COMMAND_TIMEOUT);
        // On an error the connection is dropped rather than given back: its state is unknown.
        let reply: Option<Vec<(String, Vec<Entry>)>> = command.query_async(&mut reader).await?;
        self.give_back(reader);
        Ok(reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries)
            .collect())
    }

    /// Turns an entry into a delivery; an entry the queue did not write goes to the dead letters.
    /// `attempt` is known for a reclaimed delivery; an entry's first delivery (`None`) follows
    /// the attempts made on the message's earlier copies.
    async fn deliver(
        &self,
        topic: &str,
        keys: &Keys,
        id: String,
        fields: Vec<Vec<u8>>,
        attempt: Option<u32>,
    ) -> Result<Option<Delivery>, QueueError> {
        match parse_message(fields) {
            Ok(message) => Ok(Some(Delivery {
                topic: topic.to_owned(),
                id: DeliveryId(id),
                key: message.key,
                payload: message.payload,
                attempt: attempt.unwrap_or(message.prior_attempts.saturating_add(1)),
            })),
            Err(problem) => {
                let reason = format!("malformed queue entry: {problem}");
                tracing::warn!(topic, id, %reason, "queue entry dead-lettered");
                // With no attempts allowed, retry.lua dead-letters the entry at once.
                self.run_retry(keys, &id, 0, &reason, 0).await?;
                Ok(None)
            }
        }
    }

    /// Runs retry.lua; see its header for the outcome codes.
    async fn run_retry(
        &self,
        keys: &Keys,
        id: &str,
        due: i64,
        reason: &str,
        max_attempts: u32,
    ) -> Result<i64, QueueError> {
        Ok(self
            .inner
            .scripts
            .retry
            .key(&keys.stream)
            .key(&keys.dead)
            .key(&keys.delayed)
            .arg(id)
            .arg(due)
            .arg(reason)
            .arg(max_attempts)
            .arg(now_ms())
            .invoke_async(&mut self.commands())
            .await?)
    }
}

/// A message's own fields, read from a stream entry.
struct Message {
    key: String,
    payload: Vec<u8>,
    /// Attempts made on earlier copies of the message (before a retry re-added it).
    prior_attempts: u32,
}

fn parse_message(fields: Vec<Vec<u8>>) -> Result<Message, &'static str> {
    let (mut key, mut payload, mut prior_attempts) = (None, None, 0);
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        match name.as_slice() {
            b"k" => key = Some(String::from_utf8(value).map_err(|_| "the key (k) is not UTF-8")?),
            b"p" => payload = Some(value),
            b"a" => {
                prior_attempts = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or("the attempt count (a) is not a number")?;
            }
            _ => {}
        }
    }
    Ok(Message {
        key: key.ok_or("no key field (k)")?,
        payload: payload.ok_or("no payload field (p)")?,
        prior_attempts,
    })
}

/// Stream entry ids are `<milliseconds>-<sequence>`; anything else is not one of ours.
fn stream_id(id: &DeliveryId) -> Result<&str, QueueError> {
    let well_formed =
        id.0.split_once('-')
            .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok());
    if well_formed {
        Ok(&id.0)
    } else {
        Err(QueueError::DeliveryId {
            id: id.0.clone(),
            reason: "the Redis queue's ids are stream entry ids (<ms>-<seq>)",
        })
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl Queue for RedisQueue {
    async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<DeliveryId, QueueError> {
        validate_topic(topic)?;
        let keys = self.keys(topic);
        let reply: Value = self
            .inner
            .scripts
            .enqueue
            .key(&keys.stream)
            .arg(self.inner.options.max_pending)
            .arg(key)
            .arg(payload)
            .arg(now_ms())
            .invoke_async(&mut self.commands())
            .await?;
        match reply {
            Value::Int(pending) => Err(QueueError::Full {
                topic: topic.to_owned(),
                pending: count(pending),
            }),
            Value::BulkString(id) => {
                String::from_utf8(id)
                    .map(DeliveryId)
                    .map_err(|error| QueueError::Reply {
                        command: "XADD",
                        detail: format!("an entry id that is not UTF-8: {error}"),
                    })
            }
            other => Err(QueueError::Reply {
                command: "XADD",
                detail: format!("{other:?} instead of an entry id"),
            }),
        }
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
        let options = &self.inner.options;
        let keys = self.keys(topic);
        let deadline = deadline(wait);
        loop {
            let (reclaimed, next_due): ClaimReply = self
                .inner
                .scripts
                .claim
                .key(&keys.stream)
                .key(&keys.dead)
                .key(&keys.delayed)
                .arg(consumer)
                .arg(options.visibility_ms())
                .arg(max)
                .arg(options.max_attempts)
                .arg(now_ms())
                .invoke_async(&mut self.commands())
                .await?;
            let mut deliveries = Vec::with_capacity(reclaimed.len());
            for (id, fields, attempt) in reclaimed {
                let attempt = Some(u32::try_from(attempt).unwrap_or(u32::MAX));
                if let Some(delivery) = self.deliver(topic, &keys, id, fields, attempt).await? {
                    deliveries.push(delivery);
                }
            }
            if deliveries.len() < max {
                // Block only when there is nothing to hand out yet, and not past the next due retry.
                let block = if deliveries.is_empty() {
                    let until_due = next_due.map_or(MAX_BLOCK, |due| {
                        Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or_default())
                    });
                    deadline
                        .saturating_duration_since(tokio::time::Instant::now())
                        .min(MAX_BLOCK)
                        .min(options.visibility_timeout)
                        .min(until_due)
                } else {
                    Duration::ZERO
                };
                let fresh = self
                    .read_new(&keys.stream, consumer, max - deliveries.len(), block)
                    .await?;
                for (id, fields) in fresh {
                    if let Some(delivery) = self.deliver(topic, &keys, id, fields, None).await? {
                        deliveries.push(delivery);
                    }
                }
            }
            if !deliveries.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(deliveries);
            }
        }
    }

    async fn ack(&self, topic: &str, ids: &[DeliveryId]) -> Result<(), QueueError> {
        validate_topic(topic)?;
        let ids = ids.iter().map(stream_id).collect::<Result<Vec<_>, _>>()?;
        let stream = self.keys(topic).stream;
        for chunk in ids.chunks(MAX_BATCH) {
            let _deleted: i64 = self
                .inner
                .scripts
                .ack
                .key(&stream)
                .arg(chunk)
                .invoke_async(&mut self.commands())
                .await?;
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
        let id = stream_id(id)?;
        let keys = self.keys(topic);
        let due = now_ms().saturating_add(millis(delay));
        let outcome = self
            .run_retry(&keys, id, due, reason, self.inner.options.max_attempts)
            .await?;
        if outcome == 2 {
            tracing::warn!(topic, id, reason, "queue message dead-lettered");
        }
        Ok(())
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        validate_topic(topic)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(self.keys(topic).dead)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.commands())
            .await?;
        Ok(entries.into_iter().map(dead_letter).collect())
    }

    async fn stats(&self, topic: &str) -> Result<TopicStats, QueueError> {
        validate_topic(topic)?;
        let keys = self.keys(topic);
        let (pending, in_flight, dead): (i64, i64, i64) = self
            .inner
            .scripts
            .stats
            .key(&keys.stream)
            .key(&keys.dead)
            .invoke_async(&mut self.commands())
            .await?;
        Ok(TopicStats {
            pending: count(pending),
            in_flight: count(in_flight),
            dead: count(dead),
        })
    }
}

/// A dead-letter entry (fields `i`, `k`, `p`, `a`, `r` written by `bury` in common.lua). Fields
/// that are missing or unreadable come back empty rather than hiding the rest of the entry.
fn dead_letter((entry_id, fields): Entry) -> DeadLetter {
    let mut letter = DeadLetter {
        id: DeliveryId(entry_id),
        key: String::new(),
        payload: Vec::new(),
        attempts: 0,
        reason: String::new(),
    };
    let text = |value: Vec<u8>| String::from_utf8_lossy(&value).into_owned();
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        match name.as_slice() {
            b"i" => letter.id = DeliveryId(text(value)),
            b"k" => letter.key = text(value),
            b"p" => letter.payload = value,
            b"a" => letter.attempts = text(value).parse().unwrap_or_default(),
            b"r" => letter.reason = text(value),
            _ => {}
        }
    }
    letter
}
