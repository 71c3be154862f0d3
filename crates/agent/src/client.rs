//! Everything the agent says to the server, in one place, so the server side can follow the
//! contract from here (and `INVENTORY_CONTRACT.md`):
//!
//! | call | request | answers the agent understands |
//! |---|---|---|
//! | [`Client::enroll`] | `POST /api/v1/agents/enroll` JSON | 201 identity; 401 bad token; 403 refused; 429 |
//! | [`Client::heartbeat`] | `POST /api/v1/agents/heartbeat` JSON (version, own CPU and memory), bearer | 200 interval; 401 revoked; 429 |
//! | [`Client::send_inventory`] | `POST /api/v1/agents/inventory` gzip JSON, bearer | 202 `batch_id` and `status`; 401; 404; 413; 429 or 503 with Retry-After |
//! | [`Client::whoami`] | `GET /api/v1/auth/me`, bearer | 200; 401 |
//!
//! Blocking (ureq, rustls on ring), one request at a time, every call bounded by a timeout.
//! Error bodies are `{"error":{"code","message"}}`; their message is kept for the person reading
//! the log.

use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ureq::http::StatusCode;

pub const USER_AGENT: &str = concat!("zerotrace-agent/", env!("CARGO_PKG_VERSION"));
/// Retry-After values we will not wait beyond (a bad proxy could say a year).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Used when a 429 carries no readable Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Largest answer body read; ours are a few hundred bytes.
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the server refused the credential (401): {message}")]
    Unauthorized { message: String },
    #[error("the server refused (403): {message}")]
    Forbidden { message: String },
    #[error("{url} does not exist on this server (404 or 405)")]
    NotFound { url: String },
    #[error("the server will not take a body this large (413): {message}")]
    TooLarge { message: String },
    /// 429, or 503 with a Retry-After (the server's queue is full): the same request will be
    /// taken later.
    #[error("the server answered {status} and asks to wait {}s: {message}", retry_after.as_secs())]
    RetryAfter {
        status: u16,
        retry_after: Duration,
        message: String,
    },
    #[error("the server answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Protocol { url: String, message: String },
}

impl ClientError {
    /// Whether trying again later can succeed (the server or the network may recover).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::RetryAfter { .. }
            | ClientError::NotFound { .. }
            | ClientError::Protocol { .. } => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadServerUrl(String);

/// A server base URL: `http(s)://host[:port][/prefix]`, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, BadServerUrl> {
        let trimmed = text.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| {
                BadServerUrl(format!(
                    "server URL {text:?} must start with https:// (or http:// on a trusted network)"
                ))
            })?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
            return Err(BadServerUrl(format!(
                "server URL {text:?} needs a host and no query, fragment or spaces, like https://zerotrace.example"
            )));
        }
        Ok(ServerUrl(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

#[derive(Debug, Serialize)]
pub struct EnrollRequest<'a> {
    pub token: &'a str,
    pub hostname: &'a str,
    pub os: &'a str,
    pub os_version: &'a str,
    pub arch: &'a str,
    pub agent_version: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct Enrolled {
    pub agent_id: String,
    pub org_id: String,
    pub credential: String,
    pub heartbeat_interval_secs: u64,
}

/// The heartbeat body: the agent's version and its own resource use, when measured.
#[derive(Debug, Serialize)]
pub struct HeartbeatRequest<'a> {
    pub agent_version: &'a str,
    /// Percent of one core used since the previous heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct HeartbeatAnswer {
    pub heartbeat_interval_secs: u64,
}

/// The 202 receipt of an inventory.
#[derive(Debug, Deserialize)]
pub struct Accepted {
    pub batch_id: String,
    /// `accepted` (queued), `duplicate` (this sequence was accepted before: the first batch id
    /// comes back) or `stale` (older than a snapshot the server already has; ignored).
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct Me {
    pub kind: String,
    #[serde(default)]
    pub agent_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    message: String,
}

pub struct Client {
    server: ServerUrl,
    http: ureq::Agent,
}

impl Client {
    pub fn new(server: ServerUrl) -> Client {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_connect(Some(Duration::from_secs(15)))
            // A slow uplink still sends a few hundred KB in this time; a hung server is dropped.
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client { server, http }
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    pub fn enroll(&self, request: &EnrollRequest) -> Result<Enrolled, ClientError> {
        let url = self.server.join("/api/v1/agents/enroll");
        let body = serde_json::to_vec(request).map_err(|e| protocol(&url, e))?;
        let answer = self.post(&url, None, &body, false)?;
        answer.expect(StatusCode::CREATED)?.json()
    }

    pub fn heartbeat(
        &self,
        credential: &str,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatAnswer, ClientError> {
        let url = self.server.join("/api/v1/agents/heartbeat");
        let body = serde_json::to_vec(request).map_err(|e| protocol(&url, e))?;
        let answer = self.post(&url, Some(credential), &body, false)?;
        answer.expect(StatusCode::OK)?.json()
    }

    /// Sends one spooled snapshot (already gzip-compressed JSON).
    pub fn send_inventory(
        &self,
        credential: &str,
        gzip_body: &[u8],
    ) -> Result<Accepted, ClientError> {
        let url = self.server.join("/api/v1/agents/inventory");
        let answer = self.post(&url, Some(credential), gzip_body, true)?;
        answer.expect(StatusCode::ACCEPTED)?.json()
    }

    pub fn whoami(&self, credential: &str) -> Result<Me, ClientError> {
        let url = self.server.join("/api/v1/auth/me");
        let response = self
            .http
            .get(&url)
            .header("Authorization", &format!("Bearer {credential}"))
            .call()
            .map_err(|e| unreachable(&url, e))?;
        Answer::read(url, response)?.expect(StatusCode::OK)?.json()
    }

    fn post(
        &self,
        url: &str,
        credential: Option<&str>,
        body: &[u8],
        gzip: bool,
    ) -> Result<Answer, ClientError> {
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", "application/json");
        if gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        if let Some(credential) = credential {
            request = request.header("Authorization", &format!("Bearer {credential}"));
        }
        let response = request.send(body).map_err(|e| unreachable(url, e))?;
        Answer::read(url.to_owned(), response)
    }
}

/// A read answer: status, Retry-After and body.
struct Answer {
    url: String,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    fn read(
        url: String,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<Answer, ClientError> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(parse_retry_after);
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: format!("reading the answer: {e}"),
            })?;
        Ok(Answer {
            url,
            status,
            retry_after,
            body,
        })
    }

    /// This answer if it has the `expected` status, else the error its status means.
    fn expect(self, expected: StatusCode) -> Result<Answer, ClientError> {
        if self.status == expected {
            return Ok(self);
        }
        let message = self.message();
        Err(match (self.status, self.retry_after) {
            (StatusCode::UNAUTHORIZED, _) => ClientError::Unauthorized { message },
            (StatusCode::FORBIDDEN, _) => ClientError::Forbidden { message },
            // A route an older server does not have: 404, or 405 when its path falls into a
            // neighbour's pattern (`POST /agents/inventory` meets `GET /agents/{agent_id}`).
            (StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED, _) => {
                ClientError::NotFound { url: self.url }
            }
            (StatusCode::PAYLOAD_TOO_LARGE, _) => ClientError::TooLarge { message },
            (StatusCode::TOO_MANY_REQUESTS, retry_after) => ClientError::RetryAfter {
                status: 429,
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                message,
            },
            // A 503 that names a time is the server pacing us (its queue is full); one without is
            // an outage, left to the caller's backoff.
            (StatusCode::SERVICE_UNAVAILABLE, Some(retry_after)) => ClientError::RetryAfter {
                status: 503,
                retry_after,
                message,
            },
            (status, _) => ClientError::Status {
                status: status.as_u16(),
                message,
            },
        })
    }

    /// The error body's message (with its code), or the start of whatever text came back.
    fn message(&self) -> String {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(ErrorBody { error }) if error.code.is_empty() => error.message,
            Ok(ErrorBody { error }) => format!("{} ({})", error.message, error.code),
            Err(_) => {
                let text = String::from_utf8_lossy(&self.body);
                let text: String = text.trim().chars().take(200).collect();
                if text.is_empty() {
                    self.status
                        .canonical_reason()
                        .unwrap_or("no reason given")
                        .to_owned()
                } else {
                    text
                }
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| protocol(&self.url, e))
    }
}

fn protocol(url: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

fn unreachable(url: &str, e: ureq::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs; it falls back to the default).
fn parse_retry_after(value: &str) -> Duration {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER)
        .min(MAX_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalized() {
        let url = ServerUrl::parse(" https://zt.example:8443/ ").unwrap();
        assert_eq!(url.as_str(), "https://zt.example:8443");
        assert_eq!(
            url.join("/api/v1/agents/heartbeat"),
            "https://zt.example:8443/api/v1/agents/heartbeat"
        );
        assert!(url.is_https());
        assert!(!ServerUrl::parse("http://10.0.0.1").unwrap().is_https());
        for bad in [
            "zt.example",
            "ftp://zt.example",
            "https://",
            "https://x?y=1",
        ] {
            let error = ServerUrl::parse(bad).unwrap_err().to_string();
            assert!(error.contains("server URL"), "{bad}: {error}");
        }
    }

    #[test]
    fn retry_after_is_bounded_and_defaulted() {
        assert_eq!(parse_retry_after("30"), Duration::from_secs(30));
        assert_eq!(parse_retry_after("99999999"), MAX_RETRY_AFTER);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            DEFAULT_RETRY_AFTER
        );
    }

    fn answer(status: u16, body: &str, retry_after: Option<Duration>) -> Answer {
        Answer {
            url: "http://x/api/v1/agents/inventory".into(),
            status: StatusCode::from_u16(status).unwrap(),
            retry_after,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_errors_with_the_servers_words() {
        let revoked = answer(
            401,
            r#"{"error":{"code":"unauthorized","message":"credential revoked"}}"#,
            None,
        );
        match revoked.expect(StatusCode::OK) {
            Err(ClientError::Unauthorized { message }) => {
                assert_eq!(message, "credential revoked (unauthorized)")
            }
            other => panic!("{:?}", other.map(|a| a.status)),
        }
        let limited = answer(429, "", Some(Duration::from_secs(7)));
        assert!(matches!(
            limited.expect(StatusCode::ACCEPTED),
            Err(ClientError::RetryAfter { status: 429, retry_after, .. }) if retry_after == Duration::from_secs(7)
        ));
        let limited = answer(429, "", None);
        assert!(matches!(
            limited.expect(StatusCode::ACCEPTED),
            Err(ClientError::RetryAfter { status: 429, retry_after, .. }) if retry_after == DEFAULT_RETRY_AFTER
        ));
        let full = answer(
            503,
            r#"{"error":{"code":"queue_full","message":"retry later"}}"#,
            Some(Duration::from_secs(30)),
        )
        .expect(StatusCode::ACCEPTED)
        .map(|_| ())
        .unwrap_err();
        assert!(full.is_transient());
        assert!(
            matches!(&full, ClientError::RetryAfter { status: 503, retry_after, message }
                if *retry_after == Duration::from_secs(30) && message == "retry later (queue_full)"),
            "{full:?}"
        );
        let missing = answer(404, "<html>not here</html>", None);
        let error = missing
            .expect(StatusCode::ACCEPTED)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(error, ClientError::NotFound { .. }) && error.is_transient());
        let big = answer(413, "", None)
            .expect(StatusCode::ACCEPTED)
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&big, ClientError::TooLarge { message } if message == "Payload Too Large")
        );
        assert!(!big.is_transient());
        let down = answer(503, "upstream gone", None)
            .expect(StatusCode::ACCEPTED)
            .map(|_| ())
            .unwrap_err();
        assert!(down.is_transient());
        assert_eq!(down.to_string(), "the server answered 503: upstream gone");
    }

    #[test]
    fn the_receipt_and_the_heartbeat_follow_the_contract() {
        let receipt = answer(202, r#"{"batch_id":"b-1","status":"duplicate"}"#, None)
            .expect(StatusCode::ACCEPTED)
            .and_then(Answer::json::<Accepted>)
            .unwrap();
        assert_eq!(
            (receipt.batch_id.as_str(), receipt.status.as_str()),
            ("b-1", "duplicate")
        );
        let beat = |cpu_percent, rss_bytes| {
            serde_json::to_string(&HeartbeatRequest {
                agent_version: "1.2.3",
                cpu_percent,
                rss_bytes,
            })
            .unwrap()
        };
        assert_eq!(
            beat(Some(0.25), Some(9_000_000)),
            r#"{"agent_version":"1.2.3","cpu_percent":0.25,"rss_bytes":9000000}"#
        );
        assert_eq!(beat(None, None), r#"{"agent_version":"1.2.3"}"#);
    }

    #[test]
    fn a_malformed_success_body_is_a_protocol_error() {
        let ok = answer(202, r#"{"batch":"x"}"#, None);
        let error = ok
            .expect(StatusCode::ACCEPTED)
            .and_then(Answer::json::<Accepted>)
            .unwrap_err();
        assert!(matches!(error, ClientError::Protocol { .. }));
    }
}
