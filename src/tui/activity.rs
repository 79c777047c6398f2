//! The agent pane's activity: the incident's workflow events (journaled,
//! so the list survives a restart) sorted into what an on-call engineer
//! scans for: steps, commands the agent ran, files it changed, problems,
//! and its messages. Pure: events in, entries out.

use crate::model::Millis;
use crate::workflow::engine::{EventKind, WorkflowEvent};

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// A workflow step started or finished, the approval, the end.
    Step,
    /// A command the agent ran.
    Command,
    /// A file the agent changed.
    File,
    /// A failure, a retry, an unconfined agent.
    Problem,
    /// What the agent or a step said.
    Message,
}

impl ActivityKind {
    /// The short tag shown before the entry (ASCII, fixed width).
    pub fn tag(self) -> &'static str {
        match self {
            ActivityKind::Step => "step",
            ActivityKind::Command => "ran ",
            ActivityKind::File => "file",
            ActivityKind::Problem => "FAIL",
            ActivityKind::Message => "say ",
        }
    }
}

/// One entry of the agent pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// When.
    pub at: Millis,
    /// What kind.
    pub kind: ActivityKind,
    /// What, in one line (untrusted: shown through `terminal::one_line`).
    pub text: String,
}

/// How many entries the pane keeps (the newest).
pub const KEEP: usize = 500;

/// The entry an event makes, if it is one the operator follows.
pub fn from_event(e: &WorkflowEvent) -> Option<Activity> {
    let (kind, text) = match &e.kind {
        EventKind::StepStarted { step, .. } => (ActivityKind::Step, format!("{step} started")),
        EventKind::StepFinished { step, replayed } => (
            ActivityKind::Step,
            if *replayed {
                format!("{step} done (from the journal)")
            } else {
                format!("{step} done")
            },
        ),
        EventKind::StepRetrying { step, error, .. } => (
            ActivityKind::Problem,
            format!("{step} failed, retrying: {error}"),
        ),
        EventKind::StepFailed { step, error } => {
            (ActivityKind::Problem, format!("{step} failed: {error}"))
        }
        EventKind::Approved { by } => (ActivityKind::Step, format!("plan approved by {by}")),
        EventKind::AwaitingPublish { diff_stat } => {
            (ActivityKind::Step, format!("change ready: {diff_stat}"))
        }
        EventKind::Finished { outcome } => (ActivityKind::Step, outcome.clone()),
        EventKind::Cancelled => (ActivityKind::Step, "cancelled".to_string()),
        EventKind::Log { line } => classify(line),
        _ => return None,
    };
    Some(Activity {
        at: e.at,
        kind,
        text,
    })
}

/// A log line's kind, from the shapes the agents' adapters give them
/// (`changed PATH`, `bash: CMD`, `ran CMD (exit N)`, `agent failed: …`).
fn classify(line: &str) -> (ActivityKind, String) {
    if let Some(path) = line.strip_prefix("changed ") {
        return (ActivityKind::File, path.to_string());
    }
    for prefix in ["bash: ", "ran ", "$ ", "run_command: "] {
        if let Some(cmd) = line.strip_prefix(prefix) {
            return (ActivityKind::Command, cmd.to_string());
        }
    }
    if line.starts_with("agent failed")
        || line.starts_with(crate::agent::jail::WARNING_PREFIX)
        || line.contains(" failed, retrying: ")
    {
        return (ActivityKind::Problem, line.to_string());
    }
    (ActivityKind::Message, line.to_string())
}

/// The entries of `events`, oldest first, the newest [`KEEP`].
pub fn from_events(events: &[WorkflowEvent]) -> Vec<Activity> {
    let mut all: Vec<Activity> = events.iter().filter_map(from_event).collect();
    if all.len() > KEEP {
        all.drain(..all.len() - KEEP);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(line: &str) -> WorkflowEvent {
        WorkflowEvent {
            incident: "i".into(),
            at: 0,
            kind: EventKind::Log { line: line.into() },
        }
    }

    #[test]
    fn log_lines_are_sorted_into_files_commands_problems_and_messages() {
        let kinds: Vec<ActivityKind> = [
            "changed deploy/api.yaml",
            "bash: cargo test",
            "ran git status (exit 0)",
            "agent failed: the model refused",
            "Looking at the manifest.",
        ]
        .into_iter()
        .map(|l| from_event(&log(l)).unwrap().kind)
        .collect();
        assert_eq!(
            kinds,
            [
                ActivityKind::File,
                ActivityKind::Command,
                ActivityKind::Command,
                ActivityKind::Problem,
                ActivityKind::Message
            ]
        );
        assert_eq!(
            from_event(&log("changed deploy/api.yaml")).unwrap().text,
            "deploy/api.yaml"
        );
        let many: Vec<WorkflowEvent> = (0..KEEP + 7).map(|i| log(&i.to_string())).collect();
        let kept = from_events(&many);
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept.last().unwrap().text, (KEEP + 6).to_string());
    }
}
