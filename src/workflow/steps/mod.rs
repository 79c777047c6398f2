//! The incident workflow's steps, one module each. A step is a function of
//! the [`Run`] (engine and parts), the incident and what earlier steps
//! produced; the durable ones go through [`crate::workflow::engine::Engine::step`],
//! so a finished step is never recomputed.

pub mod agent;
pub mod approval;
pub mod evidence;
pub mod merged;
pub mod plan;
pub mod pr;
pub mod push;
pub mod verify;
pub mod watch;

use super::engine::{EventKind, StepPolicy};
use super::incident::{AgentWork, Incident, Triage};
use super::run::Run;
use crate::forge::git::{BranchName, GitSettings};
use crate::forge::Forge;
use crate::model::Plan;
use crate::plan::llm::LlmClient;
use std::path::PathBuf;
use std::time::Duration;

/// The retry policy of a step with this wall-clock limit.
pub fn policy(timeout_s: u64) -> StepPolicy {
    StepPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(300),
        max_delay: Duration::from_secs(10),
        timeout: Duration::from_secs(timeout_s),
    }
}

/// A test hook: `MEDIC_STEP_DELAY_MS` slows every step so crash tests can
/// kill medic inside each one.
pub async fn test_delay() {
    if let Some(ms) = std::env::var("MEDIC_STEP_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// What the side-effect steps (agent, push, pull request, verify) share,
/// made once after the approval and before any side effect.
pub struct Delivery {
    /// The LLM client of the builtin agent (it spends the incident's budget).
    pub llm: Option<LlmClient>,
    /// The coding agent.
    pub agent: Box<dyn crate::agent::CodingAgent>,
    /// The agent's task: the approved plan with the evidence.
    pub task: crate::agent::Task,
    /// The forge.
    pub forge: Forge,
    /// How git talks to the forge.
    pub git: GitSettings,
    /// The incident's checkout.
    pub workdir: PathBuf,
    /// medic's branch for the incident.
    pub branch: BranchName,
}

impl Delivery {
    /// Build the agent, task, forge and branch; fails before any side effect
    /// when one of them cannot exist.
    pub fn new(run: &Run<'_>, inc: &Incident, plan: &Plan) -> anyhow::Result<Delivery> {
        let parts = run.parts;
        // medic's own tool loop spends the incident's [llm] budget, after the planner.
        let llm = match parts.agent_uses_llm() {
            true => Some(parts.llm.client(inc.llm_spent)?),
            false => None,
        };
        let agent = parts.agent(llm.as_ref())?;
        let evidence = run
            .stored::<Triage>(&inc.id, "evidence")
            .ok()
            .map(|t| t.evidence);
        let mut task = crate::agent::Task::new(
            plan,
            evidence.as_ref(),
            crate::agent::task::DEFAULT_TIME_LIMIT,
            parts.settings.agent.max_steps,
        );
        // The incident's own service bounds what a mitigation may touch,
        // whether or not the evidence step's output could be read.
        task.service = Some(inc.service.clone());
        task.runaway = crate::agent::runaway::RunawayLimits::from_config(&parts.settings.agent);
        let forge = parts.forge()?;
        let git = parts.git_settings(&forge);
        let workdir = parts.workdir(&inc.id);
        let branch = BranchName::new(&inc.id, &format!("{} {}", inc.service, slug(plan)))?;
        Ok(Delivery {
            llm,
            agent,
            task,
            forge,
            git,
            workdir,
            branch,
        })
    }
}

/// The branch name's words for what the plan does.
fn slug(plan: &Plan) -> &'static str {
    plan.mitigations
        .first()
        .map(|m| match m {
            crate::model::Mitigation::RaiseMemoryLimit { .. } => "raise-memory-limit",
            crate::model::Mitigation::SetReplicas { .. } => "scale-out",
            crate::model::Mitigation::RollbackImage { .. } => "rollback",
        })
        .unwrap_or("fix")
}

/// Nothing leaves the machine until the operator has seen the diff and said
/// go (`p`), unless the approval already covered it (`--yes`), and, when
/// the change policy held paths back, confirmed those on the second screen
/// (`y`, `--confirm-held`). True: go on and push; false: the run stops and
/// waits (the event says so).
pub fn publish_go(
    run: &Run<'_>,
    inc: &mut Incident,
    work: &AgentWork,
    commit: &str,
) -> anyhow::Result<bool> {
    let go = inc.approval.as_ref().is_some_and(|a| a.publish)
        || inc.publish_go.as_deref() == Some(commit);
    if !go {
        if !run.publish {
            run.engine.emit(
                &inc.id,
                EventKind::AwaitingPublish {
                    diff_stat: work.diff_stat.clone(),
                },
            )?;
            return Ok(false);
        }
        // Journaled before the push, bound to exactly this commit.
        inc.publish_go = Some(commit.to_string());
        run.save(inc)?;
    }
    // The change policy's second, explicit yes: never implied by the first.
    if !work.held.is_empty() && inc.held_confirmed.as_deref() != Some(commit) {
        if !run.confirm_held {
            run.engine.emit(
                &inc.id,
                EventKind::HeldBack {
                    held: work.held.clone(),
                },
            )?;
            return Ok(false);
        }
        // Journaled before the push, bound to exactly this commit.
        inc.held_confirmed = Some(commit.to_string());
        run.save(inc)?;
    }
    Ok(true)
}

/// A forge error as a step's error: one no retry can change (refs moved
/// under medic, an untrusted checkout, a missing base) is not retried.
pub fn forge_error(e: crate::forge::ForgeError) -> anyhow::Error {
    if e.is_permanent() {
        crate::workflow::engine::Permanent(e.to_string()).into()
    } else {
        e.into()
    }
}
