//! Headless output a script and a person can follow, run against the real
//! binary: the agent's to-do items, hints that keep every flag the operator
//! gave, `resume` listing what waits, the incident table's header and
//! legend, and a pipe closed early ending quietly.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn medic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_DATA_DIR")
        .env_remove("MEDIC_STEP_DELAY_MS")
        .output()
        .expect("run medic")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn the_approve_hint_keeps_every_global_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(dir.path());
    let config = dir.path().join("medic.toml");
    std::fs::write(&config, "[source]\nkind = \"demo\"\n").unwrap();
    let config = config.display().to_string();
    let out = medic(&[
        "--data-dir",
        &data,
        "--config",
        &config,
        "--demo",
        "fix",
        "api",
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let want = format!(
        "Approve and continue with: medic --config {config} --data-dir {data} --demo fix api --yes"
    );
    assert!(stdout(&out).contains(&want), "want {want}\n{}", both(&out));
}

#[test]
fn fix_prints_the_todo_items_as_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(&["--data-dir", &dir_arg(dir.path()), "fix", "api", "--yes"]);
    assert!(out.status.success(), "{}", both(&out));
    let text = stdout(&out);
    let item = "Raise api's memory limit from 32 GB to 48 GB";
    for mark in ["☐", "▶", "✔"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("      {mark} {item}"))),
            "no `{mark} {item}` row:\n{text}"
        );
    }
    // An item is printed when it changes, not with every list.
    let rows = text
        .lines()
        .filter(|l| l.contains(item) && l.starts_with("      "))
        .count();
    assert_eq!(rows, 3, "{text}");
}

#[test]
fn ascii_marks_the_todo_items_and_steps_in_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let out = medic(&[
        "--data-dir",
        &dir_arg(dir.path()),
        "--ascii",
        "fix",
        "api",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("      [x] Raise api's memory limit"),
        "{text}"
    );
    assert!(
        text.contains("      [ ] Find the unbounded growth"),
        "{text}"
    );
    for glyph in ["☐", "✔", "▶", "■", "▲", "│"] {
        assert!(!text.contains(glyph), "`{glyph}` with --ascii:\n{text}");
    }
    let table = stdout(&medic(&[
        "--data-dir",
        &dir_arg(dir.path()),
        "--ascii",
        "incidents",
    ]));
    assert!(table.is_ascii(), "{table}");
}

#[test]
fn resume_lists_what_waits_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(dir.path());
    let out = medic(&["--data-dir", &data, "resume"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("nothing to resume"), "{}", both(&out));
    assert!(medic(&["--data-dir", &data, "fix", "api"]).status.success());
    let out = medic(&["--data-dir", &data, "resume"]);
    assert!(out.status.success(), "{}", both(&out));
    let text = stdout(&out);
    assert!(!text.contains("nothing to resume"), "{text}");
    assert!(
        text.contains("1 incident(s) wait for you")
            && text.contains(&format!(
                "the plan waits for approval: medic --data-dir {data} fix api --yes"
            )),
        "{text}"
    );
}

#[test]
fn incidents_has_a_header_and_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(dir.path());
    assert!(medic(&["--data-dir", &data, "fix", "api"]).status.success());
    let text = stdout(&medic(&["--data-dir", &data, "incidents"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for col in ["INCIDENT", "SERVICE", "RULE", "STATUS", "STEPS"] {
        assert!(lines[0].contains(col), "{text}");
    }
    assert!(
        lines[1].contains("api") && lines[1].contains("✔✔·····"),
        "{text}"
    );
    assert!(
        lines[2].contains("evidence plan approval agent push pr verify")
            && lines[2].contains("✔ done"),
        "{text}"
    );
    // The JSON stays one object per line, nothing else.
    let json = stdout(&medic(&["--data-dir", &data, "incidents", "--json"]));
    assert_eq!(json.lines().count(), 1, "{json}");
}

/// Runs medic with standard output a pipe whose reader is already gone.
fn with_closed_pipe(data: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_STEP_DELAY_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run medic");
    // The reader closes its end before medic writes: every write is EPIPE.
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for medic")
}

#[test]
fn a_pipe_closed_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["fix", "web"][..],
        &["fix", "api", "--yes"],
        &["incidents"],
        &["resume"],
        &["scan", "--once"],
        // Watching: the first table already finds the reader gone.
        &["scan"],
        &["scan", "--json"],
    ] {
        let out = with_closed_pipe(dir.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_failed_step_says_how_to_retry_it_with_the_flags_given() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    // An agent that starts and dies: the step fails for good after its retry.
    let agent = dir.path().join("codex");
    std::fs::write(&agent, "#!/bin/sh\necho 'model unreachable' >&2\nexit 1\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"demo\"\n[agent]\nkind = \"codex\"\ncommand = \"{}\"\nsandbox = \"none\"\n",
            agent.display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let out = medic(&[
        "--data-dir",
        &data,
        "--config",
        &config,
        "fix",
        "api",
        "--yes",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let list = stdout(&medic(&["--data-dir", &data, "incidents", "--json"]));
    let line: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "needs attention", "{line}");
    let id = line["id"].as_str().unwrap();
    let want = format!("retry it with: medic --config {config} --data-dir {data} resume {id}");
    assert!(err.contains(&want), "want {want}\n{err}");
    // resume lists it among what waits, with the incident's own config.
    let listed = stdout(&medic(&["--data-dir", &data, "resume"]));
    let want = "a step failed (step `agent` failed after 2 attempt(s)";
    assert!(
        listed.contains(want)
            && listed.contains(&format!(
                "retry it with: medic --config {config} --data-dir {data} resume {id}"
            )),
        "{listed}"
    );
}
