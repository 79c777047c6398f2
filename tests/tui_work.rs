//! The TUI's workflow task as the screen drives it: one task per incident,
//! each with its own cancel. A slow run never holds up another incident or
//! the operator's other commands, and a cancel stops only the incident it names.

use medic::model::AlertState;
use medic::setup::{Globals, Setup};
use medic::tui::app::Action;
use medic::tui::work::{self, Command, Controls, WorkContext};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Each step sleeps this long first: a run of evidence + plan takes ~2 s.
const STEP_DELAY_MS: &str = "1000";

async fn next(rx: &mut mpsc::Receiver<Action>, want: impl Fn(&Action) -> bool) -> Action {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(a)) if want(&a) => return a,
            Ok(Some(_)) => continue,
            _ => panic!("no such action within 30 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_per_incident_with_its_own_cancel() {
    std::env::set_var("MEDIC_STEP_DELAY_MS", STEP_DELAY_MS);
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::resolve(&Globals {
        demo: true,
        data_dir: Some(dir.path().to_path_buf()),
        speed: 1.0,
        config: None,
    })
    .unwrap();
    let mut source = setup.source.clone();
    let now = source.now();
    let snap = source
        .latest(now, setup.lookback(), setup.step())
        .await
        .unwrap();
    let mut detector = medic::detect::Detector::new(setup.rules.clone());
    detector.ingest(&snap);
    let flags = detector.flags(&snap);
    let flag = |svc: &str| {
        flags
            .iter()
            .find(|f| f.service.0 == svc && f.state == AlertState::Firing)
            .unwrap_or_else(|| panic!("the demo flags {svc}"))
            .clone()
    };

    let (tx, mut rx) = mpsc::channel::<Action>(4096);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (ui_tx, ui_rx) = mpsc::channel(8);
    let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
    let serving = tokio::spawn(work::serve(
        WorkContext::new(&setup),
        command_rx,
        Controls {
            ui: ui_rx,
            cancel: cancel_rx,
        },
        tx,
    ));
    commands.send(Command::Prepare(flag("api"))).unwrap();
    commands.send(Command::Prepare(flag("checkout"))).unwrap();
    let asked = Instant::now();
    commands.send(Command::ListIncidents).unwrap();
    let Action::Incidents(rows) = next(&mut rx, |a| matches!(a, Action::Incidents(_))).await else {
        unreachable!()
    };
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(800),
        "the list waited {waited:?} behind a run"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let checkout = rows
        .iter()
        .find(|r| r.service == "checkout")
        .unwrap()
        .id
        .clone();
    let api = rows.iter().find(|r| r.service == "api").unwrap().id.clone();

    // Cancel checkout while both run: api goes on to its plan.
    cancel_tx.send(checkout.clone()).unwrap();
    let mut done = std::collections::HashMap::new();
    while done.len() < 2 {
        let Action::Work(v) = next(
            &mut rx,
            |a| matches!(a, Action::Work(v) if v.status != "working…"),
        )
        .await
        else {
            unreachable!()
        };
        done.insert(v.incident.clone(), v.status.clone());
    }
    assert!(done[&checkout].contains("cancelled"), "{done:?}");
    assert!(done[&api].contains("waits for your approval"), "{done:?}");
    drop((commands, cancel_tx, ui_tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}

/// The workflow task for a demo setup in `dir`, and the demo's firing flag of `svc`.
async fn serve_demo(
    dir: &std::path::Path,
    svc: &str,
) -> (
    medic::model::Flag,
    mpsc::Receiver<Action>,
    mpsc::UnboundedSender<Command>,
    mpsc::UnboundedSender<String>,
    mpsc::Sender<medic::tui::resume::UiState>,
    tokio::task::JoinHandle<()>,
) {
    let setup = Setup::resolve(&Globals {
        demo: true,
        data_dir: Some(dir.to_path_buf()),
        speed: 1.0,
        config: None,
    })
    .unwrap();
    let mut source = setup.source.clone();
    let now = source.now();
    let snap = source
        .latest(now, setup.lookback(), setup.step())
        .await
        .unwrap();
    let mut detector = medic::detect::Detector::new(setup.rules.clone());
    detector.ingest(&snap);
    let flag = detector
        .flags(&snap)
        .into_iter()
        .find(|f| f.service.0 == svc && f.state == AlertState::Firing)
        .unwrap_or_else(|| panic!("the demo flags {svc}"));
    let (tx, rx) = mpsc::channel::<Action>(4096);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (ui_tx, ui_rx) = mpsc::channel(8);
    let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
    let serving = tokio::spawn(work::serve(
        WorkContext::new(&setup),
        command_rx,
        Controls {
            ui: ui_rx,
            cancel: cancel_rx,
        },
        tx,
    ));
    (flag, rx, commands, cancel_tx, ui_tx, serving)
}

/// The next view of the incident whose status contains `text`.
async fn view_saying(rx: &mut mpsc::Receiver<Action>, text: &str) -> medic::tui::app::WorkView {
    let Action::Work(v) = next(
        rx,
        |a| matches!(a, Action::Work(v) if v.status.contains(text)),
    )
    .await
    else {
        unreachable!()
    };
    *v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_once_the_change_is_ready_keeps_it_from_being_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (flag, mut rx, commands, cancel_tx, ui_tx, serving) = serve_demo(dir.path(), "api").await;
    commands.send(Command::Prepare(flag)).unwrap();
    let plan = view_saying(&mut rx, "waits for your approval").await;
    let plan_digest = medic::workflow::incident::plan_digest(plan.plan.as_ref().unwrap());
    commands
        .send(Command::Approve {
            incident: plan.incident.clone(),
            plan_digest,
        })
        .unwrap();
    let ready = view_saying(&mut rx, "change ready").await;
    assert!(ready.diff.is_some() && !ready.cancelled, "{ready:?}");

    // Nothing is in flight now: the cancel is journaled, and `p` then pushes nothing.
    cancel_tx.send(plan.incident.clone()).unwrap();
    let cancelled = view_saying(&mut rx, "cancelled by you").await;
    assert!(cancelled.cancelled, "{cancelled:?}");
    commands
        .send(Command::Publish(plan.incident.clone()))
        .unwrap();
    let after = view_saying(&mut rx, "cancelled by you").await;
    assert!(after.pr.is_none(), "{after:?}");
    drop((commands, cancel_tx, ui_tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;

    let remote = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(dir.path().join("forge/repos/shop.git"))
        .args(["branch", "--list", "medic/*"])
        .output()
        .unwrap();
    assert!(remote.status.success(), "{remote:?}");
    assert!(
        String::from_utf8_lossy(&remote.stdout).trim().is_empty(),
        "a branch was pushed after the cancel: {}",
        String::from_utf8_lossy(&remote.stdout)
    );

    // Started again on the same journal: the agent pane's activity is back.
    let (_, mut rx, commands, cancel_tx, ui_tx, serving) = serve_demo(dir.path(), "api").await;
    commands.send(Command::Show(plan.incident.clone())).unwrap();
    let Action::Work(back) = next(&mut rx, |a| matches!(a, Action::Work(_))).await else {
        unreachable!()
    };
    use medic::tui::activity::ActivityKind;
    assert!(
        back.activity
            .iter()
            .any(|a| a.kind == ActivityKind::Step && a.text.contains("agent done")),
        "{:?}",
        back.activity
    );
    assert!(
        back.activity.iter().any(|a| a.kind == ActivityKind::File),
        "{:?}",
        back.activity
    );
    drop((commands, cancel_tx, ui_tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_the_task_refuses_comes_back_as_a_notice_not_a_source_error() {
    let dir = tempfile::tempdir().unwrap();
    let (flag, mut rx, commands, cancel_tx, ui_tx, serving) = serve_demo(dir.path(), "api").await;
    commands.send(Command::Prepare(flag)).unwrap();
    let plan = view_saying(&mut rx, "waits for your approval").await;
    commands
        .send(Command::EditPlan {
            incident: plan.incident.clone(),
            markdown: "# A plan\n\n## Changes\n\n- set-replicas api lots\n".into(),
        })
        .unwrap();
    let answer = next(&mut rx, |a| {
        matches!(a, Action::Notice(_) | Action::SourceError(_))
    })
    .await;
    assert!(
        matches!(&answer, Action::Notice(n) if n.contains("not a replica count")),
        "{answer:?}"
    );
    drop((commands, cancel_tx, ui_tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}
