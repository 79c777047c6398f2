//! Coding agents: turn an approved plan into a to-do list and changes in a
//! checkout.
//!
//! Every driver (the offline `mitigate`, and later builtin, opencode, claude,
//! codex) reports through the one [`AgentEvent`] type, so the TUI and the
//! headless CLI render any agent the same way. An agent works only inside the
//! checkout it is given; it never commits, pushes or opens pull requests
//! (that is `forge/`'s job, after the workflow has checked the diff).

pub mod builtin;
pub mod mitigate;

use crate::model::Todo;

/// What an agent reports while it works, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The whole to-do list, replacing the previous one.
    Todos(Vec<Todo>),
    /// A line for the operator (what it is doing, what it could not do).
    Log(String),
    /// A file in the checkout was written (path relative to the checkout, `/`-separated).
    FileChanged(String),
    /// The agent is done; the summary says what changed (before → after).
    Finished {
        /// What changed and what was left for a human.
        summary: String,
    },
    /// The agent stopped without finishing.
    Failed {
        /// What went wrong, in words the operator can act on.
        error: String,
    },
}

/// Why an agent could not do its work at all (as opposed to a to-do it could not finish).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The checkout directory is missing or unreadable.
    #[error("checkout {path}: {source}")]
    Checkout {
        /// The checkout.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a file in the checkout failed.
    #[error("{path}: {source}")]
    Io {
        /// The file, relative to the checkout.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path would lead outside the checkout (a `..` or a symlink out).
    #[error("{path}: refused, it leads outside the checkout")]
    Escape {
        /// The offending path, relative to the checkout.
        path: String,
    },
    /// The agent ran past its wall-clock limit.
    #[error("the agent ran past its time limit of {seconds}s")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
}
