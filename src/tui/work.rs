//! The TUI's workflow task: the one place the TUI's commands (prepare an
//! incident, approve its plan) turn into durable workflow runs. It owns the
//! journal while the TUI runs and sends everything back as actions; the
//! screen never touches the journal, git or the network itself.

use super::app::{Action, IncidentRow, WorkView};
use super::resume::{self, UiState};
use crate::model::{Flag, Plan};
use crate::setup::Setup;
use crate::sources::Source;
use crate::workflow::engine::{Engine, EventKind, StepRecord};
use crate::workflow::incident::{self, Incident, Origin, OriginSource, Outcome, Parts, Run};
use crate::workflow::incident::{AgentWork, Status};
use crate::workflow::journal::Journal;
use tokio::sync::{mpsc, watch};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open (or find) the incident for this flag and prepare its plan.
    Prepare(Flag),
    /// The operator approved the plan of this incident: run the agent.
    Approve(String),
    /// The operator saw the diff and said go: push and open the pull request.
    Publish(String),
    /// The operator said go and confirmed the held-back paths on the second
    /// screen: push them too and open the pull request.
    PublishHeld(String),
    /// Show this incident (from `:incidents`, or the saved UI state); a run
    /// that was interrupted is picked up again.
    Show(String),
    /// List the journal's incidents.
    ListIncidents,
    /// The operator rejected the plan: forget it and make a new one.
    Regenerate(String),
    /// The operator's edit of the plan (Markdown, as written in the editor).
    EditPlan {
        /// The incident.
        incident: String,
        /// The plan as edited.
        markdown: String,
    },
    /// Stop the running workflow of this incident (handled out of band: see [`Controls`]).
    Cancel(String),
}

/// The side channels that must not wait behind a running workflow.
pub struct Controls {
    /// UI state to save (the latest wins).
    pub ui: mpsc::Receiver<UiState>,
    /// Cancel requests.
    pub cancel: mpsc::Receiver<String>,
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
    let work: Option<AgentWork> = journal
        .step::<StepRecord>(id, "agent")
        .ok()
        .flatten()
        .and_then(|rec| serde_json::from_value(rec.output?).ok());
    Some(WorkView {
        incident: inc.id.clone(),
        service: inc.service.clone(),
        status: status.to_string(),
        plan,
        todos: work.as_ref().map(|w| w.todos.clone()).unwrap_or_default(),
        held: work
            .as_ref()
            .filter(|w| w.commit.is_some() && inc.held_confirmed != w.commit)
            .map(|w| w.held.clone())
            .unwrap_or_default(),
        held_confirm: false,
        log: vec![],
        pr: inc.pr.map(|p| p.url),
        confirm: false,
        approved: inc.approval.is_some(),
        diff: work.map(|w| w.diff),
    })
}

/// Serve commands until the TUI goes away. First tells the TUI where the
/// operator left it (the UI state saved in the journal).
pub async fn serve(
    ctx: WorkContext,
    mut commands: mpsc::Receiver<Command>,
    controls: Controls,
    tx: mpsc::Sender<Action>,
) {
    let journal = match Journal::open(&ctx.data_dir) {
        Ok(j) => j,
        Err(e) => {
            let _ = tx.send(Action::Restore(None)).await;
            // Without a journal nothing may act; say why on every request.
            while commands.recv().await.is_some() {
                let _ = tx
                    .send(Action::SourceError(format!("cannot run workflows: {e}")))
                    .await;
            }
            return;
        }
    };
    let saved: Option<UiState> = journal.ui(resume::KEY).ok().flatten();
    let _ = tx.send(Action::Restore(saved.map(Box::new))).await;
    let _ = tx.send(Action::OpenPullRequests(open_prs(&journal))).await;
    let (cancel, cancelled) = watch::channel(false);
    let cancel = std::sync::Arc::new(cancel);
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
    let side = tokio::spawn(side_channels(journal.clone(), controls, cancel.clone()));
    while let Some(cmd) = commands.recv().await {
        let (id, approve, publish, confirm_held) = match cmd {
            Command::Prepare(flag) => {
                match incident::open_or_resume(
                    &journal,
                    &flag,
                    ctx.origin.clone(),
                    crate::sources::wall_now(),
                ) {
                    Ok(inc) => (inc.id, false, false, false),
                    Err(e) => {
                        let _ = tx.send(Action::SourceError(e.to_string())).await;
                        continue;
                    }
                }
            }
            Command::Approve(id) => (id, true, false, false),
            Command::Publish(id) => (id, false, true, false),
            Command::PublishHeld(id) => (id, false, true, true),
            Command::Show(id) => {
                let Some(inc) = journal.incident::<Incident>(&id).ok().flatten() else {
                    continue;
                };
                let status = inc.status.word().to_string();
                if let Some(v) = view(&journal, &id, &status) {
                    let _ = tx.send(Action::Work(Box::new(v))).await;
                }
                // Reattach: an approved run that was cut off goes on from its last step.
                if inc.status == Status::Open && inc.approval.is_some() {
                    (id, false, false, false)
                } else {
                    continue;
                }
            }
            Command::ListIncidents => {
                let _ = tx.send(Action::Incidents(incident_rows(&journal))).await;
                continue;
            }
            Command::Regenerate(id) => {
                if let Err(e) = forget_plan(&journal, &engine, &id) {
                    let _ = tx.send(Action::SourceError(e.to_string())).await;
                    continue;
                }
                (id, false, false, false)
            }
            Command::EditPlan { incident, markdown } => {
                match save_edit(&journal, &engine, &incident, &markdown) {
                    Ok(()) => {
                        if let Some(v) = view(
                            &journal,
                            &incident,
                            "your edit is saved; approve (a) when ready",
                        ) {
                            let _ = tx.send(Action::Work(Box::new(v))).await;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Action::SourceError(e)).await;
                    }
                }
                continue;
            }
            // Cancels travel on their own channel; one arriving here is late and harmless.
            Command::Cancel(_) => continue,
        };
        let inc: Option<Incident> = journal.incident(&id).ok().flatten();
        let Some(inc) = inc else { continue };
        if let Some(v) = view(&journal, &id, "working…") {
            let _ = tx.send(Action::Work(Box::new(v))).await;
        }
        let _ = cancel.send(false);
        let status = match Parts::for_origin(&inc.origin, &ctx.data_dir) {
            Err(e) => format!("cannot rebuild the incident's source: {e:#}"),
            Ok(parts) => {
                let run = Run {
                    engine: &engine,
                    parts: &parts,
                    approve,
                    publish,
                    confirm_held,
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
                    Ok(Outcome::AwaitingPublish(stat)) => {
                        format!("change ready · d diff · p push and open the PR · {stat}")
                    }
                    Err(e) if engine.cancelled() => format!("cancelled by you ({e})"),
                    Err(e) => format!("needs attention: {e:#}"),
                }
            }
        };
        if let Some(v) = view(&journal, &id, &status) {
            let _ = tx.send(Action::Work(Box::new(v))).await;
        }
        let _ = tx.send(Action::OpenPullRequests(open_prs(&journal))).await;
    }
    forwarder.abort();
    let _ = side.await;
}

/// Save UI state and pass cancels on while a workflow runs in the main loop.
async fn side_channels(
    journal: Journal,
    mut controls: Controls,
    cancel: std::sync::Arc<watch::Sender<bool>>,
) {
    loop {
        tokio::select! {
            Some(ui) = controls.ui.recv() => {
                // Only the latest state matters: skip any queued behind it.
                let mut ui = ui;
                while let Ok(newer) = controls.ui.try_recv() {
                    ui = newer;
                }
                if journal.put_ui(resume::KEY, &ui).is_ok() {
                    let _ = journal.flush();
                }
            }
            Some(_id) = controls.cancel.recv() => {
                let _ = cancel.send(true);
            }
            else => return,
        }
    }
}

/// The services whose incident has an open pull request, for the fleet view.
fn open_prs(journal: &Journal) -> Vec<(String, u64)> {
    let list: Vec<Incident> = journal
        .incidents_readable()
        .map(|l| l.records)
        .unwrap_or_default();
    list.into_iter()
        .filter(|i| i.status == Status::PrOpened)
        .filter_map(|i| Some((i.service.0, i.pr?.number)))
        .collect()
}

/// The `:incidents` list, newest first.
fn incident_rows(journal: &Journal) -> Vec<IncidentRow> {
    let mut list: Vec<Incident> = journal
        .incidents_readable()
        .map(|l| l.records)
        .unwrap_or_default();
    list.sort_by_key(|i| std::cmp::Reverse(i.opened_at));
    list.into_iter()
        .map(|i| IncidentRow {
            id: i.id,
            service: i.service.0,
            rule: i.rule,
            status: i.status.word().to_string(),
            pr: i.pr.map(|p| p.url),
        })
        .collect()
}

/// The operator rejected the plan: drop it (and any edit) so the next run makes a new one.
fn forget_plan(journal: &Journal, engine: &Engine, id: &str) -> anyhow::Result<()> {
    let mut inc: Incident = journal
        .incident(id)?
        .ok_or_else(|| anyhow::anyhow!("no incident `{id}` in the journal"))?;
    anyhow::ensure!(
        inc.approval.is_none(),
        "{id}: the plan is approved; cancel the run before asking for a new plan"
    );
    inc.plan_edit = None;
    journal.put_incident(id, &inc)?;
    journal.remove_step(id, "plan")?;
    engine.emit(
        id,
        EventKind::Log {
            line: "plan rejected: making a new one".into(),
        },
    )?;
    Ok(())
}

/// Journal the operator's edit at once; a plan that does not parse is refused with the reason.
fn save_edit(journal: &Journal, engine: &Engine, id: &str, markdown: &str) -> Result<(), String> {
    let plan = crate::plan::markdown::parse(markdown)
        .map_err(|e| format!("your edit was not saved: {e}"))?;
    let mut inc: Incident = journal
        .incident(id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no incident `{id}` in the journal"))?;
    if inc.approval.is_some() {
        return Err(format!(
            "{id}: the plan is approved; edits are no longer taken"
        ));
    }
    inc.plan_edit = Some(plan);
    journal.put_incident(id, &inc).map_err(|e| e.to_string())?;
    let _ = engine.emit(
        id,
        EventKind::Log {
            line: "plan edited by the operator".into(),
        },
    );
    Ok(())
}
