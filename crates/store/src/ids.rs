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
    /// One accepted agent report, as the agent's receipt names it.
    BatchId,
}
