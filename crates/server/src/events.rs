//! Live events for dashboards: what the workers and sweepers announce, fanned out to every
//! WebSocket of the event's organization. In process by default; with Redis the bus also
//! publishes to a channel every instance subscribes to, so a browser connected to one API
//! instance sees what a worker on another did.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;
use zerotrace_store::OrgId;

/// The seed's message types, as the WebSocket sends them (`{"type": "...", ...}`).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A finding was opened or reopened.
    NewVulnerability {
        finding_id: Uuid,
        asset_id: Uuid,
        vulnerability_id: String,
        package_name: String,
        package_version: String,
        severity: String,
        known_exploited: bool,
        reopened: bool,
    },
    /// An agent came online or went offline.
    AgentStatus {
        agent_id: Uuid,
        hostname: String,
        status: String,
    },
    /// A report (or a re-match after a knowledge-base change) was applied.
    ScanComplete {
        asset_id: Uuid,
        agent_id: Option<Uuid>,
        batch_id: Option<Uuid>,
        packages_added: usize,
        packages_removed: usize,
        findings_opened: usize,
        findings_fixed: usize,
    },
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Event {
    pub org_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn new(org_id: OrgId, kind: EventKind) -> Self {
        Event {
            org_id: org_id.0,
            at: OffsetDateTime::now_utc(),
            kind,
        }
    }
}

/// How many events a slow WebSocket may fall behind before it is told it missed some.
const BACKLOG: usize = 4096;

/// An `agent_status` event's status once the agent's credential is revoked: dashboards show it,
/// and every server forgets the agent's verified credential when it arrives.
pub const AGENT_REVOKED: &str = "revoked";

/// What crosses Redis: the event and the instance that published it (which ignores its echo).
#[derive(Serialize, serde::Deserialize)]
struct Relayed {
    origin: Uuid,
    event: Event,
}

#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<Event>,
    relay: Option<mpsc::Sender<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// Events reach this instance's subscribers only.
    pub fn new() -> Self {
        EventBus {
            local: broadcast::channel(BACKLOG).0,
            relay: None,
        }
    }

    /// Events also cross to (and arrive from) every instance subscribed to the same Redis
    /// channel `{prefix}:events`.
    pub fn with_redis(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let local = broadcast::channel(BACKLOG).0;
        let (relay, outgoing) = mpsc::channel(BACKLOG);
        let origin = Uuid::now_v7();
        let channel = format!("{prefix}:events");
        tokio::spawn(publish_to_redis(
            client.clone(),
            channel.clone(),
            origin,
            outgoing,
        ));
        tokio::spawn(receive_from_redis(
            client,
            channel,
            origin,
            local.downgrade(),
        ));
        Ok(EventBus {
            local,
            relay: Some(relay),
        })
    }

    /// Announces to every subscriber; no subscriber is fine. Never waits: if Redis is far
    /// behind, other instances miss the event (dashboards re-read on reconnect).
    pub fn publish(&self, event: Event) {
        if let Some(relay) = &self.relay
            && relay.try_send(event.clone()).is_err()
        {
            metrics::counter!("zerotrace_events_dropped_total").increment(1);
        }
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    /// Whether events published on other instances arrive here (through Redis).
    pub fn crosses_instances(&self) -> bool {
        self.relay.is_some()
    }
}

async fn publish_to_redis(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    mut outgoing: mpsc::Receiver<Event>,
) {
    let mut connection = None;
    while let Some(event) = outgoing.recv().await {
        let Ok(payload) = serde_json::to_vec(&Relayed { origin, event }) else {
            continue;
        };
        if connection.is_none() {
            connection = redis::aio::ConnectionManager::new(client.clone())
                .await
                .ok();
        }
        let Some(conn) = connection.as_mut() else {
            tracing::warn!("cannot reach Redis; an event stays on this instance");
            continue;
        };
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(conn)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "publishing an event to Redis failed");
        }
    }
}

/// Runs until the bus is dropped (noticed at the next message or reconnect).
async fn receive_from_redis(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    local: broadcast::WeakSender<Event>,
) {
    while local.strong_count() > 0 {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(error) = pubsub.subscribe(&channel).await {
                    tracing::warn!(%error, "cannot subscribe to Redis events");
                } else {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let relayed = message
                            .get_payload::<Vec<u8>>()
                            .ok()
                            .and_then(|bytes| serde_json::from_slice::<Relayed>(&bytes).ok());
                        let Some(local) = local.upgrade() else { return };
                        if let Some(relayed) = relayed.filter(|r| r.origin != origin) {
                            let _ = local.send(relayed.event);
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot connect to Redis for events"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
