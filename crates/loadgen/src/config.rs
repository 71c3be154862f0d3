//! What a run is asked to do, and the limits it must stay inside.
//!
//! The load generator creates organizations, users and agents on the server it is pointed at and
//! then floods it; pointed at a production server by mistake it would do real harm. So it only
//! talks to a loopback address, and every size is bounded: the fleet's inventories live in
//! memory, and the run ends on its own. [`LoadgenConfig::check`] enforces both; [`crate::setup`]
//! and [`crate::run`] call it, so a library caller cannot skip it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// At most this many organizations (`--orgs`).
pub const MAX_ORGS: u32 = 1_000;
/// At most this many agents in one organization (`--agents`).
pub const MAX_AGENTS_PER_ORG: u32 = 10_000;
/// At most this many agents in all (`--orgs` × `--agents`).
pub const MAX_AGENTS: u64 = 100_000;
/// At most this many packages per inventory (`--apps`).
pub const MAX_APPS: u32 = 5_000;
/// At most this many package records in the whole fleet (`--orgs` × `--agents` × `--apps`): every
/// agent's inventory is kept in memory, 8 bytes a record.
pub const MAX_RECORDS: u64 = 20_000_000;
/// The longest run (`--duration`).
pub const MAX_DURATION: Duration = Duration::from_secs(3_600);
/// The most requests in flight at once (`--concurrency`).
pub const MAX_CONCURRENCY: usize = 4_096;

/// A request the load generator refuses; the message names the flag at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl UsageError {
    fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

/// A server base URL whose host is a loopback address: `http://127.0.0.1:8080`,
/// `http://[::1]:8080`, `http://localhost:8080` (optionally with a path prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackUrl {
    base: String,
    /// `localhost` is resolved by us, to loopback addresses only, never by the system resolver.
    is_localhost: bool,
    port: u16,
}

impl LoopbackUrl {
    pub fn parse(text: &str) -> Result<LoopbackUrl, UsageError> {
        let trimmed = text.trim().trim_end_matches('/');
        let refuse = |why: &str| UsageError::new(format!("--server {text:?}: {why}"));
        let rest = trimmed.strip_prefix("http://").ok_or_else(|| {
            refuse("must start with http:// (the load generator speaks plain HTTP to a server on this machine)")
        })?;
        if rest.contains(['?', '#', ' ', '@']) {
            return Err(refuse(
                "must be http://host[:port][/prefix], without credentials, query or fragment",
            ));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = split_host_port(authority).ok_or_else(|| {
            refuse("needs a host and an optional numeric port, like http://127.0.0.1:8080")
        })?;
        let is_localhost = host.eq_ignore_ascii_case("localhost");
        let loopback = is_localhost
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback());
        if !loopback {
            return Err(refuse(
                "the host must be a loopback address (127.0.0.0/8, ::1 or localhost): the load generator only loads a server on this machine",
            ));
        }
        Ok(LoopbackUrl {
            base: trimmed.to_owned(),
            is_localhost,
            port,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `path` (starting with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The addresses `localhost` stands for, when the URL names it.
    pub(crate) fn localhost_addresses(&self) -> Option<[SocketAddr; 2]> {
        self.is_localhost.then_some([
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.port),
        ])
    }
}

/// `host[:port]` or `[v6]:port`; the port defaults to 80.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then_some((host, port))
}

/// Everything a run needs besides the package data.
#[derive(Debug, Clone)]
pub struct LoadgenConfig {
    pub server: LoopbackUrl,
    pub orgs: u32,
    pub agents_per_org: u32,
    /// Packages per inventory.
    pub apps: u32,
    pub duration: Duration,
    /// How often each agent sends a changed inventory.
    pub scan_interval: Duration,
    pub heartbeat_interval: Duration,
    /// Share of each inventory drawn from known-vulnerable package versions.
    pub vulnerable_share: f64,
    /// Share of an inventory's packages that change between two scans.
    pub change_share: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
    pub admin_email: String,
    pub admin_password: String,
    /// Seeds every simulated agent's inventory and schedule.
    pub seed: u64,
}

impl LoadgenConfig {
    /// The defaults of `zerotrace loadgen`, for the server at `server`.
    pub fn new(server: LoopbackUrl, admin_password: impl Into<String>) -> LoadgenConfig {
        LoadgenConfig {
            server,
            orgs: 2,
            agents_per_org: 10,
            apps: 200,
            duration: Duration::from_secs(30),
            scan_interval: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(60),
            vulnerable_share: 0.1,
            change_share: 0.05,
            concurrency: 64,
            admin_email: "admin@zerotrace.local".to_owned(),
            admin_password: admin_password.into(),
            seed: 0,
        }
    }

    /// Agents in all organizations.
    pub fn agents(&self) -> u64 {
        u64::from(self.orgs) * u64::from(self.agents_per_org)
    }

    /// Refuses what is out of bounds, naming the flag.
    pub fn check(&self) -> Result<(), UsageError> {
        within("--orgs", self.orgs, MAX_ORGS)?;
        within("--agents", self.agents_per_org, MAX_AGENTS_PER_ORG)?;
        within("--apps", self.apps, MAX_APPS)?;
        if self.agents() > MAX_AGENTS {
            return Err(UsageError::new(format!(
                "--orgs × --agents must be at most {MAX_AGENTS} agents in all (got {} × {} = {})",
                self.orgs,
                self.agents_per_org,
                self.agents()
            )));
        }
        let records = self.agents() * u64::from(self.apps);
        if records > MAX_RECORDS {
            return Err(UsageError::new(format!(
                "--orgs × --agents × --apps must be at most {MAX_RECORDS} package records (got {records}): every inventory is kept in memory"
            )));
        }
        seconds("--duration", self.duration, MAX_DURATION)?;
        seconds("--scan-interval", self.scan_interval, MAX_DURATION)?;
        seconds(
            "--heartbeat-interval",
            self.heartbeat_interval,
            MAX_DURATION,
        )?;
        share("--vulnerable-share", self.vulnerable_share)?;
        share("--change-share", self.change_share)?;
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(UsageError::new(format!(
                "--concurrency must be between 1 and {MAX_CONCURRENCY} (got {})",
                self.concurrency
            )));
        }
        if self.admin_email.trim().is_empty() || !self.admin_email.contains('@') {
            return Err(UsageError::new("--admin-email must be an email address"));
        }
        if self.admin_password.is_empty() {
            return Err(UsageError::new(
                "--admin-password (or ZEROTRACE_ADMIN_PASSWORD) must not be empty",
            ));
        }
        Ok(())
    }
}

fn within(flag: &str, value: u32, max: u32) -> Result<(), UsageError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag} must be between 1 and {max} (got {value})"
        )))
    }
}

fn seconds(flag: &str, value: Duration, max: Duration) -> Result<(), UsageError> {
    if value >= Duration::from_secs(1) && value <= max {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag} must be between 1 and {} seconds (got {})",
            max.as_secs(),
            value.as_secs_f64()
        )))
    }
}

fn share(flag: &str, value: f64) -> Result<(), UsageError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag} must be a share between 0 and 1 (got {value})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoadgenConfig {
        LoadgenConfig::new(LoopbackUrl::parse("http://127.0.0.1:8080").unwrap(), "pw")
    }

    #[test]
    fn loopback_hosts_are_accepted_and_normalized() {
        for (text, base) in [
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://127.10.20.30:1", "http://127.10.20.30:1"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://LOCALHOST:9/zt", "http://LOCALHOST:9/zt"),
            ("http://localhost", "http://localhost"),
            (
                "http://[::ffff:127.0.0.1]:80",
                "http://[::ffff:127.0.0.1]:80",
            ),
        ] {
            let url = LoopbackUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.as_str(), base);
        }
        let url = LoopbackUrl::parse("http://localhost:7000").unwrap();
        assert_eq!(
            url.join("/api/v1/orgs"),
            "http://localhost:7000/api/v1/orgs"
        );
        let addresses = url.localhost_addresses().unwrap();
        assert!(
            addresses
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 7000)
        );
        assert_eq!(
            LoopbackUrl::parse("http://127.0.0.1")
                .unwrap()
                .localhost_addresses(),
            None
        );
    }

    #[test]
    fn other_hosts_and_shapes_are_refused_naming_the_flag() {
        for text in [
            "http://10.0.0.1:8080",
            "http://192.168.1.5",
            "http://0.0.0.0:8080",
            "http://[::]:8080",
            "http://example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "https://127.0.0.1:8443",
            "127.0.0.1:8080",
            "http://user@127.0.0.1",
            "http://127.0.0.1:80?x=1",
            "http://127.0.0.1:http",
            "http://:8080",
            "http://",
        ] {
            let error = LoopbackUrl::parse(text).expect_err(text).to_string();
            assert!(error.starts_with("--server"), "{text}: {error}");
        }
        let error = LoopbackUrl::parse("http://10.0.0.1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("loopback"), "{error}");
    }

    #[test]
    fn defaults_are_within_bounds() {
        config().check().unwrap();
    }

    #[test]
    fn out_of_bounds_values_are_refused_naming_the_flag() {
        type Change = fn(&mut LoadgenConfig);
        let cases: [(&str, Change); 16] = [
            ("--orgs", |c| c.orgs = 0),
            ("--orgs", |c| c.orgs = MAX_ORGS + 1),
            ("--agents", |c| c.agents_per_org = MAX_AGENTS_PER_ORG + 1),
            ("--agents", |c| c.agents_per_org = 0),
            ("--orgs × --agents", |c| {
                c.orgs = 11;
                c.agents_per_org = 10_000;
            }),
            ("--apps", |c| c.apps = MAX_APPS + 1),
            ("--orgs × --agents × --apps", |c| {
                c.orgs = 100;
                c.agents_per_org = 1_000;
                c.apps = 201;
            }),
            ("--duration", |c| c.duration = Duration::from_secs(3_601)),
            ("--duration", |c| c.duration = Duration::ZERO),
            ("--scan-interval", |c| c.scan_interval = Duration::ZERO),
            ("--heartbeat-interval", |c| {
                c.heartbeat_interval = Duration::from_millis(10)
            }),
            ("--vulnerable-share", |c| c.vulnerable_share = 1.5),
            ("--change-share", |c| c.change_share = f64::NAN),
            ("--concurrency", |c| c.concurrency = 0),
            ("--admin-email", |c| c.admin_email = "nobody".into()),
            ("--admin-password", |c| c.admin_password.clear()),
        ];
        for (flag, change) in cases {
            let mut c = config();
            change(&mut c);
            let error = c.check().expect_err(flag).to_string();
            assert!(error.starts_with(flag), "{flag}: {error}");
        }
    }

    #[test]
    fn the_largest_allowed_fleet_passes() {
        let mut c = config();
        c.orgs = 10;
        c.agents_per_org = 10_000;
        c.apps = 200;
        c.duration = MAX_DURATION;
        c.check().unwrap();
        c.orgs = 1_000;
        c.agents_per_org = 100;
        c.check().unwrap();
    }
}
