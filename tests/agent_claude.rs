//! The real Claude Code (2.1.332) driven by medic, against a local scripted
//! model speaking the Anthropic Messages wire format (`POST /v1/messages`,
//! streaming events).
//!
//! The scripted model makes Claude Code create its to-do list with
//! `TaskCreate`, move it along with `TaskUpdate` and `Write` a file in a real
//! git checkout; the tests assert what medic's driver reported, in order, and
//! what is on disk. Also: a dead `claude` (bad key, exits non-zero).

mod agent_support;

use agent_support::*;
use medic::agent::claude::Claude;
use medic::agent::{AgentEvent, CodingAgent};
use medic::model::TodoStatus;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: &str = "2.1.332";

fn events(frames: &[Value]) -> String {
    frames
        .iter()
        .map(|f| format!("event: {}\ndata: {f}\n\n", f["type"].as_str().unwrap()))
        .collect()
}

fn message(block: Value, delta: Value, stop: &str) -> String {
    events(&[
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-scripted", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ])
}

fn tool(n: usize, name: &str, input: Value) -> String {
    message(
        json!({"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": {}}),
        json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        "tool_use",
    )
}

fn text(t: &str) -> String {
    message(
        json!({"type": "text", "text": ""}),
        json!({"type": "text_delta", "text": t}),
        "end_turn",
    )
}

/// The model's script, one step per tool call already in the conversation.
fn script(repo: &Path) -> Script {
    let file = repo.join("k8s/api.yaml").display().to_string();
    Script {
        requests: Arc::default(),
        reply: Arc::new(move |req: &Value| {
            let offers_write = req["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["name"] == "Write");
            if !offers_write {
                return text("ok"); // side requests (titles, summaries)
            }
            let calls = req["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["role"] == "assistant")
                .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
                .filter(|b| b["type"] == "tool_use")
                .count();
            match calls {
                0 => tool(
                    0,
                    "TaskCreate",
                    json!({"subject": "Raise the memory limit in k8s/api.yaml to 48Gi", "description": "32Gi -> 48Gi", "activeForm": "Raising the limit"}),
                ),
                1 => tool(
                    1,
                    "TaskCreate",
                    json!({"subject": "Check the rollout", "description": "watch it"}),
                ),
                2 => tool(
                    2,
                    "TaskUpdate",
                    json!({"taskId": "1", "status": "in_progress"}),
                ),
                3 => tool(
                    3,
                    "Write",
                    json!({"file_path": file, "content": "kind: Deployment\nmemory: 48Gi\n"}),
                ),
                4 => tool(
                    4,
                    "TaskUpdate",
                    json!({"taskId": "1", "status": "completed"}),
                ),
                5 => tool(
                    5,
                    "TaskUpdate",
                    json!({"taskId": "2", "status": "completed"}),
                ),
                _ => text("Raised k8s/api.yaml memory 32Gi -> 48Gi."),
            }
        }),
    }
}

fn driver(dir: &Path, base: &str) -> Claude {
    let mut env = isolated_env(dir);
    env.extend([
        ("ANTHROPIC_BASE_URL".to_string(), base.to_string()),
        ("ANTHROPIC_API_KEY".into(), "test-key-EXAMPLE".into()),
        (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ),
        ("DISABLE_AUTOUPDATER".into(), "1".into()),
    ]);
    Claude {
        command: "claude".into(),
        model: Some("claude-scripted".into()),
        max_turns: 20,
        args: vec![],
        env,
        sandbox: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs claude (Claude Code) 2.1.332 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn claude_code_edits_the_checkout_and_reports_tasks() {
    need("claude", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let s = script(&repo);
    let requests = s.requests.clone();
    let base = serve(s).await;
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let report = driver(dir.path(), &base)
        .run(&task(Duration::from_secs(120)), &repo, &mut sink)
        .await
        .unwrap_or_else(|e| panic!("{e}\nevents: {:#?}", events.lock().unwrap()));
    eprintln!("claude: {:.1}s", started.elapsed().as_secs_f64());
    let events = events.lock().unwrap().clone();

    let yaml = std::fs::read_to_string(repo.join("k8s/api.yaml")).unwrap();
    assert_eq!(yaml, "kind: Deployment\nmemory: 48Gi\n", "{events:#?}");
    assert_eq!(git_status(&repo).trim(), "M k8s/api.yaml");

    let both = position(&events, "both tasks created", |e| {
        matches!(e, AgentEvent::Todos(t) if t.len() == 2 && t[0].id == "1"
            && t[0].content == "Raise the memory limit in k8s/api.yaml to 48Gi" && t[1].content == "Check the rollout")
    });
    let working = position(
        &events,
        "task 1 in progress",
        |e| matches!(e, AgentEvent::Todos(t) if t.len() == 2 && t[0].status == TodoStatus::InProgress),
    );
    let changed = position(
        &events,
        "the changed file",
        |e| matches!(e, AgentEvent::FileChanged(f) if f == "k8s/api.yaml"),
    );
    let done = position(
        &events,
        "all tasks completed",
        |e| matches!(e, AgentEvent::Todos(t) if t.len() == 2 && t.iter().all(|t| t.status == TodoStatus::Completed)),
    );
    let finished = position(&events, "Finished", |e| {
        matches!(e, AgentEvent::Finished { .. })
    });
    assert!(
        both < working && working < changed && changed < done && done < finished,
        "{events:#?}"
    );
    assert_eq!(finished, events.len() - 1);
    assert_eq!(report.summary, "Raised k8s/api.yaml memory 32Gi -> 48Gi.");

    let requests = requests.lock().unwrap();
    let main = requests
        .iter()
        .find(|r| r["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .expect("a request with tools");
    assert_eq!(main["model"], "claude-scripted");
    assert!(main["messages"]
        .to_string()
        .contains("[s1] Raise the memory limit"));
}

#[tokio::test]
#[ignore = "needs claude (Claude Code) 2.1.332 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn a_dead_claude_is_a_clear_error() {
    need("claude", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    // Nothing listens there: Claude Code retries, then gives up or hits the limit.
    let mut agent = driver(dir.path(), "http://127.0.0.1:9");
    agent.env.push(("API_TIMEOUT_MS".into(), "2000".into()));
    agent
        .env
        .push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let err = agent
        .run(&task(Duration::from_secs(30)), &repo, &mut sink)
        .await
        .unwrap_err();
    eprintln!(
        "dead claude: {:.1}s: {err}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        err.to_string()
            .contains("claude -p --output-format stream-json"),
        "{err}"
    );
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(AgentEvent::Failed { .. })
    ));
    assert_eq!(git_status(&repo), "");
}

/// The model behind Claude Code asks for the same Bash command for ever: the
/// loop detector ends the run and its process group before `--max-turns`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs claude (Claude Code) 2.1.332 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn a_looping_model_is_stopped() {
    need("claude", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let s = Script {
        requests: Arc::default(),
        reply: Arc::new(move |req: &Value| {
            let offers_write = req["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["name"] == "Write");
            if !offers_write {
                return text("ok");
            }
            let n = req["messages"].as_array().map_or(0, |m| m.len());
            tool(
                n,
                "Bash",
                json!({"command": "git status", "description": "Show the status"}),
            )
        }),
    };
    let requests = s.requests.clone();
    let base = serve(s).await;
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let err = driver(dir.path(), &base)
        .run(&task(Duration::from_secs(300)), &repo, &mut sink)
        .await
        .expect_err("a looping agent is stopped");
    let took = started.elapsed();
    eprintln!("claude loop stopped after {:.1}s", took.as_secs_f64());
    let events = events.lock().unwrap().clone();
    assert!(
        err.to_string()
            .starts_with("the agent was looping: it called `Bash` with the same arguments 3 times"),
        "{err}\n{events:#?}"
    );
    assert!(took < Duration::from_secs(120), "{took:?}");
    assert!(
        events.iter().any(|e| matches!(e, AgentEvent::Todos(t)
            if t.last().is_some_and(|t| t.status == TodoStatus::Failed && t.content.contains("the agent was looping")))),
        "{events:#?}"
    );
    let seen = requests.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(requests.lock().unwrap().len(), seen, "claude still running");
}
