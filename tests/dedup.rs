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
        source: OriginSource::Demo { seed: 1, anchor: 0 },
        config: None,
        planner: "heuristic".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
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
