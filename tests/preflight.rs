//! Pre-flight through the real CLI: `medic fix` checks everything a run
//! will need before anything starts (no incident opened, no plan step, no
//! retry), and refuses with one clear line and exit code 2.

use std::path::Path;
use std::process::{Command, Output};

/// `medic --config <toml> fix api` in a fresh data dir, with `env` set on
/// top of medic's environment (`None` removes the variable).
fn fix_with(dir: &Path, toml: &str, env: &[(&str, Option<&str>)]) -> Output {
    let config = dir.join("medic.toml");
    std::fs::write(&config, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config)
        .args(["fix", "api"])
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_DATA_DIR")
        .env_remove("MEDIC_STEP_DELAY_MS");
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().expect("run medic")
}

/// The refusal: exit 2, one line on stderr naming `needle`, nothing started.
fn refused(dir: &Path, out: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert_eq!(err.lines().count(), 1, "one line: {text}");
    assert!(err.starts_with("medic: cannot start: "), "{text}");
    assert!(err.contains(needle), "want {needle:?}: {text}");
    assert!(out.stdout.is_empty(), "something started: {text}");
    // Not even an incident: nothing for a retry or a resume to find.
    let list = Command::new(env!("CARGO_BIN_EXE_medic"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["incidents", "--json"])
        .output()
        .unwrap();
    assert!(
        list.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
    err
}

const DEMO: &str = "[source]\nkind = \"demo\"\n";

#[test]
fn a_missing_llm_key_is_refused_before_the_plan_step() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{DEMO}[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"gpt-test\"\napi_key_env = \"MEDIC_PREFLIGHT_TEST_KEY\"\n"
    );
    let out = fix_with(dir.path(), &toml, &[("MEDIC_PREFLIGHT_TEST_KEY", None)]);
    refused(dir.path(), &out, "export MEDIC_PREFLIGHT_TEST_KEY=");
    // An empty key is no key either.
    let out = fix_with(dir.path(), &toml, &[("MEDIC_PREFLIGHT_TEST_KEY", Some(""))]);
    refused(dir.path(), &out, "MEDIC_PREFLIGHT_TEST_KEY");
}

#[test]
fn builtin_without_llm_is_refused_before_approval() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{DEMO}[agent]\nkind = \"builtin\"\nsandbox = \"none\"\n");
    let out = fix_with(dir.path(), &toml, &[]);
    refused(dir.path(), &out, "llm.provider is \"none\"");
}

#[test]
fn a_missing_agent_binary_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, package) in [
        ("opencode", "npm install -g opencode-ai@1.18.33"),
        ("claude", "npm install -g @anthropic-ai/claude-code@2.1.332"),
        ("codex", "npm install -g @openai/codex@0.171.0"),
    ] {
        let toml = format!(
            "{DEMO}[agent]\nkind = \"{kind}\"\ncommand = \"/nonexistent/medic-test/{kind}\"\nsandbox = \"none\"\n"
        );
        let out = fix_with(dir.path(), &toml, &[]);
        let err = refused(dir.path(), &out, package);
        assert!(
            err.contains(&format!("/nonexistent/medic-test/{kind}")),
            "{err}"
        );
    }
}

#[test]
fn a_missing_github_token_is_refused_before_approval() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{DEMO}[forge]\nkind = \"github\"\nrepo = \"acme/shop\"\ntoken_env = \"MEDIC_PREFLIGHT_TEST_GH\"\napi_url = \"http://127.0.0.1:9\"\n"
    );
    let out = fix_with(dir.path(), &toml, &[("MEDIC_PREFLIGHT_TEST_GH", None)]);
    refused(dir.path(), &out, "MEDIC_PREFLIGHT_TEST_GH");
}

#[test]
fn a_missing_sandbox_is_refused_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    // An agent binary that exists, and a PATH without bubblewrap on it.
    let agent = dir.path().join("codex");
    std::fs::write(&agent, "#!/bin/sh\nexit 0\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().display().to_string();
    let toml = format!(
        "{DEMO}[agent]\nkind = \"codex\"\ncommand = \"{}\"\n",
        agent.display()
    );
    let out = fix_with(dir.path(), &toml, &[("PATH", Some(&path))]);
    refused(dir.path(), &out, "apt install bubblewrap");
    // Turned off by the operator: no refusal; the run goes on to wait for approval.
    let off = format!("{toml}sandbox = \"none\"\n");
    let out = fix_with(dir.path(), &off, &[("PATH", Some(&path))]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("waits for approval"), "{text}");
}

#[test]
fn every_problem_is_named_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{DEMO}[llm]\nprovider = \"anthropic\"\nmodel = \"m\"\napi_key_env = \"MEDIC_PREFLIGHT_TEST_KEY2\"\n\
         [agent]\nkind = \"claude\"\ncommand = \"/nonexistent/claude\"\nsandbox = \"none\"\n\
         [forge]\nkind = \"github\"\nrepo = \"acme/shop\"\ntoken_env = \"MEDIC_PREFLIGHT_TEST_GH2\"\n"
    );
    let out = fix_with(
        dir.path(),
        &toml,
        &[
            ("MEDIC_PREFLIGHT_TEST_KEY2", None),
            ("MEDIC_PREFLIGHT_TEST_GH2", None),
        ],
    );
    let err = refused(dir.path(), &out, "MEDIC_PREFLIGHT_TEST_KEY2");
    assert!(
        err.contains("@anthropic-ai/claude-code") && err.contains("MEDIC_PREFLIGHT_TEST_GH2"),
        "{err}"
    );
}

/// An incident opened while the token was there: `fix --yes` and `resume`
/// without it refuse before the approval is journaled or a step retried.
#[test]
fn a_token_gone_since_the_incident_opened_is_refused_before_approval() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{DEMO}[forge]\nkind = \"github\"\nrepo = \"acme/shop\"\ntoken_env = \"MEDIC_PREFLIGHT_TEST_GH3\"\napi_url = \"http://127.0.0.1:9\"\n"
    );
    let token = [("MEDIC_PREFLIGHT_TEST_GH3", Some("ghp_not_a_real_token"))];
    let out = fix_with(dir.path(), &toml, &token);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("medic.toml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_medic"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("MEDIC_PREFLIGHT_TEST_GH3")
            .env_remove("MEDIC_STEP_DELAY_MS")
            .output()
            .unwrap()
    };
    let out = run(&["fix", "api", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("MEDIC_PREFLIGHT_TEST_GH3"), "{err}");
    let list = run(&["incidents", "--json"]);
    let line: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(line["approved_by"], serde_json::Value::Null, "{line}");
    assert_eq!(line["status"], "awaiting approval", "{line}");
    let id = line["id"].as_str().unwrap().to_string();
    let out = run(&["resume", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{id}: cannot start: ")) && err.contains("MEDIC_PREFLIGHT_TEST_GH3"),
        "{err}"
    );
}

/// The check lives in `Run::drive`, where every run starts (the TUI's `p`
/// and `a` too): a refused run starts no step and journals no approval.
#[tokio::test]
async fn every_run_is_checked_where_it_starts_the_tuis_included() {
    use medic::detect::Detector;
    use medic::model::AlertState;
    use medic::sources::demo::{Demo, DEFAULT_SEED};
    use medic::workflow::engine::{Engine, StepRecord};
    use medic::workflow::incident::{open_or_resume, Incident, Origin, OriginSource, Parts, Run};
    use medic::workflow::journal::Journal;

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let anchor = 1_790_000_000_000;
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
            speed: 1.0,
            started: None,
        },
        config: None,
        planner: "llm:openai/m".into(),
        agent: "mitigate".into(),
        forge: "local".into(),
        settings: Some(format!(
            "{DEMO}[llm]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"MEDIC_PREFLIGHT_TEST_NEVER_SET\"\n"
        )),
    };
    let id = open_or_resume(&journal, flag, origin.clone(), snap.at)
        .unwrap()
        .id;
    let parts = Parts::for_origin(&origin, dir.path()).unwrap();
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let engine = Engine::new(journal.clone(), cancelled);
    let run = Run {
        engine: &engine,
        parts: &parts,
        approve: true,
        publish: true,
        confirm_held: false,
        operator: "ops".into(),
        seen: None,
    };
    let e = run.drive(&id).await.unwrap_err();
    let refusal = e
        .downcast_ref::<medic::preflight::Refusal>()
        .unwrap_or_else(|| panic!("not a refusal: {e:#}"));
    assert!(
        refusal
            .to_string()
            .contains("MEDIC_PREFLIGHT_TEST_NEVER_SET"),
        "{refusal}"
    );
    for step in ["evidence", "plan"] {
        assert!(
            journal.step::<StepRecord>(&id, step).unwrap().is_none(),
            "{step} started"
        );
    }
    let inc: Incident = journal.incident(&id).unwrap().unwrap();
    assert!(inc.approval.is_none(), "{:?}", inc.approval);
    assert_eq!(inc.status.word(), "open", "{:?}", inc.status);
}
