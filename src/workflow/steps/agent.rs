//! Step 4, `agent`: the coding agent carries out the approved plan in a
//! fresh checkout on medic's branch and commits what it changed. A crash
//! here redoes the step from a clean clone: nothing was pushed yet.

use super::{forge_error, policy, test_delay, Delivery};
use crate::agent::{AgentError, AgentEvent};
use crate::forge::blocking;
use crate::forge::git::Checkout;
use crate::forge::remote::{Outbox, RefSnapshot};
use crate::model::Plan;
use crate::workflow::engine::{EventKind, StepPolicy};
use crate::workflow::incident::{todos_event, AgentWork, Incident};
use crate::workflow::run::Run;

/// Run the agent once (replayed from the journal when it already ran); what
/// the builtin agent spent is charged to the incident either way.
pub async fn run(
    run: &Run<'_>,
    inc: &mut Incident,
    plan: &Plan,
    d: &Delivery,
) -> anyhow::Result<AgentWork> {
    let id = inc.id.clone();
    let work: Result<AgentWork, _> = run
        .engine
        // The agent's own limit stops it (and its children) before the
        // step's. A run costs minutes and tokens: one retry for a
        // transient failure, then the incident needs attention.
        .step(
            &id,
            "agent",
            StepPolicy {
                max_attempts: 2,
                ..policy(d.task.time_limit.as_secs() + 60)
            },
            |_| attempt(run, &id, plan, d),
        )
        .await;
    if let Some(llm) = &d.llm {
        inc.llm_spent = llm.budget().spent();
        run.save(inc)?;
    }
    Ok(work?)
}

/// One attempt: snapshot the remote's refs, clone, branch, run the agent,
/// commit, diff, and review the change against the policy. The git work
/// runs on the blocking pool, stopped when the step times out.
async fn attempt(run: &Run<'_>, id: &str, plan: &Plan, d: &Delivery) -> anyhow::Result<AgentWork> {
    test_delay().await;
    let (workdir, url, git, branch) = (
        d.workdir.clone(),
        d.forge.remote_url(),
        d.git.clone(),
        d.branch.clone(),
    );
    let (checkout, refs) = blocking::run(move |cancel| {
        for dir in [Outbox::path_for(&workdir), workdir.clone()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(crate::forge::ForgeError::io(&dir))?;
            }
        }
        let parent = workdir.parent().unwrap_or(&workdir);
        std::fs::create_dir_all(parent).map_err(crate::forge::ForgeError::io(parent))?;
        let mut git = git;
        git.cancel = cancel;
        // Before the agent runs: what the remote looks like, journaled with
        // the step's output so the push compares with exactly this.
        let refs = RefSnapshot::take(&url, &git)?;
        let checkout = Checkout::clone(&url, &workdir, git)?;
        checkout.trust_base(&refs)?;
        checkout.start_branch(&branch)?;
        Ok((checkout, refs))
    })
    .await
    .map_err(forge_error)?;
    // Events go to the journal as they happen: an external agent runs for minutes.
    let mut emit_error = None;
    let report = d
        .agent
        .run(&d.task, checkout.path(), &mut |e| {
            if let Err(err) = run.engine.emit(id, event(e)) {
                emit_error.get_or_insert(err);
            }
        })
        .await
        .map_err(agent_error)?;
    if let Some(err) = emit_error {
        return Err(err.into());
    }
    let message = format!("{}\n\nmedic incident {id}", plan.title);
    let (url, git, snapshot) = (d.forge.remote_url(), d.git.clone(), refs.clone());
    let protected = crate::forge::policy::Protected::new(&run.parts.settings.forge.protected)
        .map_err(|why| anyhow::anyhow!("forge.protected: {why}"))?;
    let (commit, diff, held) = blocking::run(move |cancel| {
        let checkout = checkout.with_cancel(cancel.clone());
        let commit = checkout.commit_all(&message)?;
        let diff = checkout.diff()?;
        let held = match commit {
            Some(c) => {
                let mut git = git;
                git.cancel = cancel;
                Outbox::open(checkout.path(), &url, git)?.review(c, &snapshot, &protected)?
            }
            None => Vec::new(),
        };
        Ok((commit, diff, held))
    })
    .await
    .map_err(forge_error)?;
    Ok(AgentWork {
        commit: commit.map(|c| c.to_string()),
        diff: diff.text.clone(),
        diff_stat: format!(
            "{} file(s) changed, {} insertion(s)(+), {} deletion(s)(-)",
            diff.files, diff.insertions, diff.deletions
        ),
        changes: report.changes.clone(),
        todos: report.todos.clone(),
        refs: Some(refs),
        held,
    })
}

/// An agent's event as a workflow event.
fn event(e: AgentEvent) -> EventKind {
    match e {
        AgentEvent::Todos(t) => todos_event(&t),
        AgentEvent::Log(line) => EventKind::Log { line },
        AgentEvent::FileChanged(f) => EventKind::Log {
            line: format!("changed {f}"),
        },
        AgentEvent::Finished { summary } => EventKind::Log { line: summary },
        AgentEvent::Failed { error } => EventKind::Log {
            line: format!("agent failed: {error}"),
        },
    }
}

/// An agent error as a step's error: one no retry can change (its binary
/// missing, no bubblewrap, a kind medic does not drive) is not retried.
fn agent_error(e: AgentError) -> anyhow::Error {
    use std::io::ErrorKind;
    let permanent = match &e {
        AgentError::Spawn { source, .. } => {
            matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied
            )
        }
        AgentError::Sandbox(crate::agent::jail::JailError::NoBubblewrap)
        | AgentError::NotWired { .. } => true,
        _ => false,
    };
    if permanent {
        crate::workflow::engine::Permanent(e.to_string()).into()
    } else {
        e.into()
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;
    use crate::workflow::engine::Permanent;

    #[test]
    fn a_missing_agent_binary_is_not_retried_a_dead_agent_is() {
        let missing = AgentError::Spawn {
            command: "opencode run".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not on PATH"),
        };
        assert!(agent_error(missing).downcast_ref::<Permanent>().is_some());
        let no_bwrap = AgentError::Sandbox(crate::agent::jail::JailError::NoBubblewrap);
        assert!(agent_error(no_bwrap).downcast_ref::<Permanent>().is_some());
        let died = AgentError::Died {
            command: "opencode run".into(),
            reason: "exit 1".into(),
            stderr: vec![],
        };
        assert!(agent_error(died).downcast_ref::<Permanent>().is_none());
    }
}
