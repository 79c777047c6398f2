//! An approval is bound to the plan the operator saw: it names that plan's
//! digest, a different plan is not approved by it, on approval or on resume.

use medic::detect::Detector;
use medic::model::{AlertState, Plan};
use medic::sources::demo::{Demo, DEFAULT_SEED};
use medic::workflow::engine::{Engine, StepRecord};
use medic::workflow::incident::{
    open_or_resume, plan_digest, Incident, Origin, OriginSource, Outcome, Parts, Run,
};
use medic::workflow::journal::Journal;

async fn drive(
    journal: &Journal,
    dir: &std::path::Path,
    id: &str,
    approve: bool,
    seen: Option<String>,
) -> Outcome {
    let inc: Incident = journal.incident(id).unwrap().unwrap();
    let parts = Parts::for_origin(&inc.origin, dir).unwrap();
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let engine = Engine::new(journal.clone(), cancelled);
    let run = Run {
        engine: &engine,
        parts: &parts,
        approve,
        publish: true,
        confirm_held: false,
        operator: "ops".into(),
        seen,
    };
    run.drive(id).await.unwrap()
}

#[tokio::test]
async fn an_approval_covers_only_the_plan_that_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let anchor = 1_790_000_000_000;
    let snap = Demo::new(DEFAULT_SEED, anchor).snapshot(anchor, 3_600_000, 15_000);
    let mut detector = Detector::new(medic::config::Config::default().rules());
    detector.ingest(&snap);
    let flags = detector.flags(&snap);
    let flag = flags
        .iter()
        .find(|f| f.service.0 == "api" && f.state == AlertState::Firing)
        .unwrap();
    let origin = Origin {
        source: OriginSource::Demo {
            seed: DEFAULT_SEED,
            anchor,
            speed: 1.0,
            started: None,
        },
        config: None,
        planner: "heuristic".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
        settings: None,
    };
    let id = open_or_resume(&journal, flag, origin, snap.at).unwrap().id;
    assert_eq!(
        drive(&journal, dir.path(), &id, false, None).await,
        Outcome::AwaitingApproval
    );
    let rec: StepRecord = journal.step(&id, "plan").unwrap().unwrap();
    let plan: Plan = serde_json::from_value(rec.output.unwrap()).unwrap();

    // The screen showed another plan: no approval is journaled.
    let outcome = drive(
        &journal,
        dir.path(),
        &id,
        true,
        Some("0123456789abcdef".into()),
    )
    .await;
    assert_eq!(outcome, Outcome::AwaitingApproval);
    let inc: Incident = journal.incident(&id).unwrap().unwrap();
    assert!(inc.approval.is_none(), "{:?}", inc.approval);

    // Approved as seen; then the plan changes behind the approval: resume waits.
    let mut inc: Incident = journal.incident(&id).unwrap().unwrap();
    inc.approval = Some(medic::workflow::incident::Approval {
        by: "ops".into(),
        at: 1,
        plan_digest: plan_digest(&plan),
        publish: true,
    });
    let mut other = plan.clone();
    other.title = "Something else entirely".into();
    inc.plan_edit = Some(other);
    journal.put_incident(&id, &inc).unwrap();
    assert_eq!(
        drive(&journal, dir.path(), &id, false, None).await,
        Outcome::AwaitingApproval
    );
    assert!(
        journal.step::<StepRecord>(&id, "agent").unwrap().is_none(),
        "the agent never ran"
    );

    // The plan as seen, approved: it goes through.
    let mut inc: Incident = journal.incident(&id).unwrap().unwrap();
    inc.plan_edit = None;
    journal.put_incident(&id, &inc).unwrap();
    let outcome = drive(&journal, dir.path(), &id, true, Some(plan_digest(&plan))).await;
    assert!(matches!(outcome, Outcome::PrOpened(_)), "{outcome:?}");
}
