//! ZeroTrace's load generator: a simulated fleet on a server running on this machine.
//!
//! Why it exists: the ingest path (enrollment, heartbeats, gzip inventories, queueing, matching)
//! has to be measured under the load a real fleet makes — many agents, each sending a mostly
//! unchanged inventory of real packages, a share of them vulnerable — and the agent binary is one
//! device per process. This crate simulates thousands of agents in one process, through the same
//! public HTTP API and the same wire format the agent uses.
//!
//! The three steps, each usable alone from a test:
//! 1. [`package_pool`] reads real package names and versions (and versions OSV advisories name as
//!    affected) from the shared data directory;
//! 2. [`setup`] logs in as the platform administrator, creates organizations, an administrator,
//!    an enrollment token and a read API key in each, and enrolls every agent, obeying the
//!    server's `429 Retry-After`; the [`Fleet`] it returns holds every id and credential;
//! 3. [`run`] drives the fleet for the configured duration — heartbeats, and inventories that
//!    change a little at every scan ([`SimulatedAgent`]) — and returns a [`Summary`] of counts,
//!    throughput and latency.
//!
//! It refuses any server that is not on a loopback address, and every size and the duration are
//! bounded ([`LoadgenConfig::check`]). Nothing is written to disk.

mod agent;
mod config;
mod http;
mod osv;
mod pool;
mod run;
mod setup;

pub use agent::{AgentProfile, Body, SimulatedAgent, inventory_body};
pub use config::{
    LoadgenConfig, LoopbackUrl, MAX_AGENTS, MAX_AGENTS_PER_ORG, MAX_APPS, MAX_CONCURRENCY,
    MAX_DURATION, MAX_ORGS, MAX_RECORDS, UsageError,
};
pub use pool::{
    MAX_VULNERABLE, PackagePool, PoolError, PoolReport, VulnerableVersion, package_pool,
};
pub use run::{Latency, Progress, Summary, run};
pub use setup::{Fleet, FleetAgent, FleetOrg, SetupProgress, setup};

/// Why a load run could not be set up or run. [`LoadgenError::Usage`] is the caller's mistake
/// (exit code 2 in the CLI); the others mean the server or the data let the run down.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("cannot reach the server at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("setup failed while {step}: {message}")]
    Setup { step: String, message: String },
}

/// A well-mixed seed for stream `stream` of agent `index` (SplitMix64), so agents seeded from
/// one run seed draw unrelated inventories and schedules.
pub(crate) fn agent_seed(seed: u64, index: u64, stream: u64) -> u64 {
    let mut z = seed
        ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
