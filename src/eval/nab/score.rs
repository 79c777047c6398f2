//! NAB's scoring, pure: sweep points, threshold optimisation, normalisation.
//!
//! Follows NAB v1.1 (`nab/sweeper.py`, `nab/optimizer.py`, `nab/runner.py`):
//!
//! * the first `min(floor(0.15 * rows), 750)` rows of each file (the
//!   probationary period) are not scored;
//! * a row inside a labelled window is worth `A_TP * S(-(right - i + 1) / width)
//!   / S(-1)` where `S(x) = 2 / (1 + exp(5x)) - 1` (the scaled sigmoid), and only
//!   the best (= earliest) detection of each window counts; a window without
//!   detection costs `-A_FN`;
//! * a row outside every window costs `A_FP * S(|prev_right - i| / (prev_width - 1))`
//!   relative to the preceding window, or `-A_FP` when no window precedes it;
//! * one threshold per profile (detection = `score >= threshold`) is chosen to
//!   maximise the summed raw score over the whole corpus, by an exact sweep over
//!   every distinct score (`calcScoreByThreshold`); ties keep the higher one;
//! * the raw score is normalised as `100 * (raw - null) / (perfect - null)`:
//!   `null` is the score of NAB's null detector (a constant 0.5, optimised like
//!   any other), `perfect` is `A_TP` per labelled window.

use std::collections::HashMap;

/// A NAB application profile: the weights of true positives, false positives
/// and false negatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NabProfile {
    /// Profile name as NAB spells it (`standard`, `reward_low_FP_rate`, ...).
    pub name: &'static str,
    /// `A_TP`: reward for a detection at the very start of a window.
    pub tp: f64,
    /// `A_FP`: cost of a detection far from any window.
    pub fp: f64,
    /// `A_FN`: cost of a window without detection.
    pub fn_: f64,
}

/// The three published NAB profiles: standard, reward_low_FP_rate, reward_low_FN_rate.
pub const PROFILES: [NabProfile; 3] = [
    NabProfile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    NabProfile {
        name: "reward_low_FP_rate",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    NabProfile {
        name: "reward_low_FN_rate",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// NAB's probationary fraction of each file.
pub const PROBATION_PERCENT: f64 = 0.15;

/// One labelled series after scoring: its anomaly scores and its windows as
/// inclusive row-index ranges `(first, last)`, sorted and non-overlapping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoredFile {
    /// Anomaly score of each row, in row order.
    pub scores: Vec<f64>,
    /// Labelled windows as inclusive row ranges.
    pub windows: Vec<(usize, usize)>,
}

/// One scorable row (outside the probationary period) prepared for the sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    /// The detector's anomaly score for the row.
    pub score: f64,
    /// Profile-independent weight: inside a window, `S(pos) / S(-1)` (to be
    /// multiplied by `A_TP`); outside, the scaled sigmoid of the distance to
    /// the preceding window or `-1` (to be multiplied by `A_FP`).
    pub unweighted: f64,
    /// Corpus-wide window id when the row is inside a window.
    pub window: Option<usize>,
}

/// One profile's result on a set of files.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    /// The profile.
    pub profile: NabProfile,
    /// Normalised score (0 = null detector, 100 = perfect).
    pub score: f64,
    /// The detection threshold used (`score >= threshold` is a detection).
    pub threshold: f64,
    /// Raw (unnormalised) NAB score.
    pub raw: f64,
}

/// NAB's scaled sigmoid: `2 / (1 + exp(5x)) - 1`, and `-1` beyond `x > 3`.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// Rows of the probationary period: `min(floor(0.15 * rows), 750)`.
pub fn probationary_length(rows: usize) -> usize {
    probationary_length_with(rows, PROBATION_PERCENT)
}

/// Rows of the probationary period for another fraction: `min(floor(p * rows), p * 5000)`.
pub fn probationary_length_with(rows: usize, percent: f64) -> usize {
    let p = (percent * rows as f64).floor();
    p.min(percent * 5000.0) as usize
}

/// Turns one file into sweep points (probationary rows dropped), numbering its
/// windows from `first_window_id`. Follows NAB's `Sweeper.calcSweepScore`.
pub fn sweep_points(file: &ScoredFile, first_window_id: usize) -> Vec<SweepPoint> {
    sweep_points_with(file, first_window_id, PROBATION_PERCENT)
}

/// [`sweep_points`] with another probationary fraction (NAB's own tests use 0).
pub fn sweep_points_with(
    file: &ScoredFile,
    first_window_id: usize,
    probation_percent: f64,
) -> Vec<SweepPoint> {
    let n = file.scores.len();
    let probation = probationary_length_with(n, probation_percent);
    let max_tp = scaled_sigmoid(-1.0);
    let mut out = Vec::with_capacity(n.saturating_sub(probation));
    let mut next = 0usize; // next window not yet entered
    let mut prev: Option<(usize, usize)> = None; // (right index, width)
    for (i, &score) in file.scores.iter().enumerate() {
        while next < file.windows.len() && file.windows[next].1 < i {
            prev = Some((
                file.windows[next].1,
                file.windows[next].1 - file.windows[next].0 + 1,
            ));
            next += 1;
        }
        let current = file
            .windows
            .get(next)
            .filter(|w| w.0 <= i && i <= w.1)
            .copied();
        let (unweighted, window) = match current {
            Some((left, right)) => {
                let width = (right - left + 1) as f64;
                let pos = -((right - i + 1) as f64) / width;
                (scaled_sigmoid(pos) / max_tp, Some(first_window_id + next))
            }
            None => match prev {
                None => (-1.0, None),
                Some((right, width)) => {
                    let dist = (i - right) as f64 / (width as f64 - 1.0);
                    (scaled_sigmoid(dist), None)
                }
            },
        };
        if i >= probation {
            out.push(SweepPoint {
                score,
                unweighted,
                window,
            });
        }
    }
    out
}

fn profile_weight(p: &SweepPoint, profile: &NabProfile) -> f64 {
    if p.window.is_some() {
        p.unweighted * profile.tp
    } else {
        p.unweighted * profile.fp
    }
}

/// Raw NAB score of a set of files for one profile when detections are the
/// rows with `score >= threshold`.
pub fn score_at_threshold(files: &[ScoredFile], profile: &NabProfile, threshold: f64) -> f64 {
    files
        .iter()
        .map(|f| points_score_at(&sweep_points(f, 0), profile, threshold))
        .sum()
}

/// Raw score of sweep points (any order) at `threshold`: NAB's
/// `Sweeper.scoreDataSet` for one file, or a corpus when the window ids are
/// corpus-wide.
pub fn points_score_at(points: &[SweepPoint], profile: &NabProfile, threshold: f64) -> f64 {
    let mut best: HashMap<usize, f64> = HashMap::new();
    for p in points {
        if let Some(w) = p.window {
            best.entry(w).or_insert(-profile.fn_);
        }
    }
    let mut total = 0.0;
    for p in points.iter().filter(|p| p.score >= threshold) {
        let w = profile_weight(p, profile);
        match p.window {
            Some(id) => {
                let b = best.get_mut(&id).expect("window registered");
                *b = b.max(w);
            }
            None => total += w,
        }
    }
    total + best.values().sum::<f64>()
}

/// Sweep points of a whole corpus, sorted by descending score (profile
/// independent, so it can be shared by all profiles), and the number of
/// windows that own at least one scorable row.
pub fn corpus_points(files: &[ScoredFile]) -> (Vec<SweepPoint>, usize) {
    let mut all = Vec::new();
    let mut base = 0;
    for f in files {
        all.extend(sweep_points(f, base));
        base += f.windows.len();
    }
    sort_points(&mut all);
    let windows = scorable_windows(&all);
    (all, windows)
}

/// Sorts sweep points by descending score, as NAB's `_prepAnomalyListForScoring`.
pub fn sort_points(points: &mut [SweepPoint]) {
    points.sort_by(|a, b| b.score.total_cmp(&a.score));
}

/// Number of distinct windows among the points.
pub fn scorable_windows(points: &[SweepPoint]) -> usize {
    let mut ids: Vec<usize> = points.iter().filter_map(|p| p.window).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

/// Every `(threshold, raw score)` pair NAB's `calcScoreByThreshold` lists for
/// sorted sweep points: 1.1 first (nothing detected), then each distinct
/// score from the highest down, each with the score of `score >= threshold`.
pub fn scores_by_threshold(sorted: &[SweepPoint], profile: &NabProfile) -> Vec<(f64, f64)> {
    let n_windows = sorted
        .iter()
        .filter_map(|p| p.window)
        .max()
        .map_or(0, |m| m + 1);
    let mut best_w: Vec<Option<f64>> = vec![None; n_windows];
    let mut total = -profile.fn_ * scorable_windows(sorted) as f64;
    let mut out = vec![(1.1, total)];
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i].score;
        while i < sorted.len() && sorted[i].score == t {
            let p = &sorted[i];
            let w = profile_weight(p, profile);
            match p.window {
                Some(id) => {
                    let old = best_w[id].unwrap_or(-profile.fn_);
                    if w > old {
                        total += w - old;
                        best_w[id] = Some(w);
                    }
                }
                None => total += w,
            }
            i += 1;
        }
        out.push((t, total));
    }
    out
}

/// Exact threshold optimisation over sorted sweep points (see
/// [`corpus_points`]): returns `(threshold, raw score)` maximising the raw
/// score, as NAB's `optimizeThreshold`. Ties keep the higher threshold.
pub fn optimise_threshold(sorted: &[SweepPoint], profile: &NabProfile) -> (f64, f64) {
    scores_by_threshold(sorted, profile).into_iter().fold(
        (1.1, f64::NEG_INFINITY),
        |best, (t, s)| {
            if s > best.1 {
                (t, s)
            } else {
                best
            }
        },
    )
}

/// Raw score of NAB's null detector (a constant 0.5 everywhere, its threshold
/// optimised like any detector's) on the points' rows.
pub fn null_score_of(points: &[SweepPoint], profile: &NabProfile) -> f64 {
    let constant: Vec<SweepPoint> = points
        .iter()
        .map(|p| SweepPoint { score: 0.5, ..*p })
        .collect();
    optimise_threshold(&constant, profile).1
}

/// Raw score of the null detector when nothing is detected: `-A_FN` per
/// window that has at least one scorable row (what [`null_score_of`] comes
/// to on any real corpus, where firing everywhere costs far more).
pub fn null_score(scored_windows: usize, profile: &NabProfile) -> f64 {
    -profile.fn_ * scored_windows as f64
}

/// Raw score of the perfect detector, as NAB: `A_TP` per labelled window.
pub fn perfect_score(windows: usize, profile: &NabProfile) -> f64 {
    profile.tp * windows as f64
}

/// NAB normalisation `100 * (raw - null) / (perfect - null)`; 0 when the
/// files hold no window (nothing to normalise by).
pub fn normalise(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect == null {
        0.0
    } else {
        100.0 * (raw - null) / (perfect - null)
    }
}

/// Every profile's result on a set of files, each with its own optimal
/// threshold; `label_windows` is the number of labelled windows of those
/// files (NAB's `tpCount`, windows without rows included).
pub fn evaluate_labelled(files: &[ScoredFile], label_windows: usize) -> Vec<ProfileScore> {
    let (sorted, _) = corpus_points(files);
    PROFILES
        .iter()
        .map(|p| {
            let (threshold, raw) = optimise_threshold(&sorted, p);
            let score = normalise(
                raw,
                null_score_of(&sorted, p),
                perfect_score(label_windows, p),
            );
            ProfileScore {
                profile: *p,
                score,
                threshold,
                raw,
            }
        })
        .collect()
}

/// [`evaluate_labelled`] when every labelled window maps onto rows.
pub fn evaluate(files: &[ScoredFile]) -> Vec<ProfileScore> {
    let windows = files.iter().map(|f| f.windows.len()).sum();
    evaluate_labelled(files, windows)
}

/// Normalised score of `files` for `profile` at a threshold chosen elsewhere
/// (a held-out category scored with the threshold tuned on the others), and
/// its raw score.
pub fn score_held_out(
    files: &[ScoredFile],
    label_windows: usize,
    profile: &NabProfile,
    threshold: f64,
) -> (f64, f64) {
    let (sorted, _) = corpus_points(files);
    let raw = points_score_at(&sorted, profile, threshold);
    let norm = normalise(
        raw,
        null_score_of(&sorted, profile),
        perfect_score(label_windows, profile),
    );
    (norm, raw)
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
