//! What the external-agent tests share: the skip-or-fail rule for a missing
//! binary, a real git checkout, the approved plan, a scripted model server
//! and an event recorder.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use medic::agent::{AgentEvent, Task};
use medic::model::{FixKind, Plan, PlanStep, RootCause, Severity};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `bin` at `version`, or a failure that says how to install it. Tests that
/// call this are `#[ignore]`d with the reason, so a machine without the
/// program reports them as ignored, never as passed; `.ci/run` installs
/// every program and runs them with `--include-ignored`.
pub fn need(bin: &str, version: &str) {
    match Command::new(bin).arg("--version").output() {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(
                v.contains(version),
                "{bin} --version says {v:?}; the tests are pinned to {version} (run .ci/run)"
            );
        }
        _ => panic!("{bin} {version} is not installed: run .ci/run (npm install -g) to install it"),
    }
}

/// bubblewrap, or a failure that says how to install it (see [`need`]).
pub fn need_bwrap() {
    let ok = Command::new("bwrap")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "bubblewrap is not installed: apt install bubblewrap (.ci/run does)"
    );
}

/// A real git repository with one deployment manifest, committed.
pub fn checkout(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("k8s")).unwrap();
    std::fs::write(
        repo.join("k8s/api.yaml"),
        "kind: Deployment\nmemory: 32Gi\n",
    )
    .unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let st = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    }
    repo
}

/// `git status --porcelain` of the checkout.
pub fn git_status(repo: &Path) -> String {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(repo)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The approved plan the agents get.
pub fn plan() -> Plan {
    Plan {
        title: "Raise api's memory limit".into(),
        summary: "api is leaking memory towards its limit; buy time.".into(),
        severity: Severity::High,
        root_cause: RootCause {
            hypothesis: "a leak since the last deploy".into(),
            confidence: 0.7,
            evidence: vec![],
        },
        alternatives: vec![],
        fix_kind: FixKind::Config,
        steps: vec![
            PlanStep {
                id: "s1".into(),
                description: "Raise the memory limit in k8s/api.yaml to 48Gi".into(),
                files: vec!["k8s/api.yaml".into()],
            },
            PlanStep {
                id: "s2".into(),
                description: "Check the rollout".into(),
                files: vec![],
            },
        ],
        verification: vec![],
        risks: vec![],
        rollback: "revert".into(),
        mitigations: vec![],
        verification_rule: None,
    }
}

/// The task, with a limit.
pub fn task(limit: Duration) -> Task {
    Task::new(&plan(), None, limit, 40)
}

/// Every request the scripted server saw, and what it answers.
#[derive(Clone)]
pub struct Script {
    pub requests: Arc<Mutex<Vec<Value>>>,
    pub reply: Arc<dyn Fn(&Value) -> String + Send + Sync>,
}

/// Serves `script` on 127.0.0.1 (any POST path: the reply is SSE); returns the base URL.
pub async fn serve(script: Script) -> String {
    async fn post(State(s): State<Script>, _uri: Uri, body: axum::body::Bytes) -> Response {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.requests.lock().unwrap().push(v.clone());
        let text = (s.reply)(&v);
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .body(Body::from(text))
            .unwrap()
    }
    async fn other() -> StatusCode {
        StatusCode::NOT_FOUND
    }
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(post))
        .route("/v1/messages", axum::routing::post(post))
        .route("/v1/responses", axum::routing::post(post))
        .fallback(other)
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// `data: {json}\n\n` frames.
pub fn sse(frames: &[Value]) -> String {
    frames.iter().map(|f| format!("data: {f}\n\n")).collect()
}

/// Events recorded in order.
pub type Recorded = Arc<Mutex<Vec<AgentEvent>>>;

/// A sink that records events.
pub fn recorder() -> (Recorded, impl FnMut(AgentEvent) + Send) {
    let events: Recorded = Arc::default();
    let e = events.clone();
    (events, move |ev| e.lock().unwrap().push(ev))
}

/// Index of the first event matching `f`, with the whole list in the panic.
pub fn position(events: &[AgentEvent], what: &str, f: impl Fn(&AgentEvent) -> bool) -> usize {
    events
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("no {what} among the events:\n{events:#?}"))
}

/// Environment that keeps an agent's home, config and caches in `dir`
/// (inside medic's sandbox HOME and XDG are the sandbox's own; this matters
/// with `sandbox = "none"`).
pub fn isolated_env(dir: &Path) -> Vec<(String, String)> {
    let d = |s: &str| {
        let p = dir.join(s);
        std::fs::create_dir_all(&p).unwrap();
        p.display().to_string()
    };
    vec![
        ("HOME".into(), d("home")),
        ("XDG_CONFIG_HOME".into(), d("home/.config")),
        ("XDG_DATA_HOME".into(), d("home/.local/share")),
        ("XDG_CACHE_HOME".into(), d("home/.cache")),
        ("XDG_STATE_HOME".into(), d("home/.local/state")),
    ]
}

/// A marker no other process on the machine carries: a `sleep` duration
/// made of this test process's pid and a counter (`sleep 86400.<pid><n>`).
pub fn unique_sleep() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "86400.{}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed) + 10
    )
}

/// Live (not zombie) processes whose argv holds exactly `marker` as one
/// argument: only the processes a test started with [`unique_sleep`].
pub fn alive_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if !cmd.split(|b| *b == 0).any(|a| a == marker.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'));
        if !zombie {
            found.push(pid);
        }
    }
    found
}
