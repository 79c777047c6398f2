//! Step 5, `push`: medic's branch to the forge. Intent first, then compare
//! the remote ref, then act, so a crash between "pushed" and "recorded"
//! adopts the push instead of doing it twice.
//!
//! Before the step: the remote's refs are compared with the snapshot the
//! agent step journaled before the agent ran. If the base branch or any
//! ref medic did not create moved, nothing is pushed and the incident needs
//! attention at once (no retry can change that; the operator restores the
//! refs, then resumes). The git work runs on the blocking pool, stopped
//! when the step times out.

use super::{forge_error, policy, test_delay, Delivery};
use crate::forge::blocking;
use crate::forge::git::PushOutcome;
use crate::forge::remote::{Outbox, RefSnapshot};
use crate::forge::ForgeError;
use crate::workflow::engine::{EventKind, StepError, StepStatus};
use crate::workflow::incident::{AgentWork, Incident};
use crate::workflow::run::Run;

/// Push `commit` on medic's branch; returns the commit the remote branch is at.
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    d: &Delivery,
    work: &AgentWork,
    commit: &str,
) -> anyhow::Result<String> {
    let done = run
        .engine
        .journal()
        .step::<crate::workflow::engine::StepRecord>(&inc.id, "push")?
        .is_some_and(|r| r.status == StepStatus::Done);
    if let (false, Some(snapshot)) = (done, work.refs.clone()) {
        let (url, git, branch) = (d.forge.remote_url(), d.git.clone(), d.branch.clone());
        let moved = blocking::run(move |cancel| {
            let mut git = git;
            git.cancel = cancel;
            Ok(snapshot.moved(&RefSnapshot::take(&url, &git)?, &branch))
        })
        .await?;
        if !moved.is_empty() {
            let error = ForgeError::RefsMoved { changes: moved }.to_string();
            run.engine.emit(
                &inc.id,
                EventKind::StepFailed {
                    step: "push".into(),
                    error: error.clone(),
                },
            )?;
            return Err(StepError::Exhausted {
                step: "push".into(),
                attempts: 1,
                error,
            }
            .into());
        }
    }
    Ok(run
        .engine
        .step(&inc.id, "push", policy(120), |_| {
            attempt(run, &inc.id, d, work, commit)
        })
        .await?)
}

/// One attempt at the push, logged in the side-effect log.
async fn attempt(
    run: &Run<'_>,
    id: &str,
    d: &Delivery,
    work: &AgentWork,
    commit: &str,
) -> anyhow::Result<String> {
    test_delay().await;
    let branch = d.branch.clone();
    let key = format!("push:{branch}");
    run.log_effect(id, &key, "intent", commit)?;
    let oid = git2::Oid::from_str(commit)?;
    let (url, git, workdir, refs) = (
        d.forge.remote_url(),
        d.git.clone(),
        d.workdir.clone(),
        work.refs.clone(),
    );
    let outcome = blocking::run(move |cancel| {
        let mut git = git;
        git.cancel = cancel;
        let now = RefSnapshot::take(&url, &git)?;
        if now.get(&branch.refname()) == Some(oid) {
            return Ok(PushOutcome::AlreadyThere(oid));
        }
        // A journal from before snapshots: compare with the remote as it is now.
        let snapshot = refs.unwrap_or(now);
        Outbox::open(&workdir, &url, git)?.push(&branch, oid, &snapshot)
    })
    .await
    .map_err(forge_error)?;
    match outcome {
        PushOutcome::Pushed(o) => run.log_effect(id, &key, "performed", &o.to_string())?,
        PushOutcome::AlreadyThere(o) => run.log_effect(id, &key, "adopted", &o.to_string())?,
    }
    Ok(commit.to_string())
}
