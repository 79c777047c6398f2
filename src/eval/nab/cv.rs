//! Leave-one-category-out (LOCO) cross-validation of the anomaly score's
//! parameters: tune on all categories but one, score the one left out with
//! the parameters *and* the threshold chosen without it, rotate.
//!
//! The held-out scores estimate what the tuning procedure is worth on a
//! category it never saw (NAB's unshipped categories, a fleet's metrics);
//! the all-in score (tuned and scored on everything) is optimistic by
//! construction. A large gap between the two means the parameters fit the
//! files, not the problem.

use super::score::{
    normalise, null_score_of, optimise_threshold, perfect_score, points_score_at, sort_points,
    sweep_points, SweepPoint, PROFILES,
};
use super::Corpus;
use crate::detect::anomaly::AnomalyConfig;

/// One fold: the category left out and how it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// The held-out category.
    pub category: String,
    /// Its labelled windows.
    pub windows: usize,
    /// Index (into the grid) of the parameters chosen on the other categories.
    pub chosen: usize,
    /// Standard-profile score of the chosen parameters on the other categories.
    pub tuned: f64,
    /// The threshold chosen on the other categories.
    pub threshold: f64,
    /// Normalised standard-profile score on the held-out category; `None`
    /// when it has no window (then only `held_out_raw`, the false positives'
    /// cost, means anything).
    pub held_out: Option<f64>,
    /// Raw standard-profile score on the held-out category.
    pub held_out_raw: f64,
}

/// The cross-validation table.
#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    /// One fold per category, in category order.
    pub folds: Vec<Fold>,
    /// Mean of the held-out scores of the categories that have windows.
    pub mean: f64,
    /// Best standard-profile score tuned and scored on the whole corpus.
    pub all_in: f64,
    /// Index (into the grid) of the all-in choice.
    pub all_in_choice: usize,
}

/// The parameter grid searched: the default first, then its neighbourhood in
/// repeat-suppression length and margin, match radius and the seasonal
/// channel's gate (0 = off); 81 settings.
pub fn grid() -> Vec<AnomalyConfig> {
    let d = AnomalyConfig::default();
    let mut out = vec![d.clone()];
    for rest in [60, 120, 240] {
        for margin in [1.2, 1.4, 2.0] {
            for radius in [0.2, 0.3, 0.5] {
                for season_gate in [0.0, 0.1, 0.2] {
                    let c = AnomalyConfig {
                        rest,
                        margin,
                        radius,
                        season_gate,
                        ..d.clone()
                    };
                    if c != d {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// Standard-profile score of the points whose category passes `keep`, at
/// its own optimal threshold: `(normalised, threshold)`.
fn tune_score(
    points: &[(SweepPoint, usize)],
    windows: usize,
    keep: impl Fn(usize) -> bool,
) -> (f64, f64, Vec<SweepPoint>) {
    let std = &PROFILES[0];
    let kept: Vec<SweepPoint> = points
        .iter()
        .filter(|(_, c)| keep(*c))
        .map(|(p, _)| *p)
        .collect();
    let (t, raw) = optimise_threshold(&kept, std);
    let norm = normalise(raw, null_score_of(&kept, std), perfect_score(windows, std));
    (norm, t, kept)
}

/// Runs LOCO cross-validation of `grid` on `corpus` (standard profile).
/// Ties keep the earlier grid entry, so the default wins when nothing beats it.
pub fn loco(corpus: &Corpus, grid: &[AnomalyConfig]) -> CvReport {
    let std = &PROFILES[0];
    let categories = corpus.categories();
    let cat_of: Vec<usize> = corpus
        .files
        .iter()
        .map(|f| {
            categories
                .iter()
                .position(|c| *c == f.category)
                .unwrap_or(0)
        })
        .collect();
    let windows_in = |keep: &dyn Fn(usize) -> bool| -> usize {
        corpus
            .files
            .iter()
            .zip(&cat_of)
            .filter(|(_, c)| keep(**c))
            .map(|(f, _)| f.label_windows)
            .sum()
    };
    let total_windows = windows_in(&|_| true);
    // Per fold: the best setting so far.
    let mut best: Vec<Option<Fold>> = vec![None; categories.len()];
    let mut all_in = (f64::NEG_INFINITY, 0);
    for (gi, cfg) in grid.iter().enumerate() {
        let scored = corpus.score(cfg);
        let mut points: Vec<(SweepPoint, usize)> = Vec::new();
        let mut base = 0;
        for (f, c) in scored.iter().zip(&cat_of) {
            points.extend(sweep_points(f, base).into_iter().map(|p| (p, *c)));
            base += f.windows.len();
        }
        points.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        let (all, _, _) = tune_score(&points, total_windows, |_| true);
        if all > all_in.0 {
            all_in = (all, gi);
        }
        for (k, slot) in best.iter_mut().enumerate() {
            let train_windows = windows_in(&|c| c != k);
            let (tuned, t, _) = tune_score(&points, train_windows, |c| c != k);
            if slot.as_ref().is_some_and(|b| b.tuned >= tuned) {
                continue;
            }
            let mut held: Vec<SweepPoint> = points
                .iter()
                .filter(|(_, c)| *c == k)
                .map(|(p, _)| *p)
                .collect();
            sort_points(&mut held);
            let raw = points_score_at(&held, std, t);
            let windows = windows_in(&|c| c == k);
            let norm = normalise(raw, null_score_of(&held, std), perfect_score(windows, std));
            *slot = Some(Fold {
                category: categories[k].clone(),
                windows,
                chosen: gi,
                tuned,
                threshold: t,
                held_out: (windows > 0).then_some(norm),
                held_out_raw: raw,
            });
        }
    }
    let folds: Vec<Fold> = best.into_iter().flatten().collect();
    let held: Vec<f64> = folds.iter().filter_map(|f| f.held_out).collect();
    let mean = if held.is_empty() {
        0.0
    } else {
        held.iter().sum::<f64>() / held.len() as f64
    };
    CvReport {
        folds,
        mean,
        all_in: all_in.0,
        all_in_choice: all_in.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::nab::{evaluate_labelled, score_held_out, subset, LabelledFile, Series};

    /// A file of noise with one spike of `height` at `at`, labelled around it.
    fn file(category: &str, seed: u64, height: f64, at: usize) -> LabelledFile {
        let mut x = seed;
        let values: Vec<f64> = (0..1200)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((x >> 33) % 1000) as f64 / 1000.0;
                10.0 + noise + if i == at { height } else { 0.0 }
            })
            .collect();
        LabelledFile {
            category: category.into(),
            name: format!("{category}_{seed}.csv"),
            series: Series {
                timestamp_text: vec![String::new(); values.len()],
                timestamps: (0..values.len() as i64).collect(),
                value_text: vec![String::new(); values.len()],
                values,
            },
            windows: vec![(at - 30, at + 30)],
            label_windows: 1,
        }
    }

    #[test]
    fn held_out_category_is_scored_with_what_the_others_chose() {
        let corpus = Corpus {
            files: vec![
                file("a", 1, 30.0, 700),
                file("a", 2, 30.0, 800),
                file("b", 3, 30.0, 900),
                file("c", 4, 30.0, 600),
            ],
        };
        let grid = vec![
            AnomalyConfig::default(),
            AnomalyConfig {
                warmup: 5000, // never scores anything: the null detector
                ..AnomalyConfig::default()
            },
        ];
        let cv = loco(&corpus, &grid);
        assert_eq!(cv.folds.len(), 3);
        for f in &cv.folds {
            assert_eq!(f.chosen, 0, "the silent setting never wins: {f:?}");
            // Recompute the fold from the public pieces: tuned on the others...
            let scored = corpus.score(&grid[f.chosen]);
            let (train, train_windows) = subset(&corpus, &scored, |c| c != f.category);
            let tuned = &evaluate_labelled(&train, train_windows)[0];
            assert_eq!(tuned.threshold, f.threshold);
            assert!((tuned.score - f.tuned).abs() < 1e-9);
            // ...and scored on the held-out category at that threshold.
            let (held, held_windows) = subset(&corpus, &scored, |c| c == f.category);
            let (norm, raw) = score_held_out(&held, held_windows, &PROFILES[0], f.threshold);
            assert_eq!(f.held_out, Some(norm));
            assert_eq!(f.held_out_raw, raw);
        }
        assert_eq!(cv.all_in_choice, 0);
        let mean = cv.folds.iter().filter_map(|f| f.held_out).sum::<f64>() / 3.0;
        assert!((cv.mean - mean).abs() < 1e-12);
    }

    #[test]
    fn grid_starts_with_the_default_and_holds_it_once() {
        let g = grid();
        assert_eq!(g[0], AnomalyConfig::default());
        assert_eq!(g.iter().filter(|c| **c == g[0]).count(), 1);
        assert_eq!(g.len(), 81);
    }
}
