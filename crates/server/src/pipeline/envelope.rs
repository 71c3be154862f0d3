//! What the API puts on the `inventory` queue: who sent the report (as authenticated at the
//! API) and the body exactly as the agent sent it. The worker decodes the body again with the
//! same code the API validated it with.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const INVENTORY_TOPIC: &str = "inventory";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub org_id: Uuid,
    pub agent_id: Uuid,
    pub batch_id: Uuid,
    pub hostname: String,
    /// When the API accepted it (Unix milliseconds): the start of "report to findings" latency.
    pub received_at_ms: i64,
    pub gzip: bool,
    pub body: Vec<u8>,
}

impl Envelope {
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let envelope = Envelope {
            org_id: Uuid::now_v7(),
            agent_id: Uuid::now_v7(),
            batch_id: Uuid::now_v7(),
            hostname: "web-1".into(),
            received_at_ms: 1_790_000_000_000,
            gzip: true,
            body: vec![0x1f, 0x8b, 0, 255],
        };
        let bytes = envelope.encode().expect("encode");
        assert_eq!(Envelope::decode(&bytes).ok(), Some(envelope));
        assert!(Envelope::decode(b"\xff\xff\xff").is_err());
    }
}
