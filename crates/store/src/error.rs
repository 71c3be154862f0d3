/// What can go wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique value exists already (`what` names the value).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// SQLite refused or failed a step on the writer's own handle (a worker's batch rows).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Where the database lives could not be understood or prepared.
    #[error("database location {location}: {reason}")]
    Location { location: String, reason: String },
    /// A stored value could not be interpreted (a bug or a hand-edited database).
    #[error("corrupt stored value in {column}: {value}")]
    Corrupt { column: &'static str, value: String },
    /// The embedded database's writers are queued deeper than one write may wait: the caller
    /// should try again shortly.
    #[error("the database is busy: no write turn within {} s", waited.as_secs())]
    WriterBusy { waited: std::time::Duration },
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error)
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], leaving other errors as they are.
    pub(crate) fn conflict_on_unique(error: sqlx::Error, what: &'static str) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what },
            _ => StoreError::Database(error),
        }
    }
}
