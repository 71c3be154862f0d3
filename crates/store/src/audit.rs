//! The audit log: who changed what in an organization. Entries are written in the same
//! transaction as the change (see `record_audit!`), so the log and the data never disagree.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AgentId, ApiKeyId, AuditEntryId, OrgScope, Page, Result, Store, UserId};

/// Who acted.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    User(UserId),
    ApiKey(ApiKeyId),
    Agent(AgentId),
    /// Someone with direct database access, through the `zerotrace` admin commands.
    Operator,
}

impl Actor {
    /// The acting user, for `created_by` columns.
    pub fn user_id(self) -> Option<Uuid> {
        match self {
            Actor::User(id) => Some(id.0),
            _ => None,
        }
    }

    fn kind_and_id(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::User(id) => ("user", Some(id.0)),
            Actor::ApiKey(id) => ("api_key", Some(id.0)),
            Actor::Agent(id) => ("agent", Some(id.0)),
            Actor::Operator => ("operator", None),
        }
    }
}

/// An entry to write.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub at: OffsetDateTime,
    pub actor_kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: Option<Uuid>,
    pub detail: String,
}

impl AuditEntry {
    pub fn new(
        actor: Actor,
        action: &'static str,
        target_kind: &'static str,
        target_id: Option<Uuid>,
    ) -> Self {
        let (actor_kind, actor_id) = actor.kind_and_id();
        AuditEntry {
            id: AuditEntryId::generate(),
            at: OffsetDateTime::now_utc(),
            actor_kind,
            actor_id,
            action,
            target_kind,
            target_id,
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// An entry as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: AuditEntryId,
    pub at: OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<Uuid>,
    pub detail: String,
}

impl Store {
    pub async fn list_audit(&self, scope: OrgScope, page: Page) -> Result<Vec<AuditRecord>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, AuditRecord>(
                "SELECT id, at, actor_kind, actor_id, action, target_kind, target_id, detail
                 FROM audit_log WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }
}
