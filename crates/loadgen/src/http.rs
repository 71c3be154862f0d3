//! The HTTP client every request goes through: one connection pool, loopback only, and answers
//! read the same bounded way whatever the server sends.
//!
//! Proxies from the environment are ignored and redirects are not followed, so no request leaves
//! the loopback address the URL names; `localhost` is resolved to 127.0.0.1 and ::1 by us, not by
//! the system resolver.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::LoopbackUrl;

/// Largest answer body read; the API's answers are a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// A 429 without a readable `Retry-After`: wait this long, as the agent does.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// `Retry-After` values beyond this are capped (a run lasts an hour at most).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// A request that takes longer than this counts as a network error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const USER_AGENT: &str = concat!("zerotrace-loadgen/", env!("CARGO_PKG_VERSION"));

/// A request that got no HTTP answer: connection refused, reset, timed out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NetworkError(String);

impl From<reqwest::Error> for NetworkError {
    fn from(error: reqwest::Error) -> Self {
        // reqwest's Display stops at the outermost layer ("error sending request"); the cause
        // ("connection refused") is what a person needs.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        NetworkError(message)
    }
}

/// A status, its `Retry-After` and the start of its body.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// How long the server asks to wait before the same request is taken: a 429 (rate limited;
    /// 60 s without a `Retry-After`) or a 503 with a `Retry-After` (its queue is full). `None`
    /// for any other answer.
    pub fn wait(&self) -> Option<Duration> {
        match (self.status, self.retry_after) {
            (429, retry_after) => Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
            (503, Some(retry_after)) => Some(retry_after),
            _ => None,
        }
    }

    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `status: message (code)` from the API's error body, else the start of the body's text.
    pub fn describe(&self) -> String {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: Detail,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let text = match self.json::<ErrorBody>() {
            Some(ErrorBody { error }) if !error.code.is_empty() => {
                format!("{} ({})", error.message, error.code)
            }
            Some(ErrorBody { error }) => error.message,
            None => String::from_utf8_lossy(&self.body)
                .trim()
                .chars()
                .take(200)
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        };
        if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {text}", self.status)
        }
    }
}

pub(crate) struct Http {
    client: reqwest::Client,
    server: LoopbackUrl,
}

impl Http {
    pub fn new(server: &LoopbackUrl, concurrency: usize) -> Result<Http, NetworkError> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(5))
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true);
        if let Some(addresses) = server.localhost_addresses() {
            builder = builder.resolve_to_addrs("localhost", &addresses);
        }
        Ok(Http {
            client: builder.build()?,
            server: server.clone(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        self.server.join(path)
    }

    /// POSTs `body` as JSON, with `bearer` as the credential if given.
    pub async fn post_json(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &impl Serialize,
    ) -> Result<Answer, NetworkError> {
        let body = serde_json::to_vec(body).map_err(|e| NetworkError(e.to_string()))?;
        let mut request = self
            .client
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {bearer}"));
        }
        read(request.send().await?).await
    }

    /// POSTs an already gzip-compressed JSON body.
    pub async fn post_gzip(
        &self,
        path: &str,
        bearer: &str,
        gzip: Vec<u8>,
    ) -> Result<Answer, NetworkError> {
        let request = self
            .client
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .body(gzip);
        read(request.send().await?).await
    }
}

async fn read(mut response: reqwest::Response) -> Result<Answer, NetworkError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(parse_retry_after);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ANSWER {
            break;
        }
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` in seconds; the HTTP-date form (rare for APIs) gets the default.
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

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retry_after_is_read_bounded_and_defaulted() {
        assert_eq!(parse_retry_after(" 7 "), Duration::from_secs(7));
        assert_eq!(parse_retry_after("99999999"), MAX_RETRY_AFTER);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            DEFAULT_RETRY_AFTER
        );
        assert_eq!(answer(429, "").wait(), Some(DEFAULT_RETRY_AFTER));
        let paced = |status| Answer {
            retry_after: Some(Duration::from_secs(3)),
            ..answer(status, "")
        };
        assert_eq!(paced(429).wait(), Some(Duration::from_secs(3)));
        assert_eq!(paced(503).wait(), Some(Duration::from_secs(3)));
        assert_eq!(answer(503, "").wait(), None, "an outage, not pacing");
        assert_eq!(paced(500).wait(), None);
    }

    #[test]
    fn any_answer_is_described_without_panicking() {
        assert_eq!(
            answer(
                405,
                r#"{"error":{"code":"method_not_allowed","message":"no"}}"#
            )
            .describe(),
            "HTTP 405: no (method_not_allowed)"
        );
        assert_eq!(
            answer(500, r#"{"error":{"message":"boom"}}"#).describe(),
            "HTTP 500: boom"
        );
        assert_eq!(answer(502, "").describe(), "HTTP 502");
        assert_eq!(
            answer(418, "  I'm a teapot ").describe(),
            "HTTP 418: I'm a teapot"
        );
        let garbage = Answer {
            status: 500,
            retry_after: None,
            body: vec![0xff, 0xfe, b'{', 0],
        };
        assert_eq!(garbage.describe(), "HTTP 500: \u{fffd}\u{fffd}{\u{fffd}");
        assert_eq!(
            answer(200, "[1]").json::<serde_json::Value>().unwrap()[0],
            1
        );
        assert!(answer(200, "{").json::<serde_json::Value>().is_none());
    }
}
