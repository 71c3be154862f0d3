//! Throughput of each queue backend, side by side: enqueue N messages of 4 KiB from 4 producer
//! tasks, then drain them with 2 consumers taking batches of 100 and acking each batch. Figures
//! are messages per second, with the ratio to SQLite (the embedded default) measured in the same
//! run. For reporting, not for CI:
//!
//! ```sh
//! cargo run --release -p zerotrace-queue --example queue_throughput [-- MESSAGES]
//! ```
//!
//! PostgreSQL and Redis are found like the tests find them (`ZEROTRACE_TEST_POSTGRES`,
//! `ZEROTRACE_TEST_REDIS`); a backend that cannot be reached is reported and skipped.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use zerotrace_queue::{AnyQueue, DatabaseTarget, Queue, QueueOptions, REDIS_PREFIX, RedisQueue};

const TOPIC: &str = "bench";
const PAYLOAD_BYTES: usize = 4096;
const BATCH: usize = 100;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 2;
const KEYS: usize = 1000;

struct Figures {
    enqueue_per_s: f64,
    consume_per_s: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 20_000,
    };
    let postgres_admin = std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url =
        std::env::var("ZEROTRACE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let unique = uuid::Uuid::new_v4().simple().to_string();
    println!(
        "{messages} messages of {PAYLOAD_BYTES} B over {KEYS} keys; {PRODUCERS} producers, \
         then {CONSUMERS} consumers in batches of {BATCH}\n"
    );

    let mut results: Vec<(&str, Result<Figures, String>)> = Vec::new();

    let dir = tempfile::tempdir()?;
    let sqlite = DatabaseTarget::SqliteFile(dir.path().join("queue.db"));
    results.push((
        "sqlite",
        run(connect_database(sqlite).await, messages).await,
    ));

    let schema = format!("bench_{unique}");
    let postgres = match PgConnection::connect(&postgres_admin).await {
        Ok(mut admin) => {
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut admin)
                .await?;
            let separator = if postgres_admin.contains('?') {
                '&'
            } else {
                '?'
            };
            let url = format!("{postgres_admin}{separator}options=-csearch_path%3D{schema}");
            let outcome = run(
                connect_database(DatabaseTarget::Postgres(url)).await,
                messages,
            )
            .await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await?;
            outcome
        }
        Err(error) => Err(format!("PostgreSQL unreachable: {error}")),
    };
    results.push(("postgres", postgres));

    let prefix = format!("bench-{unique}");
    let redis = RedisQueue::connect(&redis_url, &prefix, QueueOptions::default())
        .await
        .map(AnyQueue::Redis)
        .map_err(|error| format!("Redis unreachable: {error}"));
    results.push(("redis", run(redis, messages).await));
    if let Ok(client) = redis::Client::open(redis_url.as_str())
        && let Ok(mut connection) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<i64>(&mut connection)
                .await?;
        }
    }

    report(&results);
    Ok(())
}

async fn connect_database(target: DatabaseTarget) -> Result<AnyQueue, String> {
    AnyQueue::connect(None, target, REDIS_PREFIX, QueueOptions::default())
        .await
        .map_err(|error| error.to_string())
}

async fn run(queue: Result<AnyQueue, String>, messages: usize) -> Result<Figures, String> {
    let queue = queue?;
    let payload = vec![0xA5u8; PAYLOAD_BYTES];

    let started = Instant::now();
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let (queue, payload) = (queue.clone(), payload.clone());
        producers.push(tokio::spawn(async move {
            for i in (producer..messages).step_by(PRODUCERS) {
                queue
                    .enqueue(TOPIC, &format!("agent-{}", i % KEYS), &payload)
                    .await?;
            }
            Ok::<_, zerotrace_queue::QueueError>(())
        }));
    }
    for producer in producers {
        producer
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
    }
    let enqueue_time = started.elapsed();

    let started = Instant::now();
    let mut consumers = Vec::new();
    for consumer in 0..CONSUMERS {
        let queue = queue.clone();
        consumers.push(tokio::spawn(async move {
            let name = format!("bench-{consumer}");
            let mut consumed = 0;
            loop {
                let batch = queue
                    .receive(TOPIC, &name, BATCH, Duration::from_millis(500))
                    .await?;
                if batch.is_empty() {
                    return Ok::<_, zerotrace_queue::QueueError>(consumed);
                }
                let ids: Vec<_> = batch.into_iter().map(|delivery| delivery.id).collect();
                queue.ack(TOPIC, &ids).await?;
                consumed += ids.len();
            }
        }));
    }
    let mut consumed = 0;
    for consumer in consumers {
        consumed += consumer
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
    }
    // The consumers stop after one empty wait, which is not work: leave it out of the time.
    let consume_time = started.elapsed().saturating_sub(Duration::from_millis(500));
    if consumed != messages {
        return Err(format!("consumed {consumed} of {messages} messages"));
    }
    let per_second = |time: Duration| messages as f64 / time.as_secs_f64();
    Ok(Figures {
        enqueue_per_s: per_second(enqueue_time),
        consume_per_s: per_second(consume_time),
    })
}

fn report(results: &[(&str, Result<Figures, String>)]) {
    let baseline = results.iter().find_map(|(name, figures)| match figures {
        Ok(figures) if *name == "sqlite" => Some((figures.enqueue_per_s, figures.consume_per_s)),
        _ => None,
    });
    println!(
        "{:<10} {:>14} {:>8} {:>14} {:>8}",
        "backend", "enqueue msg/s", "vs sqlite", "consume msg/s", "vs sqlite"
    );
    for (name, figures) in results {
        match figures {
            Ok(figures) => {
                let ratio = |value: f64, base: Option<f64>| {
                    base.map_or("-".to_owned(), |base| format!("{:.2}x", value / base))
                };
                println!(
                    "{:<10} {:>14.0} {:>8} {:>14.0} {:>8}",
                    name,
                    figures.enqueue_per_s,
                    ratio(figures.enqueue_per_s, baseline.map(|b| b.0)),
                    figures.consume_per_s,
                    ratio(figures.consume_per_s, baseline.map(|b| b.1)),
                );
            }
            Err(error) => println!("{name:<10} skipped: {error}"),
        }
    }
}
