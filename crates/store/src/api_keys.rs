//! Organization API keys for scripts and CI pipelines.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditEntry};
use crate::credentials::{self, CredentialKind, PresentedCredential};
use crate::{ApiKeyId, OrgId, OrgScope, Page, Result, Store};

/// What a key may do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Read the organization's data.
    Read,
    /// Change findings and settings that are not administration (triage, imports' metadata).
    Write,
    /// Submit scanner results and inventories.
    Ingest,
    /// Manage keys, enrollment tokens, users and agents.
    Admin,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Write => "write",
            ApiScope::Ingest => "ingest",
            ApiScope::Admin => "admin",
        }
    }
}

impl FromStr for ApiScope {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, Self::Err> {
        match value {
            "read" => Ok(ApiScope::Read),
            "write" => Ok(ApiScope::Write),
            "ingest" => Ok(ApiScope::Ingest),
            "admin" => Ok(ApiScope::Admin),
            other => Err(format!(
                "unknown scope {other:?} (expected read, write, ingest or admin)"
            )),
        }
    }
}

/// A key's scopes: sorted, without duplicates, never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiScopes(Vec<ApiScope>);

impl ApiScopes {
    pub fn new(mut scopes: Vec<ApiScope>) -> Option<Self> {
        scopes.sort();
        scopes.dedup();
        (!scopes.is_empty()).then_some(ApiScopes(scopes))
    }

    pub fn contains(&self, scope: ApiScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = ApiScope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for ApiScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(ApiScope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for ApiScopes {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, Self::Err> {
        let scopes = value
            .split(',')
            .map(|scope| scope.trim().parse())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        ApiScopes::new(scopes).ok_or_else(|| "at least one scope is required".to_owned())
    }
}

impl TryFrom<String> for ApiScopes {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        value.parse()
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKey {
    pub org_id: OrgId,
    pub id: ApiKeyId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scopes: ApiScopes,
    pub created_by: Option<uuid::Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyWithHash {
    #[sqlx(flatten)]
    key: ApiKey,
    secret_hash: Vec<u8>,
}

macro_rules! api_key_columns {
    () => {
        "org_id, id, name, scopes, created_by, created_at, expires_at, last_used_at, revoked_at"
    };
}

/// How stale `last_used_at` may get before a use writes it again: one write a minute per key
/// instead of one per request.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

impl Store {
    /// Creates a key and returns it with its secret, which is not stored and cannot be shown again.
    pub async fn create_api_key(
        &self,
        scope: OrgScope,
        name: &str,
        scopes: ApiScopes,
        expires_at: Option<OffsetDateTime>,
        actor: Actor,
    ) -> Result<(ApiKey, String)> {
        let issued = credentials::issue(CredentialKind::ApiKey, scope.org_id().0);
        let key = ApiKey {
            org_id: scope.org_id(),
            id: ApiKeyId(issued.id),
            name: name.to_owned(),
            scopes,
            created_by: actor.user_id(),
            created_at: OffsetDateTime::now_utc(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let entry = AuditEntry::new(actor, "api_key.create", "api_key", Some(key.id.0))
            .with_detail(format!("{} [{}]", key.name, key.scopes));
        scoped!(self, scope, Write, |tx| {
            sqlx::query(
                "INSERT INTO api_keys (org_id, id, name, scopes, secret_hash, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(key.org_id)
            .bind(key.id)
            .bind(&key.name)
            .bind(key.scopes.to_string())
            .bind(&issued.secret_hash)
            .bind(key.created_by)
            .bind(key.created_at)
            .bind(key.expires_at)
            .execute(&mut *tx)
            .await?;
            record_audit!(tx, scope, &entry);
        });
        Ok((key, issued.token))
    }

    pub async fn list_api_keys(&self, scope: OrgScope, page: Page) -> Result<Vec<ApiKey>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, ApiKey>(concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    pub async fn get_api_key(&self, scope: OrgScope, id: ApiKeyId) -> Result<Option<ApiKey>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, ApiKey>(concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// Revokes a key (idempotent). `None` if the organization has no such key.
    pub async fn revoke_api_key(
        &self,
        scope: OrgScope,
        id: ApiKeyId,
        actor: Actor,
    ) -> Result<Option<ApiKey>> {
        let entry = AuditEntry::new(actor, "api_key.revoke", "api_key", Some(id.0));
        Ok(scoped!(self, scope, Write, |tx| {
            let key = sqlx::query_as::<_, ApiKey>(concat!(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)
                 WHERE org_id = $1 AND id = $2 RETURNING ",
                api_key_columns!()
            ))
            .bind(scope.org_id())
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .fetch_optional(&mut *tx)
            .await?;
            if key.is_some() {
                record_audit!(tx, scope, &entry);
            }
            key
        }))
    }

    /// The live key this credential names, or `None` (unknown, wrong secret, revoked or expired).
    /// Keeps `last_used_at` to the minute.
    pub async fn verify_api_key(&self, presented: &PresentedCredential) -> Result<Option<ApiKey>> {
        let scope = OrgScope::new(OrgId(presented.org));
        let now = OffsetDateTime::now_utc();
        let live = scoped!(self, scope, Read, |tx| {
            let found = sqlx::query_as::<_, ApiKeyWithHash>(concat!(
                "SELECT ",
                api_key_columns!(),
                ", secret_hash FROM api_keys WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(presented.id)
            .fetch_optional(&mut *tx)
            .await?;
            found
                .filter(|row| presented.matches(&row.secret_hash))
                .map(|row| row.key)
                .filter(|key| key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now))
        });
        match live {
            Some(key) => Ok(Some(self.touch_api_key(key, now).await?)),
            None => Ok(None),
        }
    }

    async fn touch_api_key(&self, mut key: ApiKey, now: OffsetDateTime) -> Result<ApiKey> {
        if key
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
        {
            let scope = OrgScope::new(key.org_id);
            scoped!(self, scope, Write, |tx| {
                sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE org_id = $1 AND id = $2")
                    .bind(key.org_id)
                    .bind(key.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            });
            key.last_used_at = Some(now);
        }
        Ok(key)
    }
}
