//! Tests of the NAB scorer: our own cases, then the cases NAB's test suite
//! documents (tests/integration/{sweeper,true_positive,false_positive}_test.py).

use super::*;

const STD: NabProfile = PROFILES[0];

fn corpus() -> Vec<ScoredFile> {
    vec![
        ScoredFile {
            scores: vec![0.0; 2000],
            windows: vec![(500, 599), (1200, 1299)],
        },
        ScoredFile {
            scores: vec![0.0; 1000],
            windows: vec![(800, 849)],
        },
        ScoredFile {
            scores: vec![0.0; 1000],
            windows: vec![],
        },
    ]
}

fn norm(files: &[ScoredFile], p: &NabProfile) -> f64 {
    evaluate(files)
        .into_iter()
        .find(|r| r.profile.name == p.name)
        .map(|r| r.score)
        .unwrap()
}

#[test]
fn probation_length_follows_nab() {
    assert_eq!(probationary_length(1000), 150);
    assert_eq!(probationary_length(4032), 604);
    assert_eq!(probationary_length(15902), 750);
}

#[test]
fn null_detector_normalises_to_zero() {
    for p in &PROFILES {
        assert!(norm(&corpus(), p).abs() < 1e-9);
    }
}

#[test]
fn perfect_detector_normalises_to_hundred() {
    let mut files = corpus();
    for f in &mut files {
        for &(a, _) in &f.windows.clone() {
            f.scores[a] = 1.0;
        }
    }
    for p in &PROFILES {
        let n = norm(&files, p);
        assert!((n - 100.0).abs() < 1e-9, "{}: {n}", p.name);
    }
}

#[test]
fn far_false_positive_costs_a_fp() {
    for p in &PROFILES {
        let base = score_at_threshold(&corpus(), p, 0.5);
        let mut files = corpus();
        files[2].scores[700] = 1.0; // file without windows
        let one = score_at_threshold(&files, p, 0.5);
        assert!((one - base + p.fp).abs() < 1e-12);
        // far after a window (> 3 window lengths) costs the same
        let mut files = corpus();
        files[0].scores[1990] = 1.0;
        let far = score_at_threshold(&files, p, 0.5);
        assert!((far - base + p.fp).abs() < 1e-12);
    }
}

#[test]
fn detection_at_window_end_earns_about_zero() {
    let base = score_at_threshold(&corpus(), &STD, 0.5);
    let mut files = corpus();
    files[0].scores[599] = 1.0;
    let gain = score_at_threshold(&files, &STD, 0.5) - base;
    // from -A_FN to ~0: the gain is ~A_FN
    assert!((gain - STD.fn_).abs() < 0.06, "{gain}");
    let mut files = corpus();
    files[0].scores[500] = 1.0;
    let gain = score_at_threshold(&files, &STD, 0.5) - base;
    assert!((gain - STD.fn_ - STD.tp).abs() < 1e-9);
}

#[test]
fn only_first_detection_of_window_counts_and_fp_after_window_is_cheaper() {
    let base = score_at_threshold(&corpus(), &STD, 0.5);
    let mut files = corpus();
    for i in 500..600 {
        files[0].scores[i] = 1.0;
    }
    let gain = score_at_threshold(&files, &STD, 0.5) - base;
    assert!((gain - 2.0).abs() < 1e-9);
    let mut files = corpus();
    files[0].scores[601] = 1.0;
    let cost = score_at_threshold(&files, &STD, 0.5) - base;
    assert!(cost < 0.0 && cost > -0.06 * STD.fp, "{cost}");
    // probationary detections are ignored
    let mut files = corpus();
    files[0].scores[10] = 1.0;
    assert_eq!(score_at_threshold(&files, &STD, 0.5), base);
}

#[test]
fn sweep_matches_direct_scoring() {
    let mut files = corpus();
    let mut x = 12345u64;
    for f in &mut files {
        for s in &mut f.scores {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *s = ((x >> 33) % 1000) as f64 / 1000.0;
        }
    }
    let (sorted, _) = corpus_points(&files);
    for p in &PROFILES {
        let (t, raw) = optimise_threshold(&sorted, p);
        assert!((score_at_threshold(&files, p, t) - raw).abs() < 1e-9);
        for k in 0..=20 {
            let th = k as f64 / 20.0;
            assert!(score_at_threshold(&files, p, th) <= raw + 1e-9);
        }
    }
}

// ---- The cases NAB's own test suite documents ----

/// NAB's test cost matrix: every weight 1.
const ONES: NabProfile = NabProfile {
    name: "test",
    tp: 1.0,
    fp: 1.0,
    fn_: 1.0,
};

/// One file scored at 0.5 with no probationary period, as NAB's tests do.
fn file_score(scores: Vec<f64>, windows: Vec<(usize, usize)>, profile: &NabProfile) -> f64 {
    let f = ScoredFile { scores, windows };
    points_score_at(&sweep_points_with(&f, 0, 0.0), profile, 0.5)
}

fn one_at(len: usize, rows: &[usize]) -> Vec<f64> {
    let mut s = vec![0.0; len];
    for &r in rows {
        s[r] = 1.0;
    }
    s
}

#[test]
fn nab_probationary_lengths() {
    // sweeper_test.testGetProbationaryLength
    for (rows, pct, want) in [
        (100, 0.0, 0),
        (100, 1.0, 100),
        (100, 0.1, 10),
        (100, 0.15, 15),
        (5000, 0.1, 500),
        (6000, 0.1, 500),
    ] {
        assert_eq!(probationary_length_with(rows, pct), want, "{rows} {pct}");
    }
}

#[test]
fn nab_window_rows_score_positive_all_others_negative() {
    // sweeper_test.testCalcSweepScoreWindowScoreInteraction
    let f = ScoredFile {
        scores: vec![1.0; 100],
        windows: vec![(30, 39), (75, 95)],
    };
    let points = sweep_points_with(&f, 0, 0.1);
    assert_eq!(points.len(), 90, "10 probationary rows dropped");
    assert_eq!(points.iter().filter(|p| p.window.is_some()).count(), 31);
    for p in &points {
        let w = profile_weight(p, &STD);
        if p.window.is_some() {
            assert!(w > 0.0, "{p:?}");
        } else {
            assert!(w < 0.0, "{p:?}");
        }
    }
}

#[test]
fn nab_scores_by_threshold_listing() {
    // sweeper_test.testCalcScoreByThresholdReturnsExpectedScores: A_FN = 5,
    // sweep scores given directly (unit weights).
    let profile = NabProfile {
        name: "test",
        tp: 1.0,
        fp: 1.0,
        fn_: 5.0,
    };
    let (a, b) = (Some(0), Some(1));
    let pt = |score, unweighted, window| SweepPoint {
        score,
        unweighted,
        window,
    };
    let mut points = vec![
        pt(0.0, -3.0, None),
        pt(0.2, 20.0, a),
        pt(0.3, 10.0, a),
        pt(0.5, 5.0, b),
        pt(0.5, -3.0, None),
    ];
    sort_points(&mut points);
    let got = scores_by_threshold(&points, &profile);
    let want = [
        (1.1, -10.0),
        (0.5, 5.0 - 3.0 - 5.0),
        (0.3, 5.0 - 3.0 + 10.0),
        (0.2, 5.0 - 3.0 + 20.0),
        (0.0, 5.0 - 3.0 + 20.0 - 3.0),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((t, s), (wt, ws)) in got.iter().zip(want) {
        assert_eq!(*t, wt);
        assert!((s - ws).abs() < 1e-12, "{t}: {s} vs {ws}");
    }
    assert_eq!(optimise_threshold(&points, &profile), (0.2, 22.0));
}

#[test]
fn nab_false_positives() {
    // false_positive_test: 1000 rows, one window of 10 rows.
    let win = vec![(500, 509)];
    let one = file_score(one_at(1000, &[0]), win.clone(), &ONES);
    assert!(one < 0.0);
    let two = file_score(one_at(1000, &[0, 1]), win.clone(), &ONES);
    assert!(two < one, "two false positives cost more than one");
    // No window at all: exactly -A_FP.
    assert_eq!(file_score(one_at(1000, &[0]), vec![], &ONES), -ONES.fp);
    // Ten rows, a window of 2: a false positive right after the window costs
    // less than one a row later.
    let w = vec![(4, 5)];
    let near = file_score(one_at(10, &[6]), w.clone(), &ONES);
    let later = file_score(one_at(10, &[7]), w, &ONES);
    assert!(near > later, "{near} vs {later}");
}

#[test]
fn nab_true_positives() {
    // true_positive_test: ten rows, one window of 2.
    let w = vec![(4, 5)];
    let first = file_score(one_at(10, &[4]), w.clone(), &ONES);
    assert_eq!(first, ONES.tp, "the window's first row earns exactly A_TP");
    let last = file_score(one_at(10, &[5]), w.clone(), &ONES);
    assert!(first > last, "earlier is better");
    let both = file_score(one_at(10, &[4, 5]), w.clone(), &ONES);
    assert_eq!(both, first, "only the first detection of a window counts");
    let wide = file_score(one_at(10, &[4]), vec![(4, 6)], &ONES);
    assert_eq!(
        wide, first,
        "the left edge is worth A_TP whatever the width"
    );
    // 1000 rows, a window of 100: at its last row about 0, just after it
    // about -A_FP, and the window is then missed (-A_FN).
    let w = vec![(450, 549)];
    let edge = file_score(one_at(1000, &[549]), w.clone(), &ONES);
    let after = file_score(one_at(1000, &[550]), w, &ONES);
    assert!((edge + after + 1.0).abs() < 1e-3, "{edge} {after}");
}

#[test]
fn null_detector_is_scored_like_a_detector() {
    // On any real corpus the constant 0.5 is best never detected...
    let (sorted, windows) = corpus_points(&corpus());
    for p in &PROFILES {
        assert_eq!(null_score_of(&sorted, p), null_score(windows, p));
    }
    // ...but where firing everywhere pays, NAB's baseline is that score, and
    // the constant detector still normalises to 0.
    let dense = vec![ScoredFile {
        scores: vec![0.5; 100],
        windows: vec![(15, 99)],
    }];
    let (sorted, windows) = corpus_points(&dense);
    let null = null_score_of(&sorted, &STD);
    assert!(null > null_score(windows, &STD), "{null}");
    assert!(norm(&dense, &STD).abs() < 1e-9);
}

#[test]
fn perfect_counts_every_labelled_window() {
    // NAB's tpCount counts the label file's windows, including ones that
    // fall entirely in the probationary period.
    let mut files = corpus();
    files[1].windows.insert(0, (10, 20)); // inside the 150-row probation
    for f in &mut files {
        for &(a, _) in &f.windows.clone() {
            f.scores[a] = 1.0;
        }
    }
    let s = &evaluate(&files)[0];
    let (sorted, scorable) = corpus_points(&files);
    let raw = optimise_threshold(&sorted, &STD).1;
    let want = normalise(raw, null_score(scorable, &STD), 4.0);
    assert!((s.score - want).abs() < 1e-9);
    assert!(
        s.score < 100.0,
        "a window nobody can score still counts: {}",
        s.score
    );
}
