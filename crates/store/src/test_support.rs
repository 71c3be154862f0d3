//! Fixtures for the store's own tests: a migrated SQLite store, organizations and agents.

use crate::{AgentId, OrgScope, Store};

/// A migrated SQLite store in `dir`.
pub(crate) async fn sqlite_store(dir: &std::path::Path) -> Store {
    let location = crate::DatabaseLocation::SqliteFile(dir.join("zerotrace.db"));
    let (store, _) = Store::open(&location).await.expect("open");
    store.migrate(1).await.expect("migrate");
    store
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
