//! The real Codex CLI (0.171.0) driven by medic, against a local scripted
//! model speaking the OpenAI Responses wire format (`POST /v1/responses`,
//! streaming events), configured as a custom provider with `-c` overrides.
//!
//! The scripted model patches a file with `apply_patch`; the test asserts the
//! file changed on disk and the driver reported it, in order. Codex 0.171.0
//! does not offer its plan tool (`update_plan`) in `exec` mode, so no
//! `todo_list` item comes out of a real run; that parser is unit-tested on
//! the documented shape (`agent::codex`).

mod agent_support;

use agent_support::*;
use medic::agent::codex::Codex;
use medic::agent::{AgentEvent, CodingAgent};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: &str = "0.171.0";

fn respond(item: Value) -> String {
    let resp = json!({"id": "resp_1", "object": "response", "status": "in_progress", "output": []});
    let mut done = resp.clone();
    done["status"] = json!("completed");
    done["output"] = json!([item.clone()]);
    done["usage"] = json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    [
        json!({"type": "response.created", "response": resp}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": done}),
    ]
    .iter()
    .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
    .collect()
}

fn script() -> Script {
    Script {
        requests: Arc::default(),
        reply: Arc::new(|req: &Value| {
            let calls = req["input"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["type"] == "function_call" || i["type"] == "custom_tool_call")
                .count();
            match calls {
                0 => respond(
                    json!({"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch",
                    "input": "*** Begin Patch\n*** Update File: k8s/api.yaml\n@@\n kind: Deployment\n-memory: 32Gi\n+memory: 48Gi\n*** End Patch\n"}),
                ),
                _ => respond(json!({"type": "message", "id": "m1", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Raised k8s/api.yaml memory 32Gi -> 48Gi.", "annotations": []}]})),
            }
        }),
    }
}

fn driver(dir: &Path, base: &str) -> Codex {
    // Codex keeps its state in ~/.codex: the sandbox's private HOME.
    let mut env = isolated_env(dir);
    env.push(("SCRIPTED_API_KEY".into(), "test-key-EXAMPLE".into()));
    let c = |kv: String| ["-c".to_string(), kv];
    Codex {
        command: "codex".into(),
        // A model name Codex knows, so it offers its usual tools (apply_patch among them).
        model: Some("gpt-5.5".into()),
        args: [
            c("model_provider=\"scripted\"".into()),
            c("model_providers.scripted.name=\"scripted\"".into()),
            c(format!("model_providers.scripted.base_url=\"{base}/v1\"")),
            c("model_providers.scripted.env_key=\"SCRIPTED_API_KEY\"".into()),
            c("model_providers.scripted.wire_api=\"responses\"".into()),
        ]
        .concat(),
        env,
        sandbox: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs codex 0.171.0 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn codex_patches_the_checkout() {
    need("codex", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let s = script();
    let requests = s.requests.clone();
    let base = serve(s).await;
    let (events, mut sink) = recorder();
    let started = Instant::now();
    let report = driver(dir.path(), &base)
        .run(&task(Duration::from_secs(120)), &repo, &mut sink)
        .await
        .unwrap_or_else(|e| panic!("{e}\nevents: {:#?}", events.lock().unwrap()));
    eprintln!("codex: {:.1}s", started.elapsed().as_secs_f64());
    let events = events.lock().unwrap().clone();

    let yaml = std::fs::read_to_string(repo.join("k8s/api.yaml")).unwrap();
    assert_eq!(yaml, "kind: Deployment\nmemory: 48Gi\n", "{events:#?}");
    assert_eq!(git_status(&repo).trim(), "M k8s/api.yaml");
    assert!(
        matches!(&events[0], AgentEvent::Todos(t) if t.len() == 2),
        "the plan's steps first: {events:#?}"
    );
    let changed = position(
        &events,
        "the changed file",
        |e| matches!(e, AgentEvent::FileChanged(f) if f == "k8s/api.yaml"),
    );
    let finished = position(&events, "Finished", |e| {
        matches!(e, AgentEvent::Finished { .. })
    });
    assert!(
        changed < finished && finished == events.len() - 1,
        "{events:#?}"
    );
    assert_eq!(report.summary, "Raised k8s/api.yaml memory 32Gi -> 48Gi.");
    assert!(requests.lock().unwrap()[0]
        .to_string()
        .contains("[s1] Raise the memory limit"));
}

/// The model behind Codex sends the same patch for ever: it applies once,
/// then nothing changes; with no progress for the configured time the loop
/// detector ends the run and its process group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs codex 0.171.0 and bubblewrap; .ci/run installs them and runs ignored tests"]
async fn a_looping_model_is_stopped() {
    need("codex", VERSION);
    let dir = tempfile::tempdir().unwrap();
    let repo = checkout(dir.path());
    let s = Script {
        requests: Arc::default(),
        reply: Arc::new(|req: &Value| {
            let n = req["input"].as_array().map_or(0, |i| i.len());
            respond(
                json!({"type": "custom_tool_call", "id": format!("ctc_{n}"), "call_id": format!("call_{n}"),
                "name": "apply_patch",
                "input": "*** Begin Patch\n*** Update File: k8s/api.yaml\n@@\n kind: Deployment\n-memory: 32Gi\n+memory: 48Gi\n*** End Patch\n"}),
            )
        }),
    };
    let requests = s.requests.clone();
    let base = serve(s).await;
    let (events, mut sink) = recorder();
    let mut task = task(Duration::from_secs(300));
    task.runaway.max_idle_time = Duration::from_secs(15);
    let started = Instant::now();
    let err = driver(dir.path(), &base)
        .run(&task, &repo, &mut sink)
        .await
        .expect_err("a looping agent is stopped");
    let took = started.elapsed();
    eprintln!("codex loop stopped after {:.1}s", took.as_secs_f64());
    let events = events.lock().unwrap().clone();
    assert!(
        err.to_string()
            .starts_with("the agent was looping: nothing changed"),
        "{err}\n{events:#?}"
    );
    assert!(took < Duration::from_secs(90), "{took:?}");
    assert!(requests.lock().unwrap().len() > 3, "it was looping");
    assert!(
        matches!(events.last(), Some(AgentEvent::Failed { error }) if error.contains("the agent was looping")),
        "{events:#?}"
    );
    let seen = requests.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(requests.lock().unwrap().len(), seen, "codex still running");
}
