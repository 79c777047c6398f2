//! Step 1, `evidence`: the evidence bundle, the signals and the verdict for
//! the instant the incident opened, with similar past incidents (`history:`).

use super::{policy, test_delay};
use crate::refresh::{Detected, Pipeline};
use crate::workflow::incident::{Incident, Triage};
use crate::workflow::run::Run;

/// Gather the evidence once; a finished step is replayed from the journal.
pub async fn run(run: &Run<'_>, inc: &Incident) -> anyhow::Result<Triage> {
    Ok(run
        .engine
        .step(&inc.id, "evidence", policy(120), |_| async {
            test_delay().await;
            triage(run, inc).await
        })
        .await?)
}

/// Read the source at the incident's onset and judge the flag again.
async fn triage(run: &Run<'_>, inc: &Incident) -> anyhow::Result<Triage> {
    let parts = run.parts;
    let step = parts.settings.source.step.0;
    let lookback = parts.settings.source.lookback.0;
    let mut source = parts.source.clone();
    let mut pipeline = Pipeline::new(parts.settings.rules());
    let Detected { snap, flags, .. } = pipeline
        .detect_at(&mut source, inc.opened_at, lookback, step)
        .await?;
    let flag = flags
        .iter()
        .find(|f| f.service == inc.service && f.rule == inc.rule)
        .unwrap_or(&inc.flag);
    let (evidence, signals, judgement) = crate::triage::assess(
        &parts.evidence.beside(&source),
        &snap,
        pipeline.detector(),
        &flags,
        flag,
    )
    .await;
    let limit = snap
        .services
        .iter()
        .find(|s| s.service == inc.service)
        .and_then(|s| flag.metric.limit().and_then(|l| s.last(l)));
    let mut triage = Triage {
        evidence,
        signals,
        judgement,
        limit,
    };
    // Seen before: similar incidents whose change medic watched through.
    let memories = crate::workflow::memory::recall(run.engine.journal())?;
    let sig = crate::workflow::memory::signature(inc, &triage);
    let history = crate::workflow::memory::history_items(&memories, &sig, &inc.id);
    triage.evidence.items.extend(history);
    Ok(triage)
}
