//! How a JSON answer is asked of an OpenAI-compatible server, and what to do
//! when the server refuses: `json_schema` (OpenAI, llama.cpp's server, vLLM,
//! Ollama hold the answer to the schema), then `json_object`, then the
//! prompt alone. A refusal is remembered per server for the life of the
//! process, so each later call goes straight to what the server accepts.

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

#[cfg(test)]
mod tests {
    use super::*;

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
