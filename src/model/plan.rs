//! What an incident produces: the evidence, the plan the operator approves,
//! the agent's to-do list and the pull request.
//!
//! Plain data, serialisable so the journal can store every step's output.

use super::{Millis, ServiceId};
use serde::{Deserialize, Serialize};

/// What kind of item a piece of evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// A metric before/after the onset.
    Metric,
    /// A (folded) log line.
    Log,
    /// A deploy.
    Deploy,
    /// An upstream provider's status.
    Upstream,
    /// The rest of the project's health.
    Health,
    /// A similar past incident: its fix and outcome (`history:<id>`).
    History,
}

/// One checkable fact, with a stable id plans cite (`metric:memory@onset`,
/// `log:17`, `deploy:9f3c2ab`, `upstream:stripe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Stable id, unique within the bundle.
    pub id: String,
    /// What kind of fact.
    pub kind: EvidenceKind,
    /// One line an engineer reads first.
    pub title: String,
    /// The data itself (log text, numbers). Untrusted: logs can say anything.
    pub detail: String,
    /// When it happened, if it is an event.
    pub at: Option<Millis>,
}

/// Everything gathered about one flagged service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The service.
    pub service: ServiceId,
    /// The rule that flagged it.
    pub rule: String,
    /// When the trouble started.
    pub onset: Millis,
    /// The facts, most relevant first.
    pub items: Vec<EvidenceItem>,
    /// Sources that could not be reached, said plainly (`logs: connection refused`).
    pub gaps: Vec<String>,
}

impl Evidence {
    /// The item with this id.
    pub fn get(&self, id: &str) -> Option<&EvidenceItem> {
        self.items.iter().find(|i| i.id == id)
    }
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Users are failing now.
    Critical,
    /// Will fail soon or partially failing.
    High,
    /// Degraded.
    Medium,
    /// Cosmetic or informational.
    Low,
}

/// The kind of change a plan makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// Change the service's code.
    Code,
    /// Change configuration (limits, flags).
    Config,
    /// Add capacity.
    Scale,
    /// Go back to the previous version.
    Rollback,
    /// No change: wait, watch, or escalate.
    None,
}

/// The plan's best explanation, with how sure it is and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    /// The hypothesis, in one or two sentences.
    pub hypothesis: String,
    /// 0.0 (a guess) to 1.0 (proven).
    #[serde(with = "super::absent")]
    pub confidence: f64,
    /// Evidence ids that support it.
    pub evidence: Vec<String>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// Short id (`s1`).
    pub id: String,
    /// What to do.
    pub description: String,
    /// Files it touches, if known.
    pub files: Vec<String>,
}

/// A machine-readable change an offline agent can carry out on manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Mitigation {
    /// Raise the memory limit to this many bytes.
    RaiseMemoryLimit {
        /// The service.
        service: ServiceId,
        /// New limit in bytes.
        bytes: u64,
    },
    /// Run this many replicas.
    SetReplicas {
        /// The service.
        service: ServiceId,
        /// New replica count.
        replicas: u32,
    },
    /// Deploy this earlier version (image tag).
    RollbackImage {
        /// The service.
        service: ServiceId,
        /// The tag to go back to.
        tag: String,
    },
}

/// A remediation plan: what the operator reads, edits and approves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// One line.
    pub title: String,
    /// A short paragraph.
    pub summary: String,
    /// How bad.
    pub severity: Severity,
    /// The explanation, its confidence and its evidence.
    pub root_cause: RootCause,
    /// Other explanations considered, and why they were set aside.
    pub alternatives: Vec<String>,
    /// The kind of change.
    pub fix_kind: FixKind,
    /// What to do, in order.
    pub steps: Vec<PlanStep>,
    /// How to tell it worked.
    pub verification: Vec<String>,
    /// What could go wrong.
    pub risks: Vec<String>,
    /// How to undo it.
    pub rollback: String,
    /// Changes an offline agent can carry out directly (may be empty).
    pub mitigations: Vec<Mitigation>,
    /// How medic tells, once the change is live, that it worked; declared
    /// before anything runs (`None` only in plans journaled before rules existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_rule: Option<VerificationRule>,
}

/// A plan's verification rule: which signal must recover, for how long and
/// by when after the change is live. The watch judges the incident by it:
/// verified, not fixed or regressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationRule {
    /// The service whose signal is watched.
    pub service: ServiceId,
    /// The rule that flagged the incident: it must stop breaching.
    pub rule: String,
    /// The rule's expression over metric names (`memory / memory_limit`).
    pub signal: String,
    /// The comparison that means "still in trouble" (`>`).
    pub op: String,
    /// The value the signal must stay on the good side of (absent for an
    /// alert without one: then the rule must stay clear).
    #[serde(with = "super::absent")]
    pub threshold: f64,
    /// Further conditions that must hold too, each `EXPR OP NUMBER`
    /// (`errors / requests < 0.01`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// How long the signal must stay good (ms).
    pub window_ms: Millis,
    /// How long after the change is live before the window may start:
    /// the rollout settles (ms).
    pub hold_down_ms: Millis,
    /// By when after the change is live the window must be complete, or
    /// the fix did not work (ms).
    pub deadline_ms: Millis,
}

/// Where a to-do stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
    /// Tried and failed.
    Failed,
    /// Dropped.
    Cancelled,
}

/// One item of the agent's to-do list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Todo {
    /// Stable id within the list.
    pub id: String,
    /// What to do.
    pub content: String,
    /// Where it stands.
    pub status: TodoStatus,
}

/// A pull request (or, in the local forge, its record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Number on the forge.
    pub number: u64,
    /// Where to see it.
    pub url: String,
    /// Head branch.
    pub branch: String,
    /// Base branch.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body (markdown).
    pub body: String,
    /// Opened as a draft.
    pub draft: bool,
}
