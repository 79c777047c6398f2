//! The TUI's state and its one reducer: actions in, state out. Pure: no
//! terminal, no I/O, so tests feed actions and read the state.

pub use super::action::{Action, Command, Input, InputKind, Mode, Screen, UiState};
pub use super::action::{FleetView, IncidentRow, ServiceRow, WorkView};
use super::input;
use super::theme::Theme;
use crate::model::ServiceId;

mod events;
mod fleet;
mod incident;
mod plan;
mod prompt;

/// The TUI's whole state.
#[derive(Debug, Clone, Default)]
pub struct App {
    /// The latest data, once it arrives.
    pub fleet: Option<FleetView>,
    /// Selected row in the fleet table.
    pub selected: usize,
    /// What is on screen.
    pub screen: Screen,
    /// The screen to return to from help.
    pub previous: Screen,
    /// The service whose incident is open.
    pub focus: Option<ServiceId>,
    /// Scroll offset of the incident's evidence pane.
    pub scroll: u16,
    /// Which secret of the evidence pane is shown in clear (`v`), counted
    /// in the pane's order; `None`: every secret is masked.
    pub reveal: Option<usize>,
    /// The agent pane has the keys (Tab): j/k scroll it, not the plan.
    pub agent_focus: bool,
    /// Scroll of the agent pane while focused, in rows back from the newest.
    pub agent_scroll: u16,
    /// Horizontal scroll of the diff, in columns.
    pub hscroll: u16,
    /// The incident being planned or run.
    pub work: Option<WorkView>,
    /// Commands for the workflow task, drained by the event loop.
    pub outbox: Vec<Command>,
    /// The last source error, shown in the status line.
    pub error: Option<String>,
    /// Set when the operator asked to leave.
    pub quit: bool,
    /// Set by Ctrl-L: clear the terminal before the next draw.
    pub full_redraw: bool,
    /// Use ASCII instead of Unicode glyphs and blocks.
    pub ascii: bool,
    /// The colours.
    pub theme: Theme,
    /// The prompt being typed, if any.
    pub input: Option<Input>,
    /// The fleet filter (empty: every service).
    pub filter: String,
    /// The incident view's log search (empty: none).
    pub search: String,
    /// Which search hit is current.
    pub search_hit: usize,
    /// True right after a search or `n`/`N`: the view scrolls to the hit.
    pub search_jump: bool,
    /// The `:incidents` list.
    pub incidents: Vec<IncidentRow>,
    /// Selected row of the `:incidents` list.
    pub incident_selected: usize,
    /// The services with an open pull request: (service, PR number).
    pub open_prs: Vec<(String, u64)>,
    /// A one-line answer to the operator (palette results, copies).
    pub notice: Option<String>,
    /// Set once the saved UI state was applied (nothing is saved before).
    pub restored: bool,
    /// The service to select once the fleet arrives (from the saved state).
    pub want_selected: Option<ServiceId>,
    /// Set by `e`: the event loop opens the editor, then clears it.
    pub edit_requested: bool,
    /// Set by `y`: the event loop copies this text, then clears it.
    pub copy_requested: Option<String>,
    /// Show the agent's diff instead of the plan.
    pub show_diff: bool,
    /// The theme chosen in the palette (remembered across restarts).
    pub palette_theme: Option<String>,
    /// Show the plan's cited evidence, resolved, over the plan.
    pub show_citations: bool,
    /// An `$EDITOR` edit that did not parse and that the operator left:
    /// (incident, text, why). The next `e` reopens it; nothing typed is lost.
    pub kept_edit: Option<(String, String, String)>,
    /// Why the in-place edit was not kept (shown above the editor, whole).
    pub editor_error: Option<String>,
    /// The plan's in-place editor, while it is open.
    pub editing: Option<ratatui_textarea::TextArea<'static>>,
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::default_colors()
    }
}

impl App {
    /// Apply one action; returns true when the screen must be redrawn.
    /// Arrivals and the keys of every screen are handled here; the rest
    /// goes to the screen's own update (`app/fleet.rs`, `app/incident.rs`,
    /// `app/plan.rs`, `app/incidents.rs`) or the prompt's (`app/prompt.rs`).
    pub fn update(&mut self, action: Action) -> bool {
        if !matches!(
            action,
            Action::Fleet(_)
                | Action::Workflow(_)
                | Action::Work(_)
                | Action::Resize(..)
                | Action::Incidents(_)
                | Action::OpenPullRequests(_)
                | Action::Restore(_)
        ) {
            self.notice = None;
        }
        match action {
            Action::Work(view) => self.on_work(*view),
            Action::Workflow(event) => self.on_workflow(*event),
            Action::Fleet(view) => self.on_fleet(*view),
            Action::SourceError(e) => self.on_source_error(e),
            Action::OpenPullRequests(list) => {
                let changed = self.open_prs != list;
                self.open_prs = list;
                changed
            }
            Action::Incidents(list) => {
                self.incident_selected = self.incident_selected.min(list.len().saturating_sub(1));
                self.incidents = list;
                true
            }
            Action::Restore(saved) => {
                self.restored = true;
                let Some(ui) = saved else {
                    return false;
                };
                self.apply(*ui);
                true
            }
            Action::Notice(text) => {
                self.notice = Some(text);
                true
            }
            Action::Refused(why) => {
                self.notice = Some(why.to_string());
                true
            }
            Action::ToggleHelp => {
                if self.screen == Screen::Help {
                    self.screen = self.previous;
                } else {
                    self.previous = self.screen;
                    self.screen = Screen::Help;
                }
                true
            }
            Action::Redraw => {
                self.full_redraw = true;
                true
            }
            Action::Resize(..) => true,
            Action::Quit => {
                self.quit = true;
                false
            }
            a @ (Action::StartInput(_)
            | Action::InputChar(_)
            | Action::InputBackspace
            | Action::InputSubmit
            | Action::InputCancel) => self.update_prompt(a),
            // The plan's actions act on the incident at hand whatever the screen.
            a @ (Action::Approve
            | Action::Confirm
            | Action::Deny
            | Action::Edit
            | Action::Regenerate
            | Action::ToggleDiff
            | Action::Cancel
            | Action::Publish
            | Action::Merge
            | Action::Copy
            | Action::ToggleCitations
            | Action::EditInPlace
            | Action::EditKey(_)
            | Action::EditSave
            | Action::EditDiscard) => self.update_work(a),
            a => match self.screen {
                Screen::Fleet => self.update_fleet(a),
                Screen::Incident => self.update_incident(a),
                Screen::Work => self.update_plan_screen(a),
                Screen::Incidents => self.update_incidents(a),
                Screen::Help => match a {
                    Action::Back => {
                        self.screen = self.previous;
                        true
                    }
                    _ => false,
                },
            },
        }
    }

    /// What the keyboard is doing now (which part of the key table applies).
    pub fn mode(&self) -> Mode {
        if self.editing.is_some() {
            Mode::Editing
        } else if self.input.is_some() {
            Mode::Typing
        } else if self
            .work
            .as_ref()
            .is_some_and(|w| w.confirm || w.held_confirm)
        {
            Mode::Confirming
        } else {
            Mode::Normal
        }
    }

    /// How many secrets the focused incident's evidence holds (as the
    /// prompts' redaction finds them): what `v` cycles through.
    pub fn secrets_in_evidence(&self) -> usize {
        self.focus
            .as_ref()
            .and_then(|s| self.fleet.as_ref()?.evidence_of(s))
            .map_or(0, |e| {
                e.items
                    .iter()
                    .map(|i| {
                        crate::triage::redact::redact(&i.title).findings.len()
                            + crate::triage::redact::redact(&i.detail).findings.len()
                    })
                    .sum()
            })
    }

    /// The fleet rows the filter lets through, in table order.
    pub fn visible_rows(&self) -> Vec<&ServiceRow> {
        let Some(fleet) = &self.fleet else {
            return Vec::new();
        };
        fleet
            .rows
            .iter()
            .filter(|r| {
                self.filter.is_empty()
                    || input::contains(&r.service.0, &self.filter)
                    || input::contains(r.state.word(), &self.filter)
                    || r.verdict
                        .is_some_and(|v| input::contains(v.word(), &self.filter))
            })
            .collect()
    }

    /// The selected service's row.
    pub fn selected_row(&self) -> Option<&ServiceRow> {
        self.visible_rows().get(self.selected).copied()
    }

    /// What survives a restart.
    pub fn ui_state(&self) -> UiState {
        let screen = match self.screen {
            Screen::Help => self.previous,
            s => s,
        };
        UiState {
            screen,
            selected: self.selected_row().map(|r| r.service.0.clone()),
            focus: self.focus.as_ref().map(|s| s.0.clone()),
            scroll: self.scroll,
            filter: self.filter.clone(),
            search: self.search.clone(),
            incident: self.work.as_ref().map(|w| w.incident.clone()),
            theme: self.palette_theme.clone(),
        }
    }

    fn apply(&mut self, ui: UiState) {
        self.screen = match ui.screen {
            Screen::Help => Screen::Fleet,
            s => s,
        };
        self.focus = ui.focus.map(|s| ServiceId::from(s.as_str()));
        self.scroll = ui.scroll;
        self.filter = ui.filter;
        self.search = ui.search;
        self.want_selected = ui.selected.map(|s| ServiceId::from(s.as_str()));
        if let Some(t) = ui.theme.as_deref().and_then(Theme::builtin) {
            self.theme = t;
            self.palette_theme = ui.theme;
        }
        if self.screen == Screen::Work && ui.incident.is_none() {
            self.screen = if self.focus.is_some() {
                Screen::Incident
            } else {
                Screen::Fleet
            };
        }
        if self.screen == Screen::Incidents {
            self.outbox.push(Command::ListIncidents);
        }
        if let Some(id) = ui.incident {
            self.outbox.push(Command::Show(id));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
