//! End to end in tmux, the closed loop with the keyboard alone: on the demo
//! at `--speed 20`, a flagged api goes from the fleet to a plan, approval,
//! the pull request, `m` to merge, and the watch to *verified* within a
//! couple of minutes; the incidents list says so, and the fleet stops
//! flagging api. The tmux server is
//! private to the test (its own socket).

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, so options and buffers never touch the user's.
fn socket() -> String {
    format!("medic-loop-{}", std::process::id())
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", &socket()])
        .args(args)
        .output()
        .expect("tmux is installed by .ci/run (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &socket(), "kill-server"])
            .output();
    }
}

/// Start medic in a fresh 120×40 window `name` of the private server.
fn start(name: &str, cmd: &str) {
    let out = Command::new("tmux")
        .args(["-L", &socket(), "-f", "/dev/null"])
        .args([
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            cmd,
        ])
        .output()
        .expect("tmux is installed by .ci/run (apt-get install tmux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // OSC 52 from the application lands in a tmux buffer, where the test can read it.
    tmux(&["set-option", "-s", "set-clipboard", "on"]);
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

/// Wait up to `secs` for `text` on the screen.
fn wait_long(s: &Session, text: &str, secs: u64) -> String {
    let start = Instant::now();
    loop {
        let shot = screen(s);
        if shot.contains(text) {
            return shot;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "`{text}` never appeared; the screen:\n{shot}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// api's memory limit as the fleet row shows it: `34.4 GB 72%` → 47.8.
fn api_memory_limit_gb(screen: &str) -> Option<f64> {
    let row = screen.lines().find(|l| l.contains("›api"))?;
    let words: Vec<&str> = row.split_whitespace().collect();
    let gb = words.iter().position(|w| *w == "GB")?;
    let used: f64 = words.get(gb.checked_sub(1)?)?.parse().ok()?;
    let pct: f64 = words.get(gb + 1)?.trim_end_matches('%').parse().ok()?;
    Some(used / (pct / 100.0))
}

#[test]
#[ignore = "needs tmux (apt install tmux); .ci/run installs it and runs ignored tests"]
fn from_flag_to_verified_with_keys_only_at_speed_20() {
    let data = tempfile::tempdir().unwrap();
    let name = format!("medic-loop-{}", std::process::id());
    let cmd = format!(
        "env -u MEDIC_CONFIG {} --data-dir {} --demo --speed 20",
        env!("CARGO_BIN_EXE_medic"),
        data.path().display()
    );
    start(&name, &cmd);
    let s = Session(name);
    wait_for(&s, "flagged (4)");
    keys(&s, "/");
    keys(&s, "api");
    wait_for(&s, "1 of 8");
    keys(&s, "Enter");
    keys(&s, "Enter");
    wait_for(&s, "verdict: actionable");
    keys(&s, "p");
    wait_for(&s, "the plan waits for your approval");
    keys(&s, "a");
    wait_for(&s, "approve this plan?");
    keys(&s, "y");
    wait_for(&s, "change ready: review the diff, then push");
    keys(&s, "p");
    wait_for(&s, "pull request #1 opened");
    keys(&s, "m");
    // 5 demo minutes of hold-down and 30 of window at ×20: about 105 s.
    let done = wait_long(&s, "✔ verified", 240);
    assert!(done.contains("after deploy"), "{done}");
    keys(&s, ":");
    keys(&s, "incidents");
    keys(&s, "Enter");
    let list = wait_for(&s, "✔ verified");
    assert!(list.contains("api"), "{list}");
    // The fleet answers to the merged change: api's raised limit stops its approach.
    keys(&s, "Escape");
    // (api's own OOM restarts clear its flag too: the new limit is the proof.)
    let fleet = wait_long(&s, "flagged (3)", 60);
    let limit = api_memory_limit_gb(&fleet).expect("api's memory on the fleet");
    assert!(
        (limit - 48.0).abs() < 3.0,
        "api runs with the raised limit: {limit} GB\n{fleet}"
    );
    let pr = std::fs::read_to_string(data.path().join("forge/pulls/shop/1.json")).unwrap();
    assert!(
        pr.contains("medic:outcome"),
        "the PR record carries the comment: {pr}"
    );
}
