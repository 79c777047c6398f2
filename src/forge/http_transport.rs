//! git's smart HTTP protocol for libgit2, spoken through reqwest (rustls).
//!
//! medic builds libgit2 without its TLS backend (that would pull OpenSSL
//! into every build); this transport gives clone, fetch and push over
//! `https://` (and `http://`) the same TLS stack as every other request
//! medic makes. A token is sent as HTTP basic auth to the remote it was
//! registered for, and to nothing else; it never appears in a URL or an
//! error.
//!
//! The protocol is git's "smart HTTP" (gitprotocol-http): `GET
//! {repo}/info/refs?service=git-upload-pack|git-receive-pack` for the
//! advertisement, then `POST {repo}/git-upload-pack|git-receive-pack` with
//! the request body libgit2 writes.

use super::blocking::CancelFlag;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use git2::Remote;
use std::io::{self, Cursor, Read, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Longest wait for one HTTP exchange (a large clone is one exchange).
const TIMEOUT: Duration = Duration::from_secs(600);

/// The words of a 401/403, which [`is_refusal`] finds again in libgit2's error.
const REFUSED: &str = "the remote refused the token";
const UNASKED: &str = "the remote wants credentials and medic was given none";

/// One transfer in flight: the forge URL from medic's config, the
/// basic-auth credentials offered to it alone, and its stop signal.
#[derive(Clone)]
struct Session {
    id: u64,
    prefix: String,
    auth: Option<(String, String)>,
    cancel: CancelFlag,
}

/// The transfers in flight.
static AUTH: Mutex<Vec<Session>> = Mutex::new(Vec::new());

/// Makes libgit2 use this transport for `http://` and `https://` (once per process).
pub fn install() -> Result<(), git2::Error> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        for scheme in ["https", "http"] {
            // SAFETY: registration is global in libgit2 and not thread-safe;
            // the OnceLock makes this the only call, before any transfer.
            unsafe { git2::transport::register(scheme, factory) }
                .map_err(|e| e.message().to_string())?;
        }
        Ok(())
    })
    .clone()
    .map_err(|m| git2::Error::from_str(&m))
}

fn factory(remote: &Remote) -> Result<Transport, git2::Error> {
    Transport::smart(remote, true, Http)
}

/// Offers `credentials` (username, token) to requests under `url` (the
/// forge URL from medic's config) while the guard lives, and stops those
/// requests once `cancel` is set.
pub fn authorize(url: &str, credentials: Option<(&str, &str)>, cancel: CancelFlag) -> AuthGuard {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = url.trim_end_matches('/').to_string();
    AUTH.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Session {
            id,
            prefix,
            auth: credentials.map(|(u, t)| (u.to_string(), t.to_string())),
            cancel,
        });
    AuthGuard(id)
}

/// Withdraws the credentials [`authorize`] offered when dropped.
#[must_use = "the credentials are withdrawn when the guard is dropped"]
pub struct AuthGuard(u64);

impl Drop for AuthGuard {
    fn drop(&mut self) {
        AUTH.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.id != self.0);
    }
}

/// The transfer registered for `url`, if any.
fn session_for(url: &str) -> Option<Session> {
    AUTH.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .find(|s| {
            url == s.prefix
                || url
                    .strip_prefix(s.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .cloned()
}

/// The credentials registered for `url`, if any.
#[cfg(test)]
fn credentials_for(url: &str) -> Option<(String, String)> {
    session_for(url).and_then(|s| s.auth)
}

struct Http;

impl SmartSubtransport for Http {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (service, get) = match action {
            Service::UploadPackLs => ("git-upload-pack", true),
            Service::UploadPack => ("git-upload-pack", false),
            Service::ReceivePackLs => ("git-receive-pack", true),
            Service::ReceivePack => ("git-receive-pack", false),
        };
        let base = url.trim_end_matches('/').to_string();
        let session = session_for(&base);
        Ok(Box::new(Exchange {
            auth: session.as_ref().and_then(|s| s.auth.clone()),
            cancel: session.map(|s| s.cancel).unwrap_or_default(),
            base,
            service,
            get,
            sent: Vec::new(),
            answer: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// One request and its answer: libgit2 writes the body, then reads.
struct Exchange {
    base: String,
    service: &'static str,
    get: bool,
    auth: Option<(String, String)>,
    cancel: CancelFlag,
    sent: Vec<u8>,
    answer: Option<Answer>,
}

/// The answer as it streams in: a chunk being read, and the rest to come.
struct Answer {
    chunk: Cursor<Vec<u8>>,
    rest: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl Exchange {
    fn url(&self) -> String {
        if self.get {
            format!("{}/info/refs?service={}", self.base, self.service)
        } else {
            format!("{}/{}", self.base, self.service)
        }
    }

    /// Starts the exchange on its own thread and runtime (libgit2 calls in
    /// synchronously, possibly from inside medic's async runtime). The
    /// answer arrives in chunks through a small bounded channel, so a large
    /// clone is never held in memory whole; an HTTP error comes first.
    fn start(&mut self) -> io::Result<Answer> {
        let url = self.url();
        let (get, service, auth) = (self.get, self.service, self.auth.clone());
        let cancel = self.cancel.clone();
        let body = std::mem::take(&mut self.sent);
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        std::thread::Builder::new()
            .name("medic-git-http".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async {
                    // A stalled server cannot hold the thread once medic stopped the step.
                    tokio::select! {
                        _ = send(&url, get, service, auth, body, tx) => {}
                        _ = stopped(&cancel) => {}
                    }
                });
            })?;
        Ok(Answer {
            chunk: Cursor::new(Vec::new()),
            rest: rx,
        })
    }
}

/// Resolves once `cancel` is set.
async fn stopped(cancel: &CancelFlag) {
    while !cancel.is_set() {
        tokio::time::sleep(POLL).await;
    }
}

/// How often a transfer looks at its stop signal.
const POLL: Duration = Duration::from_millis(100);

/// Sends the request, then the answer's chunks (or one error) into `tx`.
async fn send(
    url: &str,
    get: bool,
    service: &str,
    auth: Option<(String, String)>,
    body: Vec<u8>,
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
) {
    // The URL without its query: errors name the repository, never a secret.
    let shown = url.split('?').next().unwrap_or(url).to_string();
    let mut resp = match answer(url, &shown, get, service, auth, body).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    loop {
        let next = match resp.chunk().await {
            Ok(Some(bytes)) => Ok(bytes.to_vec()),
            Ok(None) => return,
            Err(e) => Err(io::Error::other(format!("{shown}: {}", e.without_url()))),
        };
        let failed = next.is_err();
        // A closed channel: libgit2 stopped reading; nothing more to do.
        if tx.send(next).is_err() || failed {
            return;
        }
    }
}

/// The response, once its status and content type say it is git's answer.
async fn answer(
    url: &str,
    shown: &str,
    get: bool,
    service: &str,
    auth: Option<(String, String)>,
    body: Vec<u8>,
) -> io::Result<reqwest::Response> {
    // Redirects stay on the forge's origin (scheme, host, port): the token never follows one elsewhere.
    let same_host = reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &reqwest::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() < 5 && Some(origin(attempt.url())) == first {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(same_host)
        .user_agent(concat!("git/2.0 (medic ", env!("CARGO_PKG_VERSION"), ")"))
        .build()
        .map_err(io::Error::other)?;
    let mut req = if get {
        client.get(url)
    } else {
        client
            .post(url)
            .header("content-type", format!("application/x-{service}-request"))
            .header("accept", format!("application/x-{service}-result"))
            .body(body)
    };
    if let Some((user, token)) = &auth {
        if !safe_for_tokens(url) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{shown}: medic does not send a token over plain http except to loopback; use https"),
            ));
        }
        req = req.basic_auth(user, Some(token));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| io::Error::other(format!("{shown}: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{shown}: HTTP {status}: {}",
                if auth.is_some() { REFUSED } else { UNASKED }
            ),
        ));
    }
    if status != 200 {
        return Err(io::Error::other(format!("{shown}: HTTP {status}")));
    }
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let want = if get {
        format!("application/x-{service}-advertisement")
    } else {
        format!("application/x-{service}-result")
    };
    if kind != want {
        // A dumb HTTP server or a login page: not something to feed libgit2.
        return Err(io::Error::other(format!(
            "{shown}: expected {want}, got `{kind}` (is this a git smart-HTTP URL?)"
        )));
    }
    Ok(resp)
}

/// Tokens travel over https, or over http to this machine only (tests, proxies).
fn safe_for_tokens(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Read for Exchange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stop = || io::Error::other(super::blocking::STOPPED);
        if self.cancel.is_set() {
            return Err(stop());
        }
        if self.answer.is_none() {
            self.answer = Some(self.start()?);
        }
        let Some(answer) = self.answer.as_mut() else {
            return Ok(0);
        };
        loop {
            let n = answer.chunk.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match answer.rest.recv_timeout(POLL) {
                Ok(Ok(bytes)) => answer.chunk = Cursor::new(bytes),
                Ok(Err(e)) => return Err(e),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if self.cancel.is_set() => {
                    return Err(stop())
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // The sender is gone: the answer is complete.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
    }
}

impl Write for Exchange {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.cancel.is_set() {
            return Err(io::Error::other(super::blocking::STOPPED));
        }
        self.sent.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether libgit2's error carries this transport's refusal (libgit2 wraps
/// a transport's I/O error without keeping its kind).
pub fn is_refusal(e: &git2::Error) -> bool {
    e.message().contains(REFUSED) || e.message().contains(UNASKED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_their_remote_and_leave_with_the_guard() {
        let g = authorize(
            "https://git.example/acme/api.git",
            Some(("x-access-token", "t0k")),
            CancelFlag::new(),
        );
        assert_eq!(
            credentials_for("https://git.example/acme/api.git"),
            Some(("x-access-token".into(), "t0k".into()))
        );
        assert_eq!(
            credentials_for("https://git.example/acme/api.git.evil"),
            None
        );
        assert_eq!(credentials_for("https://git.example/acme/other.git"), None);
        drop(g);
        assert_eq!(credentials_for("https://git.example/acme/api.git"), None);
    }

    #[test]
    fn tokens_go_over_https_or_to_loopback_only() {
        assert!(safe_for_tokens("https://github.com/acme/api.git/info/refs"));
        assert!(safe_for_tokens(
            "http://127.0.0.1:8080/shop.git/git-receive-pack"
        ));
        assert!(safe_for_tokens("http://localhost/shop.git"));
        assert!(safe_for_tokens("http://[::1]:9/shop.git"));
        assert!(!safe_for_tokens("http://git.example/acme/api.git"));
        assert!(!safe_for_tokens("http://10.0.0.1/acme/api.git"));
    }
}
