//! The TUI's state and its one reducer: actions in, state out. Pure: no
//! terminal, no I/O, so tests feed actions and read the state.

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
}

impl App {
    /// Apply one action; returns true when the screen must be redrawn.
    pub fn update(&mut self, action: Action) -> bool {
        let rows = self.fleet.as_ref().map_or(0, |f| f.rows.len());
        match action {
            Action::Down if matches!(self.screen, Screen::Incident | Screen::Work) => {
                self.scroll = self.scroll.saturating_add(1);
                true
            }
            Action::Up if matches!(self.screen, Screen::Incident | Screen::Work) => {
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
                let back = match self.screen {
                    Screen::Help => self.previous,
                    Screen::Work if self.focus.is_some() => Screen::Incident,
                    _ => Screen::Fleet,
                };
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
                self.selected = selected
                    .and_then(|s| view.rows.iter().position(|r| r.service == s))
                    .unwrap_or(self.selected.min(view.rows.len().saturating_sub(1)));
                self.fleet = Some(*view);
                self.error = None;
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
        }
    }

    /// The selected service's row.
    pub fn selected_row(&self) -> Option<&ServiceRow> {
        self.fleet.as_ref()?.rows.get(self.selected)
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
}
