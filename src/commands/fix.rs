//! `medic fix`, `medic resume` and `medic incidents`: the incident workflow
//! headless, printing one line per event; resumable after any crash.

use crate::detect::Detector;
use crate::model::AlertState;
use crate::setup::{Setup, UsageError};
use crate::sources::Source;
use crate::terminal;
use crate::units;
use crate::workflow::engine::{Engine, EventKind, StepRecord, StepStatus, WorkflowEvent};
use crate::workflow::incident::{
    self, Incident, Origin, OriginSource, Outcome, Parts, Run, Status, STEPS,
};
use crate::workflow::journal::{self, Journal};
use std::io::Write;
use tokio::sync::watch;

fn operator() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "operator".into())
}

/// One event as a progress line.
pub fn event_line(e: &WorkflowEvent) -> String {
    let what = match &e.kind {
        EventKind::StepStarted { step, attempt } if *attempt > 1 => {
            format!("▶ {step} (attempt {attempt})")
        }
        EventKind::StepStarted { step, .. } => format!("▶ {step}"),
        EventKind::StepFinished {
            step,
            replayed: true,
        } => format!("✔ {step} (already done)"),
        EventKind::StepFinished { step, .. } => format!("✔ {step}"),
        EventKind::StepRetrying {
            step,
            attempt,
            delay_ms,
            error,
        } => {
            format!(
                "↻ {step} failed (attempt {attempt}), retrying in {}: {error}",
                units::duration(*delay_ms as i64)
            )
        }
        EventKind::StepFailed { step, error } => {
            format!("✖ {step} failed; needs attention: {error}")
        }
        EventKind::AwaitingApproval => "▲ the plan waits for approval".to_string(),
        EventKind::AwaitingPublish { diff_stat } => {
            format!("▲ the change ({diff_stat}) waits for your go to push")
        }
        EventKind::HeldBack { held } => {
            let mut out = format!(
                "▲ {} path(s) held back by the change policy; nothing is pushed until you confirm them (--confirm-held):",
                held.len()
            );
            // Paths come from the agent: control characters are shown escaped.
            let shown = |s: &str| -> String {
                s.chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            };
            for h in held {
                out.push_str(&format!("\n      {}: {}", shown(&h.path), shown(&h.why)));
            }
            out
        }
        EventKind::Approved { by } => format!("✔ plan approved by {by}"),
        EventKind::Todos { todos } => {
            let done = todos
                .iter()
                .filter(|t| t.status == crate::model::TodoStatus::Completed)
                .count();
            format!("☐ to-do list: {done}/{} done", todos.len())
        }
        // A multi-line log (the agent's summary) goes on as `│` continuation
        // rows (see `print_event`), never as rows of their own.
        EventKind::Log { line } => format!("  {line}"),
        EventKind::Finished { outcome } => format!("■ {outcome}"),
        EventKind::Cancelled => "■ cancelled".to_string(),
    };
    format!(
        "{} {}  {what}",
        units::clock(e.at),
        terminal::one_line(&e.incident)
    )
}

/// One event as the rows printed for it, each without control characters:
/// its first line, then any further lines (a log holding newlines)
/// indented under a `│`, so none can pass for an event of its own.
pub fn event_rows(e: &WorkflowEvent) -> Vec<String> {
    let line = event_line(e);
    let mut lines = line.split('\n');
    let first = terminal::one_line(lines.next().unwrap_or_default()).into_owned();
    std::iter::once(first)
        .chain(lines.map(|l| format!("{:6}│ {}", "", terminal::one_line(l))))
        .collect()
}

fn print_event(e: &WorkflowEvent) -> std::io::Result<()> {
    let mut out = terminal::stdout();
    for row in event_rows(e) {
        out.row(format_args!("{row}"))?;
    }
    out.flush()
}

/// Print the engine's events until the sender goes away.
/// Prints events as they come; once `done` fires, prints what is still
/// queued (the outcome line among it) and stops.
fn print_events(
    engine: &Engine,
    mut done: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let mut rx = engine.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                e = crate::workflow::engine::next_event(&mut rx) => match e {
                    Some(e) => { let _ = print_event(&e); }
                    None => return,
                },
                _ = &mut done => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(e) => {
                    let _ = print_event(&e);
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    let _ = terminal::stdout().row(format_args!(
                        "{n} event line(s) skipped here (this view fell behind); the journal keeps them all"
                    ));
                }
                Err(_) => return,
            }
        }
    })
}

fn new_engine(journal: Journal) -> (Engine, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    (Engine::new(journal, rx), tx)
}

/// Cancel the workflow on Ctrl-C: the step in flight stops, the journal keeps the rest.
fn cancel_on_ctrl_c(cancel: watch::Sender<bool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel.send(true);
        }
    });
}

async fn drive(run: &Run<'_>, id: &str) -> anyhow::Result<Outcome> {
    let (done, stop) = tokio::sync::oneshot::channel();
    let printer = print_events(run.engine, stop);
    let result = run.drive(id).await;
    // Everything the run emitted is queued by now: print it all, then stop.
    let _ = done.send(());
    let _ = printer.await;
    result
}

/// `medic fix SERVICE [--yes] [--confirm-held]`: `confirm_held` is the
/// second, explicit yes for paths the change policy holds back.
pub async fn fix(
    setup: Setup,
    service: &str,
    yes: bool,
    confirm_held: bool,
    config_path: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    // The operator turned the agent sandbox off: say so, in red, every run.
    if let Some(w) = crate::agent::jail::warning(&setup.config.agent) {
        // medic's own words, escaped, then medic's own colour codes around them.
        let line = crate::agent::jail::in_red(&terminal::one_line(&w));
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
    let journal = Journal::open(&setup.data_dir)?;
    let origin_source = match (&setup.source, &config_path) {
        (Source::Demo { demo, clock }, _) => OriginSource::Demo {
            seed: crate::sources::demo::DEFAULT_SEED,
            anchor: demo.anchor(),
            speed: clock.speed,
            started: Some(clock.wall_start()),
        },
        (_, Some(path)) => OriginSource::Config {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
        },
        (_, None) => {
            return Err(UsageError(
                "a real source needs --config so `medic resume` can find it again".into(),
            )
            .into())
        }
    };
    let origin = Origin {
        source: origin_source,
        config: config_path
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        planner: incident::planner_name(&setup.config),
        agent: setup.config.agent.kind.clone(),
        forge: setup.config.forge.kind.clone(),
        settings: incident::settings_snapshot(config_path.as_deref()),
    };
    // An open incident for this service continues where it stopped.
    let open: Vec<Incident> = readable_incidents(&journal)?;
    let existing = open
        .into_iter()
        .find(|i| i.service.0 == service && !i.status.is_closed());
    let inc = match existing {
        Some(inc) => {
            terminal::stdout().row(format_args!(
                "continuing incident {} ({})",
                inc.id,
                inc.status.word()
            ))?;
            inc
        }
        None => {
            let mut src = setup.source.clone();
            let now = src.now();
            let snap = src.latest(now, setup.lookback(), setup.step()).await?;
            let mut detector = Detector::new(setup.rules.clone());
            detector.ingest(&snap);
            let flags = detector.flags(&snap);
            // A pull request's episode whose flag cleared is over.
            let present = incident::with_data(&snap);
            incident::resolve_cleared(&journal, &flags, &present)?;
            let Some(flag) = flags
                .iter()
                .find(|f| f.service.0 == service && f.state != AlertState::Resolved)
            else {
                let flagged: Vec<String> = flags.iter().map(|f| f.service.0.clone()).collect();
                return Err(UsageError(format!(
                    "`{service}` is not flagged now, so there is nothing to fix (flagged: {})",
                    if flagged.is_empty() {
                        "none".to_string()
                    } else {
                        flagged.join(", ")
                    }
                ))
                .into());
            };
            let inc = incident::open_or_resume(&journal, flag, origin, snap.at)?;
            terminal::stdout().row(format_args!(
                "opened incident {} for {} ({})",
                inc.id, service, flag.rule
            ))?;
            inc
        }
    };
    let parts = Parts::for_origin(&inc.origin, &setup.data_dir)?;
    let (engine, cancel) = new_engine(journal);
    cancel_on_ctrl_c(cancel);
    let run = Run {
        engine: &engine,
        parts: &parts,
        approve: yes,
        publish: yes,
        confirm_held,
        operator: operator(),
        seen: None,
    };
    let outcome = drive(&run, &inc.id).await?;
    if let Outcome::AwaitingPublish(stat) = &outcome {
        if stat.contains(crate::workflow::run::HELD_NOTE) {
            terminal::stdout().row(format_args!("the change is committed locally ({stat}); read the held paths in the diff, then push with: medic fix {service} --yes --confirm-held"))?;
        } else {
            terminal::stdout().row(format_args!("the change is committed locally ({stat}); push it and open the pull request with: medic fix {service} --yes"))?;
        }
    }
    if outcome == Outcome::AwaitingApproval {
        let plan = effective_plan(engine.journal(), &inc.id)?;
        let mut out = terminal::stdout();
        if let Some(plan) = plan {
            // The plan is model output: its text keeps its lines, never its escapes.
            writeln!(out, "\n{}", crate::plan::markdown::render(&plan))?;
        }
        out.row(format_args!(
            "Approve and continue with: medic fix {service} --yes"
        ))?;
    }
    Ok(())
}

fn effective_plan(journal: &Journal, id: &str) -> anyhow::Result<Option<crate::model::Plan>> {
    let inc: Option<Incident> = journal.incident(id)?;
    if let Some(edit) = inc.and_then(|i| i.plan_edit) {
        return Ok(Some(edit));
    }
    let rec: Option<StepRecord> = journal.step(id, "plan")?;
    Ok(rec
        .and_then(|r| r.output)
        .and_then(|o| serde_json::from_value(o).ok()))
}

/// The incidents that can be read; each damaged one is named on stderr and skipped.
fn readable_incidents(journal: &Journal) -> anyhow::Result<Vec<Incident>> {
    let listing = journal.incidents_readable::<Incident>()?;
    report_damaged(&listing.damaged);
    Ok(listing.records)
}

fn report_damaged(damaged: &[journal::Damaged]) {
    for d in damaged {
        terminal::eprint_line(format_args!("{d}"));
    }
}

/// `medic resume [ID]`: continue one or every interrupted workflow.
pub async fn resume(data_dir: &std::path::Path, id: Option<&str>) -> anyhow::Result<()> {
    let journal = Journal::open(data_dir)?;
    let all: Vec<Incident> = readable_incidents(&journal)?;
    let todo: Vec<Incident> = match id {
        Some(id) => {
            let inc = all.into_iter().find(|i| i.id == id).ok_or_else(|| {
                UsageError(format!("no incident `{id}` in {}", data_dir.display()))
            })?;
            vec![inc]
        }
        // Without an id, only interrupted workflows: parked ones wait for the operator.
        None => all.into_iter().filter(|i| i.status.is_running()).collect(),
    };
    if todo.is_empty() {
        terminal::stdout().row(format_args!("nothing to resume"))?;
        return Ok(());
    }
    let (engine, cancel) = new_engine(journal);
    cancel_on_ctrl_c(cancel);
    let mut failed = 0;
    for inc in todo {
        // Named explicitly, an open pull request is looked at again: merged, it is watched through.
        let watch = id.is_some() && inc.status == Status::PrOpened;
        if inc.status.is_settled() && !watch {
            terminal::stdout().row(format_args!("{}: already {}", inc.id, inc.status_line()))?;
            continue;
        }
        if inc.status == Status::NeedsAttention {
            // Named explicitly: the operator asks to try the failed steps again.
            for step in STEPS {
                engine.retry(&inc.id, step)?;
            }
        }
        let parts = Parts::for_origin(&inc.origin, data_dir)?;
        let run = Run {
            engine: &engine,
            parts: &parts,
            approve: false,
            publish: false,
            confirm_held: false,
            operator: operator(),
            seen: None,
        };
        match drive(&run, &inc.id).await {
            Ok(Outcome::AwaitingApproval) => terminal::stdout().row(format_args!(
                "{}: waits for approval: medic fix {} --yes",
                inc.id, inc.service
            ))?,
            Ok(Outcome::AwaitingPublish(stat)) => terminal::stdout().row(format_args!(
                "{}: the change ({stat}) waits for your go: medic fix {} --yes",
                inc.id, inc.service
            ))?,
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                terminal::eprint_line(format_args!("{}: {e:#}", inc.id));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} incident(s) need attention; see `medic incidents`");
    }
    Ok(())
}

/// `medic incidents [--json] [--repair]`.
pub fn incidents(data_dir: &std::path::Path, json: bool, repair: bool) -> anyhow::Result<()> {
    if repair {
        let done = journal::repair(data_dir, crate::sources::wall_now())?;
        let mut out = terminal::stdout();
        match &done.unreadable {
            None => out.row(format_args!(
                "moved the damaged journal aside to {}; kept {} incident(s) that could still be read",
                done.moved_to.display(),
                done.kept
            ))?,
            Some(why) => out.row(format_args!(
                "moved the damaged journal aside to {}; nothing in it could be read ({why}); medic starts a fresh one",
                done.moved_to.display()
            ))?,
        }
        return Ok(());
    }
    let journal = Journal::open(data_dir)?;
    let all: Vec<Incident> = readable_incidents(&journal)?;
    let mut out = terminal::stdout();
    if !json && all.is_empty() {
        out.row(format_args!("no incidents in {}", data_dir.display()))?;
    }
    for inc in &all {
        let steps = journal.steps_readable::<StepRecord>(&inc.id)?;
        report_damaged(&steps.damaged);
        let steps = steps.records;
        let state = |name: &str| {
            steps
                .iter()
                .find(|s| s.name == name)
                .map(|s| match s.status {
                    StepStatus::Done => "done",
                    StepStatus::Running => "running",
                    StepStatus::Failed => "failed",
                })
                .unwrap_or("pending")
        };
        if json {
            let steps: serde_json::Map<String, serde_json::Value> = STEPS
                .iter()
                .map(|s| (s.to_string(), state(s).into()))
                .collect();
            let line = serde_json::json!({
                "id": inc.id,
                "service": inc.service.0,
                "rule": inc.rule,
                "status": inc.status.word(),
                "outcome": inc.outcome,
                "opened_at": units::rfc3339(inc.opened_at),
                "steps": steps,
                "approved_by": inc.approval.as_ref().map(|a| a.by.clone()),
                "pr": inc.pr.as_ref().map(|p| p.url.clone()),
                "error": inc.error,
                "llm": {
                    "calls": inc.llm_spent.calls,
                    "tokens": inc.llm_spent.tokens,
                    "usd": inc.llm_spent.usd,
                },
                "effects": journal
                    .effects(&inc.id)?
                    .iter()
                    .map(|e| serde_json::json!({"key": e.key, "phase": e.phase, "detail": e.detail}))
                    .collect::<Vec<_>>(),
            });
            out.json_line(&line)?;
        } else {
            let glyphs: String = STEPS
                .iter()
                .map(|s| match state(s) {
                    "done" => '✔',
                    "running" => '▶',
                    "failed" => '✖',
                    _ => '·',
                })
                .collect();
            out.row(format_args!(
                "{:<28} {:<9} {:<18} {:<17} {glyphs}  {}",
                inc.id,
                inc.service,
                inc.rule,
                inc.status_line(),
                inc.pr
                    .as_ref()
                    .map(|p| p.url.as_str())
                    .or(inc.error.as_deref())
                    .unwrap_or("")
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_with_newlines_cannot_forge_an_event_row() {
        let e = WorkflowEvent {
            at: 0,
            incident: "inc\n00:00 other".into(),
            kind: EventKind::Log {
                line: "Changed:\n00:00 20261204-api  \u{1b}]0;t\u{7}✔ pr".into(),
            },
        };
        let rows = event_rows(&e);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows[0].starts_with("00:00 inc\\n00:00 other    Changed:"),
            "{rows:?}"
        );
        assert_eq!(rows[1], "      │ 00:00 20261204-api  \\x1b]0;t\\x07✔ pr");
    }
}
