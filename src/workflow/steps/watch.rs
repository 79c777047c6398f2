//! Steps 10 and 11, `watch` and `comment`: the plan's verification rule
//! judged over the service's metrics once the change is live, until it is
//! verified, not fixed or regressed; then the outcome as a comment on the
//! pull request, with before/after figures and a sparkline.
//!
//! The watch keeps no counter of its own: each look judges the history from
//! the live instant to now, so a watch killed mid-window and resumed
//! reaches the same verdict, and the outcome is journaled once. The step
//! lasts until the rule's deadline; a cancel stops it at once.

use super::{forge_error, policy, test_delay, Delivery};
use crate::model::{Mitigation, Plan, PullRequest, VerificationRule};
use crate::sources::Source;
use crate::workflow::engine::EventKind;
use crate::workflow::incident::{Incident, Triage};
use crate::workflow::run::Run;
use crate::workflow::watch::{judge, signal, Live, Reading, Verdict, Watched};

/// Watch until the rule decides; the verdict is stored.
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    plan: &Plan,
    rule: &VerificationRule,
    live: &Live,
) -> anyhow::Result<Watched> {
    // The step lasts until the deadline (in the source's time), plus room.
    let speed = match &run.parts.source {
        Source::Demo { clock, .. } => clock.speed,
        _ => 1.0,
    };
    let left_ms = (live.at + rule.deadline_ms - run.parts.source.now()).max(0);
    let policy = crate::workflow::engine::StepPolicy {
        timeout: std::time::Duration::from_millis((left_ms as f64 / speed) as u64)
            + std::time::Duration::from_secs(600),
        ..policy(10)
    };
    Ok(run
        .engine
        .step(&inc.id, "watch", policy, |_| {
            look_until_decided(run, inc, plan, rule, live)
        })
        .await?)
}

/// The source as the change left it: the demo fleet applies the plan's changes at `live`.
fn source_after(run: &Run<'_>, plan: &Plan, live: &Live) -> Source {
    let mut source = run.parts.source.clone();
    if let Source::Demo { demo, .. } = &mut source {
        for m in &plan.mitigations {
            // The same fleet the TUI shows answers to it too.
            crate::sources::demo::go_live(demo.seed(), demo.anchor(), live.at, m.clone());
            *demo = demo.clone().with_change(live.at, m.clone());
        }
    }
    source
}

async fn look_until_decided(
    run: &Run<'_>,
    inc: &Incident,
    plan: &Plan,
    rule: &VerificationRule,
    live: &Live,
) -> anyhow::Result<Watched> {
    let mut source = source_after(run, plan, live);
    let step = run.parts.settings.source.step.0.max(1);
    let others = run.parts.settings.rules();
    run.engine.emit(
        &inc.id,
        EventKind::Log {
            line: format!(
                "{}; watching: {}",
                live.how,
                crate::plan::verify::words(rule)
            ),
        },
    )?;
    let mut said = -1;
    loop {
        test_delay().await;
        let now = source.now();
        let from = live.at - rule.window_ms;
        match source.range(from, now, step).await {
            Err(e) => run.engine.emit(
                &inc.id,
                EventKind::Log {
                    line: format!("watch: the source did not answer ({e}); trying again"),
                },
            )?,
            Ok(snap) => {
                if let Some(svc) = snap.services.iter().find(|s| s.service == rule.service) {
                    let reading = judge(rule, &others, svc, live.at, now);
                    if let Reading::Watching { good_ms } = reading {
                        // One line per good five minutes, not per look.
                        let minutes = good_ms / 300_000;
                        if minutes != said {
                            said = minutes;
                            run.engine.emit(
                                &inc.id,
                                EventKind::Log {
                                    line: format!(
                                        "watch: good for {} of {}",
                                        crate::units::duration(good_ms / 60_000 * 60_000),
                                        crate::units::duration(rule.window_ms)
                                    ),
                                },
                            )?;
                        }
                    } else {
                        return Ok(outcome(run, inc, plan, rule, live, svc, reading));
                    }
                }
            }
        }
        let pause = source
            .refresh_interval(step)
            .min(std::time::Duration::from_secs(30));
        // The engine's select stops this look on a cancel.
        tokio::time::sleep(pause).await;
    }
}

/// The verdict with its figures, and a revert for a change that did not help.
fn outcome(
    run: &Run<'_>,
    inc: &Incident,
    plan: &Plan,
    rule: &VerificationRule,
    live: &Live,
    svc: &crate::model::ServiceMetrics,
    reading: Reading,
) -> Watched {
    let values = signal(rule, svc);
    let (g0, step) = svc
        .series
        .iter()
        .flatten()
        .next()
        .map_or((0, 1), |s| (s.start, s.step));
    let after_start = live.at + rule.hold_down_ms;
    let after: Vec<f64> = values
        .iter()
        .enumerate()
        .filter(|(i, _)| g0 + *i as i64 * step >= after_start)
        .map(|(_, v)| *v)
        .collect();
    let worst = |vals: &[f64]| {
        vals.iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max)
    };
    let (verdict, at, regressed_rule) = match reading {
        Reading::Verified { at } => (Verdict::Verified, at, None),
        Reading::NotFixed { at } => (Verdict::NotFixed, at, None),
        Reading::Regressed { rule, at } => (Verdict::Regressed, at, Some(rule)),
        Reading::Watching { .. } => unreachable!("only a decided reading comes here"),
    };
    let ascii = false;
    let limit = rule.threshold.is_finite().then_some(rule.threshold * 1.25);
    let revert = (verdict != Verdict::Verified).then(|| revert_plan(run, inc, plan, live));
    Watched {
        verdict,
        at,
        live_at: live.at,
        rule: crate::plan::verify::words(rule),
        regressed_rule,
        before: inc.flag.value,
        after: after
            .iter()
            .rev()
            .copied()
            .find(|v| v.is_finite())
            .unwrap_or(f64::NAN),
        worst_after: worst(&after),
        spark: crate::spark::spark(&values, 40, limit.unwrap_or(f64::NAN), ascii),
        revert,
    }
}

/// A plan that undoes the change: the inverse of each mitigation where the
/// evidence says what it was, and a revert of the merge commit in any case.
fn revert_plan(run: &Run<'_>, inc: &Incident, plan: &Plan, live: &Live) -> Plan {
    let triage: Option<Triage> = run.stored(&inc.id, "evidence").ok();
    let mut mitigations = vec![];
    for m in &plan.mitigations {
        match m {
            Mitigation::RaiseMemoryLimit { service, .. } => {
                if let Some(limit) = triage.as_ref().and_then(|t| t.limit) {
                    mitigations.push(Mitigation::RaiseMemoryLimit {
                        service: service.clone(),
                        bytes: limit as u64,
                    });
                }
            }
            Mitigation::RollbackImage { service, .. } => {
                if let Some((_, version, _)) = triage
                    .as_ref()
                    .and_then(|t| t.signals.deploy_before_onset.clone())
                {
                    mitigations.push(Mitigation::RollbackImage {
                        service: service.clone(),
                        tag: version,
                    });
                }
            }
            Mitigation::SetReplicas { .. } => {}
        }
    }
    let commit = &live.commit[..live.commit.len().min(7)];
    Plan {
        title: format!("Revert {} on {}: it did not fix {}", commit, inc.service, inc.rule),
        summary: format!(
            "The change merged as {commit} went live and {} still breaches `{}`. Revert it and look again.",
            inc.service, inc.rule
        ),
        severity: plan.severity,
        root_cause: crate::model::RootCause {
            hypothesis: format!("The approved plan ({}) did not address the cause.", plan.title),
            confidence: 0.5,
            evidence: plan.root_cause.evidence.clone(),
        },
        alternatives: vec![],
        fix_kind: crate::model::FixKind::Rollback,
        steps: vec![crate::model::PlanStep {
            id: "s1".into(),
            description: format!("Revert merge commit {} on the base branch.", live.commit),
            files: vec![],
        }],
        verification: vec![],
        risks: vec!["The original trouble stays until a better fix ships.".into()],
        rollback: format!("Re-apply {commit}."),
        mitigations,
        verification_rule: plan.verification_rule.clone(),
    }
}

/// The follow-up incident of one whose change did not help.
pub fn reopened_id(id: &str) -> String {
    format!("{id}-revert")
}

/// The incident opens again as a follow-up: the flag as last seen, fresh
/// evidence gathered when it runs, the revert as its plan (waiting for the
/// operator's approval), the LLM budget going on from what was spent.
/// Created once: again after a crash, the follow-up already there is kept.
pub fn reopen(run: &Run<'_>, inc: &Incident, revert: &Plan) -> anyhow::Result<String> {
    let id = reopened_id(&inc.id);
    let next = Incident {
        id: id.clone(),
        flag: inc.latest.clone().unwrap_or_else(|| inc.flag.clone()),
        opened_at: run.parts.source.now(),
        status: crate::workflow::incident::Status::Open,
        approval: None,
        plan_edit: Some(revert.clone()),
        publish_go: None,
        held_confirmed: None,
        pr: None,
        error: None,
        latest: None,
        outcome: None,
        ..inc.clone()
    };
    run.engine.journal().create_incident(&id, &next)?;
    Ok(id)
}

/// The marker that makes the outcome comment idempotent.
fn marker(inc: &Incident) -> String {
    format!("<!-- medic:outcome:{} -->", inc.id)
}

/// The comment's markdown: verdict, rule, before/after, sparkline.
pub fn comment_body(inc: &Incident, w: &Watched, unit: crate::model::Unit) -> String {
    let value = |v: f64| crate::units::value(v, unit);
    let mut s = format!("{}\n### medic: {}\n\n", marker(inc), w.line());
    s.push_str(&format!("Rule: {}.\n\n", w.rule));
    s.push_str("| | value |\n|---|---|\n");
    s.push_str(&format!("| when flagged | {} |\n", value(w.before)));
    s.push_str(&format!(
        "| worst after the hold-down | {} |\n",
        value(w.worst_after)
    ));
    s.push_str(&format!(
        "| at the end of the watch | {} |\n\n",
        value(w.after)
    ));
    s.push_str(&format!("```text\n{}\n```\n", w.spark.replace('`', "'")));
    if let Some(revert) = &w.revert {
        s.push_str(&format!(
            "\nThe incident is open again. A revert is offered: **{}**\n",
            revert.title
        ));
    }
    s
}

/// Post the outcome on the pull request, once.
pub async fn comment(
    run: &Run<'_>,
    inc: &Incident,
    d: &Delivery,
    pr: &PullRequest,
    w: &Watched,
) -> anyhow::Result<()> {
    let body = crate::triage::redact::redact_str(&comment_body(inc, w, inc.flag.unit));
    let marker = marker(inc);
    let _: u64 = run
        .engine
        .step(&inc.id, "comment", policy(60), |_| {
            let body = body.clone();
            let marker = marker.clone();
            async move {
                d.forge
                    .comment(pr.number, &marker, body)
                    .await
                    .map_err(forge_error)?;
                Ok(pr.number)
            }
        })
        .await?;
    Ok(())
}
