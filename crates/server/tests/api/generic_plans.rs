//! PostgreSQL sessions plan each statement once (`force_generic_plan`), often while the tables
//! are still empty, and keep that plan. Then every index that leads with `org_id` looks as good
//! as the key for "this asset's rows", so only keys may lead with it (migration 0004).

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::{Backend, TestApp};

async fn connect(app: &TestApp) -> PgConnection {
    let zerotrace_store::DatabaseLocation::Postgres(url) = &app.database.location else {
        unreachable!("a PostgreSQL test app")
    };
    PgConnection::connect(url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_partitioned_tables_only_keys_lead_with_org_id() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let schema = app.database.postgres_schema.clone().unwrap();
    let mut conn = connect(&app).await;
    let leading_org_id: Vec<(String, String, bool)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT t.relname::text, i.relname::text, x.indisunique
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
         WHERE n.nspname = '{schema}' AND t.relkind = 'p' AND a.attname = 'org_id'
         ORDER BY 1, 2"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        leading_org_id.iter().any(|(table, ..)| table == "packages"),
        "the query sees the schema's partitioned tables: {leading_org_id:?}"
    );
    let secondary: Vec<_> = leading_org_id
        .iter()
        .filter(|(.., unique)| !unique)
        .collect();
    assert!(
        secondary.is_empty(),
        "secondary indexes leading with org_id: {secondary:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assets_rows_are_read_through_the_keys_by_plans_made_on_empty_tables() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let org = app.org_with_admin("Planned").await;
    let mut conn = connect(&app).await;
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('zerotrace.org_id', $1, true)")
        .bind(&org.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    // The pipeline's reads of a group of assets (their package diffs, their findings'
    // lifecycle) and of one agent's reports, with the parameter types the store binds.
    let statements = [
        (
            "SELECT ecosystem, name FROM packages WHERE org_id = $1 AND asset_id = ANY($2)",
            "uuid[]",
            "packages",
        ),
        (
            "SELECT id, status FROM findings WHERE org_id = $1 AND asset_id = ANY($2)",
            "uuid[]",
            "findings",
        ),
        (
            "SELECT max(sequence) FROM agent_reports WHERE org_id = $1 AND agent_id = $2",
            "uuid",
            "agent_reports",
        ),
    ];
    for (index, (statement, second, table)) in statements.iter().enumerate() {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "PREPARE planned_{index} (uuid, {second}) AS {statement}"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        let argument = if *second == "uuid" {
            "gen_random_uuid()"
        } else {
            "ARRAY[gen_random_uuid(), gen_random_uuid()]"
        };
        let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN EXECUTE planned_{index} ('{}', {argument})",
            org.id
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Subplans Removed"),
            "a generic plan, pruned when it runs:\n{plan}"
        );
        let scans: Vec<&str> = plan.lines().filter(|l| l.contains(" using ")).collect();
        assert!(
            !scans.is_empty(),
            "{table} is read through an index:\n{plan}"
        );
        assert!(
            scans.iter().all(|scan| scan.contains(&format!("{table}_p"))
                && (scan.contains("_pkey") || scan.contains("_key"))),
            "{table} is read through its key, not an index on org_id alone:\n{plan}"
        );
    }
}
