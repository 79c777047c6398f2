//! One open incident per (service, rule): a flag that persists updates the
//! open incident; a closed one lets the next episode open a new incident.

use medic::model::{AlertState, Flag, Metric, ServiceId, Unit, Verdict};
use medic::workflow::incident::{open_or_resume, Incident, Origin, OriginSource, Status};
use medic::workflow::journal::Journal;

fn flag(service: &str, rule: &str, onset: i64, value: f64) -> Flag {
    Flag {
        service: ServiceId(service.into()),
        rule: rule.into(),
        metric: Metric::Memory,
        state: AlertState::Firing,
        value,
        threshold: 0.9,
        op: ">".into(),
        unit: Unit::Ratio,
        since: onset + 300_000,
        onset,
        verdict: Verdict::Actionable,
        reason: format!("memory at {value}"),
        eta_seconds: None,
    }
}

fn origin() -> Origin {
    Origin {
        source: OriginSource::Demo {
            seed: 1,
            anchor: 0,
            speed: 1.0,
            started: None,
        },
        config: None,
        planner: "heuristic".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
        settings: None,
    }
}

#[test]
fn a_persisting_flag_updates_the_open_incident() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let t = 1_790_000_000_000;
    let first = open_or_resume(
        &journal,
        &flag("api", "memory-near-limit", t, 0.91),
        origin(),
        t,
    )
    .unwrap();
    // The same trouble a minute later (and re-detected with a later onset, as after a restart of medic).
    let later = flag("api", "memory-near-limit", t + 60_000, 0.95);
    let again = open_or_resume(&journal, &later, origin(), t + 60_000).unwrap();
    assert_eq!(first.id, again.id);
    let all: Vec<Incident> = journal.incidents().unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        all[0].latest.as_ref(),
        Some(&later),
        "the open incident holds the latest flag"
    );
    assert_eq!(
        all[0].flag.value, 0.91,
        "the opening flag is kept as it was"
    );

    // Another rule on the same service, or the same rule elsewhere: their own incidents.
    open_or_resume(
        &journal,
        &flag("api", "cpu-saturated", t, 0.95),
        origin(),
        t,
    )
    .unwrap();
    open_or_resume(
        &journal,
        &flag("web", "memory-near-limit", t, 0.95),
        origin(),
        t,
    )
    .unwrap();
    assert_eq!(journal.incidents::<Incident>().unwrap().len(), 3);

    // Once closed, the next episode is a new incident.
    let mut closed = again.clone();
    closed.status = Status::NoChange;
    journal.put_incident(&closed.id, &closed).unwrap();
    let next = open_or_resume(
        &journal,
        &flag("api", "memory-near-limit", t + 7_200_000, 0.97),
        origin(),
        t + 7_200_000,
    )
    .unwrap();
    assert_ne!(next.id, first.id);
    assert_eq!(journal.incidents::<Incident>().unwrap().len(), 4);
}

#[test]
fn an_open_pull_request_keeps_the_episode_and_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let t = 1_790_000_000_000;
    let mut first = open_or_resume(
        &journal,
        &flag("api", "memory-near-limit", t, 0.91),
        origin(),
        t,
    )
    .unwrap();
    first.status = Status::PrOpened;
    first.llm_spent.tokens = 1234;
    journal.put_incident(&first.id, &first).unwrap();
    // The flag still fires (re-detected with the same onset, then a later one).
    for onset in [t, t + 60_000] {
        let again = open_or_resume(
            &journal,
            &flag("api", "memory-near-limit", onset, 0.95),
            origin(),
            onset,
        )
        .unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.status, Status::PrOpened);
        assert_eq!(again.llm_spent.tokens, 1234, "the budget is never reset");
    }
    assert_eq!(journal.incidents::<Incident>().unwrap().len(), 1);
}

#[test]
fn an_incident_id_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let t = 1_790_000_000_000;
    let f = flag("api", "memory-near-limit", t, 0.91);
    let mut first = open_or_resume(&journal, &f, origin(), t).unwrap();
    first.status = Status::Cancelled;
    first.llm_spent.tokens = 99;
    journal.put_incident(&first.id, &first).unwrap();
    // The same onset again after the operator cancelled: a new incident, the old one intact.
    let next = open_or_resume(&journal, &f, origin(), t + 1).unwrap();
    assert_ne!(next.id, first.id);
    let old: Incident = journal.incident(&first.id).unwrap().unwrap();
    assert_eq!(old.status, Status::Cancelled);
    assert_eq!(old.llm_spent.tokens, 99);
    // The journal creates only if absent.
    assert!(!journal.create_incident(&first.id, &next).unwrap());
    let old: Incident = journal.incident(&first.id).unwrap().unwrap();
    assert_eq!(old.status, Status::Cancelled);
}

#[test]
fn a_flag_that_cleared_resolves_the_pull_requests_incident() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let t = 1_790_000_000_000;
    let mut inc = open_or_resume(
        &journal,
        &flag("api", "memory-near-limit", t, 0.91),
        origin(),
        t,
    )
    .unwrap();
    inc.status = Status::PrOpened;
    journal.put_incident(&inc.id, &inc).unwrap();
    let mut still = flag("web", "memory-near-limit", t, 0.95);
    still.state = AlertState::Firing;
    // api missing from a scrape has not recovered.
    let web_only = [(ServiceId("web".into()), Metric::Memory)];
    medic::workflow::incident::resolve_cleared(&journal, &[still.clone()], &web_only).unwrap();
    let back: Incident = journal.incident(&inc.id).unwrap().unwrap();
    assert_eq!(back.status, Status::PrOpened);
    // Nor has api whose memory series vanished while its CPU is still scraped
    // (an exporter restart): its rule reads absent, not recovered.
    let memory_gone = [
        (ServiceId("web".into()), Metric::Memory),
        (ServiceId("api".into()), Metric::Cpu),
    ];
    medic::workflow::incident::resolve_cleared(&journal, &[still.clone()], &memory_gone).unwrap();
    let back: Incident = journal.incident(&inc.id).unwrap().unwrap();
    assert_eq!(back.status, Status::PrOpened);
    let both = [
        (ServiceId("web".into()), Metric::Memory),
        (ServiceId("api".into()), Metric::Memory),
    ];
    medic::workflow::incident::resolve_cleared(&journal, &[still], &both).unwrap();
    let back: Incident = journal.incident(&inc.id).unwrap().unwrap();
    assert_eq!(back.status, Status::Resolved);
    // The next episode is a new incident.
    let next = open_or_resume(
        &journal,
        &flag("api", "memory-near-limit", t + 7_200_000, 0.97),
        origin(),
        t + 7_200_000,
    )
    .unwrap();
    assert_ne!(next.id, inc.id);
}

/// The demo flow to a pull request, then medic restarts a minute later (the
/// demo re-anchors, so the leak is re-detected with a later onset) and runs
/// the flow again: still one incident and one pull request.
#[tokio::test]
async fn restarting_the_demo_does_not_open_a_second_pull_request() {
    use medic::detect::Detector;
    use medic::sources::demo::{Demo, DEFAULT_SEED};
    use medic::workflow::engine::Engine;
    use medic::workflow::incident::{Outcome, Parts, Run};
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let base = 1_790_000_000_000 / 60_000 * 60_000;
    for restart in 0..2 {
        let anchor = base + restart * 60_000;
        let snap = Demo::new(DEFAULT_SEED, anchor).snapshot(anchor, 3_600_000, 15_000);
        let mut detector = Detector::new(medic::config::Config::default().rules());
        detector.ingest(&snap);
        let flags = detector.flags(&snap);
        let flag = flags
            .iter()
            .find(|f| f.service.0 == "api" && f.state == AlertState::Firing)
            .expect("the demo's api leak fires");
        let origin = Origin {
            source: OriginSource::Demo {
                seed: DEFAULT_SEED,
                anchor,
                speed: 1.0,
                started: None,
            },
            ..origin()
        };
        let inc = open_or_resume(&journal, flag, origin, snap.at).unwrap();
        let parts = Parts::for_origin(&inc.origin, dir.path()).unwrap();
        let (_cancel, cancelled) = tokio::sync::watch::channel(false);
        let engine = Engine::new(journal.clone(), cancelled);
        let run = Run {
            engine: &engine,
            parts: &parts,
            approve: true,
            publish: true,
            confirm_held: false,
            operator: "ops".into(),
            seen: None,
        };
        let outcome = run.drive(&inc.id).await.unwrap();
        assert!(matches!(outcome, Outcome::PrOpened(_)), "{outcome:?}");
    }
    let prs = medic::forge::local::LocalForge::demo(dir.path())
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(prs.len(), 1, "{prs:#?}");
    assert_eq!(journal.incidents::<Incident>().unwrap().len(), 1);
}
