use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};
use zerotrace_dbconn::{PageCache, SqliteFile};

use crate::{OrgScope, Result, ScopeAuthority, StoreError};

/// Where the database lives.
#[derive(Clone, Debug)]
pub enum DatabaseLocation {
    /// The embedded default: one SQLite file.
    SqliteFile(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…`). A `search_path` given through the URL's
    /// `options` parameter selects the schema.
    Postgres(String),
}

impl DatabaseLocation {
    /// `DATABASE_URL` if set (`postgres://…` or `sqlite://path`), else `zerotrace.db` in the data dir.
    pub fn resolve(database_url: Option<&str>, data_dir: &std::path::Path) -> Result<Self> {
        match database_url {
            None | Some("") => Ok(DatabaseLocation::SqliteFile(data_dir.join("zerotrace.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(DatabaseLocation::Postgres(url.to_owned()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) => Ok(DatabaseLocation::SqliteFile(PathBuf::from(path))),
                None => Err(StoreError::Location {
                    location: redact(url),
                    reason: "expected a postgres:// or sqlite:// URL".into(),
                }),
            },
        }
    }

    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            DatabaseLocation::SqliteFile(path) => format!("sqlite {}", path.display()),
            DatabaseLocation::Postgres(url) => format!("postgres {}", redact(url)),
        }
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// The embedded database: its file (one writer connection, read-only readers), and the turn that
/// this process's writers take before they begin on the writer connection. The turn decides the
/// order in which they get it: a worker's batch holds it for tens of milliseconds, an API
/// request's write for one. Batches first queue among themselves (`batch_line`), so at most one
/// batch waits for the turn at a time and the short writes that arrive during a batch go before
/// the next one: a request waits for the rest of one batch, not for two. SQLite's busy timeout
/// remains for other processes (`zerotrace org create` while the server runs).
#[derive(Clone, Debug)]
pub(crate) struct SqliteDb {
    pub(crate) file: SqliteFile,
    turn: Arc<Mutex<()>>,
    batch_line: Arc<Mutex<()>>,
}

/// As long as SQLite's own busy timeout: a writer that waits longer than this fails the same way.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) held: crate::snapshots::HeldAssets,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "pipeline",
        include_str!("../migrations/sqlite/0002_pipeline.sql"),
    ),
    (
        3,
        "unused indexes",
        include_str!("../migrations/sqlite/0003_unused_indexes.sql"),
    ),
    (
        4,
        "clustered rows",
        include_str!("../migrations/sqlite/0004_clustered_rows.sql"),
    ),
    (
        5,
        "findings without a vulnerability index",
        include_str!("../migrations/sqlite/0005_findings_without_vulnerability_index.sql"),
    ),
    (
        6,
        "rows checked without lookups",
        include_str!("../migrations/sqlite/0006_rows_checked_without_lookups.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "pipeline",
        include_str!("../migrations/postgres/0002_pipeline.sql"),
    ),
    (
        3,
        "lean foreign keys",
        include_str!("../migrations/postgres/0003_lean_foreign_keys.sql"),
    ),
    (
        4,
        "indexes for generic plans",
        include_str!("../migrations/postgres/0004_indexes_for_generic_plans.sql"),
    ),
    (
        5,
        "asset keys by construction",
        include_str!("../migrations/postgres/0005_asset_keys_by_construction.sql"),
    ),
    (
        6,
        "rows without random indexes",
        include_str!("../migrations/postgres/0006_rows_without_random_indexes.sql"),
    ),
];

fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            migrations
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        sqlx::SqlStr::from_static(sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

impl Store {
    /// Connects (creating the SQLite file and its folder if needed). Returns the store and the one
    /// [`ScopeAuthority`] for it.
    pub async fn open(location: &DatabaseLocation) -> Result<(Store, ScopeAuthority)> {
        let pool = match location {
            DatabaseLocation::SqliteFile(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| StoreError::Location {
                        location: parent.display().to_string(),
                        reason: format!("cannot create the data directory: {error}"),
                    })?;
                }
                Pool::Sqlite(SqliteDb {
                    file: zerotrace_dbconn::open_sqlite(path, 8, PageCache::Large).await?,
                    turn: Arc::new(Mutex::new(())),
                    batch_line: Arc::new(Mutex::new(())),
                })
            }
            DatabaseLocation::Postgres(url) => {
                Pool::Postgres(zerotrace_dbconn::connect_postgres(url, "zerotrace", 16).await?)
            }
        };
        let store = Store {
            pool,
            held: crate::snapshots::HeldAssets::default(),
        };
        Ok((store, ScopeAuthority::new()))
    }

    /// Brings the schema up to date. `partitions` is the hash-partition count of org-scoped tables
    /// on PostgreSQL, used only when the tables are first created.
    pub async fn migrate(&self, partitions: u16) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(db) => migrator(SQLITE_MIGRATIONS).run(&db.file.writer).await?,
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT set_config('zerotrace.partitions', $1, false)")
                    .bind(partitions.max(1).to_string())
                    .execute(&mut *conn)
                    .await?;
                let outcome = migrator(POSTGRES_MIGRATIONS).run(&mut *conn).await;
                sqlx::query("RESET zerotrace.partitions")
                    .execute(&mut *conn)
                    .await?;
                outcome?;
            }
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(db) => sqlx::query("SELECT 1")
                .execute(&db.file.readers)
                .await
                .map(drop)?,
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// On PostgreSQL, whether the connection's role bypasses row-level security (a superuser or a
    /// role with BYPASSRLS), which would take down the second wall.
    pub async fn bypasses_row_security(&self) -> Result<bool> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(false),
            Pool::Postgres(pool) => Ok(sqlx::query_scalar(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
            )
            .fetch_one(pool)
            .await?),
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(db) => db.file.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// How a SQLite transaction starts: writers take the write lock up front so two writers queue on
/// the busy timeout instead of failing when a read lock cannot be upgraded.
#[derive(Clone, Copy)]
pub(crate) enum TxMode {
    Read,
    Write,
    /// A long write (a worker's batch): on SQLite it lets short writes go first.
    Batch,
}

/// A writer's turn (see [`SqliteDb`]); held until its transaction has ended.
#[derive(Default)]
pub(crate) struct WriteTurn {
    _batch_line: Option<OwnedMutexGuard<()>>,
    _turn: Option<OwnedMutexGuard<()>>,
}

/// Begins a SQLite transaction; a writer first waits for its turn, which the caller holds until
/// the transaction has committed or rolled back.
pub(crate) async fn begin_sqlite(
    db: &SqliteDb,
    mode: TxMode,
) -> Result<(WriteTurn, Transaction<'static, Sqlite>)> {
    let take_turn = async {
        let batch_line = match mode {
            TxMode::Batch => Some(db.batch_line.clone().lock_owned().await),
            TxMode::Read | TxMode::Write => None,
        };
        WriteTurn {
            _batch_line: batch_line,
            _turn: Some(db.turn.clone().lock_owned().await),
        }
    };
    Ok(match mode {
        TxMode::Read => (WriteTurn::default(), db.file.readers.begin().await?),
        TxMode::Write | TxMode::Batch => {
            let turn = tokio::time::timeout(WRITE_TURN_TIMEOUT, take_turn)
                .await
                .map_err(|_| StoreError::WriterBusy {
                    waited: WRITE_TURN_TIMEOUT,
                })?;
            (turn, db.file.writer.begin_with("BEGIN IMMEDIATE").await?)
        }
    })
}

/// Starts a PostgreSQL transaction; an org-scoped one sets `zerotrace.org_id` for row-level security.
///
/// An org-scoped one is begun and pointed at its organization in one round trip: `BEGIN` and
/// the `set_config` go as one simple-protocol message. Most API requests are a transaction or
/// two of a statement each, so the separate `set_config` was a quarter of their round trips.
pub(crate) async fn begin_postgres(
    pool: &PgPool,
    scope: Option<OrgScope>,
) -> Result<Transaction<'static, Postgres>> {
    Ok(match scope {
        None => pool.begin().await?,
        Some(scope) => {
            // A UUID's text is hex digits and hyphens: nothing in it can leave the literal.
            let begin = format!(
                "BEGIN; SELECT set_config('zerotrace.org_id', '{}', true)",
                scope.org_id().0.hyphenated()
            );
            pool.begin_with(sqlx::AssertSqlSafe(begin)).await?
        }
    })
}

pub(crate) async fn set_org(conn: &mut PgConnection, scope: OrgScope) -> Result<()> {
    sqlx::query("SELECT set_config('zerotrace.org_id', $1, true)")
        .bind(scope.org_id().to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs `$body` inside a transaction scoped to `$scope` on whichever backend the store has. The
/// transaction commits when the body finishes; a `?` inside the body rolls it back.
macro_rules! scoped {
    ($store:expr, $scope:expr, $mode:ident, |$tx:ident| $body:expr) => {{
        match &$store.pool {
            $crate::db::Pool::Sqlite(db) => {
                let (_turn, mut $tx) =
                    $crate::db::begin_sqlite(db, $crate::db::TxMode::$mode).await?;
                let output = $body;
                $tx.commit().await?;
                output
            }
            $crate::db::Pool::Postgres(pool) => {
                let mut $tx = $crate::db::begin_postgres(pool, Some($scope)).await?;
                let output = $body;
                $tx.commit().await?;
                output
            }
        }
    }};
}

/// Like `scoped!` for a body that reads with one statement, the hottest reads (a device
/// credential's check, a report's receipt): on SQLite it runs on a reader without `BEGIN` and
/// `COMMIT`, which were two of the four trips such a read made to the connection's thread (one
/// statement reads one snapshot anyway). PostgreSQL still needs the transaction that points
/// row-level security at the organization.
macro_rules! scoped_statement {
    ($store:expr, $scope:expr, |$conn:ident| $body:expr) => {{
        match &$store.pool {
            $crate::db::Pool::Sqlite(db) => {
                let mut $conn = db.file.readers.acquire().await?;
                $body
            }
            $crate::db::Pool::Postgres(pool) => {
                let mut $conn = $crate::db::begin_postgres(pool, Some($scope)).await?;
                let output = $body;
                $conn.commit().await?;
                output
            }
        }
    }};
}

/// Like `scoped!` for the global tables (organizations, users, refresh tokens, settings).
macro_rules! global {
    ($store:expr, $mode:ident, |$tx:ident| $body:expr) => {{
        match &$store.pool {
            $crate::db::Pool::Sqlite(db) => {
                let (_turn, mut $tx) =
                    $crate::db::begin_sqlite(db, $crate::db::TxMode::$mode).await?;
                let output = $body;
                $tx.commit().await?;
                output
            }
            $crate::db::Pool::Postgres(pool) => {
                let mut $tx = $crate::db::begin_postgres(pool, None).await?;
                let output = $body;
                $tx.commit().await?;
                output
            }
        }
    }};
}

/// Appends an audit entry inside the transaction `$tx` of a `scoped!` body, so the entry commits
/// or rolls back with the change it records.
macro_rules! record_audit {
    ($tx:ident, $scope:expr, $entry:expr) => {{
        let entry: &$crate::audit::AuditEntry = $entry;
        sqlx::query(
            "INSERT INTO audit_log (org_id, id, at, actor_kind, actor_id, action, target_kind, target_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($scope.org_id())
        .bind(entry.id)
        .bind(entry.at)
        .bind(entry.actor_kind)
        .bind(entry.actor_id)
        .bind(entry.action)
        .bind(entry.target_kind)
        .bind(entry.target_id)
        .bind(&entry.detail)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Points an open transaction at an organization for the statements that follow, so one
/// transaction can carry a batch of work for several organizations: on PostgreSQL it sets the
/// transaction-local `zerotrace.org_id` that row-level security reads; SQLite has no second wall.
pub(crate) trait EnterScope {
    fn enter(&mut self, scope: OrgScope) -> impl Future<Output = Result<()>> + Send;
}

impl EnterScope for Transaction<'_, Sqlite> {
    async fn enter(&mut self, _scope: OrgScope) -> Result<()> {
        Ok(())
    }
}

impl EnterScope for Transaction<'_, Postgres> {
    async fn enter(&mut self, scope: OrgScope) -> Result<()> {
        set_org(self, scope).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite store in `dir`, not migrated.
    async fn sqlite_store_unmigrated(dir: &tempfile::TempDir) -> Store {
        let location = DatabaseLocation::SqliteFile(dir.path().join("zerotrace.db"));
        Store::open(&location).await.expect("open").0
    }

    fn sqlite_db(store: &Store) -> &SqliteDb {
        match &store.pool {
            Pool::Sqlite(db) => db,
            Pool::Postgres(_) => panic!("a file location opens SQLite"),
        }
    }

    #[tokio::test]
    async fn a_short_write_goes_before_a_batch_that_waited_longer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store_unmigrated(&dir).await;
        let db = sqlite_db(&store);
        let running = begin_sqlite(db, TxMode::Batch).await.expect("a batch");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let take_turn = |name: &'static str, mode: TxMode| {
            let (db, order) = (db.clone(), order.clone());
            tokio::spawn(async move {
                let (_turn, tx) = begin_sqlite(&db, mode).await.expect("a turn");
                order.lock().expect("order").push(name);
                tx.commit().await.expect("commit");
            })
        };
        // The pauses only let each task reach its queue before the next one arrives.
        let batch = take_turn("batch", TxMode::Batch);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let write = take_turn("write", TxMode::Write);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (turn, tx) = running;
        tx.commit().await.expect("commit");
        drop(turn);
        batch.await.expect("batch task");
        write.await.expect("write task");
        assert_eq!(*order.lock().expect("order"), ["write", "batch"]);
    }

    /// SQLite's migration 6 rebuilds `findings` and `packages`: the rows survive it, and the
    /// rebuilt tables still refuse what the old ones refused.
    #[tokio::test]
    async fn sqlite_tables_rebuilt_by_migration_6_keep_their_rows_and_checks() {
        use uuid::Uuid;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store_unmigrated(&dir).await;
        let writer = &sqlite_db(&store).file.writer;
        let before_6 = SQLITE_MIGRATIONS
            .iter()
            .position(|(v, ..)| *v == 6)
            .expect("6");
        migrator(&SQLITE_MIGRATIONS[..before_6])
            .run(writer)
            .await
            .expect("migrations 1 to 5");
        let (scope, agent) = crate::test_support::org_with_agent(&store, "rebuilt").await;
        let (org, asset, finding) = (scope.org_id().0, Uuid::now_v7(), Uuid::now_v7());
        sqlx::query(
            "INSERT INTO assets (org_id, id, agent_id, kind, name, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, 'host', 'h', 'now', 'now')",
        )
        .bind(org)
        .bind(asset)
        .bind(agent.0)
        .execute(writer)
        .await
        .expect("asset");
        sqlx::query(
            "INSERT INTO packages (org_id, asset_id, ecosystem, name, version, manager,
                 first_seen_at, match_ecosystem, match_name)
             VALUES (?1, ?2, 'npm', 'left-pad', '1.0.0', 'npm', 'now', 'npm', 'left-pad')",
        )
        .bind(org)
        .bind(asset)
        .execute(writer)
        .await
        .expect("package");
        let insert_finding =
            |id: Uuid, asset: Uuid, severity: &'static str, status: &'static str| {
                sqlx::query(
                    "INSERT INTO findings (org_id, id, asset_id, vulnerability_id, ecosystem,
                     package_name, package_version, severity, status, first_seen_at, reason)
                 VALUES (?1, ?2, ?3, 'GHSA-1', 'npm', 'left-pad', '1.0.0', ?4, ?5, 'now', 'r')",
                )
                .bind(org)
                .bind(id)
                .bind(asset)
                .bind(severity)
                .bind(status)
                .execute(writer)
            };
        insert_finding(finding, asset, "high", "open")
            .await
            .expect("finding");

        store.migrate(1).await.expect("migration 6");

        let kept: (String, String, String, String) = sqlx::query_as(
            "SELECT f.severity, f.status, f.reason, p.version FROM findings f
             JOIN packages p ON p.org_id = f.org_id AND p.asset_id = f.asset_id
             WHERE f.org_id = ?1 AND f.id = ?2",
        )
        .bind(org)
        .bind(finding)
        .fetch_one(writer)
        .await
        .expect("the rows are kept");
        assert_eq!(
            kept,
            ("high".into(), "open".into(), "r".into(), "1.0.0".into())
        );
        for (severity, status) in [("severe", "open"), ("high", "closed")] {
            let refused = insert_finding(Uuid::now_v7(), asset, severity, status).await;
            assert!(
                refused.is_err_and(|e| e.to_string().contains("CHECK constraint failed")),
                "{severity}/{status} must be refused"
            );
        }
        for status in ["fixed", "ignored"] {
            sqlx::query("DELETE FROM findings WHERE org_id = ?1")
                .bind(org)
                .execute(writer)
                .await
                .expect("delete");
            insert_finding(Uuid::now_v7(), asset, "unknown", status)
                .await
                .expect("every status of the set is taken");
        }
        let orphan = insert_finding(Uuid::now_v7(), Uuid::now_v7(), "low", "open").await;
        assert!(
            orphan.is_err_and(|e| e.to_string().contains("FOREIGN KEY constraint failed")),
            "a finding of no asset must be refused"
        );
    }
}
