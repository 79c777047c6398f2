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

/// The same snapshot, NaN for NaN: services, grids and values bit for bit.
pub(crate) fn same_snapshot(a: &FleetSnapshot, b: &FleetSnapshot) -> Result<(), String> {
    if (a.at, a.stale, &a.missing) != (b.at, b.stale, &b.missing) {
        return Err(format!(
            "at/stale/missing differ: {:?} vs {:?}",
            (a.at, a.stale, &a.missing),
            (b.at, b.stale, &b.missing)
        ));
    }
    let names = |s: &FleetSnapshot| {
        s.services
            .iter()
            .map(|s| s.service.0.clone())
            .collect::<Vec<_>>()
    };
    if names(a) != names(b) {
        return Err(format!("services differ: {:?} vs {:?}", names(a), names(b)));
    }
    for (x, y) in a.services.iter().zip(&b.services) {
        for (m, (sx, sy)) in x.series.iter().zip(&y.series).enumerate() {
            let same = match (sx, sy) {
                (None, None) => true,
                (Some(p), Some(q)) => {
                    p.start == q.start
                        && p.step == q.step
                        && p.values.len() == q.values.len()
                        && p.values
                            .iter()
                            .zip(&q.values)
                            .all(|(u, v)| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()))
                }
                _ => false,
            };
            if !same {
                return Err(format!(
                    "{} metric #{m} differs:\n{sx:?}\n{sy:?}",
                    x.service
                ));
            }
        }
    }
    Ok(())
}

fn demo_source() -> Source {
    Source::Demo {
        demo: Demo::new(DEFAULT_SEED, ANCHOR),
        clock: DemoClock::new(ANCHOR, 1.0),
    }
}

#[tokio::test]
async fn incremental_refreshes_equal_full_fetches() {
    let mut source = demo_source();
    let mut whole = demo_source();
    let mut pipeline = Pipeline::new(default_rules());
    let mut fresh = Detector::new(default_rules());
    // Refreshes 7 s apart: some bring a new point, some none.
    for k in 0..40 {
        let now = ANCHOR + k * 7_000;
        let got = pipeline
            .detect_at(&mut source, now, HOUR, STEP)
            .await
            .unwrap();
        let want = whole.latest(now, HOUR, STEP).await.unwrap();
        if let Err(e) = same_snapshot(
            &got.snap,
            &FleetSnapshot {
                at: got.snap.at,
                ..want.clone()
            },
        ) {
            panic!("refresh {k}: {e}");
        }
        let changes = fresh.ingest(&want);
        assert_eq!(got.changes, changes, "refresh {k}");
        let words = |f: &[Flag]| -> Vec<(String, String, AlertState, Millis)> {
            f.iter()
                .map(|f| (f.service.0.clone(), f.rule.clone(), f.state, f.since))
                .collect()
        };
        assert_eq!(words(&got.flags), words(&fresh.flags(&want)), "refresh {k}");
    }
    let f = pipeline.fetches();
    assert_eq!(f.full, 1, "{f:?}");
    assert!(f.incremental >= 15 && f.skipped >= 15, "{f:?}");
}

#[tokio::test]
async fn a_gap_or_another_step_fetches_the_whole_window() {
    let mut source = demo_source();
    let mut pipeline = Pipeline::new(default_rules());
    pipeline
        .fetch_at(&mut source, ANCHOR, HOUR, STEP)
        .await
        .unwrap();
    pipeline
        .fetch_at(&mut source, ANCHOR + STEP, HOUR, STEP)
        .await
        .unwrap();
    assert_eq!(
        (pipeline.fetches().full, pipeline.fetches().incremental),
        (1, 1)
    );
    // Longer than the window since the last refresh: everything again.
    let later = ANCHOR + 2 * HOUR;
    let got = pipeline
        .fetch_at(&mut source, later, HOUR, STEP)
        .await
        .unwrap();
    assert_eq!(pipeline.fetches().full, 2);
    let want = demo_source().latest(later, HOUR, STEP).await.unwrap();
    same_snapshot(&got, &want).unwrap();
    // Another step: everything again.
    pipeline
        .fetch_at(&mut source, later + 60_000, HOUR, 60_000)
        .await
        .unwrap();
    assert_eq!(pipeline.fetches().full, 3);
    // A consumer holding the last answer keeps its copy unchanged.
    let held = pipeline
        .fetch_at(&mut source, later + 120_000, HOUR, 60_000)
        .await
        .unwrap();
    let before = (*held).clone();
    pipeline
        .fetch_at(&mut source, later + 180_000, HOUR, 60_000)
        .await
        .unwrap();
    same_snapshot(&held, &before).unwrap();
    assert_eq!(pipeline.fetches().incremental, 3);
}
