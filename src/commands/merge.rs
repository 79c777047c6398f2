//! `medic merge ID`: merge an incident's pull request on the local forge
//! (the demo's "deploy"), then watch the change through: live, the
//! verification window, the outcome on the pull request. On GitHub the
//! operator merges there and `medic resume ID` watches.

use crate::forge::Forge;
use crate::setup::UsageError;
use crate::terminal;
use crate::workflow::incident::{Incident, Parts};
use crate::workflow::journal::Journal;

/// Merge the local pull request of incident `id` and watch the change through.
pub async fn merge(
    data_dir: &std::path::Path,
    id: &str,
    hint: &super::hint::Invocation,
) -> anyhow::Result<()> {
    {
        // The journal is opened again by the watch below: one handle at a time.
        let journal = Journal::open(data_dir)?;
        let inc: Incident = journal.incident(id)?.ok_or_else(|| {
            UsageError(format!(
                "no incident `{id}` in {} (see `medic incidents`)",
                data_dir.display()
            ))
        })?;
        merge_pr(&journal, data_dir, &inc).await?;
    }
    super::incidents::resume(data_dir, Some(id), hint).await
}

/// Merge the incident's pull request and say so.
pub async fn merge_pr(
    journal: &Journal,
    data_dir: &std::path::Path,
    inc: &Incident,
) -> anyhow::Result<String> {
    let commit = merge_local(journal, data_dir, inc).await?;
    let pr = inc.pr.as_ref().expect("merged, so there is a pull request");
    terminal::stdout().row(format_args!(
        "merged pull request #{} into {} as {}",
        pr.number,
        pr.base,
        &commit[..commit.len().min(12)]
    ))?;
    Ok(commit)
}

/// Merge the incident's pull request on the local forge, once (again: the
/// merge already there); prints nothing (the TUI calls it too).
///
/// The incident is journaled as watching *before* the merge: a crash right
/// after the merge leaves an interrupted run that `medic resume` picks up,
/// not a "pr opened" incident whose pull request is merged behind its back.
/// A crash before the merge is harmless: the run finds the PR unmerged and
/// journals it as open again.
pub async fn merge_local(
    journal: &Journal,
    data_dir: &std::path::Path,
    inc: &Incident,
) -> anyhow::Result<String> {
    let pr = inc.pr.as_ref().ok_or_else(|| {
        UsageError(format!(
            "incident {} has no pull request yet ({}); `medic fix {} --yes` opens it",
            inc.id,
            inc.status.word(),
            inc.service
        ))
    })?;
    let parts = Parts::for_origin(&inc.origin, data_dir)?;
    let commit = match parts.forge()? {
        Forge::Local(forge) => {
            if inc.status == crate::workflow::incident::Status::PrOpened {
                let mut watching = inc.clone();
                watching.status = crate::workflow::incident::Status::Watching;
                journal.put_incident(&inc.id, &watching)?;
            }
            let n = pr.number;
            crate::forge::blocking::run(move |_| forge.merge(n)).await?
        }
        Forge::Github(_) => {
            return Err(UsageError(format!(
                "pull request #{} is on GitHub: merge it there, then `medic resume {}` watches it through",
                pr.number, inc.id
            ))
            .into())
        }
    };
    Ok(commit)
}
