//! `medic resume` and `medic incidents`: the journal as the operator meets
//! it headless — what was interrupted goes on, what waits for the operator
//! is listed with the command that moves it on, and the incident table
//! says what its columns and marks mean.

use super::fix::{
    cancel_on_ctrl_c, drive, new_engine, operator, readable_incidents, report_damaged,
};
use super::hint::Invocation;
use super::progress::Glyphs;
use crate::setup::UsageError;
use crate::terminal;
use crate::units;
use crate::workflow::engine::{StepRecord, StepStatus};
use crate::workflow::incident::{AgentWork, Incident, Outcome, Parts, Run, Status, STEPS};
use crate::workflow::journal::{self, Journal};

/// What `inc` waits for and the command that moves it on; `None` when it
/// waits for nobody (running, interrupted, or over).
pub fn waiting_for_operator(
    journal: &Journal,
    inc: &Incident,
    hint: &Invocation,
) -> Option<String> {
    let hint = hint.with_config_of(inc.origin.config.as_deref());
    let service = inc.service.0.as_str();
    match inc.status {
        Status::AwaitingApproval => Some(format!(
            "the plan waits for approval: {}",
            hint.suggest(&["fix", service, "--yes"])
        )),
        Status::AwaitingPublish => {
            let work: Option<AgentWork> = journal
                .step::<StepRecord>(&inc.id, "agent")
                .ok()
                .flatten()
                .and_then(|rec| serde_json::from_value(rec.output?).ok());
            let held = work.as_ref().is_some_and(|w| {
                !w.held.is_empty() && w.commit.is_some() && inc.held_confirmed != w.commit
            });
            let stat = work.as_ref().map(|w| w.diff_stat.as_str()).unwrap_or("");
            Some(if held {
                format!(
                    "the change ({stat}) holds paths the change policy keeps back; read them in the diff, then: {}",
                    hint.suggest(&["fix", service, "--yes", "--confirm-held"])
                )
            } else {
                format!(
                    "the change ({stat}) waits for your go to push: {}",
                    hint.suggest(&["fix", service, "--yes"])
                )
            })
        }
        Status::NeedsAttention => Some(format!(
            "a step failed ({}); retry it with: {}",
            // The first line: an agent's stderr tail belongs to `medic incidents`.
            inc.error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or("see `medic incidents`"),
            hint.suggest(&["resume", &inc.id])
        )),
        _ => None,
    }
}

/// `medic resume [ID]`: continue one or every interrupted workflow, then
/// list the incidents that wait for the operator.
pub async fn resume(
    data_dir: &std::path::Path,
    id: Option<&str>,
    hint: &Invocation,
) -> anyhow::Result<()> {
    let journal = Journal::open(data_dir)?;
    let all: Vec<Incident> = readable_incidents(&journal)?;
    let todo: Vec<Incident> = match id {
        Some(id) => {
            let inc = all.iter().find(|i| i.id == id).cloned().ok_or_else(|| {
                UsageError(format!("no incident `{id}` in {}", data_dir.display()))
            })?;
            vec![inc]
        }
        // Without an id, only interrupted workflows: parked ones wait for the operator.
        None => all
            .iter()
            .filter(|i| i.status.is_running())
            .cloned()
            .collect(),
    };
    let (engine, cancel) = new_engine(journal.clone());
    cancel_on_ctrl_c(cancel);
    let glyphs = Glyphs::pick(hint.ascii);
    let mut failed = 0;
    for inc in &todo {
        // Named explicitly, an open pull request is looked at again: merged, it is watched through.
        let watch = id.is_some() && inc.status == Status::PrOpened;
        if inc.status.is_settled() && !watch {
            terminal::stdout().row(format_args!("{}: already {}", inc.id, inc.status_line()))?;
            continue;
        }
        let parts = Parts::for_origin(&inc.origin, data_dir)?;
        // Everything the run will need, before a failed step is cleared for retry.
        if let Err(refusal) = crate::preflight::check_incident(&journal, &inc.id, &parts.settings) {
            failed += 1;
            terminal::eprint_line(format_args!("{}: {refusal}", inc.id));
            continue;
        }
        if inc.status == Status::NeedsAttention {
            // Named explicitly: the operator asks to try the failed steps again.
            for step in STEPS {
                engine.retry(&inc.id, step)?;
            }
        }
        let run = Run {
            engine: &engine,
            parts: &parts,
            approve: false,
            publish: false,
            confirm_held: false,
            operator: operator(),
            seen: None,
        };
        match drive(&run, &inc.id, glyphs).await {
            Ok(Outcome::AwaitingApproval | Outcome::AwaitingPublish(_)) => {
                let now: Option<Incident> = journal.incident(&inc.id)?;
                if let Some(why) = now.and_then(|i| waiting_for_operator(&journal, &i, hint)) {
                    terminal::stdout().row(format_args!("{}: {why}", inc.id))?;
                }
            }
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                terminal::eprint_line(format_args!("{}: {e:#}", inc.id));
            }
        }
    }
    if id.is_none() {
        let waiting: Vec<(String, String)> = all
            .iter()
            .filter_map(|i| Some((i.id.clone(), waiting_for_operator(&journal, i, hint)?)))
            .collect();
        let mut out = terminal::stdout();
        if todo.is_empty() && waiting.is_empty() {
            out.row(format_args!(
                "nothing to resume: no incident in {} is interrupted or waits for you",
                data_dir.display()
            ))?;
        } else if todo.is_empty() {
            out.row(format_args!(
                "nothing was interrupted; {} incident(s) wait for you:",
                waiting.len()
            ))?;
        } else if !waiting.is_empty() {
            out.row(format_args!("{} incident(s) wait for you:", waiting.len()))?;
        }
        for (id, why) in &waiting {
            out.row(format_args!("  {id}: {why}"))?;
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} incident(s) need attention; see `{}`",
            hint.suggest(&["incidents"])
        );
    }
    Ok(())
}

/// The legend under the incident table: the step order and the marks.
fn legend(g: &Glyphs) -> String {
    format!(
        "STEPS: {}  ({} done, {} running, {} failed, {} not yet)",
        STEPS.join(" "),
        g.done,
        g.started,
        g.failed,
        g.pending
    )
}

/// `medic incidents [--json] [--repair]`.
pub fn incidents(
    data_dir: &std::path::Path,
    json: bool,
    repair: bool,
    hint: &Invocation,
) -> anyhow::Result<()> {
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
    let glyphs = Glyphs::pick(hint.ascii);
    let mut out = terminal::stdout();
    if !json && all.is_empty() {
        out.row(format_args!("no incidents in {}", data_dir.display()))?;
        return Ok(());
    }
    if !json {
        out.row(format_args!(
            "{:<28} {:<9} {:<18} {:<17} {:<7}  PULL REQUEST / ERROR",
            "INCIDENT", "SERVICE", "RULE", "STATUS", "STEPS"
        ))?;
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
            let marks: String = STEPS
                .iter()
                .map(|s| match state(s) {
                    "done" => glyphs.done,
                    "running" => glyphs.started,
                    "failed" => glyphs.failed,
                    _ => glyphs.pending,
                })
                .collect();
            out.row(format_args!(
                "{:<28} {:<9} {:<18} {:<17} {marks:<7}  {}",
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
    if !json {
        out.row(format_args!("{}", legend(&glyphs)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_names_every_step_and_mark() {
        let l = legend(&super::super::progress::UNICODE);
        for s in STEPS {
            assert!(l.contains(s), "{l}");
        }
        assert!(l.contains("✔ done") && l.contains("· not yet"), "{l}");
        assert!(legend(&super::super::progress::ASCII).is_ascii());
    }
}
