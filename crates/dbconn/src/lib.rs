//! Database connections as ZeroTrace opens them, for the store and the queue alike: PostgreSQL
//! pools with their session settings and workarounds, SQLite pools with the settings a
//! gigabyte-sized embedded database needs. One place for both, so the store's and the queue's
//! connections never drift apart.

mod postgres;
mod sqlite;

pub use postgres::connect_postgres;
pub use sqlite::{PageCache, SqliteFile, open_sqlite, with_handle};
