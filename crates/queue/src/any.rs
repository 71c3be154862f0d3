use std::path::PathBuf;
use std::time::Duration;

use crate::{
    DatabaseQueue, DeadLetter, Delivery, DeliveryId, Queue, QueueError, QueueOptions, RedisQueue,
    TopicStats, redact,
};

/// The default key prefix of the Redis backend (deployments sharing one Redis choose their own).
pub const REDIS_PREFIX: &str = "zerotrace";

/// Where the database queue keeps its tables: the deployment's own database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// The embedded default: one SQLite file (created with its folder if missing).
    SqliteFile(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…`); a `search_path` given through the URL's
    /// `options` parameter selects the schema.
    Postgres(String),
}

impl DatabaseTarget {
    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::SqliteFile(path) => format!("sqlite {}", path.display()),
            DatabaseTarget::Postgres(url) => format!("postgres {}", redact(url)),
        }
    }
}

/// The backend chosen at run time; implements [`Queue`] by delegating. Cheap to clone.
#[derive(Clone, Debug)]
pub enum AnyQueue {
    Database(DatabaseQueue),
    Redis(RedisQueue),
}

impl AnyQueue {
    /// `queue_url` `None` or `""` selects the database queue in `database`; `redis://…` selects
    /// Redis Streams with keys under `redis_prefix` (usually [`REDIS_PREFIX`]).
    pub async fn connect(
        queue_url: Option<&str>,
        database: DatabaseTarget,
        redis_prefix: &str,
        options: QueueOptions,
    ) -> Result<AnyQueue, QueueError> {
        match queue_url {
            None | Some("") => Ok(AnyQueue::Database(
                DatabaseQueue::open(&database, options).await?,
            )),
            Some(url) if url.starts_with("redis://") => Ok(AnyQueue::Redis(
                RedisQueue::connect(url, redis_prefix, options).await?,
            )),
            Some(url) => Err(QueueError::Url {
                url: redact(url),
                reason: if url.starts_with("rediss://") {
                    "TLS connections to Redis are not supported by this build; use redis://".into()
                } else {
                    "expected a redis:// URL, or no QUEUE_URL for the queue in the database".into()
                },
            }),
        }
    }

    /// The backend and where it is, for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            AnyQueue::Database(queue) => queue.describe(),
            AnyQueue::Redis(queue) => queue.describe(),
        }
    }
}

impl Queue for AnyQueue {
    async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<DeliveryId, QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.enqueue(topic, key, payload).await,
            AnyQueue::Redis(queue) => queue.enqueue(topic, key, payload).await,
        }
    }

    async fn receive(
        &self,
        topic: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.receive(topic, consumer, max, wait).await,
            AnyQueue::Redis(queue) => queue.receive(topic, consumer, max, wait).await,
        }
    }

    async fn ack(&self, topic: &str, ids: &[DeliveryId]) -> Result<(), QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.ack(topic, ids).await,
            AnyQueue::Redis(queue) => queue.ack(topic, ids).await,
        }
    }

    async fn retry(
        &self,
        topic: &str,
        id: &DeliveryId,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.retry(topic, id, delay, reason).await,
            AnyQueue::Redis(queue) => queue.retry(topic, id, delay, reason).await,
        }
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.dead_letters(topic, limit).await,
            AnyQueue::Redis(queue) => queue.dead_letters(topic, limit).await,
        }
    }

    async fn stats(&self, topic: &str) -> Result<TopicStats, QueueError> {
        match self {
            AnyQueue::Database(queue) => queue.stats(topic).await,
            AnyQueue::Redis(queue) => queue.stats(topic).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_refuses_what_it_cannot_serve() {
        let target = DatabaseTarget::SqliteFile(PathBuf::from("never-opened.db"));
        for url in [
            "rediss://:secret@cache:6380",
            "nats://queue:4222",
            "cache:6379",
        ] {
            match AnyQueue::connect(
                Some(url),
                target.clone(),
                REDIS_PREFIX,
                QueueOptions::default(),
            )
            .await
            {
                Err(QueueError::Url { url: shown, reason }) => {
                    assert!(!shown.contains("secret"), "{shown}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{url}: expected a URL error, got {other:?}"),
            }
        }
        assert!(!std::path::Path::new("never-opened.db").exists());
    }

    #[test]
    fn descriptions_hide_passwords() {
        let target = DatabaseTarget::Postgres("postgres://zt:secret@db:5432/zt".into());
        assert_eq!(target.describe(), "postgres postgres://…@db:5432/zt");
    }
}
