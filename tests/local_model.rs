//! A REAL small model, served offline by llama.cpp's own server (PyPI
//! `xllamacpp`), with no proxy in between: Qwen2.5-Coder-0.5B-Instruct
//! Q4_K_M, the kind of model on-call teams run on their own hardware.
//!
//! - `medic fix api --demo --yes` gets a valid plan in ONE call (the plan's
//!   JSON Schema as `response_format`, evidence ids and the service held to
//!   the bundle's) and the demo reaches its pull request;
//! - the builtin agent on the same model does not run away: it finishes,
//!   or the loop detector stops it within a minute of the loop starting
//!   (which of the two depends on what the model writes that run: its
//!   prompt carries a fresh fence nonce each time).
//!
//! `scripts/ci-local-model.sh` prepares the venv and the model (cached);
//! `.ci/run` runs it and points `MEDIC_LLAMA_PYTHON` and `MEDIC_LOCAL_MODEL`
//! at them. One test, one server, run one after the other: two inferences at
//! once on two shared cores would only be slower.

mod agent_support;
mod common;

use common::{free_port, Running};
use medic::agent::builtin::{self, Limits};
use medic::agent::AgentEvent;
use medic::plan::llm::{LlmClient, LlmConfig, Provider};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const MODEL_NAME: &str = "qwen2.5-coder-0.5b-instruct";

/// The venv's python and the GGUF, or a panic saying how to get them.
fn local_model() -> (PathBuf, PathBuf) {
    let get = |var: &str| {
        let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            panic!(
                "{var} is not set: this test runs a real model. Run scripts/ci-local-model.sh \
                 (it installs xllamacpp in a cached venv and fetches the GGUF) and set \
                 MEDIC_LLAMA_PYTHON and MEDIC_LOCAL_MODEL to the paths it prints; .ci/run does"
            )
        });
        assert!(p.is_file(), "{var}={} does not exist", p.display());
        p
    };
    (get("MEDIC_LLAMA_PYTHON"), get("MEDIC_LOCAL_MODEL"))
}

fn start_server(dir: &std::path::Path) -> (Running, u16) {
    let (python, model) = local_model();
    let port = free_port();
    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/llama-server.py"
    ))
    .arg(&model)
    .arg(port.to_string());
    let mut server = Running::start("llama.cpp server", cmd, &dir.join("llama.log"));
    server.wait_ready(port, "/health", Duration::from_secs(120));
    (server, port)
}

#[test]
#[ignore = "needs xllamacpp and the Qwen2.5-Coder-0.5B GGUF (scripts/ci-local-model.sh); .ci/run installs them and runs ignored tests"]
fn a_real_small_model_plans_in_one_call_and_its_loops_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path());
    let base = format!("http://127.0.0.1:{port}/v1");

    // 1. The demo's pipeline against the model: one call, a valid plan, a PR.
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!("[llm]\nprovider = \"openai\"\nbase_url = \"{base}\"\nmodel = \"{MODEL_NAME}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--config")
        .arg(&config)
        .args(["--demo", "--data-dir"])
        .arg(&data)
        .args(["fix", "api", "--yes"])
        .output()
        .expect("run medic");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "medic fix api against {MODEL_NAME}: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "{text}\nserver log:\n{}",
        server.log_tail()
    );
    assert!(
        text.contains(&format!("planner (llm:openai/{MODEL_NAME}): 1 call(s)")),
        "the plan took more than one call:\n{text}"
    );
    assert!(text.contains("pull request #1 opened"), "{text}");
    assert!(!text.contains("refused json_schema"), "{text}");

    // 2. The builtin agent on the same model.
    let repo = agent_support::checkout(dir.path());
    let mut cfg = LlmConfig::new(Provider::OpenAi, base, MODEL_NAME, None);
    // With tools offered, llama.cpp holds text back while it looks for a
    // call: long silences on a busy CPU are normal.
    cfg.request_timeout = Duration::from_secs(180);
    cfg.idle_timeout = Duration::from_secs(180);
    let llm = LlmClient::new(cfg).unwrap();
    let mut limits = Limits::new(40);
    limits.max_tokens_per_call = 300;
    let task = agent_support::task(Duration::from_secs(240));
    let mut events: Vec<(Instant, AgentEvent)> = Vec::new();
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(builtin::run(
        &task.prompt,
        task.todos.clone(),
        &repo,
        &llm,
        limits,
        &mut |e| events.push((Instant::now(), e)),
    ));
    let ended = Instant::now();
    eprintln!(
        "builtin agent on {MODEL_NAME}: {:.1}s, {} events",
        (ended - started).as_secs_f64(),
        events.len()
    );
    let log: Vec<String> = events.iter().map(|(_, e)| format!("{e:?}")).collect();
    // The model does not run away: it finishes, or the loop detector stops
    // it; never the step cap, the wall clock or the budget.
    let err = match result {
        Ok(r) => {
            eprintln!("the model finished in {} step(s): {:?}", r.steps, r.summary);
            assert!(r.steps < 40, "{}", log.join("\n"));
            return;
        }
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("the agent was looping:"),
        "{err}\n{}",
        log.join("\n")
    );
    // The loop started at the last progress: a file or a new to-do list.
    let stopped = events
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, AgentEvent::Todos(t) if t.iter().any(|t| t.id == "stopped")))
        .map(|(at, _)| *at)
        .expect("the stopped to-do list");
    let loop_start = events
        .iter()
        .filter(|(at, e)| {
            *at < stopped && matches!(e, AgentEvent::Todos(_) | AgentEvent::FileChanged(_))
        })
        .map(|(at, _)| *at)
        .next_back()
        .unwrap_or(started);
    let looped_for = ended - loop_start;
    eprintln!(
        "{err}; looping for {:.1}s before it was stopped",
        looped_for.as_secs_f64()
    );
    assert!(
        looped_for < Duration::from_secs(60),
        "{looped_for:?}\n{}",
        log.join("\n")
    );
}
