//! The real OpenCode (1.18.33) driven by medic, against a local scripted
//! model speaking the OpenAI Chat Completions wire format (streaming SSE).
//!
//! The scripted model makes OpenCode call `todowrite`, `read`, `edit` and
//! `todowrite` again on a real git checkout; the tests assert what medic's
//! driver reported (to-do texts and statuses, the changed file, the order)
//! and what is on disk. Both modes: `opencode run --format json` and
//! `opencode serve`. Also: dead agents (garbage output, a hang, no binary).

mod agent_support;

use agent_support::*;
use medic::agent::opencode::{Mode, OpenCode};
use medic::agent::{AgentError, AgentEvent, CodingAgent};
use medic::model::TodoStatus;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: &str = "1.18.33";

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "scripted",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn tool_call(id: &str, name: &str, args: Value) -> String {
    let mut s = sse(&[
        chunk(
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": id, "type": "function",
            "function": {"name": name, "arguments": args.to_string()}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]);
    s.push_str("data: [DONE]\n\n");
    s
}

fn text(t: &str) -> String {
    let mut s = sse(&[
        chunk(json!({"role": "assistant", "content": t}), None),
        chunk(json!({}), Some("stop")),
    ]);
    s.push_str("data: [DONE]\n\n");
    s
}

/// The model's script: to-dos, read, edit, to-dos done, summary.
fn script(repo: &Path) -> Script {
    let file = repo.join("k8s/api.yaml").display().to_string();
    Script {
        requests: Arc::default(),
        reply: Arc::new(move |req: &Value| {
            if req["tools"].as_array().is_none_or(|t| t.is_empty()) {
                return text("Raise api memory"); // the session title
            }
            let done = req["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["role"] == "tool")
                .count();
            match done {
                0 => tool_call(
                    "call_1",
                    "todowrite",
                    json!({"todos": [
                    {"content": "Raise the memory limit in k8s/api.yaml to 48Gi", "status": "in_progress", "priority": "high"},
                    {"content": "Check the rollout", "status": "pending", "priority": "medium"}]}),
                ),
                1 => tool_call("call_2", "read", json!({"filePath": file})),
                2 => tool_call(
                    "call_3",
                    "edit",
                    json!({"filePath": file, "oldString": "memory: 32Gi", "newString": "memory: 48Gi"}),
                ),
                3 => tool_call(
                    "call_4",
                    "todowrite",
                    json!({"todos": [
                    {"content": "Raise the memory limit in k8s/api.yaml to 48Gi", "status": "completed", "priority": "high"},
                    {"content": "Check the rollout", "status": "completed", "priority": "medium"}]}),
                ),
                _ => text("Raised k8s/api.yaml memory 32Gi -> 48Gi."),
            }
        }),
    }
}

/// The user's own OpenCode config (a provider pointing at the scripted model),
/// inline; medic adds only its permissions.
fn driver(dir: &Path, base: &str, mode: Mode) -> OpenCode {
    let env = isolated_env(dir);
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false,
        "provider": {"local": {"npm": "@ai-sdk/openai-compatible", "name": "local",
            "options": {"baseURL": format!("{base}/v1"), "apiKey": "test-key"},
            "models": {"scripted": {"name": "scripted"}}}}
    });
    // Inside medic's sandbox HOME is private: the user's config travels inline.
    let mut env = env;
    env.push(("OPENCODE_CONFIG_CONTENT".into(), config.to_string()));
    env.push(("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()));
    env.push(("npm_config_offline".into(), "true".into()));
    OpenCode {
        command: "opencode".into(),
        model: Some("local/scripted".into()),
        mode,
        // No external plugins: nothing to fetch from npm at start.
        args: vec!["--pure".into()],
        env,
        event_stream: true,
        sandbox: Default::default(),
    }
}

async fn edits_the_checkout(mode: Mode, event_stream: bool) {
    need("opencode", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let s = script(&repo);
    let requests = s.requests.clone();
    let base = serve(s).await;
    let mut agent = driver(dir.path(), &base, mode);
    agent.event_stream = event_stream;
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let report = agent
        .run(&task(Duration::from_secs(120)), &repo, &mut sink)
        .await
        .unwrap_or_else(|e| panic!("{e}\nevents: {:#?}", events.lock().unwrap()));
    eprintln!(
        "opencode {mode:?} (event stream {event_stream}): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let events = events.lock().unwrap().clone();

    // The file changed on disk, and nothing of medic's was written into the checkout.
    let yaml = std::fs::read_to_string(repo.join("k8s/api.yaml")).unwrap();
    assert_eq!(
        yaml, "kind: Deployment\nmemory: 48Gi\n",
        "events: {events:#?}"
    );
    assert_eq!(git_status(&repo).trim(), "M k8s/api.yaml");

    // The plan's steps first, then OpenCode's own list as it went, in order.
    let AgentEvent::Todos(first) = &events[0] else {
        panic!("{events:#?}")
    };
    assert_eq!(
        first.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    let changed = position(
        &events,
        "the changed file",
        |e| matches!(e, AgentEvent::FileChanged(f) if f == "k8s/api.yaml"),
    );
    let done = position(
        &events,
        "the to-dos completed",
        |e| matches!(e, AgentEvent::Todos(t) if t.len() == 2 && t.iter().all(|t| t.status == TodoStatus::Completed)),
    );
    let finished = position(&events, "Finished", |e| {
        matches!(e, AgentEvent::Finished { .. })
    });
    if event_stream {
        let working = position(&events, "the agent's first to-do list", |e| {
            matches!(e, AgentEvent::Todos(t) if t.len() == 2
                && t[0].content == "Raise the memory limit in k8s/api.yaml to 48Gi" && t[0].status == TodoStatus::InProgress
                && t[1].content == "Check the rollout" && t[1].status == TodoStatus::Pending)
        });
        assert!(
            0 < working && working < changed && changed < done,
            "{events:#?}"
        );
    }
    // Polling alone sees fewer intermediate states, but never misses the end.
    assert!(done < finished && changed < finished, "{events:#?}");
    assert_eq!(finished, events.len() - 1);
    assert!(
        report.summary.contains("32Gi -> 48Gi"),
        "{}",
        report.summary
    );
    assert!(report
        .todos
        .iter()
        .all(|t| t.status == TodoStatus::Completed));

    // What OpenCode sent the model: medic's task, and the tools it offers.
    let requests = requests.lock().unwrap();
    let with_tools = requests
        .iter()
        .find(|r| r["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .expect("a request with tools");
    let tools: Vec<&str> = with_tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"todowrite") && tools.contains(&"edit"),
        "{tools:?}"
    );
    assert!(with_tools
        .to_string()
        .contains("[s1] Raise the memory limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn run_mode_edits_the_checkout_and_reports_todos() {
    edits_the_checkout(Mode::Run, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn serve_mode_edits_the_checkout_and_reports_todos() {
    edits_the_checkout(Mode::Serve, true).await;
}

/// The event stream has broken in several releases: the polls alone must do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn serve_mode_without_the_event_stream_still_finishes() {
    edits_the_checkout(Mode::Serve, false).await;
}

fn fake(dir: &Path, body: &str) -> String {
    let path = dir.join("fake-agent");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status();
    path.display().to_string()
}

fn fake_driver(command: String) -> OpenCode {
    OpenCode {
        command,
        model: None,
        mode: Mode::Run,
        args: vec![],
        env: vec![],
        event_stream: true,
        sandbox: Default::default(),
    }
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn garbage_on_stdout_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let cmd = fake(
        dir.path(),
        "echo 'Error: no provider configured' >&2\necho 'this is not json'\nsleep 30\nexit 1",
    );
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let err = fake_driver(cmd)
        .run(&task(Duration::from_secs(20)), &repo, &mut sink)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for the dead agent"
    );
    let msg = err.to_string();
    assert!(matches!(err, AgentError::Garbled { .. }), "{msg}");
    assert!(
        msg.contains("fake-agent run --format json") && msg.contains("this is not json"),
        "{msg}"
    );
    assert!(
        msg.contains("no provider configured"),
        "the stderr lines are quoted: {msg}"
    );
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(AgentEvent::Failed { .. })
    ));
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn non_zero_exit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let cmd = fake(
        dir.path(),
        "echo 'fatal: model local/x not found' >&2\nexit 3",
    );
    let (_events, mut sink) = recorder();
    let err = fake_driver(cmd)
        .run(&task(Duration::from_secs(20)), &repo, &mut sink)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("exit status: 3") && msg.contains("model local/x not found"),
        "{msg}"
    );
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn a_hung_agent_is_killed_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let marker = unique_sleep();
    // The agent starts a child of its own, in a session of its own: it must go too.
    let cmd = fake(
        dir.path(),
        &format!("setsid sleep {marker} &\nsleep {marker}"),
    );
    let (_events, mut sink) = recorder();
    let started = Instant::now();
    let err = fake_driver(cmd)
        .run(&task(Duration::from_secs(1)), &repo, &mut sink)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout { seconds: 1 }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Gone, or a zombie nobody has reaped yet (PID 1 in a container may not).
    let alive = alive_with(&marker);
    assert!(
        alive.is_empty(),
        "the agent's children {alive:?} outlived the timeout"
    );
}

#[tokio::test]
async fn a_missing_binary_names_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let (_events, mut sink) = recorder();
    let err = fake_driver("/nonexistent/opencode".into())
        .run(&task(Duration::from_secs(5)), &repo, &mut sink)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, AgentError::Spawn { .. }) && msg.contains("/nonexistent/opencode"),
        "{msg}"
    );
}

#[tokio::test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
async fn an_abandoned_run_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let marker = unique_sleep();
    let cmd = fake(
        dir.path(),
        &format!("setsid sleep {marker} &\nsleep {marker}"),
    );
    let agent = fake_driver(cmd);
    let task = task(Duration::from_secs(60));
    let (_events, mut sink) = recorder();
    // The workflow gives up on the step (its own timeout, a cancel): the future is dropped.
    let mut run = agent.run(&task, &repo, &mut sink);
    assert!(tokio::time::timeout(Duration::from_millis(700), &mut run)
        .await
        .is_err());
    assert!(
        !alive_with(&marker).is_empty(),
        "the stand-in agent was running"
    );
    drop(run);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alive = alive_with(&marker);
    assert!(
        alive.is_empty(),
        "the agent's children {alive:?} outlived the dropped run"
    );
}

/// `medic fix --yes` with `[agent] kind = "opencode"`: the agent step runs the
/// configured command, its to-dos and log reach the operator live, and its
/// change becomes a pull request. (The command is a stand-in printing real
/// `opencode run --format json` lines, so this runs without OpenCode.)
#[test]
#[ignore = "needs bubblewrap (apt install bubblewrap); .ci/run installs it and runs ignored tests"]
fn medic_fix_drives_an_external_agent_to_a_pull_request() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"type":"step_start","sessionID":"ses_1","part":{"type":"step-start"}}"#,
        r#"{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"todowrite","callID":"c1","state":{"status":"completed","input":{"todos":[{"content":"Write the runbook note","status":"in_progress","priority":"high"}]},"title":"1 todo"}}}"#,
        "@EDIT@",
        r#"{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"write","callID":"c2","state":{"status":"completed","input":{"filePath":"NOTES.md"},"title":"NOTES.md"}}}"#,
        r#"{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"todowrite","callID":"c3","state":{"status":"completed","input":{"todos":[{"content":"Write the runbook note","status":"completed","priority":"high"}]},"title":"1 todo"}}}"#,
        r#"{"type":"text","sessionID":"ses_1","part":{"type":"text","text":"Wrote NOTES.md."}}"#,
    ];
    let body: Vec<String> = lines
        .iter()
        .map(|l| match *l {
            "@EDIT@" => "echo '# api: memory runbook' >> NOTES.md".to_string(),
            l => format!("echo '{l}'"),
        })
        .collect();
    let cmd = fake(dir.path(), &body.join("\n"));
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!("[source]\nkind = \"demo\"\n[agent]\nkind = \"opencode\"\ncommand = \"{cmd}\"\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .args(["fix", "api", "--yes"])
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_STEP_DELAY_MS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in:\n{text}"))
    };
    assert!(
        at("run --format json --print-logs --log-level ERROR <prompt>")
            < at("to-do list: 0/1 done")
    );
    assert!(at("to-do list: 0/1 done") < at("changed NOTES.md"));
    assert!(at("changed NOTES.md") < at("to-do list: 1/1 done"));
    assert!(at("to-do list: 1/1 done") < at("pull request #1 opened"));
    assert_eq!(text.matches("Wrote NOTES.md.").count(), 1, "{text}");
}

/// A model OpenCode does not know: a clear error from either mode, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn an_unknown_model_is_a_clear_error_in_both_modes() {
    need("opencode", VERSION);
    for mode in [Mode::Run, Mode::Serve] {
        let dir = tempfile::tempdir().unwrap();
        let repo = checkout(dir.path());
        let base = serve(script(&repo)).await;
        let mut agent = driver(dir.path(), &base, mode);
        agent.model = Some("local/no-such-model".into());
        let (_events, mut sink) = recorder();
        let started = Instant::now();
        let err = agent
            .run(&task(Duration::from_secs(60)), &repo, &mut sink)
            .await
            .unwrap_err();
        eprintln!("{mode:?}: {:.1}s: {err}", started.elapsed().as_secs_f64());
        assert!(
            !matches!(err, AgentError::Timeout { .. }),
            "{mode:?}: {err}"
        );
        assert!(
            err.to_string()
                .contains("Model not found: local/no-such-model"),
            "{mode:?}: {err}"
        );
        assert_eq!(git_status(&repo), "");
    }
}

/// The model behind OpenCode writes the same file with the same text for
/// ever (what a small local model did, ~55 times, until medic's wall clock):
/// the loop detector ends the run and its process group.
async fn a_looping_model_is_stopped(mode: Mode) {
    need("opencode", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let file = repo.join("k8s/api.yaml").display().to_string();
    let s = Script {
        requests: Arc::default(),
        reply: Arc::new(move |req: &Value| {
            if req["tools"].as_array().is_none_or(|t| t.is_empty()) {
                return text("Raise api memory");
            }
            let n = req["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["role"] == "tool")
                .count();
            tool_call(
                &format!("call_{n}"),
                "write",
                json!({"filePath": file, "content": "kind: Deployment\nmemory: 48Gi\n"}),
            )
        }),
    };
    let requests = s.requests.clone();
    let base = serve(s).await;
    let agent = driver(dir.path(), &base, mode);
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let err = agent
        .run(&task(Duration::from_secs(300)), &repo, &mut sink)
        .await
        .expect_err("a looping agent is stopped");
    let took = started.elapsed();
    eprintln!(
        "opencode {mode:?} loop stopped after {:.1}s",
        took.as_secs_f64()
    );
    let events = events.lock().unwrap().clone();
    assert!(matches!(err, AgentError::Looping(_)), "{err}\n{events:#?}");
    assert!(
        err.to_string().starts_with(
            "the agent was looping: it called `write` with the same arguments 3 times"
        ),
        "{err}"
    );
    assert!(took < Duration::from_secs(120), "{took:?}");
    // The to-do list and the run's last event say why.
    assert!(
        events.iter().any(|e| matches!(e, AgentEvent::Todos(t)
            if t.last().is_some_and(|t| t.status == TodoStatus::Failed && t.content.contains("the agent was looping")))),
        "{events:#?}"
    );
    assert!(
        matches!(events.last(), Some(AgentEvent::Failed { error }) if error.contains("the agent was looping")),
        "{events:#?}"
    );
    // It stopped: no more model calls once it was killed.
    let seen = requests.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        requests.lock().unwrap().len(),
        seen,
        "opencode still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn run_mode_a_looping_model_is_stopped() {
    a_looping_model_is_stopped(Mode::Run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opencode 1.18.33 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn serve_mode_a_looping_model_is_stopped() {
    a_looping_model_is_stopped(Mode::Serve).await;
}
