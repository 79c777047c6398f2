//! Incident memory: an api incident verified after its raised limit went
//! live is `history:` evidence for the next similar one, the planner cites
//! it, and `medic incidents --similar ID` lists it.

use medic::detect::Detector;
use medic::forge::local::LocalForge;
use medic::model::{AlertState, EvidenceKind, Millis, Plan};
use medic::sources::demo::{Demo, DEFAULT_SEED};
use medic::workflow::engine::{Engine, StepRecord};
use medic::workflow::incident::{
    open_or_resume, Incident, Origin, OriginSource, Outcome, Parts, Run, Triage,
};
use medic::workflow::journal::Journal;
use std::path::Path;

/// An api memory incident on a demo anchored at `anchor`, running fast.
fn open_api(journal: &Journal, anchor: Millis, started: Millis) -> String {
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
            // Ten demo minutes per wall second: the 35-minute watch takes 3.5 s.
            speed: 600.0,
            started: Some(started),
        },
        config: None,
        planner: "heuristic".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
        settings: None,
    };
    open_or_resume(journal, flag, origin, snap.at).unwrap().id
}

async fn drive(journal: &Journal, dir: &Path, id: &str, approve: bool) -> Outcome {
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
        seen: None,
    };
    run.drive(id).await.unwrap()
}

fn stored<T: serde::de::DeserializeOwned>(journal: &Journal, id: &str, step: &str) -> T {
    let rec: StepRecord = journal.step(id, step).unwrap().unwrap();
    serde_json::from_value(rec.output.unwrap()).unwrap()
}

#[tokio::test]
async fn a_second_similar_incident_shows_the_first_as_history() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let wall = medic::sources::wall_now();
    let anchor = wall.div_euclid(60_000) * 60_000 - 12 * 86_400_000;
    let first = open_api(&journal, anchor, wall);
    let Outcome::PrOpened(pr) = drive(&journal, dir.path(), &first, true).await else {
        panic!("the first pull request opens")
    };
    LocalForge::demo(dir.path())
        .unwrap()
        .merge(pr.number)
        .unwrap();
    assert!(matches!(
        drive(&journal, dir.path(), &first, false).await,
        Outcome::Watched { .. }
    ));

    // Nine days later, api again.
    let later = anchor + 9 * 86_400_000;
    let second = open_api(&journal, later, medic::sources::wall_now());
    assert_ne!(first, second, "a closed episode is not reopened");
    assert_eq!(
        drive(&journal, dir.path(), &second, false).await,
        Outcome::AwaitingApproval
    );
    let triage: Triage = stored(&journal, &second, "evidence");
    let history: Vec<_> = triage
        .evidence
        .items
        .iter()
        .filter(|i| i.kind == EvidenceKind::History)
        .collect();
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0].id, format!("history:{first}"));
    assert!(
        history[0]
            .detail
            .starts_with("raised the memory limit 32 GB→48 GB, verified ")
            && history[0].detail.contains(" after deploy"),
        "{}",
        history[0].detail
    );
    // The planner sees it: the same fix, citing what worked.
    let plan: Plan = stored(&journal, &second, "plan");
    assert!(
        plan.root_cause.evidence.contains(&history[0].id),
        "{:?}",
        plan.root_cause.evidence
    );
    assert!(
        plan.summary.contains("The same fix worked before"),
        "{}",
        plan.summary
    );

    // And the command line lists it.
    drop(journal);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["incidents", "--similar", &second])
        .env_remove("MEDIC_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&first) && text.contains("verified"), "{text}");

    // Replayed through today's triage and planner, the history agrees with itself.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--demo", "eval", "incidents"])
        .env_remove("MEDIC_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("verdicts agree 2/2; fix kinds agree 2/2; outcomes agree 1/1"),
        "{text}"
    );
}
