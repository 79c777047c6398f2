//! Plans: what the on-call engineer reads, edits and approves. Every claim
//! cites evidence; a plan citing evidence that does not exist is rejected.

pub mod fence;
pub mod heuristic;
pub mod llm;
pub mod markdown;
pub mod planner;
pub mod pr_body;
pub mod schema;
pub mod verify;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::detect::Detector;
    use crate::model::{FixKind, Metric, Mitigation, Plan};
    use crate::sources::demo::{Demo, DemoClock, DEFAULT_SEED};
    use crate::sources::Source;

    fn demo_plans() -> Vec<(String, Plan, crate::model::Evidence)> {
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
        let flags = d.flags(&snap);
        flags
            .iter()
            .map(|f| {
                let (evidence, signals, judgement) = futures_util::FutureExt::now_or_never(
                    crate::triage::assess(&source, &snap, &d, &flags, f),
                )
                .unwrap();
                let svc = snap
                    .services
                    .iter()
                    .find(|s| s.service == f.service)
                    .unwrap();
                let plan = heuristic::plan(heuristic::Input {
                    flag: f,
                    judgement: &judgement,
                    evidence: &evidence,
                    signals: &signals,
                    limit: f.metric.limit().and_then(|l| svc.last(l)),
                });
                (f.service.0.clone(), plan, evidence)
            })
            .collect()
    }

    #[test]
    fn demo_plans_cite_real_evidence_and_carry_the_right_change() {
        for (svc, plan, evidence) in demo_plans() {
            // Declared before anything runs, in words the engineer reads.
            let rule = plan
                .verification_rule
                .as_ref()
                .expect("every plan has a rule");
            assert_eq!(rule.service.0, svc);
            let words = verify::words(rule);
            match svc.as_str() {
                "api" => assert!(
                    words.starts_with(
                        "verified when api's memory stays below 90% of its limit for 30m"
                    ),
                    "{words}"
                ),
                "checkout" | "email" => assert!(
                    words.contains("'s 5xx share stays below 5.0% for 30m"),
                    "{words}"
                ),
                _ => {}
            }
            assert!(
                heuristic::unknown_citations(&plan, &evidence).is_empty(),
                "{svc}: {:?} not in {:?}",
                plan.root_cause.evidence,
                evidence.items.iter().map(|i| &i.id).collect::<Vec<_>>()
            );
            assert!(!plan.root_cause.evidence.is_empty(), "{svc}");
            match svc.as_str() {
                "api" => {
                    assert_eq!(plan.fix_kind, FixKind::Config);
                    assert!(
                        matches!(
                            plan.mitigations[..],
                            [Mitigation::RaiseMemoryLimit {
                                bytes: 48_000_000_000,
                                ..
                            }]
                        ),
                        "{plan:#?}"
                    );
                    assert!(
                        plan.root_cause
                            .evidence
                            .iter()
                            .any(|e| e == "deploy:a17be44"),
                        "{plan:#?}"
                    );
                    assert!(
                        plan.root_cause
                            .evidence
                            .iter()
                            .any(|e| e.starts_with("log:")),
                        "{plan:#?}"
                    );
                }
                "checkout" => {
                    assert_eq!(plan.fix_kind, FixKind::Rollback);
                    assert!(
                        matches!(&plan.mitigations[..], [Mitigation::RollbackImage { tag, .. }] if tag == "v3.8.0")
                    );
                }
                "web" => assert_eq!(plan.fix_kind, FixKind::Scale),
                "email" => {
                    assert_eq!(plan.fix_kind, FixKind::None);
                    assert!(plan.mitigations.is_empty());
                    assert!(plan
                        .root_cause
                        .evidence
                        .contains(&"upstream:postmark".to_string()));
                }
                other => panic!("unexpected plan for {other}"),
            }
            let _ = Metric::Memory;
        }
    }

    #[test]
    fn markdown_round_trips() {
        for (svc, plan, _) in demo_plans() {
            let text = markdown::render(&plan);
            let back = markdown::parse(&text).unwrap_or_else(|e| panic!("{svc}: {e}\n{text}"));
            assert_eq!(back, plan, "{svc}\n{text}");
        }
    }

    #[test]
    fn a_broken_edit_points_at_its_line() {
        let (_, plan, _) = demo_plans().into_iter().find(|p| p.0 == "api").unwrap();
        let text = markdown::render(&plan);
        let broken = text.replace(
            "- raise-memory-limit api 48000000000",
            "- raise-memory-limit api lots",
        );
        let err = markdown::parse(&broken).unwrap_err();
        let line = broken.lines().position(|l| l.contains("lots")).unwrap() + 1;
        assert_eq!(err.line, line, "{err}");
        assert!(err.to_string().contains("`lots` is not a number of bytes"));
        let err = markdown::parse(&text.replace("## Risks", "## Riskz")).unwrap_err();
        assert!(err.message.contains("unknown section `Riskz`"), "{err}");
        let edited = markdown::parse(&text.replace("48000000000", "64000000000")).unwrap();
        assert!(matches!(
            edited.mitigations[..],
            [Mitigation::RaiseMemoryLimit {
                bytes: 64_000_000_000,
                ..
            }]
        ));
    }

    /// `medic fix` on a memory flag of a service without HTTP metrics: the
    /// plan cites only what the bundle holds, in the citations and the text.
    #[test]
    fn a_service_without_http_metrics_gets_a_plan_citing_only_what_exists() {
        let anchor = 1_790_000_000_000;
        let demo = Demo::new(DEFAULT_SEED, anchor);
        let mut snap = demo.snapshot(anchor, 3_600_000, 15_000);
        for s in &mut snap.services {
            s.series[Metric::Requests.index()] = None;
            s.series[Metric::Errors.index()] = None;
        }
        let source = Source::Demo {
            demo,
            clock: DemoClock::new(anchor, 1.0),
        };
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let flags = d.flags(&snap);
        let f = flags
            .iter()
            .find(|f| f.service.0 == "api" && f.metric == Metric::Memory)
            .expect("api's memory is flagged");
        let (evidence, signals, judgement) = futures_util::FutureExt::now_or_never(
            crate::triage::assess(&source, &snap, &d, &flags, f),
        )
        .unwrap();
        assert!(evidence.get("metric:requests").is_none());
        let plan = heuristic::plan(heuristic::Input {
            flag: f,
            judgement: &judgement,
            evidence: &evidence,
            signals: &signals,
            limit: Some(32e9),
        });
        let unknown = heuristic::unknown_citations(&plan, &evidence);
        assert!(unknown.is_empty(), "cites {unknown:?}\n{plan:#?}");
        let text = serde_json::to_string(&plan).unwrap();
        assert!(!text.contains("metric:requests"), "{text}");
    }
}
