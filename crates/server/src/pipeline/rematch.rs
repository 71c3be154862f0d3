//! Re-matching after the knowledge base changed: only the assets holding a package whose
//! advisories changed are visited, in every organization, each in its own transaction, so
//! readers see an asset's old findings or its new ones and never an empty gap.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use zerotrace_store::StoreError;

use super::knowledge::Reload;
use super::{PipelineContext, ReloadRequest};
use crate::events::{Event, EventKind};

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RematchOutcome {
    /// Advisories added, updated and withdrawn by the reload.
    pub advisories_added: usize,
    pub advisories_updated: usize,
    pub advisories_withdrawn: usize,
    /// Distinct packages (ecosystem, name) whose advisories changed.
    pub packages_changed: usize,
    pub assets_rematched: usize,
    pub findings_opened: usize,
    pub findings_fixed: usize,
    pub findings_refreshed: usize,
    pub seconds: f64,
}

/// Polls the knowledge-base file, and serves reloads asked for by the admin endpoint.
pub(super) async fn watch_knowledge(
    context: Arc<PipelineContext>,
    mut shutdown: watch::Receiver<bool>,
    mut reloads: mpsc::Receiver<ReloadRequest>,
) {
    let mut tick = tokio::time::interval(context.config.knowledge_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => None,
            Some(reply) = reloads.recv() => Some(reply),
        };
        if *shutdown.borrow() {
            break;
        }
        let outcome = reload_and_rematch(&context).await;
        if let Err(error) = &outcome {
            tracing::warn!(%error, "knowledge base reload failed; keeping the loaded one");
        }
        if let Some(reply) = asked {
            let _ = reply.send(outcome);
        }
    }
}

/// Reloads the knowledge-base file if it changed and re-matches what moved. `None` when the
/// file did not change.
async fn reload_and_rematch(context: &PipelineContext) -> Result<Option<RematchOutcome>, String> {
    let knowledge = context.knowledge.clone();
    let reload = tokio::task::spawn_blocking(move || knowledge.reload_if_changed())
        .await
        .map_err(|e| format!("reload task failed: {e}"))?
        .map_err(|e| e.to_string())?;
    match reload {
        None => Ok(None),
        Some(reload) => {
            tracing::info!(
                added = reload.added,
                updated = reload.updated,
                withdrawn = reload.withdrawn,
                packages = reload.packages.len(),
                "knowledge base reloaded"
            );
            rematch(context, &reload)
                .await
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

/// Re-evaluates the findings of every asset that `reload` touches.
pub async fn rematch(
    context: &PipelineContext,
    reload: &Reload,
) -> Result<RematchOutcome, StoreError> {
    let started = Instant::now();
    let mut outcome = RematchOutcome {
        advisories_added: reload.added,
        advisories_updated: reload.updated,
        advisories_withdrawn: reload.withdrawn,
        packages_changed: reload.packages.len(),
        ..RematchOutcome::default()
    };
    if reload.packages.is_empty() && !reload.enrichment_changed {
        return Ok(outcome);
    }
    for org in context.store.org_ids().await? {
        let scope = context.authority.scope(org);
        let assets = if reload.enrichment_changed {
            context.store.asset_ids(scope).await?
        } else {
            context
                .store
                .assets_with_match_keys(scope, &reload.packages)
                .await?
        };
        for asset in assets {
            let packages = context.store.asset_packages(scope, asset).await?;
            let knowledge = context.knowledge.clone();
            let desired =
                tokio::task::spawn_blocking(move || knowledge.desired_findings(&packages))
                    .await
                    .unwrap_or_default();
            let changes = context
                .store
                .reconcile_asset(scope, asset, &desired)
                .await?;
            outcome.assets_rematched += 1;
            outcome.findings_opened += changes.opened.len();
            outcome.findings_fixed += changes.fixed;
            outcome.findings_refreshed += changes.refreshed;
            if !changes.opened.is_empty() || changes.fixed > 0 {
                context.events.publish(Event::new(
                    org,
                    EventKind::ScanComplete {
                        asset_id: asset.0,
                        agent_id: None,
                        batch_id: None,
                        packages_added: 0,
                        packages_removed: 0,
                        findings_opened: changes.opened.len(),
                        findings_fixed: changes.fixed,
                    },
                ));
            }
        }
    }
    let elapsed = started.elapsed();
    outcome.seconds = elapsed.as_secs_f64();
    metrics::histogram!("zerotrace_pipeline_rematch_seconds").record(elapsed.as_secs_f64());
    tracing::info!(
        assets = outcome.assets_rematched,
        opened = outcome.findings_opened,
        fixed = outcome.findings_fixed,
        seconds = outcome.seconds,
        "re-match finished"
    );
    Ok(outcome)
}
