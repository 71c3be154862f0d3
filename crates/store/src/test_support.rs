//! Fixtures for the store's own tests: migrated SQLite and PostgreSQL stores, organizations and
//! agents. PostgreSQL must be running (CI starts it); `ZEROTRACE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, a role that may create schemas) points elsewhere.

use crate::{AgentId, OrgScope, Store};

/// A migrated SQLite store in `dir`.
pub(crate) async fn sqlite_store(dir: &std::path::Path) -> Store {
    let location = crate::DatabaseLocation::SqliteFile(dir.join("zerotrace.db"));
    let (store, _) = Store::open(&location).await.expect("open");
    store.migrate(1).await.expect("migrate");
    store
}

/// The PostgreSQL server and role the tests create their schemas with.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A migrated PostgreSQL store in a new schema of its own, and the schema's name (for
/// [`drop_postgres_schema`]).
pub(crate) async fn postgres_store() -> (Store, String) {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let schema = format!("store_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL for the store's tests (ZEROTRACE_TEST_POSTGRES)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut connection)
        .await
        .expect("create schema");
    let separator = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{separator}options=-csearch_path%3D{schema}");
    let (store, _) = Store::open(&crate::DatabaseLocation::Postgres(url))
        .await
        .expect("open");
    store.migrate(2).await.expect("migrate");
    (store, schema)
}

/// Drops a schema made by [`postgres_store`].
pub(crate) async fn drop_postgres_schema(store: Store, schema: &str) {
    use sqlx::Connection;
    store.close().await;
    let admin = postgres_admin_url();
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut connection)
        .await
        .expect("drop schema");
}

/// An organization with one enrolled agent: its scope and the agent's id.
pub(crate) async fn org_with_agent(store: &Store, slug: &str) -> (OrgScope, AgentId) {
    let org = store
        .create_org(slug, slug, crate::audit::Actor::Operator)
        .await
        .expect("org");
    let scope = OrgScope::new(org.id);
    let agent = enroll(store, scope, &format!("{slug}-host")).await;
    (scope, agent)
}

/// Enrolls an agent for `hostname` in the organization.
pub(crate) async fn enroll(store: &Store, scope: OrgScope, hostname: &str) -> AgentId {
    use crate::agents::HostFacts;
    use crate::audit::Actor;
    use crate::credentials::{CredentialKind, PresentedCredential};
    use crate::enrollment::EnrollOutcome;
    let (_, token) = store
        .create_enrollment_token(scope, "test", None, None, Actor::Operator)
        .await
        .expect("token");
    let presented = PresentedCredential::parse(CredentialKind::Enrollment, &token).expect("parses");
    let facts = HostFacts {
        hostname: hostname.to_owned(),
        os: "linux".into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        agent_version: "test".into(),
    };
    match store.enroll(&presented, &facts).await.expect("enroll") {
        EnrollOutcome::Enrolled { agent, .. } => agent.id,
        EnrollOutcome::Refused(refusal) => panic!("enrollment refused: {refusal:?}"),
    }
}
