//! The crash test: `medic fix api --demo --yes` killed with SIGKILL at random
//! instants spread over every step, restarted with `medic resume` each time
//! until it finishes; then exactly one branch, one PR record, every side
//! effect performed once, no approval lost, every step done.
//!
//! `MEDIC_CRASH_KILLS` sets the number of kills (default 30; try 500 locally),
//! `MEDIC_CRASH_SEED` replays a run. Every kill instant and the step it
//! reached is printed, so a failure can be reproduced.

mod common;

use common::{forge_repo, medic_branches};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Each step sleeps this long first, so kills land inside every step.
const STEP_DELAY_MS: u64 = 120;

fn medic(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medic"));
    c.arg("--data-dir")
        .arg(data)
        .env_remove("MEDIC_CONFIG")
        .env("MEDIC_STEP_DELAY_MS", STEP_DELAY_MS.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn output(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_STEP_DELAY_MS")
        .output()
        .unwrap()
}

fn incidents(data: &Path) -> Vec<serde_json::Value> {
    let out = output(data, &["incidents", "--json"]);
    assert!(
        out.status.success(),
        "incidents: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The furthest step that is done, for the log.
fn reached(data: &Path) -> String {
    match incidents(data).first() {
        None => "no incident yet".into(),
        Some(inc) => {
            let steps = &inc["steps"];
            let done: Vec<&str> = STEPS.into_iter().filter(|s| steps[*s] == "done").collect();
            format!(
                "{} [{}]",
                inc["status"].as_str().unwrap_or("?"),
                done.join(",")
            )
        }
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn kill_9_anywhere_then_resume_does_everything_exactly_once() {
    let kills: usize = std::env::var("MEDIC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut seed: u64 = std::env::var("MEDIC_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test: seed {seed}, {kills} kills (MEDIC_CRASH_SEED={seed} replays)");

    let mut killed_total = 0;
    let mut in_flight = std::collections::BTreeMap::<String, usize>::new();
    let mut round = 0;
    while killed_total < kills {
        round += 1;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let mut approved_seen = false;
        let mut launches = 0;
        loop {
            launches += 1;
            assert!(
                launches <= 200,
                "round {round} never finished after 200 runs (seed {seed}): {}",
                reached(data)
            );
            let incs = incidents(data);
            let args: &[&str] = match incs.first() {
                // Nothing journaled yet, or the approval itself was lost before
                // it reached the journal: the operator runs `fix --yes` again.
                None => &["fix", "api", "--demo", "--yes"],
                Some(i) if i["status"] == "awaiting approval" => &["fix", "api", "--demo", "--yes"],
                // The go to push was lost with the process (or never given:
                // `resume` alone never pushes): the operator gives it again.
                Some(i) if i["status"] == "diff ready: awaiting go to push" => {
                    let pushed = medic_branches(data);
                    assert!(
                        pushed.is_empty(),
                        "pushed before the go (round {round}, seed {seed}): {pushed:?}"
                    );
                    &["fix", "api", "--demo", "--yes"]
                }
                Some(i) if i["status"] == "pr opened" => break,
                Some(_) => &["resume"],
            };
            if let Some(i) = incs.first() {
                let approved = !i["approved_by"].is_null();
                assert!(
                    !approved_seen || approved,
                    "an approval was lost (round {round}, seed {seed})"
                );
                approved_seen |= approved;
            }
            // Aim at a step that has not finished: kill once it has started,
            // a random instant into it (each step begins with STEP_DELAY_MS of work).
            let pending: Vec<&str> = STEPS
                .into_iter()
                .filter(|s| incs.first().is_none_or(|i| i["steps"][*s] != "done"))
                .collect();
            // Aim at the unfinished step with the fewest kills so far, so
            // every step gets its share.
            let target = if killed_total >= kills {
                None
            } else {
                pending
                    .iter()
                    .min_by_key(|s| in_flight.get(**s).copied().unwrap_or(0))
                    .copied()
            };
            let delay = Duration::from_millis(splitmix(&mut seed) % (STEP_DELAY_MS + 40));
            let child = medic(data)
                .args(args)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let killed = run_until(child, target, delay);
            if killed {
                killed_total += 1;
                *in_flight
                    .entry(target.unwrap_or("-").to_string())
                    .or_default() += 1;
            }
            println!(
                "round {round} kill {killed_total:>3}: {:<24} {} in `{}` +{:>3} ms → {}",
                args.join(" "),
                if killed { "killed" } else { "exited" },
                target.unwrap_or("-"),
                delay.as_millis(),
                reached(data)
            );
        }
        check(data, seed, round);
    }
    println!("kills per step in flight: {in_flight:?}");
    for step in STEPS {
        assert!(
            in_flight.contains_key(step),
            "no kill landed in `{step}` (seed {seed}): {in_flight:?}"
        );
    }
}

const STEPS: [&str; 7] = [
    "evidence", "plan", "approval", "agent", "push", "pr", "verify",
];

/// Let the child run until it starts `target` (its `▶ target` line), then
/// `delay` more, then SIGKILL it. True when it was killed, false when it exited.
fn run_until(mut child: Child, target: Option<&str>, delay: Duration) -> bool {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let Some(target) = target else {
        let _ = child.wait();
        return false;
    };
    let marker = format!("▶ {target}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) if line.contains(&marker) => {
                std::thread::sleep(delay);
                let finished = matches!(child.try_wait(), Ok(Some(_)));
                let _ = child.kill(); // SIGKILL
                let _ = child.wait();
                return !finished;
            }
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
                assert!(Instant::now() < deadline, "medic hung");
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Everything happened exactly once.
fn check(data: &Path, seed: u64, round: usize) {
    let incs = incidents(data);
    assert_eq!(
        incs.len(),
        1,
        "one incident (round {round}, seed {seed}): {incs:#?}"
    );
    let inc = &incs[0];
    assert_eq!(
        inc["status"], "pr opened",
        "round {round}, seed {seed}: {inc:#}"
    );
    for step in STEPS {
        assert_eq!(
            inc["steps"][step], "done",
            "step {step} (round {round}, seed {seed}): {inc:#}"
        );
    }
    assert!(
        !inc["approved_by"].is_null(),
        "approval kept (round {round}, seed {seed})"
    );

    // Every side effect performed at most once, and each one happened.
    let effects = inc["effects"].as_array().unwrap();
    let keys: std::collections::BTreeSet<&str> =
        effects.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys.len(),
        2,
        "a push and a PR (round {round}, seed {seed}): {effects:#?}"
    );
    for key in keys {
        let performed = effects
            .iter()
            .filter(|e| e["key"] == key && e["phase"] == "performed")
            .count();
        let adopted = effects
            .iter()
            .filter(|e| e["key"] == key && e["phase"] == "adopted")
            .count();
        assert!(
            performed <= 1,
            "{key} performed {performed} times (round {round}, seed {seed}): {effects:#?}"
        );
        assert!(
            performed + adopted >= 1,
            "{key} never completed (round {round}, seed {seed}): {effects:#?}"
        );
    }

    // The forge: exactly one medic branch with one commit, and one PR record.
    let bare = forge_repo(data).expect("the local forge has a repository");
    let branches = medic_branches(data);
    assert_eq!(
        branches.len(),
        1,
        "one branch (round {round}, seed {seed}): {branches:?}"
    );
    let log = Command::new("git")
        .args(["rev-list", "--count", &format!("main..{}", branches[0])])
        .current_dir(&bare)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        "1",
        "one commit on the branch (round {round}, seed {seed})"
    );
    let pulls: Vec<_> = walk_json(&data.join("forge/pulls"));
    assert_eq!(
        pulls.len(),
        1,
        "one PR record (round {round}, seed {seed}): {pulls:?}"
    );
    let pr: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pulls[0]).unwrap()).unwrap();
    assert_eq!(pr["draft"], true);
    assert!(
        pr["diff"].as_str().unwrap().contains("48G"),
        "the diff raises the limit: {}",
        pr["diff"]
    );
}

fn walk_json(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_json(&p));
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out
}
