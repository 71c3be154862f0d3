//! Enrollment tokens and agent enrollment: an organization hands a token to its devices; a
//! device trades it (with its host facts) for its own credential.

use time::OffsetDateTime;

use crate::agents::{Agent, HostFacts};
use crate::audit::{Actor, AuditEntry};
use crate::credentials::{self, CredentialKind, PresentedCredential};
use crate::{AgentId, EnrollmentTokenId, OrgId, OrgScope, Page, Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EnrollmentToken {
    pub org_id: OrgId,
    pub id: EnrollmentTokenId,
    pub name: String,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub expires_at: Option<OffsetDateTime>,
    pub created_by: Option<uuid::Uuid>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct TokenWithHash {
    #[sqlx(flatten)]
    token: EnrollmentToken,
    secret_hash: Vec<u8>,
}

macro_rules! token_columns {
    () => {
        "org_id, id, name, max_uses, uses, expires_at, created_by, created_at, revoked_at"
    };
}

/// Why an enrollment was refused. Only a caller who presented the token's real secret learns
/// more than [`EnrollRefusal::Invalid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollRefusal {
    Invalid,
    Revoked,
    Expired,
    Exhausted,
}

pub enum EnrollOutcome {
    /// The agent row and its device credential (shown once).
    Enrolled {
        agent: Box<Agent>,
        credential: String,
    },
    Refused(EnrollRefusal),
}

impl Store {
    pub async fn create_enrollment_token(
        &self,
        scope: OrgScope,
        name: &str,
        max_uses: Option<i64>,
        expires_at: Option<OffsetDateTime>,
        actor: Actor,
    ) -> Result<(EnrollmentToken, String)> {
        let issued = credentials::issue(CredentialKind::Enrollment, scope.org_id().0);
        let token = EnrollmentToken {
            org_id: scope.org_id(),
            id: EnrollmentTokenId(issued.id),
            name: name.to_owned(),
            max_uses,
            uses: 0,
            expires_at,
            created_by: actor.user_id(),
            created_at: OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        let entry = AuditEntry::new(
            actor,
            "enrollment_token.create",
            "enrollment_token",
            Some(token.id.0),
        )
        .with_detail(token.name.clone());
        scoped!(self, scope, Write, |tx| {
            sqlx::query(
                "INSERT INTO enrollment_tokens (org_id, id, name, secret_hash, max_uses, expires_at, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(token.org_id)
            .bind(token.id)
            .bind(&token.name)
            .bind(&issued.secret_hash)
            .bind(token.max_uses)
            .bind(token.expires_at)
            .bind(token.created_by)
            .bind(token.created_at)
            .execute(&mut *tx)
            .await?;
            record_audit!(tx, scope, &entry);
        });
        Ok((token, issued.token))
    }

    pub async fn list_enrollment_tokens(
        &self,
        scope: OrgScope,
        page: Page,
    ) -> Result<Vec<EnrollmentToken>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, EnrollmentToken>(concat!(
                "SELECT ",
                token_columns!(),
                " FROM enrollment_tokens WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    pub async fn get_enrollment_token(
        &self,
        scope: OrgScope,
        id: EnrollmentTokenId,
    ) -> Result<Option<EnrollmentToken>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, EnrollmentToken>(concat!(
                "SELECT ",
                token_columns!(),
                " FROM enrollment_tokens WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    pub async fn revoke_enrollment_token(
        &self,
        scope: OrgScope,
        id: EnrollmentTokenId,
        actor: Actor,
    ) -> Result<Option<EnrollmentToken>> {
        let entry = AuditEntry::new(
            actor,
            "enrollment_token.revoke",
            "enrollment_token",
            Some(id.0),
        );
        Ok(scoped!(self, scope, Write, |tx| {
            let token = sqlx::query_as::<_, EnrollmentToken>(concat!(
                "UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, $3)
                 WHERE org_id = $1 AND id = $2 RETURNING ",
                token_columns!()
            ))
            .bind(scope.org_id())
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .fetch_optional(&mut *tx)
            .await?;
            if token.is_some() {
                record_audit!(tx, scope, &entry);
            }
            token
        }))
    }

    /// Trades an enrollment token for a device credential, in one transaction: the token's use
    /// count, the new agent and the audit entry are written together or not at all.
    pub async fn enroll(
        &self,
        presented: &PresentedCredential,
        facts: &HostFacts,
    ) -> Result<EnrollOutcome> {
        let scope = OrgScope::new(OrgId(presented.org));
        let now = OffsetDateTime::now_utc();
        Ok(scoped!(self, scope, Write, |tx| {
            let found = sqlx::query_as::<_, TokenWithHash>(concat!(
                "SELECT ",
                token_columns!(),
                ", secret_hash FROM enrollment_tokens WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(presented.id)
            .fetch_optional(&mut *tx)
            .await?;
            let refusal = match &found {
                Some(row) if presented.matches(&row.secret_hash) => {
                    let token = &row.token;
                    if token.revoked_at.is_some() {
                        Some(EnrollRefusal::Revoked)
                    } else if token.expires_at.is_some_and(|at| at <= now) {
                        Some(EnrollRefusal::Expired)
                    } else {
                        let counted = sqlx::query(
                            "UPDATE enrollment_tokens SET uses = uses + 1
                             WHERE org_id = $1 AND id = $2 AND (max_uses IS NULL OR uses < max_uses)",
                        )
                        .bind(scope.org_id())
                        .bind(presented.id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        (counted == 0).then_some(EnrollRefusal::Exhausted)
                    }
                }
                _ => Some(EnrollRefusal::Invalid),
            };
            match refusal {
                Some(refusal) => EnrollOutcome::Refused(refusal),
                None => {
                    let issued = credentials::issue(CredentialKind::Device, scope.org_id().0);
                    let agent = Agent {
                        org_id: scope.org_id(),
                        id: AgentId(issued.id),
                        hostname: facts.hostname.clone(),
                        os: facts.os.clone(),
                        os_version: facts.os_version.clone(),
                        arch: facts.arch.clone(),
                        agent_version: facts.agent_version.clone(),
                        enrollment_token_id: EnrollmentTokenId(presented.id),
                        enrolled_at: now,
                        last_seen_at: now,
                        revoked_at: None,
                        cpu_percent: None,
                        rss_bytes: None,
                    };
                    sqlx::query(
                        "INSERT INTO agents (org_id, id, hostname, os, os_version, arch, agent_version, secret_hash,
                                             enrollment_token_id, enrolled_at, last_seen_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(agent.org_id)
                    .bind(agent.id)
                    .bind(&agent.hostname)
                    .bind(&agent.os)
                    .bind(&agent.os_version)
                    .bind(&agent.arch)
                    .bind(&agent.agent_version)
                    .bind(&issued.secret_hash)
                    .bind(agent.enrollment_token_id)
                    .bind(agent.enrolled_at)
                    .bind(agent.last_seen_at)
                    .execute(&mut *tx)
                    .await?;
                    let entry = AuditEntry::new(
                        Actor::Agent(agent.id),
                        "agent.enroll",
                        "agent",
                        Some(agent.id.0),
                    )
                    .with_detail(agent.hostname.clone());
                    record_audit!(tx, scope, &entry);
                    EnrollOutcome::Enrolled {
                        agent: Box::new(agent),
                        credential: issued.token,
                    }
                }
            }
        }))
    }
}
