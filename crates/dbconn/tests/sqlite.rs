//! The settings every SQLite connection gets, read back from connections of a real pool.

use sqlx::Row;

#[tokio::test]
async fn every_connection_gets_the_tuned_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tuned.db");
    let pool = zerotrace_dbconn::connect_sqlite(&path, 2)
        .await
        .expect("a pool on a new file");
    // Two connections held at once, so the second is a connection of its own.
    let mut first = pool.acquire().await.expect("a connection");
    let mut second = pool.acquire().await.expect("a second connection");
    for connection in [&mut first, &mut second] {
        let mut read = async |pragma: &str| -> String {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {pragma}")))
                .fetch_one(&mut **connection)
                .await
                .expect(pragma);
            row.try_get::<i64, _>(0)
                .map(|n| n.to_string())
                .or_else(|_| row.try_get::<String, _>(0))
                .expect(pragma)
        };
        assert_eq!(read("journal_mode").await, "wal");
        assert_eq!(read("synchronous").await, "1", "NORMAL");
        assert_eq!(read("cache_size").await, "-65536");
        assert_eq!(read("wal_autocheckpoint").await, "10000");
        assert_eq!(read("temp_store").await, "2", "MEMORY");
        assert_eq!(read("soft_heap_limit").await, "536870912");
        assert_eq!(read("foreign_keys").await, "1");
    }
}
