//! The LLM clients against a local server speaking both wire formats.
//!
//! The server (axum on 127.0.0.1) plays a script of replies, one per request:
//! JSON answers, SSE streams cut into arbitrary byte chunks, error statuses
//! with `Retry-After`, slow answers. It records every request so the tests
//! assert on what the real client sent: path, headers, model, tools, system
//! prompt placement. Shapes follow the OpenAI Chat Completions and Anthropic
//! Messages API references.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use futures_util::StreamExt;
use medic::plan::llm::{
    ApiKey, Budget, ChatRequest, LlmClient, LlmConfig, LlmError, Message, Part, Provider,
    RetryPolicy, Role, StopReason, ToolSpec,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "test-key-EXAMPLE-0123";

enum Payload {
    Json(Value),
    /// SSE text, sent in chunks of this many bytes (cutting lines and
    /// characters wherever they fall).
    Sse(String, usize),
    Text(String),
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    payload: Payload,
    delay: Duration,
}

fn ok_json(v: Value) -> Reply {
    Reply {
        status: 200,
        headers: vec![],
        payload: Payload::Json(v),
        delay: Duration::ZERO,
    }
}

fn sse(text: impl Into<String>, chunk: usize) -> Reply {
    Reply {
        status: 200,
        headers: vec![],
        payload: Payload::Sse(text.into(), chunk),
        delay: Duration::ZERO,
    }
}

fn status(code: u16, body: Value) -> Reply {
    Reply {
        status: code,
        headers: vec![],
        payload: Payload::Json(body),
        delay: Duration::ZERO,
    }
}

/// What the server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    received: Vec<Received>,
}

struct Server {
    base: String,
    script: Arc<Mutex<Script>>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            received: vec![],
        }));
        let state = script.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { answer(state, uri, headers, body).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base, script }
    }

    fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }
}

async fn answer(state: Arc<Mutex<Script>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        s.replies.pop_front()
    };
    let Some(reply) = reply else {
        return Response::builder()
            .status(StatusCode::GONE)
            .body(Body::from("script exhausted"))
            .unwrap();
    };
    tokio::time::sleep(reply.delay).await;
    let mut b = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(*k, v);
    }
    match reply.payload {
        Payload::Json(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        Payload::Text(t) => b.header("content-type", "text/plain").body(Body::from(t)),
        Payload::Sse(text, size) => {
            let chunks: Vec<Bytes> = text
                .into_bytes()
                .chunks(size.max(1))
                .map(Bytes::copy_from_slice)
                .collect();
            let stream = futures_util::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, std::io::Error>(c)
            });
            b.header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
        }
    }
    .unwrap()
}

fn config(provider: Provider, server: &Server, model: &str) -> LlmConfig {
    let base = match provider {
        Provider::OpenAi => format!("{}/v1", server.base),
        Provider::Anthropic => server.base.clone(),
    };
    let mut c = LlmConfig::new(provider, base, model, Some(ApiKey::new(KEY)));
    c.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    };
    c.request_timeout = Duration::from_secs(10);
    c
}

fn tool() -> ToolSpec {
    ToolSpec {
        name: "read_logs".into(),
        description: "Read a service's recent log lines".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"service": {"type": "string"}, "lines": {"type": "integer"}},
            "required": ["service"],
        }),
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        system: "You are medic's planner.".into(),
        messages: vec![Message::user("api is leaking memory")],
        tools: vec![tool()],
        max_tokens: 1000,
        ..Default::default()
    }
}

/// SSE text from `data:` payloads (OpenAI style).
fn openai_stream(chunks: &[Value]) -> String {
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    s.push_str("data: [DONE]\n\n");
    s
}

fn delta(d: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
           "choices": [{"index": 0, "delta": d, "finish_reason": null}]})
}

fn finish(reason: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
           "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn usage_chunk(i: u64, o: u64) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
           "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}})
}

fn arg_fragment(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut tc = json!({"index": index, "function": {"arguments": args}});
    if let Some(id) = id {
        tc["id"] = json!(id);
        tc["type"] = json!("function");
    }
    if let Some(name) = name {
        tc["function"]["name"] = json!(name);
    }
    delta(json!({"tool_calls": [tc]}))
}

fn tool_calls(parts: &[Part]) -> Vec<(String, String, Value)> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { id, name, input } => Some((id.clone(), name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn openai_stream_with_a_tool_call_split_mid_token() {
    let args = r#"{"service": "api", "lines": 20}"#;
    let mut chunks = vec![
        delta(json!({"role": "assistant", "content": ""})),
        delta(json!({"content": "Checking the "})),
        delta(json!({"content": "logs."})),
        arg_fragment(0, Some("call_1"), Some("read_logs"), ""),
    ];
    // The arguments in 3-byte fragments: keys, strings and numbers cut.
    for piece in args.as_bytes().chunks(3) {
        chunks.push(arg_fragment(
            0,
            None,
            None,
            std::str::from_utf8(piece).unwrap(),
        ));
    }
    chunks.push(finish("tool_calls"));
    chunks.push(usage_chunk(120, 30));
    // And the byte stream itself in 7-byte chunks.
    let server = Server::start(vec![sse(openai_stream(&chunks), 7)]).await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o-mini")).unwrap();
    let mut live = String::new();
    let resp = client.chat(&request(), |t| live.push_str(t)).await.unwrap();

    assert_eq!(live, "Checking the logs.");
    assert_eq!(resp.text(), "Checking the logs.");
    assert_eq!(
        tool_calls(&resp.parts),
        vec![(
            "call_1".into(),
            "read_logs".into(),
            json!({"service": "api", "lines": 20})
        )]
    );
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
    assert_eq!(
        (resp.usage.input_tokens, resp.usage.output_tokens),
        (120, 30)
    );
    assert!(resp.cost.priced && resp.cost.usd > 0.0, "{}", resp.cost);
    assert_eq!(resp.attempts, 1);

    let got = server.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(header(r, "authorization"), Some(&*format!("Bearer {KEY}")));
    assert_eq!(header(r, "x-api-key"), None);
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(r.body["max_tokens"], 1000);
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "system", "content": "You are medic's planner."},
            {"role": "user", "content": "api is leaking memory"},
        ])
    );
    assert_eq!(
        r.body["tools"],
        json!([{"type": "function", "function": {
            "name": "read_logs",
            "description": "Read a service's recent log lines",
            "parameters": tool().input_schema,
        }}])
    );
    assert!(r.body.get("response_format").is_none());
}

#[tokio::test]
async fn openai_parallel_calls_reusing_index_zero() {
    // Ollama-style: every call is index 0, told apart only by its id.
    let chunks = vec![
        arg_fragment(0, Some("call_a"), Some("read_logs"), r#"{"serv"#),
        arg_fragment(0, None, None, r#"ice": "api"}"#),
        arg_fragment(0, Some("call_b"), Some("read_logs"), r#"{"service""#),
        arg_fragment(0, None, None, r#": "checkout", "lines": 5}"#),
        // And a proper second index after them.
        arg_fragment(1, Some("call_c"), Some("deploys"), "{}"),
        finish("tool_calls"),
    ];
    let server = Server::start(vec![sse(openai_stream(&chunks), 64)]).await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "llama3.1:8b")).unwrap();
    let resp = client.chat(&request(), |_| {}).await.unwrap();
    assert_eq!(
        tool_calls(&resp.parts),
        vec![
            (
                "call_a".into(),
                "read_logs".into(),
                json!({"service": "api"})
            ),
            (
                "call_b".into(),
                "read_logs".into(),
                json!({"service": "checkout", "lines": 5})
            ),
            ("call_c".into(), "deploys".into(), json!({})),
        ]
    );
    // A local model has no price: zero, and it says so.
    assert!(!resp.cost.priced);
    assert_eq!(resp.cost.to_string(), "unknown price");
}

#[tokio::test]
async fn openai_plain_json_answer_and_json_mode() {
    let answer = json!({
        "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "{\"title\": \"raise the limit\"}"}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
    });
    // One server without streaming asked, one ignoring `stream: true`.
    let server = Server::start(vec![ok_json(answer.clone()), ok_json(answer)]).await;
    let mut cfg = config(Provider::OpenAi, &server, "gpt-4o");
    cfg.stream = false;
    cfg.json_mode = true;
    let mut req = request();
    req.json = true;
    req.tools.clear();
    let mut live = String::new();
    let resp = LlmClient::new(cfg.clone())
        .unwrap()
        .chat(&req, |t| live.push_str(t))
        .await
        .unwrap();
    assert_eq!(resp.text(), r#"{"title": "raise the limit"}"#);
    assert_eq!(live, resp.text());
    assert_eq!(resp.stop_reason, StopReason::EndTurn);
    assert_eq!(resp.usage.total(), 59);

    cfg.stream = true;
    cfg.json_mode = false;
    let again = LlmClient::new(cfg)
        .unwrap()
        .chat(&req, |_| {})
        .await
        .unwrap();
    assert_eq!(again.text(), resp.text());

    let got = server.received();
    assert_eq!(got[0].body["stream"], false);
    assert!(got[0].body.get("stream_options").is_none());
    assert!(got[0].body.get("tools").is_none());
    assert_eq!(
        got[0].body["response_format"],
        json!({"type": "json_object"})
    );
    // Without JSON mode the system prompt asks for JSON instead.
    assert!(got[1].body.get("response_format").is_none());
    let system = got[1].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("You are medic's planner.") && system.contains("JSON"),
        "{system}"
    );
}

#[tokio::test]
async fn openai_tool_results_follow_the_calls() {
    let server = Server::start(vec![sse(
        openai_stream(&[delta(json!({"content": "ok"})), finish("stop")]),
        50,
    )])
    .await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    let mut req = request();
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![Part::ToolCall {
            id: "call_1".into(),
            name: "read_logs".into(),
            input: json!({"service": "api"}),
        }],
    });
    req.messages.push(Message {
        role: Role::Tool,
        content: vec![Part::ToolResult {
            id: "call_1".into(),
            content: "OOMKilled".into(),
            is_error: false,
        }],
    });
    client.chat(&req, |_| {}).await.unwrap();
    let body = &server.received()[0].body;
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "read_logs", "arguments": "{\"service\":\"api\"}"}}]})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "OOMKilled"})
    );
}

#[tokio::test]
async fn a_malformed_chunk_is_a_clear_error() {
    let text = format!(
        "data: {}\n\ndata: {{\"choices\": [{{\"delta\": {{\"content\": \"x\"}}\n\ndata: [DONE]\n\n",
        delta(json!({"content": "fine so far"}))
    );
    let server = Server::start(vec![sse(text, 5)]).await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    let mut live = String::new();
    let err = client
        .chat(&request(), |t| live.push_str(t))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LlmError::Protocol { .. }), "{msg}");
    assert!(
        msg.contains("openai: malformed answer from http://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("/v1/chat/completions") && msg.contains("chunk 2 is not JSON"),
        "{msg}"
    );
    assert!(
        msg.contains(r#"{"choices": [{"delta""#),
        "quotes the chunk: {msg}"
    );
    assert_eq!(live, "fine so far");

    // Tool arguments that never become JSON, and a stream cut short.
    let bad_args = openai_stream(&[
        arg_fragment(0, Some("c"), Some("read_logs"), r#"{"service": "#),
        finish("tool_calls"),
    ]);
    let cut = format!("data: {}\n\n", delta(json!({"content": "half"})));
    let server = Server::start(vec![sse(bad_args, 9), sse(cut, 9)]).await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    // Broken arguments are the caller's to answer (an error tool result),
    // not a failed answer: they arrive as the text the model sent.
    let resp = client.chat(&request(), |_| {}).await.unwrap();
    let call = resp
        .parts
        .iter()
        .find_map(|p| match p {
            Part::ToolCall { name, input, .. } => Some((name, input)),
            _ => None,
        })
        .expect("the call survives");
    assert_eq!(call.0, "read_logs");
    assert_eq!(call.1, &json!(r#"{"service": "#));
    let e = client
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("without `data: [DONE]`"), "{e}");
}

#[tokio::test]
async fn a_429_with_retry_after_then_success() {
    let mut limited = status(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
    );
    limited.headers.push(("retry-after", "1".into()));
    let server = Server::start(vec![
        limited,
        sse(
            openai_stream(&[delta(json!({"content": "done"})), finish("stop")]),
            16,
        ),
    ])
    .await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    let t0 = Instant::now();
    let resp = client.chat(&request(), |_| {}).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        t0.elapsed()
    );
    assert_eq!(resp.attempts, 2);
    assert_eq!(resp.text(), "done");
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "the retry sends the same request");
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_stops_at_once() {
    let mut limited = status(503, json!({"error": {"message": "maintenance"}}));
    limited.headers.push(("retry-after", "3600".into()));
    let server = Server::start(vec![limited]).await;
    let client = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    let e = client
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 503 after 1 attempt(s): maintenance"),
        "{e}"
    );
    assert!(
        e.contains("asked to retry after 3600s, beyond the 5s cap"),
        "{e}"
    );
}

#[tokio::test]
async fn a_500_storm_exhausts_the_retries() {
    let mut storm: Vec<Reply> = (0..3)
        .map(|_| status(500, json!({"error": {"message": "upstream exploded"}})))
        .collect();
    // A proxy in front may answer in plain text: that is what the server said.
    storm.push(Reply {
        status: 500,
        headers: vec![],
        payload: Payload::Text("upstream exploded\n".into()),
        delay: Duration::ZERO,
    });
    let server = Server::start(storm).await;
    let client = LlmClient::new(config(
        Provider::Anthropic,
        &server,
        "claude-sonnet-4-20250514",
    ))
    .unwrap();
    let err = client.chat(&request(), |_| {}).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            LlmError::Http {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.starts_with("anthropic: POST http://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("/v1/messages answered HTTP 500 after 4 attempt(s): upstream exploded"),
        "{msg}"
    );
    assert!(!msg.contains(KEY));
    assert_eq!(server.received().len(), 4);
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_the_key_is_scrubbed() {
    let server = Server::start(vec![status(
        401,
        json!({"type": "error", "error": {"type": "authentication_error",
               "message": format!("invalid x-api-key {KEY}")}}),
    )])
    .await;
    let client = LlmClient::new(config(
        Provider::Anthropic,
        &server,
        "claude-sonnet-4-20250514",
    ))
    .unwrap();
    let msg = client
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("HTTP 401 after 1 attempt(s): invalid x-api-key <api key>"),
        "{msg}"
    );
    assert!(!msg.contains(KEY), "{msg}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn unreachable_and_slow_servers_fail_clearly() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = LlmConfig::new(
        Provider::OpenAi,
        format!("http://127.0.0.1:{port}/v1"),
        "m",
        None,
    );
    cfg.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
    };
    let msg = LlmClient::new(cfg)
        .unwrap()
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("failed after 2 attempt(s): could not connect"),
        "{msg}"
    );

    let mut slow = ok_json(json!({}));
    slow.delay = Duration::from_secs(3);
    let server = Server::start(vec![slow]).await;
    let mut cfg = config(Provider::OpenAi, &server, "m");
    cfg.request_timeout = Duration::from_millis(300);
    cfg.retry.max_attempts = 1;
    let msg = LlmClient::new(cfg)
        .unwrap()
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("failed after 1 attempt(s): timed out"),
        "{msg}"
    );
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn anthropic_stream(tool_json: &[&str]) -> String {
    let mut s = String::new();
    s += &event(
        "message_start",
        json!({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-20250514", "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 410, "output_tokens": 1}}}),
    );
    s += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}}),
    );
    s += &event("ping", json!({"type": "ping"}));
    for t in ["Reading ", "the logs ", "first."] {
        s += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": t}}),
        );
    }
    s += &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    s += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "read_logs", "input": {}}}),
    );
    for piece in tool_json {
        s += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": piece}}),
        );
    }
    s += &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    );
    s += &event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 57}}),
    );
    s += &event("message_stop", json!({"type": "message_stop"}));
    s
}

#[tokio::test]
async fn anthropic_stream_with_text_and_tool_use() {
    let pieces = ["", "{\"serv", "ice\": \"a", "pi\", \"li", "nes\": 4", "0}"];
    let server = Server::start(vec![sse(anthropic_stream(&pieces), 11)]).await;
    let client = LlmClient::new(config(
        Provider::Anthropic,
        &server,
        "claude-sonnet-4-20250514",
    ))
    .unwrap();
    let mut req = request();
    // A previous round: the model's tool call and its (failed) result.
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            Part::Text("Let me look.".into()),
            Part::ToolCall {
                id: "toolu_00".into(),
                name: "read_logs".into(),
                input: json!({"service": "api"}),
            },
        ],
    });
    req.messages.push(Message {
        role: Role::Tool,
        content: vec![Part::ToolResult {
            id: "toolu_00".into(),
            content: "loki unreachable".into(),
            is_error: true,
        }],
    });
    let mut live = Vec::new();
    let resp = client
        .chat(&req, |t| live.push(t.to_string()))
        .await
        .unwrap();

    assert_eq!(live, ["Reading ", "the logs ", "first."]);
    assert_eq!(
        resp.parts,
        vec![
            Part::Text("Reading the logs first.".into()),
            Part::ToolCall {
                id: "toolu_01".into(),
                name: "read_logs".into(),
                input: json!({"service": "api", "lines": 40}),
            },
        ]
    );
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
    assert_eq!(
        (resp.usage.input_tokens, resp.usage.output_tokens),
        (410, 57)
    );
    // claude-sonnet-4: $3 in, $15 out per million tokens.
    assert!((resp.cost.usd - (410.0 * 3.0 + 57.0 * 15.0) / 1e6).abs() < 1e-12);

    let r = &server.received()[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(header(r, "x-api-key"), Some(KEY));
    assert_eq!(header(r, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(r, "authorization"), None);
    assert_eq!(r.body["model"], "claude-sonnet-4-20250514");
    assert_eq!(r.body["system"], "You are medic's planner.");
    assert_eq!(r.body["stream"], true);
    assert_eq!(
        r.body["tools"],
        json!([{"name": "read_logs", "description": "Read a service's recent log lines",
                "input_schema": tool().input_schema}])
    );
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "api is leaking memory"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_00", "name": "read_logs", "input": {"service": "api"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_00", "content": "loki unreachable", "is_error": true}]},
        ])
    );
    assert!(
        r.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "system"),
        "the system prompt is top-level, not a message"
    );
}

#[tokio::test]
async fn anthropic_plain_json_answer() {
    let server = Server::start(vec![ok_json(json!({
        "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Scale web to 6 replicas."}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 300, "output_tokens": 12},
    }))])
    .await;
    let mut cfg = config(Provider::Anthropic, &server, "claude-3-5-haiku-20241022");
    cfg.stream = false;
    let mut req = request();
    req.json = true;
    let resp = LlmClient::new(cfg)
        .unwrap()
        .chat(&req, |_| {})
        .await
        .unwrap();
    assert_eq!(resp.text(), "Scale web to 6 replicas.");
    assert_eq!(resp.stop_reason, StopReason::EndTurn);
    assert_eq!(resp.usage.total(), 312);
    let body = &server.received()[0].body;
    assert_eq!(body["stream"], false);
    let system = body["system"].as_str().unwrap();
    assert!(system.contains("JSON"), "{system}");
}

#[tokio::test]
async fn anthropic_errors_in_and_out_of_the_stream() {
    let overloaded = event(
        "message_start",
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 0}}}),
    ) + &event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let orphan = event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 3,
        "delta": {"type": "text_delta", "text": "x"}}),
    );
    let broken = event("message_start", json!({"type": "message_start", "message": {}}))
        + "event: content_block_start\ndata: {\"type\": \"content_block_start\", \"index\": 0, \"content_bl\n\n";
    let full = anthropic_stream(&["{}"]);
    let cut = full[..full.find("event: message_stop").unwrap()].to_string();
    let bad_json = anthropic_stream(&["{\"service\": "]);
    let server = Server::start(vec![
        sse(overloaded, 13),
        sse(orphan, 13),
        sse(broken, 13),
        sse(cut, 13),
        sse(bad_json, 13),
    ])
    .await;
    let client = LlmClient::new(config(
        Provider::Anthropic,
        &server,
        "claude-sonnet-4-20250514",
    ))
    .unwrap();
    let mut errs = Vec::new();
    for _ in 0..4 {
        errs.push(client.chat(&request(), |_| {}).await.unwrap_err());
    }
    // Broken tool arguments are not a failed answer: the call arrives with
    // the text the model sent, for the caller to answer with an error result.
    let resp = client.chat(&request(), |_| {}).await.unwrap();
    assert!(
        resp.parts
            .iter()
            .any(|p| matches!(p, Part::ToolCall { name, input, .. }
            if name == "read_logs" && input == &json!("{\"service\": "))),
        "{:?}",
        resp.parts
    );
    let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(matches!(errs[0], LlmError::Server { .. }), "{}", msgs[0]);
    assert!(
        msgs[0].contains("reported an error mid-answer: overloaded_error: Overloaded"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("delta for block 3, which never started"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].contains("event 2 (content_block_start): not JSON"),
        "{}",
        msgs[2]
    );
    assert!(msgs[3].contains("without `message_stop`"), "{}", msgs[3]);
    for (e, m) in errs.iter().zip(&msgs) {
        assert!(m.starts_with("anthropic: "), "{m}");
        assert!(!matches!(e, LlmError::Http { .. }), "{m}");
    }
}

#[tokio::test]
async fn the_budget_stops_the_run() {
    let answer = |i: u64, o: u64| {
        sse(
            openai_stream(&[
                delta(json!({"content": "step"})),
                finish("stop"),
                usage_chunk(i, o),
            ]),
            32,
        )
    };
    let server = Server::start(vec![answer(80, 40), answer(1, 1)]).await;
    let base = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o")).unwrap();
    let budget = Budget::new(Some(100), None);
    let incident = base.with_budget(budget.clone());
    incident.chat(&request(), |_| {}).await.unwrap();
    let err = incident.chat(&request(), |_| {}).await.unwrap_err();
    assert!(matches!(err, LlmError::BudgetExceeded { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("120 tokens") && msg.contains("limit 100 tokens"),
        "{msg}"
    );
    let got = server.received();
    assert_eq!(got.len(), 1, "no request once the budget is spent");
    // Output capped at what the prompt (about 4 characters a token) leaves.
    let cap = got[0].body["max_tokens"].as_u64().unwrap();
    assert!((30..100).contains(&cap), "{cap}");
    assert_eq!(budget.spent().calls, 1);
    // Another incident starts with a fresh budget on the same client.
    let other = base.with_budget(Budget::new(Some(100), None));
    other.chat(&request(), |_| {}).await.unwrap();

    // A dollar budget: gpt-4o at $2.50/$10 per million tokens.
    let server = Server::start(vec![answer(100_000, 10_000)]).await;
    let dollars = LlmClient::new(config(Provider::OpenAi, &server, "gpt-4o"))
        .unwrap()
        .with_budget(Budget::new(None, Some(0.25)));
    let r = dollars.chat(&request(), |_| {}).await.unwrap();
    assert!((r.cost.usd - 0.35).abs() < 1e-9, "{}", r.cost);
    let msg = dollars
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("$0.3500") && msg.contains("limit $0.25"),
        "{msg}"
    );
}
