//! Numenta Anomaly Benchmark (NAB) evaluation of medic's streaming anomaly score.
//!
//! [`run`] streams every `NAB_DIR/data/<category>/<name>.csv` through a fresh
//! [`AnomalyScorer`], writes `OUT/<category>/medic_<name>.csv`
//! (`timestamp,value,anomaly_score`) and scores the whole corpus the way NAB's
//! `sweeper.py` does:
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
//!   every distinct score (NAB's `calcScoreByThreshold`);
//! * the raw score is normalised as `100 * (raw - null) / (perfect - null)`,
//!   `null` being the detector that never fires and `perfect` the one that
//!   detects every window at its first row (`A_TP` per window).
//!
//! The pure pieces ([`sweep_points`], [`score_at_threshold`],
//! [`optimise_threshold`], [`null_score`], [`perfect_score`], [`normalise`]) are
//! public so they can be tested and reused without any file I/O.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::detect::anomaly::{AnomalyConfig, AnomalyScorer};

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

/// Result of a corpus evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct NabReport {
    /// Per profile: (profile name, normalised score, optimal threshold).
    pub scores: Vec<(String, f64, f64)>,
    /// Number of labelled files scored.
    pub files: usize,
    /// Number of rows streamed through the scorer.
    pub points: usize,
}

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
    let p = (PROBATION_PERCENT * rows as f64).floor() as usize;
    p.min((PROBATION_PERCENT * 5000.0) as usize)
}

/// Turns one file into sweep points (probationary rows dropped), numbering its
/// windows from `first_window_id`. Follows NAB's `Sweeper.calcSweepScore`.
pub fn sweep_points(file: &ScoredFile, first_window_id: usize) -> Vec<SweepPoint> {
    let n = file.scores.len();
    let probation = probationary_length(n);
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
    let mut total = 0.0;
    for file in files {
        let points = sweep_points(file, 0);
        let mut best: HashMap<usize, f64> = HashMap::new();
        for p in &points {
            if let Some(w) = p.window {
                best.entry(w).or_insert(-profile.fn_);
            }
        }
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
        total += best.values().sum::<f64>();
    }
    total
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
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut seen = vec![false; base];
    let mut windows = 0;
    for p in &all {
        if let Some(w) = p.window {
            if !seen[w] {
                seen[w] = true;
                windows += 1;
            }
        }
    }
    (all, windows)
}

/// Exact threshold optimisation over sorted sweep points (see
/// [`corpus_points`]): returns `(threshold, raw score)` maximising the raw
/// score, as NAB's `calcScoreByThreshold` + max. The first candidate is 1.1
/// (never fires); ties keep the higher threshold.
pub fn optimise_threshold(sorted: &[SweepPoint], profile: &NabProfile) -> (f64, f64) {
    let n_windows = sorted
        .iter()
        .filter_map(|p| p.window)
        .max()
        .map_or(0, |m| m + 1);
    let mut best_w: Vec<Option<f64>> = vec![None; n_windows];
    let mut scored_windows = vec![false; n_windows];
    for p in sorted {
        if let Some(w) = p.window {
            scored_windows[w] = true;
        }
    }
    let mut total = -profile.fn_ * scored_windows.iter().filter(|&&s| s).count() as f64;
    let mut best = (1.1, total);
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
        if total > best.1 {
            best = (t, total);
        }
    }
    best
}

/// Raw score of the null detector (never fires): `-A_FN` per window that has
/// at least one scorable row.
pub fn null_score(scored_windows: usize, profile: &NabProfile) -> f64 {
    -profile.fn_ * scored_windows as f64
}

/// Raw score of the perfect detector, as NAB: `A_TP` per labelled window.
pub fn perfect_score(windows: usize, profile: &NabProfile) -> f64 {
    profile.tp * windows as f64
}

/// NAB normalisation `100 * (raw - null) / (perfect - null)`.
pub fn normalise(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect == null {
        0.0
    } else {
        100.0 * (raw - null) / (perfect - null)
    }
}

/// Normalised score, optimal threshold and raw score of every profile for a
/// set of scored files.
pub fn evaluate(files: &[ScoredFile]) -> Vec<(String, f64, f64, f64)> {
    let (sorted, scored_windows) = corpus_points(files);
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    PROFILES
        .iter()
        .map(|p| {
            let (t, raw) = optimise_threshold(&sorted, p);
            let norm = normalise(
                raw,
                null_score(scored_windows, p),
                perfect_score(windows, p),
            );
            (p.name.to_string(), norm, t, raw)
        })
        .collect()
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) into unix milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut ms = 0i64;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 {
            return None;
        }
        let frac = &s[20..];
        if !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut digits = frac.bytes().take(3).map(|c| (c - b'0') as i64);
        for scale in [100, 10, 1] {
            ms += digits.next().unwrap_or(0) * scale;
        }
    }
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One NAB data file as read from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Timestamp text of each row, as in the input.
    pub timestamp_text: Vec<String>,
    /// Timestamp of each row in unix milliseconds.
    pub timestamps: Vec<i64>,
    /// Value text of each row, as in the input.
    pub value_text: Vec<String>,
    /// Parsed value of each row (NaN when empty).
    pub values: Vec<f64>,
}

/// Reads a `timestamp,value` CSV with a header line.
pub fn read_series(path: &Path) -> Result<Series, NabError> {
    let text = fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut series = Series::default();
    let csv_err = |line: usize, message: String| NabError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim().starts_with("timestamp") => {}
        _ => return Err(csv_err(1, "expected header `timestamp,value`".into())),
    }
    for (idx, line) in lines {
        let line_no = idx + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (ts, val) = line
            .split_once(',')
            .ok_or_else(|| csv_err(line_no, format!("expected `timestamp,value`, got {line:?}")))?;
        let t =
            parse_timestamp(ts).ok_or_else(|| csv_err(line_no, format!("bad timestamp {ts:?}")))?;
        let v_trim = val.trim();
        let v = if v_trim.is_empty() {
            f64::NAN
        } else {
            v_trim
                .parse::<f64>()
                .map_err(|_| csv_err(line_no, format!("bad value {val:?}")))?
        };
        series.timestamp_text.push(ts.to_string());
        series.timestamps.push(t);
        series.value_text.push(val.to_string());
        series.values.push(v);
    }
    Ok(series)
}

/// Reads `labels/combined_windows.json` into `"<category>/<name>.csv"` →
/// list of `(start_ms, end_ms)`.
pub fn read_labels(path: &Path) -> Result<HashMap<String, Vec<(i64, i64)>>, NabError> {
    let err = |message: String| NabError::Labels {
        path: path.to_path_buf(),
        message,
    };
    let text = fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let obj = json
        .as_object()
        .ok_or_else(|| err("expected a JSON object".into()))?;
    let mut out = HashMap::new();
    for (key, windows) in obj {
        let list = windows
            .as_array()
            .ok_or_else(|| err(format!("{key}: expected a list of windows")))?;
        let mut parsed = Vec::with_capacity(list.len());
        for w in list {
            let pair = w
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| err(format!("{key}: expected [start, end]")))?;
            let mut ends = [0i64; 2];
            for (slot, v) in ends.iter_mut().zip(pair) {
                let s = v
                    .as_str()
                    .ok_or_else(|| err(format!("{key}: window bound is not a string")))?;
                *slot = parse_timestamp(s)
                    .ok_or_else(|| err(format!("{key}: bad window timestamp {s:?}")))?;
            }
            parsed.push((ends[0], ends[1]));
        }
        parsed.sort_unstable();
        out.insert(key.clone(), parsed);
    }
    Ok(out)
}

/// Maps time windows onto inclusive row ranges (rows with `start <= t <= end`);
/// windows containing no row are dropped.
pub fn windows_to_rows(timestamps: &[i64], windows: &[(i64, i64)]) -> Vec<(usize, usize)> {
    windows
        .iter()
        .filter_map(|&(a, b)| {
            let first = timestamps.partition_point(|&t| t < a);
            let end = timestamps.partition_point(|&t| t <= b);
            (end > first).then(|| (first, end - 1))
        })
        .collect()
}

/// Streams values through a fresh scorer with the default configuration.
pub fn score_series(values: &[f64]) -> Vec<f64> {
    score_series_with(values, &AnomalyConfig::default())
}

/// Streams values through a fresh scorer configured by `cfg`.
pub fn score_series_with(values: &[f64], cfg: &AnomalyConfig) -> Vec<f64> {
    let mut scorer = AnomalyScorer::new(cfg.clone());
    values.iter().map(|&v| scorer.score(v)).collect()
}

fn list_dir(path: &Path) -> Result<Vec<PathBuf>, NabError> {
    let io = |source| NabError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for e in fs::read_dir(path).map_err(io)? {
        entries.push(e.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

/// Runs the whole evaluation: scores every labelled CSV of
/// `nab_dir/data/<category>/`, writes `out_dir/<category>/medic_<name>.csv`,
/// optimises one threshold per profile and returns the normalised scores.
/// Files without an entry in `labels/combined_windows.json` are skipped, as NAB does.
pub fn run(nab_dir: &Path, out_dir: &Path) -> Result<NabReport, NabError> {
    run_with(nab_dir, out_dir, &AnomalyConfig::default())
}

/// [`run`] with another scorer configuration (ablations, tuning).
pub fn run_with(
    nab_dir: &Path,
    out_dir: &Path,
    cfg: &AnomalyConfig,
) -> Result<NabReport, NabError> {
    let labels = read_labels(&nab_dir.join("labels").join("combined_windows.json"))?;
    let mut files = Vec::new();
    let mut points = 0;
    for category in list_dir(&nab_dir.join("data"))? {
        if !category.is_dir() {
            continue;
        }
        let cat_name = category
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for csv in list_dir(&category)? {
            let name = match csv.file_name().map(|s| s.to_string_lossy().into_owned()) {
                Some(n) if n.ends_with(".csv") => n,
                _ => continue,
            };
            let Some(windows) = labels.get(&format!("{cat_name}/{name}")) else {
                continue;
            };
            let series = read_series(&csv)?;
            let scores = score_series_with(&series.values, cfg);
            points += scores.len();
            let out_cat = out_dir.join(&cat_name);
            fs::create_dir_all(&out_cat).map_err(|source| NabError::Io {
                path: out_cat.clone(),
                source,
            })?;
            let mut text = String::with_capacity(scores.len() * 40);
            text.push_str("timestamp,value,anomaly_score\n");
            for ((ts, val), score) in series
                .timestamp_text
                .iter()
                .zip(&series.value_text)
                .zip(&scores)
            {
                let _ = writeln!(text, "{ts},{val},{score}");
            }
            let out_path = out_cat.join(format!("medic_{name}"));
            fs::write(&out_path, text).map_err(|source| NabError::Io {
                path: out_path.clone(),
                source,
            })?;
            files.push(ScoredFile {
                windows: windows_to_rows(&series.timestamps, windows),
                scores,
            });
        }
    }
    let scores = evaluate(&files)
        .into_iter()
        .map(|(name, norm, t, _)| (name, norm, t))
        .collect();
    Ok(NabReport {
        scores,
        files: files.len(),
        points,
    })
}

#[cfg(test)]
mod tests {
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
            .find(|r| r.0 == p.name)
            .map(|r| r.1)
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

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            Some(1_397_114_100_000)
        );
        assert_eq!(
            parse_timestamp("2000-03-01 00:00:01.5"),
            Some(951_868_801_500)
        );
        assert_eq!(parse_timestamp("2014-04-10 07:15"), None);
        assert_eq!(parse_timestamp("2014-13-10 07:15:00"), None);
    }
}
