//! The OpenAI Chat Completions wire format: request body, streamed chunks
//! (`data: {…}` … `data: [DONE]`) and the plain JSON answer.

use super::sse::SseEvent;
use super::structured::OutputMode;
use super::{
    quote, system_prompt, tool_input, ChatRequest, Decoded, LlmConfig, Part, Role, StopReason,
    StreamError, Usage,
};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The request body for `req`, asking for JSON as `mode` says.
pub(super) fn body(cfg: &LlmConfig, req: &ChatRequest, max_tokens: u32, mode: OutputMode) -> Value {
    let native_json = req.json && mode != OutputMode::PromptOnly;
    let mut messages = Vec::new();
    let system = system_prompt(req, native_json);
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        let text: String = m
            .content
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        match m.role {
            Role::Assistant => {
                let calls: Vec<Value> = m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall { id, name, input } => Some(json!({
                            "id": id,
                            "type": "function",
                            // Arguments that were not JSON go back as the model sent them.
                            "function": {"name": name, "arguments": input.as_str().map_or_else(|| input.to_string(), String::from)},
                        })),
                        _ => None,
                    })
                    .collect();
                let mut msg = json!({
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { Value::String(text) },
                });
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
            Role::User | Role::Tool => {
                // Tool results must directly follow the assistant's calls.
                for p in &m.content {
                    if let Part::ToolResult {
                        id,
                        content,
                        is_error,
                    } = p
                    {
                        let content = if *is_error {
                            format!("ERROR: {content}")
                        } else {
                            content.clone()
                        };
                        messages
                            .push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                    }
                }
                if !text.is_empty() {
                    messages.push(json!({"role": "user", "content": text}));
                }
            }
        }
    }
    let mut body = json!({
        "model": cfg.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": cfg.stream,
    });
    if cfg.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                })
            })
            .collect();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if native_json {
        body["response_format"] = match (&req.schema, mode) {
            (Some(s), OutputMode::JsonSchema) => json!({
                "type": "json_schema",
                "json_schema": {
                    "name": s.name,
                    "description": s.description,
                    "strict": true,
                    "schema": s.schema,
                },
            }),
            _ => json!({"type": "json_object"}),
        };
    }
    body
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("stop") => StopReason::EndTurn,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_string()),
        None => StopReason::Other("none".into()),
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
    })
}

/// A tool call being assembled from streamed fragments.
#[derive(Debug, Default)]
struct Call {
    id: String,
    name: String,
    args: String,
}

/// Assembles a streamed answer chunk by chunk.
#[derive(Debug, Default)]
pub(super) struct StreamDecoder {
    text: String,
    calls: Vec<Call>,
    /// The server's `index` → the call it currently designates.
    slot_of_index: HashMap<u64, usize>,
    stop: Option<String>,
    usage: Usage,
    chunks: usize,
    done: bool,
}

impl StreamDecoder {
    /// Handles one SSE event; `Ok(true)` at `data: [DONE]`.
    pub(super) fn event(
        &mut self,
        ev: &SseEvent,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, StreamError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        self.chunks += 1;
        let n = self.chunks;
        let v: Value = serde_json::from_str(data).map_err(|e| {
            StreamError::Malformed(format!("chunk {n} is not JSON ({e}): {}", quote(data)))
        })?;
        if !v.is_object() {
            return Err(StreamError::Malformed(format!(
                "chunk {n} is not a JSON object: {}",
                quote(data)
            )));
        }
        if let Some(err) = v.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), String::from);
            return Err(StreamError::Server(msg));
        }
        if let Some(u) = usage(&v) {
            self.usage = u;
        }
        let choices = match v.get("choices") {
            None | Some(Value::Null) => return Ok(false),
            Some(Value::Array(c)) => c,
            Some(_) => {
                return Err(StreamError::Malformed(format!(
                    "chunk {n}: `choices` is not a list: {}",
                    quote(data)
                )))
            }
        };
        // One answer asked for: the choice with index 0 (or the first).
        let Some(choice) = choices
            .iter()
            .find(|c| c.get("index").and_then(Value::as_u64) == Some(0))
            .or(choices.first())
        else {
            return Ok(false);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop = Some(reason.to_string());
        }
        let Some(delta) = choice.get("delta") else {
            return Ok(false);
        };
        match delta.get("content") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) => {
                if !t.is_empty() {
                    on_text(t);
                    self.text.push_str(t);
                }
            }
            Some(_) => {
                return Err(StreamError::Malformed(format!(
                    "chunk {n}: `delta.content` is not text: {}",
                    quote(data)
                )))
            }
        }
        match delta.get("tool_calls") {
            None | Some(Value::Null) => {}
            Some(Value::Array(calls)) => {
                for tc in calls {
                    self.tool_call_delta(tc);
                }
            }
            Some(_) => {
                return Err(StreamError::Malformed(format!(
                    "chunk {n}: `delta.tool_calls` is not a list: {}",
                    quote(data)
                )))
            }
        }
        Ok(false)
    }

    /// Adds one fragment. Fragments are grouped by `index`; a fresh `id`
    /// together with a function name at an index already in use opens a
    /// new call (servers that number every parallel call 0), while an `id`
    /// alone on a continuation (some servers repeat or vary it on every
    /// fragment) does not.
    fn tool_call_delta(&mut self, tc: &Value) {
        let raw = tc.get("index").and_then(Value::as_u64);
        let id = tc
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = tc.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let args = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let existing = match raw {
            Some(i) => self.slot_of_index.get(&i).copied(),
            // No index at all: a fragment without an id continues the last call.
            None if id.is_none() => self.calls.len().checked_sub(1),
            None => None,
        };
        let slot = match existing {
            Some(s) => {
                let cur = &self.calls[s];
                let another = matches!(id, Some(id) if !cur.id.is_empty() && cur.id != id)
                    && name.is_some()
                    && !cur.name.is_empty();
                if another {
                    self.new_slot(raw)
                } else {
                    s
                }
            }
            None => self.new_slot(raw),
        };
        let call = &mut self.calls[slot];
        if call.id.is_empty() {
            if let Some(id) = id {
                call.id = id.to_string();
            }
        }
        if call.name.is_empty() {
            if let Some(name) = name {
                call.name = name.to_string();
            }
        }
        call.args.push_str(args);
    }

    fn new_slot(&mut self, raw: Option<u64>) -> usize {
        self.calls.push(Call::default());
        let slot = self.calls.len() - 1;
        if let Some(i) = raw {
            self.slot_of_index.insert(i, slot);
        }
        slot
    }

    /// The answer, once the stream has ended.
    pub(super) fn finish(self) -> Result<Decoded, StreamError> {
        if !self.done && self.stop.is_none() {
            return Err(StreamError::Malformed(format!(
                "the stream ended after {} chunk(s) without `data: [DONE]` or a finish_reason",
                self.chunks
            )));
        }
        let mut parts = Vec::new();
        if !self.text.is_empty() {
            parts.push(Part::Text(self.text));
        }
        for (i, c) in self.calls.into_iter().enumerate() {
            if c.name.is_empty() {
                return Err(StreamError::Malformed(format!(
                    "tool call {} (id `{}`) never got a function name",
                    i + 1,
                    c.id
                )));
            }
            let input = tool_input(&c.args);
            let id = if c.id.is_empty() {
                format!("call_{}", i + 1)
            } else {
                c.id
            };
            parts.push(Part::ToolCall {
                id,
                name: c.name,
                input,
            });
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
    let msg = v
        .pointer("/choices/0/message")
        .ok_or_else(|| format!("the answer has no `choices[0].message`: {}", quote(&text)))?;
    let mut parts = Vec::new();
    if let Some(t) = msg.get("content").and_then(Value::as_str) {
        if !t.is_empty() {
            parts.push(Part::Text(t.to_string()));
        }
    }
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            let name = c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("tool call {} has no function name", i + 1))?;
            let args = c
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("");
            let input = tool_input(args);
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{}", i + 1), String::from);
            parts.push(Part::ToolCall {
                id,
                name: name.to_string(),
                input,
            });
        }
    }
    let reason = v
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str);
    Ok(Decoded {
        parts,
        stop_reason: stop_reason(reason),
        usage: usage(&v).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(datas: &[&str]) -> Result<Decoded, StreamError> {
        let mut d = StreamDecoder::default();
        let mut text = String::new();
        for data in datas {
            let ev = SseEvent {
                event: String::new(),
                data: data.to_string(),
            };
            if d.event(&ev, &mut |t| text.push_str(t))? {
                break;
            }
        }
        d.finish()
    }

    fn calls(d: &Decoded) -> Vec<(String, String, Value)> {
        d.parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolCall { id, name, input } => {
                    Some((id.clone(), name.clone(), input.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_fresh_id_on_every_fragment_is_still_one_call() {
        // LM Studio style: the id varies per fragment, the name comes once.
        let d = run(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ])
        .unwrap_or_else(|_| panic!("decodes"));
        assert_eq!(calls(&d), vec![("a".into(), "f".into(), json!({"x": 1}))]);
        assert_eq!(d.stop_reason, StopReason::ToolUse);
    }

    #[test]
    fn fragments_without_index_continue_the_last_call() {
        let d = run(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"c1","function":{"name":"g","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"c2","function":{"name":"h","arguments":"{}"}}]}}]}"#,
            "[DONE]",
        ])
        .unwrap_or_else(|_| panic!("decodes"));
        let names: Vec<_> = calls(&d).into_iter().map(|c| c.1).collect();
        assert_eq!(names, ["g", "h"]);
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let e = run(&[r#"{"choices":[{"delta":{"content":"hi"}}]}"#]);
        assert!(
            matches!(e, Err(StreamError::Malformed(m)) if m.contains("without `data: [DONE]`"))
        );
    }
}
