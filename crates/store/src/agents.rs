//! Enrolled agents (devices) and their credentials.

use sqlx::{Postgres, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Actor, AuditEntry};
use crate::credentials::PresentedCredential;
use crate::db::EnterScope;
use crate::{AgentId, EnrollmentTokenId, OrgId, OrgScope, Page, Result, Store};

/// What an agent says about its host when it enrolls.
#[derive(Clone, Debug)]
pub struct HostFacts {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Agent {
    pub org_id: OrgId,
    pub id: AgentId,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
    pub enrollment_token_id: EnrollmentTokenId,
    pub enrolled_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// The agent's own CPU use (percent of one core) and memory, from its last heartbeat.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AgentWithHash {
    #[sqlx(flatten)]
    agent: Agent,
    secret_hash: Vec<u8>,
}

macro_rules! agent_columns {
    () => {
        "org_id, id, hostname, os, os_version, arch, agent_version, enrollment_token_id, enrolled_at, last_seen_at, revoked_at, cpu_percent, rss_bytes"
    };
}

impl Store {
    pub async fn list_agents(&self, scope: OrgScope, page: Page) -> Result<Vec<Agent>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, Agent>(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    pub async fn get_agent(&self, scope: OrgScope, id: AgentId) -> Result<Option<Agent>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, Agent>(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// Revokes an agent's credential (idempotent). `None` if the organization has no such agent.
    pub async fn revoke_agent(
        &self,
        scope: OrgScope,
        id: AgentId,
        actor: Actor,
    ) -> Result<Option<Agent>> {
        let entry = AuditEntry::new(actor, "agent.revoke", "agent", Some(id.0));
        Ok(scoped!(self, scope, Write, |tx| {
            let agent = sqlx::query_as::<_, Agent>(concat!(
                "UPDATE agents SET revoked_at = coalesce(revoked_at, $3)
                 WHERE org_id = $1 AND id = $2 RETURNING ",
                agent_columns!()
            ))
            .bind(scope.org_id())
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .fetch_optional(&mut *tx)
            .await?;
            if agent.is_some() {
                record_audit!(tx, scope, &entry);
            }
            agent
        }))
    }

    /// The live agent this device credential names, or `None` (unknown, wrong secret, revoked).
    pub async fn verify_device(&self, presented: &PresentedCredential) -> Result<Option<Agent>> {
        let scope = OrgScope::new(OrgId(presented.org));
        Ok(scoped_statement!(self, scope, |conn| {
            sqlx::query_as::<_, AgentWithHash>(concat!(
                "SELECT ",
                agent_columns!(),
                ", secret_hash FROM agents WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(presented.id)
            .fetch_optional(&mut *conn)
            .await?
            .filter(|row| presented.matches(&row.secret_hash))
            .map(|row| row.agent)
            .filter(|agent| agent.revoked_at.is_none())
        }))
    }

    /// Records agents' check-ins (heartbeats), several organizations' at once, in one
    /// transaction: each agent's last seen time, the agent version it runs now and, when it
    /// measured them, its own CPU and memory use. Returns the agents that were offline until now.
    /// A revoked agent's check-in is dropped.
    pub async fn record_check_ins(
        &self,
        check_ins: &[(OrgScope, Vec<CheckIn>)],
    ) -> Result<Vec<Agent>> {
        let mut back_online = Vec::new();
        global!(self, Write, |tx| {
            for (scope, agents) in check_ins {
                let scope = *scope;
                tx.enter(scope).await?;
                back_online.extend(tx.write_check_ins(scope, agents).await?);
            }
        });
        Ok(back_online)
    }

    /// Marks the agents silent since `silent_since` offline and returns them (each only once,
    /// when it goes offline).
    pub async fn mark_offline(
        &self,
        scope: OrgScope,
        silent_since: OffsetDateTime,
    ) -> Result<Vec<Agent>> {
        Ok(scoped!(self, scope, Write, |tx| {
            sqlx::query_as::<_, Agent>(tx.mark_offline_statement())
                .bind(scope.org_id())
                .bind(silent_since)
                .fetch_all(&mut *tx)
                .await?
        }))
    }
}

/// Each backend's statement marking an organization's silent agents offline (`$1` the
/// organization, `$2` silent since), returning them.
trait SilentAgentSweep {
    fn mark_offline_statement(&self) -> &'static str;
}

/// Every SQLite write runs alone, so the sweep has no one to wait for.
impl SilentAgentSweep for Transaction<'_, Sqlite> {
    fn mark_offline_statement(&self) -> &'static str {
        concat!(
            "UPDATE agents SET online = FALSE
             WHERE org_id = $1 AND online AND revoked_at IS NULL AND last_seen_at < $2
             RETURNING ",
            agent_columns!()
        )
    }
}

/// On PostgreSQL the sweep skips rows another transaction holds: that is a check-in flush
/// writing a fresh heartbeat, so the agent is not silent. Waiting for it instead deadlocked
/// when the flush, which updates many agents in one statement, waited in turn for a row the
/// sweep had locked (seen under the seed's load: PostgreSQL aborted the flush after a second).
impl SilentAgentSweep for Transaction<'_, Postgres> {
    fn mark_offline_statement(&self) -> &'static str {
        concat!(
            "UPDATE agents SET online = FALSE
             WHERE org_id = $1 AND online AND last_seen_at < $2 AND id IN (
                 SELECT id FROM agents
                 WHERE org_id = $1 AND online AND revoked_at IS NULL AND last_seen_at < $2
                 FOR NO KEY UPDATE SKIP LOCKED)
             RETURNING ",
            agent_columns!()
        )
    }
}

/// What an agent's heartbeat says, and when it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckIn {
    pub agent_id: AgentId,
    pub at: OffsetDateTime,
    pub agent_version: String,
    /// Percent of one core since the previous heartbeat.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<i64>,
}

/// One backend's writes of an organization's check-ins, inside a transaction pointed at it.
trait CheckInRows {
    /// Records the check-ins and returns the agents among them that were offline until now.
    fn write_check_ins(
        &mut self,
        scope: OrgScope,
        check_ins: &[CheckIn],
    ) -> impl Future<Output = Result<Vec<Agent>>> + Send;
}

impl CheckInRows for Transaction<'_, Sqlite> {
    async fn write_check_ins(
        &mut self,
        scope: OrgScope,
        check_ins: &[CheckIn],
    ) -> Result<Vec<Agent>> {
        let mut back_online = Vec::new();
        for chunk in check_ins.chunks(crate::snapshots::INSERT_CHUNK) {
            let mut offline = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents WHERE org_id = "
            ));
            offline.push_bind(scope.org_id());
            offline.push(" AND NOT online AND revoked_at IS NULL AND id IN (");
            let mut ids = offline.separated(", ");
            for check_in in chunk {
                ids.push_bind(check_in.agent_id);
            }
            offline.push(")");
            let returning: Vec<Agent> = offline.build_query_as().fetch_all(&mut **self).await?;
            back_online.extend(returning);
        }
        for check_in in check_ins {
            sqlx::query(
                "UPDATE agents SET last_seen_at = $3, agent_version = $4, cpu_percent = $5,
                     rss_bytes = $6, online = $7
                 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(scope.org_id())
            .bind(check_in.agent_id)
            .bind(check_in.at)
            .bind(&check_in.agent_version)
            .bind(check_in.cpu_percent)
            .bind(check_in.rss_bytes)
            .bind(true)
            .execute(&mut **self)
            .await?;
        }
        Ok(back_online)
    }
}

/// On PostgreSQL an organization's check-ins are two statements over arrays, whatever their
/// number: a round trip per heartbeat was most of what writing them cost.
impl CheckInRows for Transaction<'_, Postgres> {
    async fn write_check_ins(
        &mut self,
        scope: OrgScope,
        check_ins: &[CheckIn],
    ) -> Result<Vec<Agent>> {
        let ids: Vec<Uuid> = check_ins.iter().map(|c| c.agent_id.0).collect();
        let back_online: Vec<Agent> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE org_id = $1 AND NOT online AND revoked_at IS NULL AND id = ANY($2)"
        ))
        .bind(scope.org_id())
        .bind(&ids)
        .fetch_all(&mut **self)
        .await?;
        sqlx::query(
            "UPDATE agents a SET last_seen_at = u.at, agent_version = u.agent_version,
                 cpu_percent = u.cpu_percent, rss_bytes = u.rss_bytes, online = TRUE
             FROM UNNEST($2::uuid[], $3::timestamptz[], $4::text[], $5::float8[], $6::int8[])
                 AS u (id, at, agent_version, cpu_percent, rss_bytes)
             WHERE a.org_id = $1 AND a.id = u.id AND a.revoked_at IS NULL",
        )
        .bind(scope.org_id())
        .bind(&ids)
        .bind(check_ins.iter().map(|c| c.at).collect::<Vec<_>>())
        .bind(
            check_ins
                .iter()
                .map(|c| c.agent_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(check_ins.iter().map(|c| c.cpu_percent).collect::<Vec<_>>())
        .bind(check_ins.iter().map(|c| c.rss_bytes).collect::<Vec<_>>())
        .execute(&mut **self)
        .await?;
        Ok(back_online)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        drop_postgres_schema, org_with_agent, postgres_admin_url, postgres_store, sqlite_store,
    };

    fn check_in(agent: AgentId, version: &str) -> CheckIn {
        CheckIn {
            agent_id: agent,
            at: OffsetDateTime::now_utc(),
            agent_version: version.to_owned(),
            cpu_percent: Some(1.0),
            rss_bytes: Some(1024),
        }
    }

    #[tokio::test]
    async fn a_check_in_reaches_only_its_own_organizations_agent_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        a_check_in_reaches_only_its_own_organizations_agent(&sqlite_store(dir.path()).await).await;
    }

    #[tokio::test]
    async fn a_check_in_reaches_only_its_own_organizations_agent_on_postgres() {
        let (store, schema) = postgres_store().await;
        a_check_in_reaches_only_its_own_organizations_agent(&store).await;
        drop_postgres_schema(store, &schema).await;
    }

    /// A check-in flush holding an agent's row (writing its heartbeat) is not waited for: the
    /// sweep skips that agent, so the two cannot deadlock, and marks it once the row is free.
    #[tokio::test]
    async fn the_sweep_skips_an_agent_whose_check_in_is_being_written_on_postgres() {
        use sqlx::{Connection, Executor};
        let (store, schema) = postgres_store().await;
        let (ours, agent) = org_with_agent(&store, "ours").await;
        let mut flush = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .expect("connect");
        flush
            .execute(sqlx::AssertSqlSafe(format!("SET search_path = {schema}")))
            .await
            .expect("search path");
        let mut holding = flush.begin().await.expect("begin");
        sqlx::query("SELECT id FROM agents WHERE id = $1 FOR NO KEY UPDATE")
            .bind(agent)
            .fetch_one(&mut *holding)
            .await
            .expect("the agent's row, locked");

        let everyone_silent = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let swept = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.mark_offline(ours, everyone_silent),
        )
        .await
        .expect("the sweep does not wait for the held row")
        .expect("swept");
        assert!(swept.is_empty(), "the held agent was skipped: {swept:?}");

        holding.rollback().await.expect("released");
        let swept = store
            .mark_offline(ours, everyone_silent)
            .await
            .expect("swept");
        assert_eq!(swept.iter().map(|a| a.id).collect::<Vec<_>>(), [agent]);
        drop(flush);
        drop_postgres_schema(store, &schema).await;
    }

    async fn a_check_in_reaches_only_its_own_organizations_agent(store: &Store) {
        let (ours, our_agent) = org_with_agent(store, "ours").await;
        let (theirs, their_agent) = org_with_agent(store, "theirs").await;

        // Their agent's id under our scope: nothing of theirs changes.
        let back = store
            .record_check_ins(&[(
                ours,
                vec![check_in(our_agent, "2.0.0"), check_in(their_agent, "6.6.6")],
            )])
            .await
            .expect("written");
        assert!(
            back.is_empty(),
            "both were online since enrollment: {back:?}"
        );
        let mine = store.get_agent(ours, our_agent).await.expect("read");
        assert_eq!(mine.map(|a| a.agent_version).as_deref(), Some("2.0.0"));
        let other = store
            .get_agent(theirs, their_agent)
            .await
            .expect("read")
            .expect("their agent");
        assert_eq!(other.agent_version, "test");
        assert_eq!(other.cpu_percent, None);
        assert!(
            store
                .get_agent(ours, their_agent)
                .await
                .expect("read")
                .is_none(),
            "their agent is not visible in our scope"
        );
    }
}
