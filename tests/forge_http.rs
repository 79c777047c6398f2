//! git over HTTP through medic's own smart-HTTP transport (reqwest), against
//! a real `git http-backend` (git's CGI server for smart HTTP) behind a
//! loopback axum server that demands the token as basic auth, as GitHub does.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use medic::forge::git::{Author, Checkout, Credentials, GitSettings, PushOutcome};
use medic::forge::local::LocalForge;
use medic::forge::{BranchName, ForgeError};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "s3cret";
/// `x-access-token:s3cret` in base64.
const BASIC: &str = "Basic eC1hY2Nlc3MtdG9rZW46czNjcmV0";

fn settings(token: &str) -> GitSettings {
    GitSettings {
        base: "main".into(),
        author: Author {
            name: "medic".into(),
            email: "medic@localhost".into(),
        },
        credentials: Credentials::Token {
            username: "x-access-token".into(),
            token: token.into(),
        },
        max_diff_bytes: 64 * 1024,
        cancel: Default::default(),
    }
}

/// What the server saw: method, path and query, whether the token came.
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// Serves every repository under `root` with `git http-backend`.
async fn serve(root: PathBuf) -> (String, Seen) {
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
fn cgi(root: &PathBuf, method: &Method, uri: &Uri, ctype: &str, body: &[u8]) -> Response<Body> {
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

/// The demo's sample repository, served with pushes allowed.
fn repos() -> (tempfile::TempDir, LocalForge) {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let ok = Command::new("git")
        .args(["config", "http.receivepack", "true"])
        .current_dir(forge.remote_path())
        .status()
        .unwrap();
    assert!(ok.success());
    (data, forge)
}

/// 3 MB that do not compress, so the clone's answer comes in many chunks.
fn big_blob() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Commits `blob` as `assets/big.bin` on the bare repository's main, with git itself.
fn add_to_main(bare: &std::path::Path, blob: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let git = |args: &[&str], dir: &std::path::Path| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["clone", "-q", bare.to_str().unwrap(), "w"], tmp.path());
    let w = tmp.path().join("w");
    std::fs::create_dir_all(w.join("assets")).unwrap();
    std::fs::write(w.join("assets/big.bin"), blob).unwrap();
    git(&["add", "."], &w);
    git(&["commit", "-qm", "a large asset"], &w);
    git(&["push", "-q", "origin", "main"], &w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_branch_commit_push_over_http_with_the_token() {
    let (_data, forge) = repos();
    let blob = big_blob();
    add_to_main(&forge.remote_path(), &blob);
    let (base, seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("co");
    let remote_path = forge.remote_path();
    let pushed = tokio::task::spawn_blocking(move || {
        let co = Checkout::clone(&url, &dir, settings(TOKEN)).unwrap();
        // The multi-megabyte answer streamed through intact.
        assert!(std::fs::read(co.path().join("assets/big.bin")).unwrap() == blob);
        let branch = BranchName::new("inc-9", "over http").unwrap();
        co.start_branch(&branch).unwrap();
        std::fs::write(co.path().join("NOTES.md"), "pushed over http\n").unwrap();
        let commit = co.commit_all("over http").unwrap().unwrap();
        let outcome = co.push(&branch).unwrap();
        assert!(matches!(outcome, PushOutcome::Pushed(_)), "{outcome:?}");
        // The remote ref is read back over HTTP too; a second push is a no-op.
        assert_eq!(co.remote_oid(&branch).unwrap(), Some(commit));
        assert!(matches!(
            co.push(&branch).unwrap(),
            PushOutcome::AlreadyThere(_)
        ));
        co.fetch().unwrap();
        (branch, commit)
    })
    .await
    .unwrap();
    let out = Command::new("git")
        .args(["rev-parse", &pushed.0.refname()])
        .current_dir(&remote_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pushed.1.to_string(),
        "the bare repository has medic's branch at medic's commit"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(m, p, _)| m == "POST" && p == "/shop.git/git-receive-pack"),
        "{seen:#?}"
    );
    assert!(
        seen.iter().all(|(_, _, auth)| *auth),
        "the token on every request"
    );
    assert!(
        seen.iter().all(|(_, p, _)| !p.contains(TOKEN)),
        "never in a URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_auth_error_that_does_not_show_it() {
    let (_data, forge) = repos();
    let (base, seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let err = tokio::task::spawn_blocking(move || {
        Checkout::clone(&url, &work.path().join("co"), settings("not-the-token")).unwrap_err()
    })
    .await
    .unwrap();
    assert!(matches!(err, ForgeError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-token"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "one request, no retry loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_receive_hook_rejection_over_http_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let (_data, forge) = repos();
    let hook = forge.remote_path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'frozen for review' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (base, _seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let err = tokio::task::spawn_blocking(move || {
        let co = Checkout::clone(&url, &work.path().join("co"), settings(TOKEN)).unwrap();
        let branch = BranchName::new("inc-10", "frozen").unwrap();
        co.start_branch(&branch).unwrap();
        std::fs::write(co.path().join("NOTES.md"), "x\n").unwrap();
        co.commit_all("x").unwrap().unwrap();
        let err = co.push(&branch).unwrap_err();
        assert_eq!(co.remote_oid(&branch).unwrap(), None);
        err
    })
    .await
    .unwrap();
    assert!(matches!(err, ForgeError::Rejected { .. }), "{err:?}");
}
