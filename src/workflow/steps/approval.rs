//! Step 3, `approval`: the operator's approval, journaled the moment it is
//! given and bound to the digest of the exact plan it approves.

use super::policy;
use crate::model::Plan;
use crate::workflow::engine::EventKind;
use crate::workflow::incident::{plan_digest, Approval, Incident};
use crate::workflow::run::Run;

/// True when this plan is approved (now, with `--yes`, or earlier); false
/// when it waits for the operator (the event says so).
pub async fn run(run: &Run<'_>, inc: &mut Incident, plan: &Plan) -> anyhow::Result<bool> {
    let digest = plan_digest(plan);
    let approved = inc
        .approval
        .as_ref()
        .is_some_and(|a| a.plan_digest == digest);
    if !approved {
        let unseen = run.seen.as_deref().is_some_and(|seen| seen != digest);
        if run.approve && unseen {
            // The approval names the plan the operator read; this is another one.
            run.engine.emit(
                &inc.id,
                EventKind::Log {
                    line: "not approved: the plan changed since you read it; read it again and approve".into(),
                },
            )?;
        }
        if !run.approve || unseen {
            run.engine.emit(&inc.id, EventKind::AwaitingApproval)?;
            return Ok(false);
        }
        inc.approval = Some(Approval {
            by: run.operator.clone(),
            at: crate::sources::wall_now(),
            plan_digest: digest.clone(),
            publish: run.publish,
        });
        run.save(inc)?;
        run.engine.emit(
            &inc.id,
            EventKind::Approved {
                by: run.operator.clone(),
            },
        )?;
    }
    let _: String = run
        .engine
        .step(&inc.id, "approval", policy(10), |_| async {
            Ok(digest.clone())
        })
        .await?;
    Ok(true)
}
