//! What the TUI is shown: the collector's fleet rows and the workflow
//! task's view of an incident, as plain data the reducer stores and the
//! views draw.

use crate::detect::Detector;
use crate::model::{
    AlertState, Evidence, Flag, FleetSnapshot, Metric, Millis, ServiceId, ServiceMetrics, Verdict,
};
use crate::model::{Plan, Todo};
use std::collections::HashMap;

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
    /// CPU limit in cores; `None`: no limit (absent, 0 or not finite).
    pub cpu_limit: Option<f64>,
    /// Memory in bytes, oldest first.
    pub memory: Vec<f64>,
    /// Memory limit in bytes; `None`: no limit (absent, 0 or not finite).
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
    fn from_metrics(
        svc: &ServiceMetrics,
        detector: &Detector,
        verdict: Option<Verdict>,
    ) -> ServiceRow {
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
            verdict,
            cpu: values(Metric::Cpu),
            cpu_limit: svc.limit_of(Metric::Cpu),
            memory: values(Metric::Memory),
            memory_limit: svc.limit_of(Metric::Memory),
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
    /// Queries with nothing to judge (shown as a banner, never as all-clear).
    pub no_data: Vec<crate::model::NoData>,
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
        // Each service's worst open flag (flags come worst first), keyed once:
        // building the rows is linear in the fleet, not fleet × flags.
        let mut worst: HashMap<&ServiceId, Verdict> = HashMap::new();
        for f in flags.iter().filter(|f| f.state != AlertState::Resolved) {
            worst.entry(&f.service).or_insert(f.verdict);
        }
        let rows = snap
            .services
            .iter()
            .map(|s| ServiceRow::from_metrics(s, detector, worst.get(&s.service).copied()))
            .collect();
        FleetView {
            rows,
            flags,
            at: snap.at,
            stale: snap.stale,
            source,
            evidence,
            no_data: snap.missing.clone(),
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
    /// Paths of the change the policy holds back (CI files, hooks,
    /// symlinks, binaries, protected paths) and not yet confirmed.
    pub held: Vec<crate::forge::policy::Held>,
    /// True while the second confirm, listing the held paths, is showing.
    pub held_confirm: bool,
    /// True once the operator cancelled the run (journaled): nothing is pushed.
    pub cancelled: bool,
    /// The run's activity, oldest first, from the journaled events (so it
    /// survives a restart) and then live.
    pub activity: Vec<super::activity::Activity>,
    /// What the incident's LLM calls cost so far (journaled), in words;
    /// `None` before the first call.
    pub cost: Option<String>,
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
