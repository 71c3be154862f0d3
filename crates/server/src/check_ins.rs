//! Agents' heartbeats, written behind. A heartbeat is answered as soon as its device credential
//! is verified; what it says (when, the agent's version, CPU and memory) waits here, one entry
//! per agent, and every [`FLUSH_EVERY`] all of them are written in one transaction.
//!
//! Why: a write transaction per heartbeat was most of the API's writes. At the seed's scale
//! (100,000 agents, a heartbeat a minute each) that is 600–1,700 transactions a second, and on
//! SQLite each one waited for the database's one writer, behind the workers' batches. Written
//! behind, the embedded server took the seed's first inventories as fast as the load generator
//! offered them (41.5k package records/s, against 25.4k before, at the same concurrency).
//!
//! What it costs: an agent's last-seen time and version reach the database up to a second late,
//! and a heartbeat accepted in the second before a crash is lost (the agent sends the next one
//! within its interval). An agent coming back online is announced when its check-in is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use zerotrace_store::agents::CheckIn;
use zerotrace_store::{AgentId, OrgId, OrgScope, Store, StoreError};

use crate::events::{Event, EventBus, EventKind};

/// How long a heartbeat waits to be written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The check-ins not written yet: the latest of each agent.
pub struct CheckIns {
    store: Store,
    events: EventBus,
    pending: Mutex<HashMap<AgentId, (OrgScope, CheckIn)>>,
}

impl CheckIns {
    pub fn new(store: Store, events: EventBus) -> CheckIns {
        CheckIns {
            store,
            events,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the check-in until the next flush; a later one of the same agent replaces it. Memory
    /// stays bounded by the number of authenticated agents.
    pub fn record(&self, scope: OrgScope, check_in: CheckIn) {
        self.lock().insert(check_in.agent_id, (scope, check_in));
    }

    /// Writes every pending check-in and announces the agents that were offline. On an error the
    /// check-ins go back, unless a newer one of the same agent arrived meanwhile.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return Ok(());
        }
        // In one order (organization, agent) for every instance's flush, so that two never wait
        // on each other's rows in a cycle.
        let mut by_org: BTreeMap<OrgId, (OrgScope, Vec<CheckIn>)> = BTreeMap::new();
        for (scope, check_in) in taken.into_values() {
            by_org
                .entry(scope.org_id())
                .or_insert((scope, Vec::new()))
                .1
                .push(check_in);
        }
        let by_org: Vec<(OrgScope, Vec<CheckIn>)> = by_org
            .into_values()
            .map(|(scope, mut check_ins)| {
                check_ins.sort_by_key(|check_in| check_in.agent_id);
                (scope, check_ins)
            })
            .collect();
        match self.store.record_check_ins(&by_org).await {
            Ok(back_online) => {
                for agent in back_online {
                    self.events.publish(Event::new(
                        agent.org_id,
                        EventKind::AgentStatus {
                            agent_id: agent.id.0,
                            hostname: agent.hostname,
                            status: "online".into(),
                        },
                    ));
                }
                Ok(())
            }
            Err(error) => {
                let mut pending = self.lock();
                for (scope, check_ins) in by_org {
                    for check_in in check_ins {
                        pending
                            .entry(check_in.agent_id)
                            .or_insert((scope, check_in));
                    }
                }
                Err(error)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (OrgScope, CheckIn)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Flushes every [`FLUSH_EVERY`] until `shutdown` turns true, then once more.
pub async fn run(check_ins: std::sync::Arc<CheckIns>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {}
        }
        if let Err(error) = check_ins.flush().await {
            tracing::warn!(%error, "cannot write agents' heartbeats; retrying on the next tick");
        }
    }
    if let Err(error) = check_ins.flush().await {
        tracing::warn!(%error, "the last heartbeats were not written before shutdown");
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;
    use zerotrace_store::DatabaseLocation;

    use super::*;

    fn check_in(agent: AgentId, version: &str) -> CheckIn {
        CheckIn {
            agent_id: agent,
            at: OffsetDateTime::now_utc(),
            agent_version: version.to_owned(),
            cpu_percent: None,
            rss_bytes: None,
        }
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_every_agents_latest_check_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = DatabaseLocation::SqliteFile(dir.path().join("zerotrace.db"));
        let (store, authority) = Store::open(&location).await.expect("open");
        store.migrate(1).await.expect("migrate");
        // A closed store fails every write, as a lost database would.
        store.close().await;
        let check_ins = CheckIns::new(store, EventBus::new());
        let scope = authority.scope(OrgId(Uuid::now_v7()));
        let (first, second) = (AgentId(Uuid::now_v7()), AgentId(Uuid::now_v7()));
        check_ins.record(scope, check_in(first, "0.1.0"));
        check_ins.record(scope, check_in(first, "0.2.0"));
        check_ins.record(scope, check_in(second, "0.1.0"));

        check_ins.flush().await.expect_err("the store is closed");

        let pending = check_ins.lock();
        let mut kept: Vec<(AgentId, &str)> = pending
            .values()
            .map(|(_, c)| (c.agent_id, c.agent_version.as_str()))
            .collect();
        kept.sort();
        assert_eq!(kept, [(first, "0.2.0"), (second, "0.1.0")]);
    }
}
