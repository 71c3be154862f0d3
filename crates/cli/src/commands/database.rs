//! Where the database is, as every command that touches it is told: flags, then environment.

use std::path::PathBuf;

use zerotrace_store::{DatabaseLocation, ScopeAuthority, Store};

#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// Folder for ZeroTrace's state (the embedded SQLite database lives here).
    #[arg(long, env = "ZEROTRACE_DATA_DIR", default_value = "./zerotrace-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL (`postgres://user@host/db`) instead of the embedded SQLite database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Hash partitions per organization-scoped table, when PostgreSQL tables are first created.
    #[arg(long, env = "ZEROTRACE_PARTITIONS", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub partitions: u16,
}

impl DatabaseArgs {
    pub fn location(&self) -> anyhow::Result<DatabaseLocation> {
        Ok(DatabaseLocation::resolve(
            self.database_url.as_deref(),
            &self.data_dir,
        )?)
    }

    /// Opens the database and brings its schema up to date.
    pub async fn open(&self) -> anyhow::Result<(Store, ScopeAuthority)> {
        let location = self.location()?;
        let (store, authority) = Store::open(&location).await.map_err(|error| {
            anyhow::anyhow!(
                "cannot open the database ({}): {error}",
                location.describe()
            )
        })?;
        store.migrate(self.partitions).await?;
        Ok((store, authority))
    }
}
