//! The enrichment worker: takes inventory reports off the queue in batches, matches their
//! packages through the knowledge base's cache, and applies each batch (package diff, finding
//! lifecycle, summary; one transaction on PostgreSQL, runs of organizations on SQLite). It acks a
//! report only after its transaction commits, so a worker killed mid-batch loses nothing: the
//! batch is redelivered, and the asset's stored sequence number makes a second application
//! change nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;
use zerotrace_queue::{Delivery, DeliveryId, Queue};
use zerotrace_store::snapshots::{ApplyOutcome, Snapshot, SnapshotWork};
use zerotrace_store::{AgentId, BatchId, OrgId, OrgScope};

use super::PipelineContext;
use super::envelope::{Envelope, INVENTORY_TOPIC};
use super::report::{InventoryReport, ReportedPackage};
use crate::events::{Event, EventKind};

/// New-vulnerability events announced per report; the rest are counted in `scan_complete`
/// (a host's first report can open hundreds at once).
const EVENTS_PER_REPORT: usize = 100;

/// A delivery decoded into what the store applies.
struct Decoded {
    delivery: DeliveryId,
    scope: OrgScope,
    batch_id: Uuid,
    received_at_ms: i64,
    snapshot: Snapshot,
}

pub(super) async fn run(
    context: Arc<PipelineContext>,
    consumer: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = &context.config;
    tracing::info!(consumer, "inventory worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = Instant::now();
        let received = tokio::select! {
            _ = shutdown.changed() => break,
            received = context.queue.receive(INVENTORY_TOPIC, &consumer, config.batch_max, config.batch_wait) => received,
        };
        match received {
            Ok(deliveries) if deliveries.is_empty() => {}
            Ok(deliveries) => {
                record_stage("receive", started);
                process(&context, deliveries).await;
            }
            Err(error) => {
                tracing::warn!(%error, consumer, "cannot receive from the queue; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    tracing::info!(consumer, "inventory worker stopped");
}

async fn process(context: &Arc<PipelineContext>, deliveries: Vec<Delivery>) {
    // Decoding (gunzip, JSON) and matching are the batch's CPU work: off the runtime's threads,
    // which meanwhile serve the API and the other workers' database round trips.
    let started = Instant::now();
    let blocking_context = context.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let mut decoded = Vec::with_capacity(deliveries.len());
        let mut undecodable = Vec::new();
        for delivery in deliveries {
            match decode(&blocking_context, &delivery) {
                Ok(item) => decoded.push(item),
                Err(reason) => undecodable.push((delivery.id, reason)),
            }
        }
        let desired = blocking_context
            .knowledge
            .desired_findings_of_batch(decoded.iter().map(|item| &item.snapshot.packages[..]));
        (decoded, desired, undecodable)
    })
    .await;
    let Ok((decoded, desired, undecodable)) = prepared else {
        tracing::error!("decoding or matching panicked; the batch will be redelivered");
        return;
    };
    record_stage("prepare", started);
    for (delivery, reason) in undecodable {
        tracing::warn!(%delivery, reason, "undecodable inventory message");
        give_back(context, &delivery, &reason).await;
    }
    if decoded.is_empty() {
        return;
    }

    let work: Vec<SnapshotWork<'_>> = decoded
        .iter()
        .zip(&desired)
        .map(|(item, desired)| SnapshotWork {
            scope: item.scope,
            snapshot: &item.snapshot,
            desired,
        })
        .collect();
    let started = Instant::now();
    let (committed, failure) = match context.store.apply_snapshots(&work).await {
        Ok(outcomes) => (outcomes.into_iter().map(Some).collect(), None),
        Err(failure) => (failure.committed, Some(failure.error)),
    };
    record_stage("apply", started);
    let mut settled = Vec::new();
    let mut unsettled = Vec::new();
    for ((item, one), outcome) in decoded.iter().zip(&work).zip(committed) {
        match outcome {
            Some(outcome) => settled.push((item, outcome)),
            None => unsettled.push((item, one)),
        }
    }
    if !settled.is_empty() {
        let ids: Vec<DeliveryId> = settled
            .iter()
            .map(|(item, _)| item.delivery.clone())
            .collect();
        ack(context, &ids).await;
        for (item, outcome) in settled {
            announce(context, item, outcome);
        }
    }
    let Some(error) = failure else {
        return;
    };
    if work.len() == 1 {
        give_back(context, &decoded[0].delivery, &error.to_string()).await;
        return;
    }
    // One bad report must not hold back the others: apply the rest one by one.
    tracing::warn!(%error, reports = work.len(), unsettled = unsettled.len(), "batch failed; applying its unsettled reports one by one");
    for (item, one) in unsettled {
        let single = SnapshotWork {
            scope: one.scope,
            snapshot: one.snapshot,
            desired: one.desired,
        };
        match context.store.apply_snapshots(&[single]).await {
            Ok(mut outcomes) => {
                ack(context, std::slice::from_ref(&item.delivery)).await;
                if let Some(outcome) = outcomes.pop() {
                    announce(context, item, outcome);
                }
            }
            Err(failure) => give_back(context, &item.delivery, &failure.to_string()).await,
        }
    }
}

fn decode(context: &PipelineContext, delivery: &Delivery) -> Result<Decoded, String> {
    let envelope = Envelope::decode(&delivery.payload).map_err(|e| format!("envelope: {e}"))?;
    let received_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(envelope.received_at_ms) * 1_000_000)
            .map_err(|e| format!("envelope: received_at_ms: {e}"))?;
    let snapshot = InventoryReport::decode_with(
        &envelope.body,
        envelope.gzip,
        &context.config.limits,
        |report| Snapshot {
            agent_id: AgentId(envelope.agent_id),
            batch_id: BatchId(envelope.batch_id),
            received_at,
            hostname: envelope.hostname,
            os: report.os_label(),
            sequence: report.sequence,
            hash: report.hash.into_owned(),
            scanned_at: report.scanned_at,
            packages: report
                .packages
                .iter()
                .map(ReportedPackage::to_snapshot_package)
                .collect(),
        },
    )
    .map_err(|e| format!("report: {e}"))?;
    Ok(Decoded {
        delivery: delivery.id.clone(),
        // The API authenticated the agent of this organization before it enqueued the report.
        scope: context.authority.scope(OrgId(envelope.org_id)),
        batch_id: envelope.batch_id,
        received_at_ms: envelope.received_at_ms,
        snapshot,
    })
}

/// Where a worker's time goes, per batch: taking it off the queue (`receive`, waiting for work
/// included), decoding and matching it (`prepare`), applying it (`apply`, the store's turns
/// included) and acking it (`ack`).
fn record_stage(stage: &'static str, started: Instant) {
    metrics::histogram!("zerotrace_pipeline_stage_seconds", "stage" => stage)
        .record(started.elapsed().as_secs_f64());
}

async fn ack(context: &PipelineContext, ids: &[DeliveryId]) {
    let started = Instant::now();
    let acked = context.queue.ack(INVENTORY_TOPIC, ids).await;
    record_stage("ack", started);
    if let Err(error) = acked {
        // The work is committed; a redelivery will find the asset's sequence and skip it.
        tracing::warn!(%error, "ack failed after commit; the reports will be redelivered and skipped");
    }
}

async fn give_back(context: &PipelineContext, id: &DeliveryId, reason: &str) {
    if let Err(error) = context
        .queue
        .retry(INVENTORY_TOPIC, id, Duration::from_secs(1), reason)
        .await
    {
        tracing::warn!(%error, delivery = %id, "cannot hand the delivery back; it returns after the visibility timeout");
    }
}

fn announce(context: &PipelineContext, item: &Decoded, outcome: ApplyOutcome) {
    let org = item.scope.org_id();
    match outcome {
        ApplyOutcome::Stale { asset_sequence } => {
            metrics::counter!("zerotrace_pipeline_reports_total", "outcome" => "stale")
                .increment(1);
            tracing::debug!(batch = %item.batch_id, asset_sequence, "stale report skipped");
        }
        ApplyOutcome::Applied {
            asset_id,
            first_inventory,
            packages_added,
            packages_removed,
            findings,
        } => {
            metrics::counter!("zerotrace_pipeline_reports_total", "outcome" => "applied")
                .increment(1);
            metrics::counter!("zerotrace_pipeline_package_records_total")
                .increment(item.snapshot.packages.len() as u64);
            let latency_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
                - item.received_at_ms;
            // A host's first report writes all of its packages and findings; a later one mostly
            // repeats the last. Told apart, the figure for changes is not hidden by enrollments.
            let inventory = if first_inventory { "first" } else { "change" };
            metrics::histogram!("zerotrace_pipeline_report_to_findings_seconds", "inventory" => inventory)
                .record(latency_ms.max(0) as f64 / 1000.0);
            for opened in findings.opened.iter().take(EVENTS_PER_REPORT) {
                context.events.publish(Event::new(
                    org,
                    EventKind::NewVulnerability {
                        finding_id: opened.id.0,
                        asset_id: asset_id.0,
                        vulnerability_id: opened.vulnerability_id.clone(),
                        package_name: opened.package_name.clone(),
                        package_version: opened.package_version.clone(),
                        severity: opened.severity.to_string(),
                        known_exploited: opened.known_exploited,
                        reopened: opened.reopened,
                    },
                ));
            }
            context.events.publish(Event::new(
                org,
                EventKind::ScanComplete {
                    asset_id: asset_id.0,
                    agent_id: Some(item.snapshot.agent_id.0),
                    batch_id: Some(item.batch_id),
                    packages_added,
                    packages_removed,
                    findings_opened: findings.opened.len(),
                    findings_fixed: findings.fixed,
                },
            ));
        }
    }
}
