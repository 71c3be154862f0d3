//! Storage for ZeroTrace: the schema and its migrations for SQLite and PostgreSQL, and the
//! repositories the server and the admin commands call.
//!
//! Two walls keep organizations apart:
//! 1. Every function on organization data takes an [`OrgScope`], which only a [`ScopeAuthority`]
//!    mints. [`Store::open`] hands out the one authority; the server gives it to its auth layer
//!    alone.
//! 2. On PostgreSQL every org-scoped table has row-level security keyed on the transaction-local
//!    setting `zerotrace.org_id`, which each org-scoped transaction sets from its scope. A query that
//!    forgot its scope sees no rows.
//!
//! Queries are written once in PostgreSQL's `$n` placeholder style, which sqlx's SQLite driver also
//! accepts, and run on either backend through the `scoped!`/`global!` macros in [`db`].

#[macro_use]
mod db;

pub mod agents;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod credentials;
pub mod enrollment;
mod error;
#[macro_use]
pub mod findings;
mod ids;
pub mod lifecycle;
pub mod orgs;
mod page;
pub mod passwords;
mod scope;
pub mod sessions;
#[macro_use]
pub mod snapshots;
pub mod retention;
pub mod settings;
#[cfg(test)]
mod test_support;
pub mod users;

pub use db::{DatabaseLocation, Store};
pub use error::StoreError;
pub use ids::{
    AgentId, ApiKeyId, AssetId, AuditEntryId, BatchId, EnrollmentTokenId, FindingId, OrgId, UserId,
};
pub use page::Page;
pub use scope::{OrgScope, ScopeAuthority};

/// The result type of every store function.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
