//! HTTP plumbing shared by the real sources: one client, auth from env vars,
//! a per-request timeout, and retries with exponential backoff and jitter
//! (honouring `Retry-After`).
//!
//! It never interprets a body; the caller's parser does. It never waits
//! forever: every request has a timeout and a bounded number of attempts.
//! It never holds more than `[http] max_body_bytes` of an answer: bodies are
//! read in chunks and reading stops at the cap. Redirects are followed only
//! within the same origin (scheme, host, port), so credentials never go to
//! a host the config did not name.

use crate::model::Millis;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `[http] max_body_bytes` for this process (set once the config is read).
static MAX_BODY_BYTES: AtomicU64 = AtomicU64::new(crate::config::DEFAULT_MAX_BODY_BYTES);

/// Sets the cap on one answer's body (`[http] max_body_bytes`).
pub fn set_max_body_bytes(bytes: u64) {
    MAX_BODY_BYTES.store(bytes, Ordering::Relaxed);
}

/// The cap on one answer's body, in bytes.
pub fn max_body_bytes() -> u64 {
    MAX_BODY_BYTES.load(Ordering::Relaxed)
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// A redirect policy that follows only same-origin redirects (scheme, host
/// and port unchanged), at most ten; another origin is an error naming it.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &reqwest::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            let n = attempt.previous().len();
            attempt.error(format!("more than {n} redirects"))
        } else if first.is_some_and(|f| f != origin(attempt.url())) {
            let to = without_userinfo(attempt.url());
            attempt.error(format!(
                "refused a redirect to another origin ({to}); point the config at the final URL"
            ))
        } else {
            attempt.follow()
        }
    })
}

/// `url` without user name and password, for messages.
pub fn without_userinfo(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    /// It is larger than the cap (the message names the URL and the cap).
    #[error("{0}")]
    TooBig(String),
    /// The connection broke off or timed out.
    #[error("{0}")]
    Broken(String),
}

/// Reads `resp`'s body in chunks, stopping with an error naming the URL and
/// the cap as soon as it grows past `cap` bytes (or says it will).
pub async fn read_capped(resp: reqwest::Response, cap: u64) -> Result<Vec<u8>, BodyError> {
    let url = without_userinfo(resp.url());
    let too_big = |seen: &str| {
        format!(
            "the answer from {url} is larger than {cap} bytes{seen}; medic stopped reading it \
             (narrow the query: shorter lookback, larger step; or raise [http] max_body_bytes)"
        )
    };
    if let Some(len) = resp.content_length().filter(|l| *l > cap) {
        return Err(BodyError::TooBig(too_big(&format!(
            " (Content-Length {len})"
        ))));
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Broken(describe_reqwest(e)))?
    {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(BodyError::TooBig(too_big("")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads at most `cap` bytes of `resp`'s body and drops the rest (for error
/// messages, which need only the start).
pub async fn read_start(resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut resp = resp;
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

/// How to authenticate, with the secret already read from its env var.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Any other header carrying the secret (Railway's `Project-Access-Token`).
    Header {
        /// Header name.
        name: &'static str,
        /// Header value.
        value: String,
    },
}

// Secrets stay out of debug output and logs.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Bearer(_) => "Auth::Bearer(…)",
            Auth::Basic { .. } => "Auth::Basic(…)",
            Auth::Header { .. } => "Auth::Header(…)",
        })
    }
}

impl Auth {
    /// Add the credentials to a request.
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Header { name, value } => req.header(*name, value),
        }
    }
}

/// Read a secret from the env var named in the config key `key`.
pub fn secret_from_env(key: &str, var: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "{key} = \"{var}\" but the environment variable {var} is not set (or empty); \
             export it before starting medic (secrets never live in the config file)"
        )),
    }
}

/// Timeouts and retries for one source.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Longest one attempt may take, connect to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff; doubled each retry, with ±50% jitter.
    pub backoff: Duration,
    /// Longest `Retry-After` medic honours before giving up on the attempt.
    pub max_retry_after: Duration,
    /// Cap on one body in bytes; `None`: `[http] max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(60),
            max_body_bytes: None,
        }
    }
}

/// One HTTP exchange's outcome: the status and the body, whatever they are.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: String,
    /// The whole body.
    pub body: Vec<u8>,
}

/// A client for one source: reqwest with the source's timeout.
pub fn client(policy: &Policy) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
        .redirect(same_origin_redirects())
        .build()
        // Only fails if the TLS backend cannot initialise; nothing to recover.
        .expect("HTTP client")
}

/// Send the request built by `make` until it gets an answer worth parsing:
/// network errors, timeouts, 429 and 5xx are retried with backoff and
/// jitter (429's `Retry-After` is honoured); other statuses are returned
/// for the caller to explain. Errors say what failed, in words.
pub async fn send_with_retries(
    policy: &Policy,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Reply, String> {
    let mut attempt = 0u32;
    loop {
        let last = attempt >= policy.retries;
        let cap = policy.max_body_bytes.unwrap_or_else(max_body_bytes);
        let (err, hint) = match attempt_once(make(), cap).await {
            Ok(a) if a.reply.status == 429 || (500..=599).contains(&a.reply.status) => {
                if last {
                    // Out of retries: the caller explains the status and body.
                    return Ok(a.reply);
                }
                let msg = format!(
                    "HTTP {} ({})",
                    a.reply.status,
                    snippet(&a.reply.body, &a.reply.content_type)
                );
                (msg, a.retry_after)
            }
            Ok(a) => return Ok(a.reply),
            // A body over the cap stays over it: no retry.
            Err(Failure::TooBig(e)) => return Err(e),
            Err(Failure::Other(e)) if last => {
                let tries = attempt + 1;
                return Err(format!(
                    "{e} (after {tries} attempt{})",
                    if tries == 1 { "" } else { "s" }
                ));
            }
            Err(Failure::Other(e)) => (e, None),
        };
        let wait = match hint {
            Some(d) if d <= policy.max_retry_after => d,
            Some(d) => {
                return Err(format!(
                "{err}: the server asks to wait {}s (Retry-After), longer than medic waits ({}s)",
                d.as_secs(),
                policy.max_retry_after.as_secs()
            ))
            }
            None => backoff(policy.backoff, attempt),
        };
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

struct Attempt {
    reply: Reply,
    retry_after: Option<Duration>,
}

enum Failure {
    /// The body grew past the cap.
    TooBig(String),
    /// Network, timeout, broken body: worth another attempt.
    Other(String),
}

async fn attempt_once(req: reqwest::RequestBuilder, cap: u64) -> Result<Attempt, Failure> {
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::Other(describe_reqwest(e)))?;
    let status = resp.status().as_u16();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let retry_after = parse_retry_after(&header(reqwest::header::RETRY_AFTER));
    let body = read_capped(resp, cap).await.map_err(|e| match e {
        BodyError::TooBig(m) => Failure::TooBig(m),
        BodyError::Broken(m) => Failure::Other(m),
    })?;
    Ok(Attempt {
        reply: Reply {
            status,
            content_type,
            body,
        },
        retry_after,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with ±50% jitter: base, 2×base, 4×base… capped at 10 s.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(10));
    let capped = exp.min(Duration::from_secs(10));
    // Jitter keeps many medics from retrying against a struggling server in lockstep.
    capped.mul_f64(0.5 + jitter())
}

/// A pseudo-random number in [0, 1) from the clock; good enough for jitter.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0);
    let mut x = nanos.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn describe_reqwest(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        let mut msg = "cannot connect".to_string();
        let mut src = std::error::Error::source(&e);
        // The innermost cause ("Connection refused") is the useful part.
        while let Some(s) = src {
            msg = format!("cannot connect: {s}");
            src = s.source();
        }
        msg
    } else if e.is_redirect() {
        // reqwest's own text hides why; the policy's reason is the cause.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = s.to_string();
            src = s.source();
        }
        msg
    } else if e.is_body() || e.is_decode() {
        format!("the response body broke off: {e}")
    } else {
        e.to_string()
    }
}

/// The start of a body for an error message: `text/html: <html><head>…`.
pub fn snippet(body: &[u8], content_type: &str) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    let ellipsis = if body.len() > 120 { "…" } else { "" };
    if content_type.is_empty() {
        format!("body `{text}{ellipsis}`")
    } else {
        format!("{content_type} body `{text}{ellipsis}`")
    }
}

/// Seconds since the epoch as Prometheus and Railway take them.
pub fn unix_seconds(ms: Millis) -> String {
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let base = Duration::from_millis(100);
        for attempt in 0..4 {
            let d = backoff(base, attempt);
            let nominal = 100.0 * 2f64.powi(attempt as i32);
            let ms = d.as_secs_f64() * 1000.0;
            assert!(ms >= nominal * 0.5 && ms < nominal * 1.5, "{attempt}: {ms}");
        }
        assert!(backoff(base, 30) <= Duration::from_secs(15));
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn snippets_are_short_and_printable() {
        let s = snippet(b"<html>\n<body>Bad Gateway</body></html>", "text/html");
        assert_eq!(s, "text/html body `<html> <body>Bad Gateway</body></html>`");
        assert!(snippet(&[b'x'; 500], "").ends_with("…`"));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let a = Auth::Bearer("s3cret".into());
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
