//! The TUI's state and its one reducer: actions in, state out. Pure: no
//! terminal, no I/O, so tests feed actions and read the state.

use super::input::{self, Input, InputKind, PaletteCommand};
use super::resume::UiState;
use super::theme::Theme;
use super::work::Command;
use crate::detect::Detector;
use crate::model::{
    AlertState, Evidence, Flag, FleetSnapshot, Metric, Millis, ServiceId, ServiceMetrics, Verdict,
};
use crate::model::{Plan, Todo};
use crate::workflow::engine::{EventKind, WorkflowEvent};
use serde::{Deserialize, Serialize};

/// One service's row in the fleet table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// The service.
    pub service: ServiceId,
    /// Its worst rule state.
    pub state: AlertState,
    /// The verdict of its worst flag, if flagged.
    pub verdict: Option<Verdict>,
    /// CPU in cores, oldest first (NaN = absent).
    pub cpu: Vec<f64>,
    /// CPU limit in cores.
    pub cpu_limit: Option<f64>,
    /// Memory in bytes, oldest first.
    pub memory: Vec<f64>,
    /// Memory limit in bytes.
    pub memory_limit: Option<f64>,
    /// 5xx share of requests, oldest first.
    pub error_rate: Vec<f64>,
    /// Requests per second now.
    pub requests: Option<f64>,
    /// Timestamp of the first value of the series.
    pub start: Millis,
    /// Distance between values.
    pub step: Millis,
}

impl ServiceRow {
    fn from_metrics(svc: &ServiceMetrics, detector: &Detector, flags: &[Flag]) -> ServiceRow {
        let values = |m: Metric| svc.get(m).map(|s| s.values.clone()).unwrap_or_default();
        let requests = values(Metric::Requests);
        let errors = values(Metric::Errors);
        let error_rate = errors
            .iter()
            .zip(&requests)
            .map(|(e, r)| if *r > 0.0 { e / r } else { f64::NAN })
            .collect();
        ServiceRow {
            service: svc.service.clone(),
            state: detector.worst_state(&svc.service),
            verdict: flags
                .iter()
                .find(|f| f.service == svc.service && f.state != AlertState::Resolved)
                .map(|f| f.verdict),
            cpu: values(Metric::Cpu),
            cpu_limit: svc.last(Metric::CpuLimit),
            memory: values(Metric::Memory),
            memory_limit: svc.last(Metric::MemoryLimit),
            error_rate,
            requests: svc.last(Metric::Requests),
            start: svc.get(Metric::Cpu).map_or(0, |s| s.start),
            step: svc.get(Metric::Cpu).map_or(15_000, |s| s.step),
        }
    }
}

/// What the collector hands the TUI after each refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetView {
    /// One row per service, by name.
    pub rows: Vec<ServiceRow>,
    /// Flags, worst first.
    pub flags: Vec<Flag>,
    /// The instant the data is for.
    pub at: Millis,
    /// True when the source did not answer and these are last-known values.
    pub stale: bool,
    /// What the data comes from (`demo`, `prometheus http://…`).
    pub source: String,
    /// Evidence gathered for each open flag.
    pub evidence: Vec<Evidence>,
}

impl FleetView {
    /// Build the view from a snapshot, the detector that ingested it and
    /// the flags (with their verdicts).
    pub fn new(
        snap: &FleetSnapshot,
        detector: &Detector,
        flags: Vec<Flag>,
        evidence: Vec<Evidence>,
        source: String,
    ) -> FleetView {
        let rows = snap
            .services
            .iter()
            .map(|s| ServiceRow::from_metrics(s, detector, &flags))
            .collect();
        FleetView {
            rows,
            flags,
            at: snap.at,
            stale: snap.stale,
            source,
            evidence,
        }
    }

    /// The worst open flag of a service.
    pub fn flag_of(&self, service: &ServiceId) -> Option<&Flag> {
        self.flags
            .iter()
            .find(|f| &f.service == service && f.state != AlertState::Resolved)
    }

    /// The evidence gathered for a service's open flag.
    pub fn evidence_of(&self, service: &ServiceId) -> Option<&Evidence> {
        self.evidence.iter().find(|e| &e.service == service)
    }
}

/// An incident's plan and its run, as the workflow task reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkView {
    /// The incident id.
    pub incident: String,
    /// Its service.
    pub service: ServiceId,
    /// Where it stands, in words.
    pub status: String,
    /// The plan, once made.
    pub plan: Option<Plan>,
    /// The agent's to-do list.
    pub todos: Vec<Todo>,
    /// The latest log lines (newest last).
    pub log: Vec<String>,
    /// The pull request's link, once opened.
    pub pr: Option<String>,
    /// True while the approval confirm is showing.
    pub confirm: bool,
    /// True once the operator approved the plan.
    pub approved: bool,
    /// The agent's diff against the base, once it ran.
    pub diff: Option<String>,
}

/// One incident in the `:incidents` list.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    /// The incident id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// The rule that flagged it.
    pub rule: String,
    /// Where it stands, in a word or two.
    pub status: String,
    /// The pull request's link, if any.
    pub pr: Option<String>,
}

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
    /// Copy the pull request's link (OSC 52, works over SSH).
    Copy,
    /// The journal's incidents, for `:incidents`.
    Incidents(Vec<IncidentRow>),
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
                Some(w) if w.confirm => {
                    w.confirm = false;
                    w.approved = true;
                    self.show_diff = false;
                    w.status = "approved: the agent is starting".into();
                    self.outbox.push(Command::Approve(w.incident.clone()));
                    true
                }
                _ => false,
            },
            Action::Deny => match &mut self.work {
                Some(w) if w.confirm => {
                    w.confirm = false;
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
                let Some(w) = self.work.as_mut().filter(|w| w.incident == event.incident) else {
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
                    EventKind::Approved { by } => w.log.push(format!("plan approved by {by}")),
                    EventKind::AwaitingPublish { diff_stat } => {
                        w.status =
                            format!("change ready · d diff · p push and open the PR · {diff_stat}")
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
            Action::Publish => match &mut self.work {
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

    fn edit_input(&mut self, f: impl FnOnce(&mut String)) -> bool {
        let Some(input) = &mut self.input else {
            return false;
        };
        f(&mut input.text);
        let text = input.text.clone();
        // Filter and search follow the typing, so the operator sees the effect at once.
        match input.kind {
            InputKind::Filter => self.set_filter(text),
            InputKind::Search => self.search = text,
            InputKind::Command => {}
        }
        true
    }

    fn set_filter(&mut self, filter: String) {
        let selected = self.selected_row().map(|r| r.service.clone());
        self.filter = filter;
        let visible = self.visible_rows();
        self.selected = selected
            .and_then(|s| visible.iter().position(|r| r.service == s))
            .unwrap_or(0);
    }

    fn run_palette(&mut self, line: &str) {
        match input::parse(line) {
            Ok(PaletteCommand::Quit) => self.quit = true,
            Ok(PaletteCommand::Incidents) => {
                self.outbox.push(Command::ListIncidents);
                self.screen = Screen::Incidents;
            }
            Ok(PaletteCommand::Fleet) => self.screen = Screen::Fleet,
            Ok(PaletteCommand::Help) => {
                if self.screen != Screen::Help {
                    self.previous = self.screen;
                }
                self.screen = Screen::Help;
            }
            Ok(PaletteCommand::Ascii) => self.ascii = !self.ascii,
            Ok(PaletteCommand::Theme(name)) => match Theme::builtin(&name) {
                Some(t) => {
                    self.theme = t;
                    self.palette_theme = Some(name.clone());
                    self.notice = Some(format!("theme {name}"));
                }
                None => {
                    self.notice = Some(format!(
                        "no theme {name}; built in: {}",
                        super::theme::names().join(", ")
                    ))
                }
            },
            Err(e) => self.notice = Some(e),
        }
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
pub(crate) mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::sources::demo::{Demo, DEFAULT_SEED};

    /// The demo fleet at a fixed instant, as the collector would send it.
    pub(crate) fn demo_view(anchor: Millis) -> FleetView {
        let snap = Demo::new(DEFAULT_SEED, anchor).snapshot(anchor, 3_600_000, 15_000);
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let source = crate::sources::Source::Demo {
            demo: Demo::new(DEFAULT_SEED, anchor),
            clock: crate::sources::demo::DemoClock::new(anchor, 1.0),
        };
        let mut flags = d.flags(&snap);
        let evidence = futures_util::FutureExt::now_or_never(crate::triage::judge_all(
            &source, &snap, &d, &mut flags,
        ))
        .expect("the demo answers without waiting");
        FleetView::new(&snap, &d, flags, evidence, "demo".into())
    }

    #[test]
    fn navigation_stays_in_bounds() {
        let mut app = App::default();
        assert!(!app.update(Action::Down), "nothing to move through yet");
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        assert!(app.update(Action::Down));
        assert_eq!(app.selected, 1);
        app.update(Action::Bottom);
        assert_eq!(app.selected, 7);
        assert!(!app.update(Action::Down));
        app.update(Action::Top);
        assert!(!app.update(Action::Up));
        assert_eq!(app.selected, 0);
    }

    #[test]
    fn selection_follows_the_service_and_data_redraws_only_on_change() {
        let mut app = App::default();
        let view = demo_view(1_790_000_000_000);
        assert!(app.update(Action::Fleet(Box::new(view.clone()))));
        app.update(Action::Down);
        let chosen = app.selected_row().unwrap().service.clone();
        assert!(
            !app.update(Action::Fleet(Box::new(view.clone()))),
            "same data, no redraw"
        );
        let mut moved = view;
        moved.rows.reverse();
        assert!(app.update(Action::Fleet(Box::new(moved))));
        assert_eq!(app.selected_row().unwrap().service, chosen);
    }

    #[test]
    fn source_errors_mark_data_stale() {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        assert!(app.update(Action::SourceError("connection refused".into())));
        assert!(app.fleet.as_ref().unwrap().stale);
        assert!(!app.update(Action::SourceError("connection refused".into())));
    }

    #[test]
    fn help_toggles_and_escape_goes_back() {
        let mut app = App::default();
        app.update(Action::ToggleHelp);
        assert_eq!(app.screen, Screen::Help);
        assert!(app.update(Action::Back));
        assert_eq!(app.screen, Screen::Fleet);
        assert!(!app.update(Action::Back));
        app.update(Action::Quit);
        assert!(app.quit);
    }

    #[test]
    fn approving_needs_a_plan_and_a_confirm_and_queues_one_command() {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        app.update(Action::Open);
        app.update(Action::Plan);
        assert_eq!(app.screen, Screen::Work);
        assert!(matches!(&app.outbox[..], [Command::Prepare(f)] if f.service.0 == "api"));
        app.outbox.clear();
        assert!(
            !app.update(Action::Approve),
            "no plan yet: nothing to approve"
        );
        let view = WorkView {
            incident: "i1".into(),
            service: ServiceId::from("api"),
            status: "waits".into(),
            plan: Some(crate::plan::markdown::parse("# A plan\n").unwrap()),
            todos: vec![],
            log: vec![],
            pr: None,
            confirm: false,
            approved: false,
            diff: None,
        };
        app.update(Action::Work(Box::new(view)));
        app.update(Action::Approve);
        assert!(app.work.as_ref().unwrap().confirm);
        app.update(Action::Deny);
        assert!(app.outbox.is_empty(), "cancelled: nothing sent");
        app.update(Action::Approve);
        app.update(Action::Confirm);
        assert_eq!(app.outbox, vec![Command::Approve("i1".into())]);
        assert!(!app.update(Action::Approve), "approved once is enough");
        app.update(Action::Back);
        assert_eq!(app.screen, Screen::Incident);
    }

    fn typed(app: &mut App, kind: InputKind, text: &str) {
        app.update(Action::StartInput(kind));
        for c in text.chars() {
            app.update(Action::InputChar(c));
        }
    }

    #[test]
    fn the_filter_narrows_the_fleet_as_you_type_and_esc_clears_it() {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        typed(&mut app, InputKind::Filter, "fir");
        assert_eq!(app.filter, "fir");
        let names: Vec<_> = app
            .visible_rows()
            .iter()
            .map(|r| r.service.0.clone())
            .collect();
        assert_eq!(
            names,
            ["api", "checkout", "email", "web"],
            "state word matches"
        );
        app.update(Action::InputBackspace);
        app.update(Action::InputBackspace);
        app.update(Action::InputBackspace);
        typed(&mut app, InputKind::Filter, "WEB");
        app.update(Action::InputSubmit);
        assert!(app.input.is_none());
        assert_eq!(app.visible_rows().len(), 1);
        app.update(Action::Open);
        assert_eq!(
            app.focus,
            Some(ServiceId::from("web")),
            "Enter opens the filtered row"
        );
        app.update(Action::Back);
        app.update(Action::StartInput(InputKind::Filter));
        app.update(Action::InputCancel);
        assert_eq!(app.filter, "");
        assert_eq!(app.visible_rows().len(), 8);
        assert_eq!(
            app.selected_row().unwrap().service.0,
            "web",
            "selection kept"
        );
    }

    #[test]
    fn search_hits_cycle_with_n_and_scrolling_releases_the_jump() {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        app.update(Action::Open);
        typed(&mut app, InputKind::Filter, "error");
        assert_eq!(app.search, "error", "/ on an incident searches");
        assert!(app.filter.is_empty());
        app.update(Action::InputSubmit);
        assert!(app.search_jump);
        app.update(Action::NextMatch);
        app.update(Action::NextMatch);
        assert_eq!(app.search_hit, 2);
        app.update(Action::PrevMatch);
        assert_eq!(app.search_hit, 1);
        app.update(Action::Down);
        assert!(!app.search_jump);
        app.update(Action::Back);
        assert!(app.search.is_empty(), "Esc clears the search first");
        assert_eq!(app.screen, Screen::Incident);
    }

    #[test]
    fn the_palette_switches_themes_lists_incidents_and_quits() {
        let mut app = App::default();
        typed(&mut app, InputKind::Command, "theme mono");
        app.update(Action::InputSubmit);
        assert_eq!(app.theme.name, "mono");
        assert_eq!(app.ui_state().theme.as_deref(), Some("mono"));
        typed(&mut app, InputKind::Command, "incidnts");
        app.update(Action::InputSubmit);
        assert!(app.notice.as_deref().unwrap().contains("unknown command"));
        typed(&mut app, InputKind::Command, "incidents");
        app.update(Action::InputSubmit);
        assert_eq!(app.screen, Screen::Incidents);
        assert_eq!(app.outbox, vec![Command::ListIncidents]);
        app.outbox.clear();
        app.update(Action::Incidents(vec![IncidentRow {
            id: "i1".into(),
            service: "api".into(),
            rule: "memory-near-limit".into(),
            status: "pr opened".into(),
            pr: Some("local://pr/1".into()),
        }]));
        app.update(Action::Open);
        assert_eq!(app.screen, Screen::Work);
        assert_eq!(app.outbox, vec![Command::Show("i1".into())]);
        typed(&mut app, InputKind::Command, "q");
        app.update(Action::InputSubmit);
        assert!(app.quit);
    }

    fn work(approved: bool, pr: Option<&str>, diff: Option<&str>) -> WorkView {
        let mut w = crate::tui::views::tests::sample_work("# A plan\n", approved);
        w.incident = "i1".into();
        w.pr = pr.map(str::to_string);
        w.diff = diff.map(str::to_string);
        w
    }

    #[test]
    fn edit_regenerate_cancel_diff_and_copy_respect_the_approval() {
        let mut app = App::default();
        app.update(Action::Work(Box::new(work(false, None, None))));
        app.update(Action::Edit);
        assert!(app.edit_requested);
        app.update(Action::Regenerate);
        assert_eq!(app.outbox, vec![Command::Regenerate("i1".into())]);
        assert!(app.work.as_ref().unwrap().plan.is_none());
        app.outbox.clear();
        app.update(Action::Cancel);
        assert!(app.outbox.is_empty(), "nothing runs before approval");
        app.update(Action::Publish);
        assert!(app.outbox.is_empty(), "nothing is pushed before approval");
        app.update(Action::ToggleDiff);
        assert!(!app.show_diff && app.notice.is_some());

        let mut app = App::default();
        app.update(Action::Work(Box::new(work(true, None, Some("+x")))));
        app.screen = Screen::Work;
        app.update(Action::Edit);
        assert!(!app.edit_requested, "approved plans are not edited");
        app.update(Action::Regenerate);
        assert!(app.outbox.is_empty());
        app.update(Action::ToggleDiff);
        assert!(app.show_diff);
        app.update(Action::Back);
        assert!(!app.show_diff, "Esc closes the diff first");
        app.update(Action::Cancel);
        assert_eq!(app.outbox, vec![Command::Cancel("i1".into())]);
        app.outbox.clear();
        app.update(Action::Publish);
        assert_eq!(
            app.outbox,
            vec![Command::Publish("i1".into())],
            "p after the diff: the go to push"
        );
        app.outbox.clear();
        app.update(Action::Copy);
        assert!(app.copy_requested.is_none(), "no PR, nothing copied");

        app.update(Action::Work(Box::new(work(
            true,
            Some("local://pr/1"),
            Some("+x"),
        ))));
        app.update(Action::Copy);
        assert_eq!(app.copy_requested.as_deref(), Some("local://pr/1"));
    }

    #[test]
    fn the_ui_state_round_trips_and_lands_where_it_was_left() {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        app.update(Action::Restore(None));
        assert!(app.restored);
        app.update(Action::Down);
        app.update(Action::Down);
        app.update(Action::Open);
        app.update(Action::Work(Box::new(work(false, None, None))));
        app.screen = Screen::Work;
        let saved = app.ui_state();
        assert_eq!(saved.screen, Screen::Work);
        assert_eq!(saved.focus.as_deref(), Some("batch"));
        assert_eq!(saved.incident.as_deref(), Some("i1"));
        let json = serde_json::to_string(&saved).unwrap();

        let mut again = App::default();
        again.update(Action::Restore(Some(Box::new(
            serde_json::from_str(&json).unwrap(),
        ))));
        assert_eq!(again.screen, Screen::Work);
        assert_eq!(again.outbox, vec![Command::Show("i1".into())]);
        again.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
        assert_eq!(again.selected_row().unwrap().service.0, "batch");
        assert_eq!(again.ui_state().selected, saved.selected);
    }

    #[test]
    fn in_place_edits_are_sent_to_the_journal_or_dropped() {
        use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = |c| Action::EditKey(KeyEvent::new(c, KeyModifiers::NONE));
        let mut app = App::default();
        app.update(Action::Work(Box::new(work(false, None, None))));
        app.update(Action::EditInPlace);
        assert!(app.editing.is_some());
        app.update(key(KeyCode::End));
        for c in " (edited)".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        app.update(Action::EditSave);
        assert!(app.editing.is_none());
        assert_eq!(
            app.work.as_ref().unwrap().plan.as_ref().unwrap().title,
            "A plan (edited)"
        );
        assert!(matches!(
            &app.outbox[..],
            [Command::EditPlan { incident, markdown }] if incident == "i1" && markdown.starts_with("# A plan (edited)")
        ));
        app.outbox.clear();
        app.update(Action::EditInPlace);
        app.update(key(KeyCode::Char('z')));
        app.update(Action::EditDiscard);
        assert!(app.editing.is_none() && app.outbox.is_empty());
        let mut approved = App::default();
        approved.update(Action::Work(Box::new(work(true, None, None))));
        approved.update(Action::EditInPlace);
        assert!(approved.editing.is_none(), "approved plans are not edited");
    }
}
