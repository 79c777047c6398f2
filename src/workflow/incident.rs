//! The incident and what the journal keeps of it: status, origin, approval,
//! the steps' stored outputs, and one incident per (service, rule) episode.
//! The run lives in [`super::run`], each step in [`super::steps`], and the
//! parts a run works with in [`super::parts`].
//!
//! An incident remembers the source, planner, agent and forge it started
//! with, so `medic resume` needs no other flag. One incident per
//! (service, rule) while it is open: a flag that persists reuses it.

use super::engine::EventKind;
use super::journal::{Journal, JournalError};
use crate::model::{Evidence, Flag, Millis, Plan, PullRequest, ServiceId, Todo};
use crate::triage::context::Signals;
use crate::triage::verdict::Judgement;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use super::parts::{planner_name, Parts, MAX_DIFF_BYTES};
pub use super::run::{Outcome, Run};

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Steps are running or will run on resume.
    Open,
    /// The plan waits for the operator.
    AwaitingApproval,
    /// The agent's change waits for the operator's go before it leaves the machine.
    AwaitingPublish,
    /// A step ran out of attempts; the operator decides.
    NeedsAttention,
    /// A pull request is open: still the same episode (a flag that persists
    /// or comes back updates this incident) until the flag clears.
    PrOpened,
    /// The flag cleared after the change: the episode is over.
    Resolved,
    /// Finished without a change (external, load without manifest change, empty diff).
    NoChange,
    /// Stopped by the operator.
    Cancelled,
    /// The pull request merged: medic watches the change through (an
    /// interrupted watch is resumed like an open run).
    Watching,
    /// The change went live and the verification rule held: the episode is over.
    Verified,
    /// The change went live and the signal still breaches: the episode goes
    /// on in a follow-up incident whose plan is the revert (`<id>-revert`).
    NotFixed,
    /// The change went live and the service flags something new.
    Regressed,
}

impl Status {
    /// True when the episode is over: the next flag of its (service, rule)
    /// opens a new incident. An open pull request is not over.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Resolved
                | Status::NoChange
                | Status::Cancelled
                | Status::Verified
                // The episode goes on in the follow-up incident with the revert.
                | Status::NotFixed
                | Status::Regressed
        )
    }

    /// True when a run is under way (or was cut off): `medic resume` goes on with it.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Open | Status::Watching)
    }

    /// True when nothing more will happen without the operator or the flag.
    pub fn is_settled(self) -> bool {
        self.is_closed() || self == Status::PrOpened
    }

    /// The word shown in lists.
    pub fn word(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::AwaitingApproval => "awaiting approval",
            Status::AwaitingPublish => "diff ready: awaiting go to push",
            Status::NeedsAttention => "needs attention",
            Status::PrOpened => "pr opened",
            Status::Resolved => "resolved",
            Status::NoChange => "no change",
            Status::Cancelled => "cancelled",
            Status::Watching => "watching the change",
            Status::Verified => "verified",
            Status::NotFixed => "not fixed",
            Status::Regressed => "regressed",
        }
    }
}

/// Where an incident's metrics came from, so it resumes on the same source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OriginSource {
    /// The embedded demo, with the seed and anchor that reproduce it.
    Demo {
        /// Seed.
        seed: u64,
        /// Anchor.
        anchor: Millis,
        /// The demo clock's speed (`--speed`): a resumed incident's clock goes on at it.
        #[serde(default = "real_time")]
        speed: f64,
        /// The wall time at which the demo clock read the anchor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started: Option<Millis>,
    },
    /// A config file.
    Config {
        /// Its path.
        path: PathBuf,
    },
}

fn real_time() -> f64 {
    1.0
}

/// What an incident started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// Metric source.
    pub source: OriginSource,
    /// The config file the incident started with (rules, `[llm]`, `[agent]`), if any.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// `heuristic` or the LLM provider/model.
    pub planner: String,
    /// The agent kind.
    pub agent: String,
    /// The forge kind.
    pub forge: String,
    /// The config file's text when the incident opened, secrets redacted:
    /// resume uses it, so an edit of the file in between is reported, not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
}

/// The config file's text as an incident journals it (redacted), or `None`
/// without a file.
pub fn settings_snapshot(config: Option<&std::path::Path>) -> Option<String> {
    let text = std::fs::read_to_string(config?).ok()?;
    Some(crate::triage::redact::redact_str(&text))
}

/// The operator's approval of one exact plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved (the local user).
    pub by: String,
    /// When.
    pub at: Millis,
    /// Digest of the plan approved; an edit after approval voids it.
    pub plan_digest: String,
    /// The approval also lets the change be pushed and the pull request
    /// opened without stopping at the diff (`medic fix --yes`).
    #[serde(default)]
    pub publish: bool,
}

/// An incident as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id (`20261128-0356-api-3f2a`).
    pub id: String,
    /// The service.
    pub service: ServiceId,
    /// The rule that flagged it.
    pub rule: String,
    /// The flag as it was when the incident opened.
    pub flag: Flag,
    /// When it opened (also the instant evidence is gathered for).
    pub opened_at: Millis,
    /// Where it stands.
    pub status: Status,
    /// What it started with.
    pub origin: Origin,
    /// The operator's approval, once given.
    pub approval: Option<Approval>,
    /// The operator's edit of the plan, if any (replaces the generated one).
    pub plan_edit: Option<Plan>,
    /// The commit the operator said go for (push it and open the pull request).
    #[serde(default)]
    pub publish_go: Option<String>,
    /// The commit whose held-back paths (CI files, hooks, symlinks,
    /// binaries, protected paths) the operator confirmed on the second screen.
    #[serde(default)]
    pub held_confirmed: Option<String>,
    /// What the incident's LLM calls (planner, builtin agent) have cost so far.
    #[serde(default)]
    pub llm_spent: crate::plan::llm::Spent,
    /// The pull request, once opened.
    pub pr: Option<PullRequest>,
    /// Why it needs attention.
    pub error: Option<String>,
    /// The flag as last seen while open: a flag that persists updates it
    /// instead of opening a second incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Flag>,
    /// What the watch found once the change was live (`✔ verified 31m after deploy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl Incident {
    /// The status as lists show it: the watch's outcome once there is one.
    pub fn status_line(&self) -> String {
        match &self.outcome {
            Some(line)
                if matches!(
                    self.status,
                    Status::Verified | Status::NotFixed | Status::Regressed
                ) =>
            {
                crate::terminal::one_line(line).into_owned()
            }
            _ => self.status.word().to_string(),
        }
    }
}

/// Triage's output, stored as the `evidence` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// The evidence bundle.
    pub evidence: Evidence,
    /// The numbers.
    pub signals: Signals,
    /// The verdict and reasons.
    pub judgement: Judgement,
    /// The flagged metric's limit at the time.
    pub limit: Option<f64>,
}

/// What the agent step leaves behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentWork {
    /// The commit on medic's branch (`None`: the agent changed nothing).
    pub commit: Option<String>,
    /// The diff against the base.
    pub diff: String,
    /// `1 file(s) changed, …`.
    pub diff_stat: String,
    /// What changed, one line each.
    pub changes: Vec<String>,
    /// The agent's final to-do list.
    pub todos: Vec<Todo>,
    /// The remote's refs before the agent ran: the push compares with them.
    #[serde(default)]
    pub refs: Option<crate::forge::remote::RefSnapshot>,
    /// Paths the change policy holds back until the operator confirms them.
    #[serde(default)]
    pub held: Vec<crate::forge::policy::Held>,
}

/// The names of the steps, in order.
pub const STEPS: [&str; 11] = [
    "evidence", "plan", "approval", "agent", "push", "pr", "verify", "merged", "live", "watch",
    "comment",
];

/// A stable, readable incident id: onset time, service, and a short hash of
/// the rule so two rules on one service never collide.
pub fn incident_id(flag: &Flag) -> String {
    let t = crate::units::rfc3339(flag.onset);
    let date: String = t[..16].chars().filter(|c| c.is_ascii_digit()).collect();
    let mut h: u32 = 0x811c_9dc5;
    for b in flag.rule.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!(
        "{}-{}-{}-{:04x}",
        &date[..8],
        &date[8..],
        flag.service,
        h & 0xffff
    )
}

/// Digest of a plan, to bind an approval to exactly what was read.
pub fn plan_digest(plan: &Plan) -> String {
    let text = serde_json::to_string(plan).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x1000_0000_01b3);
    }
    format!("{h:016x}")
}

/// Find the open incident for this flag's (service, rule), or open one.
pub fn open_or_resume(
    journal: &Journal,
    flag: &Flag,
    origin: Origin,
    now: Millis,
) -> Result<Incident, JournalError> {
    let existing: Vec<Incident> = journal.incidents_readable()?.records;
    if let Some(mut inc) = existing
        .into_iter()
        .find(|i| i.service == flag.service && i.rule == flag.rule && !i.status.is_closed())
    {
        if inc.latest.as_ref() != Some(flag) {
            inc.latest = Some(flag.clone());
            journal.put_incident(&inc.id, &inc)?;
        }
        return Ok(inc);
    }
    let inc = Incident {
        id: incident_id(flag),
        service: flag.service.clone(),
        rule: flag.rule.clone(),
        flag: flag.clone(),
        opened_at: now,
        status: Status::Open,
        origin,
        approval: None,
        plan_edit: None,
        publish_go: None,
        held_confirmed: None,
        llm_spent: Default::default(),
        pr: None,
        error: None,
        latest: None,
        outcome: None,
    };
    let mut inc = inc;
    let base = inc.id.clone();
    // Created only if absent: an id already taken (a closed episode with the
    // same onset, or a record that cannot be read) is never overwritten.
    for n in 2.. {
        if journal.create_incident(&inc.id, &inc)? {
            break;
        }
        inc.id = format!("{base}-{n}");
    }
    Ok(inc)
}

/// Close the episodes whose pull request is open and whose flag no longer
/// fires or pends (`flags` is what the detector says now): `Resolved`. Only
/// where `present` says the flag's metric has data for that service at the
/// snapshot's last instant ([`with_data`]): a series that vanished (an
/// exporter restart, a relabel) has not recovered.
pub fn resolve_cleared(
    journal: &Journal,
    flags: &[Flag],
    present: &[(ServiceId, crate::model::Metric)],
) -> Result<Vec<String>, JournalError> {
    use crate::model::AlertState;
    let mut resolved = vec![];
    for mut inc in journal.incidents_readable::<Incident>()?.records {
        let firing = flags.iter().any(|f| {
            f.service == inc.service
                && f.rule == inc.rule
                && matches!(f.state, AlertState::Pending | AlertState::Firing)
        });
        // A resolved flag alone is not enough: a rule whose series went
        // absent resolves too. Recovery is judged from data that is there.
        let seen = present.contains(&(inc.service.clone(), inc.flag.metric));
        if inc.status == Status::PrOpened && seen && !firing {
            inc.status = Status::Resolved;
            inc.error = None;
            journal.put_incident(&inc.id, &inc)?;
            resolved.push(inc.id);
        }
    }
    Ok(resolved)
}

/// Forward an agent's to-do list to the event stream.
pub fn todos_event(todos: &[Todo]) -> EventKind {
    EventKind::Todos {
        todos: todos.to_vec(),
    }
}

/// The (service, metric) pairs with a value at the snapshot's last instant,
/// leaving out metrics the snapshot reports as missing: what
/// [`resolve_cleared`] may judge recovered.
pub fn with_data(snap: &crate::model::FleetSnapshot) -> Vec<(ServiceId, crate::model::Metric)> {
    let mut out = vec![];
    for s in &snap.services {
        for metric in crate::model::Metric::ALL {
            let missing = snap.missing.iter().any(|m| m.query == metric.name());
            let now = s
                .get(metric)
                .and_then(|series| series.values.last())
                .is_some_and(|v| v.is_finite());
            if !missing && now {
                out.push((s.service.clone(), metric));
            }
        }
    }
    out
}

#[cfg(test)]
mod data_tests {
    use super::*;
    use crate::model::{FleetSnapshot, Metric, Series, ServiceMetrics};

    #[test]
    fn a_series_that_ends_absent_has_no_data_now() {
        let mut api = ServiceMetrics::new(ServiceId::from("api"));
        let series = |values: Vec<f64>| Series {
            start: 0,
            step: 15_000,
            values,
        };
        api.set(Metric::Cpu, series(vec![0.5, 0.5]));
        api.set(Metric::Memory, series(vec![1e9, f64::NAN]));
        let snap = FleetSnapshot {
            services: vec![api],
            at: 15_000,
            stale: false,
            missing: vec![],
        };
        let now = with_data(&snap);
        assert!(now.contains(&(ServiceId::from("api"), Metric::Cpu)));
        assert!(!now.contains(&(ServiceId::from("api"), Metric::Memory)));
    }
}
