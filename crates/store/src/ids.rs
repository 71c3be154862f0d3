use std::fmt;

use uuid::Uuid;

macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        ///
        /// A UUIDv7, so ids sort by creation time and serve as pagination cursors.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(sqlx::Type, serde::Serialize, serde::Deserialize)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_types! {
    /// An organization.
    OrgId,
    /// A user account (platform administrator or member of one organization).
    UserId,
    /// An organization's API key.
    ApiKeyId,
    /// An organization's agent enrollment token.
    EnrollmentTokenId,
    /// An enrolled agent (device).
    AgentId,
    /// One audit log entry.
    AuditEntryId,
    /// Something whose software is inventoried: a host (one per agent), an image, a repository.
    AssetId,
    /// A vulnerability applying to a package on an asset.
    FindingId,
}

/// One agent report, as the agent's receipt names it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    sqlx::Type,
    serde::Serialize,
    serde::Deserialize,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct BatchId(pub Uuid);

impl BatchId {
    /// The id of the agent's report `sequence` (a UUIDv5 under the agent's id): every repeat of
    /// a report gets the answer the first one got without the server storing anything first.
    pub fn of_report(agent: AgentId, sequence: u64) -> BatchId {
        BatchId(Uuid::new_v5(&agent.0, &sequence.to_be_bytes()))
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_its_batch_id_and_no_other_report_shares_it() {
        let agent = AgentId(Uuid::from_u128(7));
        let other = AgentId(Uuid::from_u128(8));
        let first = BatchId::of_report(agent, 41);
        assert_eq!(BatchId::of_report(agent, 41), first, "a repeat");
        assert_ne!(BatchId::of_report(agent, 42), first, "the next report");
        assert_ne!(BatchId::of_report(other, 41), first, "another agent");
        assert_eq!(first.0.get_version_num(), 5);
    }
}
