//! A SQLite file as `open_sqlite` opens it: the settings read back from its connections, readers
//! that cannot write, the checkpointer at work, and rows written on the writer's own handle.

use std::time::{Duration, Instant};

use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use zerotrace_dbconn::{PageCache, SqliteFile, open_sqlite, with_handle};

async fn opened() -> (tempfile::TempDir, SqliteFile) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = open_sqlite(&dir.path().join("tuned.db"), 2, PageCache::Large)
        .await
        .expect("a new file opens");
    (dir, file)
}

async fn pragma(pool: &SqlitePool, name: &str) -> String {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
        .fetch_one(pool)
        .await
        .expect(name);
    row.try_get::<i64, _>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get::<String, _>(0))
        .expect(name)
}

#[tokio::test]
async fn a_small_cache_file_keeps_8_mib_per_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = open_sqlite(&dir.path().join("queue.db"), 1, PageCache::Small)
        .await
        .expect("a new file opens");
    for pool in [&file.writer, &file.readers] {
        assert_eq!(pragma(pool, "cache_size").await, "-8192");
        assert_eq!(pragma(pool, "journal_mode").await, "wal");
    }
}

#[tokio::test]
async fn the_writer_and_every_reader_get_the_tuned_settings() {
    let (_dir, file) = opened().await;
    // Both readers held at once, so the second is a connection of its own.
    let first = file.readers.acquire().await.expect("a reader");
    let second = file.readers.acquire().await.expect("a second reader");
    drop((first, second));
    for pool in [&file.writer, &file.readers, &file.readers] {
        assert_eq!(pragma(pool, "journal_mode").await, "wal");
        assert_eq!(pragma(pool, "synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(pool, "cache_size").await, "-65536");
        assert_eq!(pragma(pool, "wal_autocheckpoint").await, "10000");
        assert_eq!(pragma(pool, "temp_store").await, "2", "MEMORY");
        assert_eq!(pragma(pool, "soft_heap_limit").await, "536870912");
        assert_eq!(pragma(pool, "foreign_keys").await, "1");
    }
}

#[tokio::test]
async fn readers_cannot_write() {
    let (_dir, file) = opened().await;
    sqlx::query("CREATE TABLE t (n INTEGER)")
        .execute(&file.writer)
        .await
        .expect("the writer writes");
    let refused = sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&file.readers)
        .await
        .expect_err("a reader must not write");
    assert!(
        refused.to_string().contains("readonly"),
        "refused for another reason: {refused}"
    );
}

#[tokio::test]
async fn the_checkpointer_copies_the_wal_into_the_file_behind_the_writer() {
    let (dir, file) = opened().await;
    sqlx::query("CREATE TABLE t (payload BLOB)")
        .execute(&file.writer)
        .await
        .expect("create");
    // 4 MiB: far below the writer's own checkpoint at 10,000 pages (40 MiB), so only the
    // checkpointer moves these pages from the WAL into the database file.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1024)
         INSERT INTO t SELECT randomblob(4096) FROM n",
    )
    .execute(&file.writer)
    .await
    .expect("insert");
    let database = dir.path().join("tuned.db");
    let since = Instant::now();
    loop {
        let size = std::fs::metadata(&database).expect("the file").len();
        if size >= 4 << 20 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the database file holds {size} bytes 10 s after the commit: nothing checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows written on the connection's own handle belong to the sqlx transaction around them: they
/// roll back with it and commit with it.
async fn handle_writes_follow_the_transaction() {
    let (_dir, file) = opened().await;
    sqlx::query("CREATE TABLE t (n INTEGER)")
        .execute(&file.writer)
        .await
        .expect("create");
    let insert = |n: i64| {
        move |handle: &mut rusqlite::Connection| {
            handle.execute("INSERT INTO t VALUES (?1)", [n])?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
    };
    let mut rolled_back = file.writer.begin().await.expect("begin");
    with_handle(&mut rolled_back, insert(1))
        .await
        .expect("insert 1");
    rolled_back.rollback().await.expect("rollback");
    let mut committed = file.writer.begin().await.expect("begin");
    with_handle(&mut committed, insert(2))
        .await
        .expect("insert 2");
    // The same transaction goes on through sqlx after the handle is given back.
    sqlx::query("INSERT INTO t VALUES (3)")
        .execute(&mut *committed)
        .await
        .expect("insert 3");
    committed.commit().await.expect("commit");
    let held: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
        .fetch_all(&file.readers)
        .await
        .expect("read back");
    assert_eq!(held, [2, 3]);
}

#[tokio::test]
async fn handle_writes_follow_the_transaction_on_one_thread() {
    handle_writes_follow_the_transaction().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_writes_follow_the_transaction_on_a_thread_pool() {
    handle_writes_follow_the_transaction().await;
}
