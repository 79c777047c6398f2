//! End to end in tmux: the real binary in a 120×40 pane, driven by keys only,
//! from a flagged service to a draft pull request; then medic is killed with
//! SIGKILL and started again, and lands on the same incident and view. The
//! screen text is asserted at every stage, not just exit codes. The tmux
//! server is private to the test (its own socket).

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, so options and buffers never touch the user's.
fn socket() -> String {
    format!("medic-e2e-{}", std::process::id())
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
    start_sized(name, cmd, 120, 40);
}

/// Start medic in a fresh `w`×`h` window `name` of the private server.
fn start_sized(name: &str, cmd: &str, w: u16, h: u16) {
    let (w, h) = (w.to_string(), h.to_string());
    let out = Command::new("tmux")
        .args(["-L", &socket(), "-f", "/dev/null"])
        .args(["new-session", "-d", "-s", name, "-x", &w, "-y", &h, cmd])
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

#[test]
#[ignore = "needs tmux (apt install tmux); .ci/run installs it and runs ignored tests"]
fn from_flag_to_pull_request_with_keys_only() {
    let data = tempfile::tempdir().unwrap();
    let name = format!("medic-e2e-{}", std::process::id());
    // The operator's editor: a script that rewrites the plan's title in place.
    let editor = data.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^# Raise api.s memory limit now/# Raise api memory limit, edited at 3am/' \"$1\"\necho 'Checked the heap dump: the cache is the cause.' >> \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cmd = format!(
        "env -u MEDIC_CONFIG -u VISUAL EDITOR={} {} --data-dir {} --demo",
        editor.display(),
        env!("CARGO_BIN_EXE_medic"),
        data.path().display()
    );
    start(&name, &cmd);
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

    // `/` filters as you type; Enter keeps the filter and opens the only row.
    keys(&s, "/");
    keys(&s, "api");
    let filtered = wait_for(&s, "1 of 8");
    assert!(filtered.contains("›api"), "{filtered}");
    keys(&s, "Enter");
    keys(&s, "Enter");
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

    // e: the terminal goes to $EDITOR and comes back; the edit is journaled at once.
    keys(&s, "e");
    let edited = wait_for(&s, "# Raise api memory limit, edited at 3am");
    // The line appended after the machine-readable Changes is kept, not rejected.
    assert!(
        edited.contains("Operator's note: Checked the heap dump"),
        "{edited}"
    );
    assert!(
        !edited.contains("STALE") && !edited.contains("not saved"),
        "{edited}"
    );
    assert!(edited.contains("approve (a) when ready"), "{edited}");

    keys(&s, "a");
    let confirm = wait_for(&s, "approve this plan?");
    assert!(confirm.contains("y approve"), "{confirm}");
    keys(&s, "y");
    // The agent works in a local checkout; nothing is pushed until `p`.
    let ready = wait_for(&s, "change ready: review the diff, then push");
    assert!(ready.contains("✔ done"), "{ready}");
    keys(&s, "d");
    let before = wait_for(&s, "diff against the base");
    assert!(
        before.contains("+++ b/") && before.contains("memory"),
        "{before}"
    );
    let remote = Command::new("git")
        .args(["--git-dir"])
        .arg(data.path().join("forge/repos/shop.git"))
        .args(["branch", "--list", "medic/*"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&remote.stdout).trim().is_empty(),
        "nothing pushed before the go"
    );
    keys(&s, "p");
    let done = wait_for(&s, "pull request #1 opened");
    assert!(done.contains("✔ done") && done.contains("48 GB"), "{done}");
    assert!(done.contains("local://forge/shop/pull/1"), "{done}");

    keys(&s, "y");
    let copied = wait_for(&s, "copied local://forge/shop/pull/1");
    assert!(copied.contains("copied"), "{copied}");
    let start_wait = Instant::now();
    let mut buffer = String::new();
    while start_wait.elapsed() < Duration::from_secs(5) && !buffer.contains("pull/1") {
        buffer = tmux(&["show-buffer"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        buffer.trim(),
        "local://forge/shop/pull/1",
        "OSC 52 reached tmux"
    );

    // kill -9: no chance to save anything on the way out.
    let pid = tmux(&["display-message", "-p", "-t", &s.0, "#{pane_pid}"]);
    let killed = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -9 {pid}");
    std::thread::sleep(Duration::from_millis(300));
    let again = format!("{}-again", s.0);
    start(&again, &cmd);
    let s2 = Session(again);
    let back = wait_for(&s2, "local://forge/shop/pull/1");
    assert!(
        back.contains("# Raise api memory limit, edited at 3am") && back.contains("incident 2"),
        "the same incident and view after a restart:\n{back}"
    );
    assert!(back.contains("pr opened"), "{back}");
    keys(&s2, "Escape");
    let incident = wait_for(&s2, "verdict: actionable");
    assert!(incident.contains("memory-near-limit"), "{incident}");
    keys(&s2, "Escape");
    let fleet = wait_for(&s2, "/api · 1 of 8");
    assert!(
        fleet.contains("›api"),
        "the filter and selection came back too:\n{fleet}"
    );
    keys(&s2, ":");
    keys(&s2, "incidents");
    keys(&s2, "Enter");
    let list = wait_for(&s2, "incidents (1)");
    assert!(list.contains("pr opened") && list.contains("api"), "{list}");

    keys(&s2, ":");
    keys(&s2, "q");
    keys(&s2, "Enter");
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

/// The branches medic pushed to the demo's local forge.
fn pushed(data: &std::path::Path) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(data.join("forge/repos/shop.git"))
        .args(["branch", "--list", "medic/*"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every character of a screen capture is ASCII.
fn assert_ascii(shot: &str) {
    let odd: Vec<char> = shot.chars().filter(|c| !c.is_ascii()).collect();
    assert!(odd.is_empty(), "not ASCII: {odd:?}\n{shot}");
}

#[test]
#[ignore = "needs tmux (apt install tmux); .ci/run installs it and runs ignored tests"]
fn at_80x24_with_ascii_the_confirm_shows_its_keys_and_a_cancel_pushes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let name = format!("medic-e2e-small-{}", std::process::id());
    let cmd = format!(
        "env -u MEDIC_CONFIG {} --data-dir {} --demo --ascii",
        env!("CARGO_BIN_EXE_medic"),
        data.path().display()
    );
    start_sized(&name, &cmd, 80, 24);
    let s = Session(name);

    let fleet = wait_for(&s, "flagged (4)");
    assert_ascii(&fleet);
    assert!(
        fleet.contains("? help") && fleet.contains("q quit"),
        "{fleet}"
    );
    keys(&s, "/");
    keys(&s, "api");
    wait_for(&s, "1 of 8");
    keys(&s, "Enter");
    keys(&s, "Enter");
    let incident = wait_for(&s, "verdict: actionable");
    assert_ascii(&incident);

    keys(&s, "p");
    let plan = wait_for(&s, "waits for your approval");
    assert_ascii(&plan);
    // Before approval, c says why it does nothing.
    keys(&s, "c");
    let refused = wait_for(&s, "nothing runs before approval");
    assert_ascii(&refused);
    assert!(
        !refused.contains("d diff"),
        "no diff hint before a diff:\n{refused}"
    );

    keys(&s, "a");
    let confirm = wait_for(&s, "approve this plan?");
    assert_ascii(&confirm);
    assert!(
        confirm.contains("y approve") && confirm.contains("n no, go back"),
        "the confirm's keys at 80x24:\n{confirm}"
    );
    keys(&s, "y");
    let ready = wait_for(&s, "change ready");
    assert_ascii(&ready);
    assert!(
        ready.contains("p push") && ready.contains("c cancel"),
        "{ready}"
    );
    assert!(
        !ready.contains("a approve"),
        "no approve hint after approval:\n{ready}"
    );

    keys(&s, "c");
    let cancelled = wait_for(&s, "cancelled by you");
    assert_ascii(&cancelled);
    keys(&s, "p");
    let refused = wait_for(&s, "nothing is pushed");
    assert_ascii(&refused);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        pushed(data.path()),
        "",
        "a branch was pushed after the cancel"
    );
    let after = screen(&s);
    assert!(!after.contains("pull request #"), "{after}");
    keys(&s, "q");
}
