//! The second wall: on PostgreSQL, org-scoped tables are hash-partitioned by org_id, and
//! row-level security hides every row from a query that did not set its organization.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscoped_queries_see_no_rows_and_tables_are_partitioned() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let a = app.org_with_admin("Walled A").await;
    let b = app.org_with_admin("Walled B").await;
    app.enroll_agent(&a, "a-1").await;
    app.enroll_agent(&b, "b-1").await;

    let schema = app.database.postgres_schema.clone().unwrap();
    let crate::support::TestDatabase { location, .. } = &app.database;
    let zerotrace_store::DatabaseLocation::Postgres(url) = location else {
        unreachable!()
    };
    let mut conn = PgConnection::connect(url).await.unwrap();

    let unscoped: i64 = sqlx::query_scalar("SELECT count(*) FROM agents")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unscoped, 0, "without zerotrace.org_id no agent is visible");
    let unscoped_partition: i64 = sqlx::query_scalar("SELECT count(*) FROM agents_p0")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unscoped_partition, 0, "partitions carry the policy too");

    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('zerotrace.org_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let hostnames: Vec<String> = sqlx::query_scalar("SELECT hostname FROM agents")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(hostnames, ["a-1"], "scoped to A, only A's rows");
    let sneak = sqlx::query(
        "INSERT INTO audit_log (org_id, id, at, actor_kind, action, target_kind) VALUES ($1, gen_random_uuid(), now(), 'test', 'sneak', 'none')",
    )
    .bind(uuid::Uuid::parse_str(&b.id).unwrap())
    .execute(&mut *tx)
    .await;
    assert!(
        sneak.is_err(),
        "writing B's rows while scoped to A violates the policy"
    );
    tx.rollback().await.unwrap();

    let partitions: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relname = 'agents'"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(partitions, 4, "the harness asks for 4 partitions");
    let strategy: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT p.partstrat::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relname = 'findings'"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(strategy, "h", "hash partitioning");
}
