//! The offline planner of the embedded default: a plan from the verdict and
//! the evidence, no LLM needed. Same [`Plan`] type and the same citations as
//! an LLM plan, so the operator reads and approves it the same way.
//!
//! leak → raise the limit now + find the unbounded growth; errors since a
//! deploy → roll back + investigate the diff; load → scale; external → no
//! change, watch the provider; platform → escalate.

use crate::model::{
    Evidence, EvidenceKind, FixKind, Flag, Metric, Mitigation, Plan, PlanStep, RootCause, Severity,
    Verdict,
};
use crate::triage::context::Signals;
use crate::triage::verdict::Judgement;
use crate::units;

const GB: f64 = 1e9;

/// What the heuristic planner reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The flag.
    pub flag: &'a Flag,
    /// Triage's verdict.
    pub judgement: &'a Judgement,
    /// The evidence bundle (citations point into it).
    pub evidence: &'a Evidence,
    /// The numbers triage judged by.
    pub signals: &'a Signals,
    /// The flagged metric's limit, when it has one (bytes, cores).
    pub limit: Option<f64>,
}

/// The first log item whose text mentions any of `words` (case-insensitive).
fn log_citing(evidence: &Evidence, words: &[&str]) -> Option<String> {
    evidence
        .items
        .iter()
        .filter(|i| i.kind == EvidenceKind::Log)
        .find(|i| {
            let t = i.detail.to_ascii_lowercase();
            words.iter().any(|w| t.contains(w))
        })
        .map(|i| i.id.clone())
}

fn step(id: usize, description: String) -> PlanStep {
    PlanStep {
        id: format!("s{id}"),
        description,
        files: vec![],
    }
}

/// The ids the bundle holds, in order: a plan never cites what does not exist
/// (a service without HTTP metrics has no `metric:requests`).
fn cite(evidence: &Evidence, ids: &[Option<String>]) -> Vec<String> {
    ids.iter()
        .flatten()
        .filter(|id| evidence.get(id).is_some())
        .cloned()
        .collect()
}

/// Make a plan for one triaged flag.
pub fn plan(input: Input) -> Plan {
    let Input {
        flag,
        judgement,
        evidence,
        signals,
        limit,
    } = input;
    let svc = &flag.service;
    let onset_metric = Some(format!("metric:{}@onset", flag.metric));
    let deploy_id = signals
        .deploy_before_onset
        .as_ref()
        .map(|(id, ..)| format!("deploy:{id}"))
        .filter(|id| evidence.get(id).is_some());
    match judgement.verdict {
        Verdict::Actionable if flag.metric == Metric::Memory => {
            let limit = limit.unwrap_or(0.0);
            let new_limit = ((limit * 1.5) / GB).ceil() * GB;
            let growth = log_citing(evidence, &["cache", "eviction", "heap", "gc pause"]);
            let eta = flag
                .eta_seconds
                .map(|s| format!(" and reaches it in ~{}", units::duration((s / 60.0).round() as i64 * 60_000)))
                .unwrap_or_default();
            let deploy_words = signals
                .deploy_before_onset
                .as_ref()
                .map(|(id, v, _)| format!(" since deploy {id} ({v})"))
                .unwrap_or_default();
            Plan {
                title: format!("Raise {svc}'s memory limit now, then bound the growth"),
                summary: format!(
                    "{svc}'s memory is at {} of its {} limit{eta}. Raising the limit to {} buys time; the growth itself needs a code fix.",
                    units::percent(flag.value),
                    units::bytes(limit),
                    units::bytes(new_limit)
                ),
                severity: if flag.eta_seconds.is_some_and(|s| s < 3600.0) { Severity::High } else { Severity::Medium },
                root_cause: RootCause {
                    hypothesis: format!(
                        "Memory grows steadily{deploy_words} with no matching rise in traffic: something accumulates without bound{}.",
                        if growth.is_some() { " (the logs point at a cache with no eviction)" } else { "" }
                    ),
                    confidence: if growth.is_some() && deploy_id.is_some() { 0.7 } else { 0.5 },
                    evidence: cite(evidence, &[onset_metric.clone(), deploy_id.clone(), growth.clone(), Some("metric:requests".into())]),
                },
                alternatives: vec![
                    match signals.traffic_ratio {
                        Some(r) if evidence.get("metric:requests").is_some() => format!(
                            "A traffic rise: ruled out, requests changed ×{r:.2} around the onset (metric:requests)."
                        ),
                        Some(r) => format!("A traffic rise: ruled out, requests changed ×{r:.2} around the onset."),
                        None => "A traffic rise: not checked, the service exports no request metrics.".to_string(),
                    },
                    "An upstream outage: no provider this service uses reports an incident.".to_string(),
                ],
                fix_kind: FixKind::Config,
                steps: vec![
                    step(1, format!("Raise {svc}'s memory limit from {} to {} in its deployment manifest (mitigation).", units::bytes(limit), units::bytes(new_limit))),
                    step(2, format!("Find the unbounded growth{deploy_words}{}.", growth.as_ref().map(|g| format!(", starting from {g}")).unwrap_or_default())),
                    step(3, "Bound it (size limit or TTL) and add a test that fails on unbounded growth.".into()),
                ],
                verification: vec![
                    format!("{svc}'s memory stays below 90% of the new limit for an hour after the deploy."),
                    "The growth slope flattens once the code fix ships.".into(),
                ],
                risks: vec![format!("A higher limit needs {} more memory per replica on the nodes; it hides the leak for longer, not forever.", units::bytes(new_limit - limit))],
                rollback: format!("Revert this change to restore the {} limit.", units::bytes(limit)),
                mitigations: vec![Mitigation::RaiseMemoryLimit { service: svc.clone(), bytes: new_limit as u64 }],
                verification_rule: Some(super::verify::from_flag(flag, None, None)),
            }
        }
        Verdict::Actionable if signals.deploy_before_onset.is_some() => {
            let (id, version, previous) = signals.deploy_before_onset.clone().unwrap_or_default();
            let error_log = evidence
                .items
                .iter()
                .find(|i| i.kind == EvidenceKind::Log && i.title.starts_with("ERROR"))
                .map(|i| i.id.clone());
            Plan {
                title: format!("Roll {svc} back from {version} to {previous}"),
                summary: format!(
                    "{svc}'s {} went from {} to {} right after deploy {id} ({previous} → {version}). Roll back first, then fix forward.",
                    flag.metric,
                    signals.error_rate_before.map(units::percent).unwrap_or("—".into()),
                    signals.error_rate_after.map(units::percent).unwrap_or_else(|| units::percent(flag.value)),
                ),
                severity: if flag.metric == Metric::Errors { Severity::Critical } else { Severity::High },
                root_cause: RootCause {
                    hypothesis: format!("Deploy {id} ({version}) introduced the failure: it lines up with the onset and traffic did not change."),
                    confidence: if error_log.is_some() { 0.75 } else { 0.6 },
                    evidence: cite(evidence, &[onset_metric.clone(), deploy_id.clone(), error_log.clone()]),
                },
                alternatives: vec![
                    "An upstream outage: no status page of a provider this service uses reports one.".to_string(),
                    format!(
                        "A traffic surge: ruled out, requests changed ×{:.2} around the onset.",
                        signals.traffic_ratio.unwrap_or(1.0)
                    ),
                ],
                fix_kind: FixKind::Rollback,
                steps: vec![
                    step(1, format!("Set {svc}'s image tag back to {previous} in its deployment manifest.")),
                    step(2, format!("Investigate the diff of {id}{}.", error_log.as_ref().map(|e| format!(" against the error in {e}")).unwrap_or_default())),
                ],
                verification: vec![format!("{svc}'s 5xx share returns below 1% within 10 minutes of the rollback.")],
                risks: vec![format!("Changes shipped in {version} (features, migrations) are withdrawn; check that {previous} is compatible with the current data.")],
                rollback: format!("Redeploy {version} if {previous} misbehaves."),
                mitigations: vec![Mitigation::RollbackImage { service: svc.clone(), tag: previous }],
                verification_rule: Some(super::verify::from_flag(flag, None, None)),
            }
        }
        Verdict::Actionable => Plan {
            title: format!("Investigate {svc}: {}", flag.rule),
            summary: format!("{svc} is in trouble without an obvious trigger (no deploy, no traffic change, no upstream incident)."),
            severity: Severity::Medium,
            root_cause: RootCause {
                hypothesis: "Unknown: no deploy, traffic change or upstream incident explains the onset.".into(),
                confidence: 0.2,
                evidence: cite(evidence, std::slice::from_ref(&onset_metric)),
            },
            alternatives: judgement.reasons.iter().skip(1).cloned().collect(),
            fix_kind: FixKind::Code,
            steps: vec![step(1, format!("Read {svc}'s logs around the onset and find the first error."))],
            verification: vec![format!("`{}` resolves.", flag.rule)],
            risks: vec![],
            rollback: "Nothing to roll back yet.".into(),
            mitigations: vec![],
            verification_rule: Some(super::verify::from_flag(flag, None, None)),
        },
        Verdict::Load => Plan {
            title: format!("Scale {svc} out: traffic rose ×{:.1}", signals.traffic_ratio.unwrap_or(1.0)),
            summary: format!("{svc} is busy, not broken: {}.", judgement.reasons.join("; ")),
            severity: Severity::Medium,
            root_cause: RootCause {
                hypothesis: "Load: usage rose in proportion to traffic and errors stayed flat.".into(),
                confidence: 0.8,
                evidence: cite(evidence, &[onset_metric.clone(), Some("metric:requests".into()), Some("metric:errors".into())]),
            },
            alternatives: vec!["A code regression: ruled out, errors are flat and usage per request is unchanged.".into()],
            fix_kind: FixKind::Scale,
            steps: vec![step(1, format!("Add replicas to {svc} in proportion to the traffic rise (×{:.1}).", signals.traffic_ratio.unwrap_or(1.0)))],
            verification: vec![format!("{svc}'s {} falls below 70% of its limit.", flag.metric)],
            risks: vec!["More replicas cost more; scale back when the surge ends.".into()],
            rollback: "Return to the previous replica count.".into(),
            mitigations: vec![],
            verification_rule: Some(super::verify::from_flag(flag, None, None)),
        },
        Verdict::External => {
            let upstream = signals.upstream_incident.as_ref().map(|(n, _)| format!("upstream:{n}"));
            let failing = log_citing(evidence, &["upstream", "provider"]);
            Plan {
                title: format!("No change to {svc}: its upstream is failing"),
                summary: format!("{}. Nothing in {svc} to fix; watch the provider.", judgement.reasons.join("; ")),
                severity: Severity::Medium,
                root_cause: RootCause {
                    hypothesis: "An upstream provider's incident: calls to it fail.".into(),
                    confidence: 0.8,
                    evidence: cite(evidence, &[upstream, failing, onset_metric.clone()]),
                },
                alternatives: vec!["A fault in the service itself: its errors are failed calls to the provider.".into()],
                fix_kind: FixKind::None,
                steps: vec![
                    step(1, "Watch the provider's status page; tell users sends are delayed.".into()),
                    step(2, "Check that failed work is retried or queued, not dropped.".into()),
                ],
                verification: vec![format!("{svc}'s 5xx share falls back once the provider recovers.")],
                risks: vec![],
                rollback: "Nothing to roll back.".into(),
                mitigations: vec![],
                verification_rule: Some(super::verify::from_flag(flag, None, None)),
            }
        }
        Verdict::Platform | Verdict::Noise => Plan {
            title: if judgement.verdict == Verdict::Platform {
                format!("Escalate: the platform, not {svc}")
            } else {
                format!("No action for {svc}: noise")
            },
            summary: judgement.reasons.join("; "),
            severity: if judgement.verdict == Verdict::Platform { Severity::High } else { Severity::Low },
            root_cause: RootCause {
                hypothesis: judgement.reasons.first().cloned().unwrap_or_default(),
                confidence: 0.6,
                evidence: cite(evidence, &[Some("health:project".into()), onset_metric]),
            },
            alternatives: vec![],
            fix_kind: FixKind::None,
            steps: vec![step(1, if judgement.verdict == Verdict::Platform {
                "Open a ticket with the platform provider and link this incident.".into()
            } else {
                "Tune the rule (`for`, `min_fraction`, `min_requests`) if it keeps flapping.".into()
            })],
            verification: vec![],
            risks: vec![],
            rollback: "Nothing to roll back.".into(),
            mitigations: vec![],
            verification_rule: Some(super::verify::from_flag(flag, None, None)),
        },
    }
}

/// The kinds of evidence id, as plans write them (`metric:memory@onset`).
const ID_KINDS: [&str; 6] = [
    "metric:",
    "log:",
    "deploy:",
    "upstream:",
    "health:",
    "history:",
];

/// Evidence ids a plan cites that the bundle does not hold: in its
/// citations, and written anywhere in its text (summary, steps, alternatives…).
pub fn unknown_citations(plan: &Plan, evidence: &Evidence) -> Vec<String> {
    let mut out: Vec<String> = plan
        .root_cause
        .evidence
        .iter()
        .filter(|id| evidence.get(id).is_none())
        .cloned()
        .collect();
    let text = serde_json::to_string(plan).unwrap_or_default();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "_.@:-/".contains(c))) {
        let word = word.trim_end_matches(['.', ':', '-']);
        let cited = ID_KINDS
            .iter()
            .any(|k| word.starts_with(k) && word.len() > k.len());
        if cited && evidence.get(word).is_none() && !out.iter().any(|o| o == word) {
            out.push(word.to_string());
        }
    }
    out
}
