//! `medic fix`: the incident workflow headless, printing one line per
//! event; resumable after any crash (`medic resume`, in `incidents.rs`).

use super::hint::Invocation;
pub use super::progress::{event_line, event_rows};
use super::progress::{print_events, Glyphs};
use crate::model::AlertState;
use crate::refresh::{Detected, Pipeline};
use crate::setup::{Setup, UsageError};
use crate::sources::Source;
use crate::terminal;
use crate::workflow::engine::{Engine, StepRecord};
use crate::workflow::incident::{self, Incident, Origin, OriginSource, Outcome, Parts, Run};
use crate::workflow::journal::{self, Journal};
use std::io::Write;
use tokio::sync::watch;

pub(super) fn operator() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "operator".into())
}

pub(super) fn new_engine(journal: Journal) -> (Engine, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    (Engine::new(journal, rx), tx)
}

/// Cancel the workflow on Ctrl-C: the step in flight stops, the journal keeps the rest.
pub(super) fn cancel_on_ctrl_c(cancel: watch::Sender<bool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel.send(true);
        }
    });
}

pub(super) async fn drive(run: &Run<'_>, id: &str, glyphs: Glyphs) -> anyhow::Result<Outcome> {
    let (done, stop) = tokio::sync::oneshot::channel();
    let printer = print_events(run.engine, glyphs, stop);
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
    hint: &Invocation,
) -> anyhow::Result<()> {
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
            // Its own journaled settings are what it runs with: check those.
            let parts = Parts::for_origin(&inc.origin, &setup.data_dir)?;
            crate::preflight::check_incident(&journal, &inc.id, &parts.settings)?;
            terminal::stdout().row(format_args!(
                "continuing incident {} ({})",
                inc.id,
                inc.status.word()
            ))?;
            inc
        }
        None => {
            // Everything the run will need, before anything starts.
            crate::preflight::check(&setup.config)?;
            let mut src = setup.source.clone();
            let now = src.now();
            let Detected { snap, flags, .. } = Pipeline::new(setup.rules.clone())
                .detect_at(&mut src, now, setup.lookback(), setup.step())
                .await?;
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
    // The operator turned the agent sandbox off: say so, in red, every run.
    if let Some(w) = crate::agent::jail::warning(&parts.settings.agent) {
        // medic's own words, escaped, then medic's own colour codes around them.
        let line = crate::agent::jail::in_red(&terminal::one_line(&w));
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
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
    let outcome = match drive(&run, &inc.id, Glyphs::pick(hint.ascii)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // A failed step waits for the operator: say how to retry it.
            let now: Option<Incident> = engine.journal().incident(&inc.id)?;
            if now.is_some_and(|i| i.status == incident::Status::NeedsAttention) {
                let again = hint
                    .with_config_of(inc.origin.config.as_deref())
                    .suggest(&["resume", &inc.id]);
                return Err(anyhow::anyhow!("{e:#}\nretry it with: {again}"));
            }
            return Err(e);
        }
    };
    if let Outcome::AwaitingPublish(stat) = &outcome {
        if stat.contains(crate::workflow::run::HELD_NOTE) {
            let again = hint.suggest(&["fix", service, "--yes", "--confirm-held"]);
            terminal::stdout().row(format_args!("the change is committed locally ({stat}); read the held paths in the diff, then push with: {again}"))?;
        } else {
            let again = hint.suggest(&["fix", service, "--yes"]);
            terminal::stdout().row(format_args!("the change is committed locally ({stat}); push it and open the pull request with: {again}"))?;
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
            "Approve and continue with: {}",
            hint.suggest(&["fix", service, "--yes"])
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
pub(super) fn readable_incidents(journal: &Journal) -> anyhow::Result<Vec<Incident>> {
    let listing = journal.incidents_readable::<Incident>()?;
    report_damaged(&listing.damaged);
    Ok(listing.records)
}

pub(super) fn report_damaged(damaged: &[journal::Damaged]) {
    for d in damaged {
        terminal::eprint_line(format_args!("{d}"));
    }
}
