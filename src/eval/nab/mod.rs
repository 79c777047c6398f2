//! Numenta Anomaly Benchmark (NAB) evaluation of medic's streaming anomaly score.
//!
//! [`run`] streams every `NAB_DIR/data/<category>/<name>.csv` through a fresh
//! [`AnomalyScorer`], writes `OUT/<category>/medic_<name>.csv`
//! (`timestamp,value,anomaly_score`) and scores the corpus the way NAB does
//! (see [`score`]: probationary period, scaled-sigmoid window weights, one
//! optimised threshold per profile, normalisation between NAB's null detector
//! and the perfect one). [`cv`] chooses the scorer's parameters by
//! leave-one-category-out cross-validation, so the score it reports for a
//! category was never tuned on that category.

pub mod cv;
mod io;
pub mod score;

pub use io::{parse_timestamp, read_labels, read_series, windows_to_rows, Series};
pub use score::{
    corpus_points, evaluate, evaluate_labelled, normalise, null_score, null_score_of,
    optimise_threshold, perfect_score, points_score_at, probationary_length, scaled_sigmoid,
    score_at_threshold, score_held_out, scores_by_threshold, sweep_points, NabProfile,
    ProfileScore, ScoredFile, SweepPoint, PROBATION_PERCENT, PROFILES,
};

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::detect::anomaly::{AnomalyConfig, AnomalyScorer};

/// Errors of the NAB evaluation; each one names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// Reading or writing a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A CSV row could not be parsed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// CSV file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The label file is malformed.
    #[error("{path}: {message}")]
    Labels {
        /// Label file concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// One labelled NAB file as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledFile {
    /// Its category (the directory under `data/`).
    pub category: String,
    /// Its file name, e.g. `art_noisy.csv`.
    pub name: String,
    /// Its rows.
    pub series: Series,
    /// Its labelled windows as inclusive row ranges (windows without rows dropped).
    pub windows: Vec<(usize, usize)>,
    /// Number of windows the label file gives it (NAB's `tpCount` share).
    pub label_windows: usize,
}

/// The labelled files of a NAB directory, in path order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    /// Every data file that has an entry in the label file.
    pub files: Vec<LabelledFile>,
}

impl Corpus {
    /// Reads `nab_dir/data/<category>/*.csv` and `nab_dir/labels/combined_windows.json`.
    /// Files without an entry in the label file are skipped, as NAB does.
    pub fn load(nab_dir: &Path) -> Result<Corpus, NabError> {
        let labels = read_labels(&nab_dir.join("labels").join("combined_windows.json"))?;
        let mut files = Vec::new();
        for category in io::list_dir(&nab_dir.join("data"))? {
            if !category.is_dir() {
                continue;
            }
            let cat_name = category
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for csv in io::list_dir(&category)? {
                let name = match csv.file_name().map(|s| s.to_string_lossy().into_owned()) {
                    Some(n) if n.ends_with(".csv") => n,
                    _ => continue,
                };
                let Some(windows) = labels.get(&format!("{cat_name}/{name}")) else {
                    continue;
                };
                let series = read_series(&csv)?;
                files.push(LabelledFile {
                    category: cat_name.clone(),
                    name,
                    windows: windows_to_rows(&series.timestamps, windows),
                    label_windows: windows.len(),
                    series,
                });
            }
        }
        Ok(Corpus { files })
    }

    /// The categories, sorted, each once.
    pub fn categories(&self) -> Vec<String> {
        let mut c: Vec<String> = self.files.iter().map(|f| f.category.clone()).collect();
        c.dedup();
        c.sort();
        c.dedup();
        c
    }

    /// Streams every file through a fresh scorer configured by `cfg`.
    pub fn score(&self, cfg: &AnomalyConfig) -> Vec<ScoredFile> {
        self.files
            .iter()
            .map(|f| ScoredFile {
                scores: score_series_with(&f.series.timestamps, &f.series.values, cfg),
                windows: f.windows.clone(),
            })
            .collect()
    }

    /// Rows in the corpus.
    pub fn points(&self) -> usize {
        self.files.iter().map(|f| f.series.values.len()).sum()
    }
}

/// One category's share of an all-in evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryScore {
    /// The category.
    pub category: String,
    /// Its labelled windows.
    pub windows: usize,
    /// Its normalised standard-profile score at the corpus-wide threshold
    /// (0 when it has no window: see `raw`).
    pub score: f64,
    /// Its raw standard-profile score (for a category without windows, the
    /// false positives' cost: 0 is best).
    pub raw: f64,
}

/// Result of a corpus evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct NabReport {
    /// Per profile: normalised score and optimal threshold.
    pub profiles: Vec<ProfileScore>,
    /// Per category, at the standard profile's corpus-wide threshold.
    pub categories: Vec<CategoryScore>,
    /// Number of labelled files scored.
    pub files: usize,
    /// Number of rows streamed through the scorer.
    pub points: usize,
}

/// Scores a corpus already streamed through the scorer (`scored[i]` belongs
/// to `corpus.files[i]`).
pub fn report(corpus: &Corpus, scored: &[ScoredFile]) -> NabReport {
    let label_windows = corpus.files.iter().map(|f| f.label_windows).sum();
    let profiles = evaluate_labelled(scored, label_windows);
    let threshold = profiles[0].threshold;
    let categories = corpus
        .categories()
        .into_iter()
        .map(|category| {
            let (files, windows) = subset(corpus, scored, |c| c == category);
            let (score, raw) = score_held_out(&files, windows, &PROFILES[0], threshold);
            CategoryScore {
                category,
                windows,
                score,
                raw,
            }
        })
        .collect();
    NabReport {
        profiles,
        categories,
        files: corpus.files.len(),
        points: corpus.points(),
    }
}

/// The scored files whose category passes `keep`, and their labelled windows.
pub fn subset(
    corpus: &Corpus,
    scored: &[ScoredFile],
    keep: impl Fn(&str) -> bool,
) -> (Vec<ScoredFile>, usize) {
    let mut files = Vec::new();
    let mut windows = 0;
    for (f, s) in corpus.files.iter().zip(scored) {
        if keep(&f.category) {
            files.push(s.clone());
            windows += f.label_windows;
        }
    }
    (files, windows)
}

/// Writes `out_dir/<category>/medic_<name>.csv` (`timestamp,value,anomaly_score`).
pub fn write_scores(
    corpus: &Corpus,
    scored: &[ScoredFile],
    out_dir: &Path,
) -> Result<(), NabError> {
    for (f, s) in corpus.files.iter().zip(scored) {
        let out_cat = out_dir.join(&f.category);
        fs::create_dir_all(&out_cat).map_err(|source| NabError::Io {
            path: out_cat.clone(),
            source,
        })?;
        let mut text = String::with_capacity(s.scores.len() * 40);
        text.push_str("timestamp,value,anomaly_score\n");
        for ((ts, val), score) in f
            .series
            .timestamp_text
            .iter()
            .zip(&f.series.value_text)
            .zip(&s.scores)
        {
            let _ = writeln!(text, "{ts},{val},{score}");
        }
        let out_path = out_cat.join(format!("medic_{}", f.name));
        fs::write(&out_path, text).map_err(|source| NabError::Io {
            path: out_path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Streams a series (unix-ms timestamps, values) through a fresh scorer with
/// the default configuration.
pub fn score_series(timestamps: &[i64], values: &[f64]) -> Vec<f64> {
    score_series_with(timestamps, values, &AnomalyConfig::default())
}

/// Streams a series through a fresh scorer configured by `cfg`.
pub fn score_series_with(timestamps: &[i64], values: &[f64], cfg: &AnomalyConfig) -> Vec<f64> {
    let mut scorer = AnomalyScorer::new(cfg.clone());
    timestamps
        .iter()
        .zip(values)
        .map(|(&t, &v)| scorer.score_at(t, v))
        .collect()
}

/// Runs the whole evaluation with the default scorer: scores every labelled
/// CSV, writes the per-file scores and returns the normalised scores.
pub fn run(nab_dir: &Path, out_dir: &Path) -> Result<NabReport, NabError> {
    run_with(nab_dir, out_dir, &AnomalyConfig::default())
}

/// [`run`] with another scorer configuration (ablations, tuning).
pub fn run_with(
    nab_dir: &Path,
    out_dir: &Path,
    cfg: &AnomalyConfig,
) -> Result<NabReport, NabError> {
    let corpus = Corpus::load(nab_dir)?;
    let scored = corpus.score(cfg);
    write_scores(&corpus, &scored, out_dir)?;
    Ok(report(&corpus, &scored))
}
