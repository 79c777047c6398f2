use super::*;
use crate::config::default_rules;
use crate::model::Verdict;
use crate::sources::demo::{Demo, DemoClock, Deploy, LogLine, UpstreamStatus, DEFAULT_SEED};
use crate::sources::evidence::Fetched;
use std::sync::atomic::{AtomicUsize, Ordering};

const ANCHOR: Millis = 1_790_000_000_000;
const HOUR: Millis = 3_600_000;
const STEP: Millis = 15_000;

/// The demo as evidence, counting how often triage asks for logs (once per
/// flag judged) and with upstream status that can be changed.
struct Counting {
    source: Source,
    logs: AtomicUsize,
    upstreams_at: Option<Millis>,
}

impl Counting {
    fn new() -> Counting {
        Counting {
            source: Source::Demo {
                demo: Demo::new(DEFAULT_SEED, ANCHOR),
                clock: DemoClock::new(ANCHOR, 1.0),
            },
            logs: AtomicUsize::new(0),
            upstreams_at: None,
        }
    }

    fn demo(&self) -> &Demo {
        let Source::Demo { demo, .. } = &self.source else {
            unreachable!()
        };
        demo
    }

    fn asked(&self) -> usize {
        self.logs.swap(0, Ordering::SeqCst)
    }
}

impl EvidenceSource for Counting {
    async fn logs(&self, service: &str, from: Millis, to: Millis) -> Fetched<LogLine> {
        self.logs.fetch_add(1, Ordering::SeqCst);
        EvidenceSource::logs(&self.source, service, from, to).await
    }
    async fn deploys(&self) -> Fetched<Deploy> {
        EvidenceSource::deploys(&self.source).await
    }
    async fn upstreams(&self, now: Millis) -> Fetched<UpstreamStatus> {
        EvidenceSource::upstreams(&self.source, self.upstreams_at.unwrap_or(now)).await
    }
}

fn open(flags: &[Flag]) -> usize {
    flags
        .iter()
        .filter(|f| f.state != AlertState::Resolved)
        .count()
}

#[tokio::test]
async fn triage_runs_for_new_and_changed_flags_only() {
    let source = Counting::new();
    let mut pipeline = Pipeline::new(default_rules());
    let snap = source.demo().snapshot(ANCHOR, HOUR, STEP);
    let first = pipeline.update(&source, snap.clone(), vec![]).await;
    let flagged = open(&first.flags);
    assert!(flagged >= 4, "{:#?}", first.flags);
    assert_eq!(source.asked(), flagged, "every open flag is judged once");
    assert_eq!(first.judged, flagged);

    // The next refresh, one step later: no flag changed, so no triage, and
    // the verdicts and evidence are the ones given before.
    let next = source.demo().snapshot(ANCHOR + STEP, HOUR, STEP);
    let second = pipeline.update(&source, next, vec![]).await;
    assert_eq!(source.asked(), 0, "unchanged flags are not judged again");
    assert_eq!(second.judged, 0);
    let verdicts = |r: &Refreshed| -> Vec<(String, String, Verdict, String)> {
        r.flags
            .iter()
            .map(|f| {
                (
                    f.service.0.clone(),
                    f.rule.clone(),
                    f.verdict,
                    f.reason.clone(),
                )
            })
            .collect()
    };
    assert_eq!(verdicts(&first), verdicts(&second));
    assert_eq!(first.evidence, second.evidence);
    let web = second.flags.iter().find(|f| f.service.0 == "web").unwrap();
    assert_eq!(web.verdict, Verdict::Load, "{web:#?}");
}

#[tokio::test]
async fn verdicts_are_the_same_as_judging_everything() {
    // What the pipeline says after several refreshes equals a fresh detector
    // and a full triage of the last snapshot.
    let source = Counting::new();
    let mut pipeline = Pipeline::new(default_rules());
    let mut last = None;
    for k in 0..4 {
        let snap = source.demo().snapshot(ANCHOR + k * STEP, HOUR, STEP);
        last = Some(pipeline.update(&source, snap, vec![]).await);
    }
    let last = last.unwrap();
    let mut fresh = Detector::new(default_rules());
    fresh.ingest(&last.snap);
    let mut flags = fresh.flags(&last.snap);
    triage::judge_all(&source, &last.snap, &fresh, &mut flags).await;
    let words = |f: &[Flag]| -> Vec<(String, String, AlertState, Verdict)> {
        f.iter()
            .map(|f| (f.service.0.clone(), f.rule.clone(), f.state, f.verdict))
            .collect()
    };
    assert_eq!(words(&last.flags), words(&flags));
}

#[tokio::test]
async fn old_verdicts_and_a_changed_world_are_judged_again() {
    let mut source = Counting::new();
    let mut pipeline = Pipeline::new(default_rules());
    let first = pipeline
        .update(&source, source.demo().snapshot(ANCHOR, HOUR, STEP), vec![])
        .await;
    let flagged = open(&first.flags);
    source.asked();
    // Past REJUDGE_AFTER, every open flag is judged again (even unchanged).
    let later = ANCHOR + REJUDGE_AFTER;
    let again = pipeline
        .update(&source, source.demo().snapshot(later, HOUR, STEP), vec![])
        .await;
    assert_eq!(source.asked(), open(&again.flags));
    assert!(open(&again.flags) >= flagged - 1);
    // An upstream status page that changes re-judges every flag at once.
    let next = later + STEP;
    pipeline
        .update(&source, source.demo().snapshot(next, HOUR, STEP), vec![])
        .await;
    assert_eq!(source.asked(), 0);
    source.upstreams_at = Some(ANCHOR - 24 * HOUR);
    let changed = pipeline
        .update(
            &source,
            source.demo().snapshot(next + STEP, HOUR, STEP),
            vec![],
        )
        .await;
    assert_eq!(source.asked(), open(&changed.flags), "upstream changed");
}

#[tokio::test]
async fn extra_flags_are_judged_beside_the_detectors() {
    let source = Counting::new();
    let mut pipeline = Pipeline::new(default_rules());
    let snap = source.demo().snapshot(ANCHOR, HOUR, STEP);
    let mut alert = pipeline.detect(snap.clone()).flags[0].clone();
    alert.rule = "FromAlertmanager".into();
    let mut pipeline = Pipeline::new(default_rules());
    let r = pipeline.update(&source, snap, vec![alert]).await;
    assert!(r.flags.iter().any(|f| f.rule == "FromAlertmanager"));
    assert_eq!(r.evidence.len(), open(&r.flags));
}
