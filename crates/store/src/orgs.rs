//! Organizations: the tenants. A global table, managed by platform administrators.

use std::num::NonZeroU32;

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::{OrgId, OrgScope, Page, Result, Store, StoreError};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub slug: String,
    pub created_at: OffsetDateTime,
}

impl Store {
    /// Creates an organization; its first audit entry records who did it.
    pub async fn create_org(&self, name: &str, slug: &str, actor: Actor) -> Result<Organization> {
        let org = Organization {
            id: OrgId::generate(),
            name: name.to_owned(),
            slug: slug.to_owned(),
            created_at: OffsetDateTime::now_utc(),
        };
        let scope = OrgScope::new(org.id);
        let entry = AuditEntry::new(actor, "org.create", "organization", Some(org.id.0));
        scoped!(self, scope, Write, |tx| {
            sqlx::query(
                "INSERT INTO organizations (id, name, slug, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(org.id)
            .bind(&org.name)
            .bind(&org.slug)
            .bind(org.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|error| {
                StoreError::conflict_on_unique(error, "an organization with this slug")
            })?;
            record_audit!(tx, scope, &entry);
        });
        Ok(org)
    }

    pub async fn list_orgs(&self, page: Page) -> Result<Vec<Organization>> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_as::<_, Organization>(
                "SELECT id, name, slug, created_at FROM organizations WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    pub async fn get_org(&self, id: OrgId) -> Result<Option<Organization>> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_as::<_, Organization>(
                "SELECT id, name, slug, created_at FROM organizations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// Finds an organization by id or slug (for the admin commands).
    pub async fn find_org(&self, id_or_slug: &str) -> Result<Option<Organization>> {
        if let Ok(id) = id_or_slug.parse::<uuid::Uuid>() {
            return self.get_org(OrgId(id)).await;
        }
        Ok(global!(self, Read, |tx| {
            sqlx::query_as::<_, Organization>(
                "SELECT id, name, slug, created_at FROM organizations WHERE slug = $1",
            )
            .bind(id_or_slug)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// The organization's ingest rate-limit overrides (requests per minute per organization and
    /// per agent); `None` where it uses the server's default.
    pub async fn org_rate_limits(
        &self,
        id: OrgId,
    ) -> Result<(Option<NonZeroU32>, Option<NonZeroU32>)> {
        let row: Option<(Option<i64>, Option<i64>)> = global!(self, Read, |tx| {
            sqlx::query_as(
                "SELECT org_requests_per_minute, agent_requests_per_minute FROM organizations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        });
        let positive = |value: Option<i64>| {
            value
                .and_then(|v| u32::try_from(v).ok())
                .and_then(NonZeroU32::new)
        };
        Ok(row.map_or((None, None), |(org, agent)| {
            (positive(org), positive(agent))
        }))
    }

    /// Sets (or with `None`, clears) the organization's ingest rate-limit overrides. `false` if
    /// there is no such organization.
    pub async fn set_org_rate_limits(
        &self,
        id: OrgId,
        per_org: Option<NonZeroU32>,
        per_agent: Option<NonZeroU32>,
        actor: Actor,
    ) -> Result<bool> {
        let scope = OrgScope::new(id);
        let mut entry = AuditEntry::new(actor, "org.rate_limits", "organization", Some(id.0));
        entry.detail = format!(
            "per organization: {}, per agent: {}",
            per_org.map_or("default".to_owned(), |v| v.to_string()),
            per_agent.map_or("default".to_owned(), |v| v.to_string())
        );
        Ok(scoped!(self, scope, Write, |tx| {
            let updated = sqlx::query(
                "UPDATE organizations SET org_requests_per_minute = $2, agent_requests_per_minute = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(per_org.map(|v| i64::from(v.get())))
            .bind(per_agent.map(|v| i64::from(v.get())))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if updated {
                record_audit!(tx, scope, &entry);
            }
            updated
        }))
    }
}
