//! `medic eval incidents`: the journaled evidence of past incidents run
//! through today's triage verdict and planner, compared with what was
//! recorded (verdict, fix kind) and with how the change turned out, so a
//! change of model, prompt or rules is checked against the team's own
//! history before it is rolled out. Reads the journal; changes nothing.

use crate::model::{FixKind, Plan, Verdict};
use crate::workflow::engine::{StepRecord, StepStatus};
use crate::workflow::incident::{Incident, Triage};
use crate::workflow::journal::{Journal, JournalError};
use crate::workflow::watch::{self, Watched};

/// One past incident replayed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replayed {
    /// The incident.
    pub id: String,
    /// The service.
    pub service: String,
    /// The verdict recorded then.
    pub verdict_then: Verdict,
    /// Today's verdict on the same signals.
    pub verdict_now: Verdict,
    /// The fix kind of the plan that was approved (or proposed).
    pub fix_then: FixKind,
    /// Today's planner's fix kind on the same evidence.
    pub fix_now: FixKind,
    /// How the change turned out, if it was watched through.
    pub outcome: Option<watch::Verdict>,
    /// Today's plan makes the same changes as then.
    pub same_fix: bool,
}

impl Replayed {
    /// Today's plan against the outcome: keeps a fix that worked, or avoids
    /// (or warns about) one that did not. `None` when nothing was watched.
    pub fn outcome_agrees(&self, warned: bool) -> Option<bool> {
        match self.outcome? {
            watch::Verdict::Verified => Some(self.same_fix),
            _ => Some(!self.same_fix || warned),
        }
    }
}

/// What the replay found, with the totals.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// One row per incident with journaled evidence and a plan.
    pub rows: Vec<(Replayed, Option<bool>)>,
}

impl Report {
    /// (agreeing, of) verdicts.
    pub fn verdicts(&self) -> (usize, usize) {
        let ok = self
            .rows
            .iter()
            .filter(|(r, _)| r.verdict_then == r.verdict_now)
            .count();
        (ok, self.rows.len())
    }

    /// (agreeing, of) fix kinds.
    pub fn fixes(&self) -> (usize, usize) {
        let ok = self
            .rows
            .iter()
            .filter(|(r, _)| r.fix_then == r.fix_now)
            .count();
        (ok, self.rows.len())
    }

    /// (agreeing, of) outcomes, over the incidents watched through.
    pub fn outcomes(&self) -> (usize, usize) {
        let judged: Vec<bool> = self.rows.iter().filter_map(|(_, o)| *o).collect();
        (judged.iter().filter(|o| **o).count(), judged.len())
    }
}

fn stored<T: serde::de::DeserializeOwned>(journal: &Journal, id: &str, step: &str) -> Option<T> {
    let rec: StepRecord = journal.step(id, step).ok()??;
    (rec.status == StepStatus::Done)
        .then_some(rec.output?)
        .and_then(|o| serde_json::from_value(o).ok())
}

/// Replay every incident with journaled evidence and a plan; `plan_now`
/// is today's planner (it gets the incident and its journaled triage).
pub async fn replay<F, Fut>(journal: &Journal, mut plan_now: F) -> Result<Report, JournalError>
where
    F: FnMut(Incident, Triage) -> Fut,
    Fut: std::future::Future<Output = Option<Plan>>,
{
    let mut report = Report::default();
    let mut incidents = journal.incidents_readable::<Incident>()?.records;
    incidents.sort_by_key(|i| i.opened_at);
    for inc in incidents {
        let Some(triage) = stored::<Triage>(journal, &inc.id, "evidence") else {
            continue;
        };
        let Some(then) = inc
            .plan_edit
            .clone()
            .or_else(|| stored::<Plan>(journal, &inc.id, "plan"))
        else {
            continue;
        };
        let judged = crate::triage::verdict::judge(&inc.flag, &triage.signals);
        // Today's planner sees the evidence as it was, without the memory of
        // this very outcome (it is what is being checked).
        let mut evidence_then = triage.clone();
        evidence_then
            .evidence
            .items
            .retain(|i| i.id != format!("history:{}", inc.id));
        let outcome = stored::<Watched>(journal, &inc.id, "watch").map(|w| w.verdict);
        let Some(now) = plan_now(inc.clone(), evidence_then).await else {
            continue;
        };
        let same_fix = match then.mitigations.is_empty() {
            true => now.fix_kind == then.fix_kind && now.mitigations.is_empty(),
            false => now.mitigations == then.mitigations,
        };
        let warned = now.summary.starts_with("Tried before and not fixed");
        let row = Replayed {
            id: inc.id.clone(),
            service: inc.service.0.clone(),
            verdict_then: triage.judgement.verdict,
            verdict_now: judged.verdict,
            fix_then: then.fix_kind,
            fix_now: now.fix_kind,
            outcome,
            same_fix,
        };
        let agrees = row.outcome_agrees(warned);
        report.rows.push((row, agrees));
    }
    Ok(report)
}

/// Today's heuristic planner on journaled triage, with the memory's warnings.
pub fn heuristic_now(journal: &Journal, inc: &Incident, triage: &Triage) -> Plan {
    let judgement = crate::triage::verdict::judge(&inc.flag, &triage.signals);
    let mut plan = crate::plan::heuristic::plan(crate::plan::heuristic::Input {
        flag: &inc.flag,
        judgement: &judgement,
        evidence: &triage.evidence,
        signals: &triage.signals,
        limit: triage.limit,
    });
    let memories: Vec<_> = crate::workflow::memory::recall(journal)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.incident != inc.id)
        .collect();
    crate::workflow::memory::cite_repeats(&mut plan, &triage.evidence, &memories);
    crate::workflow::memory::warn_repeats(&mut plan, &triage.evidence, &memories);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeating_a_fix_that_failed_disagrees_unless_the_plan_warns() {
        let row = |outcome, same_fix| Replayed {
            id: "i".into(),
            service: "api".into(),
            verdict_then: Verdict::Actionable,
            verdict_now: Verdict::Actionable,
            fix_then: FixKind::Scale,
            fix_now: FixKind::Scale,
            outcome,
            same_fix,
        };
        assert_eq!(
            row(Some(watch::Verdict::Verified), true).outcome_agrees(false),
            Some(true)
        );
        assert_eq!(
            row(Some(watch::Verdict::Verified), false).outcome_agrees(false),
            Some(false)
        );
        assert_eq!(
            row(Some(watch::Verdict::NotFixed), true).outcome_agrees(false),
            Some(false)
        );
        assert_eq!(
            row(Some(watch::Verdict::NotFixed), true).outcome_agrees(true),
            Some(true)
        );
        assert_eq!(
            row(Some(watch::Verdict::NotFixed), false).outcome_agrees(false),
            Some(true)
        );
        assert_eq!(row(None, true).outcome_agrees(false), None);
    }
}
