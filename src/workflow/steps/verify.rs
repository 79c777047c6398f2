//! Step 7, `verify`: the branch on the remote is medic's commit and the pull
//! request points at it.

use super::{policy, test_delay, Delivery};
use crate::forge::blocking;
use crate::forge::remote::RefSnapshot;
use crate::model::PullRequest;
use crate::workflow::incident::Incident;
use crate::workflow::run::Run;

/// Check the remote branch and the pull request; the summary is stored.
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    d: &Delivery,
    pushed: &str,
    pr: &PullRequest,
) -> anyhow::Result<String> {
    Ok(run
        .engine
        .step(&inc.id, "verify", policy(60), |_| attempt(d, pushed, pr))
        .await?)
}

/// One check of the remote.
async fn attempt(d: &Delivery, pushed: &str, pr: &PullRequest) -> anyhow::Result<String> {
    test_delay().await;
    let branch = &d.branch;
    let (url, git, refname) = (d.forge.remote_url(), d.git.clone(), branch.refname());
    let remote = blocking::run(move |cancel| {
        let mut git = git;
        git.cancel = cancel;
        Ok(RefSnapshot::take(&url, &git)?.get(&refname))
    })
    .await?
    .map(|o| o.to_string());
    anyhow::ensure!(
        remote.as_deref() == Some(pushed),
        "the remote branch {branch} is at {remote:?}, not at medic's commit {pushed}"
    );
    // medic opens drafts only; an adopted PR a teammate already
    // marked ready for review is still medic's branch.
    anyhow::ensure!(
        pr.branch == branch.as_str(),
        "pull request #{} is not from {branch}",
        pr.number
    );
    let state = if pr.draft {
        "open as a draft"
    } else {
        "open, ready for review"
    };
    Ok(format!("{branch} at {pushed}, PR #{} {state}", pr.number))
}
