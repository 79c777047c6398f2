//! Step 2, `plan`: the remediation plan, from the LLM `[llm]` names or the
//! heuristic planner; the operator's edit wins over the generated one.

use super::{policy, test_delay};
use crate::model::Plan;
use crate::plan::heuristic;
use crate::plan::llm::LlmError;
use crate::workflow::engine::{EventKind, Permanent};
use crate::workflow::incident::{Incident, Triage};
use crate::workflow::parts::planner_name;
use crate::workflow::run::Run;

/// The plan the run goes on with: the operator's edit, or the generated one.
pub async fn run(run: &Run<'_>, inc: &mut Incident, triage: &Triage) -> anyhow::Result<Plan> {
    let planner_spent = std::sync::Mutex::new(None);
    let generated: Result<Plan, _> = run
        .engine
        .step(&inc.id, "plan", policy(300), |_| {
            let inc = &*inc;
            let planner_spent = &planner_spent;
            async move {
                test_delay().await;
                if run.parts.llm.configured() {
                    // A retry goes on from what the attempts before it spent.
                    let before = planner_spent
                        .lock()
                        .expect("spent lock")
                        .unwrap_or(inc.llm_spent);
                    // A missing model or key does not appear on retry.
                    let client = run
                        .parts
                        .llm
                        .client(before)
                        .map_err(|e| Permanent(format!("{e:#}")))?;
                    // The rules' plan goes to the model as a draft to check.
                    let draft = heuristic_plan(inc, triage).ok();
                    let plan = crate::plan::planner::llm_plan_with_draft(
                        &client,
                        &inc.flag,
                        &triage.judgement,
                        &triage.evidence,
                        6_000,
                        draft.as_ref(),
                    )
                    .await;
                    let spent = client.budget().spent();
                    *planner_spent.lock().expect("spent lock") = Some(spent);
                    // A server that refused json_schema, and what it is asked with now.
                    for note in client.take_notes() {
                        run.engine.emit(
                            &inc.id,
                            EventKind::Log {
                                line: format!("planner: {note}"),
                            },
                        )?;
                    }
                    log_spent(run, inc, spent)?;
                    // A spent budget does not come back on retry: stop and ask.
                    if let Err(
                        e @ crate::plan::planner::PlanError::Llm(LlmError::BudgetExceeded {
                            ..
                        }),
                    ) = &plan
                    {
                        return Err(Permanent(e.to_string()).into());
                    }
                    return remembered(run, triage, declare_rule(run, inc, plan?));
                }
                remembered(
                    run,
                    triage,
                    declare_rule(run, inc, heuristic_plan(inc, triage)?),
                )
            }
        })
        .await;
    // Charged whether the plan came out or not (a failed plan costs too).
    if let Some(spent) = planner_spent.into_inner().expect("spent lock") {
        inc.llm_spent = spent;
        run.save(inc)?;
    }
    let generated = generated?;
    Ok(inc.plan_edit.clone().unwrap_or(generated))
}

/// What medic remembers changes the plan: a fix that worked before is cited,
/// one that was not fixed before is not proposed again without saying so.
fn remembered(run: &Run<'_>, triage: &Triage, mut plan: Plan) -> anyhow::Result<Plan> {
    let memories = crate::workflow::memory::recall(run.engine.journal())?;
    crate::workflow::memory::cite_repeats(&mut plan, &triage.evidence, &memories);
    crate::workflow::memory::warn_repeats(&mut plan, &triage.evidence, &memories);
    Ok(plan)
}

/// The plan's verification rule, declared before anything runs: the
/// planner's if it holds up, else the default from the triggering rule as
/// configured (its exact expression, a window at least its `for`).
fn declare_rule(run: &Run<'_>, inc: &Incident, mut plan: Plan) -> Plan {
    use crate::detect::rules::RuleKind;
    use crate::plan::verify;
    let configured = run
        .parts
        .settings
        .rules()
        .into_iter()
        .find(|r| r.name == inc.flag.rule);
    let signal = configured
        .as_ref()
        .map(|r| crate::detect::rules::strip_outer_parens(&r.expr.to_string()).to_string());
    let for_ms = configured.as_ref().map(|r| r.for_ms);
    let mut default = verify::from_flag(&inc.flag, signal.as_deref(), for_ms);
    if configured.is_some_and(|r| r.kind == RuleKind::Anomaly) {
        // The threshold is on an anomaly score, not the signal: the rule must stay clear.
        default.threshold = f64::NAN;
    }
    // The planners guess the signal from the flag; the config knows it.
    if plan.verification_rule == Some(verify::from_flag(&inc.flag, None, None))
        || plan.verification_rule.is_none()
    {
        plan.verification_rule = Some(default);
    }
    verify::settle(&mut plan, &inc.flag, signal.as_deref(), for_ms);
    plan
}

/// Say what the planner's calls cost the incident so far.
fn log_spent(run: &Run<'_>, inc: &Incident, spent: crate::plan::llm::Spent) -> anyhow::Result<()> {
    run.engine.emit(
        &inc.id,
        EventKind::Log {
            line: format!(
                "planner ({}): {} call(s), {} tokens, ${:.4}",
                planner_name(&run.parts.settings),
                spent.calls,
                spent.tokens,
                spent.usd
            ),
        },
    )?;
    Ok(())
}

/// The heuristic planner's plan, refused if it cites evidence that does not exist.
fn heuristic_plan(inc: &Incident, triage: &Triage) -> anyhow::Result<Plan> {
    let plan = heuristic::plan(heuristic::Input {
        flag: &inc.flag,
        judgement: &triage.judgement,
        evidence: &triage.evidence,
        signals: &triage.signals,
        limit: triage.limit,
    });
    let unknown = heuristic::unknown_citations(&plan, &triage.evidence);
    if !unknown.is_empty() {
        // The same evidence gives the same plan: a retry cannot help.
        return Err(Permanent(format!(
            "the plan cites evidence that does not exist: {}",
            unknown.join(", ")
        ))
        .into());
    }
    Ok(plan)
}
