//! The incident workflow: evidence → plan → approval → agent → push → pull
//! request → verify, each a durable step of the [`Engine`].
//!
//! An incident remembers the source, planner, agent and forge it started
//! with, so `medic resume` needs no other flag. One incident per
//! (service, rule) while it is open: a flag that persists reuses it.

use super::engine::{Engine, EventKind, StepError, StepPolicy};
use super::journal::{EffectEntry, Journal, JournalError};
use crate::config::Config;
use crate::detect::Detector;
use crate::model::{Evidence, Flag, Millis, Plan, PullRequest, ServiceId, Todo};
use crate::plan::heuristic;
use crate::sources::demo::{Demo, DemoClock};
use crate::sources::Source;
use crate::triage::context::Signals;
use crate::triage::verdict::Judgement;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Finished with a pull request.
    PrOpened,
    /// Finished without a change (external, load without manifest change, empty diff).
    NoChange,
    /// Stopped by the operator.
    Cancelled,
}

impl Status {
    /// True when nothing more will happen without the operator.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::PrOpened | Status::NoChange | Status::Cancelled
        )
    }

    /// The word shown in lists.
    pub fn word(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::AwaitingApproval => "awaiting approval",
            Status::AwaitingPublish => "diff ready: awaiting go to push",
            Status::NeedsAttention => "needs attention",
            Status::PrOpened => "pr opened",
            Status::NoChange => "no change",
            Status::Cancelled => "cancelled",
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
    },
    /// A config file.
    Config {
        /// Its path.
        path: PathBuf,
    },
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
}

/// A diff larger than this stops the workflow and asks the operator.
pub const MAX_DIFF_BYTES: usize = 200_000;

/// The names of the steps, in order.
pub const STEPS: [&str; 7] = [
    "evidence", "plan", "approval", "agent", "push", "pr", "verify",
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
    let existing: Vec<Incident> = journal.incidents()?;
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
        llm_spent: Default::default(),
        pr: None,
        error: None,
        latest: None,
    };
    journal.put_incident(&inc.id, &inc)?;
    Ok(inc)
}

/// Rebuild the source and config an incident started on.
pub fn source_for(origin: &Origin) -> anyhow::Result<(Source, Config)> {
    let config = match &origin.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    match &origin.source {
        OriginSource::Demo { seed, anchor } => Ok((
            Source::Demo {
                demo: Demo::new(*seed, *anchor),
                clock: DemoClock::new(*anchor, 1.0),
            },
            config,
        )),
        OriginSource::Config { path } => {
            let setup = crate::setup::Setup::resolve(&crate::setup::Globals {
                config: Some(path.clone()),
                speed: 1.0,
                ..Default::default()
            })?;
            Ok((setup.source, config))
        }
    }
}

/// The planner `[llm]` names: `heuristic`, or `llm:<provider>/<model>`.
pub fn planner_name(config: &Config) -> String {
    match config.llm.provider.as_str() {
        "none" => "heuristic".into(),
        p => format!("llm:{p}/{}", config.llm.model.as_deref().unwrap_or("?")),
    }
}

/// Build the LLM client `[llm]` describes; the key comes from the env var it names.
pub fn llm_client(
    config: &Config,
    spent: crate::plan::llm::Spent,
) -> anyhow::Result<crate::plan::llm::LlmClient> {
    use crate::plan::llm::{ApiKey, LlmClient, LlmConfig, Provider};
    let llm = &config.llm;
    let provider = Provider::parse(&llm.provider).ok_or_else(|| {
        anyhow::anyhow!("llm.provider `{}` is not openai or anthropic", llm.provider)
    })?;
    let model = llm.model.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "llm.model is required when llm.provider is `{}`",
            llm.provider
        )
    })?;
    let api_key = match &llm.api_key_env {
        Some(var) => Some(ApiKey::new(std::env::var(var).map_err(|_| {
            anyhow::anyhow!(
                "llm.api_key_env names `{var}`, but that environment variable is not set"
            )
        })?)),
        None => None,
    };
    let base = llm
        .base_url
        .clone()
        .unwrap_or_else(|| provider.default_base_url().to_string());
    let mut cfg = LlmConfig::new(provider, base, model, api_key);
    cfg.json_mode = provider == Provider::OpenAi;
    // One budget per incident: the run stops when it is spent.
    let budget =
        crate::plan::llm::Budget::new(Some(llm.max_tokens_per_incident), llm.max_usd_per_incident)
            .already_spent(spent);
    Ok(LlmClient::new(cfg)?.with_budget(budget))
}

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
}

/// Everything a run needs besides the incident.
pub struct Run<'a> {
    /// The durable step runner.
    pub engine: &'a Engine,
    /// The incident's source.
    pub source: &'a Source,
    /// Its config.
    pub config: &'a Config,
    /// The data dir (checkouts, forge).
    pub data_dir: PathBuf,
    /// Approve the plan without asking (`--yes`).
    pub approve: bool,
    /// Push and open the pull request without stopping at the diff (`--yes`, or `p` in the TUI).
    pub publish: bool,
    /// Who approves.
    pub operator: String,
}

fn policy(timeout_s: u64) -> StepPolicy {
    StepPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(300),
        max_delay: Duration::from_secs(10),
        timeout: Duration::from_secs(timeout_s),
    }
}

/// A test hook: `MEDIC_STEP_DELAY_MS` slows every step so crash tests can
/// kill medic inside each one.
async fn test_delay() {
    if let Some(ms) = std::env::var("MEDIC_STEP_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl Run<'_> {
    fn save(&self, inc: &Incident) -> Result<(), JournalError> {
        self.engine.journal().put_incident(&inc.id, inc)
    }

    /// Drive the incident as far as it can go.
    pub async fn drive(&self, id: &str) -> anyhow::Result<Outcome> {
        let journal = self.engine.journal();
        let mut inc: Incident = journal
            .incident(id)?
            .ok_or_else(|| anyhow::anyhow!("no incident `{id}` in the journal"))?;
        if inc.status != Status::Open && !inc.status.is_closed() {
            // Back at work: the list must not claim it is waiting.
            inc.status = Status::Open;
            self.save(&inc)?;
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
        super::silence::follow(self.engine.journal(), self.config, inc).await;
    }

    async fn steps(&self, inc: &mut Incident) -> anyhow::Result<Outcome> {
        let id = inc.id.clone();
        let engine = self.engine;

        // 1. Evidence and verdict, for the instant the incident opened.
        let triage: Triage = engine
            .step(&id, "evidence", policy(120), |_| async {
                test_delay().await;
                self.triage(inc).await
            })
            .await?;

        // 2. The plan (the operator's edit wins over the generated one).
        let planner_spent = std::sync::Mutex::new(None);
        let generated: Result<Plan, _> = engine
            .step(&id, "plan", policy(300), |_| async {
                test_delay().await;
                if self.config.llm.provider != "none" {
                    // A retry goes on from what the attempts before it spent.
                    let before = planner_spent
                        .lock()
                        .expect("spent lock")
                        .unwrap_or(inc.llm_spent);
                    let client = llm_client(self.config, before)?;
                    let plan = crate::plan::planner::llm_plan(
                        &client,
                        &inc.flag,
                        &triage.judgement,
                        &triage.evidence,
                        6_000,
                    )
                    .await;
                    let spent = client.budget().spent();
                    *planner_spent.lock().expect("spent lock") = Some(spent);
                    engine.emit(
                        &id,
                        EventKind::Log {
                            line: format!(
                                "planner ({}): {} call(s), {} tokens, ${:.4}",
                                planner_name(self.config),
                                spent.calls,
                                spent.tokens,
                                spent.usd
                            ),
                        },
                    )?;
                    return Ok(plan?);
                }
                let plan = heuristic::plan(heuristic::Input {
                    flag: &inc.flag,
                    judgement: &triage.judgement,
                    evidence: &triage.evidence,
                    signals: &triage.signals,
                    limit: triage.limit,
                });
                let unknown = heuristic::unknown_citations(&plan, &triage.evidence);
                anyhow::ensure!(
                    unknown.is_empty(),
                    "the plan cites evidence that does not exist: {}",
                    unknown.join(", ")
                );
                Ok(plan)
            })
            .await;
        // Charged whether the plan came out or not (a failed plan costs too).
        if let Some(spent) = planner_spent.into_inner().expect("spent lock") {
            inc.llm_spent = spent;
            self.save(inc)?;
        }
        let generated = generated?;
        let plan = inc.plan_edit.clone().unwrap_or(generated);

        if plan.mitigations.is_empty() && plan.fix_kind == crate::model::FixKind::None {
            return Ok(Outcome::NoChange(format!(
                "the plan changes nothing ({})",
                plan.title
            )));
        }

        // 3. Approval: journaled the moment it is given, bound to this exact plan.
        let digest = plan_digest(&plan);
        let approved = inc
            .approval
            .as_ref()
            .is_some_and(|a| a.plan_digest == digest);
        if !approved {
            if !self.approve {
                engine.emit(&id, EventKind::AwaitingApproval)?;
                return Ok(Outcome::AwaitingApproval);
            }
            inc.approval = Some(Approval {
                by: self.operator.clone(),
                at: crate::sources::wall_now(),
                plan_digest: digest.clone(),
                publish: self.publish,
            });
            self.save(inc)?;
            engine.emit(
                &id,
                EventKind::Approved {
                    by: self.operator.clone(),
                },
            )?;
        }
        let _: String = engine
            .step(&id, "approval", policy(10), |_| async {
                Ok(digest.clone())
            })
            .await?;
        self.deliver(inc, &plan).await
    }

    async fn triage(&self, inc: &Incident) -> anyhow::Result<Triage> {
        let step = self.config.source.step.0;
        let lookback = self.config.source.lookback.0;
        let mut source = self.source.clone();
        let snap = source.latest(inc.opened_at, lookback, step).await?;
        let mut detector = Detector::new(self.config.rules());
        detector.ingest(&snap);
        let flags = detector.flags(&snap);
        let flag = flags
            .iter()
            .find(|f| f.service == inc.service && f.rule == inc.rule)
            .unwrap_or(&inc.flag);
        // `[logs]`, `[[upstream]]`, `[[deploys]]` beside the metric source.
        let extra = crate::sources::evidence::EvidenceSources::from_config(self.config)
            .map_err(|e| anyhow::anyhow!(e))?;
        let (evidence, signals, judgement) =
            crate::triage::assess(&extra.beside(&source), &snap, &detector, &flags, flag).await;
        let limit = snap
            .services
            .iter()
            .find(|s| s.service == inc.service)
            .and_then(|s| flag.metric.limit().and_then(|l| s.last(l)));
        Ok(Triage {
            evidence,
            signals,
            judgement,
            limit,
        })
    }

    /// Agent, push, pull request, verify: the side effects, each idempotent.
    async fn deliver(&self, inc: &mut Incident, plan: &Plan) -> anyhow::Result<Outcome> {
        use crate::forge::git::{Author, BranchName, Checkout, GitSettings, PushOutcome};
        let id = inc.id.clone();
        let engine = self.engine;
        // Only the parts that exist may act; anything else stops here, before a side effect.
        // medic's own tool loop spends the incident's [llm] budget, after the planner.
        let builtin_llm = match self.config.agent.kind.as_str() {
            "builtin" => Some(llm_client(self.config, inc.llm_spent)?),
            _ => None,
        };
        let agent: Box<dyn crate::agent::CodingAgent> = match &builtin_llm {
            Some(llm) => Box::new(crate::agent::builtin::Builtin {
                llm: llm.clone(),
                limits: crate::agent::builtin::Limits::new(self.config.agent.max_steps),
            }),
            None => crate::agent::for_config(&self.config.agent)?,
        };
        let evidence = self
            .stored::<Triage>(&id, "evidence")
            .ok()
            .map(|t| t.evidence);
        let task = crate::agent::Task::new(
            plan,
            evidence.as_ref(),
            crate::agent::task::DEFAULT_TIME_LIMIT,
            self.config.agent.max_steps,
        );
        let forge = crate::forge::Forge::from_config(&self.config.forge, &self.data_dir)?;
        let settings = GitSettings {
            base: self.config.forge.base.clone(),
            author: Author {
                name: "medic".into(),
                email: "medic@localhost".into(),
            },
            credentials: forge.credentials(),
            max_diff_bytes: MAX_DIFF_BYTES,
            cancel: Default::default(),
        };
        let workdir = self.data_dir.join("work").join(&id);
        let slug = plan
            .mitigations
            .first()
            .map(|m| match m {
                crate::model::Mitigation::RaiseMemoryLimit { .. } => "raise-memory-limit",
                crate::model::Mitigation::SetReplicas { .. } => "scale-out",
                crate::model::Mitigation::RollbackImage { .. } => "rollback",
            })
            .unwrap_or("fix");
        let branch = BranchName::new(&id, &format!("{} {slug}", inc.service))?;

        // 4. The agent, in a fresh checkout on medic's branch. A crash here
        //    redoes the step from a clean clone: nothing was pushed yet.
        let work: Result<AgentWork, _> = engine
            // The agent's own limit stops it (and its children) before the
            // step's. A run costs minutes and tokens: one retry for a
            // transient failure, then the incident needs attention.
            .step(
                &id,
                "agent",
                StepPolicy {
                    max_attempts: 2,
                    ..policy(task.time_limit.as_secs() + 60)
                },
                |_| {
                    let (workdir, settings, branch, url) = (
                        workdir.clone(),
                        settings.clone(),
                        branch.clone(),
                        forge.remote_url(),
                    );
                    let plan = plan.clone();
                    let id = id.clone();
                    let (agent, task) = (&agent, &task);
                    async move {
                        test_delay().await;
                        if workdir.exists() {
                            std::fs::remove_dir_all(&workdir)?;
                        }
                        std::fs::create_dir_all(workdir.parent().unwrap_or(&workdir))?;
                        let checkout = Checkout::clone(&url, &workdir, settings)?;
                        checkout.start_branch(&branch)?;
                        // Events go to the journal as they happen: an external agent runs for minutes.
                        let mut emit_error = None;
                        let report = agent
                            .run(task, checkout.path(), &mut |e| {
                                let kind = match e {
                                    crate::agent::AgentEvent::Todos(t) => todos_event(&t),
                                    crate::agent::AgentEvent::Log(line) => EventKind::Log { line },
                                    crate::agent::AgentEvent::FileChanged(f) => EventKind::Log {
                                        line: format!("changed {f}"),
                                    },
                                    crate::agent::AgentEvent::Finished { summary } => {
                                        EventKind::Log { line: summary }
                                    }
                                    crate::agent::AgentEvent::Failed { error } => EventKind::Log {
                                        line: format!("agent failed: {error}"),
                                    },
                                };
                                if let Err(err) = engine.emit(&id, kind) {
                                    emit_error.get_or_insert(err);
                                }
                            })
                            .await?;
                        if let Some(err) = emit_error {
                            return Err(err.into());
                        }
                        let message = format!("{}\n\nmedic incident {id}", plan.title);
                        let commit = checkout.commit_all(&message)?;
                        let diff = checkout.diff()?;
                        Ok(AgentWork {
                            commit: commit.map(|c| c.to_string()),
                            diff: diff.text.clone(),
                            diff_stat: format!(
                                "{} file(s) changed, {} insertion(s)(+), {} deletion(s)(-)",
                                diff.files, diff.insertions, diff.deletions
                            ),
                            changes: report.changes.clone(),
                            todos: report.todos.clone(),
                        })
                    }
                },
            )
            .await;
        if let Some(llm) = &builtin_llm {
            inc.llm_spent = llm.budget().spent();
            self.save(inc)?;
        }
        let work = work?;
        let Some(commit) = work.commit.clone() else {
            return Ok(Outcome::NoChange(
                "the agent changed nothing (empty diff): no pull request".into(),
            ));
        };

        // 4b. Nothing leaves the machine until the operator has seen the diff
        //     and said go (`p`), unless the approval already covered it (`--yes`).
        let go = inc.approval.as_ref().is_some_and(|a| a.publish)
            || inc.publish_go.as_deref() == Some(commit.as_str());
        if !go {
            if !self.publish {
                engine.emit(
                    &id,
                    EventKind::AwaitingPublish {
                        diff_stat: work.diff_stat.clone(),
                    },
                )?;
                return Ok(Outcome::AwaitingPublish(work.diff_stat.clone()));
            }
            // Journaled before the push, bound to exactly this commit.
            inc.publish_go = Some(commit.clone());
            self.save(inc)?;
        }

        // 5. Push: intent first, then compare the remote ref, then act.
        let pushed: String = engine
            .step(&id, "push", policy(120), |_| {
                let (workdir, settings, branch, commit, id, url) = (
                    workdir.clone(),
                    settings.clone(),
                    branch.clone(),
                    commit.clone(),
                    id.clone(),
                    forge.remote_url(),
                );
                async move {
                    test_delay().await;
                    let key = format!("push:{branch}");
                    self.log_effect(&id, &key, "intent", &commit)?;
                    let checkout = Checkout::open(&workdir, &url, settings)?;
                    if checkout.remote_oid(&branch)?.map(|o| o.to_string()) == Some(commit.clone())
                    {
                        self.log_effect(&id, &key, "adopted", &commit)?;
                        return Ok(commit);
                    }
                    match checkout.push(&branch)? {
                        PushOutcome::Pushed(o) => {
                            self.log_effect(&id, &key, "performed", &o.to_string())?
                        }
                        PushOutcome::AlreadyThere(o) => {
                            self.log_effect(&id, &key, "adopted", &o.to_string())?
                        }
                    }
                    Ok(commit)
                }
            })
            .await?;

        // 6. The pull request: look for an open one from the branch first.
        let triage: Triage = self.stored(&id, "evidence")?;
        let pr: PullRequest = engine
            .step(&id, "pr", policy(120), |_| {
                let branch = branch.clone();
                let id = id.clone();
                let work = work.clone();
                let approved_by = inc
                    .approval
                    .as_ref()
                    .map(|a| a.by.clone())
                    .unwrap_or_default();
                let triage = triage.clone();
                let forge = forge.clone();
                async move {
                    test_delay().await;
                    let key = format!("pr:{branch}");
                    self.log_effect(&id, &key, "intent", branch.as_str())?;
                    if let Some(existing) = forge.find_open_pr(&branch).await? {
                        self.log_effect(&id, &key, "adopted", &existing.number.to_string())?;
                        return Ok(existing);
                    }
                    let ctx = crate::plan::pr_body::PrContext {
                        incident: &id,
                        plan,
                        evidence: &triage.evidence,
                        judgement: &triage.judgement,
                        changes: &work.changes,
                        diff_stat: &work.diff_stat,
                        approved_by: &approved_by,
                    };
                    // Nothing leaves the machine unredacted.
                    let body = crate::triage::redact::redact_str(&crate::plan::pr_body::body(&ctx));
                    let pr = forge
                        .open_pr(crate::forge::NewPullRequest {
                            title: crate::triage::redact::redact_str(&crate::plan::pr_body::title(
                                plan,
                            )),
                            body,
                            branch: branch.clone(),
                            base: self.config.forge.base.clone(),
                            diff: work.diff.clone(),
                        })
                        .await?;
                    self.log_effect(&id, &key, "performed", &pr.number.to_string())?;
                    Ok(pr)
                }
            })
            .await?;

        // 7. Verify: the branch on the remote is our commit and the PR points at it.
        let _: String = engine
            .step(&id, "verify", policy(60), |_| {
                let (workdir, settings, branch, pushed, pr, url) = (workdir.clone(), settings.clone(), branch.clone(), pushed.clone(), pr.clone(), forge.remote_url());
                async move {
                    test_delay().await;
                    let checkout = Checkout::open(&workdir, &url, settings)?;
                    let remote = checkout.remote_oid(&branch)?.map(|o| o.to_string());
                    anyhow::ensure!(remote.as_deref() == Some(pushed.as_str()), "the remote branch {branch} is at {remote:?}, not at medic's commit {pushed}");
                    // medic opens drafts only; an adopted PR a teammate already
                    // marked ready for review is still medic's branch.
                    anyhow::ensure!(pr.branch == branch.as_str(), "pull request #{} is not from {branch}", pr.number);
                    let state = if pr.draft { "open as a draft" } else { "open, ready for review" };
                    Ok(format!("{branch} at {pushed}, PR #{} {state}", pr.number))
                }
            })
            .await?;
        Ok(Outcome::PrOpened(pr))
    }

    fn stored<T: serde::de::DeserializeOwned>(&self, id: &str, step: &str) -> anyhow::Result<T> {
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

/// Forward an agent's to-do list to the event stream.
pub fn todos_event(todos: &[Todo]) -> EventKind {
    EventKind::Todos {
        todos: todos.to_vec(),
    }
}
