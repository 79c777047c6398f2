//! What arrives without a key: the collector's fleet and errors, the
//! workflow task's view of an incident and its events.

use super::{App, FleetView, WorkView};
use crate::workflow::engine::{EventKind, WorkflowEvent};

/// How many log lines the agent pane keeps.
const LOG_TAIL: usize = 200;

impl App {
    /// The workflow task's view of the incident replaces ours (the to-dos
    /// and log lines it does not carry are kept).
    pub(super) fn on_work(&mut self, mut view: WorkView) -> bool {
        let keep = self.work.take().filter(|w| w.incident == view.incident);
        if let Some(old) = keep {
            if view.todos.is_empty() {
                view.todos = old.todos;
            }
            if view.log.is_empty() {
                view.log = old.log;
            }
            if view.activity.is_empty() {
                view.activity = old.activity;
            }
        }
        self.work = Some(view);
        true
    }

    /// An event from a running workflow, for the incident on screen.
    pub(super) fn on_workflow(&mut self, event: WorkflowEvent) -> bool {
        // An event of no incident is about the stream itself (lines skipped).
        let Some(w) = self
            .work
            .as_mut()
            .filter(|w| w.incident == event.incident || event.incident.is_empty())
        else {
            return false;
        };
        let added = crate::tui::activity::from_event(&event);
        let redraw = added.is_some();
        if let Some(a) = added {
            w.activity.push(a);
            if w.activity.len() > crate::tui::activity::KEEP {
                w.activity.remove(0);
            }
        }
        match event.kind {
            EventKind::Todos { todos } => w.todos = todos,
            EventKind::Log { line } => w.log.push(line),
            EventKind::StepStarted { step, .. } => w.status = format!("running: {step}"),
            EventKind::StepRetrying { step, error, .. } => {
                w.log.push(format!("{step} failed, retrying: {error}"))
            }
            EventKind::StepFailed { step, error } => {
                w.status = format!("needs attention: {step}: {error}")
            }
            EventKind::Finished { outcome } => w.status = outcome,
            EventKind::Approved { by } => {
                // Emitted once the approval is journaled.
                w.approved = true;
                w.status = format!("approved by {by} (journaled): the agent is starting");
                w.log.push(format!("plan approved by {by}"))
            }
            EventKind::AwaitingPublish { diff_stat } => {
                w.status = format!("change ready: review the diff, then push · {diff_stat}")
            }
            EventKind::HeldBack { held } => {
                w.status = format!(
                    "{} path(s) held back: review them before the push",
                    held.len()
                );
                w.held = held;
            }
            EventKind::AwaitingApproval => w.status = "the plan waits for your approval".into(),
            EventKind::StepFinished { step, .. } => w.status = format!("done: {step}"),
            _ => return redraw,
        }
        if w.log.len() > LOG_TAIL {
            let extra = w.log.len() - LOG_TAIL;
            w.log.drain(..extra);
        }
        true
    }

    /// New data: keep the same service selected when rows move.
    pub(super) fn on_fleet(&mut self, view: FleetView) -> bool {
        let selected = self
            .fleet
            .as_ref()
            .and_then(|f| f.rows.get(self.selected))
            .map(|r| r.service.clone());
        let changed = self.fleet.as_ref() != Some(&view) || self.error.is_some();
        let selected = self.want_selected.take().or(selected);
        self.fleet = Some(view);
        self.error = None;
        let visible = self.visible_rows();
        self.selected = selected
            .and_then(|s| visible.iter().position(|r| r.service == s))
            .unwrap_or(self.selected.min(visible.len().saturating_sub(1)));
        changed
    }

    /// The collector failed: say why, and mark what is shown as last-known.
    pub(super) fn on_source_error(&mut self, e: String) -> bool {
        let changed = self.error.as_deref() != Some(&e);
        self.error = Some(e);
        if let Some(f) = &mut self.fleet {
            f.stale = true;
        }
        changed
    }
}
