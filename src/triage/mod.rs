//! Triage: turn a flag (a suspicion) into evidence and a verdict before
//! anyone is paged or any code is touched.
//! `redact` is the door every text leaving the machine passes through.

pub mod context;
pub mod kube;
pub mod redact;
pub mod verdict;

use crate::detect::{backtest, Detector};
use crate::model::{
    Evidence, Flag, FleetSnapshot, FleetSnapshot as Snap, Millis, ServiceId, ServiceMetrics,
};
use crate::sources::demo::{Deploy, UpstreamStatus};
use crate::sources::evidence::{EvidenceSource, Fetched};
use std::collections::HashMap;

/// How far before the onset logs are read.
const LOG_LEAD: Millis = 30 * 60_000;
/// How far before the onset commits on the base branch are suspects.
const CHANGE_LEAD: Millis = 6 * 3_600_000;

/// What the source knows of the whole project at one instant (deploys,
/// upstream status): fetched once per refresh, the same for every flag.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectWide {
    deploys: Fetched<Deploy>,
    upstreams: Fetched<UpstreamStatus>,
}

impl ProjectWide {
    /// Ask `source` for the project's deploys and upstream status at `at`.
    pub async fn fetch<S: EvidenceSource>(source: &S, at: Millis) -> ProjectWide {
        let (deploys, upstreams) =
            futures_util::future::join(source.deploys(), source.upstreams(at)).await;
        ProjectWide { deploys, upstreams }
    }
}

/// Fetch what the source knows about `flag` and assemble its evidence and verdict.
pub async fn assess<S: EvidenceSource>(
    source: &S,
    snap: &FleetSnapshot,
    detector: &Detector,
    flags: &[Flag],
    flag: &Flag,
) -> (Evidence, context::Signals, verdict::Judgement) {
    let project = ProjectWide::fetch(source, snap.at).await;
    let metrics = snap.services.iter().find(|s| s.service == flag.service);
    assess_with(source, &project, snap, metrics, detector, flags, flag).await
}

/// [`assess`] with the project-wide evidence already fetched and the
/// flag's metrics already found (`None`: absent from this refresh).
pub async fn assess_with<S: EvidenceSource>(
    source: &S,
    project: &ProjectWide,
    snap: &FleetSnapshot,
    metrics: Option<&ServiceMetrics>,
    detector: &Detector,
    flags: &[Flag],
    flag: &Flag,
) -> (Evidence, context::Signals, verdict::Judgement) {
    let Some(metrics) = metrics else {
        let judgement = verdict::Judgement {
            verdict: flag.verdict,
            reasons: vec![format!(
                "{}: no metrics for {} in this refresh",
                flag.reason, flag.service
            )],
        };
        let evidence = Evidence {
            service: flag.service.clone(),
            rule: flag.rule.clone(),
            onset: flag.onset,
            items: vec![],
            gaps: vec!["metrics: the service is missing from the source's answer".into()],
        };
        return (evidence, context::Signals::default(), judgement);
    };
    let recent_transitions = detector
        .rules()
        .iter()
        .find(|r| r.name == flag.rule)
        .map(|rule| {
            let one = Snap {
                services: vec![metrics.clone()],
                at: snap.at,
                stale: snap.stale,
                missing: Vec::new(),
            };
            backtest::run(std::slice::from_ref(rule), &one)
                .iter()
                .filter(|t| t.at >= snap.at - 3_600_000)
                // Pending blips while a value approaches its threshold are
                // not flapping; firing/resolved cycles are.
                .filter(|t| {
                    matches!(
                        t.state,
                        crate::model::AlertState::Firing | crate::model::AlertState::Resolved
                    )
                })
                .count()
        })
        .unwrap_or(0);
    let material = context::Material {
        flag,
        metrics,
        logs: source
            .logs(&flag.service.0, flag.onset - LOG_LEAD, snap.at + 1)
            .await,
        deploys: project.deploys.clone(),
        upstreams: project.upstreams.clone(),
        kube: source.kube(&flag.service.0, flag.onset, snap.at).await,
        changes: source
            .changes(
                &flag.service.0,
                flag.onset - CHANGE_LEAD,
                flag.onset + 5 * 60_000,
            )
            .await,
        project_flags: flags,
        project_size: snap.services.len(),
        recent_transitions,
        now: snap.at,
    };
    let (evidence, signals) = context::gather(&material);
    let judgement = verdict::judge(flag, &signals);
    (evidence, signals, judgement)
}

/// Give every flag its verdict and reasons (resolved flags keep the
/// detector's words); returns the evidence gathered for each open flag.
pub async fn judge_all<S: EvidenceSource>(
    source: &S,
    snap: &FleetSnapshot,
    detector: &Detector,
    flags: &mut [Flag],
) -> Vec<Evidence> {
    let open = |f: &Flag| f.state != crate::model::AlertState::Resolved;
    if !flags.iter().any(open) {
        return Vec::new();
    }
    let all = flags.to_vec();
    // Deploys and upstream status once per refresh, not once per flag.
    let project = ProjectWide::fetch(source, snap.at).await;
    let index: HashMap<&ServiceId, &ServiceMetrics> = snap.index();
    let mut bundles = Vec::new();
    for flag in flags.iter_mut().filter(|f| open(f)) {
        let metrics = index.get(&flag.service).copied();
        let (evidence, _, judgement) =
            assess_with(source, &project, snap, metrics, detector, &all, flag).await;
        flag.verdict = judgement.verdict;
        flag.reason = judgement.reason();
        bundles.push(evidence);
    }
    bundles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::model::Verdict;
    use crate::sources::demo::{Demo, DemoClock, DEFAULT_SEED};
    use crate::sources::Source;

    #[tokio::test]
    async fn the_demo_comes_out_right() {
        let anchor = 1_790_000_000_000;
        let source = Source::Demo {
            demo: Demo::new(DEFAULT_SEED, anchor),
            clock: DemoClock::new(anchor, 1.0),
        };
        let Source::Demo { demo, .. } = &source else {
            unreachable!()
        };
        let snap = demo.snapshot(anchor, 3_600_000, 15_000);
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let mut flags = d.flags(&snap);
        judge_all(&source, &snap, &d, &mut flags).await;
        let verdict = |svc: &str| {
            flags
                .iter()
                .find(|f| f.service.0 == svc)
                .map(|f| (f.verdict, f.reason.clone()))
                .unwrap_or_else(|| panic!("{svc} not flagged: {flags:#?}"))
        };
        assert_eq!(
            verdict("api").0,
            Verdict::Actionable,
            "{:?}",
            verdict("api")
        );
        assert_eq!(
            verdict("checkout").0,
            Verdict::Actionable,
            "{:?}",
            verdict("checkout")
        );
        assert!(
            verdict("checkout").1.contains("deploy 9f3c2ab"),
            "{:?}",
            verdict("checkout")
        );
        assert_eq!(verdict("web").0, Verdict::Load, "{:?}", verdict("web"));
        assert_eq!(
            verdict("email").0,
            Verdict::External,
            "{:?}",
            verdict("email")
        );
        assert!(
            verdict("email").1.contains("postmark"),
            "{:?}",
            verdict("email")
        );
        assert!(!flags.iter().any(|f| f.service.0 == "batch"));
    }
}
