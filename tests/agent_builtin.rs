//! The builtin agent against a scripted model on 127.0.0.1.
//!
//! The server speaks OpenAI Chat Completions and Anthropic Messages
//! streaming (shapes from the two API references) and plays one scripted
//! answer per request, recording every request body. The agent runs over
//! the real `plan::llm` client, so these tests see what a provider would:
//! the tools offered, the tool results sent back, the errors for refused
//! calls. Nothing outside the temporary directories is read or written.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use medic::agent::builtin::{self, command::Allowlist, BuiltinError, Limits};
use medic::agent::AgentEvent;
use medic::model::{Todo, TodoStatus};
use medic::plan::llm::{Budget, LlmClient, LlmConfig, LlmError, Provider, RetryPolicy};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Script {
    replies: VecDeque<String>,
    /// Answer every request past the script with this (for the step cap).
    forever: Option<String>,
    received: Vec<Value>,
}

struct Server {
    base: String,
    script: Arc<Mutex<Script>>,
}

impl Server {
    async fn start(replies: Vec<String>, forever: Option<String>) -> Server {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            forever,
            received: vec![],
        }));
        let state = script.clone();
        let app = axum::Router::new().fallback(move |_uri: Uri, _h: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let reply = {
                    let mut s = state.lock().unwrap();
                    s.received
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    s.replies.pop_front().or_else(|| s.forever.clone())
                };
                match reply {
                    Some(sse) => Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from(sse))
                        .unwrap(),
                    None => Response::builder()
                        .status(410)
                        .body(Body::from("script exhausted"))
                        .unwrap(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base, script }
    }

    fn received(&self) -> Vec<Value> {
        self.script.lock().unwrap().received.clone()
    }

    fn client(&self, provider: Provider) -> LlmClient {
        let base = match provider {
            Provider::OpenAi => format!("{}/v1", self.base),
            Provider::Anthropic => self.base.clone(),
        };
        let mut c = LlmConfig::new(provider, base, "test-model", None);
        c.retry = RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        };
        c.request_timeout = Duration::from_secs(20);
        LlmClient::new(c).unwrap()
    }
}

/// An OpenAI stream calling `calls` (id, name, arguments) in parallel.
fn oa_calls(calls: &[(&str, &str, Value)]) -> String {
    let mut s = String::new();
    for (i, (id, name, args)) in calls.iter().enumerate() {
        let start = json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}}]});
        let args = args.to_string();
        // Arguments arrive in two fragments, as real servers cut them.
        let (a, b) = args.split_at(args.len() / 2);
        s.push_str(&format!("data: {start}\n\n"));
        for frag in [a, b] {
            let d = json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": i, "function": {"arguments": frag}}]}}]});
            s.push_str(&format!("data: {d}\n\n"));
        }
    }
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20}});
    s.push_str(&format!("data: {fin}\n\ndata: {usage}\n\ndata: [DONE]\n\n"));
    s
}

/// An OpenAI stream calling `name` with `raw` argument text, as sent (maybe not JSON).
fn oa_raw_call(id: &str, name: &str, raw: &str) -> String {
    let start = json!({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": raw}}]}}]});
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20}});
    format!("data: {start}\n\ndata: {fin}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

fn oa_call(id: &str, name: &str, args: Value) -> String {
    oa_calls(&[(id, name, args)])
}

fn oa_text(text: &str) -> String {
    let d = json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]});
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 100, "completion_tokens": 10}});
    format!("data: {d}\n\ndata: {fin}\n\ndata: [DONE]\n\n")
}

fn an_event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// An Anthropic stream: one tool_use block per call, or a text block.
fn an_stream(calls: &[(&str, &str, Value)], text: Option<&str>) -> String {
    let mut s = an_event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "content": [], "model": "test-model", "stop_reason": null,
            "usage": {"input_tokens": 100, "output_tokens": 1}}}),
    );
    let mut index = 0;
    if let Some(t) = text {
        s += &an_event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        s += &an_event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}),
        );
        s += &an_event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        );
        index = 1;
    }
    for (i, (id, name, args)) in calls.iter().enumerate() {
        let idx = index + i;
        s += &an_event(
            "content_block_start",
            json!({"type": "content_block_start", "index": idx, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        s += &an_event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": idx, "delta": {"type": "input_json_delta", "partial_json": args.to_string()}}),
        );
        s += &an_event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": idx}),
        );
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    s += &an_event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 20}}),
    );
    s += &an_event("message_stop", json!({"type": "message_stop"}));
    s
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

/// A checkout with one committed config file.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/app.toml"),
        "[resources]\nmemory = \"512Mi\"\ncpu = \"1\"\n",
    )
    .unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "init"]);
    dir
}

fn todo(id: &str, content: &str, status: TodoStatus) -> Todo {
    Todo {
        id: id.into(),
        content: content.into(),
        status,
    }
}

/// The tool results (OpenAI `role: tool` messages) of a request: id → content.
fn oa_results(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn result_of(results: &[(String, String)], id: &str) -> String {
    results
        .iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no result for {id} in {results:?}"))
        .1
        .clone()
}

async fn run_agent(
    server: &Server,
    provider: Provider,
    dir: &Path,
    limits: Limits,
) -> (Result<builtin::Report, BuiltinError>, Vec<AgentEvent>) {
    let llm = server.client(provider);
    run_with(&llm, dir, limits).await
}

async fn run_with(
    llm: &LlmClient,
    dir: &Path,
    limits: Limits,
) -> (Result<builtin::Report, BuiltinError>, Vec<AgentEvent>) {
    let mut events = Vec::new();
    let r = builtin::run(
        "Raise the memory limit of the api service to 1Gi.",
        vec![todo("1", "raise memory", TodoStatus::Pending)],
        dir,
        llm,
        limits,
        &mut |e| events.push(e),
    )
    .await;
    (r, events)
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn openai_todos_read_edit_git_status_then_done() {
    let dir = checkout();
    let server = Server::start(
        vec![
            oa_call(
                "c1",
                "update_todos",
                json!({"todos": [
                    {"id": "1", "content": "Read config/app.toml", "status": "completed"},
                    {"id": "2", "content": "Raise memory to 1Gi", "status": "in_progress"}]}),
            ),
            oa_call("c2", "read_file", json!({"path": "config/app.toml"})),
            oa_call(
                "c3",
                "edit",
                json!({"path": "./config/app.toml", "old": "memory = \"512Mi\"", "new": "memory = \"1Gi\""}),
            ),
            oa_call("c4", "run_command", json!({"argv": ["git", "status"]})),
            oa_text("Raised the api memory limit from 512Mi to 1Gi."),
        ],
        None,
    )
    .await;
    let (r, events) = run_agent(&server, Provider::OpenAi, dir.path(), Limits::new(10)).await;
    let report = r.unwrap();

    assert_eq!(
        std::fs::read_to_string(dir.path().join("config/app.toml")).unwrap(),
        "[resources]\nmemory = \"1Gi\"\ncpu = \"1\"\n"
    );
    assert_eq!(report.files_changed, ["config/app.toml"]);
    assert_eq!(report.steps, 5);
    assert_eq!(report.todos.len(), 2);
    assert_eq!(report.todos[1].status, TodoStatus::InProgress);
    let todos: Vec<&Vec<Todo>> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Todos(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(
        todos.len(),
        2,
        "the plan's list, then the model's: {events:?}"
    );
    assert_eq!(todos[0][0].content, "raise memory");
    assert_eq!(todos[1][1].content, "Raise memory to 1Gi");
    assert!(events.contains(&AgentEvent::FileChanged("config/app.toml".into())));
    assert_eq!(
        events.last(),
        Some(&AgentEvent::Finished {
            summary: "Raised the api memory limit from 512Mi to 1Gi.".into()
        })
    );

    let rx = server.received();
    assert_eq!(rx.len(), 5);
    let names: Vec<&str> = rx[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "edit",
            "list",
            "grep",
            "run_command",
            "update_todos"
        ]
    );
    assert!(rx[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("[1] raise memory"));
    assert_eq!(
        result_of(&oa_results(&rx[1]), "c1"),
        "ok: to-do list updated"
    );
    assert!(result_of(&oa_results(&rx[2]), "c2").contains("memory = \"512Mi\""));
    assert_eq!(
        result_of(&oa_results(&rx[3]), "c3"),
        "ok: config/app.toml written"
    );
    let status = result_of(&oa_results(&rx[4]), "c4");
    // Command output is outside text: it comes back inside the run's fence.
    assert!(status.starts_with("<untrusted-"), "{status}");
    assert!(
        status
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("exit code 0"),
        "{status}"
    );
    assert!(status.contains("modified:   config/app.toml"), "{status}");
    // Each request carries the whole conversation: the assistant's call
    // precedes its result.
    let last = rx[4]["messages"].as_array().unwrap();
    assert_eq!(last.len(), 2 + 2 * 4, "system, task, 4 × (call, result)");
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn anthropic_read_write_then_done() {
    let dir = checkout();
    let server = Server::start(
        vec![
            an_stream(
                &[("toolu_1", "read_file", json!({"path": "config/app.toml"}))],
                Some("Reading the config first."),
            ),
            an_stream(
                &[(
                    "toolu_2",
                    "write_file",
                    json!({"path": "docs/runbook/memory.md", "content": "Raised to 1Gi.\n"}),
                )],
                None,
            ),
            an_stream(&[], Some("Wrote a runbook note.")),
        ],
        None,
    )
    .await;
    let (r, events) = run_agent(&server, Provider::Anthropic, dir.path(), Limits::new(5)).await;
    let report = r.unwrap();
    assert_eq!(report.summary, "Wrote a runbook note.");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("docs/runbook/memory.md")).unwrap(),
        "Raised to 1Gi.\n"
    );
    assert!(events.contains(&AgentEvent::Log("Reading the config first.".into())));
    let rx = server.received();
    assert_eq!(rx.len(), 3);
    assert!(rx[0]["system"].as_str().unwrap().contains("coding agent"));
    assert_eq!(rx[0]["tools"][0]["name"], "read_file");
    // Tool results travel as `tool_result` blocks in a user turn.
    let msgs = rx[1]["messages"].as_array().unwrap();
    let last = msgs.last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
    assert!(last["content"][0]["content"]
        .as_str()
        .unwrap()
        .contains("512Mi"));
    assert_eq!(msgs[msgs.len() - 2]["content"][1]["type"], "tool_use");
}

/// Lines of every running process's command line containing `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) && !c.contains("agent_builtin") {
                found.push(c);
            }
        }
    }
    found
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn hostile_calls_get_error_results_and_nothing_outside_changes() {
    let dir = checkout();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("config/escape.txt")).unwrap();
    let hard = outside.path().join("hard.txt");
    std::fs::write(&hard, "OUTSIDE-HARD\n").unwrap();
    // Same file system (both temp dirs), so the link can be made.
    std::fs::hard_link(&hard, dir.path().join("config/hard.txt")).unwrap();
    let before = std::fs::read_to_string(dir.path().join(".git/config")).unwrap();
    // A duration no other process carries: this test finds only its own.
    let sleep = format!("1000.{}", std::process::id());

    let calls = [
        ("h1", "read_file", json!({"path": "../../etc/passwd"})),
        ("h2", "read_file", json!({"path": "/etc/passwd"})),
        ("h3", "read_file", json!({"path": "link/secret.txt"})),
        (
            "h4",
            "write_file",
            json!({"path": "link/pwned.txt", "content": "x"}),
        ),
        (
            "h5",
            "write_file",
            json!({"path": "config/escape.txt", "content": "x"}),
        ),
        (
            "h6",
            "edit",
            json!({"path": "config/escape.txt", "old": "TOP", "new": "x"}),
        ),
        ("h7", "read_file", json!({"path": "config/escape.txt"})),
        (
            "h8",
            "write_file",
            json!({"path": ".git/config", "content": "x"}),
        ),
        (
            "h9",
            "run_command",
            json!({"argv": ["curl", "http://example.com"]}),
        ),
        (
            "h10",
            "run_command",
            json!({"argv": ["sh", "-c", "cat /etc/passwd"]}),
        ),
        ("h11", "run_command", json!({"argv": ["sleep", &sleep]})),
        ("h12", "delete_everything", json!({})),
        ("h13", "read_file", json!({"file": "config/app.toml"})),
        ("h14", "run_command", json!({"argv": "git status"})),
        ("h15", "grep", json!({"pattern": "TOP-SECRET", "path": "."})),
        ("h16", "list", json!({"path": "link"})),
        (
            "h17",
            "edit",
            json!({"path": "config/app.toml", "old": "\"", "new": "'"}),
        ),
        (
            "h18",
            "run_command",
            json!({"argv": ["git", "log", "--output=../x"]}),
        ),
        (
            "h19",
            "write_file",
            json!({"path": "config/hard.txt", "content": "x"}),
        ),
    ];
    let server = Server::start(vec![oa_calls(&calls), oa_text("gave up")], None).await;
    let mut limits = Limits::new(5);
    // `sleep` is allowlisted for this test only, to reach the timeout.
    limits.allowlist = Allowlist::default().allow(&["sleep"]);
    limits.command_timeout = Duration::from_secs(1);
    let t0 = Instant::now();
    let (r, events) = run_agent(&server, Provider::OpenAi, dir.path(), limits).await;
    assert!(r.is_ok(), "refusals do not stop the run: {r:?}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());

    let rx = server.received();
    assert_eq!(rx.len(), 2);
    let results = oa_results(&rx[1]);
    assert_eq!(results.len(), calls.len());
    let expect = [
        ("h1", "outside the checkout"),
        ("h2", "outside the checkout"),
        ("h3", "outside the checkout"),
        ("h4", "outside the checkout"),
        ("h5", "symlink"),
        ("h6", "symlink"),
        ("h7", "outside the checkout"),
        ("h8", "`.git` is off-limits"),
        ("h9", "not on the allowlist"),
        ("h10", "not on the allowlist"),
        ("h11", "killed after the 1s timeout"),
        ("h12", "unknown tool"),
        ("h13", "missing string argument `path`"),
        ("h14", "missing list argument `argv`"),
        ("h16", "outside the checkout"),
        ("h17", "occurs 4 times"),
        ("h18", "leads outside the checkout"),
        ("h19", "other hard links"),
    ];
    for (id, needle) in expect {
        let text = result_of(&results, id);
        assert!(text.starts_with("ERROR: "), "{id} is an error: {text}");
        assert!(text.contains(needle), "{id}: {text}");
        assert!(!text.contains("TOP-SECRET-CONTENT"), "{id}: {text}");
        assert!(!text.contains("root:x:0"), "{id}: {text}");
    }
    // grep does not follow the symlinks out either.
    let h15 = result_of(&results, "h15");
    assert!(
        h15.starts_with("<untrusted-") && h15.lines().nth(1) == Some("no matches"),
        "{h15}"
    );

    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "TOP-SECRET-CONTENT\n"
    );
    assert!(!outside.path().join("pwned.txt").exists());
    assert_eq!(std::fs::read_to_string(&hard).unwrap(), "OUTSIDE-HARD\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".git/config")).unwrap(),
        before
    );
    assert!(!dir.path().parent().unwrap().join("x").exists());
    assert!(!events
        .iter()
        .any(|e| matches!(e, AgentEvent::FileChanged(_))));
    assert!(processes_with(&format!("sleep {sleep}")).is_empty());
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn a_timed_out_command_dies_with_its_children_and_secrets_stay_out() {
    let dir = checkout();
    // Unique durations so this test finds only its own processes.
    let script = "sleep 987654 & sleep 987655; wait";
    // SAFETY (edition 2021: safe): only this test reads these variables.
    std::env::set_var("MEDIC_TEST_FAKE_API_KEY", "fake-value-never-shown-42");
    std::env::set_var("MEDIC_TEST_PLAIN", "plain-value-visible");
    let server = Server::start(
        vec![
            oa_calls(&[
                ("t1", "run_command", json!({"argv": ["sh", "-c", script]})),
                ("t2", "run_command", json!({"argv": ["env"]})),
            ]),
            oa_text("done"),
        ],
        None,
    )
    .await;
    let mut limits = Limits::new(5);
    // Test-only allowlist: a shell to spawn grandchildren, `env` to look.
    limits.allowlist = Allowlist(vec![vec!["sh".into(), "-c".into()], vec!["env".into()]]);
    limits.command_timeout = Duration::from_secs(1);
    let (r, _) = run_agent(&server, Provider::OpenAi, dir.path(), limits).await;
    r.unwrap();
    let results = oa_results(&server.received()[1]);
    assert!(result_of(&results, "t1").contains("killed after the 1s timeout"));
    let env = result_of(&results, "t2");
    // The environment is an allowlist: not even harmless variables pass.
    assert!(env.contains("PATH="), "{env}");
    assert!(env.contains("HOME=/home/medic-agent"), "{env}");
    assert!(!env.contains("plain-value-visible"), "{env}");
    assert!(!env.contains("MEDIC_TEST_FAKE_API_KEY"), "{env}");
    assert!(!env.contains("fake-value-never-shown-42"), "{env}");
    assert!(
        processes_with("sleep 98765").is_empty(),
        "{:?}",
        processes_with("sleep 98765")
    );
}

/// Arguments that are not JSON come back to the model as an error result;
/// the run goes on (the model can correct itself).
#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn malformed_arguments_are_an_error_result_not_a_failed_step() {
    let dir = checkout();
    let server = Server::start(
        vec![
            oa_raw_call("m1", "read_file", r#"{"path": "config/app.toml""#),
            oa_call("m2", "read_file", json!({"path": "config/app.toml"})),
            oa_text("read it"),
        ],
        None,
    )
    .await;
    let (r, _) = run_agent(&server, Provider::OpenAi, dir.path(), Limits::new(5)).await;
    let report = r.expect("a malformed call does not fail the run");
    assert_eq!(report.steps, 3);
    let rx = server.received();
    let bad = result_of(&oa_results(&rx[1]), "m1");
    assert!(
        bad.starts_with("ERROR: ") && bad.contains("not valid JSON"),
        "{bad}"
    );
    // The call goes back to the provider as the model sent it.
    let echoed = rx[1]["messages"].to_string();
    assert!(
        echoed.contains(r#"{\"path\": \"config/app.toml\""#),
        "{echoed}"
    );
    assert!(result_of(&oa_results(&rx[2]), "m2").contains("512Mi"));
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn the_step_cap_stops_the_run_with_failed() {
    let dir = checkout();
    let server = Server::start(vec![], Some(oa_call("s", "list", json!({})))).await;
    // The cap stays when the loop detector is off.
    let mut limits = Limits::new(3);
    limits.runaway.max_repeats = 0;
    limits.runaway.max_idle_steps = 0;
    let (r, events) = run_agent(&server, Provider::OpenAi, dir.path(), limits).await;
    assert!(
        matches!(r, Err(BuiltinError::StepCap { max_steps: 3 })),
        "{r:?}"
    );
    assert_eq!(server.received().len(), 3);
    match events.last() {
        Some(AgentEvent::Failed { error }) => {
            assert!(
                error.contains("after 3 steps") && error.contains("max_steps"),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn a_spent_token_budget_stops_the_run_with_failed() {
    let dir = checkout();
    let server = Server::start(vec![], Some(oa_call("s", "list", json!({})))).await;
    // 120 tokens charged per call, and each call's prompt (about a thousand
    // tokens of task and tools) must fit what is left: a call that would go
    // past the budget is refused before it is sent.
    let llm = server
        .client(Provider::OpenAi)
        .with_budget(Budget::new(Some(1500), None));
    let mut limits = Limits::new(40);
    limits.runaway.max_repeats = 0;
    limits.runaway.max_idle_steps = 0;
    let (r, events) = run_with(&llm, dir.path(), limits).await;
    let msg = match &r {
        Err(BuiltinError::Llm(e @ LlmError::BudgetExceeded { .. })) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        msg.contains("the next call's prompt alone is about"),
        "{msg}"
    );
    let sent = server.received().len();
    assert!((1..10).contains(&sent), "{sent}");
    assert!(
        matches!(events.last(), Some(AgentEvent::Failed { error }) if error.contains("budget"))
    );
}

/// `medic fix api --demo --yes` with `[agent] kind = "builtin"`: the scripted
/// model plans, then drives medic's tool loop through the real workflow to a
/// pull request in the local forge; planner and agent share one budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn fix_with_the_builtin_agent_ends_in_a_pull_request() {
    let plan = json!({
        "title": "Raise api's memory limit, then bound the session cache",
        "summary": "Memory grows since the deploy.",
        "severity": "high",
        "root_cause": {"hypothesis": "An unbounded session cache.", "confidence": 0.6,
                       "evidence": ["metric:memory@onset", "deploy:a17be44"]},
        "alternatives": ["traffic: flat"],
        "fix_kind": "config",
        "steps": [{"id": "s1", "description": "Raise the memory limit to 48G", "files": ["deploy/api.yaml"]}],
        "verification": ["memory below 90%"],
        "risks": ["costs memory"],
        "rollback": "revert",
        "mitigations": []
    });
    let server = Server::start(
        vec![
            oa_text(&plan.to_string()),
            oa_call(
                "c1",
                "update_todos",
                json!({"todos": [{"id": "s1", "content": "Raise the memory limit to 48G", "status": "in_progress"}]}),
            ),
            oa_call(
                "c2",
                "edit",
                json!({"path": "deploy/api.yaml",
                       "old": "memory: 32G    # raised from 24G in March (INC-311)",
                       "new": "memory: 48G    # raised from 32G by medic"}),
            ),
            oa_call(
                "c3",
                "update_todos",
                json!({"todos": [{"id": "s1", "content": "Raise the memory limit to 48G", "status": "completed"}]}),
            ),
            oa_text("Raised api's memory limit to 48G in deploy/api.yaml."),
        ],
        None,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("medic.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nkind = \"demo\"\n\n[llm]\nprovider = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"scripted\"\n\n[agent]\nkind = \"builtin\"\n",
            server.base
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let medic = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"));
        c.arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .args(args);
        c
    };
    let out = medic(&["fix", "api", "--yes"]).output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pull request #1 opened"), "{text}");

    // The model saw the plan's step as its to-do list and got its tool results back.
    let received = server.received();
    assert_eq!(
        received.len(),
        5,
        "one plan call and four agent calls: {text}"
    );
    let task = received[1].to_string();
    assert!(task.contains("Raise the memory limit to 48G"), "{task}");
    let last = received[4]["messages"].to_string();
    assert!(
        last.contains("c3"),
        "the last call carries the tool results: {last}"
    );

    // The forge holds medic's branch with exactly that change.
    let bare = common::forge_repo(&data).unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(&bare)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let branches = common::medic_branches(&data);
    assert_eq!(branches.len(), 1, "{branches:?}");
    let branch = branches[0].trim_start_matches("refs/heads/");
    let diff = git(&["diff", "main", branch]);
    assert!(
        diff.contains("+              memory: 48G    # raised from 32G by medic"),
        "{diff}"
    );
    assert_eq!(diff.matches("\n+").count(), 2, "one line changed: {diff}");

    // Planner and agent are charged to the incident's one budget.
    let out = medic(&["incidents", "--json"]).output().await.unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["status"], "pr opened", "{line}");
    assert_eq!(line["llm"]["calls"], 5, "{line}");
    assert_eq!(line["llm"]["tokens"], 110 + 3 * 120 + 110, "{line}");
}

/// What the model reads comes back redacted and inside this run's nonce
/// fence; credential files are not shown at all; a `[REDACTED:…]` marker
/// cannot be written back over the secret it hides.
#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn reads_are_fenced_and_redacted_and_secret_files_stay_hidden() {
    let dir = checkout();
    let secret = format!("Zq8{}Lm3Vx9Tk2Rw7", "pP4nN6bB1");
    std::fs::write(dir.path().join(".env"), format!("DB_PASSWORD={secret}\n")).unwrap();
    std::fs::write(
        dir.path().join("config/db.yaml"),
        format!("user: app\npassword: {secret}\n"),
    )
    .unwrap();
    let server = Server::start(
        vec![
            oa_call("r1", "read_file", json!({"path": ".env"})),
            oa_call("r2", "read_file", json!({"path": "config/db.yaml"})),
            oa_call(
                "w1",
                "write_file",
                json!({"path": "config/db.yaml", "content": "user: app\npassword: [REDACTED:password]\nreplicas: 2\n"}),
            ),
            oa_text("done"),
        ],
        None,
    )
    .await;
    let (r, _) = run_agent(&server, Provider::OpenAi, dir.path(), Limits::new(6)).await;
    r.expect("the run ends normally");
    let rx = server.received();
    let system = rx[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let open = system
        .split_whitespace()
        .find(|w| w.starts_with("<untrusted-"))
        .expect("the system part names the fence")
        .to_string();
    let env = result_of(&oa_results(&rx[1]), "r1");
    assert!(env.contains("holds credentials"), "{env}");
    let yaml = result_of(&oa_results(&rx[2]), "r2");
    assert!(yaml.contains(&open), "inside the fence: {yaml}");
    assert!(yaml.contains("[REDACTED:"), "{yaml}");
    let write = result_of(&oa_results(&rx[3]), "w1");
    assert!(write.contains("marker"), "{write}");
    for body in &rx {
        assert!(
            !body.to_string().contains(&secret),
            "the secret reached the model"
        );
    }
    let on_disk = std::fs::read_to_string(dir.path().join("config/db.yaml")).unwrap();
    assert!(
        on_disk.contains(&secret),
        "the real secret is still in the file"
    );
}

/// What a small local model did: `update_todos` with the same list, again
/// and again, until the step cap. The loop detector stops it on the third
/// identical call after the one that changed the list, and says why in the
/// to-do list and the closing event.
#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn identical_repeated_calls_stop_the_run_as_looping() {
    let dir = checkout();
    let list = json!({"todos": [{"id": "1", "content": "raise memory", "status": "in_progress"}]});
    let server = Server::start(vec![], Some(oa_call("t", "update_todos", list))).await;
    let (r, events) = run_agent(&server, Provider::OpenAi, dir.path(), Limits::new(40)).await;
    let err = r.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "the agent was looping: it called `update_todos` with the same arguments 3 times"
        ),
        "{err}"
    );
    // One call changed the list; three more did nothing; the third of those never ran.
    assert_eq!(server.received().len(), 4);
    let Some(AgentEvent::Todos(last)) = events
        .iter()
        .rev()
        .find(|e| matches!(e, AgentEvent::Todos(_)))
    else {
        panic!("{events:#?}")
    };
    assert_eq!(last[0].status, TodoStatus::Failed);
    assert!(
        last[1].content.contains("the agent was looping"),
        "{last:#?}"
    );
    assert!(
        matches!(events.last(), Some(AgentEvent::Failed { error }) if error.contains("the agent was looping")),
        "{events:#?}"
    );
}

/// Different reads, but nothing written and the list untouched for
/// `max_idle_steps` model calls: stopped as looping, long before the cap.
#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn steps_without_progress_stop_the_run_as_looping() {
    let dir = checkout();
    let replies = (0..20)
        .map(|i| {
            oa_call(
                &format!("g{i}"),
                "grep",
                json!({"pattern": format!("memory{i}")}),
            )
        })
        .collect();
    let server = Server::start(replies, None).await;
    let mut limits = Limits::new(40);
    limits.runaway.max_idle_steps = 5;
    let (r, events) = run_agent(&server, Provider::OpenAi, dir.path(), limits).await;
    let err = r.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "the agent was looping: 5 steps went by without changing a file or its to-do list"
        ),
        "{err}"
    );
    assert_eq!(server.received().len(), 5);
    assert!(matches!(events.last(), Some(AgentEvent::Failed { .. })));
}
