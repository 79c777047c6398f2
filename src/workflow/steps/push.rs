//! Step 5, `push`: medic's branch to the forge. Intent first, then compare
//! the remote ref, then act, so a crash between "pushed" and "recorded"
//! adopts the push instead of doing it twice.

use super::{policy, test_delay, Delivery};
use crate::forge::git::{Checkout, PushOutcome};
use crate::workflow::incident::Incident;
use crate::workflow::run::Run;

/// Push `commit` on medic's branch; returns the commit the remote branch is at.
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    d: &Delivery,
    commit: &str,
) -> anyhow::Result<String> {
    Ok(run
        .engine
        .step(&inc.id, "push", policy(120), |_| {
            attempt(run, &inc.id, d, commit)
        })
        .await?)
}

/// One attempt at the push, logged in the side-effect log.
async fn attempt(run: &Run<'_>, id: &str, d: &Delivery, commit: &str) -> anyhow::Result<String> {
    test_delay().await;
    let branch = &d.branch;
    let key = format!("push:{branch}");
    run.log_effect(id, &key, "intent", commit)?;
    let checkout = Checkout::open(&d.workdir, d.git.clone())?;
    if checkout
        .remote_oid(branch)?
        .map(|o| o.to_string())
        .as_deref()
        == Some(commit)
    {
        run.log_effect(id, &key, "adopted", commit)?;
        return Ok(commit.to_string());
    }
    match checkout.push(branch)? {
        PushOutcome::Pushed(o) => run.log_effect(id, &key, "performed", &o.to_string())?,
        PushOutcome::AlreadyThere(o) => run.log_effect(id, &key, "adopted", &o.to_string())?,
    }
    Ok(commit.to_string())
}
