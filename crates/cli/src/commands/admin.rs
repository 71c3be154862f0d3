//! What the admin commands share: running against the database, finding the organization they
//! name, and printing a result as text or `--json`.

use serde::Serialize;
use zerotrace_store::orgs::Organization;
use zerotrace_store::{OrgScope, ScopeAuthority, Store};

use super::database::DatabaseArgs;

/// Runs an admin command's body on a small runtime against the migrated database.
pub fn with_store<T>(
    database: &DatabaseArgs,
    body: impl AsyncFnOnce(&Store, &ScopeAuthority) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (store, authority) = database.open().await?;
        let outcome = body(&store, &authority).await;
        store.close().await;
        outcome
    })
}

/// The organization named by id or slug, and the operator's scope in it.
pub async fn org_scope(
    store: &Store,
    authority: &ScopeAuthority,
    org: &str,
) -> anyhow::Result<(Organization, OrgScope)> {
    let organization = store.find_org(org).await?.ok_or_else(|| {
        anyhow::anyhow!("no organization {org:?}: give its id or slug (see `zerotrace org list`)")
    })?;
    let scope = authority.scope(organization.id);
    Ok((organization, scope))
}

/// Prints `value` as pretty JSON, or `text` for people.
pub fn print<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
