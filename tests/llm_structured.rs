//! Structured plans over the wire, against local servers speaking the
//! documented formats: OpenAI-compatible `response_format` `json_schema`
//! (strict), the fallback to `json_object` and then to the prompt alone when
//! a server refuses (remembered per server), and Anthropic's single forced
//! tool whose input schema is the plan.

use axum::body::{Body, Bytes};
use axum::http::Uri;
use axum::response::Response;
use medic::model::{
    AlertState, Evidence, EvidenceItem, EvidenceKind, Flag, Metric, ServiceId, Unit, Verdict,
};
use medic::plan::llm::{ChatRequest, LlmClient, LlmConfig, Message, Provider, RetryPolicy};
use medic::plan::planner::{llm_plan, plan_schema, PLAN_SCHEMA_NAME};
use medic::plan::schema::mismatch;
use medic::triage::verdict::Judgement;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scripted server: replies in order, every request body recorded.
struct Server {
    base: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Server {
    async fn start(replies: Vec<(u16, &'static str, String)>) -> Server {
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (r, seen) = (replies.clone(), received.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
            let (r, seen) = (r.clone(), seen.clone());
            async move {
                seen.lock().unwrap().push((
                    uri.path().to_string(),
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                ));
                let (status, ctype, body) = r.lock().unwrap().pop_front().unwrap_or((
                    410,
                    "text/plain",
                    "script exhausted".into(),
                ));
                Response::builder()
                    .status(status)
                    .header("content-type", ctype)
                    .body(Body::from(body))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base, received }
    }

    fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn config(provider: Provider, base: String) -> LlmConfig {
    let mut c = LlmConfig::new(provider, base, "qwen2.5-coder:0.5b", None);
    c.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(1),
    };
    c.stream = false;
    c.json_mode = true;
    c
}

fn evidence() -> Evidence {
    Evidence {
        service: ServiceId::from("api"),
        rule: "memory-near-limit".into(),
        onset: 0,
        items: vec![
            EvidenceItem {
                id: "metric:memory@onset".into(),
                kind: EvidenceKind::Metric,
                title: "memory 30.1 GB of 32 GB".into(),
                detail: "rising 1 GB/h".into(),
                at: None,
            },
            EvidenceItem {
                id: "deploy:a17be44".into(),
                kind: EvidenceKind::Deploy,
                title: "deploy a17be44: add a response cache".into(),
                detail: String::new(),
                at: None,
            },
        ],
        gaps: vec![],
    }
}

fn flag() -> Flag {
    Flag {
        service: ServiceId::from("api"),
        rule: "memory-near-limit".into(),
        metric: Metric::Memory,
        state: AlertState::Firing,
        value: 0.94,
        threshold: 0.9,
        op: ">".into(),
        unit: Unit::Ratio,
        since: 0,
        onset: 0,
        verdict: Verdict::Actionable,
        reason: "memory / memory_limit > 0.9 for 5m".into(),
        eta_seconds: None,
    }
}

fn judgement() -> Judgement {
    Judgement {
        verdict: Verdict::Actionable,
        reasons: vec!["memory grows at a steady rate".into()],
    }
}

fn plan_json() -> Value {
    json!({
        "title": "Raise api's memory limit to 48 GB",
        "summary": "api grows 1 GB/h since a17be44.",
        "severity": "high",
        "root_cause": {"hypothesis": "the response cache has no eviction",
                       "confidence": 0.7, "evidence": ["metric:memory@onset", "deploy:a17be44"]},
        "alternatives": [],
        "fix_kind": "config",
        "steps": [{"id": "s1", "description": "raise the limit", "files": ["deploy/api.yaml"]}],
        "verification": ["memory under 80% for 30 min"],
        "risks": [],
        "rollback": "revert the PR",
        "mitigations": [{"action": "raise_memory_limit", "service": "api", "bytes": 48000000000u64}]
    })
}

fn openai_answer(content: &str) -> (u16, &'static str, String) {
    let v = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "qwen2.5-coder:0.5b",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 200, "total_tokens": 1100},
    });
    (200, "application/json", v.to_string())
}

fn refusal(status: u16, message: &str) -> (u16, &'static str, String) {
    (
        status,
        "application/json",
        json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string(),
    )
}

#[tokio::test]
async fn a_plan_is_asked_with_the_plans_strict_schema_at_temperature_zero() {
    let server = Server::start(vec![openai_answer(&plan_json().to_string())]).await;
    let client = LlmClient::new(config(Provider::OpenAi, format!("{}/v1", server.base))).unwrap();
    let plan = llm_plan(&client, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap();
    assert_eq!(plan.title, "Raise api's memory limit to 48 GB");
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 1, "one call");
    let b = &bodies[0];
    assert_eq!(b["temperature"], json!(0.0));
    let rf = &b["response_format"];
    assert_eq!(rf["type"], "json_schema");
    assert_eq!(rf["json_schema"]["name"], PLAN_SCHEMA_NAME);
    assert_eq!(rf["json_schema"]["strict"], json!(true));
    let schema = &rf["json_schema"]["schema"];
    assert_eq!(schema, &plan_schema(&evidence()).schema);
    // Evidence is held to the bundle's ids; the plan matches the schema.
    assert_eq!(
        schema["properties"]["root_cause"]["properties"]["evidence"]["items"]["enum"],
        json!(["metric:memory@onset", "deploy:a17be44"])
    );
    assert_eq!(mismatch(schema, &plan_json(), "plan"), None);
    let mut bad = plan_json();
    bad["root_cause"]["evidence"] = json!(["log:99"]);
    assert!(mismatch(schema, &bad, "plan").is_some());
    // The prompt shows an example, never `a | b | c` placeholders.
    let prompt = b["messages"].to_string();
    assert!(!prompt.contains(" | "), "{prompt}");
    assert!(prompt.contains(r#"\"severity\": \"high\""#), "{prompt}");
}

#[tokio::test]
async fn a_server_refusing_json_schema_then_json_object_gets_the_prompt_alone_and_is_remembered() {
    let server = Server::start(vec![
        refusal(
            400,
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
        ),
        refusal(422, "response_format: unknown variant `json_object`"),
        openai_answer(&format!("Here is the plan:\n```json\n{}\n```", plan_json())),
        // The next incident on the same server.
        openai_answer(&plan_json().to_string()),
    ])
    .await;
    let base = format!("{}/v1", server.base);
    let client = LlmClient::new(config(Provider::OpenAi, base.clone())).unwrap();
    let plan = llm_plan(&client, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap();
    assert_eq!(plan.fix_kind, medic::model::FixKind::Config);
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 3, "{bodies:#?}");
    assert_eq!(bodies[0]["response_format"]["type"], "json_schema");
    assert_eq!(bodies[1]["response_format"], json!({"type": "json_object"}));
    assert!(
        bodies[2].get("response_format").is_none(),
        "{:#}",
        bodies[2]
    );
    let system = bodies[2]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Answer with a single JSON object"),
        "{system}"
    );
    // The run log hears about each refusal.
    let notes = client.take_notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].contains("refused json_schema (HTTP 400")
            && notes[0].contains("asking with json_object from now on"),
        "{notes:?}"
    );
    assert!(
        notes[1].contains("refused json_object (HTTP 422") && notes[1].contains("the prompt alone"),
        "{notes:?}"
    );

    // A new client (the next incident) goes straight to what the server takes.
    let next = LlmClient::new(config(Provider::OpenAi, base)).unwrap();
    llm_plan(&next, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap();
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[3].get("response_format").is_none());
    let notes = next.take_notes();
    assert!(
        notes.len() == 1 && notes[0].contains("refused json_schema earlier in this process"),
        "{notes:?}"
    );
}

#[tokio::test]
async fn an_error_that_is_not_about_the_format_is_reported_and_not_remembered() {
    let server = Server::start(vec![
        refusal(
            400,
            "This model's maximum context length is 8192 tokens, you asked for 9000",
        ),
        openai_answer(&plan_json().to_string()),
    ])
    .await;
    let base = format!("{}/v1", server.base);
    let client = LlmClient::new(config(Provider::OpenAi, base.clone())).unwrap();
    let err = llm_plan(&client, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 400") && err.contains("context length"),
        "{err}"
    );
    assert_eq!(server.bodies().len(), 1);
    assert!(client.take_notes().is_empty());
    let again = LlmClient::new(config(Provider::OpenAi, base)).unwrap();
    llm_plan(&again, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap();
    assert_eq!(server.bodies()[1]["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn a_request_without_a_schema_keeps_json_object_and_one_without_json_mode_the_prompt() {
    let server = Server::start(vec![
        openai_answer("{}"),
        openai_answer("{}"),
        openai_answer("{}"),
    ])
    .await;
    let base = format!("{}/v1", server.base);
    let req = ChatRequest {
        system: "s".into(),
        messages: vec![Message::user("u")],
        max_tokens: 10,
        json: true,
        ..Default::default()
    };
    let client = LlmClient::new(config(Provider::OpenAi, base.clone())).unwrap();
    client.chat(&req, |_| {}).await.unwrap();
    let mut cfg = config(Provider::OpenAi, base);
    cfg.json_mode = false;
    LlmClient::new(cfg.clone())
        .unwrap()
        .chat(&req, |_| {})
        .await
        .unwrap();
    // Not a JSON request: no format, no temperature unless asked.
    let plain = ChatRequest {
        json: false,
        ..req.clone()
    };
    LlmClient::new(cfg)
        .unwrap()
        .chat(&plain, |_| {})
        .await
        .unwrap();
    let b = server.bodies();
    assert_eq!(b[0]["response_format"], json!({"type": "json_object"}));
    assert!(b[1].get("response_format").is_none());
    assert!(b[2].get("response_format").is_none() && b[2].get("temperature").is_none());
}

/// Anthropic's SSE for a forced tool call whose input arrives in fragments.
fn anthropic_tool_stream(input: &str) -> String {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
               "content": [], "model": "claude-haiku-4-5", "stop_reason": null,
               "usage": {"input_tokens": 1200, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "tool_use", "id": "toolu_1", "name": PLAN_SCHEMA_NAME, "input": {}}}),
    ];
    for piece in input.as_bytes().chunks(17) {
        events.push(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": std::str::from_utf8(piece).unwrap()}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                       "usage": {"output_tokens": 310}}),
    );
    events.push(json!({"type": "message_stop"}));
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn anthropic_gets_one_forced_tool_whose_input_is_the_plan() {
    let server = Server::start(vec![(
        200,
        "text/event-stream",
        anthropic_tool_stream(&plan_json().to_string()),
    )])
    .await;
    let mut cfg = config(Provider::Anthropic, server.base.clone());
    cfg.stream = true;
    cfg.plan_temperature = 0.2;
    let client = LlmClient::new(cfg).unwrap();
    let plan = llm_plan(&client, &flag(), &judgement(), &evidence(), 6000)
        .await
        .unwrap();
    assert_eq!(plan.root_cause.evidence.len(), 2);
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(
        b["tool_choice"],
        json!({"type": "tool", "name": PLAN_SCHEMA_NAME})
    );
    let tools = b["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "one tool: the plan");
    assert_eq!(tools[0]["name"], PLAN_SCHEMA_NAME);
    assert_eq!(tools[0]["input_schema"], plan_schema(&evidence()).schema);
    assert!((b["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert!(b.get("response_format").is_none());
}
