//! The git layer and the local forge on real repositories: a bare remote on
//! disk (and, for hooks, served by `git daemon` so a real `receive-pack`
//! runs them), from the sample repo to a pull request record.

use medic::agent::mitigate;
use medic::config::MitigateConfig;
use medic::forge::git::{Author, Checkout, Credentials, GitSettings, PushOutcome};
use medic::forge::local::{LocalForge, PullState};
use medic::forge::{sample_repo, BranchName, ForgeError, NewPullRequest};
use medic::model::{FixKind, Mitigation, Plan, PlanStep, RootCause, ServiceId, Severity};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn settings() -> GitSettings {
    GitSettings {
        base: "main".into(),
        author: Author {
            name: "medic".into(),
            email: "medic@localhost".into(),
        },
        credentials: Credentials::None,
        max_diff_bytes: 64 * 1024,
        cancel: Default::default(),
    }
}

/// The offline agent's bounds for an incident about `api`.
fn api_bounds() -> mitigate::Bounds {
    mitigate::Bounds::new(ServiceId::from("api"), &MitigateConfig::default())
}

fn api_plan() -> Plan {
    Plan {
        title: "Raise api's memory limit".into(),
        summary: String::new(),
        severity: Severity::High,
        root_cause: RootCause {
            hypothesis: "session cache leak".into(),
            confidence: 0.7,
            evidence: vec![],
        },
        alternatives: vec![],
        fix_kind: FixKind::Config,
        steps: vec![PlanStep {
            id: "s1".into(),
            description: "Raise api's memory limit to 48 GB".into(),
            files: vec!["deploy/api.yaml".into()],
        }],
        verification: vec![],
        risks: vec![],
        rollback: String::new(),
        mitigations: vec![Mitigation::RaiseMemoryLimit {
            service: ServiceId::from("api"),
            bytes: 48_000_000_000,
        }],
        verification_rule: None,
    }
}

fn branch() -> BranchName {
    BranchName::new("inc-7", "api memory near limit").unwrap()
}

/// Clones the demo remote, branches, applies the api plan and commits.
fn mitigated(url: &str, dest: &Path) -> Checkout {
    let co = Checkout::clone(url, dest, settings()).unwrap();
    co.start_branch(&branch()).unwrap();
    mitigate::run(&api_plan(), co.path(), &api_bounds(), &mut |_| {}).unwrap();
    co.commit_all("Raise api's memory limit to 48G")
        .unwrap()
        .expect("a change to commit");
    co
}

#[test]
fn sample_repo_to_pull_request_record() {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    assert!(
        forge.remote_path().join("HEAD").exists(),
        "a bare repository"
    );
    let work = tempfile::tempdir().unwrap();
    let co = mitigated(&forge.remote_url(), &work.path().join("shop"));

    let diff = co.diff().unwrap();
    assert_eq!(
        (diff.files, diff.insertions, diff.deletions),
        (1, 1, 1),
        "{}",
        diff.text
    );
    assert!(diff.text.contains("--- a/deploy/api.yaml"), "{}", diff.text);
    assert!(
        diff.text
            .contains("\n-              memory: 32G    # raised from 24G in March (INC-311)\n"),
        "{}",
        diff.text
    );
    assert!(
        diff.text
            .contains("\n+              memory: 48G    # raised from 24G in March (INC-311)\n"),
        "{}",
        diff.text
    );

    assert_eq!(co.remote_oid(&branch()).unwrap(), None);
    let PushOutcome::Pushed(oid) = co.push(&branch()).unwrap() else {
        panic!("not pushed")
    };
    assert_eq!(co.remote_oid(&branch()).unwrap(), Some(oid));
    // The second push is a no-op.
    assert_eq!(co.push(&branch()).unwrap(), PushOutcome::AlreadyThere(oid));
    // The base on the remote did not move.
    let remote = git2::Repository::open_bare(forge.remote_path()).unwrap();
    let main = remote.refname_to_id("refs/heads/main").unwrap();
    assert_eq!(main, co.base_oid().unwrap());

    assert!(forge.find_open_pr(&branch()).unwrap().is_none());
    let new = NewPullRequest {
        title: "api: raise memory limit to 48G".into(),
        body: "## Summary of changes\n...".into(),
        branch: branch(),
        base: "main".into(),
        diff: diff.text.clone(),
    };
    let pr = forge.open_pr(new.clone()).unwrap();
    assert_eq!(pr.pr.number, 1);
    assert_eq!(pr.pr.url, "local://forge/shop/pull/1");
    assert!(pr.pr.draft);
    assert_eq!(pr.state, PullState::Open);
    assert_eq!(pr.head, oid.to_string());
    let file = data.path().join("forge/pulls/shop/1.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json["branch"], "medic/inc-7-api-memory-near-limit");
    assert_eq!(json["base"], "main");
    assert_eq!(json["draft"], true);
    assert!(json["diff"]
        .as_str()
        .unwrap()
        .contains("+              memory: 48G"));

    // Opening again adopts the open one.
    let again = forge.open_pr(new.clone()).unwrap();
    assert_eq!(again.pr.number, 1);
    assert_eq!(forge.list().unwrap().len(), 1);
    assert_eq!(forge.find_open_pr(&branch()).unwrap().unwrap(), again);
    // No stray temporary files.
    let names: Vec<_> = std::fs::read_dir(data.path().join("forge/pulls/shop"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["1.json"]);
    // Once closed, a new PR for the branch gets a new number.
    forge.close(1).unwrap();
    assert_eq!(forge.open_pr(new).unwrap().pr.number, 2);
}

#[test]
fn sample_repo_is_deterministic_and_never_overwritten() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let oid_a = sample_repo::create(&a.path().join("shop.git")).unwrap();
    let oid_b = sample_repo::create(&b.path().join("shop.git")).unwrap();
    assert_eq!(oid_a, oid_b);
    assert_eq!(
        sample_repo::create(&a.path().join("shop.git")).unwrap(),
        oid_a
    );
    let repo = git2::Repository::open_bare(a.path().join("shop.git")).unwrap();
    assert!(repo.is_bare());
    assert_eq!(repo.head().unwrap().name().unwrap(), "refs/heads/main");
    let tree = repo.find_commit(oid_a).unwrap().tree().unwrap();
    let api = tree.get_path(Path::new("deploy/api.yaml")).unwrap();
    let blob = repo.find_blob(api.id()).unwrap();
    let text = std::str::from_utf8(blob.content()).unwrap();
    assert!(text.contains("memory: 32G") && text.contains("image: registry.example/api:v2.14.0"));
}

#[test]
fn resuming_after_a_crash_does_nothing_twice() {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let co = mitigated(&forge.remote_url(), &work.path().join("one"));
    let PushOutcome::Pushed(oid) = co.push(&branch()).unwrap() else {
        panic!()
    };

    // A fresh clone picks up the pushed branch; the agent's edit is already there.
    let co2 = Checkout::clone(&forge.remote_url(), &work.path().join("two"), settings()).unwrap();
    assert_eq!(co2.start_branch(&branch()).unwrap(), oid);
    assert!(co2.branch_exists(&branch()));
    mitigate::run(&api_plan(), co2.path(), &api_bounds(), &mut |_| {}).unwrap();
    assert_eq!(co2.commit_all("again").unwrap(), None);
    assert_eq!(co2.push(&branch()).unwrap(), PushOutcome::AlreadyThere(oid));
}

#[test]
fn empty_diff_makes_no_commit_and_no_push() {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let co = Checkout::clone(&forge.remote_url(), work.path(), settings()).unwrap();
    co.start_branch(&branch()).unwrap();
    assert_eq!(co.commit_all("nothing").unwrap(), None);
    assert!(co.diff().unwrap().is_empty());
    assert!(matches!(
        co.push(&branch()),
        Err(ForgeError::EmptyDiff { .. })
    ));
    assert_eq!(co.remote_oid(&branch()).unwrap(), None);
    // And no PR for a branch that is not on the remote.
    let new = NewPullRequest {
        title: "t".into(),
        body: "b".into(),
        branch: branch(),
        base: "main".into(),
        diff: String::new(),
    };
    assert!(matches!(
        forge.open_pr(new),
        Err(ForgeError::NotPushed { .. })
    ));
}

#[test]
fn base_branch_and_foreign_branches_are_refused() {
    for name in [
        "main",
        "refs/heads/main",
        "release/1.0",
        "medic",
        "medic/../main",
    ] {
        assert!(BranchName::parse(name).is_err(), "{name}");
    }
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    // Committing on main (what a clone checks out) is refused.
    let co = Checkout::clone(&forge.remote_url(), &work.path().join("a"), settings()).unwrap();
    std::fs::write(co.path().join("README.md"), "changed\n").unwrap();
    assert!(matches!(
        co.commit_all("on main"),
        Err(ForgeError::NotOnMedicBranch { .. })
    ));

    // Even a base configured with a medic-shaped name is never pushed to.
    let co = mitigated(&forge.remote_url(), &work.path().join("b"));
    let path = co.path().to_path_buf();
    drop(co);
    let mut s = settings();
    s.base = branch().to_string();
    let co = Checkout::open(&path, &forge.remote_url(), s).unwrap();
    assert!(matches!(
        co.push(&branch()),
        Err(ForgeError::ProtectedBranch { .. })
    ));
    let remote = git2::Repository::open_bare(forge.remote_path()).unwrap();
    assert!(
        remote.refname_to_id(&branch().refname()).is_err(),
        "nothing was pushed"
    );
}

#[test]
fn a_diff_over_the_limit_stops_to_ask() {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut s = settings();
    s.max_diff_bytes = 100;
    let co = Checkout::clone(&forge.remote_url(), work.path(), s).unwrap();
    co.start_branch(&branch()).unwrap();
    mitigate::run(&api_plan(), co.path(), &api_bounds(), &mut |_| {}).unwrap();
    let err = co.commit_all("big").unwrap_err();
    assert!(err.is_stop_and_ask(), "{err}");
    assert!(matches!(err, ForgeError::DiffTooLarge { limit: 100, .. }));
}

/// `git daemon` serving `base` on a free loopback port, pushes enabled.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // git daemon forks a child per connection: kill its whole process
        // group, or a child keeps the test's stdout open after it ends.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(base: &Path) -> Daemon {
    use std::os::unix::process::CommandExt;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
        ])
        .arg(base)
        .process_group(0)
        .spawn()
        .expect("git daemon runs");
    // Wrapped at once so the daemon is killed and reaped on every path, the panic included.
    let daemon = Daemon { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return daemon;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("git daemon did not listen on {port}");
}

#[cfg(unix)]
#[test]
fn a_push_rejected_by_a_pre_receive_hook_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let served = daemon(forge.remote_path().parent().unwrap());
    let url = format!("git://127.0.0.1:{}/shop.git", served.port);
    let work = tempfile::tempdir().unwrap();

    // Through the daemon, without a hook, the push goes through (so the
    // rejection below is the hook's doing).
    let ok_branch = BranchName::new("inc-8", "control").unwrap();
    let co = Checkout::clone(&url, &work.path().join("a"), settings()).unwrap();
    co.start_branch(&ok_branch).unwrap();
    std::fs::write(co.path().join("NOTES.md"), "control\n").unwrap();
    co.commit_all("control").unwrap().unwrap();
    assert!(matches!(
        co.push(&ok_branch).unwrap(),
        PushOutcome::Pushed(_)
    ));

    let hook = forge.remote_path().join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'frozen: no pushes during the incident review' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let co = mitigated(&url, &work.path().join("b"));
    let err = co.push(&branch()).unwrap_err();
    let ForgeError::Rejected { refname, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refname, &branch().refname());
    assert!(
        reason.contains("declined") || reason.contains("frozen"),
        "{reason}"
    );
    assert_eq!(co.remote_oid(&branch()).unwrap(), None);
}

#[test]
fn a_refused_token_is_one_request_and_an_auth_error() {
    // An HTTP remote that answers every request with 401.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"forge\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let mut s = settings();
    s.credentials = Credentials::Token {
        username: "x-access-token".into(),
        token: "wrong".into(),
    };
    let work = tempfile::tempdir().unwrap();
    let err =
        Checkout::clone(&format!("http://127.0.0.1:{port}/shop.git"), work.path(), s).unwrap_err();
    // medic's HTTP transport sends the token once; a 401 is final (libgit2's
    // own transport would ask the credentials callback again and again).
    assert!(matches!(err, ForgeError::Auth { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("wrong"),
        "the token is never shown"
    );
    let n = seen.load(Ordering::SeqCst);
    assert_eq!(n, 1, "{n} requests");
}
