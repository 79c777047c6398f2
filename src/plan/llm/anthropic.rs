//! The Anthropic Messages wire format: request body, streamed events
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`,
//! `ping`, `error`) and the plain JSON answer.

use super::sse::SseEvent;
use super::{
    quote, system_prompt, tool_input, ChatRequest, Decoded, LlmConfig, Part, Role, StopReason,
    StreamError, Usage,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The request body for `req`. The system prompt is the top-level `system`;
/// tool results travel in user turns; consecutive turns of one role merge
/// (the API wants them alternating).
pub(super) fn body(cfg: &LlmConfig, req: &ChatRequest, max_tokens: u32) -> Value {
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::Assistant => "assistant",
            Role::User | Role::Tool => "user",
        };
        let blocks: Vec<Value> = m
            .content
            .iter()
            .map(|p| match p {
                Part::Text(t) => json!({"type": "text", "text": t}),
                Part::ToolCall { id, name, input } => {
                    // A call whose arguments were not JSON goes back as `{}`
                    // (the API wants an object); its error result says why.
                    json!({"type": "tool_use", "id": id, "name": name,
                           "input": if input.is_object() { input.clone() } else { json!({}) }})
                }
                Part::ToolResult {
                    id,
                    content,
                    is_error,
                } => {
                    let mut b =
                        json!({"type": "tool_result", "tool_use_id": id, "content": content});
                    if *is_error {
                        b["is_error"] = Value::Bool(true);
                    }
                    b
                }
            })
            .collect();
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": cfg.model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": cfg.stream,
    });
    // A JSON answer with a schema comes as the input of one forced tool.
    let forced = req.schema.as_ref().filter(|_| req.json);
    let system = system_prompt(req, forced.is_some());
    if !system.is_empty() {
        body["system"] = Value::String(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
        .collect();
    if let Some(s) = forced {
        tools.push(json!({"name": s.name, "description": s.description, "input_schema": s.schema}));
        body["tool_choice"] = json!({"type": "tool", "name": s.name});
    }
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    body
}

/// The answer to a request with a forced tool: that tool's input, as the
/// JSON text the caller parses (any prose around it dropped). Parts stay as
/// they are when the model did not call it.
pub(super) fn tool_input_as_text(parts: &mut Vec<Part>, tool: &str) {
    let input = parts.iter().find_map(|p| match p {
        Part::ToolCall { name, input, .. } if name == tool => Some(input.clone()),
        _ => None,
    });
    if let Some(input) = input {
        let text = match input {
            Value::String(raw) => raw,
            v => v.to_string(),
        };
        *parts = vec![Part::Text(text)];
    }
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some(other) => StopReason::Other(other.to_string()),
        None => StopReason::Other("none".into()),
    }
}

fn error_message(v: &Value) -> String {
    let e = v.get("error").unwrap_or(v);
    match (
        e.get("type").and_then(Value::as_str),
        e.get("message").and_then(Value::as_str),
    ) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_string(),
        _ => e.to_string(),
    }
}

#[derive(Debug)]
enum Block {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
        start_input: Value,
    },
    /// Thinking and other block types medic does not use.
    Other,
}

/// Assembles a streamed answer event by event.
#[derive(Debug, Default)]
pub(super) struct StreamDecoder {
    blocks: BTreeMap<u64, Block>,
    stop: Option<String>,
    usage: Usage,
    events: usize,
    done: bool,
}

impl StreamDecoder {
    /// Handles one SSE event; `Ok(true)` at `message_stop`.
    pub(super) fn event(
        &mut self,
        ev: &SseEvent,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, StreamError> {
        self.events += 1;
        let n = self.events;
        let data = ev.data.trim();
        let bad = |what: &str| {
            StreamError::Malformed(format!("event {n} ({}): {what}: {}", ev.event, quote(data)))
        };
        let v: Value = serde_json::from_str(data).map_err(|e| bad(&format!("not JSON ({e})")))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(ev.event.as_str());
        let index = || {
            v.get("index")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("no `index`"))
        };
        match kind {
            "message_start" => {
                let u = v.pointer("/message/usage");
                let n = |k: &str| {
                    u.and_then(|u| u.get(k))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                self.usage = Usage {
                    input_tokens: n("input_tokens"),
                    output_tokens: n("output_tokens"),
                };
            }
            "content_block_start" => {
                let i = index()?;
                let b = v
                    .get("content_block")
                    .ok_or_else(|| bad("no `content_block`"))?;
                let block = match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                        if !t.is_empty() {
                            on_text(t);
                        }
                        Block::Text(t.to_string())
                    }
                    Some("tool_use") => Block::Tool {
                        id: b
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        name: b
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("tool_use block without a name"))?
                            .to_string(),
                        json: String::new(),
                        start_input: b.get("input").cloned().unwrap_or(Value::Null),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(i, block);
            }
            "content_block_delta" => {
                let i = index()?;
                let delta = v.get("delta").ok_or_else(|| bad("no `delta`"))?;
                let block = self
                    .blocks
                    .get_mut(&i)
                    .ok_or_else(|| bad(&format!("delta for block {i}, which never started")))?;
                let str_field = |k: &str| {
                    delta
                        .get(k)
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(&format!("delta without `{k}`")))
                };
                match (delta.get("type").and_then(Value::as_str), block) {
                    (Some("text_delta"), Block::Text(t)) => {
                        let s = str_field("text")?;
                        on_text(s);
                        t.push_str(s);
                    }
                    (Some("input_json_delta"), Block::Tool { json, .. }) => {
                        json.push_str(str_field("partial_json")?);
                    }
                    (Some("text_delta" | "input_json_delta"), _) => {
                        return Err(bad("delta type does not match its block"));
                    }
                    _ => {} // thinking_delta, signature_delta, citations_delta
                }
            }
            "content_block_stop" | "ping" => {}
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(r.to_string());
                }
                // Usage here is cumulative.
                if let Some(o) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.usage.output_tokens = o;
                }
                if let Some(i) = v.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    self.usage.input_tokens = i;
                }
            }
            "message_stop" => {
                self.done = true;
                return Ok(true);
            }
            "error" => return Err(StreamError::Server(error_message(&v))),
            _ => {} // new event types are to be ignored, says the API's versioning policy
        }
        Ok(false)
    }

    /// The answer, once the stream has ended.
    pub(super) fn finish(self) -> Result<Decoded, StreamError> {
        if !self.done {
            return Err(StreamError::Malformed(format!(
                "the stream ended after {} event(s) without `message_stop`",
                self.events
            )));
        }
        let mut parts = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(t) if !t.is_empty() => parts.push(Part::Text(t)),
                Block::Tool {
                    id,
                    name,
                    json,
                    start_input,
                } => {
                    let input = if json.trim().is_empty() && start_input.is_object() {
                        start_input
                    } else {
                        tool_input(&json)
                    };
                    parts.push(Part::ToolCall { id, name, input });
                }
                _ => {}
            }
        }
        Ok(Decoded {
            parts,
            stop_reason: stop_reason(self.stop.as_deref()),
            usage: self.usage,
        })
    }
}

/// Decodes a non-streamed answer.
pub(super) fn decode_whole(bytes: &[u8]) -> Result<Decoded, String> {
    let text = String::from_utf8_lossy(bytes);
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", quote(&text)))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(format!(
            "the server answered an error: {}",
            error_message(&v)
        ));
    }
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the answer has no `content` list: {}", quote(&text)))?;
    let mut parts = Vec::new();
    for b in content {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                if !t.is_empty() {
                    parts.push(Part::Text(t.to_string()));
                }
            }
            Some("tool_use") => parts.push(Part::ToolCall {
                id: b
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a tool_use block has no name")?
                    .to_string(),
                input: b.get("input").cloned().unwrap_or(json!({})),
            }),
            _ => {}
        }
    }
    let n = |k: &str| {
        v.pointer(&format!("/usage/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Decoded {
        parts,
        stop_reason: stop_reason(v.get("stop_reason").and_then(Value::as_str)),
        usage: Usage {
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::llm::{Message, Provider};

    #[test]
    fn turns_of_one_role_merge_and_results_ride_in_user_turns() {
        let cfg = LlmConfig::new(Provider::Anthropic, "http://x", "m", None);
        let req = ChatRequest {
            system: "sys".into(),
            messages: vec![
                Message::user("a"),
                Message::user("b"),
                Message {
                    role: Role::Assistant,
                    content: vec![Part::ToolCall {
                        id: "t1".into(),
                        name: "f".into(),
                        input: json!({}),
                    }],
                },
                Message {
                    role: Role::Tool,
                    content: vec![Part::ToolResult {
                        id: "t1".into(),
                        content: "boom".into(),
                        is_error: true,
                    }],
                },
            ],
            max_tokens: 10,
            ..Default::default()
        };
        let b = body(&cfg, &req, 10);
        let roles: Vec<_> = b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(b["messages"][0]["content"].as_array().unwrap().len(), 2);
        assert_eq!(b["messages"][2]["content"][0]["is_error"], json!(true));
        assert_eq!(b["system"], json!("sys"));
    }
}
