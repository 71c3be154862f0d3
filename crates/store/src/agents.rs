//! Enrolled agents (devices) and their credentials.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::credentials::PresentedCredential;
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
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, AgentWithHash>(concat!(
                "SELECT ",
                agent_columns!(),
                ", secret_hash FROM agents WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(presented.id)
            .fetch_optional(&mut *tx)
            .await?
            .filter(|row| presented.matches(&row.secret_hash))
            .map(|row| row.agent)
            .filter(|agent| agent.revoked_at.is_none())
        }))
    }

    /// Records that the agent checked in, with the agent version it runs now and, when it
    /// measured them, its own CPU and memory use. Says whether it was offline until now.
    pub async fn record_heartbeat(
        &self,
        scope: OrgScope,
        id: AgentId,
        check_in: &CheckIn<'_>,
    ) -> Result<Option<(Agent, bool)>> {
        Ok(scoped!(self, scope, Write, |tx| {
            let was_online: Option<bool> = sqlx::query_scalar(
                "SELECT online FROM agents WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match was_online {
                None => None,
                Some(was_online) => sqlx::query_as::<_, Agent>(concat!(
                    "UPDATE agents SET last_seen_at = $3, agent_version = $4, cpu_percent = $5,
                         rss_bytes = $6, online = $7
                     WHERE org_id = $1 AND id = $2 RETURNING ",
                    agent_columns!()
                ))
                .bind(scope.org_id())
                .bind(id)
                .bind(OffsetDateTime::now_utc())
                .bind(check_in.agent_version)
                .bind(check_in.cpu_percent)
                .bind(check_in.rss_bytes)
                .bind(true)
                .fetch_optional(&mut *tx)
                .await?
                .map(|agent| (agent, !was_online)),
            }
        }))
    }

    /// Marks the agents silent since `silent_since` offline and returns them (each only once,
    /// when it goes offline).
    pub async fn mark_offline(
        &self,
        scope: OrgScope,
        silent_since: OffsetDateTime,
    ) -> Result<Vec<Agent>> {
        Ok(scoped!(self, scope, Write, |tx| {
            sqlx::query_as::<_, Agent>(concat!(
                "UPDATE agents SET online = $3
                 WHERE org_id = $1 AND online = $4 AND revoked_at IS NULL AND last_seen_at < $2
                 RETURNING ",
                agent_columns!()
            ))
            .bind(scope.org_id())
            .bind(silent_since)
            .bind(false)
            .bind(true)
            .fetch_all(&mut *tx)
            .await?
        }))
    }
}

/// What a heartbeat carries.
#[derive(Clone, Copy, Debug)]
pub struct CheckIn<'a> {
    pub agent_version: &'a str,
    /// Percent of one core since the previous heartbeat.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<i64>,
}
