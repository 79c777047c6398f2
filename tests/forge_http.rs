//! git over HTTP through medic's own smart-HTTP transport (reqwest), against
//! a real `git http-backend` (git's CGI server for smart HTTP) behind a
//! loopback axum server that demands the token as basic auth, as GitHub does.

mod common;

use common::git_http::{serve, TOKEN};
use medic::forge::git::{Author, Checkout, Credentials, GitSettings, PushOutcome};
use medic::forge::local::LocalForge;
use medic::forge::{BranchName, ForgeError};
use std::process::Command;

fn settings(token: &str) -> GitSettings {
    GitSettings {
        base: "main".into(),
        author: Author {
            name: "medic".into(),
            email: "medic@localhost".into(),
        },
        credentials: Credentials::Token {
            username: "x-access-token".into(),
            token: token.into(),
        },
        max_diff_bytes: 64 * 1024,
        cancel: Default::default(),
    }
}

/// The demo's sample repository, served with pushes allowed.
fn repos() -> (tempfile::TempDir, LocalForge) {
    let data = tempfile::tempdir().unwrap();
    let forge = LocalForge::demo(data.path()).unwrap();
    let ok = Command::new("git")
        .args(["config", "http.receivepack", "true"])
        .current_dir(forge.remote_path())
        .status()
        .unwrap();
    assert!(ok.success());
    (data, forge)
}

/// 3 MB that do not compress, so the clone's answer comes in many chunks.
fn big_blob() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Commits `blob` as `assets/big.bin` on the bare repository's main, with git itself.
fn add_to_main(bare: &std::path::Path, blob: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let git = |args: &[&str], dir: &std::path::Path| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["clone", "-q", bare.to_str().unwrap(), "w"], tmp.path());
    let w = tmp.path().join("w");
    std::fs::create_dir_all(w.join("assets")).unwrap();
    std::fs::write(w.join("assets/big.bin"), blob).unwrap();
    git(&["add", "."], &w);
    git(&["commit", "-qm", "a large asset"], &w);
    git(&["push", "-q", "origin", "main"], &w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_branch_commit_push_over_http_with_the_token() {
    let (_data, forge) = repos();
    let blob = big_blob();
    add_to_main(&forge.remote_path(), &blob);
    let (base, seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("co");
    let remote_path = forge.remote_path();
    let pushed = tokio::task::spawn_blocking(move || {
        let co = Checkout::clone(&url, &dir, settings(TOKEN)).unwrap();
        // The multi-megabyte answer streamed through intact.
        assert!(std::fs::read(co.path().join("assets/big.bin")).unwrap() == blob);
        let branch = BranchName::new("inc-9", "over http").unwrap();
        co.start_branch(&branch).unwrap();
        std::fs::write(co.path().join("NOTES.md"), "pushed over http\n").unwrap();
        let commit = co.commit_all("over http").unwrap().unwrap();
        let outcome = co.push(&branch).unwrap();
        assert!(matches!(outcome, PushOutcome::Pushed(_)), "{outcome:?}");
        // The remote ref is read back over HTTP too; a second push is a no-op.
        assert_eq!(co.remote_oid(&branch).unwrap(), Some(commit));
        assert!(matches!(
            co.push(&branch).unwrap(),
            PushOutcome::AlreadyThere(_)
        ));
        co.fetch().unwrap();
        (branch, commit)
    })
    .await
    .unwrap();
    let out = Command::new("git")
        .args(["rev-parse", &pushed.0.refname()])
        .current_dir(&remote_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pushed.1.to_string(),
        "the bare repository has medic's branch at medic's commit"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(m, p, _)| m == "POST" && p == "/shop.git/git-receive-pack"),
        "{seen:#?}"
    );
    assert!(
        seen.iter().all(|(_, _, auth)| *auth),
        "the token on every request"
    );
    assert!(
        seen.iter().all(|(_, p, _)| !p.contains(TOKEN)),
        "never in a URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_auth_error_that_does_not_show_it() {
    let (_data, forge) = repos();
    let (base, seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let err = tokio::task::spawn_blocking(move || {
        Checkout::clone(&url, &work.path().join("co"), settings("not-the-token")).unwrap_err()
    })
    .await
    .unwrap();
    assert!(matches!(err, ForgeError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-token"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "one request, no retry loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_receive_hook_rejection_over_http_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let (_data, forge) = repos();
    let hook = forge.remote_path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'frozen for review' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (base, _seen) = serve(forge.remote_path().parent().unwrap().to_path_buf()).await;
    let url = format!("{base}/shop.git");
    let work = tempfile::tempdir().unwrap();
    let err = tokio::task::spawn_blocking(move || {
        let co = Checkout::clone(&url, &work.path().join("co"), settings(TOKEN)).unwrap();
        let branch = BranchName::new("inc-10", "frozen").unwrap();
        co.start_branch(&branch).unwrap();
        std::fs::write(co.path().join("NOTES.md"), "x\n").unwrap();
        co.commit_all("x").unwrap().unwrap();
        let err = co.push(&branch).unwrap_err();
        assert_eq!(co.remote_oid(&branch).unwrap(), None);
        err
    })
    .await
    .unwrap();
    assert!(matches!(err, ForgeError::Rejected { .. }), "{err:?}");
}
