//! Server-wide settings shared by every instance: kept in the database so that several API
//! instances agree (for example on the key that signs access tokens).

use crate::{Result, Store};

impl Store {
    /// Stores `value` under `name` unless a value is there already, and returns the value that is
    /// stored: when several instances start at once, all of them end up with the first one's.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        Ok(global!(self, Write, |tx| {
            sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            sqlx::query_scalar::<_, String>("SELECT value FROM server_settings WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?
        }))
    }
}
