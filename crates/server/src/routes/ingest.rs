//! `POST /api/v1/agents/inventory`: an agent's full software snapshot. Validated here (size,
//! package count, field lengths), durably enqueued, and answered 202 with a batch id before any
//! matching happens; the workers do the rest (`pipeline/`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_queue::{Queue, QueueError};
use zerotrace_store::BatchId;
use zerotrace_store::snapshots::ReportCheck;

use crate::auth::AgentCaller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::pipeline::envelope::{Envelope, INVENTORY_TOPIC};
use crate::pipeline::report::{InventoryReport, ReportError};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inventory))
}

#[derive(Serialize, ToSchema)]
struct InventoryReceipt {
    /// Names this report in logs and in the agent's status; the same for a repeated sequence.
    batch_id: Uuid,
    /// `accepted` (queued for matching), `duplicate` (this sequence was processed before) or
    /// `stale` (older than a report already processed; ignored). A repeat that arrives before
    /// the first is processed is `accepted` again (the worker finds it stale); its batch id is
    /// the same either way.
    status: &'static str,
}

/// Seconds an agent is asked to wait when the queue is full.
const QUEUE_FULL_RETRY_SECS: u64 = 30;

/// An agent's full inventory snapshot (the contract: `crates/agent/INVENTORY_CONTRACT.md`).
///
/// The body is the JSON report, plain or with `Content-Encoding: gzip`. A 202 means the report
/// is durably queued; its findings follow within seconds.
#[utoipa::path(post, path = "/api/v1/agents/inventory", tag = "agents", security(("bearer" = [])),
    request_body(content = String, description = "The inventory report as JSON (`sequence`, `hash`, `scanned_at`, `os`, `packages`), optionally gzip-compressed", content_type = "application/json"),
    responses(
        (status = 202, body = InventoryReceipt),
        (status = 400, description = "A field is invalid (the message names it)", body = ErrorBody),
        (status = 401, description = "Unknown or revoked device credential", body = ErrorBody),
        (status = 413, description = "The body, compressed or decompressed, is too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or an encoding other than gzip", body = ErrorBody),
        (status = 429, description = "The agent's or the organization's rate limit; see Retry-After", body = ErrorBody),
        (status = 503, description = "The queue is full; see Retry-After", body = ErrorBody),
    ))]
async fn inventory(
    State(state): State<AppState>,
    agent: AgentCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<InventoryReceipt>)> {
    state
        .ingest_limiter
        .check(agent.scope.org_id(), agent.agent_id)
        .await?;
    let gzip = body_encoding(&headers)?;
    let limits = state.pipeline.limits;
    let bytes = body.clone();
    let (sequence, records) = tokio::task::spawn_blocking(move || {
        InventoryReport::decode_with(&bytes, gzip, &limits, |report| {
            (report.sequence, report.packages.len())
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| match error {
        ReportError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            error.to_string(),
        ),
        other => ApiError::invalid_request(other.to_string()),
    })?;

    let receipt = |batch: BatchId, status| {
        Ok((
            StatusCode::ACCEPTED,
            Json(InventoryReceipt {
                batch_id: batch.0,
                status,
            }),
        ))
    };
    let batch = BatchId::of_report(agent.agent_id, sequence);
    match state
        .store
        .check_report(agent.scope, agent.agent_id, sequence)
        .await?
    {
        ReportCheck::Duplicate(batch) => return receipt(batch, "duplicate"),
        ReportCheck::Stale { latest } => {
            tracing::info!(agent = %agent.agent_id, sequence, latest, "stale inventory ignored");
            return receipt(batch, "stale");
        }
        ReportCheck::New => {}
    }

    let envelope = Envelope {
        org_id: agent.scope.org_id().0,
        agent_id: agent.agent_id.0,
        batch_id: batch.0,
        hostname: agent.hostname.clone(),
        received_at_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        gzip,
        body: body.to_vec(),
    };
    let payload = envelope.encode().map_err(ApiError::internal)?;
    // Nothing else is written here: the worker that processes the report writes its receipt.
    match state
        .queue
        .enqueue(INVENTORY_TOPIC, &agent.agent_id.to_string(), &payload)
        .await
    {
        Ok(_) => {}
        Err(QueueError::Full { .. } | QueueError::Busy { .. }) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                "the server is behind on processing reports; retry later",
            )
            .with_retry_after(QUEUE_FULL_RETRY_SECS));
        }
        Err(other) => return Err(ApiError::internal(other)),
    }
    metrics::counter!("zerotrace_ingest_package_records_total").increment(records as u64);
    receipt(batch, "accepted")
}

/// `true` for gzip; 415 for anything but JSON, plain or gzip.
fn body_encoding(headers: &HeaderMap) -> ApiResult<bool> {
    let unsupported = |message: String| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(unsupported(
            "the body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") => Ok(false),
        Some("gzip") => Ok(true),
        Some(other) => Err(unsupported(format!(
            "Content-Encoding {other:?} is not supported; send gzip or nothing"
        ))),
    }
}
