//! The ZeroTrace agent: enrolls a device with an organization, heartbeats, and reports the
//! device's installed software as full snapshots.
//!
//! Entry points: [`daemon::run`] (the `run` loop), [`client`] (every request the agent makes: the
//! server side follows it, see `INVENTORY_CONTRACT.md`), [`spool`] (snapshots waiting for
//! delivery, and the retry schedule).
//!
//! Deliberately absent: an async runtime, hyper, axum, sqlx and the server. The agent is one thread
//! that sleeps between tasks; `cargo tree -p zerotrace-agent -e normal` shows none of them.

pub mod client;
pub mod config;
pub mod daemon;
pub mod host;
pub mod quiet;
pub mod signals;
pub mod snapshot;
pub mod spool;
pub mod state;
