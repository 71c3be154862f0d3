//! Authentication and authorization: who is calling, and what they may touch.
//!
//! This module is the only place that turns a credential into an [`OrgScope`]: it holds the
//! store's [`ScopeAuthority`], which it shares only with the pipeline's workers (they act on
//! reports this module authenticated before they were queued). Handlers receive scopes through
//! the extractors below, so a handler can only ever act for the organization its caller was
//! authenticated for.
//!
//! Credentials, by the prefix of the bearer token:
//! - `ztk_…`: an organization API key (scopes read, write, ingest, admin);
//! - `ztd_…`: an agent's device credential;
//! - anything else: a user's access token (a JWT from `/api/v1/auth/login`).

pub mod jwt;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use moka::sync::Cache;
use tokio::sync::broadcast;
use zerotrace_store::agents::Agent;
use zerotrace_store::api_keys::{ApiScope, ApiScopes};
use zerotrace_store::audit::Actor;
use zerotrace_store::credentials::{CredentialKind, PresentedCredential};
use zerotrace_store::users::Role;
use zerotrace_store::{AgentId, ApiKeyId, OrgId, OrgScope, ScopeAuthority, Store, UserId};

use crate::error::ApiError;
use crate::events::{AGENT_REVOKED, Event, EventBus, EventKind};
use jwt::JwtKeys;

/// How long a verified device credential is trusted without asking the store again, when every
/// revocation reaches this server as it is made: by this server ([`Authenticator::announce_revoked`]),
/// or by another whose `agent_status` event arrives over the bus ([`forget_revoked_devices`]),
/// or by none other, because no other server shares the database (SQLite). Agents heartbeat
/// every minute: under the seed's load a 10 s life made nearly every call a store read (6% of
/// the server's CPU embedded; three round trips on PostgreSQL). An announcement lost on the way
/// (Redis unreachable or far behind) leaves a revoked agent accepted here for this long at most.
pub const DEVICE_TRUST_ANNOUNCED: Duration = Duration::from_secs(300);

/// How long a verified device credential is trusted when another server could revoke it
/// unannounced (PostgreSQL shared without Redis): the longest a revoked agent is accepted here.
pub const DEVICE_TRUST_UNANNOUNCED: Duration = Duration::from_secs(10);

/// Verified device credentials kept at most: an entry is small (ids, a hash, the hostname), so
/// this covers the seed's 100,000 agents in a few tens of MiB.
const VERIFIED_DEVICES_MAX: u64 = 200_000;

/// A device credential the store verified lately: the agent it names and its secret's hash.
#[derive(Clone)]
struct VerifiedDevice {
    secret_hash: [u8; 32],
    org_id: OrgId,
    hostname: String,
}

/// Verifies credentials and mints organization scopes.
pub struct Authenticator {
    store: Store,
    authority: Arc<ScopeAuthority>,
    pub jwt: JwtKeys,
    verified_devices: Cache<AgentId, VerifiedDevice>,
    events: EventBus,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    PlatformAdmin {
        user_id: UserId,
    },
    Member {
        user_id: UserId,
        role: Role,
        scope: OrgScope,
    },
    ApiKey {
        key_id: ApiKeyId,
        scopes: ApiScopes,
        scope: OrgScope,
    },
    Agent {
        agent_id: AgentId,
        hostname: String,
        scope: OrgScope,
    },
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::PlatformAdmin { user_id } | Principal::Member { user_id, .. } => {
                Actor::User(*user_id)
            }
            Principal::ApiKey { key_id, .. } => Actor::ApiKey(*key_id),
            Principal::Agent { agent_id, .. } => Actor::Agent(*agent_id),
        }
    }

    pub fn org_scope(&self) -> Option<OrgScope> {
        match self {
            Principal::PlatformAdmin { .. } => None,
            Principal::Member { scope, .. }
            | Principal::ApiKey { scope, .. }
            | Principal::Agent { scope, .. } => Some(*scope),
        }
    }
}

impl Authenticator {
    /// `device_trust` is how long a verified device credential is believed without the store
    /// ([`DEVICE_TRUST_ANNOUNCED`] when `events` carries every other server's revocations).
    /// Spawns the task that forgets a device when `events` announce its revocation.
    pub fn new(
        store: Store,
        authority: Arc<ScopeAuthority>,
        jwt: JwtKeys,
        events: &EventBus,
        device_trust: Duration,
    ) -> Self {
        let verified_devices = Cache::builder()
            .max_capacity(VERIFIED_DEVICES_MAX)
            .time_to_live(device_trust)
            .build();
        tokio::spawn(forget_revoked_devices(
            events.subscribe(),
            verified_devices.clone(),
        ));
        Authenticator {
            store,
            authority,
            jwt,
            verified_devices,
            events: events.clone(),
        }
    }

    /// After the store revoked `agent`: stops trusting its credential here at once, and tells
    /// every other server (and the organization's dashboards) with an `agent_status` event.
    pub fn announce_revoked(&self, agent: &Agent) {
        self.verified_devices.invalidate(&agent.id);
        self.events.publish(Event::new(
            agent.org_id,
            EventKind::AgentStatus {
                agent_id: agent.id.0,
                hostname: agent.hostname.clone(),
                status: AGENT_REVOKED.into(),
            },
        ));
    }

    /// The agent a device credential names, from the verified cache or else the store.
    async fn verify_device(
        &self,
        presented: &PresentedCredential,
    ) -> Result<Option<Principal>, ApiError> {
        let agent_id = AgentId(presented.id);
        let verified = match self.verified_devices.get(&agent_id) {
            Some(verified) if verified.org_id.0 == presented.org => Some(verified),
            _ => None,
        };
        let verified = match verified {
            // A wrong secret for a cached agent is refused here, as the store would refuse it.
            Some(verified) => presented.matches(&verified.secret_hash).then_some(verified),
            None => match self.store.verify_device(presented).await? {
                Some(agent) => {
                    let verified = VerifiedDevice {
                        secret_hash: presented.secret_hash(),
                        org_id: agent.org_id,
                        hostname: agent.hostname,
                    };
                    self.verified_devices.insert(agent_id, verified.clone());
                    Some(verified)
                }
                None => None,
            },
        };
        Ok(verified.map(|verified| Principal::Agent {
            agent_id,
            hostname: verified.hostname,
            scope: self.authority.scope(verified.org_id),
        }))
    }

    /// The caller named by the request's bearer credential, or 401.
    pub async fn authenticate(&self, parts: &Parts) -> Result<Principal, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty() && token.len() <= 4096)
            .ok_or_else(ApiError::unauthorized)?;

        if let Some(presented) = PresentedCredential::parse(CredentialKind::ApiKey, token) {
            let key = self
                .store
                .verify_api_key(&presented)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            return Ok(Principal::ApiKey {
                key_id: key.id,
                scopes: key.scopes,
                scope: self.authority.scope(key.org_id),
            });
        }
        if let Some(presented) = PresentedCredential::parse(CredentialKind::Device, token) {
            return self
                .verify_device(&presented)
                .await?
                .ok_or_else(ApiError::unauthorized);
        }
        let claims = self.jwt.verify(token).ok_or_else(ApiError::unauthorized)?;
        let user_id = UserId(claims.sub);
        match (claims.role, claims.org) {
            (Role::PlatformAdmin, None) => Ok(Principal::PlatformAdmin { user_id }),
            (role, Some(org)) if role != Role::PlatformAdmin => Ok(Principal::Member {
                user_id,
                role,
                scope: self.authority.scope(OrgId(org)),
            }),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

/// Forgets each device whose revocation `events` announce, until the bus closes. Having fallen
/// behind the bus, it cannot tell which revocations it missed, so it forgets every device.
async fn forget_revoked_devices(
    mut events: broadcast::Receiver<Event>,
    verified_devices: Cache<AgentId, VerifiedDevice>,
) {
    loop {
        match events.recv().await {
            Ok(Event {
                kind:
                    EventKind::AgentStatus {
                        agent_id, status, ..
                    },
                ..
            }) if status == AGENT_REVOKED => verified_devices.invalidate(&AgentId(agent_id)),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => verified_devices.invalidate_all(),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Any authenticated caller.
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        authenticator.authenticate(parts).await.map(Caller)
    }
}

/// What an organization-scoped endpoint requires of its caller.
pub trait Permission {
    /// Said in the 403 when the caller lacks it.
    const NEEDS: &'static str;
    fn member(role: Role) -> bool;
    fn api_key(scopes: &ApiScopes) -> bool;
}

/// Read the organization's data.
pub struct Read;
/// Administer the organization: users, keys, enrollment tokens, agents.
pub struct Manage;

impl Permission for Read {
    const NEEDS: &'static str =
        "a member of the organization or an API key with the read or admin scope";
    fn member(role: Role) -> bool {
        matches!(role, Role::OrgAdmin | Role::Analyst | Role::Viewer)
    }
    fn api_key(scopes: &ApiScopes) -> bool {
        scopes.contains(ApiScope::Read) || scopes.contains(ApiScope::Admin)
    }
}

impl Permission for Manage {
    const NEEDS: &'static str = "the org_admin role or an API key with the admin scope";
    fn member(role: Role) -> bool {
        role == Role::OrgAdmin
    }
    fn api_key(scopes: &ApiScopes) -> bool {
        scopes.contains(ApiScope::Admin)
    }
}

/// A caller allowed `P` in one organization, with that organization's scope.
pub struct OrgAccess<P> {
    pub scope: OrgScope,
    pub actor: Actor,
    _permission: PhantomData<P>,
}

impl<S, P> FromRequestParts<S> for OrgAccess<P>
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
    P: Permission,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        let allowed = match &principal {
            Principal::Member { role, .. } => P::member(*role),
            Principal::ApiKey { scopes, .. } => P::api_key(scopes),
            Principal::PlatformAdmin { .. } | Principal::Agent { .. } => false,
        };
        match principal.org_scope() {
            Some(scope) if allowed => Ok(OrgAccess {
                scope,
                actor: principal.actor(),
                _permission: PhantomData,
            }),
            _ => Err(ApiError::forbidden(format!("this needs {}", P::NEEDS))),
        }
    }
}

/// A platform administrator. Can act inside a named organization (to create its first users).
pub struct PlatformAdmin {
    pub user_id: UserId,
    authenticator: Arc<Authenticator>,
}

impl PlatformAdmin {
    /// A scope for an organization the administrator names (the caller checks it exists).
    pub fn act_in(&self, org_id: OrgId) -> OrgScope {
        self.authenticator.authority.scope(org_id)
    }
}

impl<S> FromRequestParts<S> for PlatformAdmin
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        match authenticator.authenticate(parts).await? {
            Principal::PlatformAdmin { user_id } => Ok(PlatformAdmin {
                user_id,
                authenticator,
            }),
            _ => Err(ApiError::forbidden("this needs a platform administrator")),
        }
    }
}

/// An enrolled agent, authenticated by its device credential.
pub struct AgentCaller {
    pub agent_id: AgentId,
    pub hostname: String,
    pub scope: OrgScope,
}

impl<S> FromRequestParts<S> for AgentCaller
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        match principal {
            Principal::Agent {
                agent_id,
                hostname,
                scope,
            } => Ok(AgentCaller {
                agent_id,
                hostname,
                scope,
            }),
            _ => Err(ApiError::forbidden(
                "this needs an agent's device credential",
            )),
        }
    }
}
