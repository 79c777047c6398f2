//! The TUI's vocabulary, shared by every room and importing none of them:
//! the screens, the operator's [`Action`]s, the [`Command`]s for the
//! workflow task, the prompt and keyboard modes, and the UI state that
//! survives a restart. State (`app`), keys (`keys`), the workflow task
//! (`work`) and resume all depend on this module, never on each other.

pub use super::data::{FleetView, IncidentRow, ServiceRow, WorkView};
use crate::model::Flag;
use crate::workflow::engine::WorkflowEvent;
use serde::{Deserialize, Serialize};

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Screen {
    /// The fleet table.
    #[default]
    Fleet,
    /// One service's incident: chart, verdict, evidence, logs.
    Incident,
    /// The plan, its approval and the agent's run.
    Work,
    /// The key help.
    Help,
    /// The journal's incidents (`:incidents`).
    Incidents,
}

/// Everything the operator can do, as data (keys map to these; tests feed them).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Select the next row.
    Down,
    /// Select the previous row.
    Up,
    /// Move the keys to the next pane (the plan screen: plan, agent).
    NextPane,
    /// Scroll the diff left (it is never wrapped).
    Left,
    /// Scroll the diff right.
    Right,
    /// Select the first row.
    Top,
    /// Select the last row.
    Bottom,
    /// Open the selected service's incident.
    Open,
    /// Prepare the focused incident's plan (opens it in the journal).
    Plan,
    /// Ask to approve the plan (shows the confirm).
    Approve,
    /// Confirm the approval.
    Confirm,
    /// Dismiss the confirm.
    Deny,
    /// The workflow task's view of the incident.
    Work(Box<WorkView>),
    /// An event from a running workflow.
    Workflow(Box<WorkflowEvent>),
    /// Show or hide the help screen.
    ToggleHelp,
    /// Go back (close help).
    Back,
    /// Repaint everything (Ctrl-L).
    Redraw,
    /// The terminal changed size.
    Resize(u16, u16),
    /// New data arrived from the collector.
    Fleet(Box<FleetView>),
    /// The collector failed; show why.
    SourceError(String),
    /// Leave medic.
    Quit,
    /// Open the prompt: `/` filter or search, `:` command.
    StartInput(InputKind),
    /// A character typed into the prompt.
    InputChar(char),
    /// Delete the prompt's last character.
    InputBackspace,
    /// Accept the prompt.
    InputSubmit,
    /// Close the prompt without acting (a filter or search is cleared).
    InputCancel,
    /// Show the next secret of the evidence pane in clear (the rest stay
    /// masked); past the last, mask them all again.
    RevealSecret,
    /// Jump to the next search hit.
    NextMatch,
    /// Jump to the previous search hit.
    PrevMatch,
    /// Edit the plan in `$VISUAL`/`$EDITOR` (the event loop suspends the terminal).
    Edit,
    /// Reject the plan and make a new one.
    Regenerate,
    /// Show or hide the agent's diff.
    ToggleDiff,
    /// Stop the running workflow.
    Cancel,
    /// Push the agent's change and open the pull request (after the diff).
    Publish,
    /// Merge the open pull request on the local forge, then watch the change through.
    Merge,
    /// Copy the pull request's link (OSC 52, works over SSH).
    Copy,
    /// The journal's incidents, for `:incidents`.
    Incidents(Vec<IncidentRow>),
    /// The services with an open pull request: (service, PR number), as the journal has them.
    OpenPullRequests(Vec<(String, u64)>),
    /// A one-line answer from the workflow task (an edit it did not save):
    /// shown in the footer, never as a source error or staleness.
    Notice(String),
    /// A key that does nothing in this state, and why (shown to the operator).
    Refused(&'static str),
    /// The UI state saved by the last run (`None`: nothing saved).
    Restore(Option<Box<UiState>>),
    /// Show or hide the evidence the plan cites, resolved (`Enter` on the plan).
    ToggleCitations,
    /// Edit the plan in place (`i`).
    EditInPlace,
    /// A key for the in-place editor.
    EditKey(ratatui::crossterm::event::KeyEvent),
    /// Keep the in-place edit (Ctrl-S): it is journaled at once.
    EditSave,
    /// Drop the in-place edit (Esc).
    EditDiscard,
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open (or find) the incident for this flag and prepare its plan.
    Prepare(Flag),
    /// The operator approved the plan of this incident, as the screen showed
    /// it (its digest): run the agent. A plan changed since is not approved.
    Approve {
        /// The incident.
        incident: String,
        /// `incident::plan_digest` of the plan on the screen.
        plan_digest: String,
    },
    /// The operator saw the diff and said go: push and open the pull request.
    Publish(String),
    /// The operator said go and confirmed the held-back paths on the second
    /// screen: push them too and open the pull request.
    PublishHeld(String),
    /// Merge the incident's pull request on the local forge and watch the change through.
    Merge(String),
    /// Show this incident (from `:incidents`, or the saved UI state); a run
    /// that was interrupted is picked up again.
    Show(String),
    /// List the journal's incidents.
    ListIncidents,
    /// The operator rejected the plan: forget it and make a new one.
    Regenerate(String),
    /// The operator's edit of the plan (Markdown, as written in the editor).
    EditPlan {
        /// The incident.
        incident: String,
        /// The plan as edited.
        markdown: String,
    },
    /// Stop the running workflow of this incident (handled out of band: see [`crate::tui::work::Controls`]).
    Cancel(String),
    /// What the detector says now (every flag, and the services the snapshot
    /// holds): an open pull request whose flag cleared is resolved.
    FlagsNow {
        /// The flags, the rules' own and Alertmanager's.
        flags: Vec<Flag>,
        /// The (service, metric) pairs with data now ([`crate::workflow::incident::with_data`]).
        present: Vec<(crate::model::ServiceId, crate::model::Metric)>,
    },
}

/// What the prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `/` on the fleet: keep the services whose name, state or verdict contains the text.
    Filter,
    /// `/` on an incident: highlight the evidence lines that contain the text.
    Search,
    /// `:` anywhere: a command.
    Command,
}

impl InputKind {
    /// The prompt character shown before the text.
    pub fn prompt(self) -> char {
        match self {
            InputKind::Filter | InputKind::Search => '/',
            InputKind::Command => ':',
        }
    }
}

/// The prompt being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// What it is for.
    pub kind: InputKind,
    /// The text so far.
    pub text: String,
}

/// What the keyboard is doing, beyond which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys are commands.
    Normal,
    /// A prompt is open: keys are text.
    Typing,
    /// A confirm (approve, or the held paths) is showing: `y` or `n`.
    Confirming,
    /// The plan's in-place editor has the keys.
    Editing,
}

/// The part of the TUI's state that survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UiState {
    /// The screen showing (help is never restored: it was a glance).
    pub screen: Screen,
    /// The selected service in the fleet.
    pub selected: Option<String>,
    /// The service whose incident is open.
    pub focus: Option<String>,
    /// Scroll of the incident or plan pane.
    pub scroll: u16,
    /// The fleet filter.
    pub filter: String,
    /// The log search in the incident view.
    pub search: String,
    /// The incident being planned or run.
    pub incident: Option<String>,
    /// The theme's name, when chosen in the palette.
    pub theme: Option<String>,
}
