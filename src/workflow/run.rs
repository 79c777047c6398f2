//! One run of an incident's workflow: the steps in order (evidence → plan →
//! approval → agent → push → pull request → verify), each a function in
//! [`super::steps`], and the incident's status from how the run ended.

use super::engine::{Engine, EventKind, StepError};
use super::incident::{Incident, Status};
use super::journal::{EffectEntry, JournalError};
use super::parts::Parts;
use super::steps;
use crate::model::PullRequest;

/// What a workflow run ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Waiting for the operator's approval.
    AwaitingApproval,
    /// The agent's change is committed locally and waits for the operator's
    /// go to push it and open the pull request; the diff stat says what.
    AwaitingPublish(String),
    /// A pull request is open.
    PrOpened(PullRequest),
    /// Nothing to change, and why.
    NoChange(String),
    /// The pull request merged, the change went live and the watch decided.
    Watched {
        /// The pull request.
        pr: PullRequest,
        /// What came of the change.
        watched: Box<crate::workflow::watch::Watched>,
    },
}

/// The words an [`Outcome::AwaitingPublish`] carries when the change policy
/// holds paths back (the CLI points at `--confirm-held` when it sees them).
pub const HELD_NOTE: &str = "held back until you confirm them";

/// Everything a run needs besides the incident.
pub struct Run<'a> {
    /// The durable step runner.
    pub engine: &'a Engine,
    /// The source, settings, LLM factory, agent and forge the incident works with.
    pub parts: &'a Parts,
    /// Approve the plan without asking (`--yes`).
    pub approve: bool,
    /// Push and open the pull request without stopping at the diff (`--yes`, or `p` in the TUI).
    pub publish: bool,
    /// The operator confirmed the held-back paths of the change on the
    /// second screen (`y` in the TUI, `medic fix --confirm-held`); never implied by `--yes`.
    pub confirm_held: bool,
    /// Who approves.
    pub operator: String,
    /// The digest of the plan the operator saw when approving (the TUI);
    /// `None`: the plan as it stands (`--yes` after it was printed).
    pub seen: Option<String>,
}

impl Run<'_> {
    /// Journal the incident as it is now.
    pub(super) fn save(&self, inc: &Incident) -> Result<(), JournalError> {
        self.engine.journal().put_incident(&inc.id, inc)
    }

    /// Drive the incident as far as it can go.
    pub async fn drive(&self, id: &str) -> anyhow::Result<Outcome> {
        let journal = self.engine.journal();
        // What the steps still to run need (key, agent, token, sandbox),
        // before any of them starts: the TUI's `p` and `a` come through here.
        crate::preflight::check_incident(journal, id, &self.parts.settings)?;
        let mut inc: Incident = journal
            .incident(id)?
            .ok_or_else(|| anyhow::anyhow!("no incident `{id}` in the journal"))?;
        if !inc.status.is_running() && !inc.status.is_settled() {
            // Back at work: the list must not claim it is waiting.
            inc.status = Status::Open;
            self.save(&inc)?;
        }
        for note in &self.parts.notes {
            self.engine
                .emit(id, EventKind::Log { line: note.clone() })?;
        }
        self.alertmanager_silence(&inc).await;
        let result = self.steps(&mut inc).await;
        match &result {
            Ok(Outcome::AwaitingApproval) => inc.status = Status::AwaitingApproval,
            Ok(Outcome::AwaitingPublish(_)) => inc.status = Status::AwaitingPublish,
            Ok(Outcome::PrOpened(pr)) => {
                inc.status = Status::PrOpened;
                inc.pr = Some(pr.clone());
            }
            Ok(Outcome::NoChange(_)) => inc.status = Status::NoChange,
            Ok(Outcome::Watched { pr, watched }) => {
                use crate::workflow::watch::Verdict;
                inc.status = match watched.verdict {
                    Verdict::Verified => Status::Verified,
                    Verdict::NotFixed => Status::NotFixed,
                    Verdict::Regressed => Status::Regressed,
                };
                inc.pr = Some(pr.clone());
                inc.outcome = Some(watched.line());
            }
            Err(e) => match e.downcast_ref::<StepError>() {
                Some(StepError::Cancelled) => inc.status = Status::Cancelled,
                Some(StepError::Journal(_)) | None => {}
                Some(_) => {
                    inc.status = Status::NeedsAttention;
                    inc.error = Some(format!("{e:#}"));
                }
            },
        }
        if let Ok(o) = &result {
            inc.error = None;
            let outcome = match o {
                Outcome::AwaitingApproval | Outcome::AwaitingPublish(_) => None,
                Outcome::PrOpened(pr) => {
                    Some(format!("pull request #{} opened: {}", pr.number, pr.url))
                }
                Outcome::NoChange(why) => Some(format!("no change: {why}")),
                Outcome::Watched { pr, watched } => Some(match &watched.revert {
                    None => format!("{} (pull request #{})", watched.line(), pr.number),
                    Some(revert) => format!(
                        "{} (pull request #{}): the incident is open again as {}, with fresh evidence; a revert waits for your approval: {} (medic fix {})",
                        watched.line(),
                        pr.number,
                        steps::watch::reopened_id(id),
                        crate::terminal::one_line(&revert.title),
                        inc.service
                    ),
                }),
            };
            if let Some(outcome) = outcome {
                self.engine.emit(id, EventKind::Finished { outcome })?;
            }
        }
        self.save(&inc)?;
        self.alertmanager_silence(&inc).await;
        result
    }

    /// With `[alertmanager] url`: the incident's silence follows its status
    /// (see `workflow::silence::follow`); never fails the workflow.
    async fn alertmanager_silence(&self, inc: &Incident) {
        super::silence::follow(self.engine.journal(), &self.parts.settings, inc).await;
    }

    /// The steps in order; each returns early when it must stop for the operator.
    async fn steps(&self, inc: &mut Incident) -> anyhow::Result<Outcome> {
        let triage = steps::evidence::run(self, inc).await?;
        let plan = steps::plan::run(self, inc, &triage).await?;
        if plan.mitigations.is_empty() && plan.fix_kind == crate::model::FixKind::None {
            return Ok(Outcome::NoChange(format!(
                "the plan changes nothing ({})",
                plan.title
            )));
        }
        if !steps::approval::run(self, inc, &plan).await? {
            return Ok(Outcome::AwaitingApproval);
        }
        self.deliver(inc, &plan).await
    }

    /// Agent, push, pull request, verify: the side effects, each idempotent.
    async fn deliver(
        &self,
        inc: &mut Incident,
        plan: &crate::model::Plan,
    ) -> anyhow::Result<Outcome> {
        // Only the parts that exist may act; anything else stops here, before a side effect.
        let delivery = steps::Delivery::new(self, inc, plan)?;
        let work = steps::agent::run(self, inc, plan, &delivery).await?;
        let Some(commit) = work.commit.clone() else {
            return Ok(Outcome::NoChange(
                "the agent changed nothing (empty diff): no pull request".into(),
            ));
        };
        if !steps::publish_go(self, inc, &work, &commit)? {
            let mut stat = work.diff_stat.clone();
            if !work.held.is_empty() && inc.held_confirmed.as_deref() != Some(commit.as_str()) {
                let paths: Vec<&str> = work.held.iter().map(|h| h.path.as_str()).collect();
                stat.push_str(&format!(" · {HELD_NOTE}: {}", paths.join(", ")));
            }
            return Ok(Outcome::AwaitingPublish(stat));
        }
        let pushed = steps::push::run(self, inc, &delivery, &work, &commit).await?;
        let pr = steps::pr::run(self, inc, plan, &delivery, &work).await?;
        steps::verify::run(self, inc, &delivery, &pushed, &pr).await?;
        // The incident is done when its verification rule holds after the change is live.
        let Some(merged) = steps::merged::run(self, inc, &delivery, &pr).await? else {
            return Ok(Outcome::PrOpened(pr));
        };
        // Journaled before the watch: a cut-off watch is resumed like an open run.
        inc.status = Status::Watching;
        inc.pr = Some(pr.clone());
        self.save(inc)?;
        let rule = plan
            .verification_rule
            .clone()
            .unwrap_or_else(|| crate::plan::verify::from_flag(&inc.flag, None, None));
        let live = steps::merged::live(self, inc, plan, &merged).await?;
        let watched = steps::watch::run(self, inc, plan, &rule, &live).await?;
        steps::watch::comment(self, inc, &delivery, &pr, &watched).await?;
        if let Some(revert) = &watched.revert {
            steps::watch::reopen(self, inc, revert)?;
        }
        Ok(Outcome::Watched {
            pr,
            watched: Box::new(watched),
        })
    }

    /// A finished step's stored output.
    pub(super) fn stored<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        step: &str,
    ) -> anyhow::Result<T> {
        let rec: super::engine::StepRecord = self
            .engine
            .journal()
            .step(id, step)?
            .ok_or_else(|| anyhow::anyhow!("step `{step}` of {id} has no stored output"))?;
        Ok(serde_json::from_value(rec.output.unwrap_or_default())?)
    }

    /// Append to the side-effect log.
    pub fn log_effect(
        &self,
        incident: &str,
        key: &str,
        phase: &str,
        detail: &str,
    ) -> Result<(), JournalError> {
        self.engine.journal().log_effect(&EffectEntry {
            incident: incident.to_string(),
            key: key.to_string(),
            phase: phase.to_string(),
            detail: detail.to_string(),
            at: crate::sources::wall_now(),
        })
    }
}
