//! Time to exhaustion of a growing resource (memory, disk, ...).
//!
//! Given a window of samples `(t_ms, value)` and a limit, [`time_to_exhaustion`]
//! keeps only the segment since the last reset (a drop of more than
//! [`TrendConfig::reset_drop`] of the level between two samples: a restart,
//! an OOM kill, a deploy), so a restart loop's sawtooth still gets the ETA of
//! its current climb, then fits a robust line (Theil–Sen: median of pairwise slopes, on an evenly
//! spaced subsample of at most [`TrendConfig::max_points`] points) and projects
//! when the line reaches the limit. It answers `None` unless the growth is
//! real:
//!
//! * fewer than [`TrendConfig::min_samples`] finite samples, or less than
//!   [`TrendConfig::min_span_ms`] of data since the last reset;
//! * slope not positive;
//! * poor fit: the line explains less than [`TrendConfig::min_r2`] of the
//!   variance (a garbage-collector sawtooth or a flat noisy line);
//! * growth over the window smaller than [`TrendConfig::min_rise`] times the
//!   residual spread (a tiny drift inside the noise).
//!
//! Absent samples (NaN / ±∞ values) are skipped. Pure computation: no I/O, no
//! clock; "now" is the last sample's time.

/// Tuning of the trend fit.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendConfig {
    /// Minimum number of finite samples.
    pub min_samples: usize,
    /// Subsample size bound for the O(m²) Theil–Sen fit.
    pub max_points: usize,
    /// Minimum coefficient of determination of the fitted line.
    pub min_r2: f64,
    /// Minimum rise over the window, in residual standard deviations.
    pub min_rise: f64,
    /// Minimum time covered by the segment since the last reset (ms): a
    /// young segment (a GC cycle, the first minutes after a restart) is
    /// too short to project from.
    pub min_span_ms: i64,
    /// A fall by more than this fraction of the previous sample is a reset.
    pub reset_drop: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        Self {
            min_samples: 8,
            max_points: 64,
            min_r2: 0.6,
            min_rise: 3.0,
            min_span_ms: 10 * 60_000,
            reset_drop: 0.25,
        }
    }
}

/// A robust straight-line fit `value = intercept + slope * (t_ms - t_ref_ms)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    /// Growth per millisecond.
    pub slope_per_ms: f64,
    /// Fitted value at `t_ref_ms`.
    pub intercept: f64,
    /// Reference time: the last finite sample's time.
    pub t_ref_ms: i64,
    /// Coefficient of determination of the line on the subsample (may be negative).
    pub r2: f64,
    /// Standard deviation of the residuals on the subsample.
    pub resid_sd: f64,
    /// Time span of the finite samples, in milliseconds.
    pub span_ms: f64,
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let m = *m;
    if n % 2 == 1 {
        m
    } else {
        let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + m) / 2.0
    }
}

/// Theil–Sen fit on the finite samples (evenly subsampled to `cfg.max_points`);
/// `None` with fewer than `cfg.min_samples` finite samples or a zero time span.
pub fn fit_line(samples: &[(i64, f64)], cfg: &TrendConfig) -> Option<LineFit> {
    let finite: Vec<(i64, f64)> = samples
        .iter()
        .copied()
        .filter(|s| s.1.is_finite())
        .collect();
    if finite.len() < cfg.min_samples.max(2) {
        return None;
    }
    let t_first = finite.iter().map(|s| s.0).min()?;
    let t_ref = finite.iter().map(|s| s.0).max()?;
    let span_ms = (t_ref - t_first) as f64;
    if span_ms <= 0.0 {
        return None;
    }
    let m = cfg.max_points.max(2).min(finite.len());
    let pts: Vec<(f64, f64)> = (0..m)
        .map(|k| {
            let i = k * (finite.len() - 1) / (m - 1);
            ((finite[i].0 - t_ref) as f64, finite[i].1)
        })
        .collect();
    let mut slopes = Vec::with_capacity(m * (m - 1) / 2);
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = median(&mut slopes);
    let mut offsets: Vec<f64> = pts.iter().map(|p| p.1 - slope * p.0).collect();
    let intercept = median(&mut offsets);
    let mean = pts.iter().map(|p| p.1).sum::<f64>() / m as f64;
    let ss_tot: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let ss_res: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        0.0
    };
    Some(LineFit {
        slope_per_ms: slope,
        intercept,
        t_ref_ms: t_ref,
        r2,
        resid_sd: (ss_res / m as f64).sqrt(),
        span_ms,
    })
}

/// The samples after the last reset: the last fall between two finite
/// samples by more than `drop` of the earlier one (a restart, OOM, deploy).
pub fn since_last_reset(samples: &[(i64, f64)], drop: f64) -> &[(i64, f64)] {
    let mut prev: Option<f64> = None;
    let mut start = 0;
    for (i, &(_, v)) in samples.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        if let Some(p) = prev {
            if p > 0.0 && v < p * (1.0 - drop) {
                start = i;
            }
        }
        prev = Some(v);
    }
    &samples[start..]
}

/// Seconds from the last sample until the robust trend reaches `limit`, with
/// the default [`TrendConfig`]; `Some(0.0)` when the fitted level is already
/// at or above the limit; `None` when not meaningfully rising (see the module
/// documentation).
pub fn time_to_exhaustion(samples: &[(i64, f64)], limit: f64) -> Option<f64> {
    time_to_exhaustion_with(samples, limit, &TrendConfig::default())
}

/// [`time_to_exhaustion`] with an explicit configuration.
pub fn time_to_exhaustion_with(
    samples: &[(i64, f64)],
    limit: f64,
    cfg: &TrendConfig,
) -> Option<f64> {
    if !crate::model::is_limit(limit) {
        return None;
    }
    let segment = since_last_reset(samples, cfg.reset_drop);
    let fit = fit_line(segment, cfg)?;
    if fit.span_ms < cfg.min_span_ms as f64 {
        return None;
    }
    if fit.slope_per_ms <= 0.0 || fit.r2 < cfg.min_r2 {
        return None;
    }
    if fit.slope_per_ms * fit.span_ms < cfg.min_rise * fit.resid_sd {
        return None;
    }
    let remaining = limit - fit.intercept;
    if remaining <= 0.0 {
        return Some(0.0);
    }
    Some(remaining / fit.slope_per_ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(i: usize) -> f64 {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        (x as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
    }

    const STEP_MS: i64 = 15_000;

    #[test]
    fn linear_leak_eta_within_five_percent() {
        // 1 MB/min leak from 500 MB with ±5 MB noise, 2 h window, limit 2000 MB.
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| {
                let t = i as i64 * STEP_MS;
                (t, 500.0 + t as f64 / 60_000.0 + 5.0 * noise(i))
            })
            .collect();
        let now_level = 500.0 + 479.0 * STEP_MS as f64 / 60_000.0;
        let expected = (2000.0 - now_level) * 60.0;
        let eta = time_to_exhaustion(&samples, 2000.0).expect("leak detected");
        assert!(
            (eta - expected).abs() / expected < 0.05,
            "{eta} vs {expected}"
        );
    }

    #[test]
    fn gc_sawtooth_gives_none() {
        // Rises 40 MB over 5 min, drops back, for 2 h: no net growth.
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| (i as i64 * STEP_MS, 300.0 + 2.0 * (i % 20) as f64 + noise(i)))
            .collect();
        assert_eq!(time_to_exhaustion(&samples, 1000.0), None);
    }

    #[test]
    fn flat_noisy_line_gives_none() {
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| (i as i64 * STEP_MS, 70.0 + 3.0 * noise(i)))
            .collect();
        assert_eq!(time_to_exhaustion(&samples, 100.0), None);
        let flat: Vec<(i64, f64)> = (0..100).map(|i| (i * STEP_MS, 5.0)).collect();
        assert_eq!(time_to_exhaustion(&flat, 100.0), None);
    }

    #[test]
    fn absent_samples_are_skipped() {
        let clean: Vec<(i64, f64)> = (0..200)
            .map(|i| (i as i64 * STEP_MS, 10.0 + 0.5 * i as f64))
            .collect();
        let mut holey = clean.clone();
        for (i, s) in holey.iter_mut().enumerate() {
            if i % 3 == 1 {
                s.1 = f64::NAN;
            }
        }
        holey.push((200 * STEP_MS, f64::INFINITY));
        let a = time_to_exhaustion(&clean, 500.0).unwrap();
        let b = time_to_exhaustion(&holey, 500.0).unwrap();
        // Same line; "now" is the last finite sample in both.
        assert!((a - b).abs() / a < 0.01, "{a} vs {b}");
    }

    #[test]
    fn too_few_samples_or_already_full() {
        let few: Vec<(i64, f64)> = (0..5).map(|i| (i * STEP_MS, i as f64)).collect();
        assert_eq!(time_to_exhaustion(&few, 100.0), None);
        let over: Vec<(i64, f64)> = (0..50).map(|i| (i * STEP_MS, 90.0 + i as f64)).collect();
        assert_eq!(time_to_exhaustion(&over, 100.0), Some(0.0));
        assert_eq!(time_to_exhaustion(&[], 1.0), None);
    }

    /// A leak that is OOM-killed at the limit and restarts, several times.
    /// Returns the samples up to `until_ms` and when the current climb hits.
    fn oom_loop(until_ms: i64) -> (Vec<(i64, f64)>, i64) {
        // 200 MB → 1000 MB at 20 MB/min: 40 min per cycle, then a restart.
        let (base, limit, per_ms) = (200.0, 1000.0, 20.0 / 60_000.0);
        let cycle = ((limit - base) / per_ms) as i64;
        let samples = (0..=until_ms / STEP_MS)
            .map(|i| {
                let t = i * STEP_MS;
                (
                    t,
                    base + (t % cycle) as f64 * per_ms + 4.0 * noise(i as usize),
                )
            })
            .collect();
        (samples, (until_ms / cycle + 1) * cycle)
    }

    #[test]
    fn eta_survives_oom_restarts_within_two_minutes() {
        let cycle = 40 * 60_000;
        for (k, minutes_in) in [(1, 12), (2, 20), (3, 30), (4, 38)] {
            let now = k * cycle + minutes_in * 60_000;
            let (samples, hit) = oom_loop(now);
            let eta = time_to_exhaustion(&samples, 1000.0)
                .unwrap_or_else(|| panic!("no ETA {minutes_in} min into restart {k}"));
            let real = (hit - now) as f64 / 1000.0;
            assert!(
                (eta - real).abs() <= 120.0,
                "restart {k}, {minutes_in} min in: eta {eta:.0}s vs real {real:.0}s"
            );
        }
    }

    #[test]
    fn a_fresh_segment_is_too_young_to_speak() {
        let cycle = 40 * 60_000;
        let (samples, _) = oom_loop(2 * cycle + 5 * 60_000);
        assert_eq!(time_to_exhaustion(&samples, 1000.0), None);
        assert_eq!(since_last_reset(&samples, 0.25).len(), 21);
    }

    #[test]
    fn a_deep_gc_sawtooth_is_no_leak() {
        // The heap falls by 40% every 5 minutes: resets too young to speak.
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| {
                (
                    i as i64 * STEP_MS,
                    600.0 + 20.0 * (i % 20) as f64 + noise(i),
                )
            })
            .collect();
        assert_eq!(time_to_exhaustion(&samples, 1100.0), None);
    }

    #[test]
    fn no_limit_gives_no_eta() {
        let (samples, _) = oom_loop(30 * 60_000);
        for limit in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert_eq!(time_to_exhaustion(&samples, limit), None, "{limit}");
        }
    }
}
