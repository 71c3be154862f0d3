//! First start: with no platform administrator in the database, create one with a generated
//! password (or `ZEROTRACE_ADMIN_PASSWORD`), so a new user can log in straight away.

use zerotrace_store::users::{NewUser, Role};
use zerotrace_store::{Store, StoreError, passwords};

pub const ADMIN_EMAIL: &str = "admin@zerotrace.local";
const ADMIN_PASSWORD_ENV: &str = "ZEROTRACE_ADMIN_PASSWORD";

/// The administrator this start created, and the password to show once.
pub struct InitialAdmin {
    pub email: String,
    /// `None` when the password came from `ZEROTRACE_ADMIN_PASSWORD` (the operator knows it).
    pub generated_password: Option<String>,
}

pub async fn ensure_platform_admin(store: &Store) -> Result<Option<InitialAdmin>, StoreError> {
    if store.platform_admin_exists().await? {
        return Ok(None);
    }
    let from_env = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|password| !password.is_empty());
    let password = from_env.clone().unwrap_or_else(passwords::generate);
    let password_hash = tokio::task::spawn_blocking(move || {
        passwords::hash(&password).map(|hash| (hash, password))
    })
    .await
    .map_err(|error| StoreError::PasswordHash(error.to_string()))?;
    let (password_hash, password) = password_hash?;
    let created = store
        .create_platform_admin(NewUser {
            email: ADMIN_EMAIL,
            display_name: "Platform administrator",
            password_hash: &password_hash,
            role: Role::PlatformAdmin,
        })
        .await;
    match created {
        Ok(_) => Ok(Some(InitialAdmin {
            email: ADMIN_EMAIL.to_owned(),
            generated_password: from_env.is_none().then_some(password),
        })),
        // Another instance starting at the same moment created it first.
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}
