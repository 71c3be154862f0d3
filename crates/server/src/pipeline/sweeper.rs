//! Periodic upkeep: agents that missed three heartbeats go offline (announced once), and the
//! retention policy runs on its schedule. Both visit every organization in its own scope.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use zerotrace_store::StoreError;
use zerotrace_store::retention::RetentionCutoffs;

use super::PipelineContext;
use crate::events::{Event, EventKind};

pub(super) async fn run(context: Arc<PipelineContext>, mut shutdown: watch::Receiver<bool>) {
    let sweep_every = (context.config.heartbeat_interval / 2).max(Duration::from_secs(1));
    let mut sweep = tokio::time::interval(sweep_every);
    let mut retention = tokio::time::interval(context.config.retention.every);
    for tick in [&mut sweep, &mut retention] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let outcome = tokio::select! {
            _ = shutdown.changed() => break,
            _ = sweep.tick() => sweep_offline(&context).await,
            _ = retention.tick() => apply_retention(&context).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "periodic upkeep failed; retrying on the next tick");
        }
    }
}

async fn sweep_offline(context: &PipelineContext) -> Result<(), StoreError> {
    let silent_since = OffsetDateTime::now_utc() - context.config.heartbeat_interval * 3;
    for org in context.store.org_ids().await? {
        let scope = context.authority.scope(org);
        for agent in context.store.mark_offline(scope, silent_since).await? {
            context.events.publish(Event::new(
                org,
                EventKind::AgentStatus {
                    agent_id: agent.id.0,
                    hostname: agent.hostname,
                    status: "offline".into(),
                },
            ));
        }
    }
    Ok(())
}

async fn apply_retention(context: &PipelineContext) -> Result<(), StoreError> {
    let policy = context.config.retention;
    let now = OffsetDateTime::now_utc();
    let cutoffs = RetentionCutoffs {
        packages_before: now - policy.packages,
        fixed_findings_before: now - policy.fixed_findings,
        reports_before: now - policy.reports,
    };
    for org in context.store.org_ids().await? {
        let outcome = context
            .store
            .apply_retention(context.authority.scope(org), cutoffs)
            .await?;
        if outcome != Default::default() {
            tracing::info!(org = %org, ?outcome, "retention applied");
        }
    }
    Ok(())
}
