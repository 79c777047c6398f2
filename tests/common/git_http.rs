//! A loopback git smart-HTTP server for tests: a real `git http-backend`
//! (git's CGI server) behind axum, demanding a token as basic auth the way
//! GitHub does, and recording every request it saw.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// The token the server demands.
pub const TOKEN: &str = "s3cret";
/// `x-access-token:s3cret` in base64.
pub const BASIC: &str = "Basic eC1hY2Nlc3MtdG9rZW46czNjcmV0";

/// What the server saw: method, path and query, whether the token came.
pub type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// Serves every repository under `root` with `git http-backend`.
pub async fn serve(root: PathBuf) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (root, log) = (root.clone(), log.clone());
            async move {
                let authed =
                    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(BASIC);
                log.lock().unwrap().push((
                    method.to_string(),
                    uri.to_string(),
                    headers.contains_key("authorization"),
                ));
                if !authed {
                    return Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header("www-authenticate", "Basic realm=\"git\"")
                        .body(Body::empty())
                        .unwrap();
                }
                let ctype = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                tokio::task::spawn_blocking(move || cgi(&root, &method, &uri, &ctype, &body))
                    .await
                    .unwrap()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// One CGI request to `git http-backend`.
pub fn cgi(root: &PathBuf, method: &Method, uri: &Uri, ctype: &str, body: &[u8]) -> Response<Body> {
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", ctype)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend runs");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = out.stdout;
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| text.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .expect("CGI headers end");
    let head = String::from_utf8_lossy(&text[..split.0]).to_string();
    let mut resp = Response::builder();
    let mut status = 200;
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            status = v.trim()[..3].parse().unwrap();
        } else {
            resp = resp.header(k.trim(), v.trim());
        }
    }
    resp.status(status)
        .body(Body::from(text[split.0 + split.1..].to_vec()))
        .unwrap()
}
