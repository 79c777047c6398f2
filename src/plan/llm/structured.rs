//! How a JSON answer is asked of an OpenAI-compatible server, and what to do
//! when the server refuses: `json_schema` (OpenAI, llama.cpp's server, vLLM,
//! Ollama hold the answer to the schema), then `json_object`, then the
//! prompt alone. A refusal is remembered per server for the life of the
//! process, so each later call goes straight to what the server accepts.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// How the answer's JSON is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// `response_format: {"type": "json_schema", …}` with the request's schema.
    JsonSchema,
    /// `response_format: {"type": "json_object"}`.
    JsonObject,
    /// No `response_format`: the system prompt asks for JSON.
    PromptOnly,
}

impl OutputMode {
    /// The next, weaker way to ask, when the server refused this one.
    pub fn weaker(self) -> OutputMode {
        match self {
            OutputMode::JsonSchema => OutputMode::JsonObject,
            OutputMode::JsonObject | OutputMode::PromptOnly => OutputMode::PromptOnly,
        }
    }

    /// How the run log names it.
    pub fn word(self) -> &'static str {
        match self {
            OutputMode::JsonSchema => "json_schema",
            OutputMode::JsonObject => "json_object",
            OutputMode::PromptOnly => "the prompt alone",
        }
    }
}

/// Servers' answers so far: chat URL → the strongest mode it accepted or
/// has not refused.
fn memory() -> &'static Mutex<HashMap<String, OutputMode>> {
    static MEMORY: OnceLock<Mutex<HashMap<String, OutputMode>>> = OnceLock::new();
    MEMORY.get_or_init(Default::default)
}

/// What this process learnt about `url`, if it refused something before.
pub fn remembered(url: &str) -> Option<OutputMode> {
    memory()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(url)
        .copied()
}

/// Records that `url` is to be asked with `mode` from now on.
pub fn remember(url: &str, mode: OutputMode) {
    memory()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(url.to_string(), mode);
}

/// Whether an error answer to a request carrying `response_format` is the
/// server refusing that format (rather than, say, a prompt too long): a
/// client-error status whose message is about the format. Anything else is
/// reported as it is, and nothing is remembered.
pub fn is_refusal(status: u16, message: &str) -> bool {
    if !matches!(status, 400 | 415 | 422 | 500 | 501) {
        return false;
    }
    let m = message.to_ascii_lowercase();
    [
        "response_format",
        "response format",
        "json_schema",
        "json schema",
        "json_object",
        "schema",
        "grammar",
        "structured",
        "guided",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// `body` as JSON text, with every schema's `properties` in the order of
/// its `required` list (the type's field order). serde_json's map sorts
/// keys, and servers that turn a schema into a grammar (llama.cpp) make the
/// model write fields in the order the schema lists them: alphabetical
/// order had a small model write `alternatives` first and `title` last.
pub fn to_text(body: &Value) -> String {
    let mut out = String::new();
    write(body, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let order: Vec<&str> = match (m.get("properties"), m.get("required")) {
                (Some(Value::Object(_)), Some(Value::Array(r))) => {
                    r.iter().filter_map(Value::as_str).collect()
                }
                _ => Vec::new(),
            };
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                match v {
                    Value::Object(props) if k == "properties" && !order.is_empty() => {
                        let mut keys: Vec<&String> = props.keys().collect();
                        keys.sort_by_key(|k| {
                            order.iter().position(|o| o == k).unwrap_or(usize::MAX)
                        });
                        out.push('{');
                        for (j, key) in keys.into_iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            out.push_str(&Value::String(key.clone()).to_string());
                            out.push(':');
                            write(&props[key], out);
                        }
                        out.push('}');
                    }
                    _ => write(v, out),
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_keep_their_field_order_and_the_text_is_the_same_json() {
        let body = serde_json::json!({
            "model": "m",
            "schema": {"type": "object", "required": ["title", "summary", "alternatives"],
                       "properties": {"alternatives": {"type": "array"}, "summary": {"type": "string"},
                                      "title": {"type": "string", "description": "a \"quoted\" line"}}},
        });
        let text = to_text(&body);
        let (t, s, a) = (
            text.find("\"title\":{").unwrap(),
            text.find("\"summary\":{").unwrap(),
            text.find("\"alternatives\":{").unwrap(),
        );
        assert!(t < s && s < a, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), body);
    }

    #[test]
    fn refusals_are_about_the_format_only() {
        assert!(is_refusal(
            400,
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
        ));
        assert!(is_refusal(
            500,
            "JSON schema conversion failed: unsupported keyword"
        ));
        assert!(!is_refusal(
            400,
            "This model's maximum context length is 8192 tokens"
        ));
        assert!(!is_refusal(401, "invalid response_format key"));
        assert!(!is_refusal(429, "rate limited"));
    }

    #[test]
    fn the_chain_ends_at_the_prompt() {
        let mut m = OutputMode::JsonSchema;
        let mut seen = vec![m];
        while m != OutputMode::PromptOnly {
            m = m.weaker();
            seen.push(m);
        }
        assert_eq!(
            seen,
            [
                OutputMode::JsonSchema,
                OutputMode::JsonObject,
                OutputMode::PromptOnly
            ]
        );
    }
}
