//! End to end in tmux: the real binary in a 120×40 pane, driven by keys only,
//! from a flagged service to a draft pull request. The screen text is
//! asserted at every stage, not just exit codes.

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is installed by .ci/run (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn screen(s: &Session) -> String {
    tmux(&["capture-pane", "-p", "-t", &s.0])
}

fn wait_for(s: &Session, text: &str) -> String {
    let start = Instant::now();
    loop {
        let shot = screen(s);
        if shot.contains(text) {
            return shot;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "`{text}` never appeared; the screen:\n{shot}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(s: &Session, k: &str) {
    tmux(&["send-keys", "-t", &s.0, k]);
}

#[test]
fn from_flag_to_pull_request_with_keys_only() {
    let data = tempfile::tempdir().unwrap();
    let name = format!("medic-e2e-{}", std::process::id());
    let cmd = format!(
        "env -u MEDIC_CONFIG {} --data-dir {} --demo",
        env!("CARGO_BIN_EXE_medic"),
        data.path().display()
    );
    let out = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ])
        .output()
        .expect("tmux is installed by .ci/run (apt-get install tmux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Session(name);

    let fleet = wait_for(&s, "flagged (4)");
    assert!(
        fleet.contains("✖ firing") && fleet.contains("api") && fleet.contains("memory"),
        "{fleet}"
    );
    assert!(
        fleet.contains("Enter open incident"),
        "footer hints from the key table:\n{fleet}"
    );

    keys(&s, "Enter"); // the first row is api
    let incident = wait_for(&s, "verdict: actionable");
    assert!(
        incident.contains("memory-near-limit") && incident.contains("deploy:a17be44"),
        "{incident}"
    );

    keys(&s, "p");
    let plan = wait_for(&s, "the plan waits for your approval");
    assert!(plan.contains("# Raise api's memory limit now"), "{plan}");
    assert!(
        plan.contains("metric:memory@onset"),
        "the plan cites its evidence:\n{plan}"
    );

    keys(&s, "a");
    wait_for(&s, "Approve this plan?");
    keys(&s, "y");
    let done = wait_for(&s, "pull request #1 opened");
    assert!(done.contains("✔ done") && done.contains("48 GB"), "{done}");
    assert!(done.contains("local://forge/shop/pull/1"), "{done}");

    keys(&s, "q");
    std::thread::sleep(Duration::from_millis(500));
    let out = Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["incidents", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"status\":\"pr opened\"") && text.contains("\"approved_by\""),
        "{text}"
    );
}
