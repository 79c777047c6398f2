//! A scripted OpenAI-compatible model on 127.0.0.1 (Chat Completions
//! streaming, shapes from the API reference): one scripted answer per
//! request, in order, for end-to-end runs of the builtin agent.

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Serves `replies` (SSE bodies) in order; past them, HTTP 410. The base URL.
pub async fn serve(replies: Vec<String>) -> String {
    let script = Arc::new(Mutex::new(VecDeque::from(replies)));
    let app = axum::Router::new().fallback(move |_body: Bytes| {
        let script = script.clone();
        async move {
            match script.lock().unwrap().pop_front() {
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
    base
}

/// A stream calling tool `name` with `args`.
pub fn call(id: &str, name: &str, args: Value) -> String {
    let start = json!({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}]}}]});
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20}});
    format!("data: {start}\n\ndata: {fin}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

/// A stream answering `text`.
pub fn text(text: &str) -> String {
    let d = json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]});
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 100, "completion_tokens": 10}});
    format!("data: {d}\n\ndata: {fin}\n\ndata: [DONE]\n\n")
}
