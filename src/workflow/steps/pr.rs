//! Step 6, `pr`: the draft pull request. Look for an open one from medic's
//! branch first; the body and title are redacted before they leave.

use super::{policy, test_delay, Delivery};
use crate::model::{Plan, PullRequest};
use crate::workflow::incident::{AgentWork, Incident, Triage};
use crate::workflow::run::Run;

/// Open (or adopt) the incident's pull request.
pub async fn run(
    run: &Run<'_>,
    inc: &Incident,
    plan: &Plan,
    d: &Delivery,
    work: &AgentWork,
) -> anyhow::Result<PullRequest> {
    let triage: Triage = run.stored(&inc.id, "evidence")?;
    let approved_by = inc
        .approval
        .as_ref()
        .map(|a| a.by.clone())
        .unwrap_or_default();
    Ok(run
        .engine
        .step(&inc.id, "pr", policy(120), |_| {
            attempt(run, &inc.id, plan, d, work, &triage, &approved_by)
        })
        .await?)
}

/// One attempt at the pull request, logged in the side-effect log.
async fn attempt(
    run: &Run<'_>,
    id: &str,
    plan: &Plan,
    d: &Delivery,
    work: &AgentWork,
    triage: &Triage,
    approved_by: &str,
) -> anyhow::Result<PullRequest> {
    test_delay().await;
    let branch = &d.branch;
    let key = format!("pr:{branch}");
    run.log_effect(id, &key, "intent", branch.as_str())?;
    if let Some(existing) = d.forge.find_open_pr(branch).await? {
        run.log_effect(id, &key, "adopted", &existing.number.to_string())?;
        return Ok(existing);
    }
    let ctx = crate::plan::pr_body::PrContext {
        incident: id,
        plan,
        evidence: &triage.evidence,
        judgement: &triage.judgement,
        changes: &work.changes,
        diff_stat: &work.diff_stat,
        approved_by,
    };
    let mut body = crate::plan::pr_body::body(&ctx);
    body.push_str(&held_section(&work.held));
    // Nothing leaves the machine unredacted.
    let body = crate::triage::redact::redact_str(&body);
    let pr = d
        .forge
        .open_pr(crate::forge::NewPullRequest {
            title: crate::triage::redact::redact_str(&crate::plan::pr_body::title(plan)),
            body,
            branch: branch.clone(),
            base: run.parts.settings.forge.base.clone(),
            diff: work.diff.clone(),
        })
        .await?;
    run.log_effect(id, &key, "performed", &pr.number.to_string())?;
    Ok(pr)
}

/// The PR body's list of held-back paths the operator confirmed (empty
/// when the policy held nothing back).
pub fn held_section(held: &[crate::forge::policy::Held]) -> String {
    if held.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("\n\n## Held back by the change policy, confirmed by the operator\n\n");
    for h in held {
        let path = h.path.replace('`', "'");
        out.push_str(&format!("- `{path}`: {}\n", h.why));
    }
    out
}
