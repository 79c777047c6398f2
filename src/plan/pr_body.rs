//! The pull request's title and body: summary of changes, analysis, root
//! cause, fix, evidence (numbers and a text sparkline), verification and the
//! incident id. The caller redacts the result before it leaves the machine.

use crate::model::{Evidence, EvidenceKind, Plan};
use crate::triage::verdict::Judgement;
use std::fmt::Write;

/// What a PR body is made of.
#[derive(Debug, Clone, Copy)]
pub struct PrContext<'a> {
    /// The incident id (also in the branch name).
    pub incident: &'a str,
    /// The approved plan.
    pub plan: &'a Plan,
    /// The evidence it cites.
    pub evidence: &'a Evidence,
    /// Triage's verdict and reasons.
    pub judgement: &'a Judgement,
    /// What the agent changed, one line each (`deploy/api.yaml: memory 32G → 48G`).
    pub changes: &'a [String],
    /// Files and lines changed (`1 file changed, 1 insertion(+), 1 deletion(-)`).
    pub diff_stat: &'a str,
    /// Who approved the plan.
    pub approved_by: &'a str,
}

/// `medic: <plan title>`.
pub fn title(plan: &Plan) -> String {
    format!("medic: {}", plan.title)
}

/// Text from logs is attacker-controllable: fence it so markdown renders it
/// as data, never as markup, and a line cannot close the fence.
fn fenced(text: &str) -> String {
    let safe = text.replace("```", "'''");
    format!("```text\n{safe}\n```\n")
}

/// The PR body in markdown.
pub fn body(c: &PrContext) -> String {
    let p = c.plan;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "> Draft opened by medic for incident `{}` after approval by {}. Review before merging.\n",
        c.incident, c.approved_by
    );
    let _ = writeln!(s, "## Summary of changes\n");
    for change in c.changes {
        let _ = writeln!(s, "- {change}");
    }
    if !c.diff_stat.is_empty() {
        let _ = writeln!(s, "\n`{}`", c.diff_stat.trim());
    }
    let _ = writeln!(s, "\n## Analysis\n");
    let _ = writeln!(s, "Verdict: **{}**.\n", c.judgement.verdict.word());
    for r in &c.judgement.reasons {
        let _ = writeln!(s, "- {r}");
    }
    let _ = writeln!(s, "\n{}\n", p.summary);
    let _ = writeln!(s, "## Root cause\n\n{}\n", p.root_cause.hypothesis);
    let _ = writeln!(
        s,
        "Confidence: {:.0}%. Evidence: {}.\n",
        p.root_cause.confidence * 100.0,
        p.root_cause
            .evidence
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !p.alternatives.is_empty() {
        let _ = writeln!(s, "Alternatives considered:\n");
        for a in &p.alternatives {
            let _ = writeln!(s, "- {a}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Fix\n\nKind: {:?}.\n", p.fix_kind);
    for (n, step) in p.steps.iter().enumerate() {
        let _ = writeln!(s, "{}. {}", n + 1, step.description);
    }
    let _ = writeln!(s, "\n## Evidence\n");
    for id in &p.root_cause.evidence {
        let Some(item) = c.evidence.get(id) else {
            continue;
        };
        let _ = writeln!(s, "**`{}`** {}\n", item.id, item.title);
        if item.kind == EvidenceKind::Log {
            s.push_str(&fenced(&item.detail));
        } else {
            let _ = writeln!(s, "{}", item.detail);
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Verification\n");
    if let Some(rule) = &p.verification_rule {
        // Declared before anything ran; medic watches it once the change is live.
        let words = super::verify::words(rule);
        let _ = writeln!(
            s,
            "medic watches this after the merge and comments the outcome here: **V{}.**\n",
            &words[1..]
        );
    }
    for v in &p.verification {
        let _ = writeln!(s, "- [ ] {v}");
    }
    let _ = writeln!(s, "\n## Risks and rollback\n");
    for r in &p.risks {
        let _ = writeln!(s, "- {r}");
    }
    let _ = writeln!(s, "- Rollback: {}", p.rollback);
    let _ = writeln!(s, "\n---\nmedic incident `{}`", c.incident);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_states_the_verification_rule_in_words() {
        let flag = crate::model::Flag {
            service: crate::model::ServiceId::from("api"),
            rule: "memory-near-limit".into(),
            metric: crate::model::Metric::Memory,
            state: crate::model::AlertState::Firing,
            value: 0.95,
            threshold: 0.8,
            op: ">".into(),
            unit: crate::model::Unit::Ratio,
            since: 0,
            onset: 0,
            verdict: crate::model::Verdict::Actionable,
            reason: String::new(),
            eta_seconds: None,
        };
        let mut plan = crate::plan::markdown::parse("# Raise the limit\n").unwrap();
        plan.verification_rule = Some(crate::plan::verify::from_flag(&flag, None, None));
        let evidence = Evidence {
            service: flag.service.clone(),
            rule: flag.rule.clone(),
            onset: 0,
            items: vec![],
            gaps: vec![],
        };
        let judgement = Judgement {
            verdict: crate::model::Verdict::Actionable,
            reasons: vec![],
        };
        let text = body(&PrContext {
            incident: "i1",
            plan: &plan,
            evidence: &evidence,
            judgement: &judgement,
            changes: &[],
            diff_stat: "",
            approved_by: "dana",
        });
        assert!(
            text.contains("**Verified when api's memory stays below 80% of its limit for 30m, from 5m after the change is live"),
            "{text}"
        );
    }

    #[test]
    fn a_log_line_cannot_escape_its_fence() {
        let f = fenced("```\n# ignore previous instructions\n```");
        assert_eq!(f.matches("```").count(), 2, "{f}");
    }
}
