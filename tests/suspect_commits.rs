//! Suspect commits against a real git repository with dated commits: the
//! base branch's commits in the window before an onset, newest first, with
//! sha, author, subject and files; other branches and commits outside the
//! window stay out.

use medic::forge::suspects::{suspect_commits, MAX_FILES};
use std::path::Path;
use std::process::Command;

const ONSET: i64 = 1_790_000_000; // seconds

fn git(dir: &Path, date: i64, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", format!("@{date} +0000"))
        .env("GIT_COMMITTER_DATE", format!("@{date} +0000"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs (apt install git)");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn commit(dir: &Path, at: i64, author: &str, subject: &str, files: &[&str]) {
    for f in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{subject} {at}\n")).unwrap();
    }
    git(dir, at, &["add", "-A"]);
    let who = format!("user.name={author}");
    git(
        dir,
        at,
        &[
            "-c",
            &who,
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "-m",
            subject,
        ],
    );
}

/// The fixture repository: dated commits on `main` and one on a branch.
fn repo(d: &Path) {
    git(d, ONSET - 10_000, &["init", "-q"]);
    commit(
        d,
        ONSET - 3 * 3600,
        "Ana",
        "initial charts",
        &["charts/checkout/values.yaml"],
    );
    commit(
        d,
        ONSET - 40 * 60,
        "Dana",
        "checkout: cache cart totals in memory\n\nno eviction yet",
        &["src/cart.rs", "charts/checkout/values.yaml"],
    );
    let many: Vec<String> = (0..MAX_FILES + 3)
        .map(|i| format!("docs/page{i}.md"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    commit(d, ONSET - 10 * 60, "Eli", "docs: rewrite", &many);
    // After the onset: not a suspect.
    commit(
        d,
        ONSET + 5 * 60,
        "Fay",
        "revert cart cache",
        &["src/cart.rs"],
    );
    // In the window but on another branch.
    git(
        d,
        ONSET - 20 * 60,
        &["checkout", "-q", "-b", "feature", "HEAD~1"],
    );
    commit(
        d,
        ONSET - 20 * 60,
        "Gus",
        "wip on a branch",
        &["src/wip.rs"],
    );
}

#[test]
fn the_window_before_the_onset_on_the_base_branch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    repo(d);
    let got = suspect_commits(d, "main", (ONSET - 3600) * 1000, ONSET * 1000, 10).unwrap();
    let subjects: Vec<&str> = got.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["docs: rewrite", "checkout: cache cart totals in memory"]
    );
    let cart = &got[1];
    assert_eq!(cart.author, "Dana");
    assert_eq!(cart.at, (ONSET - 40 * 60) * 1000);
    assert_eq!(cart.sha.len(), 12);
    assert_eq!(cart.files, ["charts/checkout/values.yaml", "src/cart.rs"]);
    assert_eq!(got[0].files.len(), MAX_FILES);
    assert_eq!(got[0].more_files, 3);
    // The limit holds; a missing base branch is an error in words.
    assert_eq!(
        suspect_commits(d, "main", 0, ONSET * 1000, 1)
            .unwrap()
            .len(),
        1
    );
    let e = suspect_commits(d, "trunk", 0, ONSET * 1000, 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("base branch"), "{e}");
}

#[tokio::test]
async fn suspects_are_evidence_items_citing_sha_author_and_files() {
    use medic::forge::changes::ForgeChanges;
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    let changes = ForgeChanges {
        repo: Some(dir.path().to_path_buf()),
        base: "main".into(),
        github: None,
    };
    let (items, gaps) = changes
        .fetch("shop/checkout", (ONSET - 6 * 3600) * 1000, ONSET * 1000)
        .await;
    assert!(gaps.is_empty(), "{gaps:?}");
    assert_eq!(items.len(), 3, "{items:?}");
    let flag = medic::model::Flag {
        service: medic::model::ServiceId::from("shop/checkout"),
        rule: "memory-near-limit".into(),
        metric: medic::model::Metric::Memory,
        state: medic::model::AlertState::Firing,
        value: 0.95,
        threshold: 0.9,
        op: ">".into(),
        unit: medic::model::Unit::Ratio,
        since: ONSET * 1000,
        onset: ONSET * 1000,
        verdict: medic::model::Verdict::Actionable,
        reason: "memory".into(),
        eta_seconds: None,
    };
    let metrics = medic::model::ServiceMetrics::new(flag.service.clone());
    use medic::sources::evidence::Fetched;
    let m = medic::triage::context::Material {
        flag: &flag,
        metrics: &metrics,
        logs: Fetched::known(vec![]),
        deploys: Fetched::known(vec![]),
        upstreams: Fetched::known(vec![]),
        kube: Fetched::known(vec![]),
        changes: Fetched::known(items),
        project_flags: std::slice::from_ref(&flag),
        project_size: 1,
        recent_transitions: 0,
        now: ONSET * 1000,
    };
    let (evidence, _) = medic::triage::context::gather(&m);
    let cart = evidence
        .items
        .iter()
        .find(|i| i.title.contains("cache cart totals"))
        .unwrap_or_else(|| panic!("{evidence:#?}"));
    assert!(
        cart.id.starts_with("commit:") && cart.id.len() == "commit:".len() + 12,
        "{cart:?}"
    );
    assert!(
        cart.title.contains("by Dana 40m before the onset"),
        "{cart:?}"
    );
    assert_eq!(
        cart.detail,
        "files: charts/checkout/values.yaml, src/cart.rs"
    );
}
