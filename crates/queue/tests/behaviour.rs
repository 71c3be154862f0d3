//! One behavioural suite for every queue backend. Each case is written once against the `Queue`
//! trait and instantiated per backend by `behaviour_suite!` at the bottom.
//!
//! PostgreSQL and Redis must be running (CI starts both); a test fails, never skips, when its
//! server cannot be reached. `ZEROTRACE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, a role that may create schemas) and
//! `ZEROTRACE_TEST_REDIS` (default `redis://127.0.0.1:6379`) point elsewhere. Every test gets
//! its own SQLite file, PostgreSQL schema or Redis key prefix, so the tests run in parallel.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::time::Instant;
use zerotrace_queue::{
    AnyQueue, DatabaseTarget, Delivery, DeliveryId, Queue, QueueError, QueueOptions, REDIS_PREFIX,
    RedisQueue, TopicStats,
};

const TOPIC: &str = "jobs";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn options(visibility_ms: u64, max_attempts: u32, max_pending: u64) -> QueueOptions {
    QueueOptions {
        visibility_timeout: ms(visibility_ms),
        max_attempts,
        max_pending,
    }
}

fn ids(deliveries: &[Delivery]) -> Vec<DeliveryId> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// Bytes and key come back unchanged, the first attempt is 1, and an ack removes the message.
async fn round_trip(queue: &impl Queue) {
    // Not UTF-8 (0x9f cannot start a character), with a NUL and a newline.
    let payload = [0u8, 0x9f, 0x92, 0x96, 0xff, b'\n', 0xc3, 0x28];
    let first = queue.enqueue(TOPIC, "agent-1", &payload).await.unwrap();
    let second = queue.enqueue(TOPIC, "", b"").await.unwrap();
    assert_ne!(first, second);
    assert_eq!(queue.stats(TOPIC).await.unwrap().pending, 2);

    let got = queue
        .receive(TOPIC, "worker-a", 10, ms(2000))
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].topic, TOPIC);
    assert_eq!(got[0].id, first);
    assert_eq!(got[0].key, "agent-1");
    assert_eq!(got[0].payload, payload);
    assert_eq!(got[0].attempt, 1);
    assert_eq!((got[1].id.clone(), got[1].key.as_str()), (second, ""));
    assert!(got[1].payload.is_empty());
    assert_eq!(
        queue.stats(TOPIC).await.unwrap(),
        TopicStats {
            pending: 2,
            in_flight: 2,
            dead: 0
        }
    );

    queue.ack(TOPIC, &ids(&got)).await.unwrap();
    assert_eq!(queue.stats(TOPIC).await.unwrap(), TopicStats::default());
    let after = queue.receive(TOPIC, "worker-a", 10, ms(200)).await.unwrap();
    assert!(after.is_empty(), "{after:?}");

    // Acking again, or an id the topic never had, is fine.
    queue.ack(TOPIC, &ids(&got)).await.unwrap();
    queue.ack("other", &ids(&got)).await.unwrap();
    queue.ack(TOPIC, &[]).await.unwrap();
}

/// Bad topics and ids are refused with errors that say what is wrong.
async fn bad_input(queue: &impl Queue) {
    let error = queue.enqueue("no spaces", "k", b"x").await.unwrap_err();
    assert!(
        matches!(&error, QueueError::Topic { topic, .. } if topic == "no spaces"),
        "{error}"
    );
    assert!(error.to_string().contains("no spaces"), "{error}");
    let error = queue
        .ack(TOPIC, &[DeliveryId("not-an-id".into())])
        .await
        .unwrap_err();
    assert!(matches!(error, QueueError::DeliveryId { .. }), "{error}");
    assert!(error.to_string().contains("not-an-id"), "{error}");
    let error = queue
        .retry(TOPIC, &DeliveryId(String::new()), ms(0), "x")
        .await
        .unwrap_err();
    assert!(matches!(error, QueueError::DeliveryId { .. }), "{error}");

    queue.enqueue(TOPIC, "k", b"x").await.unwrap();
    let started = Instant::now();
    let none = queue.receive(TOPIC, "w", 0, ms(20_000)).await.unwrap();
    assert!(none.is_empty());
    assert!(started.elapsed() < ms(10_000), "max 0 must not wait");
}

/// One consumer taking batches of 7 gets 100 messages in enqueue order.
async fn fifo(queue: &impl Queue) {
    for i in 0u32..100 {
        queue
            .enqueue(TOPIC, &format!("k{}", i % 10), &i.to_be_bytes())
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut batches = Vec::new();
    while seen.len() < 100 {
        let batch = queue.receive(TOPIC, "w", 7, ms(2000)).await.unwrap();
        assert!(!batch.is_empty(), "stalled after {} messages", seen.len());
        batches.push(batch.len());
        for delivery in &batch {
            let bytes: [u8; 4] = delivery.payload.as_slice().try_into().unwrap();
            seen.push(u32::from_be_bytes(bytes));
        }
        queue.ack(TOPIC, &ids(&batch)).await.unwrap();
    }
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    let last = batches.pop();
    assert!(batches.iter().all(|&n| n == 7), "{batches:?}");
    assert_eq!(last, Some(2));
}

/// A delivery not acked within the visibility timeout goes to another consumer, once it expired.
async fn at_least_once(queue: &impl Queue) {
    let id = queue.enqueue(TOPIC, "agent-1", b"report").await.unwrap();
    let first = queue.receive(TOPIC, "a", 10, ms(2000)).await.unwrap();
    let delivered_at = Instant::now();
    assert_eq!((first.len(), first[0].attempt), (1, 1));

    // The timeout is ten times the check, so even a stalled machine ends the check first.
    let early = queue.receive(TOPIC, "b", 10, ms(100)).await.unwrap();
    assert!(early.is_empty(), "delivered again too early: {early:?}");

    let again = queue.receive(TOPIC, "b", 10, ms(5000)).await.unwrap();
    assert!(
        delivered_at.elapsed() >= ms(950),
        "{:?}",
        delivered_at.elapsed()
    );
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].id, id);
    assert_eq!(again[0].attempt, 2);
    assert_eq!(again[0].payload, b"report");

    queue.ack(TOPIC, std::slice::from_ref(&id)).await.unwrap();
    // The first consumer's late ack is harmless.
    queue.ack(TOPIC, &[id]).await.unwrap();
    assert_eq!(queue.stats(TOPIC).await.unwrap().pending, 0);
}

/// A consumer that dies holding a batch loses nothing: another gets the whole batch.
async fn consumer_death(queue: &impl Queue) {
    let mut enqueued = BTreeSet::new();
    for i in 0..5 {
        enqueued.insert(
            queue
                .enqueue(TOPIC, &format!("agent-{i}"), b"x")
                .await
                .unwrap(),
        );
    }
    let taken = queue.receive(TOPIC, "doomed", 5, ms(2000)).await.unwrap();
    assert_eq!(taken.len(), 5);
    assert!(taken.iter().all(|d| d.attempt == 1));
    drop(taken);

    let mut rescued = Vec::new();
    let give_up = Instant::now() + ms(5000);
    while rescued.len() < 5 && Instant::now() < give_up {
        rescued.extend(
            queue
                .receive(TOPIC, "survivor", 10, ms(2000))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        rescued
            .iter()
            .map(|d| d.id.clone())
            .collect::<BTreeSet<_>>(),
        enqueued
    );
    assert!(rescued.iter().all(|d| d.attempt == 2), "{rescued:?}");
    queue.ack(TOPIC, &ids(&rescued)).await.unwrap();

    assert!(
        queue
            .receive(TOPIC, "survivor", 10, ms(500))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(queue.stats(TOPIC).await.unwrap(), TopicStats::default());
}

/// A message never acked is dead-lettered after max_attempts deliveries and not seen again.
async fn dead_lettering(queue: &impl Queue) {
    let id = queue.enqueue(TOPIC, "agent-9", b"poison").await.unwrap();
    for attempt in 1..=3 {
        let got = queue.receive(TOPIC, "w", 1, ms(3000)).await.unwrap();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        assert_eq!((&got[0].id, got[0].attempt), (&id, attempt));
    }
    let fourth = queue.receive(TOPIC, "w", 1, ms(1000)).await.unwrap();
    assert!(fourth.is_empty(), "delivered a 4th time: {fourth:?}");

    let dead = queue.dead_letters(TOPIC, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].key, "agent-9");
    assert_eq!(dead[0].payload, b"poison");
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0].reason.contains("visibility timeout"),
        "{}",
        dead[0].reason
    );
    assert_eq!(
        queue.stats(TOPIC).await.unwrap(),
        TopicStats {
            pending: 0,
            in_flight: 0,
            dead: 1
        }
    );

    tokio::time::sleep(ms(300)).await;
    assert!(
        queue
            .receive(TOPIC, "w", 1, ms(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue.dead_letters(TOPIC, 0).await.unwrap().is_empty());
}

/// retry() ends an attempt, delivers again after the delay, and its reason reaches the dead letter.
async fn retry_with_reason(queue: &impl Queue) {
    // Given up on through retry: the reason of the last retry is the dead letter's reason.
    queue.enqueue(TOPIC, "agent-1", b"flaky").await.unwrap();
    let first = queue.receive(TOPIC, "w", 1, ms(2000)).await.unwrap();
    assert_eq!(first[0].attempt, 1);
    queue
        .retry(TOPIC, &first[0].id, ms(1000), "database unavailable")
        .await
        .unwrap();
    let given_back = Instant::now();
    assert_eq!(queue.stats(TOPIC).await.unwrap().pending, 1);
    assert!(
        queue
            .receive(TOPIC, "w", 1, ms(100))
            .await
            .unwrap()
            .is_empty(),
        "delivered before the retry delay"
    );
    let second = queue.receive(TOPIC, "w", 1, ms(5000)).await.unwrap();
    assert!(
        given_back.elapsed() >= ms(950),
        "{:?}",
        given_back.elapsed()
    );
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].key.as_str(), second[0].attempt), ("agent-1", 2));
    assert_eq!(second[0].payload, b"flaky");

    queue
        .retry(TOPIC, &second[0].id, ms(0), "still unavailable")
        .await
        .unwrap();
    let dead = queue.dead_letters(TOPIC, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].id, second[0].id);
    assert_eq!(dead[0].reason, "still unavailable");
    assert_eq!(
        (dead[0].attempts, dead[0].payload.as_slice()),
        (2, &b"flaky"[..])
    );
    // Giving back what is no longer in flight changes nothing.
    queue
        .retry(TOPIC, &second[0].id, ms(0), "again")
        .await
        .unwrap();
    assert_eq!(
        queue.stats(TOPIC).await.unwrap(),
        TopicStats {
            pending: 0,
            in_flight: 0,
            dead: 1
        }
    );

    // Given up on through an expired last attempt: the retry reason is kept as the last error.
    queue.enqueue(TOPIC, "agent-2", b"slow").await.unwrap();
    let first = queue.receive(TOPIC, "w", 1, ms(2000)).await.unwrap();
    queue
        .retry(TOPIC, &first[0].id, ms(0), "parser crashed")
        .await
        .unwrap();
    let last = queue.receive(TOPIC, "w", 1, ms(3000)).await.unwrap();
    assert_eq!(last[0].attempt, 2);
    // Outlasts the 1 s visibility timeout, so the expired last attempt is dead-lettered.
    let nothing = queue.receive(TOPIC, "w", 1, ms(2500)).await.unwrap();
    assert!(nothing.is_empty(), "{nothing:?}");
    let dead = queue.dead_letters(TOPIC, 10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[1].key, "agent-2");
    assert!(
        dead[1].reason.contains("visibility timeout")
            && dead[1].reason.contains("last error: parser crashed"),
        "{}",
        dead[1].reason
    );
    assert_eq!(queue.stats(TOPIC).await.unwrap().dead, 2);
}

/// A retry delay longer than the visibility timeout is honoured: the message is not redelivered
/// when the timeout passes.
async fn long_retry_delay(queue: &impl Queue) {
    queue.enqueue(TOPIC, "agent-1", b"later").await.unwrap();
    let first = queue.receive(TOPIC, "w", 1, ms(2000)).await.unwrap();
    queue
        .retry(TOPIC, &first[0].id, ms(1500), "backing off")
        .await
        .unwrap();
    let given_back = Instant::now();
    let early = queue.receive(TOPIC, "w", 1, ms(500)).await.unwrap();
    assert!(early.is_empty(), "redelivered before the delay: {early:?}");
    let later = queue.receive(TOPIC, "w", 1, ms(5000)).await.unwrap();
    assert!(
        given_back.elapsed() >= ms(1450),
        "{:?}",
        given_back.elapsed()
    );
    assert_eq!((later.len(), later[0].attempt), (1, 2));
    assert_eq!(later[0].payload, b"later");
    queue.ack(TOPIC, &ids(&later)).await.unwrap();
    assert_eq!(queue.stats(TOPIC).await.unwrap(), TopicStats::default());
}

/// Enqueue beyond max_pending fails with Full until something is acknowledged.
async fn backpressure(queue: &impl Queue) {
    for i in 0..10 {
        queue.enqueue(TOPIC, &format!("k{i}"), b"x").await.unwrap();
    }
    match queue.enqueue(TOPIC, "k10", b"x").await {
        Err(QueueError::Full { topic, pending }) => {
            assert_eq!((topic.as_str(), pending), (TOPIC, 10))
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(queue.stats(TOPIC).await.unwrap().pending, 10);
    // Other topics have room of their own.
    queue.enqueue("other", "k", b"x").await.unwrap();

    let one = queue.receive(TOPIC, "w", 1, ms(2000)).await.unwrap();
    // In flight still counts.
    assert!(matches!(
        queue.enqueue(TOPIC, "k10", b"x").await,
        Err(QueueError::Full { .. })
    ));
    queue.ack(TOPIC, &ids(&one)).await.unwrap();
    queue.enqueue(TOPIC, "k10", b"x").await.unwrap();
    assert!(matches!(
        queue.enqueue(TOPIC, "k11", b"x").await,
        Err(QueueError::Full { .. })
    ));
}

/// Two producers and four consumers over 500 messages: every message is delivered and acked, none
/// twice (the visibility timeout is far away), none lost.
async fn concurrency<Q: Queue + Clone + 'static>(queue: &Q) {
    const MESSAGES: usize = 500;
    let mut producers = Vec::new();
    for producer in 0..2 {
        let queue = queue.clone();
        producers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..MESSAGES / 2 {
                let key = format!("agent-{}", i % 25);
                let payload = format!("{producer}/{i}");
                ids.push(
                    queue
                        .enqueue(TOPIC, &key, payload.as_bytes())
                        .await
                        .unwrap(),
                );
            }
            ids
        }));
    }
    let acked = Arc::new(AtomicUsize::new(0));
    let mut consumers = Vec::new();
    for consumer in 0..4 {
        let (queue, acked) = (queue.clone(), Arc::clone(&acked));
        consumers.push(tokio::spawn(async move {
            let name = format!("consumer-{consumer}");
            let mut received = Vec::new();
            let give_up = Instant::now() + Duration::from_secs(60);
            while acked.load(Ordering::SeqCst) < MESSAGES && Instant::now() < give_up {
                let batch = queue.receive(TOPIC, &name, 10, ms(200)).await.unwrap();
                queue.ack(TOPIC, &ids(&batch)).await.unwrap();
                acked.fetch_add(batch.len(), Ordering::SeqCst);
                received.extend(ids(&batch));
            }
            received
        }));
    }
    let mut enqueued = BTreeSet::new();
    for producer in producers {
        enqueued.extend(producer.await.unwrap());
    }
    let mut received = Vec::new();
    for consumer in consumers {
        received.extend(consumer.await.unwrap());
    }
    let distinct: BTreeSet<_> = received.iter().cloned().collect();
    assert_eq!(enqueued.len(), MESSAGES);
    assert_eq!(distinct, enqueued, "lost or invented messages");
    assert_eq!(
        received.len(),
        MESSAGES,
        "some messages were delivered twice"
    );
    assert_eq!(queue.stats(TOPIC).await.unwrap(), TopicStats::default());
}

/// Waiting: an empty topic answers after `wait`, and an enqueue during the wait is handed over
/// at once.
async fn wait<Q: Queue + Clone + 'static>(queue: &Q) {
    let started = Instant::now();
    let none = queue.receive(TOPIC, "w", 10, ms(1000)).await.unwrap();
    let waited = started.elapsed();
    assert!(none.is_empty());
    // A lower bound only: a busy machine may answer late, never early.
    assert!(waited >= ms(950), "waited only {waited:?} for 1 s");

    let producer = queue.clone();
    let enqueue = tokio::spawn(async move {
        tokio::time::sleep(ms(200)).await;
        producer.enqueue(TOPIC, "k", b"late").await.unwrap()
    });
    let started = Instant::now();
    let got = queue.receive(TOPIC, "w", 10, ms(30_000)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, enqueue.await.unwrap());
    assert!(
        waited >= ms(150) && waited < ms(15_000),
        "took {waited:?} to see a message enqueued after 200 ms: it waited out the wait"
    );
}

/// Database backends: per key, strictly in order and never two in flight; other keys go on.
async fn per_key_ordering(queue: &impl Queue) {
    let a1 = queue.enqueue(TOPIC, "a", b"a1").await.unwrap();
    let b1 = queue.enqueue(TOPIC, "b", b"b1").await.unwrap();
    let a2 = queue.enqueue(TOPIC, "a", b"a2").await.unwrap();
    let b2 = queue.enqueue(TOPIC, "b", b"b2").await.unwrap();

    let first = queue.receive(TOPIC, "w1", 1, ms(2000)).await.unwrap();
    assert_eq!(ids(&first), std::slice::from_ref(&a1));
    let next = queue.receive(TOPIC, "w2", 10, ms(200)).await.unwrap();
    assert_eq!(
        ids(&next),
        std::slice::from_ref(&b1),
        "a2 must wait for a1, b2 for b1"
    );
    assert!(
        queue
            .receive(TOPIC, "w2", 10, ms(200))
            .await
            .unwrap()
            .is_empty()
    );

    queue.ack(TOPIC, &[a1]).await.unwrap();
    let after_a1 = queue.receive(TOPIC, "w2", 10, ms(2000)).await.unwrap();
    assert_eq!(ids(&after_a1), std::slice::from_ref(&a2));

    // A message waiting for its retry delay still holds its key.
    let a3 = queue.enqueue(TOPIC, "a", b"a3").await.unwrap();
    queue.retry(TOPIC, &a2, ms(300), "later").await.unwrap();
    assert!(
        queue
            .receive(TOPIC, "w2", 10, ms(100))
            .await
            .unwrap()
            .is_empty(),
        "a3 overtook a2, or a2 came back early"
    );
    let retried = queue.receive(TOPIC, "w2", 10, ms(2000)).await.unwrap();
    assert_eq!(ids(&retried), std::slice::from_ref(&a2));
    assert_eq!(retried[0].attempt, 2);

    queue.ack(TOPIC, &[b1, a2]).await.unwrap();
    let rest = queue.receive(TOPIC, "w2", 10, ms(2000)).await.unwrap();
    assert_eq!(ids(&rest), [b2, a3]);
}

/// Database backends: four consumers over 5 keys x 40 messages never hold two messages of one key
/// at once and see each key's messages in enqueue order.
async fn per_key_order_under_concurrency<Q: Queue + Clone + 'static>(queue: &Q) {
    const KEYS: usize = 5;
    const PER_KEY: usize = 40;
    for seq in 0..PER_KEY {
        for key in 0..KEYS {
            queue
                .enqueue(TOPIC, &format!("agent-{key}"), &seq.to_be_bytes())
                .await
                .unwrap();
        }
    }
    #[derive(Default)]
    struct Observed {
        holding: HashSet<String>,
        next_seq: BTreeMap<String, usize>,
        done: usize,
    }
    let observed = Arc::new(Mutex::new(Observed::default()));
    let mut consumers = Vec::new();
    for consumer in 0..4 {
        let (queue, observed) = (queue.clone(), Arc::clone(&observed));
        consumers.push(tokio::spawn(async move {
            let name = format!("consumer-{consumer}");
            let give_up = Instant::now() + Duration::from_secs(60);
            while observed.lock().unwrap().done < KEYS * PER_KEY && Instant::now() < give_up {
                let batch = queue.receive(TOPIC, &name, 5, ms(200)).await.unwrap();
                for delivery in &batch {
                    let seq = usize::from_be_bytes(delivery.payload.as_slice().try_into().unwrap());
                    let mut observed = observed.lock().unwrap();
                    assert!(
                        observed.holding.insert(delivery.key.clone()),
                        "two messages of {} in flight",
                        delivery.key
                    );
                    let expected = observed.next_seq.entry(delivery.key.clone()).or_default();
                    assert_eq!(seq, *expected, "{} out of order", delivery.key);
                    *expected += 1;
                }
                tokio::time::sleep(ms(2)).await;
                {
                    // Released before the ack, so that the next holder cannot be seen too early.
                    let mut observed = observed.lock().unwrap();
                    for delivery in &batch {
                        observed.holding.remove(&delivery.key);
                    }
                    observed.done += batch.len();
                }
                queue.ack(TOPIC, &ids(&batch)).await.unwrap();
            }
        }));
    }
    for consumer in consumers {
        consumer.await.unwrap();
    }
    let observed = observed.lock().unwrap();
    assert_eq!(observed.done, KEYS * PER_KEY);
    assert!(observed.next_seq.values().all(|&n| n == PER_KEY));
}

// ---------------------------------------------------------------------------------------------
// Backends.

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    Redis,
}

fn postgres_admin_url() -> String {
    std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("ZEROTRACE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A queue of its own for one test, removed afterwards (also when the test fails).
struct Fixture {
    queue: AnyQueue,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_schema: Option<String>,
    redis_prefix: Option<String>,
}

impl Fixture {
    async fn open(backend: Backend, options: QueueOptions) -> Fixture {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let target = DatabaseTarget::SqliteFile(dir.path().join("queue.db"));
                Fixture {
                    queue: AnyQueue::connect(None, target, REDIS_PREFIX, options)
                        .await
                        .expect("open the SQLite queue"),
                    _sqlite_dir: Some(dir),
                    postgres_schema: None,
                    redis_prefix: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
                    panic!(
                        "PostgreSQL is needed for the postgres queue tests ({admin_url}): {error}. \
                         Start it (scripts/test.sh starts a local cluster) or set \
                         ZEROTRACE_TEST_POSTGRES."
                    )
                });
                let schema = format!("q_{unique}");
                sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await
                    .expect("create the test schema");
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
                let fixture = Fixture {
                    queue: AnyQueue::connect(
                        None,
                        DatabaseTarget::Postgres(url),
                        REDIS_PREFIX,
                        options,
                    )
                    .await
                    .expect("open the PostgreSQL queue"),
                    _sqlite_dir: None,
                    postgres_schema: Some(schema.clone()),
                    redis_prefix: None,
                };
                let tables: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1",
                )
                .bind(&schema)
                .fetch_one(&mut admin)
                .await
                .expect("list the test schema's tables");
                assert_eq!(
                    tables, 3,
                    "the queue's tables belong in the URL's search_path"
                );
                fixture
            }
            Backend::Redis => {
                let url = redis_url();
                let prefix = format!("zt-test-{unique}");
                let queue = RedisQueue::connect(&url, &prefix, options)
                    .await
                    .unwrap_or_else(|error| {
                        panic!(
                            "Redis is needed for the redis queue tests ({url}): {error}. Start it \
                             (`redis-server --daemonize yes`, or `docker run -d -p 6379:6379 \
                             redis:7`) or set ZEROTRACE_TEST_REDIS."
                        )
                    });
                Fixture {
                    queue: AnyQueue::Redis(queue),
                    _sqlite_dir: None,
                    postgres_schema: None,
                    redis_prefix: Some(prefix),
                }
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let schema = self.postgres_schema.take();
        let prefix = self.redis_prefix.take();
        if schema.is_none() && prefix.is_none() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: clean up from a thread
        // with a runtime of its own. Best effort: a leftover schema or key is harmless.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                if let Some(schema) = schema {
                    let mut admin = PgConnection::connect(&postgres_admin_url()).await.ok()?;
                    sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                }
                if let Some(prefix) = prefix {
                    let client = ::redis::Client::open(redis_url()).ok()?;
                    let mut connection = client.get_multiplexed_async_connection().await.ok()?;
                    let keys: Vec<String> = ::redis::cmd("KEYS")
                        .arg(format!("{prefix}:*"))
                        .query_async(&mut connection)
                        .await
                        .ok()?;
                    if !keys.is_empty() {
                        ::redis::cmd("DEL")
                            .arg(&keys)
                            .query_async::<i64>(&mut connection)
                            .await
                            .ok()?;
                    }
                }
                Some(())
            })
        })
        .join();
    }
}

/// Redis only: an entry the queue did not write (another program writing into its stream) is
/// dead-lettered with the reason instead of being delivered or breaking `receive`.
#[tokio::test]
async fn redis_dead_letters_foreign_entries() {
    let fixture = Fixture::open(Backend::Redis, options(200, 5, 1000)).await;
    let prefix = fixture.redis_prefix.as_deref().unwrap();
    let client = ::redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = ::redis::cmd("XADD")
        .arg(format!("{prefix}:{TOPIC}"))
        .arg("*")
        .arg("p")
        .arg("no key")
        .query_async(&mut connection)
        .await
        .unwrap();
    let good = fixture.queue.enqueue(TOPIC, "k", b"ours").await.unwrap();

    let got = fixture
        .queue
        .receive(TOPIC, "w", 10, ms(1000))
        .await
        .unwrap();
    assert_eq!(ids(&got), std::slice::from_ref(&good));
    let dead = fixture.queue.dead_letters(TOPIC, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].reason.contains("no key field"),
        "{}",
        dead[0].reason
    );
    assert_eq!(dead[0].payload, b"no key");
    assert_eq!(
        fixture.queue.stats(TOPIC).await.unwrap(),
        TopicStats {
            pending: 1,
            in_flight: 1,
            dead: 1
        }
    );
}

/// Instantiates `case => options` pairs as one test each, in a module per backend.
macro_rules! cases_for {
    ($module:ident, $backend:expr, $($case:ident => $options:expr,)*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = Fixture::open($backend, $options).await;
                    super::$case(&fixture.queue).await;
                }
            )*
        }
    };
}

macro_rules! behaviour_suite {
    (every_backend: { $($all:tt)* } database_backends: { $($database:tt)* }) => {
        cases_for!(sqlite, Backend::Sqlite, $($all)* $($database)*);
        cases_for!(postgres, Backend::Postgres, $($all)* $($database)*);
        cases_for!(redis, Backend::Redis, $($all)*);
    };
}

behaviour_suite! {
    every_backend: {
        round_trip => QueueOptions::default(),
        bad_input => QueueOptions::default(),
        fifo => QueueOptions::default(),
        at_least_once => options(1000, 5, 1000),
        consumer_death => options(1000, 5, 1000),
        dead_lettering => options(200, 3, 1000),
        retry_with_reason => options(1000, 2, 1000),
        long_retry_delay => options(200, 5, 1000),
        backpressure => options(30_000, 5, 10),
        concurrency => QueueOptions::default(),
        wait => QueueOptions::default(),
    }
    database_backends: {
        per_key_ordering => QueueOptions::default(),
        per_key_order_under_concurrency => QueueOptions::default(),
    }
}
