//! Which model to call and how: the provider (wire format), the key that
//! never prints, and the client's settings.

use super::{Price, RetryPolicy};
use std::fmt;
use std::time::Duration;

/// Which wire format a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI Chat Completions and everything compatible with it.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl Provider {
    /// Parses the `[llm] provider` config value (`openai` | `anthropic` |
    /// `ollama`, which speaks OpenAI's wire format).
    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "openai" | "ollama" => Some(Provider::OpenAi),
            "anthropic" => Some(Provider::Anthropic),
            _ => None,
        }
    }

    /// The API root a named provider answers on when the config names no
    /// `base_url`: Ollama's OpenAI-compatible endpoint on this machine, or
    /// the wire format's public API.
    pub fn default_base_url_for(name: &str) -> Option<&'static str> {
        match name {
            "ollama" => Some("http://127.0.0.1:11434/v1"),
            other => Provider::parse(other).map(Provider::default_base_url),
        }
    }

    /// The provider's public API, used when the config names no `base_url`.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        })
    }
}

/// An API key value. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read by the caller from the env var the config names.
    pub fn new(value: impl Into<String>) -> ApiKey {
        ApiKey(value.into())
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

/// How to reach one model. Build it from `[llm]`; the caller reads the key
/// from the env var the config names and passes the value.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Wire format.
    pub provider: Provider,
    /// API root, e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`
    /// (Ollama), `https://api.anthropic.com`.
    pub base_url: String,
    /// Model name as the server knows it.
    pub model: String,
    /// The key, if the server wants one (local servers usually do not).
    pub api_key: Option<ApiKey>,
    /// Ask OpenAI-compatible servers for JSON with `response_format` when a
    /// request wants JSON: `json_schema` when it carries a schema, else
    /// `json_object`, weaker on refusal (see [`structured`]). Without it the
    /// system prompt asks for JSON. Anthropic always gets a forced tool for
    /// a request with a schema.
    pub json_mode: bool,
    /// Temperature plans are asked at (`[llm] temperature`, default 0: the
    /// same evidence should give the same plan).
    pub plan_temperature: f32,
    /// Ask for a streamed answer (text shows up live). A server that answers
    /// with plain JSON anyway is understood too.
    pub stream: bool,
    /// Time to establish the connection.
    pub connect_timeout: Duration,
    /// Longest silence while reading the answer.
    pub idle_timeout: Duration,
    /// Longest a single attempt may take, answer included.
    pub request_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Overrides the built-in price table for this model.
    pub price: Option<Price>,
}

impl LlmConfig {
    /// A config with default timeouts (10 s connect, 60 s idle, 5 min per
    /// attempt), 4 attempts, streaming on, JSON mode off.
    pub fn new(
        provider: Provider,
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<ApiKey>,
    ) -> LlmConfig {
        LlmConfig {
            provider,
            base_url: base_url.into(),
            model: model.into(),
            api_key,
            json_mode: false,
            plan_temperature: 0.0,
            stream: true,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            price: None,
        }
    }
}
