//! Steps 8 and 9, `merged` and `live`: the pull request merged (the
//! forge's merged state and merge commit), then the change reached the
//! workload. `merged` is journaled only once the forge says so; until then
//! the run stops with the pull request open.

use super::{policy, test_delay, Delivery};
use crate::forge::Merged;
use crate::model::{Plan, PullRequest};
use crate::workflow::engine::{EventKind, StepRecord, StepStatus};
use crate::workflow::incident::Incident;
use crate::workflow::run::Run;
use crate::workflow::watch::Live;

/// The pull request's merge, once it is merged (`None`: still open).
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    d: &Delivery,
    pr: &PullRequest,
) -> anyhow::Result<Option<Merged>> {
    let done = run
        .engine
        .journal()
        .step::<StepRecord>(&inc.id, "merged")?
        .is_some_and(|r| r.status == StepStatus::Done);
    let merged = match done {
        true => None,
        false => match d.forge.merged(pr.number).await {
            Ok(None) => return Ok(None),
            Ok(m) => m,
            Err(e) => {
                // Not merged as far as medic can tell: the PR stays open, the operator is told.
                run.engine.emit(
                    &inc.id,
                    EventKind::Log {
                        line: format!(
                            "could not read pull request #{}'s merge state: {e}",
                            pr.number
                        ),
                    },
                )?;
                return Ok(None);
            }
        },
    };
    let stored = run
        .engine
        .step(&inc.id, "merged", policy(10), |_| {
            let merged = merged.clone();
            async move { merged.ok_or_else(|| anyhow::anyhow!("the merge is not journaled")) }
        })
        .await?;
    Ok(Some(stored))
}

/// When the merge went live. The demo fleet deploys a merge at once (its
/// simulated fleet then answers to the plan's changes); elsewhere the merge
/// commit counts as live `[watch] live_after` after the step first ran.
pub async fn live(
    run: &Run<'_>,
    inc: &Incident,
    plan: &Plan,
    merged: &Merged,
) -> anyhow::Result<Live> {
    Ok(run
        .engine
        .step(&inc.id, "live", policy(30), |_| async {
            test_delay().await;
            let demo = matches!(run.parts.source, crate::sources::Source::Demo { .. });
            let delay = match demo {
                true => 0,
                false => run.parts.settings.watch.live_after.0,
            };
            let how = if demo {
                format!(
                    "the demo fleet deployed {} ({} change(s))",
                    short(&merged.commit),
                    plan.mitigations.len()
                )
            } else {
                format!(
                    "merge commit {} counted as live {} after the merge ([watch] live_after)",
                    short(&merged.commit),
                    crate::units::duration(delay)
                )
            };
            Ok(Live {
                at: run.parts.source.now() + delay,
                commit: merged.commit.clone(),
                how,
            })
        })
        .await?)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}
