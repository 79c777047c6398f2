//! LLM clients: the two wire formats medic speaks, behind one
//! provider-neutral API.
//!
//! - OpenAI Chat Completions (`POST {base_url}/chat/completions`, bearer
//!   key): OpenAI itself and, by `base_url`, Ollama, vLLM, llama.cpp server,
//!   LM Studio, OpenRouter.
//! - Anthropic Messages (`POST {base_url}/v1/messages`, `x-api-key`,
//!   `anthropic-version: 2023-06-01`).
//!
//! Both are hand-written over reqwest rather than taken from a crate: the
//! two request shapes and two event streams fit in a few hundred lines and
//! have been stable for years, whereas the SDK crates each cover one
//! provider, pull in large dependency trees and lag the quirks medic needs
//! (servers that reuse tool-call index 0 for parallel calls, servers that
//! ignore `stream`). Owning the code also lets us guarantee what is never
//! logged: the API key is held in [`ApiKey`], whose `Debug` prints nothing,
//! never appears in errors (errors name the provider and URL, and the key is
//! scrubbed from anything the server echoes back).
//!
//! Every call streams when the config says so (text deltas go to the
//! caller's `on_text` as they arrive) and falls back to a plain JSON answer
//! when the server sends one. Failures retry on 429, 5xx, timeouts and
//! connection errors, honouring `Retry-After`, with capped exponential
//! backoff and jitter. Usage is priced per call and charged to a per-incident
//! [`Budget`]; a spent budget stops the run with [`LlmError::BudgetExceeded`].
//!
//! Callers redact (`triage::redact`) before building a [`ChatRequest`]: this
//! module sends what it is given.

mod anthropic;
mod cost;
mod error;
mod message;
mod openai;
mod retry;
mod settings;
pub mod sse;
pub mod structured;

pub use cost::{price_for, Budget, Cost, Price, Spent};
pub use error::LlmError;
pub use message::{
    ChatRequest, ChatResponse, Message, OutputSchema, Part, Role, StopReason, ToolSpec, Usage,
};
pub use retry::RetryPolicy;
pub use settings::{ApiKey, LlmConfig, Provider};

use futures_util::StreamExt;
use retry::{backoff, retry_after};
use serde_json::Value;
use structured::OutputMode;

/// A client for one model, speaking its provider's wire format.
#[derive(Debug, Clone)]
pub enum LlmClient {
    /// OpenAI Chat Completions.
    OpenAi(Endpoint),
    /// Anthropic Messages.
    Anthropic(Endpoint),
}

/// How much of an error answer is read for its message.
const ERROR_BODY_BYTES: usize = 64 << 10;

/// The HTTP side shared by both formats: connection pool, config, budget.
#[derive(Debug, Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    config: LlmConfig,
    budget: Budget,
    /// What the run log should hear about this client's calls (a server
    /// refusing a response format); shared by the client's clones.
    notes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A decoded answer before it is priced.
struct Decoded {
    parts: Vec<Part>,
    stop_reason: StopReason,
    usage: Usage,
}

impl LlmClient {
    /// Builds a client with an unlimited budget (see [`LlmClient::with_budget`]).
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.idle_timeout)
            .timeout(config.request_timeout)
            // The API key goes to the configured origin only.
            .redirect(crate::sources::http::same_origin_redirects())
            .build()
            .map_err(|e| LlmError::Transport {
                provider: config.provider,
                url: config.base_url.clone(),
                attempts: 0,
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let endpoint = Endpoint {
            http,
            config,
            budget: Budget::unlimited(),
            notes: Default::default(),
        };
        Ok(match endpoint.config.provider {
            Provider::OpenAi => LlmClient::OpenAi(endpoint),
            Provider::Anthropic => LlmClient::Anthropic(endpoint),
        })
    }

    /// The same client (same connections) charging calls to `budget`:
    /// make one per incident.
    pub fn with_budget(&self, budget: Budget) -> LlmClient {
        let mut c = self.clone();
        match &mut c {
            LlmClient::OpenAi(e) | LlmClient::Anthropic(e) => e.budget = budget,
        }
        c
    }

    fn endpoint(&self) -> &Endpoint {
        match self {
            LlmClient::OpenAi(e) | LlmClient::Anthropic(e) => e,
        }
    }

    /// The config this client was built from.
    pub fn config(&self) -> &LlmConfig {
        &self.endpoint().config
    }

    /// The budget calls are charged to.
    pub fn budget(&self) -> &Budget {
        &self.endpoint().budget
    }

    /// Takes what the run log should say about the calls so far (a server
    /// that refused `json_schema`, the format used instead).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .endpoint()
                .notes
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn note(&self, line: String) {
        self.endpoint()
            .notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// How a JSON answer to `req` is first asked of this server.
    fn first_mode(&self, req: &ChatRequest, url: &str) -> OutputMode {
        let cfg = self.config();
        if !req.json || !cfg.json_mode || !matches!(self, LlmClient::OpenAi(_)) {
            return OutputMode::PromptOnly;
        }
        let wanted = if req.schema.is_some() {
            OutputMode::JsonSchema
        } else {
            OutputMode::JsonObject
        };
        match structured::remembered(url) {
            Some(m)
                if m != wanted
                    && (wanted == OutputMode::JsonSchema || m == OutputMode::PromptOnly) =>
            {
                self.note(format!(
                    "{url} refused {} earlier in this process: asking with {}",
                    wanted.word(),
                    m.word()
                ));
                m
            }
            _ => wanted,
        }
    }

    /// The URL calls go to.
    pub fn url(&self) -> String {
        let base = self.config().base_url.trim_end_matches('/');
        match self {
            LlmClient::OpenAi(_) => format!("{base}/chat/completions"),
            LlmClient::Anthropic(_) => {
                format!("{}/v1/messages", base.trim_end_matches("/v1"))
            }
        }
    }

    /// Sends `req` and returns the model's answer; text is forwarded to
    /// `on_text` as it streams in. Refused without a request when the
    /// budget is spent; the call's usage is charged to it.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        mut on_text: impl FnMut(&str) + Send,
    ) -> Result<ChatResponse, LlmError> {
        let ep = self.endpoint();
        let max_tokens = ep.budget.admit(req.max_tokens, prompt_tokens(req))?;
        let cfg = &ep.config;
        let url = self.url();
        let mut mode = self.first_mode(req, &url);
        let (resp, attempts) = loop {
            let body = match self {
                LlmClient::OpenAi(_) => openai::body(cfg, req, max_tokens, mode),
                LlmClient::Anthropic(_) => anthropic::body(cfg, req, max_tokens),
            };
            match self.send(&url, &body).await {
                Err(LlmError::Http {
                    status, message, ..
                }) if mode != OutputMode::PromptOnly
                    && structured::is_refusal(status, &message) =>
                {
                    let weaker = mode.weaker();
                    structured::remember(&url, weaker);
                    self.note(format!(
                        "{url} refused {} (HTTP {status}: {}); asking with {} from now on \
                         (remembered for this process)",
                        mode.word(),
                        truncate(&message, 200),
                        weaker.word()
                    ));
                    mode = weaker;
                }
                other => break other?,
            }
        };
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut decoded = if is_sse {
            self.read_stream(&url, attempts, resp, &mut on_text).await?
        } else {
            let bytes =
                crate::sources::http::read_capped(resp, crate::sources::http::max_body_bytes())
                    .await
                    .map_err(|e| self.protocol(&url, e.to_string()))?;
            let decoded = match self {
                LlmClient::OpenAi(_) => openai::decode_whole(&bytes),
                LlmClient::Anthropic(_) => anthropic::decode_whole(&bytes),
            }
            .map_err(|m| self.protocol(&url, m))?;
            for p in &decoded.parts {
                if let Part::Text(t) = p {
                    on_text(t);
                }
            }
            decoded
        };
        if let (LlmClient::Anthropic(_), Some(schema)) = (self, &req.schema) {
            // The forced tool's input is the answer.
            anthropic::tool_input_as_text(&mut decoded.parts, &schema.name);
        }
        let cost = match cfg.price.or_else(|| price_for(&cfg.model)) {
            Some(p) => Cost {
                usd: (decoded.usage.input_tokens as f64 * p.input_per_mtok
                    + decoded.usage.output_tokens as f64 * p.output_per_mtok)
                    / 1e6,
                priced: true,
            },
            None => Cost {
                usd: 0.0,
                priced: false,
            },
        };
        ep.budget.charge(decoded.usage, cost);
        Ok(ChatResponse {
            parts: decoded.parts,
            stop_reason: decoded.stop_reason,
            usage: decoded.usage,
            cost,
            attempts,
        })
    }

    /// POSTs with retries; returns the first 2xx response and the attempts
    /// it took.
    async fn send(&self, url: &str, body: &Value) -> Result<(reqwest::Response, u32), LlmError> {
        let ep = self.endpoint();
        let policy = &ep.config.retry;
        let max_attempts = policy.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Written so that schemas keep their fields' order (see `structured`).
            let mut rb = ep
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(structured::to_text(body));
            if let Some(key) = &ep.config.api_key {
                rb = match self {
                    LlmClient::OpenAi(_) => rb.bearer_auth(key.expose()),
                    LlmClient::Anthropic(_) => rb.header("x-api-key", key.expose()),
                };
            }
            if let LlmClient::Anthropic(_) = self {
                rb = rb.header("anthropic-version", "2023-06-01");
            }
            let failure = match rb.send().await {
                Ok(resp) if resp.status().is_success() => return Ok((resp, attempt)),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = retry_after(resp.headers());
                    // An error body is read for its message only: its start is enough.
                    let start = crate::sources::http::read_start(resp, ERROR_BODY_BYTES).await;
                    let message = self.server_message(String::from_utf8_lossy(&start).into_owned());
                    let err = LlmError::Http {
                        provider: ep.config.provider,
                        url: url.to_string(),
                        status,
                        attempts: attempt,
                        message,
                    };
                    if !(status == 429 || status >= 500) {
                        return Err(err);
                    }
                    (err, retry_after)
                }
                Err(e) => (self.transport(url, attempt, &e), None),
            };
            let (err, retry_after) = failure;
            if attempt >= max_attempts {
                return Err(err);
            }
            let delay = match retry_after {
                Some(d) if d > policy.max_delay => {
                    return Err(with_note(
                        err,
                        &format!(
                            "the server asked to retry after {}s, beyond the {}s cap",
                            d.as_secs(),
                            policy.max_delay.as_secs()
                        ),
                    ))
                }
                Some(d) => d,
                None => backoff(policy, attempt),
            };
            tokio::time::sleep(delay).await;
        }
    }

    async fn read_stream(
        &self,
        url: &str,
        attempts: u32,
        resp: reqwest::Response,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Decoded, LlmError> {
        let mut parser = sse::SseParser::default();
        let mut decoder = match self {
            LlmClient::OpenAi(_) => StreamDecoder::OpenAi(openai::StreamDecoder::default()),
            LlmClient::Anthropic(_) => {
                StreamDecoder::Anthropic(anthropic::StreamDecoder::default())
            }
        };
        let cap = crate::sources::http::max_body_bytes();
        let mut seen = 0u64;
        let mut body = resp.bytes_stream();
        let mut done = false;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.transport(url, attempts, &e))?;
            seen += chunk.len() as u64;
            if seen > cap {
                return Err(self.protocol(
                    url,
                    format!(
                        "the answer stream is larger than {cap} bytes; medic stopped reading it \
                         (raise [http] max_body_bytes if this model really answers that much)"
                    ),
                ));
            }
            let events = parser.feed(&chunk).map_err(|m| self.protocol(url, m))?;
            for ev in events {
                done = decoder
                    .event(&ev, on_text)
                    .map_err(|e| self.stream_error(url, e))?;
                if done {
                    break;
                }
            }
            if done {
                break;
            }
        }
        if !done {
            if let Some(ev) = parser.finish().map_err(|m| self.protocol(url, m))? {
                decoder
                    .event(&ev, on_text)
                    .map_err(|e| self.stream_error(url, e))?;
            }
        }
        decoder.finish().map_err(|e| self.stream_error(url, e))
    }

    fn transport(&self, url: &str, attempts: u32, e: &reqwest::Error) -> LlmError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        // reqwest's Display carries the URL (ours, key-free) and the cause.
        let mut message = format!("{what}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        LlmError::Transport {
            provider: self.config().provider,
            url: url.to_string(),
            attempts,
            message: self.scrub(message),
        }
    }

    fn protocol(&self, url: &str, message: String) -> LlmError {
        LlmError::Protocol {
            provider: self.config().provider,
            url: url.to_string(),
            message: self.scrub(message),
        }
    }

    fn stream_error(&self, url: &str, e: StreamError) -> LlmError {
        match e {
            StreamError::Malformed(m) => self.protocol(url, m),
            StreamError::Server(m) => LlmError::Server {
                provider: self.config().provider,
                url: url.to_string(),
                message: self.scrub(m),
            },
        }
    }

    /// What the server said: its JSON error message when there is one,
    /// otherwise the start of the body.
    fn server_message(&self, body: String) -> String {
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        let msg = parsed
            .as_ref()
            .and_then(|v| {
                let e = v.get("error")?;
                e.get("message")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or_else(|| e.as_str().map(String::from))
            })
            .unwrap_or_else(|| body.trim().to_string());
        let msg = if msg.is_empty() {
            "(empty body)".to_string()
        } else {
            msg
        };
        self.scrub(truncate(&msg, 500))
    }

    /// Servers sometimes echo the key back ("invalid key sk-…"): never
    /// let it into an error.
    fn scrub(&self, text: String) -> String {
        match &self.config().api_key {
            Some(k) if !k.expose().is_empty() => text.replace(k.expose(), "<api key>"),
            _ => text,
        }
    }
}

/// Errors a stream decoder reports.
enum StreamError {
    /// The data broke the wire format.
    Malformed(String),
    /// The server sent an error event.
    Server(String),
}

enum StreamDecoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
}

impl StreamDecoder {
    /// Handles one event; `Ok(true)` when the stream is complete.
    fn event(
        &mut self,
        ev: &sse::SseEvent,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, StreamError> {
        match self {
            StreamDecoder::OpenAi(d) => d.event(ev, on_text),
            StreamDecoder::Anthropic(d) => d.event(ev, on_text),
        }
    }

    fn finish(self) -> Result<Decoded, StreamError> {
        match self {
            StreamDecoder::OpenAi(d) => d.finish(),
            StreamDecoder::Anthropic(d) => d.finish(),
        }
    }
}

fn with_note(err: LlmError, note: &str) -> LlmError {
    match err {
        LlmError::Http {
            provider,
            url,
            status,
            attempts,
            message,
        } => LlmError::Http {
            provider,
            url,
            status,
            attempts,
            message: format!("{message} ({note})"),
        },
        other => other,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Quotes a piece of a malformed chunk in an error, shortened.
fn quote(data: &str) -> String {
    format!("`{}`", truncate(data, 200))
}

/// Parses a tool call's accumulated argument text; empty means `{}`.
/// Text that is not JSON comes back as a JSON string holding it, so the
/// caller can answer the model with an error result instead of failing the
/// whole answer (models do send broken arguments now and then).
fn tool_input(args: &str) -> Value {
    if args.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
}

/// About how many tokens `req`'s prompt is (4 characters a token; no
/// tokenizer): what the budget checks a call against before it is sent.
fn prompt_tokens(req: &ChatRequest) -> u64 {
    let mut chars = req.system.len();
    for m in &req.messages {
        for p in &m.content {
            chars += match p {
                Part::Text(t) => t.len(),
                Part::ToolCall { name, input, .. } => name.len() + input.to_string().len(),
                Part::ToolResult { content, .. } => content.len(),
            };
        }
    }
    for t in &req.tools {
        chars += t.name.len() + t.description.len() + t.input_schema.to_string().len();
    }
    (chars / 4) as u64
}

/// The instruction added to the system prompt when JSON is wanted and the
/// server has no JSON mode.
const JSON_INSTRUCTION: &str = "Answer with a single JSON object and nothing else.";

fn system_prompt(req: &ChatRequest, native_json: bool) -> String {
    if req.json && !native_json {
        if req.system.is_empty() {
            JSON_INSTRUCTION.to_string()
        } else {
            format!("{}\n\n{JSON_INSTRUCTION}", req.system)
        }
    } else {
        req.system.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug() {
        let cfg = LlmConfig::new(
            Provider::OpenAi,
            "http://127.0.0.1:1/v1",
            "m",
            Some(ApiKey::new("sk-EXAMPLE-do-not-print")),
        );
        let client = LlmClient::new(cfg.clone()).unwrap();
        for text in [format!("{cfg:?}"), format!("{client:?}")] {
            assert!(!text.contains("do-not-print"), "{text}");
        }
    }
}
