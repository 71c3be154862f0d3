//! The test harness: each test starts the real server on a random port with a database of its
//! own (a fresh SQLite file, or a fresh PostgreSQL schema owned by an ordinary role so that
//! row-level security applies) and talks HTTP to it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use zerotrace_server::{Server, ServerConfig};
use zerotrace_store::DatabaseLocation;

/// Superuser connection used only to create and drop per-test schemas.
pub fn postgres_admin_url() -> String {
    std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The ordinary (non-superuser) role the server connects as in tests.
pub const APP_ROLE: &str = "zerotrace_test";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test; dropped (PostgreSQL schema) or deleted (SQLite file) afterwards.
pub struct TestDatabase {
    pub location: DatabaseLocation,
    pub postgres_schema: Option<String>,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                TestDatabase {
                    location: DatabaseLocation::SqliteFile(dir.path().join("zerotrace.db")),
                    postgres_schema: None,
                    _sqlite_dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let schema = format!("zt_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&postgres_admin_url())
                    .await
                    .unwrap_or_else(|error| {
                        panic!(
                            "PostgreSQL is needed for the postgres tests ({}): {error}. \
                         Start it (see README) or set ZEROTRACE_TEST_POSTGRES.",
                            postgres_admin_url()
                        )
                    });
                sqlx::query(
                    "DO $$ BEGIN
                         CREATE ROLE zerotrace_test LOGIN NOSUPERUSER NOBYPASSRLS;
                     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                     END $$",
                )
                .execute(&mut admin)
                .await
                .expect("create the test role");
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE SCHEMA {schema} AUTHORIZATION {APP_ROLE}"
                )))
                .execute(&mut admin)
                .await
                .expect("create the test schema");
                let base = postgres_admin_url();
                let url = app_url(&base, &schema);
                TestDatabase {
                    location: DatabaseLocation::Postgres(url),
                    postgres_schema: Some(schema),
                    _sqlite_dir: None,
                }
            }
        }
    }
}

/// The admin URL with the application role and the schema as its search path.
fn app_url(admin_url: &str, schema: &str) -> String {
    let rest = admin_url
        .split_once("://")
        .map_or(admin_url, |(_, rest)| rest);
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host_and_db = host_and_db.split('?').next().unwrap_or(host_and_db);
    format!("postgres://{APP_ROLE}@{host_and_db}?options[search_path]={schema}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(schema) = self.postgres_schema.take() {
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut admin = PgConnection::connect(&postgres_admin_url()).await.ok()?;
                    sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut admin)
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// A running server and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_email: String,
    pub admin_password: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub database: TestDatabase,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let database = TestDatabase::new(backend).await;
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().expect("address"),
            database.location.clone(),
        );
        config.partitions = 4;
        configure(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let address = server.local_addr().expect("bound");
        let admin = server
            .initial_admin
            .as_ref()
            .expect("a fresh database creates the administrator");
        let admin_email = admin.email.clone();
        let admin_password = admin
            .generated_password
            .clone()
            .expect("generated password");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestApp {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            admin_email,
            admin_password,
            shutdown: Some(shutdown),
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the status and the JSON body (`Value::Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    /// Logs in and returns the full token response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {email}: {body}");
        body
    }

    pub async fn admin_token(&self) -> String {
        access_token(&self.login(&self.admin_email, &self.admin_password).await)
    }

    /// A new organization with an org admin; returns the org id and the admin's access token.
    pub async fn org_with_admin(&self, name: &str) -> Org {
        let platform = self.admin_token().await;
        let (status, org) = self
            .post("/api/v1/orgs", Some(&platform), json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        let org_id = org["id"].as_str().expect("org id").to_owned();
        let email = format!("admin@{}.example", org["slug"].as_str().expect("slug"));
        let password = "a long enough password";
        let (status, user) = self
            .post(
                &format!("/api/v1/orgs/{org_id}/users"),
                Some(&platform),
                json!({"email": email, "password": password, "role": "org_admin"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        let token = access_token(&self.login(&email, password).await);
        Org {
            id: org_id,
            admin_token: token,
        }
    }

    pub async fn create_user(&self, org: &Org, email: &str, role: &str) -> String {
        let password = "another long password";
        let (status, body) = self
            .post(
                "/api/v1/users",
                Some(&org.admin_token),
                json!({"email": email, "password": password, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        access_token(&self.login(email, password).await)
    }

    /// Creates an enrollment token in `org` and enrolls an agent with it; returns (agent id, credential).
    pub async fn enroll_agent(&self, org: &Org, hostname: &str) -> (String, String) {
        let (status, created) = self
            .post(
                "/api/v1/enrollment-tokens",
                Some(&org.admin_token),
                json!({"name": "fleet"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, enrolled) = self
            .post(
                "/api/v1/agents/enroll",
                None,
                host_facts(created["token"].as_str().expect("token"), hostname),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{enrolled}");
        (
            enrolled["agent_id"].as_str().expect("agent id").to_owned(),
            enrolled["credential"]
                .as_str()
                .expect("credential")
                .to_owned(),
        )
    }

    /// Revokes an agent as `org`'s administrator; returns the answer.
    pub async fn revoke_agent(&self, org: &Org, agent_id: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/agents/{agent_id}/revoke"),
            Some(&org.admin_token),
            json!({}),
        )
        .await
    }
}

/// Another server process-alike on the same database as a [`TestApp`] (scale-out tests).
pub struct Instance {
    pub base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl TestApp {
    /// Starts a second server on this app's database.
    pub async fn spawn_another(&self, configure: impl FnOnce(&mut ServerConfig)) -> Instance {
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().expect("address"),
            self.database.location.clone(),
        );
        config.partitions = 4;
        configure(&mut config);
        let server = Server::start(config).await.expect("second server starts");
        let address = server.local_addr().expect("bound");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Instance {
            base: format!("http://{address}"),
            shutdown: Some(shutdown),
        }
    }
}

/// A key prefix of its own in the test Redis (`ZEROTRACE_TEST_REDIS`, default
/// `redis://127.0.0.1:6379`), deleted afterwards.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> TestRedis {
        let url = std::env::var("ZEROTRACE_TEST_REDIS")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let reachable = redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection())
            .is_ok();
        assert!(
            reachable,
            "Redis is not reachable at {url}; start it (redis-server --daemonize yes --port 6379) \
             or set ZEROTRACE_TEST_REDIS"
        );
        TestRedis {
            url,
            prefix: format!("zt-test-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub fn configure(&self, config: &mut ServerConfig) {
        config.queue_url = Some(self.url.clone());
        config.redis_url = Some(self.url.clone());
        config.redis_prefix = self.prefix.clone();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut connection) =
            redis::Client::open(self.url.as_str()).and_then(|client| client.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub struct Org {
    pub id: String,
    pub admin_token: String,
}

pub fn access_token(tokens: &Value) -> String {
    tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Asks `check` every 50 ms until it answers `Some`, for at most 10 s (then panics, naming `what`):
/// for what the server writes behind, such as heartbeats.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub fn host_facts(token: &str, hostname: &str) -> Value {
    json!({
        "token": token,
        "hostname": hostname,
        "os": "linux",
        "os_version": "Debian 12",
        "arch": "x86_64",
        "agent_version": "0.1.0",
    })
}

/// Writes each test once per backend: `backend_tests!(name, ...)` expects `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}
