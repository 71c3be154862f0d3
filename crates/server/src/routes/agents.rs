//! Agents: enrollment and check-in (called by agents), and the organization's view of them.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::AgentId;
use zerotrace_store::agents::{Agent, CheckIn, HostFacts};
use zerotrace_store::credentials::{CredentialKind, PresentedCredential};
use zerotrace_store::enrollment::{EnrollOutcome, EnrollRefusal};

use crate::auth::{AgentCaller, Manage, OrgAccess, Read};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fields::{HostField, Text};
use crate::json::ValidJson;
use crate::routes::{Ids, Paged, Pagination, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(heartbeat))
        .routes(routes!(list_agents))
        .routes(routes!(get_agent))
        .routes(routes!(revoke_agent))
}

/// `online` while heartbeats arrive; `offline` after three missed; `revoked` once its credential
/// is revoked.
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum AgentStatus {
    Online,
    Offline,
    Revoked,
}

#[derive(Serialize, ToSchema)]
struct AgentView {
    id: Uuid,
    hostname: String,
    os: String,
    os_version: String,
    arch: String,
    agent_version: String,
    status: AgentStatus,
    enrollment_token_id: Uuid,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    enrolled_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    last_seen_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<OffsetDateTime>,
    /// The agent's own CPU use since its previous heartbeat, in percent of one core.
    cpu_percent: Option<f64>,
    /// The agent's resident memory at its last heartbeat.
    rss_bytes: Option<i64>,
}

impl AgentView {
    fn new(agent: Agent, state: &AppState) -> Self {
        let offline_after = state.config.heartbeat_interval * 3;
        let status = if agent.revoked_at.is_some() {
            AgentStatus::Revoked
        } else if OffsetDateTime::now_utc() - agent.last_seen_at > offline_after {
            AgentStatus::Offline
        } else {
            AgentStatus::Online
        };
        AgentView {
            id: agent.id.0,
            hostname: agent.hostname,
            os: agent.os,
            os_version: agent.os_version,
            arch: agent.arch,
            agent_version: agent.agent_version,
            status,
            enrollment_token_id: agent.enrollment_token_id.0,
            enrolled_at: agent.enrolled_at,
            last_seen_at: agent.last_seen_at,
            revoked_at: agent.revoked_at,
            cpu_percent: agent.cpu_percent,
            rss_bytes: agent.rss_bytes,
        }
    }
}

/// An agent's request to join an organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    /// The enrollment token (`zte_…`).
    #[schema(value_type = String)]
    token: Text<200>,
    hostname: HostField,
    /// Operating system family: `linux`, `windows`, `macos`, ...
    os: HostField,
    os_version: HostField,
    arch: HostField,
    agent_version: HostField,
}

/// The agent's identity. `credential` is shown only here: the agent stores it and sends it as
/// `Authorization: Bearer …` from then on.
#[derive(Serialize, ToSchema)]
struct EnrollResponse {
    agent_id: Uuid,
    org_id: Uuid,
    credential: String,
    /// How often the server expects a heartbeat.
    heartbeat_interval_secs: i64,
}

/// Enroll an agent with an organization's enrollment token.
#[utoipa::path(post, path = "/api/v1/agents/enroll", tag = "agents",
    request_body = EnrollRequest,
    responses(
        (status = 201, body = EnrollResponse),
        (status = 401, description = "Not a valid enrollment token", body = ErrorBody),
        (status = 403, description = "The token is revoked, expired or used up (the message says which)", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    let presented = PresentedCredential::parse(CredentialKind::Enrollment, request.token.as_str());
    state
        .limiter
        .check_enroll(peer.ip(), presented.as_ref().map(|token| token.id))?;
    let presented = presented.ok_or_else(ApiError::unauthorized)?;
    let facts = HostFacts {
        hostname: request.hostname.to_string(),
        os: request.os.to_string(),
        os_version: request.os_version.to_string(),
        arch: request.arch.to_string(),
        agent_version: request.agent_version.to_string(),
    };
    match state.store.enroll(&presented, &facts).await? {
        EnrollOutcome::Enrolled { agent, credential } => Ok((
            StatusCode::CREATED,
            Json(EnrollResponse {
                agent_id: agent.id.0,
                org_id: agent.org_id.0,
                credential,
                heartbeat_interval_secs: state.config.heartbeat_interval.whole_seconds(),
            }),
        )),
        EnrollOutcome::Refused(EnrollRefusal::Invalid) => Err(ApiError::unauthorized()),
        EnrollOutcome::Refused(refusal) => {
            let why = match refusal {
                EnrollRefusal::Revoked => "this enrollment token has been revoked",
                EnrollRefusal::Expired => "this enrollment token has expired",
                _ => "this enrollment token has been used as often as it allows",
            };
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "enrollment_refused",
                format!("{why}; ask an administrator for a new one"),
            ))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatRequest {
    agent_version: HostField,
    /// The agent's own CPU use since its previous heartbeat, in percent of one core.
    #[serde(default)]
    cpu_percent: Option<f64>,
    /// The agent's resident memory, in bytes.
    #[serde(default)]
    rss_bytes: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct HeartbeatResponse {
    heartbeat_interval_secs: i64,
}

/// An agent's periodic check-in.
#[utoipa::path(post, path = "/api/v1/agents/heartbeat", tag = "agents", security(("bearer" = [])),
    request_body = HeartbeatRequest,
    responses((status = 200, body = HeartbeatResponse), (status = 400, body = ErrorBody),
        (status = 401, description = "Unknown or revoked device credential", body = ErrorBody),
        (status = 429, description = "The agent's or the organization's rate limit; see Retry-After", body = ErrorBody)))]
async fn heartbeat(
    State(state): State<AppState>,
    agent: AgentCaller,
    ValidJson(request): ValidJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    state
        .ingest_limiter
        .check(agent.scope.org_id(), agent.agent_id)
        .await?;
    if let Some(cpu) = request.cpu_percent
        && !(0.0..=100_000.0).contains(&cpu)
    {
        return Err(ApiError::invalid_request(
            "cpu_percent: must be between 0 and 100000",
        ));
    }
    let rss_bytes = request
        .rss_bytes
        .map(|rss| {
            i64::try_from(rss).map_err(|_| ApiError::invalid_request("rss_bytes: too large"))
        })
        .transpose()?;
    state.check_ins.record(
        agent.scope,
        CheckIn {
            agent_id: agent.agent_id,
            at: OffsetDateTime::now_utc(),
            agent_version: request.agent_version.as_str().to_owned(),
            cpu_percent: request.cpu_percent,
            rss_bytes,
        },
    );
    Ok(Json(HeartbeatResponse {
        heartbeat_interval_secs: state.config.heartbeat_interval.whole_seconds(),
    }))
}

/// The organization's agents.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), params(Pagination),
    responses((status = 200, body = Paged<AgentView>), (status = 403, body = ErrorBody)))]
async fn list_agents(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    pagination: Pagination,
) -> ApiResult<Json<Paged<AgentView>>> {
    let page = pagination.page();
    let agents = state.store.list_agents(access.scope, page).await?;
    Ok(Json(Paged::new(
        agents,
        page,
        |agent| agent.id.0,
        |agent| AgentView::new(agent, &state),
    )))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    Ids(agent_id): Ids<Uuid>,
) -> ApiResult<Json<AgentView>> {
    let agent = state
        .store
        .get_agent(access.scope, AgentId(agent_id))
        .await?;
    agent
        .map(|agent| Json(AgentView::new(agent, &state)))
        .ok_or_else(|| ApiError::not_found("agent"))
}

/// Revoke an agent's credential: its next request gets 401.
#[utoipa::path(post, path = "/api/v1/agents/{agent_id}/revoke", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)))]
async fn revoke_agent(
    State(state): State<AppState>,
    access: OrgAccess<Manage>,
    Ids(agent_id): Ids<Uuid>,
) -> ApiResult<Json<AgentView>> {
    let agent = state
        .store
        .revoke_agent(access.scope, AgentId(agent_id), access.actor)
        .await?;
    let agent = agent.ok_or_else(|| ApiError::not_found("agent"))?;
    state.authenticator.announce_revoked(&agent);
    Ok(Json(AgentView::new(agent, &state)))
}
