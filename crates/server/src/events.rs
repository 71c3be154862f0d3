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

/// Events published to Redis in one message at most: a host's first report opens dozens of
/// findings at once, and one PUBLISH per event made Redis round trips the relay's limit (the
/// seed's first inventories on PostgreSQL + Redis dropped 629,149 events, against 4,371 in
/// runs of 256 with the old backlog).
const RELAY_BATCH: usize = 256;

/// Events waiting for the relay: the runs of a busy second on a machine whose cores are all
/// taken, which the relay catches up on when it is scheduled again.
const RELAY_BACKLOG: usize = 64 * RELAY_BATCH;

/// What crosses Redis: a run of events and the instance that published them (which ignores its
/// echo).
#[derive(Serialize)]
struct Relayed<'a> {
    origin: Uuid,
    events: &'a [Event],
}

/// The first field of a relayed message, read before its events: an instance's own echo is
/// skipped without decoding them.
#[derive(serde::Deserialize)]
struct RelayedOrigin {
    origin: Uuid,
}

#[derive(serde::Deserialize)]
struct RelayedEvents {
    events: Vec<Event>,
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
        let (relay, outgoing) = mpsc::channel(RELAY_BACKLOG);
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
    let mut events = Vec::with_capacity(RELAY_BATCH);
    while outgoing.recv_many(&mut events, RELAY_BATCH).await > 0 {
        let relayed = serde_json::to_vec(&Relayed {
            origin,
            events: &events,
        });
        events.clear();
        let Ok(payload) = relayed else {
            continue;
        };
        if connection.is_none() {
            connection = redis::aio::ConnectionManager::new(client.clone())
                .await
                .ok();
        }
        let Some(conn) = connection.as_mut() else {
            tracing::warn!("cannot reach Redis; events stay on this instance");
            continue;
        };
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(conn)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "publishing events to Redis failed");
        }
    }
}

/// The events of a message another instance relayed; `None` for this instance's own echo and
/// for a message that is not ours.
fn foreign_events(payload: &[u8], origin: Uuid) -> Option<Vec<Event>> {
    let sender = serde_json::from_slice::<RelayedOrigin>(payload).ok()?;
    if sender.origin == origin {
        return None;
    }
    serde_json::from_slice::<RelayedEvents>(payload)
        .ok()
        .map(|relayed| relayed.events)
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
                        let events = message
                            .get_payload::<Vec<u8>>()
                            .ok()
                            .and_then(|bytes| foreign_events(&bytes, origin));
                        let Some(local) = local.upgrade() else { return };
                        for event in events.into_iter().flatten() {
                            let _ = local.send(event);
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot connect to Redis for events"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis_url() -> String {
        std::env::var("ZEROTRACE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    fn status(hostname: &str) -> Event {
        Event::new(
            OrgId(Uuid::nil()),
            EventKind::AgentStatus {
                agent_id: Uuid::nil(),
                hostname: hostname.into(),
                status: "online".into(),
            },
        )
    }

    fn hostname(event: &Event) -> &str {
        match &event.kind {
            EventKind::AgentStatus { hostname, .. } => hostname,
            _ => "",
        }
    }

    /// The next event whose hostname is not a probe's.
    async fn next_real(receiver: &mut broadcast::Receiver<Event>) -> Event {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
                .await
                .expect("an event within 10 s")
                .expect("the bus is open and not lagging");
            if hostname(&event) != "probe" {
                return event;
            }
        }
    }

    /// More events than one relayed message holds reach the other instance, all and in order,
    /// and the publishing instance's own subscribers see each once (its echo is skipped).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_cross_redis_in_batches_once_each() {
        let url = redis_url();
        assert!(
            redis::Client::open(url.as_str())
                .and_then(|client| client.get_connection())
                .is_ok(),
            "Redis is not reachable at {url}; start it or set ZEROTRACE_TEST_REDIS"
        );
        let prefix = format!("zt-test-{}", Uuid::new_v4().simple());
        let first = EventBus::with_redis(&url, &prefix).expect("first bus");
        let second = EventBus::with_redis(&url, &prefix).expect("second bus");
        let mut at_first = first.subscribe();
        let mut at_second = second.subscribe();

        // Subscribing to Redis happens in the background: probe until the second one hears.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut heard = second.subscribe();
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no relay in 10 s");
            first.publish(status("probe"));
            if tokio::time::timeout(Duration::from_millis(100), heard.recv())
                .await
                .is_ok()
            {
                break;
            }
        }

        let count = RELAY_BATCH * 2 + 17;
        for i in 0..count {
            first.publish(status(&format!("host-{i}")));
        }
        for i in 0..count {
            assert_eq!(
                hostname(&next_real(&mut at_second).await),
                format!("host-{i}")
            );
        }
        // Redis delivers a channel's messages in the order it took them, so once the first
        // instance hears this marker, any echo of its own events has arrived before it.
        second.publish(status("marker"));
        for i in 0..count {
            assert_eq!(
                hostname(&next_real(&mut at_first).await),
                format!("host-{i}")
            );
        }
        assert_eq!(hostname(&next_real(&mut at_first).await), "marker");
    }
}
