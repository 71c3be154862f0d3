//! The small state file `status` reads and `run` keeps current: last heartbeat, last scan, the
//! last snapshot's sequence number and hash, and why the agent stopped if the server refused it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::write_private;

pub const STATE_FILE: &str = "state.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is damaged ({source}); delete it to start afresh (the next snapshot is re-sent)"
    )]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// RFC 3339 time of the last heartbeat the server accepted.
    pub last_heartbeat_at: Option<String>,
    /// Why the last heartbeat failed, cleared by the next success.
    pub last_heartbeat_error: Option<String>,
    pub heartbeat_interval_secs: Option<u64>,
    pub last_scan: Option<ScanSummary>,
    /// The sequence number of the newest snapshot made; the next one gets `sequence + 1`.
    pub sequence: u64,
    /// Hash of the newest snapshot made (delivered or spooled): an equal scan is not re-sent.
    pub last_hash: Option<String>,
    pub last_delivered: Option<Delivery>,
    /// The agent's own use, sampled at each heartbeat.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Set when the server refused the device credential; `run` will not start again until the
    /// agent is re-enrolled.
    pub credential_rejected: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub at: String,
    pub packages: usize,
    pub errors: usize,
    pub hash: String,
    pub wall_ms: u64,
    pub cpu_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub at: String,
    pub sequence: u64,
    pub batch_id: String,
    /// The receipt's `accepted`, `duplicate` or `stale`; absent in state written by agents that
    /// did not record it.
    #[serde(default)]
    pub status: Option<String>,
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(STATE_FILE)
    }

    /// The state in `state_dir`, or a fresh one when there is none yet.
    pub fn load(state_dir: &Path) -> Result<State, StateError> {
        let path = State::path(state_dir);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StateError::Invalid { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        let path = State::path(state_dir);
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| StateError::Invalid {
            path: path.clone(),
            source,
        })?;
        write_private(&path, &bytes, false).map_err(|source| StateError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_state_is_fresh_and_saved_state_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let state = State {
            sequence: 7,
            last_hash: Some("ab".into()),
            last_delivered: Some(Delivery {
                at: "2026-01-01T00:00:00Z".into(),
                sequence: 7,
                batch_id: "b".into(),
                status: Some("duplicate".into()),
            }),
            credential_rejected: Some("revoked".into()),
            ..State::default()
        };
        state.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), state);
    }

    #[test]
    fn a_delivery_recorded_without_a_status_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            State::path(dir.path()),
            br#"{"sequence":1,"last_delivered":{"at":"2026-01-01T00:00:00Z","sequence":1,"batch_id":"b"}}"#,
        )
        .unwrap();
        let delivered = State::load(dir.path()).unwrap().last_delivered.unwrap();
        assert_eq!((delivered.batch_id.as_str(), delivered.status), ("b", None));
    }

    #[test]
    fn damaged_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(State::path(dir.path()), b"{not json").unwrap();
        let error = State::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("state.json"), "{error}");
        assert!(error.contains("delete it"), "{error}");
    }
}
