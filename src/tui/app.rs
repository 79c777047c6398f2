//! The TUI's state and its one reducer: actions in, state out. Pure: no
//! terminal, no I/O, so tests feed actions and read the state.

pub use super::data::{FleetView, IncidentRow, ServiceRow, WorkView};
use super::input::{self, Input, InputKind};
use super::resume::UiState;
use super::theme::Theme;
use super::work::Command;
use crate::model::ServiceId;
use crate::workflow::engine::{EventKind, WorkflowEvent};
use serde::{Deserialize, Serialize};

/// How many log lines the agent pane keeps.
const LOG_TAIL: usize = 200;

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
    pub fn update(&mut self, action: Action) -> bool {
        let rows = if self.screen == Screen::Incidents {
            self.incidents.len()
        } else {
            self.visible_rows().len()
        };
        if !matches!(
            action,
            Action::Fleet(_) | Action::Workflow(_) | Action::Work(_) | Action::Resize(..)
        ) {
            self.notice = None;
        }
        if self.screen == Screen::Incidents {
            if let Some(done) = self.update_incidents(&action, rows) {
                return done;
            }
        }
        match action {
            Action::Down if matches!(self.screen, Screen::Incident | Screen::Work) => {
                self.search_jump = false;
                self.scroll = self.scroll.saturating_add(1);
                true
            }
            Action::Up if matches!(self.screen, Screen::Incident | Screen::Work) => {
                self.search_jump = false;
                let next = self.scroll.saturating_sub(1);
                std::mem::replace(&mut self.scroll, next) != next
            }
            Action::Down => {
                let next = (self.selected + 1).min(rows.saturating_sub(1));
                std::mem::replace(&mut self.selected, next) != next
            }
            Action::Up => {
                let next = self.selected.saturating_sub(1);
                std::mem::replace(&mut self.selected, next) != next
            }
            Action::Top => std::mem::replace(&mut self.selected, 0) != 0,
            Action::Bottom => {
                let last = rows.saturating_sub(1);
                std::mem::replace(&mut self.selected, last) != last
            }
            Action::Open => {
                let Some(row) = self.selected_row() else {
                    return false;
                };
                self.focus = Some(row.service.clone());
                self.scroll = 0;
                self.search.clear();
                self.screen = Screen::Incident;
                true
            }
            Action::Plan => {
                let Some(flag) = self
                    .focus
                    .as_ref()
                    .and_then(|s| self.fleet.as_ref()?.flag_of(s))
                    .cloned()
                else {
                    self.error = Some("no open flag here: nothing to plan".into());
                    return true;
                };
                if self.work.as_ref().is_none_or(|w| w.service != flag.service) {
                    self.work = None;
                }
                self.outbox.push(Command::Prepare(flag));
                self.screen = Screen::Work;
                true
            }
            Action::Approve => match &mut self.work {
                Some(w) if w.plan.is_some() && !w.approved => {
                    w.confirm = true;
                    true
                }
                _ => false,
            },
            Action::Confirm => match &mut self.work {
                // The second yes: the held-back paths, listed, then pushed.
                Some(w) if w.held_confirm => {
                    w.held_confirm = false;
                    w.held.clear();
                    w.status =
                        "pushing (held paths confirmed) and opening the pull request…".into();
                    self.show_diff = false;
                    self.outbox.push(Command::PublishHeld(w.incident.clone()));
                    true
                }
                Some(w) if w.confirm => {
                    w.confirm = false;
                    // No second approval while this one travels; the status
                    // says "approved" only once the journal has it.
                    w.approved = true;
                    self.show_diff = false;
                    w.status = "approval sent: waiting for the journal…".into();
                    let plan_digest = w
                        .plan
                        .as_ref()
                        .map(crate::workflow::incident::plan_digest)
                        .unwrap_or_default();
                    self.outbox.push(Command::Approve {
                        incident: w.incident.clone(),
                        plan_digest,
                    });
                    true
                }
                _ => false,
            },
            Action::Deny => match &mut self.work {
                Some(w) if w.confirm || w.held_confirm => {
                    w.confirm = false;
                    w.held_confirm = false;
                    true
                }
                _ => false,
            },
            Action::Work(view) => {
                let keep = self.work.take().filter(|w| w.incident == view.incident);
                let mut view = *view;
                if let Some(old) = keep {
                    if view.todos.is_empty() {
                        view.todos = old.todos;
                    }
                    if view.log.is_empty() {
                        view.log = old.log;
                    }
                }
                self.work = Some(view);
                true
            }
            Action::Workflow(event) => {
                // An event of no incident is about the stream itself (lines skipped).
                let Some(w) = self
                    .work
                    .as_mut()
                    .filter(|w| w.incident == event.incident || event.incident.is_empty())
                else {
                    return false;
                };
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
                        w.status =
                            format!("change ready · d diff · p push and open the PR · {diff_stat}")
                    }
                    EventKind::HeldBack { held } => {
                        w.status = format!(
                            "{} path(s) held back · d diff · p review them before the push",
                            held.len()
                        );
                        w.held = held;
                    }
                    EventKind::AwaitingApproval => {
                        w.status = "the plan waits for your approval (a)".into()
                    }
                    EventKind::StepFinished { step, .. } => w.status = format!("done: {step}"),
                    _ => return false,
                }
                if w.log.len() > LOG_TAIL {
                    let extra = w.log.len() - LOG_TAIL;
                    w.log.drain(..extra);
                }
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
            Action::Back => {
                if self.screen == Screen::Work && self.show_citations {
                    self.show_citations = false;
                    return true;
                }
                if self.screen == Screen::Work && self.show_diff {
                    self.show_diff = false;
                    return true;
                }
                if self.screen == Screen::Incident && !self.search.is_empty() {
                    self.search.clear();
                    return true;
                }
                let back = match self.screen {
                    Screen::Help => self.previous,
                    Screen::Work if self.focus.is_some() => Screen::Incident,
                    _ => Screen::Fleet,
                };
                self.scroll = 0;
                std::mem::replace(&mut self.screen, back) != back
            }
            Action::Redraw => {
                self.full_redraw = true;
                true
            }
            Action::Resize(..) => true,
            Action::Fleet(view) => {
                // Keep the same service selected when rows move.
                let selected = self
                    .fleet
                    .as_ref()
                    .and_then(|f| f.rows.get(self.selected))
                    .map(|r| r.service.clone());
                let changed = self.fleet.as_ref() != Some(&*view) || self.error.is_some();
                let selected = self.want_selected.take().or(selected);
                self.fleet = Some(*view);
                self.error = None;
                let visible = self.visible_rows();
                self.selected = selected
                    .and_then(|s| visible.iter().position(|r| r.service == s))
                    .unwrap_or(self.selected.min(visible.len().saturating_sub(1)));
                changed
            }
            Action::SourceError(e) => {
                let changed = self.error.as_deref() != Some(&e);
                self.error = Some(e);
                if let Some(f) = &mut self.fleet {
                    f.stale = true;
                }
                changed
            }
            Action::Quit => {
                self.quit = true;
                false
            }
            Action::StartInput(kind) => {
                let kind = match (kind, self.screen) {
                    (InputKind::Command, _) => InputKind::Command,
                    (_, Screen::Fleet) => InputKind::Filter,
                    (_, Screen::Incident) => InputKind::Search,
                    _ => return false,
                };
                let text = match kind {
                    InputKind::Filter => self.filter.clone(),
                    InputKind::Search => self.search.clone(),
                    InputKind::Command => String::new(),
                };
                self.input = Some(Input { kind, text });
                true
            }
            Action::InputChar(c) => self.edit_input(|t| t.push(c)),
            Action::InputBackspace => self.edit_input(|t| {
                t.pop();
            }),
            Action::InputCancel => {
                let Some(input) = self.input.take() else {
                    return false;
                };
                match input.kind {
                    InputKind::Filter => self.set_filter(String::new()),
                    InputKind::Search => self.search.clear(),
                    InputKind::Command => {}
                }
                true
            }
            Action::InputSubmit => {
                let Some(input) = self.input.take() else {
                    return false;
                };
                if input.kind == InputKind::Command {
                    self.run_palette(&input.text);
                } else if input.kind == InputKind::Search {
                    self.search_hit = 0;
                    self.search_jump = !self.search.is_empty();
                }
                true
            }
            Action::NextMatch | Action::PrevMatch if !self.search.is_empty() => {
                self.search_hit = if action == Action::NextMatch {
                    self.search_hit.wrapping_add(1)
                } else {
                    self.search_hit.wrapping_sub(1)
                };
                self.search_jump = true;
                true
            }
            Action::NextMatch | Action::PrevMatch => false,
            Action::Edit => match &self.work {
                Some(w) if w.plan.is_some() && !w.approved => {
                    self.edit_requested = true;
                    true
                }
                Some(w) if w.approved => {
                    self.notice = Some("approved plans are not edited; cancel (c) first".into());
                    true
                }
                _ => false,
            },
            Action::Regenerate => match &mut self.work {
                Some(w) if !w.approved => {
                    w.plan = None;
                    w.status = "making a new plan…".into();
                    self.outbox.push(Command::Regenerate(w.incident.clone()));
                    true
                }
                Some(_) => {
                    self.notice =
                        Some("approved plans are not regenerated; cancel (c) first".into());
                    true
                }
                None => false,
            },
            Action::ToggleDiff => match &self.work {
                Some(w) if w.diff.is_some() => {
                    self.show_diff = !self.show_diff;
                    self.scroll = 0;
                    true
                }
                Some(_) => {
                    self.notice = Some("no diff yet: the agent has not run".into());
                    true
                }
                None => false,
            },
            Action::Cancel => match &mut self.work {
                Some(w) if w.approved && w.pr.is_none() => {
                    w.status = "cancelling…".into();
                    self.outbox.push(Command::Cancel(w.incident.clone()));
                    true
                }
                _ => false,
            },
            Action::Merge => match &mut self.work {
                Some(w) if w.pr.is_some() => {
                    w.status = "merging the pull request, then watching the change…".into();
                    self.outbox.push(Command::Merge(w.incident.clone()));
                    true
                }
                Some(_) => {
                    self.notice = Some("no pull request to merge yet".into());
                    true
                }
                None => false,
            },
            Action::Publish => match &mut self.work {
                // Held-back paths: nothing is pushed before the second screen's yes.
                Some(w)
                    if w.approved && w.pr.is_none() && w.diff.is_some() && !w.held.is_empty() =>
                {
                    w.held_confirm = true;
                    true
                }
                Some(w) if w.approved && w.pr.is_none() && w.diff.is_some() => {
                    w.status = "pushing and opening the pull request…".into();
                    self.show_diff = false;
                    self.outbox.push(Command::Publish(w.incident.clone()));
                    true
                }
                Some(w) if w.pr.is_some() => {
                    self.notice = Some("the pull request is already open".into());
                    true
                }
                Some(_) => {
                    self.notice =
                        Some("nothing to push yet: approve, then let the agent finish".into());
                    true
                }
                None => false,
            },
            Action::Copy => {
                let Some(link) = self.work.as_ref().and_then(|w| w.pr.clone()) else {
                    self.notice = Some("no pull request yet: nothing to copy".into());
                    return true;
                };
                self.notice = Some(format!("copied {link}"));
                self.copy_requested = Some(link);
                true
            }
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
            Action::ToggleCitations => match &self.work {
                Some(WorkView { plan: Some(_), .. }) => {
                    self.show_citations = !self.show_citations;
                    true
                }
                _ => false,
            },
            Action::EditInPlace => match &self.work {
                Some(w) if w.approved => {
                    self.notice = Some("approved plans are not edited; cancel (c) first".into());
                    true
                }
                Some(WorkView {
                    plan: Some(plan), ..
                }) => {
                    let text = crate::plan::markdown::render(plan);
                    let mut area =
                        ratatui_textarea::TextArea::new(text.lines().map(str::to_string).collect());
                    area.set_block(
                        ratatui::widgets::Block::bordered()
                            .border_style(self.theme.border_focus)
                            .title(ratatui::text::Span::styled(
                                " editing the plan: Ctrl-S keep · Esc drop ",
                                self.theme.accent,
                            )),
                    );
                    self.editing = Some(area);
                    true
                }
                _ => false,
            },
            Action::EditKey(key) => match &mut self.editing {
                Some(area) => {
                    area.input(key);
                    true
                }
                None => false,
            },
            Action::EditDiscard => {
                self.notice = Some("edit dropped; the plan is as it was".into());
                self.editing.take().is_some()
            }
            Action::EditSave => {
                let (Some(area), Some(w)) = (&self.editing, &mut self.work) else {
                    return false;
                };
                let markdown = area.lines().join("\n");
                match crate::plan::markdown::parse(&markdown) {
                    Ok(plan) => {
                        w.plan = Some(plan);
                        self.outbox.push(Command::EditPlan {
                            incident: w.incident.clone(),
                            markdown,
                        });
                        self.editing = None;
                    }
                    // Keep the editor open with the text: nothing typed is lost.
                    Err(e) => self.notice = Some(format!("not saved: {e}")),
                }
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
        }
    }

    /// Keys on the `:incidents` list; `None` when the key is not the list's.
    fn update_incidents(&mut self, action: &Action, rows: usize) -> Option<bool> {
        let sel = &mut self.incident_selected;
        let next = match action {
            Action::Down => (*sel + 1).min(rows.saturating_sub(1)),
            Action::Up => sel.saturating_sub(1),
            Action::Top => 0,
            Action::Bottom => rows.saturating_sub(1),
            Action::Open => {
                let row = self.incidents.get(*sel)?.clone();
                self.focus = Some(ServiceId::from(row.service.as_str()));
                self.outbox.push(Command::Show(row.id));
                self.screen = Screen::Work;
                self.scroll = 0;
                return Some(true);
            }
            _ => return None,
        };
        Some(std::mem::replace(sel, next) != next)
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
