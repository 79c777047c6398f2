//! What an LLM call can fail with, naming the provider and URL, never the key.

use super::Provider;

/// What went wrong, naming the provider and URL (never the key).
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server answered with an error status (after retries, if it was
    /// a retryable one).
    #[error(
        "{provider}: POST {url} answered HTTP {status} after {attempts} attempt(s): {message}"
    )]
    Http {
        /// Provider.
        provider: Provider,
        /// Endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// What the server said.
        message: String,
    },
    /// Could not connect, or the connection broke or timed out.
    #[error("{provider}: POST {url} failed after {attempts} attempt(s): {message}")]
    Transport {
        /// Provider.
        provider: Provider,
        /// Endpoint.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened (timeout, connection refused, …).
        message: String,
    },
    /// The answer did not follow the wire format (a malformed chunk, a
    /// stream cut short).
    #[error("{provider}: malformed answer from {url}: {message}")]
    Protocol {
        /// Provider.
        provider: Provider,
        /// Endpoint.
        url: String,
        /// What was wrong, quoting the offending data.
        message: String,
    },
    /// The server reported an error inside a successful stream.
    #[error("{provider}: {url} reported an error mid-answer: {message}")]
    Server {
        /// Provider.
        provider: Provider,
        /// Endpoint.
        url: String,
        /// What the server said.
        message: String,
    },
    /// The incident's budget is spent; no further calls are made.
    #[error(
        "LLM budget for this incident is spent: {spent}, limit {limit}; raise it or finish by hand"
    )]
    BudgetExceeded {
        /// What has been spent.
        spent: String,
        /// The limit that was hit.
        limit: String,
    },
}
