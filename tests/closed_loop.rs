//! The closed loop on the demo, headless: `medic fix api --demo --yes`,
//! then `medic merge ID`, reaches *verified* with the outcome commented on
//! the pull request, also when medic is killed with SIGKILL at random
//! instants along the way (inside the verification window too) and resumed.
//! And the not-fixed path: a change that does not help reopens the
//! incident, says so on the pull request and offers a revert.

use medic::detect::Detector;
use medic::forge::local::{LocalForge, PullState};
use medic::model::{AlertState, FixKind, Mitigation, Plan};
use medic::sources::demo::{Demo, DEFAULT_SEED};
use medic::workflow::engine::{Engine, StepRecord};
use medic::workflow::incident::{
    open_or_resume, Incident, Origin, OriginSource, Outcome, Parts, Run, Status,
};
use medic::workflow::journal::Journal;
use medic::workflow::watch::Verdict;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Demo minutes per wall second: the 35 demo minutes of hold-down and
/// window pass in about 17 s.
const SPEED: &str = "120";

fn medic(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medic"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_STEP_DELAY_MS");
    c
}

fn run(data: &Path, args: &[&str]) -> Output {
    let out = medic(data, args).output().unwrap();
    assert!(
        out.status.success(),
        "medic {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn incidents(data: &Path) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&run(data, &["incidents", "--json"]).stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pr_record(data: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(data.join("forge/pulls/shop/1.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn merges_on_main(data: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-list", "--merges", "--count", "main"])
        .current_dir(data.join("forge/repos/shop.git"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn fix_then_merge_reaches_verified_headless_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run(data, &["--speed", SPEED, "fix", "api", "--demo", "--yes"]);
    let id = incidents(data)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(incidents(data)[0]["status"], "pr opened");

    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let started = Instant::now();
    let mut kills = 0;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "never verified: {:#?}",
            incidents(data)
        );
        let inc = incidents(data).remove(0);
        if inc["status"] == "verified" {
            break;
        }
        // The operator's merge, then (after a crash) resume until it is decided.
        let merged = pr_record(data)["state"] == "merged";
        seen.insert(inc["status"].as_str().unwrap_or("?").to_string());
        let args: Vec<&str> = if merged {
            // Without an id: a cut-off watch is one of the interrupted runs.
            vec!["resume"]
        } else {
            vec!["merge", &id]
        };
        let mut child = medic(data, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kills < 5 {
            // Anywhere from the merge to well inside the 30-minute window.
            let after = Duration::from_millis(splitmix(&mut seed) % 6000);
            std::thread::sleep(after);
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            if !exited {
                kills += 1;
                println!(
                    "killed `{}` after {after:?}: {}",
                    args.join(" "),
                    inc["outcome"]
                );
            }
        } else {
            assert!(child.wait().unwrap().success());
        }
    }
    assert!(kills >= 3, "the kills landed ({kills})");
    assert!(
        seen.contains("watching the change"),
        "a kill landed inside the watch: {seen:?}"
    );
    let inc = incidents(data).remove(0);
    let outcome = inc["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("✔ verified ") && outcome.ends_with(" after deploy"),
        "{outcome}"
    );
    for step in ["merged", "live", "watch", "comment"] {
        assert_eq!(inc["steps"][step], "done", "{inc:#}");
    }
    // The merge and the comment happened exactly once.
    assert_eq!(merges_on_main(data), "1");
    let pr = pr_record(data);
    assert_eq!(pr["state"], "merged");
    let comments = pr["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let c = comments[0].as_str().unwrap();
    assert!(
        c.contains("✔ verified") && c.contains("| when flagged | 9"),
        "{c}"
    );
    assert!(
        c.contains("api's memory stays below 90% of its limit for 30m"),
        "{c}"
    );
    assert!(
        pr["body"]
            .as_str()
            .unwrap()
            .contains("**Verified when api's memory"),
        "the PR body states the rule"
    );
    // The list says it too.
    let text = String::from_utf8_lossy(&run(data, &["incidents"]).stdout).to_string();
    assert!(text.contains("✔ verified "), "{text}");
}

#[tokio::test]
async fn a_change_that_does_not_help_is_not_fixed_and_offers_a_revert() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let wall = medic::sources::wall_now();
    let anchor = wall.div_euclid(60_000) * 60_000;
    let snap = Demo::new(DEFAULT_SEED, anchor).snapshot(anchor, 3_600_000, 15_000);
    let mut detector = Detector::new(medic::config::Config::default().rules());
    detector.ingest(&snap);
    let flags = detector.flags(&snap);
    let flag = flags
        .iter()
        .find(|f| f.service.0 == "checkout" && f.state == AlertState::Firing)
        .unwrap();
    let origin = Origin {
        source: OriginSource::Demo {
            seed: DEFAULT_SEED,
            anchor,
            // Ten demo minutes per wall second.
            speed: 600.0,
            started: Some(wall),
        },
        config: None,
        planner: "heuristic".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
        settings: None,
    };
    let id = open_or_resume(&journal, flag, origin, snap.at).unwrap().id;
    let drive = |approve: bool| {
        let journal = journal.clone();
        let id = id.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let inc: Incident = journal.incident(&id).unwrap().unwrap();
            let parts = Parts::for_origin(&inc.origin, &dir).unwrap();
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
            run.drive(&id).await.unwrap()
        }
    };
    assert_eq!(drive(false).await, Outcome::AwaitingApproval);
    // The operator swaps the rollback for more replicas: it will not help 5xx.
    let rec: StepRecord = journal.step(&id, "plan").unwrap().unwrap();
    let mut plan: Plan = serde_json::from_value(rec.output.unwrap()).unwrap();
    plan.fix_kind = FixKind::Scale;
    plan.mitigations = vec![Mitigation::SetReplicas {
        service: flag.service.clone(),
        replicas: 5,
    }];
    let rule = plan.verification_rule.as_mut().unwrap();
    (rule.window_ms, rule.hold_down_ms, rule.deadline_ms) = (10 * 60_000, 0, 30 * 60_000);
    let mut inc: Incident = journal.incident(&id).unwrap().unwrap();
    inc.plan_edit = Some(plan);
    journal.put_incident(&id, &inc).unwrap();
    let opened = drive(true).await;
    let Outcome::PrOpened(pr) = opened else {
        panic!("the pull request opens: {opened:?}")
    };
    LocalForge::demo(dir.path())
        .unwrap()
        .merge(pr.number)
        .unwrap();
    let Outcome::Watched { watched, .. } = drive(false).await else {
        panic!("the merge is watched through")
    };
    assert_eq!(watched.verdict, Verdict::NotFixed);
    let revert = watched.revert.as_ref().expect("a revert is offered");
    assert_eq!(revert.fix_kind, FixKind::Rollback);
    assert!(revert.title.starts_with("Revert "), "{}", revert.title);
    let inc: Incident = journal.incident(&id).unwrap().unwrap();
    assert_eq!(inc.status, Status::NotFixed);
    // The incident opens again as a follow-up whose plan is the revert.
    let follow: Incident = journal.incident(&format!("{id}-revert")).unwrap().unwrap();
    assert_eq!(follow.status, Status::Open);
    assert_eq!(follow.plan_edit.as_ref(), Some(revert));
    assert!(
        follow.opened_at > inc.opened_at,
        "fresh evidence, gathered now"
    );
    {
        let parts = Parts::for_origin(&follow.origin, dir.path()).unwrap();
        let (_cancel, cancelled) = tokio::sync::watch::channel(false);
        let engine = Engine::new(journal.clone(), cancelled);
        let run = Run {
            engine: &engine,
            parts: &parts,
            approve: false,
            publish: false,
            confirm_held: false,
            operator: "ops".into(),
            seen: None,
        };
        assert_eq!(
            run.drive(&follow.id).await.unwrap(),
            Outcome::AwaitingApproval,
            "the revert waits for the operator"
        );
        let evidence: StepRecord = journal.step(&follow.id, "evidence").unwrap().unwrap();
        assert!(
            evidence.output.is_some(),
            "the follow-up gathered its own evidence"
        );
    }
    let record = LocalForge::demo(dir.path())
        .unwrap()
        .get(pr.number)
        .unwrap()
        .unwrap();
    assert_eq!(record.state, PullState::Merged);
    let comment = &record.comments[0];
    assert!(
        comment.contains("✖ not fixed") && comment.contains("A revert is offered"),
        "{comment}"
    );
    // The operator is told on the event stream.
    let events: Vec<medic::workflow::engine::WorkflowEvent> = journal.events(&id).unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        medic::workflow::engine::EventKind::Finished { outcome } if outcome.contains("open again")
    )));
}
