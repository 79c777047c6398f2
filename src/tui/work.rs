//! The TUI's workflow task: the one place the TUI's commands (prepare an
//! incident, approve its plan) turn into durable workflow runs. It owns the
//! journal while the TUI runs and sends everything back as actions; the
//! screen never touches the journal, git or the network itself.

use super::app::{Action, WorkView};
use crate::model::{Flag, Plan};
use crate::setup::Setup;
use crate::sources::Source;
use crate::workflow::engine::{Engine, StepRecord};
use crate::workflow::incident::{self, Incident, Origin, OriginSource, Outcome, Run};
use crate::workflow::journal::Journal;
use tokio::sync::{mpsc, watch};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open (or find) the incident for this flag and prepare its plan.
    Prepare(Flag),
    /// The operator approved the plan of this incident: run it to the PR.
    Approve(String),
}

/// Everything the task needs from the setup.
pub struct WorkContext {
    origin: Origin,
    data_dir: std::path::PathBuf,
    operator: String,
}

impl WorkContext {
    /// Take what the workflows need from the setup.
    pub fn new(setup: &Setup) -> WorkContext {
        let source = match &setup.source {
            Source::Demo { demo, .. } => OriginSource::Demo {
                seed: crate::sources::demo::DEFAULT_SEED,
                anchor: demo.anchor(),
            },
            _ => OriginSource::Config {
                path: setup.config_path.clone().unwrap_or_default(),
            },
        };
        WorkContext {
            origin: Origin {
                source,
                config: setup.config_path.clone(),
                planner: incident::planner_name(&setup.config),
                agent: setup.config.agent.kind.clone(),
                forge: setup.config.forge.kind.clone(),
            },
            data_dir: setup.data_dir.clone(),
            operator: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
        }
    }
}

fn view(journal: &Journal, id: &str, status: &str) -> Option<WorkView> {
    let inc: Incident = journal.incident(id).ok()??;
    let plan: Option<Plan> = inc.plan_edit.clone().or_else(|| {
        let rec: StepRecord = journal.step(id, "plan").ok()??;
        serde_json::from_value(rec.output?).ok()
    });
    Some(WorkView {
        incident: inc.id.clone(),
        service: inc.service.clone(),
        status: status.to_string(),
        plan,
        todos: vec![],
        log: vec![],
        pr: inc.pr.map(|p| p.url),
        confirm: false,
        approved: inc.approval.is_some(),
    })
}

/// Serve commands until the TUI goes away.
pub async fn serve(
    ctx: WorkContext,
    mut commands: mpsc::Receiver<Command>,
    tx: mpsc::Sender<Action>,
) {
    let journal = match Journal::open(&ctx.data_dir) {
        Ok(j) => j,
        Err(e) => {
            // Without a journal nothing may act; say why on every request.
            while commands.recv().await.is_some() {
                let _ = tx
                    .send(Action::SourceError(format!("cannot run workflows: {e}")))
                    .await;
            }
            return;
        }
    };
    let (_cancel, cancelled) = watch::channel(false);
    let engine = Engine::new(journal.clone(), cancelled);
    let mut events = engine.subscribe();
    let forward = tx.clone();
    let forwarder = tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if forward.send(Action::Workflow(Box::new(e))).await.is_err() {
                return;
            }
        }
    });
    while let Some(cmd) = commands.recv().await {
        let (id, approve) = match cmd {
            Command::Prepare(flag) => {
                match incident::open_or_resume(
                    &journal,
                    &flag,
                    ctx.origin.clone(),
                    crate::sources::wall_now(),
                ) {
                    Ok(inc) => (inc.id, false),
                    Err(e) => {
                        let _ = tx.send(Action::SourceError(e.to_string())).await;
                        continue;
                    }
                }
            }
            Command::Approve(id) => (id, true),
        };
        let inc: Option<Incident> = journal.incident(&id).ok().flatten();
        let Some(inc) = inc else { continue };
        if let Some(v) = view(&journal, &id, "working…") {
            let _ = tx.send(Action::Work(Box::new(v))).await;
        }
        let status = match incident::source_for(&inc.origin) {
            Err(e) => format!("cannot rebuild the incident's source: {e:#}"),
            Ok((source, config)) => {
                let run = Run {
                    engine: &engine,
                    source: &source,
                    config: &config,
                    data_dir: ctx.data_dir.clone(),
                    approve,
                    operator: ctx.operator.clone(),
                };
                match run.drive(&id).await {
                    Ok(Outcome::AwaitingApproval) => {
                        "the plan waits for your approval (a)".to_string()
                    }
                    Ok(Outcome::PrOpened(pr)) => {
                        format!("pull request #{} opened (draft): {}", pr.number, pr.url)
                    }
                    Ok(Outcome::NoChange(why)) => format!("no change: {why}"),
                    Err(e) => format!("needs attention: {e:#}"),
                }
            }
        };
        if let Some(v) = view(&journal, &id, &status) {
            let _ = tx.send(Action::Work(Box::new(v))).await;
        }
    }
    forwarder.abort();
}
