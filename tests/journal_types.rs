//! Every journaled type round-trips through the journal, whatever numbers it
//! holds: NaN (an Alertmanager flag has no threshold, an alert without a
//! value annotation has no value), ±Inf, and ordinary values. A non-finite
//! number comes back absent (NaN or `None`), a finite one exactly.

use medic::model::{
    AlertState, Evidence, EvidenceItem, EvidenceKind, FixKind, Flag, Metric, Mitigation, Plan,
    PlanStep, PullRequest, RootCause, ServiceId, Severity, Todo, TodoStatus, Unit, Verdict,
};
use medic::plan::llm::Spent;
use medic::triage::context::Signals;
use medic::triage::verdict::Judgement;
use medic::workflow::engine::{EventKind, StepRecord, StepStatus, WorkflowEvent};
use medic::workflow::incident::{
    AgentWork, Approval, Incident, Origin, OriginSource, Status, Triage,
};
use medic::workflow::journal::{EffectEntry, Journal};
use proptest::prelude::*;

/// Finite values, and the non-finite ones JSON cannot hold.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        any::<f64>(),
        -1e12..1e12f64,
    ]
}

fn flag(value: f64, threshold: f64, eta: Option<f64>) -> Flag {
    Flag {
        service: ServiceId("api".into()),
        rule: "memory-near-limit".into(),
        metric: Metric::Memory,
        state: AlertState::Firing,
        value,
        threshold,
        op: ">".into(),
        unit: Unit::Ratio,
        since: 1_700_000_000_000,
        onset: 1_700_000_000_000,
        verdict: Verdict::Actionable,
        reason: "memory at 97% of its limit".into(),
        eta_seconds: eta,
    }
}

fn plan(confidence: f64) -> Plan {
    Plan {
        title: "Raise api's memory limit".into(),
        summary: "api leaks".into(),
        severity: Severity::High,
        root_cause: RootCause {
            hypothesis: "a leak".into(),
            confidence,
            evidence: vec!["metric:memory@onset".into()],
        },
        alternatives: vec![],
        fix_kind: FixKind::Config,
        steps: vec![PlanStep {
            id: "s1".into(),
            description: "raise it".into(),
            files: vec![],
        }],
        verification: vec!["memory below 90%".into()],
        risks: vec![],
        rollback: "lower it".into(),
        mitigations: vec![Mitigation::RaiseMemoryLimit {
            service: ServiceId("api".into()),
            bytes: 1 << 36,
        }],
        verification_rule: Some(medic::model::VerificationRule {
            service: ServiceId("api".into()),
            rule: "memory-near-limit".into(),
            signal: "memory / memory_limit".into(),
            op: ">".into(),
            threshold: 0.9,
            also: vec!["errors / requests < 0.01".into()],
            window_ms: 1_800_000,
            hold_down_ms: 300_000,
            deadline_ms: 7_200_000,
        }),
    }
}

fn incident(x: [f64; 5], eta: Option<f64>) -> Incident {
    Incident {
        id: "20261204-1200-api-3f2a".into(),
        service: ServiceId("api".into()),
        rule: "memory-near-limit".into(),
        flag: flag(x[0], x[1], eta),
        opened_at: 1_700_000_000_000,
        status: Status::PrOpened,
        origin: Origin {
            source: OriginSource::Demo {
                seed: 7,
                anchor: 1_700_000_000_000,
                speed: 1.0,
                started: None,
            },
            config: None,
            planner: "heuristic".into(),
            agent: "mitigate".into(),
            forge: "local".into(),
            settings: None,
        },
        approval: Some(Approval {
            by: "ops".into(),
            at: 1,
            plan_digest: "00ff".into(),
            publish: true,
        }),
        plan_edit: Some(plan(x[2])),
        publish_go: None,
        held_confirmed: Some("abc".into()),
        llm_spent: Spent {
            calls: 1,
            tokens: 10,
            usd: x[3],
        },
        pr: Some(PullRequest {
            number: 1,
            url: "file:///pr/1".into(),
            branch: "medic/x".into(),
            base: "main".into(),
            title: "t".into(),
            body: "b".into(),
            draft: true,
        }),
        error: None,
        latest: Some(flag(x[4], x[1], eta)),
        outcome: Some("✔ verified 31m after deploy".into()),
    }
}

/// The same number after a trip through JSON: finite exactly, else absent.
fn same(before: f64, after: f64) -> bool {
    if before.is_finite() {
        before == after
    } else {
        after.is_nan()
    }
}

fn same_opt(before: Option<f64>, after: Option<f64>) -> bool {
    match before {
        Some(b) if b.is_finite() => after == Some(b),
        _ => after.is_none() || after.is_some_and(f64::is_nan),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incidents_round_trip_through_the_journal(
        x in [number(), number(), number(), number(), number()],
        eta in proptest::option::of(number()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let inc = incident(x, eta);
        journal.put_incident(&inc.id, &inc).unwrap();
        let back: Incident = journal.incident(&inc.id).unwrap().unwrap();
        prop_assert!(same(x[0], back.flag.value));
        prop_assert!(same(x[1], back.flag.threshold));
        prop_assert!(same_opt(eta, back.flag.eta_seconds));
        prop_assert!(same(x[2], back.plan_edit.as_ref().unwrap().root_cause.confidence));
        prop_assert!(same(x[3], back.llm_spent.usd));
        prop_assert!(same(x[4], back.latest.as_ref().unwrap().value));
        // A second trip changes nothing: the stored form is a fixed point.
        prop_assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&inc).unwrap()
        );
        let listed: Vec<Incident> = journal.incidents().unwrap();
        prop_assert_eq!(listed.len(), 1);
    }

    #[test]
    fn step_outputs_and_events_round_trip(
        x in [number(), number(), number(), number(), number()],
        limit in proptest::option::of(number()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        // Step outputs go through serde_json::Value, as the engine stores them.
        let triage = Triage {
            evidence: Evidence {
                service: ServiceId("api".into()),
                rule: "r".into(),
                onset: 1,
                items: vec![EvidenceItem {
                    id: "metric:memory@onset".into(),
                    kind: EvidenceKind::Metric,
                    title: "memory".into(),
                    detail: format!("{}", x[0]),
                    at: Some(1),
                }],
                gaps: vec![],
            },
            signals: Signals {
                metric: Some(Metric::Memory),
                traffic_ratio: Some(x[1]),
                usage_ratio: Some(x[2]),
                upstream_error_share: x[3],
                ..Default::default()
            },
            judgement: Judgement {
                verdict: Verdict::Actionable,
                reasons: vec!["why".into()],
            },
            limit,
        };
        let rec = StepRecord {
            name: "evidence".into(),
            status: StepStatus::Done,
            attempts: 1,
            output: Some(serde_json::to_value(&triage).unwrap()),
            error: None,
            at: 1,
        };
        journal.put_step("i", "evidence", &rec).unwrap();
        let back: StepRecord = journal.step("i", "evidence").unwrap().unwrap();
        let t: Triage = serde_json::from_value(back.output.unwrap()).unwrap();
        prop_assert!(same_opt(Some(x[1]), t.signals.traffic_ratio));
        prop_assert!(same(x[3], t.signals.upstream_error_share));
        prop_assert!(same_opt(limit, t.limit));

        let work = AgentWork {
            commit: Some("abc".into()),
            diff: "d".into(),
            diff_stat: "s".into(),
            changes: vec![],
            todos: vec![Todo { id: "1".into(), content: "c".into(), status: TodoStatus::Completed }],
            refs: Some(medic::forge::remote::RefSnapshot {
                refs: [("refs/heads/main".to_string(), "ab".repeat(20))].into(),
            }),
            held: vec![medic::forge::policy::Held {
                path: ".github/workflows/x.yml".into(),
                why: "CI".into(),
            }],
        };
        let out = serde_json::to_value(&work).unwrap();
        prop_assert_eq!(serde_json::from_value::<AgentWork>(out).unwrap(), work);
        let plan_out = serde_json::to_value(plan(x[4])).unwrap();
        let p: Plan = serde_json::from_value(plan_out).unwrap();
        prop_assert!(same(x[4], p.root_cause.confidence));

        let event = WorkflowEvent {
            incident: "i".into(),
            at: 1,
            kind: EventKind::Log { line: format!("value {}", x[0]) },
        };
        journal.append_event("i", &event).unwrap();
        prop_assert_eq!(journal.events::<WorkflowEvent>("i").unwrap(), vec![event]);
        let effect = EffectEntry {
            incident: "i".into(),
            key: "push:medic/x".into(),
            phase: "intent".into(),
            detail: "abc".into(),
            at: 1,
        };
        journal.log_effect(&effect).unwrap();
        prop_assert_eq!(journal.effects("i").unwrap(), vec![effect]);
    }
}
