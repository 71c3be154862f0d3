//! `GET /api/v1/ws`: the organization's live events (`new_vulnerability`, `agent_status`,
//! `scan_complete`) pushed over a WebSocket, so a dashboard updates without polling.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{OrgAccess, Read};
use crate::error::ErrorBody;
use crate::events::EventBus;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live_events))
}

/// Upgrade to a WebSocket carrying the organization's events as JSON text messages
/// (`{"type": "new_vulnerability" | "agent_status" | "scan_complete", "org_id", "at", ...}`).
/// A client that falls behind gets `{"type": "lagged", "missed": N}` and should re-read.
#[utoipa::path(get, path = "/api/v1/ws", tag = "live", security(("bearer" = [])),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn live_events(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let org = access.scope.org_id().0;
    let events = state.events.clone();
    upgrade.on_upgrade(move |socket| forward(socket, events, org))
}

async fn forward(mut socket: WebSocket, events: EventBus, org: Uuid) {
    let mut receiver = events.subscribe();
    metrics::gauge!("zerotrace_websockets_open").increment(1.0);
    loop {
        tokio::select! {
            event = receiver.recv() => {
                let text = match event {
                    Ok(event) if event.org_id == org => serde_json::to_string(&event),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        Ok(serde_json::json!({"type": "lagged", "missed": missed}).to_string())
                    }
                    Err(RecvError::Closed) => break,
                };
                let Ok(text) = text else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    metrics::gauge!("zerotrace_websockets_open").decrement(1.0);
}
