//! The command-line contract, run against the real binary: JSON field names,
//! exit codes, and errors that say what and where.

use std::process::{Command, Output};

fn medic(args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env("MEDIC_DATA_DIR", data.path())
        .output()
        .expect("run medic")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn scan_once_json_flags_api_and_checkout_never_batch() {
    let out = medic(&["scan", "--demo", "--once", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    for l in &lines {
        for key in [
            "service",
            "metric",
            "rule",
            "state",
            "value",
            "threshold",
            "since",
            "verdict",
            "reason",
        ] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
        assert!(
            ["pending", "firing", "resolved"].contains(&l["state"].as_str().unwrap()),
            "{l}"
        );
        assert!(
            ["actionable", "load", "external", "platform", "noise"]
                .contains(&l["verdict"].as_str().unwrap()),
            "{l}"
        );
        assert!(
            l["since"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC: {l}"
        );
    }
    let firing = |svc: &str, metric: &str| {
        lines
            .iter()
            .any(|l| l["service"] == svc && l["metric"] == metric && l["state"] == "firing")
    };
    assert!(firing("api", "memory"), "{lines:#?}");
    assert!(firing("checkout", "errors"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l["service"] == "batch"), "{lines:#?}");
    let api = lines.iter().find(|l| l["service"] == "api").unwrap();
    assert!(api["eta_seconds"].as_f64().unwrap() > 0.0, "{api}");
}

#[test]
fn scan_table_shows_units() {
    let out = medic(&["scan", "--once"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GB / 32 GB ("), "{text}");
    assert!(text.contains("✖ firing"), "{text}");
}

#[test]
fn backtest_json_lines_and_bad_ranges() {
    let out = medic(&[
        "backtest", "--demo", "--from", "-3h", "--to", "now", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert!(lines
        .iter()
        .any(|l| l["service"] == "api" && l["state"] == "firing"));
    for l in &lines {
        assert_eq!(l.as_object().unwrap().len(), 4, "{l}");
        assert!(l["at"].as_str().unwrap().ends_with('Z'));
    }
    let out = medic(&[
        "backtest",
        "--from",
        "2026-11-28T03:00:00Z",
        "--to",
        "2026-11-28T02:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be earlier than --to"));
    let out = medic(&["backtest", "--from", "yesterday", "--to", "now"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad time `yesterday`"));
}

#[test]
fn malformed_config_exits_2_naming_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.toml");
    std::fs::write(
        &path,
        "[source]\nkind = \"demo\"\n\n[[rules]]\nname = \"mem\"\nexpr = \"memory / memory_limit\"\nthreshold = 0.9\nfor = \"5 minutes\"\n",
    )
    .unwrap();
    let out = medic(&["--config", path.to_str().unwrap(), "scan", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("medic.toml:8:") && err.contains("rules[0].for"),
        "{err}"
    );

    std::fs::write(&path, "[source]\nkind = \"demo\"\nstepp = \"15s\"\n").unwrap();
    let out = medic(&["--config", path.to_str().unwrap(), "scan", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source.stepp") && err.contains("did you mean `step`?"),
        "{err}"
    );

    let out = medic(&["--config", "/nonexistent/medic.toml", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/medic.toml"));
}

#[test]
fn config_rules_apply_to_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.toml");
    std::fs::write(
        &path,
        "[source]\nkind = \"demo\"\n\n[[rules]]\nname = \"cpu-any\"\nexpr = \"cpu / cpu_limit\"\nop = \">\"\nthreshold = 0.9\n",
    )
    .unwrap();
    let out = medic(&[
        "--config",
        path.to_str().unwrap(),
        "scan",
        "--once",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert!(lines.iter().all(|l| l["rule"] == "cpu-any"), "{lines:#?}");
    assert!(lines.iter().any(|l| l["service"] == "web"), "{lines:#?}");
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(medic(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(
        medic(&["--speed", "0", "scan", "--once"]).status.code(),
        Some(2)
    );
}

#[test]
fn eval_nab_prints_the_three_profiles() {
    let nab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nab");
    if !nab.is_dir() {
        panic!("the NAB corpus is expected at {}", nab.display());
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = medic(&[
        "eval",
        "nab",
        nab.to_str().unwrap(),
        out_dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let scores: Vec<(String, f64)> = text
        .lines()
        .map(|l| {
            let (name, v) = l.split_once(": ").unwrap();
            (name.to_string(), v.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = scores.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["standard", "reward_low_FP", "reward_low_FN"]);
    // A quality floor, not a timing: the goal is ≥ 65 on this corpus.
    assert!(scores[0].1 >= 65.0, "{text}");
    let written = out_dir.path().join("realTweets");
    assert!(written.is_dir(), "per-file scores are written");
    let out = medic(&[
        "eval",
        "nab",
        "/nonexistent",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
