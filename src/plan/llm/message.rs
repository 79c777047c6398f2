//! The provider-neutral conversation: requests, messages, parts, answers.

use super::Cost;
use serde_json::Value;

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Tool name (`read_file`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its input object.
    pub input_schema: Value,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The operator or medic.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls, sent back to the model.
    Tool,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// The model asks for a tool to run.
    ToolCall {
        /// The provider's call id, echoed back in the result.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments (a JSON object).
        input: Value,
    },
    /// What a tool call returned.
    ToolResult {
        /// The id of the call this answers.
        id: String,
        /// Output (or error text).
        content: String,
        /// Whether the tool failed.
        is_error: bool,
    },
}

/// A conversation turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Its parts, in order.
    pub content: Vec<Part>,
}

impl Message {
    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: vec![Part::Text(text.into())],
        }
    }

    /// An assistant message holding one text part.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![Part::Text(text.into())],
        }
    }
}

/// One call to the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// System prompt (Anthropic's top-level `system`; OpenAI's first message).
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Cap on output tokens.
    pub max_tokens: u32,
    /// Ask for a single JSON object as the answer.
    pub json: bool,
    /// With `json`: the answer's JSON Schema, enforced by the server where
    /// it can (OpenAI-compatible `json_schema`, Anthropic's forced tool).
    pub schema: Option<OutputSchema>,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
}

/// The shape a JSON answer must have, named for the server.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// Name the server knows it by (`medic_plan`); also the forced tool's name.
    pub name: String,
    /// What it is, for the model.
    pub description: String,
    /// The JSON Schema (strict: every property required, nothing extra).
    pub schema: Value,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// It finished its turn.
    EndTurn,
    /// It wants tool results.
    ToolUse,
    /// It hit `max_tokens`.
    MaxTokens,
    /// It hit a stop sequence.
    StopSequence,
    /// Anything else the server said (`content_filter`, `refusal`, …).
    Other(String),
}

/// Tokens a call consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Text and tool calls, in the order the model produced them.
    pub parts: Vec<Part>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Tokens used.
    pub usage: Usage,
    /// What this call cost.
    pub cost: Cost,
    /// HTTP attempts it took (1 when nothing was retried).
    pub attempts: u32,
}

impl ChatResponse {
    /// All text parts, concatenated.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}
