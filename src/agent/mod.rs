//! Coding agents: turn an approved plan into a to-do list and changes in a
//! checkout.
//!
//! Every driver (the offline `mitigate`, the external `opencode`, `claude`
//! and `codex`, and the builtin tool loop) gets the same [`Task`] and reports
//! through the one [`AgentEvent`] type, so the TUI and the headless CLI render
//! any agent the same way. An agent works only inside the checkout it is
//! given; it never commits, pushes or opens pull requests (that is `forge/`'s
//! job, after the workflow has checked the diff).

pub mod builtin;
pub mod claude;
pub mod codex;
pub mod jail;
mod lines;
pub mod mitigate;
pub mod opencode;
mod process;
pub mod runaway;
pub mod task;

use crate::config::AgentConfig;
use crate::model::Todo;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

pub use task::Task;

/// Where a driver sends its events, in order, as they happen.
pub type EventSink<'a> = &'a mut (dyn FnMut(AgentEvent) + Send);

/// The future a [`CodingAgent`] returns.
pub type AgentFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AgentReport, AgentError>> + Send + 'a>>;

/// What a finished run leaves behind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentReport {
    /// What changed and what was left for a human (also sent as [`AgentEvent::Finished`]).
    pub summary: String,
    /// The final to-do list.
    pub todos: Vec<Todo>,
    /// One line per change made, for the pull request body.
    pub changes: Vec<String>,
}

/// A coding agent medic can drive: it gets the approved plan as a [`Task`],
/// works in the checkout, and reports to-dos, logs and changed files.
pub trait CodingAgent: Send + Sync {
    /// The agent's kind, as `[agent] kind` names it.
    fn kind(&self) -> &'static str;

    /// Carries out `task` in `checkout`, sending events to `sink` as they
    /// happen. Returns when the agent is done, failed, or ran out of time.
    fn run<'a>(
        &'a self,
        task: &'a Task,
        checkout: &'a Path,
        sink: EventSink<'a>,
    ) -> AgentFuture<'a>;
}

/// The driver `[agent]` names. `builtin` needs the `[llm]` client as well:
/// the workflow builds it with [`builtin::Builtin`].
pub fn for_config(config: &AgentConfig) -> Result<Box<dyn CodingAgent>, AgentError> {
    match config.kind.as_str() {
        "mitigate" => Ok(Box::new(Mitigate {
            limits: config.mitigate.clone(),
        })),
        "opencode" => Ok(Box::new(opencode::OpenCode::from_config(config))),
        "claude" => Ok(Box::new(claude::Claude::from_config(config))),
        "codex" => Ok(Box::new(codex::Codex::from_config(config))),
        other => Err(AgentError::NotWired {
            kind: other.to_string(),
        }),
    }
}

/// The offline [`mitigate`] agent behind the common interface, with
/// `[agent.mitigate]`'s limits (the task names the incident's service).
#[derive(Debug, Clone, Default)]
pub struct Mitigate {
    /// How far a mitigation may go.
    pub limits: crate::config::MitigateConfig,
}

impl CodingAgent for Mitigate {
    fn kind(&self) -> &'static str {
        "mitigate"
    }

    fn run<'a>(
        &'a self,
        task: &'a Task,
        checkout: &'a Path,
        sink: EventSink<'a>,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            let bounds = mitigate::Bounds::for_services(task.service.clone(), &self.limits);
            let report = mitigate::run(&task.plan, checkout, &bounds, &mut *sink)?;
            Ok(AgentReport {
                summary: report.summary,
                todos: report.todos,
                changes: report
                    .changes
                    .iter()
                    .map(|c| {
                        format!(
                            "`{}`: {} {} → {} ({})",
                            c.file, c.field, c.before, c.after, c.service
                        )
                    })
                    .collect(),
            })
        })
    }
}

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
    /// The agent's command could not be started.
    #[error("could not start `{command}`: {source} (is it installed and on PATH? set [agent] command to its path)")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The agent's process died or reported failure.
    #[error("`{command}` failed: {reason}{}", stderr_tail(.stderr))]
    Died {
        /// The command line.
        command: String,
        /// What went wrong (exit status, the agent's own error message).
        reason: String,
        /// Its last stderr lines, redacted.
        stderr: Vec<String>,
    },
    /// The agent printed something that is not its event stream.
    #[error("`{command}` printed something that is not its JSON event stream: {line:?}{}", stderr_tail(.stderr))]
    Garbled {
        /// The command line.
        command: String,
        /// The offending line (truncated, redacted).
        line: String,
        /// Its last stderr lines, redacted.
        stderr: Vec<String>,
    },
    /// The agent stopped before it was done (step cap, spent budget, a failed model call).
    #[error("the agent gave up: {reason}")]
    GaveUp {
        /// Why, in words the operator can act on.
        reason: String,
    },
    /// The loop detector stopped it ([`runaway`]): identical repeated tool
    /// calls, or no progress for too long.
    #[error(transparent)]
    Looping(#[from] runaway::Looping),
    /// The agent cannot be started inside its sandbox (bubblewrap missing).
    #[error(transparent)]
    Sandbox(#[from] jail::JailError),
    /// `[agent] kind` names an agent this build cannot drive yet.
    #[error("agent.kind = \"{kind}\" is not wired to the workflow yet; use \"mitigate\", \"builtin\", \"opencode\", \"claude\" or \"codex\"")]
    NotWired {
        /// The kind.
        kind: String,
    },
}

fn stderr_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        "; it wrote nothing on stderr".into()
    } else {
        format!("; last stderr lines:\n  {}", lines.join("\n  "))
    }
}
