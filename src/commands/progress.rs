//! The headless progress lines of a workflow run (`medic fix`, `medic
//! resume`): one row per event, the agent's to-do items when its list
//! changes, in Unicode or, with `--ascii`, in ASCII only.
//!
//! Every row is built here and printed through `crate::terminal`; text from
//! the agent or the model is shown with `terminal::one_line`, indented under
//! its event so it can never pass for an event row of its own.

use crate::model::{Todo, TodoStatus};
use crate::terminal;
use crate::units;
use crate::workflow::engine::{Engine, EventKind, WorkflowEvent};
use std::io::Write;

/// The marks progress rows and the incident list use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Glyphs {
    /// A step started.
    pub started: &'static str,
    /// A step finished.
    pub done: &'static str,
    /// A step failed and is retried.
    pub retrying: &'static str,
    /// A step failed and waits for the operator.
    pub failed: &'static str,
    /// Something waits for the operator.
    pub waiting: &'static str,
    /// How the run ended.
    pub outcome: &'static str,
    /// A step not run yet (the incident list).
    pub pending: &'static str,
    /// The continuation of a multi-line log.
    pub continued: &'static str,
    /// A to-do not started.
    pub todo: &'static str,
    /// A to-do being worked on.
    pub todo_doing: &'static str,
    /// A to-do done.
    pub todo_done: &'static str,
    /// A to-do that failed.
    pub todo_failed: &'static str,
    /// A to-do dropped.
    pub todo_dropped: &'static str,
}

/// The Unicode marks (the default).
pub const UNICODE: Glyphs = Glyphs {
    started: "▶",
    done: "✔",
    retrying: "↻",
    failed: "✖",
    waiting: "▲",
    outcome: "■",
    pending: "·",
    continued: "│",
    todo: "☐",
    todo_doing: "▶",
    todo_done: "✔",
    todo_failed: "✖",
    todo_dropped: "–",
};

/// The ASCII marks (`--ascii`).
pub const ASCII: Glyphs = Glyphs {
    started: ">",
    done: "+",
    retrying: "~",
    failed: "!",
    waiting: "?",
    outcome: "#",
    pending: ".",
    continued: "|",
    todo: "[ ]",
    todo_doing: "[>]",
    todo_done: "[x]",
    todo_failed: "[!]",
    todo_dropped: "[-]",
};

impl Glyphs {
    /// [`ASCII`] when `ascii`, else [`UNICODE`].
    pub fn pick(ascii: bool) -> Glyphs {
        if ascii {
            ASCII
        } else {
            UNICODE
        }
    }

    /// The mark of a to-do's status.
    pub fn todo(&self, status: TodoStatus) -> &'static str {
        match status {
            TodoStatus::Pending => self.todo,
            TodoStatus::InProgress => self.todo_doing,
            TodoStatus::Completed => self.todo_done,
            TodoStatus::Failed => self.todo_failed,
            TodoStatus::Cancelled => self.todo_dropped,
        }
    }
}

/// One event as a progress line, in Unicode.
pub fn event_line(e: &WorkflowEvent) -> String {
    event_line_in(e, &UNICODE)
}

/// One event as a progress line with `g`'s marks (a log may hold newlines;
/// [`event_rows`] turns those into continuation rows).
pub fn event_line_in(e: &WorkflowEvent, g: &Glyphs) -> String {
    let what = match &e.kind {
        EventKind::StepStarted { step, attempt } if *attempt > 1 => {
            format!("{} {step} (attempt {attempt})", g.started)
        }
        EventKind::StepStarted { step, .. } => format!("{} {step}", g.started),
        EventKind::StepFinished {
            step,
            replayed: true,
        } => format!("{} {step} (already done)", g.done),
        EventKind::StepFinished { step, .. } => format!("{} {step}", g.done),
        EventKind::StepRetrying {
            step,
            attempt,
            delay_ms,
            error,
        } => {
            format!(
                "{} {step} failed (attempt {attempt}), retrying in {}: {error}",
                g.retrying,
                units::duration(*delay_ms as i64)
            )
        }
        EventKind::StepFailed { step, error } => {
            format!("{} {step} failed; needs attention: {error}", g.failed)
        }
        EventKind::AwaitingApproval => format!("{} the plan waits for approval", g.waiting),
        EventKind::AwaitingPublish { diff_stat } => {
            format!(
                "{} the change ({diff_stat}) waits for your go to push",
                g.waiting
            )
        }
        EventKind::HeldBack { held } => {
            let mut out = format!(
                "{} {} path(s) held back by the change policy; nothing is pushed until you confirm them (--confirm-held):",
                g.waiting,
                held.len()
            );
            // Paths come from the agent: one row each, control characters escaped.
            for h in held {
                out.push_str(&format!(
                    "\n      {}: {}",
                    terminal::one_line(&h.path),
                    terminal::one_line(&h.why)
                ));
            }
            out
        }
        EventKind::Approved { by } => format!("{} plan approved by {by}", g.done),
        EventKind::Todos { todos } => {
            let done = todos
                .iter()
                .filter(|t| t.status == TodoStatus::Completed)
                .count();
            format!("{} to-do list: {done}/{} done", g.todo, todos.len())
        }
        // A multi-line log (the agent's summary) goes on as continuation
        // rows (see `event_rows`), never as rows of their own.
        EventKind::Log { line } => format!("  {line}"),
        EventKind::Finished { outcome } => format!("{} {outcome}", g.outcome),
        EventKind::Cancelled => format!("{} cancelled", g.outcome),
    };
    format!(
        "{} {}  {what}",
        units::clock(e.at),
        terminal::one_line(&e.incident)
    )
}

/// One event as the rows printed for it, in Unicode.
pub fn event_rows(e: &WorkflowEvent) -> Vec<String> {
    event_rows_in(e, &UNICODE)
}

/// One event as the rows printed for it, each without control characters:
/// its first line, then any further lines (a log holding newlines)
/// indented under a continuation mark, so none can pass for an event of its own.
pub fn event_rows_in(e: &WorkflowEvent, g: &Glyphs) -> Vec<String> {
    let line = event_line_in(e, g);
    let mut lines = line.split('\n');
    let first = terminal::one_line(lines.next().unwrap_or_default()).into_owned();
    std::iter::once(first)
        .chain(lines.map(|l| format!("{:6}{} {}", "", g.continued, terminal::one_line(l))))
        .collect()
}

/// The rows of a run's events, remembering the last to-do list shown so a
/// new list prints the items that are new or changed, one row each.
#[derive(Debug, Clone)]
pub struct Progress {
    glyphs: Glyphs,
    /// The to-do list as last printed, per incident.
    shown: Vec<(String, Vec<Todo>)>,
}

impl Progress {
    /// Progress rows with `glyphs`.
    pub fn new(glyphs: Glyphs) -> Progress {
        Progress {
            glyphs,
            shown: Vec::new(),
        }
    }

    /// The rows for `e`: an unchanged to-do list prints nothing; a changed
    /// one prints its count, then each item that is new or moved.
    pub fn rows(&mut self, e: &WorkflowEvent) -> Vec<String> {
        let EventKind::Todos { todos } = &e.kind else {
            return event_rows_in(e, &self.glyphs);
        };
        let before = match self.shown.iter_mut().find(|(id, _)| *id == e.incident) {
            Some((_, list)) => list,
            None => {
                self.shown.push((e.incident.clone(), Vec::new()));
                &mut self.shown.last_mut().expect("just pushed").1
            }
        };
        if before == todos {
            return Vec::new();
        }
        let mut rows = event_rows_in(e, &self.glyphs);
        for t in todos {
            let old = before.iter().find(|b| b.id == t.id);
            if old.is_some_and(|b| b.status == t.status && b.content == t.content) {
                continue;
            }
            rows.push(format!(
                "{:6}{} {}",
                "",
                self.glyphs.todo(t.status),
                terminal::one_line(&t.content)
            ));
        }
        *before = todos.clone();
        rows
    }
}

/// Print `e`'s rows and flush (an error means standard output is gone).
fn print_event(progress: &mut Progress, e: &WorkflowEvent) -> std::io::Result<()> {
    let mut out = terminal::stdout();
    for row in progress.rows(e) {
        out.row(format_args!("{row}"))?;
    }
    out.flush()
}

/// Print the engine's events until the sender goes away.
/// Prints events as they come; once `done` fires, prints what is still
/// queued (the outcome line among it) and stops. Standard output closed
/// under it (`medic fix api | head`) stops the printing, never the run.
pub fn print_events(
    engine: &Engine,
    glyphs: Glyphs,
    mut done: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let mut rx = engine.subscribe();
    let mut progress = Progress::new(glyphs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                e = crate::workflow::engine::next_event(&mut rx) => match e {
                    Some(e) => { let _ = print_event(&mut progress, &e); }
                    None => return,
                },
                _ = &mut done => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(e) => {
                    let _ = print_event(&mut progress, &e);
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    let _ = terminal::stdout().row(format_args!(
                        "{n} event line(s) skipped here (this view fell behind); the journal keeps them all"
                    ));
                }
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todos(items: &[(&str, &str, TodoStatus)]) -> WorkflowEvent {
        WorkflowEvent {
            at: 0,
            incident: "inc".into(),
            kind: EventKind::Todos {
                todos: items
                    .iter()
                    .map(|(id, content, status)| Todo {
                        id: id.to_string(),
                        content: content.to_string(),
                        status: *status,
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn a_log_with_newlines_cannot_forge_an_event_row() {
        let e = WorkflowEvent {
            at: 0,
            incident: "inc\n00:00 other".into(),
            kind: EventKind::Log {
                line: "Changed:\n00:00 20261204-api  \u{1b}]0;t\u{7}✔ pr".into(),
            },
        };
        let rows = event_rows(&e);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows[0].starts_with("00:00 inc\\n00:00 other    Changed:"),
            "{rows:?}"
        );
        assert_eq!(rows[1], "      │ 00:00 20261204-api  \\x1b]0;t\\x07✔ pr");
    }

    #[test]
    fn the_items_print_when_the_list_changes_and_only_then() {
        use TodoStatus::*;
        let mut p = Progress::new(UNICODE);
        let first = p.rows(&todos(&[
            ("1", "write the probe file", Pending),
            ("2", "run the tests", Pending),
        ]));
        assert_eq!(
            first[1..],
            ["      ☐ write the probe file", "      ☐ run the tests"],
            "{first:?}"
        );
        assert!(first[0].ends_with("☐ to-do list: 0/2 done"), "{first:?}");
        // The same list again: nothing new to say.
        assert!(p
            .rows(&todos(&[
                ("1", "write the probe file", Pending),
                ("2", "run the tests", Pending),
            ]))
            .is_empty());
        let next = p.rows(&todos(&[
            ("1", "write the probe file", Completed),
            ("2", "run the tests", Pending),
        ]));
        assert_eq!(next[1..], ["      ✔ write the probe file"], "{next:?}");
        assert!(next[0].ends_with("1/2 done"), "{next:?}");
    }

    #[test]
    fn ascii_progress_is_ascii_and_a_hostile_item_stays_in_its_row() {
        use TodoStatus::*;
        let mut p = Progress::new(ASCII);
        let rows = p.rows(&todos(&[
            ("1", "done\n00:00 inc  # pull request opened", Completed),
            ("2", "next \u{1b}]0;t\u{7}", InProgress),
        ]));
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[1], "      [x] done\\n00:00 inc  # pull request opened");
        assert_eq!(rows[2], "      [>] next \\x1b]0;t\\x07");
        for row in rows {
            assert!(row.is_ascii(), "{row}");
        }
        let e = WorkflowEvent {
            at: 0,
            incident: "inc".into(),
            kind: EventKind::StepFinished {
                step: "plan".into(),
                replayed: false,
            },
        };
        assert!(event_line_in(&e, &ASCII).is_ascii());
    }
}
