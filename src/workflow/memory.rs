//! Incident memory: what medic learned from incidents whose change it
//! watched through. Each one keeps a signature (service, rule, log
//! templates, the change involved), its fix and its outcome — all read back
//! from the journal's stored steps, so nothing extra can drift or be lost.
//! Triage adds similar past incidents as `history:<id>` evidence; a fix that
//! was not fixed before is not proposed again without saying so.

use super::engine::{StepRecord, StepStatus};
use super::incident::{Incident, Triage};
use super::journal::{Journal, JournalError};
use super::watch::{Verdict, Watched};
use crate::model::{
    Evidence, EvidenceItem, EvidenceKind, FixKind, Millis, Mitigation, Plan, ServiceId,
};
use serde::{Deserialize, Serialize};

/// What makes two incidents alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// The service.
    pub service: ServiceId,
    /// The rule that flagged it.
    pub rule: String,
    /// The log lines' templates (numbers and ids folded away).
    pub templates: Vec<String>,
    /// The deploy shortly before the onset, if any (`a17be44 v2.14.0`).
    pub change: Option<String>,
}

/// One remembered incident: signature, fix and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The incident.
    pub incident: String,
    /// When it opened.
    pub opened_at: Millis,
    /// What it looked like.
    pub signature: Signature,
    /// The fix in words (`raised the memory limit 32 GB→48 GB`).
    pub fix: String,
    /// The kind of fix.
    pub fix_kind: FixKind,
    /// The machine-readable changes of the fix.
    pub mitigations: Vec<Mitigation>,
    /// Verified, not fixed or regressed.
    pub verdict: Verdict,
    /// How long after the change went live it was decided.
    pub decided_after_ms: Millis,
    /// When it was decided.
    pub decided_at: Millis,
}

/// A log line as a template: digits and hex runs folded, so the same
/// message with other numbers matches.
pub fn template(line: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in line.chars().take(160) {
        if c.is_ascii_digit() {
            if !in_run {
                out.push('#');
            }
            in_run = true;
        } else {
            in_run = false;
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The signature of an incident from its triage.
pub fn signature(inc: &Incident, triage: &Triage) -> Signature {
    let mut templates: Vec<String> = triage
        .evidence
        .items
        .iter()
        .filter(|i| i.kind == EvidenceKind::Log)
        .map(|i| template(&i.detail))
        .collect();
    templates.sort();
    templates.dedup();
    Signature {
        service: inc.service.clone(),
        rule: inc.rule.clone(),
        templates,
        change: triage
            .signals
            .deploy_before_onset
            .as_ref()
            .map(|(id, version, _)| format!("{id} {version}")),
    }
}

/// How alike two signatures are, 0 to 1: the same rule on the same service
/// counts most, shared log templates the rest. Another rule is never alike.
pub fn likeness(a: &Signature, b: &Signature) -> f64 {
    if a.rule != b.rule {
        return 0.0;
    }
    let same_service = if a.service == b.service { 0.6 } else { 0.2 };
    let shared = a
        .templates
        .iter()
        .filter(|t| b.templates.contains(t))
        .count();
    let all = a.templates.len() + b.templates.len() - shared;
    let logs = if all == 0 {
        0.0
    } else {
        shared as f64 / all as f64
    };
    same_service + 0.4 * logs
}

/// The fix in words, from the plan and the limit at the time.
fn fix_words(plan: &Plan, limit: Option<f64>) -> String {
    let words: Vec<String> = plan
        .mitigations
        .iter()
        .map(|m| match m {
            Mitigation::RaiseMemoryLimit { bytes, .. } => match limit {
                Some(l) => format!(
                    "raised the memory limit {}→{}",
                    crate::units::bytes(l),
                    crate::units::bytes(*bytes as f64)
                ),
                None => format!(
                    "raised the memory limit to {}",
                    crate::units::bytes(*bytes as f64)
                ),
            },
            Mitigation::SetReplicas { replicas, .. } => format!("scaled to {replicas} replicas"),
            Mitigation::RollbackImage { tag, .. } => format!("rolled back to {tag}"),
        })
        .collect();
    match words.is_empty() {
        true => crate::terminal::one_line(&plan.title).into_owned(),
        false => words.join(", "),
    }
}

fn stored<T: serde::de::DeserializeOwned>(journal: &Journal, id: &str, step: &str) -> Option<T> {
    let rec: StepRecord = journal.step(id, step).ok()??;
    if rec.status != StepStatus::Done {
        return None;
    }
    serde_json::from_value(rec.output?).ok()
}

/// Every incident whose change was watched through, oldest first. One that
/// cannot be read is left out (the journal reports damage elsewhere).
pub fn recall(journal: &Journal) -> Result<Vec<Memory>, JournalError> {
    let mut out = vec![];
    for inc in journal.incidents_readable::<Incident>()?.records {
        let (Some(watched), Some(triage)) = (
            stored::<Watched>(journal, &inc.id, "watch"),
            stored::<Triage>(journal, &inc.id, "evidence"),
        ) else {
            continue;
        };
        let Some(plan) = inc
            .plan_edit
            .clone()
            .or_else(|| stored::<Plan>(journal, &inc.id, "plan"))
        else {
            continue;
        };
        out.push(Memory {
            incident: inc.id.clone(),
            opened_at: inc.opened_at,
            signature: signature(&inc, &triage),
            fix: fix_words(&plan, triage.limit),
            fix_kind: plan.fix_kind,
            mitigations: plan.mitigations.clone(),
            verdict: watched.verdict,
            decided_after_ms: watched.at - watched.live_at,
            decided_at: watched.at,
        });
    }
    out.sort_by_key(|m| m.opened_at);
    Ok(out)
}

/// The remembered incidents like `sig`, most alike first (not `except` itself).
pub fn similar<'a>(memories: &'a [Memory], sig: &Signature, except: &str) -> Vec<&'a Memory> {
    let mut found: Vec<(f64, &Memory)> = memories
        .iter()
        .filter(|m| m.incident != except)
        .map(|m| (likeness(&m.signature, sig), m))
        .filter(|(score, _)| *score >= 0.5)
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.opened_at.cmp(&a.1.opened_at)));
    found.into_iter().map(|(_, m)| m).collect()
}

/// One remembered incident in words: "raised the memory limit 32 GB→48 GB,
/// verified 35m after deploy; recurred 9d later".
pub fn words(m: &Memory, memories: &[Memory]) -> String {
    let after = crate::units::duration((m.decided_after_ms.max(0) / 60_000) * 60_000);
    let outcome = match m.verdict {
        Verdict::Verified => format!("verified {after} after deploy"),
        Verdict::NotFixed => format!("NOT FIXED: still breaching {after} after deploy"),
        Verdict::Regressed => format!("regressed {after} after deploy"),
    };
    let recurred = memories
        .iter()
        .filter(|o| {
            o.incident != m.incident
                && o.signature.service == m.signature.service
                && o.signature.rule == m.signature.rule
                && o.opened_at > m.decided_at
        })
        .map(|o| o.opened_at)
        .min()
        .map(|t| {
            let days = (t - m.decided_at) / 86_400_000;
            match days {
                0 => "; recurred the same day".to_string(),
                d => format!("; recurred {d}d later"),
            }
        })
        .unwrap_or_default();
    format!("{}, {outcome}{recurred}", m.fix)
}

/// `history:<id>` evidence for the incidents like this one (at most three).
pub fn history_items(memories: &[Memory], sig: &Signature, except: &str) -> Vec<EvidenceItem> {
    similar(memories, sig, except)
        .into_iter()
        .take(3)
        .map(|m| EvidenceItem {
            id: format!("history:{}", m.incident),
            kind: EvidenceKind::History,
            title: format!(
                "seen before: {} on {} ({})",
                m.signature.rule,
                m.signature.service,
                crate::units::rfc3339(m.opened_at)
            ),
            detail: words(m, memories),
            at: Some(m.opened_at),
        })
        .collect()
}

/// A plan that repeats a fix that worked before cites it: the history id
/// joins its evidence and its summary says so.
pub fn cite_repeats(plan: &mut Plan, evidence: &Evidence, memories: &[Memory]) {
    for item in evidence
        .items
        .iter()
        .filter(|i| i.kind == EvidenceKind::History)
    {
        let id = item.id.trim_start_matches("history:");
        let worked = memories.iter().any(|m| {
            m.incident == id
                && m.verdict == Verdict::Verified
                && !m.mitigations.is_empty()
                && m.mitigations == plan.mitigations
        });
        if worked && !plan.root_cause.evidence.contains(&item.id) {
            plan.root_cause.evidence.push(item.id.clone());
            plan.summary
                .push_str(&format!(" The same fix worked before ({}).", item.id));
        }
    }
}

/// A plan that repeats a fix that was not fixed before says so: its
/// summary starts with the warning and its risks name the past incident.
/// Unchanged when the plan already cites that history.
pub fn warn_repeats(plan: &mut Plan, evidence: &Evidence, memories: &[Memory]) {
    for item in evidence
        .items
        .iter()
        .filter(|i| i.kind == EvidenceKind::History)
    {
        let Some(id) = item.id.strip_prefix("history:") else {
            continue;
        };
        let Some(m) = memories.iter().find(|m| m.incident == id) else {
            continue;
        };
        let same_fix = match m.mitigations.is_empty() {
            true => m.fix_kind == plan.fix_kind && plan.mitigations.is_empty(),
            false => m.mitigations == plan.mitigations,
        };
        if m.verdict == Verdict::Verified || !same_fix {
            continue;
        }
        let cited = serde_json::to_string(&*plan)
            .unwrap_or_default()
            .contains(&item.id);
        if cited {
            continue;
        }
        plan.summary = format!(
            "Tried before and not fixed ({}): {}. {}",
            item.id,
            crate::terminal::one_line(&item.detail),
            plan.summary
        );
        plan.risks.insert(
            0,
            format!(
                "The same fix did not work in {}: approve only if something is different now.",
                item.id
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(service: &str, rule: &str, templates: &[&str]) -> Signature {
        Signature {
            service: ServiceId::from(service),
            rule: rule.into(),
            templates: templates.iter().map(|t| template(t)).collect(),
            change: None,
        }
    }

    fn memory(id: &str, verdict: Verdict, opened_at: Millis, m: Vec<Mitigation>) -> Memory {
        Memory {
            incident: id.into(),
            opened_at,
            signature: sig("api", "memory-near-limit", &["cache size 1200 entries"]),
            fix: "raised the memory limit 32 GB→48 GB".into(),
            fix_kind: FixKind::Config,
            mitigations: m,
            verdict,
            decided_after_ms: 31 * 60_000,
            decided_at: opened_at + 3_600_000,
        }
    }

    #[test]
    fn templates_fold_numbers_and_likeness_wants_the_same_rule() {
        assert_eq!(
            template("cache size 1200 entries, 35ms"),
            "cache size # entries, #ms"
        );
        let a = sig("api", "memory-near-limit", &["cache size 1200 entries"]);
        let b = sig("api", "memory-near-limit", &["cache size 98 entries"]);
        assert!((likeness(&a, &b) - 1.0).abs() < 1e-9);
        assert_eq!(likeness(&a, &sig("api", "cpu-saturated", &[])), 0.0);
        assert!(likeness(&a, &sig("web", "memory-near-limit", &[])) < 0.5);
    }

    #[test]
    fn history_says_what_worked_and_when_it_came_back() {
        let raise = vec![Mitigation::RaiseMemoryLimit {
            service: ServiceId::from("api"),
            bytes: 48_000_000_000,
        }];
        let first = memory("i1", Verdict::Verified, 0, raise.clone());
        let again = memory("i2", Verdict::Verified, 9 * 86_400_000 + 7_200_000, raise);
        let all = vec![first.clone(), again];
        let items = history_items(&all, &first.signature, "i3");
        assert_eq!(
            items[0].id, "history:i2",
            "most recent of the equally alike first"
        );
        let i1 = items.iter().find(|i| i.id == "history:i1").unwrap();
        assert_eq!(
            i1.detail,
            "raised the memory limit 32 GB→48 GB, verified 31m after deploy; recurred 9d later"
        );
    }

    #[test]
    fn a_fix_that_failed_before_is_not_proposed_again_silently() {
        let scale = vec![Mitigation::SetReplicas {
            service: ServiceId::from("api"),
            replicas: 5,
        }];
        let all = vec![memory("i1", Verdict::NotFixed, 0, scale.clone())];
        let items = history_items(&all, &all[0].signature, "i2");
        let evidence = Evidence {
            service: ServiceId::from("api"),
            rule: "memory-near-limit".into(),
            onset: 0,
            items,
            gaps: vec![],
        };
        let mut plan = crate::plan::markdown::parse("# Scale out\n").unwrap();
        plan.mitigations = scale;
        warn_repeats(&mut plan, &evidence, &all);
        assert!(
            plan.summary
                .starts_with("Tried before and not fixed (history:i1)"),
            "{}",
            plan.summary
        );
        assert!(plan.risks[0].contains("history:i1"));
        // Another fix is not warned about.
        let mut other = crate::plan::markdown::parse("# Roll back\n").unwrap();
        other.mitigations = vec![Mitigation::RollbackImage {
            service: ServiceId::from("api"),
            tag: "v1".into(),
        }];
        warn_repeats(&mut other, &evidence, &all);
        assert!(other.risks.is_empty());
    }
}
