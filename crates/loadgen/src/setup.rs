//! Building the fleet through the public API, the way an operator and a fleet of agents would.
//!
//! A platform administrator may create organizations and their first users, but not act as an
//! organization's administrator (enrollment tokens and API keys need the `org_admin` role), so
//! each organization gets an administrator of its own, who logs in and creates an enrollment
//! token (`max_uses` = the agents to enroll, expiring in a day) and a read-only API key (for a
//! test to look at the organization's data afterwards). Then every agent enrolls.
//!
//! Logins and enrollments are rate-limited per source address (all of ours are one address): a
//! `429` pauses every request of that kind until its `Retry-After` has passed, and from then on
//! they go one at a time, at the pace the server allows. Setting up a large fleet therefore takes
//! as long as the server's enrollment limit says (120 a minute per address by default), and the
//! summary reports it. Other failures are retried a few times, then end the setup with the
//! server's own words.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use zerotrace_agent::client::{EnrollRequest, Enrolled};
use zerotrace_agent::daemon::AGENT_VERSION;

use crate::config::LoadgenConfig;
use crate::http::{Answer, Http, NetworkError};
use crate::pool::PackagePool;
use crate::{LoadgenError, agent_seed};

/// Organizations set up at once: each costs the server two password hashes.
const ORG_PARALLELISM: usize = 4;
/// Attempts at a request that fails with a 5xx or no answer, before the setup gives up.
const ATTEMPTS: u32 = 4;
/// An access token this close to its expiry is renewed before use.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Hostname prefixes of the simulated machines.
const HOST_ROLES: [&str; 6] = ["laptop", "ws", "web", "db", "build", "app"];

/// The organizations and agents [`setup`] created, with every credential a test needs.
pub struct Fleet {
    /// Part of every name this run created (`loadgen-<run id>-1`), unique per run.
    pub run_id: String,
    pub orgs: Vec<FleetOrg>,
    /// How long setup took.
    pub setup_time: Duration,
    /// How many times the server's rate limits made setup wait.
    pub setup_throttled: u64,
}

impl Fleet {
    /// Every agent of every organization, in enrollment-index order.
    pub fn agents(&self) -> impl Iterator<Item = &FleetAgent> {
        self.orgs.iter().flat_map(|org| org.agents.iter())
    }
}

pub struct FleetOrg {
    pub id: String,
    pub slug: String,
    /// The organization's administrator (its password is not kept).
    pub admin_email: String,
    /// An API key with the `read` scope, for looking at the organization's data.
    pub read_api_key: String,
    pub enrollment_token: String,
    pub agents: Vec<FleetAgent>,
}

pub struct FleetAgent {
    pub id: String,
    pub hostname: String,
    /// The device credential (`ztd_…`).
    pub credential: String,
    /// Position in the fleet; seeds this agent's inventory and schedule.
    pub index: u64,
}

/// How far setup has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupProgress {
    pub orgs_ready: u32,
    pub orgs: u32,
    pub agents_enrolled: u64,
    pub agents: u64,
}

/// Creates the organizations and enrolls the agents `config` asks for; `progress` is called as
/// each organization and agent is ready. Enrollment facts (OS, version) match `pool`'s OS.
pub async fn setup(
    config: &LoadgenConfig,
    pool: &PackagePool,
    mut progress: impl FnMut(&SetupProgress),
) -> Result<Fleet, LoadgenError> {
    config.check()?;
    let started = Instant::now();
    let http =
        Http::new(&config.server, config.concurrency).map_err(|e| LoadgenError::Unreachable {
            url: config.server.as_str().to_owned(),
            message: e.to_string(),
        })?;
    let ctx = Arc::new(Context {
        http,
        login_gate: Gate::default(),
        enroll_gate: Gate::default(),
        other_gate: Gate::default(),
        throttled: AtomicU64::new(0),
    });
    let admin =
        Arc::new(Session::login(ctx.clone(), &config.admin_email, &config.admin_password).await?);
    let run_id = format!("{:08x}", rand::rng().random::<u32>());
    let mut state = SetupProgress {
        orgs_ready: 0,
        orgs: config.orgs,
        agents_enrolled: 0,
        agents: config.agents(),
    };
    progress(&state);

    let mut orgs: Vec<Option<FleetOrg>> = Vec::new();
    orgs.resize_with(config.orgs as usize, || None);
    let limit = Arc::new(Semaphore::new(ORG_PARALLELISM));
    let mut tasks = JoinSet::new();
    for number in 1..=config.orgs {
        let (ctx, admin, limit) = (ctx.clone(), admin.clone(), limit.clone());
        let (run_id, agents) = (run_id.clone(), config.agents_per_org);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let org = create_org(&ctx, &admin, &run_id, number, agents).await;
            (number, org)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (number, org) = joined.map_err(task_failed)?;
        orgs[number as usize - 1] = Some(org?);
        state.orgs_ready += 1;
        progress(&state);
    }
    let mut orgs: Vec<FleetOrg> = orgs.into_iter().flatten().collect();

    let os_version = pool
        .os()
        .pretty_name
        .clone()
        .unwrap_or_else(|| pool.os().id.clone());
    let limit = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = JoinSet::new();
    for (org_index, org) in orgs.iter().enumerate() {
        for number in 0..config.agents_per_org {
            let index = org_index as u64 * u64::from(config.agents_per_org) + u64::from(number);
            let mut rng = StdRng::seed_from_u64(agent_seed(config.seed, index, 0));
            let role = HOST_ROLES[rng.random_range(0..HOST_ROLES.len())];
            let hostname = format!("{role}-{:04}.{}.example", number + 1, org.slug);
            let (ctx, limit) = (ctx.clone(), limit.clone());
            let (token, os_version) = (org.enrollment_token.clone(), os_version.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let enrolled = enroll(&ctx, &token, &hostname, &os_version).await;
                (org_index, index, hostname, enrolled)
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (org_index, index, hostname, enrolled) = joined.map_err(task_failed)?;
        let enrolled = enrolled?;
        orgs[org_index].agents.push(FleetAgent {
            id: enrolled.agent_id,
            hostname,
            credential: enrolled.credential,
            index,
        });
        state.agents_enrolled += 1;
        progress(&state);
    }
    for org in &mut orgs {
        org.agents.sort_by_key(|agent| agent.index);
    }
    Ok(Fleet {
        run_id,
        orgs,
        setup_time: started.elapsed(),
        setup_throttled: ctx.throttled.load(Ordering::Relaxed),
    })
}

struct Context {
    http: Http,
    login_gate: Gate,
    enroll_gate: Gate,
    other_gate: Gate,
    throttled: AtomicU64,
}

/// A pause shared by every request of one kind, set by a `429 Retry-After`. Once the server has
/// throttled a kind of request, those requests go one at a time: the limit is per source
/// address, so sending them in parallel would only collect more 429s.
#[derive(Default)]
struct Gate {
    until: std::sync::Mutex<Option<Instant>>,
    throttled: AtomicBool,
    one_at_a_time: Mutex<()>,
}

impl Gate {
    /// Waits until a request may go; hold the guard while sending it.
    async fn enter(&self) -> Option<MutexGuard<'_, ()>> {
        let turn = if self.throttled.load(Ordering::Relaxed) {
            Some(self.one_at_a_time.lock().await)
        } else {
            None
        };
        let until = *self
            .until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
        turn
    }

    fn delay(&self, wait: Duration) {
        self.throttled.store(true, Ordering::Relaxed);
        let mut until = self
            .until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let new = Instant::now() + wait;
        *until = Some(until.map_or(new, |old| old.max(new)));
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// A logged-in user whose access token is renewed (by logging in again) before it expires:
/// setting up a large fleet takes longer than a token lives.
struct Session {
    ctx: Arc<Context>,
    email: String,
    password: String,
    token: Mutex<(String, Instant)>,
}

impl Session {
    async fn login(
        ctx: Arc<Context>,
        email: &str,
        password: &str,
    ) -> Result<Session, LoadgenError> {
        let token = log_in(&ctx, email, password).await?;
        Ok(Session {
            ctx,
            email: email.to_owned(),
            password: password.to_owned(),
            token: Mutex::new(token),
        })
    }

    async fn token(&self) -> Result<String, LoadgenError> {
        let mut token = self.token.lock().await;
        if Instant::now() + TOKEN_MARGIN >= token.1 {
            *token = log_in(&self.ctx, &self.email, &self.password).await?;
        }
        Ok(token.0.clone())
    }
}

async fn log_in(
    ctx: &Context,
    email: &str,
    password: &str,
) -> Result<(String, Instant), LoadgenError> {
    let step = format!("logging in as {email}");
    let body = json!({"email": email, "password": password});
    let answer = match call(
        ctx,
        &ctx.login_gate,
        &step,
        "/api/v1/auth/login",
        None,
        &body,
    )
    .await
    {
        Err(LoadgenError::Setup { message, .. }) if message.starts_with("HTTP 401") => {
            return Err(LoadgenError::Setup {
                step,
                message: format!(
                    "{message}; check --admin-email and --admin-password (or ZEROTRACE_ADMIN_PASSWORD)"
                ),
            });
        }
        other => other?,
    };
    let token: TokenResponse = expect_json(&answer, &step)?;
    Ok((
        token.access_token,
        Instant::now() + Duration::from_secs(token.expires_in),
    ))
}

#[derive(Deserialize)]
struct OrgView {
    id: String,
    slug: String,
}

#[derive(Deserialize)]
struct CreatedToken {
    token: String,
}

#[derive(Deserialize)]
struct CreatedApiKey {
    key: String,
}

/// Organization `number` with its administrator, enrollment token and read API key.
async fn create_org(
    ctx: &Arc<Context>,
    admin: &Session,
    run_id: &str,
    number: u32,
    agents: u32,
) -> Result<FleetOrg, LoadgenError> {
    let name = format!("loadgen-{run_id}-{number}");
    let step = format!("creating organization {name}");
    let body = json!({"name": name});
    let token = admin.token().await?;
    let answer = call(
        ctx,
        &ctx.other_gate,
        &step,
        "/api/v1/orgs",
        Some(&token),
        &body,
    )
    .await?;
    let org: OrgView = expect_json(&answer, &step)?;

    let email = format!("admin-{number}@loadgen-{run_id}.invalid");
    let password = random_password();
    let step = format!("creating {email} as administrator of {name}");
    let body = json!({
        "email": email,
        "display_name": "Load generator",
        "password": password,
        "role": "org_admin",
    });
    let path = format!("/api/v1/orgs/{}/users", org.id);
    let token = admin.token().await?;
    call(ctx, &ctx.other_gate, &step, &path, Some(&token), &body).await?;

    let org_admin = Session::login(ctx.clone(), &email, &password).await?;
    let token = org_admin.token().await?;
    let step = format!("creating an enrollment token in {name}");
    let body = json!({"name": "loadgen", "max_uses": agents, "expires_in_hours": 24});
    let answer = call(
        ctx,
        &ctx.other_gate,
        &step,
        "/api/v1/enrollment-tokens",
        Some(&token),
        &body,
    )
    .await?;
    let enrollment: CreatedToken = expect_json(&answer, &step)?;

    let step = format!("creating a read API key in {name}");
    let body = json!({"name": "loadgen", "scopes": ["read"], "expires_in_days": 1});
    let answer = call(
        ctx,
        &ctx.other_gate,
        &step,
        "/api/v1/api-keys",
        Some(&token),
        &body,
    )
    .await?;
    let key: CreatedApiKey = expect_json(&answer, &step)?;
    Ok(FleetOrg {
        id: org.id,
        slug: org.slug,
        admin_email: email,
        read_api_key: key.key,
        enrollment_token: enrollment.token,
        agents: Vec::new(),
    })
}

async fn enroll(
    ctx: &Context,
    token: &str,
    hostname: &str,
    os_version: &str,
) -> Result<Enrolled, LoadgenError> {
    let step = format!("enrolling {hostname}");
    let body = EnrollRequest {
        token,
        hostname,
        os: "linux",
        os_version,
        arch: "x86_64",
        agent_version: AGENT_VERSION,
    };
    let answer = call(
        ctx,
        &ctx.enroll_gate,
        &step,
        "/api/v1/agents/enroll",
        None,
        &body,
    )
    .await?;
    expect_json(&answer, &step)
}

/// POSTs `body` until it gets a 2xx: waits out 429s (and 503s with a `Retry-After`) at `gate`,
/// retries other 5xx and network errors
/// [`ATTEMPTS`] times, and turns anything else into the setup's error.
async fn call(
    ctx: &Context,
    gate: &Gate,
    step: &str,
    path: &str,
    bearer: Option<&str>,
    body: &impl serde::Serialize,
) -> Result<Answer, LoadgenError> {
    let mut failures = 0;
    loop {
        let turn = gate.enter().await;
        let outcome = ctx.http.post_json(path, bearer, body).await;
        drop(turn);
        let retryable = match outcome {
            Ok(answer) if (200..300).contains(&answer.status) => return Ok(answer),
            Ok(answer) => {
                if let Some(wait) = answer.wait() {
                    ctx.throttled.fetch_add(1, Ordering::Relaxed);
                    gate.delay(wait);
                    continue;
                }
                if answer.status < 500 {
                    return Err(LoadgenError::Setup {
                        step: step.to_owned(),
                        message: answer.describe(),
                    });
                }
                RetryableFailure::Server(answer.describe())
            }
            Err(error) => RetryableFailure::Network(error),
        };
        failures += 1;
        if failures >= ATTEMPTS {
            return Err(match retryable {
                RetryableFailure::Server(message) => LoadgenError::Setup {
                    step: step.to_owned(),
                    message,
                },
                RetryableFailure::Network(error) => LoadgenError::Unreachable {
                    url: ctx.http.url(path),
                    message: error.to_string(),
                },
            });
        }
        tokio::time::sleep(Duration::from_millis(250 << failures)).await;
    }
}

enum RetryableFailure {
    Server(String),
    Network(NetworkError),
}

fn expect_json<T: serde::de::DeserializeOwned>(
    answer: &Answer,
    step: &str,
) -> Result<T, LoadgenError> {
    answer.json().ok_or_else(|| LoadgenError::Setup {
        step: step.to_owned(),
        message: format!(
            "HTTP {} with a body this client does not understand",
            answer.status
        ),
    })
}

fn task_failed(error: tokio::task::JoinError) -> LoadgenError {
    LoadgenError::Setup {
        step: "running a setup task".to_owned(),
        message: error.to_string(),
    }
}

/// 32 random letters and digits: the organization administrators' passwords, used once.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
