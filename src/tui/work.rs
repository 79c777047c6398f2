//! The TUI's workflow task: the one place the TUI's commands (prepare an
//! incident, approve its plan) turn into durable workflow runs. It owns the
//! journal while the TUI runs and sends everything back as actions; the
//! screen never touches the journal, git or the network itself.

pub use super::action::Command;
use super::action::{Action, IncidentRow, UiState, WorkView};
use super::resume;
use crate::model::Plan;
use crate::setup::Setup;
use crate::sources::Source;
use crate::workflow::engine::{Engine, EventKind, StepRecord};
use crate::workflow::incident::{self, Incident, Origin, OriginSource, Outcome, Parts, Run};
use crate::workflow::incident::{AgentWork, Status};
use crate::workflow::journal::Journal;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The side channels that must not wait behind a running workflow.
pub struct Controls {
    /// UI state to save (the latest wins).
    pub ui: mpsc::Receiver<UiState>,
    /// Cancel requests, by incident id (never dropped).
    pub cancel: mpsc::UnboundedReceiver<String>,
}

/// The runs in flight, one task per incident, each with its own cancel.
#[derive(Default)]
struct Runs {
    by_incident: std::sync::Mutex<HashMap<String, Running>>,
}

/// One incident's runs: a cancel signal for each run not finished yet (its
/// own, so a later command cannot clear it) and the latest task.
struct Running {
    cancels: Vec<watch::Sender<bool>>,
    last: Option<tokio::task::JoinHandle<()>>,
}

impl Runs {
    /// Cancel the named incident's run (and only it).
    fn cancel(&self, id: &str) {
        if let Some(r) = self.by_incident.lock().expect("runs").get(id) {
            for c in &r.cancels {
                let _ = c.send(true);
            }
        }
    }
}

/// What one run needs, moved into its task.
struct Job {
    journal: Journal,
    engine: Engine,
    data_dir: std::path::PathBuf,
    operator: String,
    tx: mpsc::Sender<Action>,
    id: String,
    approve: bool,
    publish: bool,
    /// The held-back paths were confirmed on the second screen.
    confirm_held: bool,
    seen: Option<String>,
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
            Source::Demo { demo, clock } => OriginSource::Demo {
                seed: crate::sources::demo::DEFAULT_SEED,
                anchor: demo.anchor(),
                speed: clock.speed,
                started: Some(clock.wall_start()),
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
                settings: incident::settings_snapshot(setup.config_path.as_deref()),
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
        cancelled: inc.status == Status::Cancelled,
        activity: journal
            .events::<crate::workflow::engine::WorkflowEvent>(id)
            .map(|e| super::activity::from_events(&e))
            .unwrap_or_default(),
        cost: cost_line(inc.llm_spent),
    })
}

/// The incident's LLM spend as the work screen shows it beside the plan
/// and the agent (`None` before the first call).
pub fn cost_line(spent: crate::plan::llm::Spent) -> Option<String> {
    (spent.calls > 0).then(|| {
        let usd = if spent.usd.is_finite() && spent.usd > 0.0 {
            format!("${:.4}", spent.usd)
        } else {
            "no price".to_string()
        };
        format!(
            "LLM {} call(s) · {} tokens · {usd}",
            spent.calls, spent.tokens
        )
    })
}

/// Serve commands until the TUI goes away. First tells the TUI where the
/// operator left it (the UI state saved in the journal).
pub async fn serve(
    ctx: WorkContext,
    mut commands: mpsc::UnboundedReceiver<Command>,
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
    // Each incident's run gets its own cancel (Engine::with_cancel); this one never fires.
    let (_never, not_cancelled) = watch::channel(false);
    let engine = Engine::new(journal.clone(), not_cancelled);
    let mut events = engine.subscribe();
    let forward = tx.clone();
    let forwarder = tokio::spawn(async move {
        // A burst never ends the stream: a lag says how many lines were skipped.
        while let Some(e) = crate::workflow::engine::next_event(&mut events).await {
            if forward.send(Action::Workflow(Box::new(e))).await.is_err() {
                return;
            }
        }
    });
    let runs = Arc::new(Runs::default());
    let side = tokio::spawn(side_channels(
        journal.clone(),
        controls,
        runs.clone(),
        tx.clone(),
    ));
    while let Some(cmd) = commands.recv().await {
        let mut seen = None;
        // Pre-flight (area "cli" exposes `preflight(...) -> Result<(), PreflightError>`):
        // the call for the TUI's `p` (Prepare) and `a` (Approve) belongs here,
        // before a run starts, answering `Action::Notice(one line)` on Err.
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
            Command::Approve {
                incident,
                plan_digest,
            } => {
                seen = Some(plan_digest);
                (incident, true, false, false)
            }
            Command::Publish(id) => (id, false, true, false),
            Command::PublishHeld(id) => (id, false, true, true),
            Command::Merge(id) => {
                let merged = match journal.incident::<Incident>(&id) {
                    Ok(Some(inc)) => {
                        crate::commands::merge::merge_local(&journal, &ctx.data_dir, &inc).await
                    }
                    Ok(None) => Err(anyhow::anyhow!("no incident `{id}` in the journal")),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = merged {
                    let _ = tx.send(Action::SourceError(format!("{e:#}"))).await;
                    continue;
                }
                (id, false, false, false)
            }
            Command::Show(id) => {
                let Some(inc) = journal.incident::<Incident>(&id).ok().flatten() else {
                    continue;
                };
                let status = inc.status.word().to_string();
                if let Some(v) = view(&journal, &id, &status) {
                    let _ = tx.send(Action::Work(Box::new(v))).await;
                }
                // Reattach: an approved run that was cut off goes on from its last step.
                if inc.status.is_running() && inc.approval.is_some() {
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
                    // The edit's fault, not the source's: a notice, never "STALE".
                    Err(e) => {
                        let _ = tx.send(Action::Notice(e)).await;
                    }
                }
                continue;
            }
            // Cancels travel on their own channel; one arriving here is late and harmless.
            Command::Cancel(_) => continue,
            Command::FlagsNow { flags, present } => {
                match incident::resolve_cleared(&journal, &flags, &present) {
                    Ok(resolved) if !resolved.is_empty() => {
                        let _ = tx.send(Action::OpenPullRequests(open_prs(&journal))).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Action::SourceError(e.to_string())).await;
                    }
                }
                continue;
            }
        };
        start(
            &runs,
            Job {
                journal: journal.clone(),
                engine: engine.clone(),
                data_dir: ctx.data_dir.clone(),
                operator: ctx.operator.clone(),
                tx: tx.clone(),
                id,
                approve,
                publish,
                confirm_held,
                seen,
            },
        );
    }
    // The TUI is gone: let the runs in flight reach their next journaled step.
    let pending: Vec<_> = runs
        .by_incident
        .lock()
        .expect("runs")
        .values_mut()
        .filter_map(|r| r.last.take())
        .collect();
    for task in pending {
        let _ = task.await;
    }
    forwarder.abort();
    let _ = side.await;
}

/// Start the incident's run in its own task, after the run before it of the
/// same incident (two runs of one incident never overlap; other incidents
/// never wait). A cancel reaches every run of the incident not finished yet;
/// a new command starts with its own, uncancelled signal and never clears
/// the cancel of a run still in flight.
fn start(runs: &Arc<Runs>, job: Job) {
    let id = job.id.clone();
    queue(runs, &id, move |cancelled| run_one(job, cancelled));
}

/// Run `task` for incident `id` after the incident's run before it, with a
/// cancel signal of its own.
fn queue<F, Fut>(runs: &Arc<Runs>, id: &str, task: F)
where
    F: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut map = runs.by_incident.lock().expect("runs");
    let entry = map.entry(id.to_string()).or_insert_with(|| Running {
        cancels: Vec::new(),
        last: None,
    });
    // A finished run has dropped its receiver.
    entry.cancels.retain(|c| !c.is_closed());
    let (cancel, cancelled) = watch::channel(false);
    entry.cancels.push(cancel);
    let previous = entry.last.take();
    entry.last = Some(tokio::spawn(async move {
        if let Some(previous) = previous {
            let _ = previous.await;
        }
        task(cancelled).await;
    }));
}

/// The operator's cancel, once the run it stopped (if any) has ended: the
/// incident is journaled cancelled, so no later `p` pushes it; an incident
/// whose pull request is open stays as it is (medic does not undo a PR).
async fn settle_cancel(journal: Journal, tx: mpsc::Sender<Action>, id: String) {
    let Some(mut inc) = journal.incident::<Incident>(&id).ok().flatten() else {
        return;
    };
    let status = match inc.status {
        Status::PrOpened | Status::Resolved => {
            "the pull request is open: close it on the forge; medic does not undo it".to_string()
        }
        _ => {
            if inc.status != Status::Cancelled {
                inc.status = Status::Cancelled;
                if let Err(e) = journal.put_incident(&id, &inc) {
                    let _ = tx
                        .send(Action::SourceError(format!(
                            "cancel of {id} not journaled: {e}; press c again"
                        )))
                        .await;
                    return;
                }
                let _ = journal.flush_async().await;
            }
            "cancelled by you: medic pushes nothing for this incident".to_string()
        }
    };
    if let Some(v) = view(&journal, &id, &status) {
        let _ = tx.send(Action::Work(Box::new(v))).await;
    }
}

/// One run of one incident, reported back as actions.
async fn run_one(job: Job, cancelled: watch::Receiver<bool>) {
    let Job {
        journal,
        engine,
        data_dir,
        operator,
        tx,
        id,
        approve,
        publish,
        confirm_held,
        seen,
    } = job;
    let engine = engine.with_cancel(cancelled);
    let inc: Option<Incident> = journal.incident(&id).ok().flatten();
    let Some(inc) = inc else { return };
    if inc.status == Status::Cancelled {
        // A cancel is final: nothing runs, nothing is pushed.
        let status = "cancelled by you: medic pushes nothing for this incident";
        if let Some(v) = view(&journal, &id, status) {
            let _ = tx.send(Action::Work(Box::new(v))).await;
        }
        return;
    }
    if let Some(v) = view(&journal, &id, "working…") {
        let _ = tx.send(Action::Work(Box::new(v))).await;
    }
    let status = match Parts::for_origin(&inc.origin, &data_dir) {
        Err(e) => format!("cannot rebuild the incident's source: {e:#}"),
        Ok(parts) => {
            let run = Run {
                engine: &engine,
                parts: &parts,
                approve,
                publish,
                confirm_held,
                operator,
                seen,
            };
            match run.drive(&id).await {
                Ok(Outcome::AwaitingApproval) => "the plan waits for your approval (a)".to_string(),
                Ok(Outcome::PrOpened(pr)) => {
                    format!("pull request #{} opened (draft): {}", pr.number, pr.url)
                }
                Ok(Outcome::NoChange(why)) => format!("no change: {why}"),
                Ok(Outcome::Watched { pr, watched }) => {
                    format!("{} · pull request #{}", watched.line(), pr.number)
                }
                Ok(Outcome::AwaitingPublish(stat)) => {
                    format!("change ready: review the diff, then push · {stat}")
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

/// Save UI state and pass cancels on to the incident they name.
async fn side_channels(
    journal: Journal,
    mut controls: Controls,
    runs: Arc<Runs>,
    tx: mpsc::Sender<Action>,
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
                    let _ = journal.flush_async().await;
                }
            }
            Some(id) = controls.cancel.recv() => {
                runs.cancel(&id);
                let (journal, tx, inc) = (journal.clone(), tx.clone(), id.clone());
                queue(&runs, &id, move |_| settle_cancel(journal, tx, inc));
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
            status: i.status_line(),
            id: i.id,
            service: i.service.0,
            rule: i.rule,
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
