//! The journal as an operator meets it: approvals that wait, a journal held
//! by another medic, a damaged journal — each a clear message and a way out.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn medic(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_STEP_DELAY_MS")
        .output()
        .expect("run medic")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fix_without_yes_waits_for_approval_and_keeps_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(dir.path(), &["fix", "api"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("waits for approval")
            && t.contains(&format!(
                "medic --data-dir {} fix api --yes",
                dir.path().display()
            )),
        "{t}"
    );
    assert!(
        t.contains("## Root cause") && t.contains("`deploy:a17be44`"),
        "{t}"
    );
    let out = medic(dir.path(), &["incidents", "--json"]);
    let line: serde_json::Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "awaiting approval");
    assert_eq!(line["steps"]["plan"], "done");
    assert_eq!(line["steps"]["agent"], "pending");
    // resume does not approve on the operator's behalf: it says what waits.
    let out = medic(dir.path(), &["resume"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("wait for you"), "{}", text(&out));
    let out = medic(dir.path(), &["incidents", "--json"]);
    assert!(text(&out).contains("awaiting approval"));
    // A second `fix` for the same service continues the same incident.
    let out = medic(dir.path(), &["fix", "api"]);
    assert!(text(&out).contains("continuing incident"), "{}", text(&out));
    assert_eq!(
        text(&medic(dir.path(), &["incidents", "--json"]))
            .lines()
            .count(),
        1
    );
}

#[test]
fn an_external_verdict_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(dir.path(), &["fix", "email", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no change"), "{}", text(&out));
    let out = medic(dir.path(), &["fix", "batch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`batch` is not flagged now"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_journal_in_use_names_the_other_medic() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["fix", "api", "--yes"])
        .env("MEDIC_STEP_DELAY_MS", "4000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !dir.path().join("medic.pid").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = medic(dir.path(), &["incidents"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("in use by another medic") && t.contains(&format!("pid {}", holder.id())),
        "{t}"
    );
    assert!(t.contains(&dir.path().display().to_string()), "{t}");
}

#[test]
fn a_damaged_journal_is_an_error_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    assert!(medic(dir.path(), &["fix", "api"]).status.success());
    let db = dir.path().join("journal/db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().step_by(7) {
        *b ^= 0xff;
    }
    std::fs::write(&db, bytes).unwrap();
    let out = medic(dir.path(), &["incidents"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("is damaged") && t.contains("medic incidents --repair"),
        "{t}"
    );
    // The repair command as this operator must type it, with their --data-dir.
    let repair = format!(
        "`medic --data-dir {} incidents --repair`",
        dir.path().display()
    );
    assert!(t.contains(&repair), "{t}");
    let out = medic(dir.path(), &["incidents", "--repair"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("journal.damaged-"), "{}", text(&out));
    let out = medic(dir.path(), &["incidents"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no incidents"));
}

#[test]
fn repair_refuses_a_journal_that_opens_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    assert!(medic(dir.path(), &["fix", "api"]).status.success());
    let out = medic(dir.path(), &["incidents", "--repair"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("opens cleanly"), "{}", text(&out));
    assert!(dir.path().join("journal").exists());
    let out = medic(dir.path(), &["incidents"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-api-"), "{}", text(&out));
}

#[test]
fn repair_keeps_the_readable_incidents() {
    let dir = tempfile::tempdir().unwrap();
    assert!(medic(dir.path(), &["fix", "api"]).status.success());
    // The ledger names an incident sled lost: the journal is damaged.
    let ledger = dir.path().join("journal.ids");
    let mut ids = std::fs::read_to_string(&ledger).unwrap();
    ids.push_str("20261204-0000-lost-0000\n");
    std::fs::write(&ledger, ids).unwrap();
    let out = medic(dir.path(), &["incidents"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = medic(dir.path(), &["incidents", "--repair"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("journal.damaged-") && t.contains("kept 1 incident"),
        "{t}"
    );
    let out = medic(dir.path(), &["incidents", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("\"service\":\"api\""), "{t}");
    // Its steps came along: the plan is still done.
    assert!(t.contains("\"plan\":\"done\""), "{t}");
}

#[test]
fn a_damaged_record_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    assert!(medic(dir.path(), &["fix", "api"]).status.success());
    {
        let journal = medic::workflow::journal::Journal::open(dir.path()).unwrap();
        journal
            .put_incident("20261204-0000-bad-0000", &serde_json::json!({"id": 7}))
            .unwrap();
    }
    for args in [&["incidents"][..], &["incidents", "--json"][..]] {
        let out = medic(dir.path(), args);
        assert!(out.status.success(), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("-api-"), "{t}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("20261204-0000-bad-0000") && err.contains("skipped"),
            "{t}"
        );
    }
    // resume goes on with the readable ones.
    let out = medic(dir.path(), &["resume"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// The settings an incident opened with are journaled and used on resume;
/// an edit of the config file in between is reported, not silently applied.
#[test]
fn a_changed_config_is_reported_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        "[source]\nkind = \"demo\"\n\n[agent]\nkind = \"mitigate\"\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = medic(dir.path(), &["--config", c, "fix", "api"]);
    assert!(out.status.success(), "{}", text(&out));
    // The hint repeats the flags given: `medic --config … --data-dir … fix api --yes`.
    let hint = format!(
        "medic --config {c} --data-dir {} fix api --yes",
        dir.path().display()
    );
    assert!(text(&out).contains(&hint), "{}", text(&out));
    // Between approval and delivery someone points the agent elsewhere.
    std::fs::write(&config, "[source]\nkind = \"demo\"\n\n[agent]\nkind = \"codex\"\ncommand = \"/nonexistent/codex\"\n").unwrap();
    let out = medic(dir.path(), &["--config", c, "fix", "api", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("changed since the incident opened"), "{t}");
    assert!(t.contains("pull request #1"), "{t}");
}

/// The same with a secret in the config (the journaled snapshot cannot hold
/// it, so the file must be read again): a changed file stops the incident
/// instead of being applied.
#[test]
fn a_changed_config_with_a_secret_stops_instead_of_applying() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    let secret = format!("Zq8{}Lm3Vx9Tk2Rw7", "pP4nN6bB1");
    let with = |agent: &str| {
        format!(
            "[source]\nkind = \"demo\"\n\n[logs]\nkind = \"loki\"\nurl = \"http://medic:{secret}@127.0.0.1:9/\"\n\n[agent]\n{agent}\n"
        )
    };
    std::fs::write(&config, with("kind = \"mitigate\"")).unwrap();
    let c = config.to_str().unwrap();
    let out = medic(dir.path(), &["--config", c, "fix", "api"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(
        &config,
        with("kind = \"codex\"\ncommand = \"/nonexistent/codex\""),
    )
    .unwrap();
    let out = medic(dir.path(), &["--config", c, "fix", "api", "--yes"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("changed since this incident opened"), "{t}");
    assert!(!t.contains("pull request #1"), "{t}");
    assert!(!t.contains(&secret), "{t}");
}
