//! Streaming anomaly score in `[0, 1]` for one metric series.
//!
//! The scorer answers "how new is this value?" and reports each new episode
//! once:
//!
//! 1. **Robust scale.** A winsorised exponentially weighted level and mean
//!    absolute deviation (the *spread*) of the series, learnt online.
//! 2. **Value memory.** Up to [`MAX_CLUSTERS`] one-dimensional clusters
//!    (leader clustering) with exponentially decayed visit counts. A value's
//!    match radius is `radius * spread + rel * |x - level|`, so values far from
//!    the bulk are matched more loosely (a spike twice as tall as a known
//!    spike is not "new").
//! 3. **Raw novelty.** Inside a known cluster with decayed count `c`, the raw
//!    score is `1 / (1 + c)` (never seen → 1, seen once → 0.5, ...); beyond
//!    every cluster it is `1 - exp(-(d / r - 1) / nov_ref)` for the distance
//!    `d` to the nearest cluster.
//! 4. **Repeat suppression.** A raw score is reported only when it beats
//!    `margin` times the largest raw score of the previous `rest` samples, so
//!    a level shift produces one early high score, then zeros while the new
//!    level becomes familiar (as NAB's best detectors do).
//!
//! For alerting rules, [`AnomalyScorer::observe`] adds two things NAB does not
//! score: the **held score** (an episode's onset score, held while the value
//! stays beyond [`HOLD_SPREADS`] spreads of the level it left, so `for` and
//! `min_fraction` can judge a sustained shift instead of its single onset
//! sample) and an **hour-of-day baseline** (the usual level for each UTC
//! hour), which gives the reason in words: "error rate 6× its usual level for
//! this hour". Neither changes the score.
//!
//! Per sample the work is O([`MAX_CLUSTERS`]) plus amortised O(1) for the
//! suppression window; memory is bounded by the cluster table and `rest`.
//! There is no look-ahead, no randomness and no clock: the score at `t`
//! depends only on the finite samples seen up to `t`. NaN and ±∞ are treated
//! as absent: they score 0 and leave the state untouched.

use std::collections::VecDeque;

/// Capacity of the value-cluster table (bounds memory and per-sample work).
pub const MAX_CLUSTERS: usize = 32;

/// An episode's score is held while the value is this many (pre-episode)
/// spreads away from the pre-episode level.
pub const HOLD_SPREADS: f64 = 3.0;

/// Scores at or above this open an episode (and freeze its baseline).
pub const EPISODE_SCORE: f64 = 0.5;

/// An episode ends after this many samples back near the level it left.
const EPISODE_QUIET: usize = 10;

/// An hour-of-day bucket needs this many samples, the first a day before,
/// before it speaks for "this hour".
const HOUR_MIN_SAMPLES: f64 = 20.0;
const DAY_MS: i64 = 86_400_000;

/// Tuning of [`AnomalyScorer`]; [`Default`] holds the values tuned on NAB.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// Number of finite samples that only train the model (score 0).
    pub warmup: usize,
    /// Smoothing factor of the slow level and spread (after the first `1/n` phase).
    pub alpha: f64,
    /// Winsorisation of level/spread updates, in spreads.
    pub clip: f64,
    /// Cluster match radius, in spreads.
    pub radius: f64,
    /// Extra match radius per unit of distance from the level (relative precision).
    pub rel: f64,
    /// Distance beyond the radius (in radii) at which an unmatched value scores `1 - 1/e`.
    pub nov_ref: f64,
    /// Per-sample decay rate of the cluster visit counts (0 = never forget).
    pub decay: f64,
    /// Length, in samples, of the repeat-suppression window.
    pub rest: usize,
    /// A raw score is reported only if it exceeds `margin` × the suppression-window maximum.
    pub margin: f64,
    /// Seasonal channel (needs timestamps, see [`AnomalyScorer::score_at`]):
    /// on only while the hour-of-day spreads average at most this fraction
    /// of the global spread (a strongly daily series); 0 = off.
    pub season_gate: f64,
    /// Seasonal surprise starts this many hourly spreads from the hour's level.
    pub season_k: f64,
    /// ... and reaches `1 - 1/e` this many spreads further.
    pub season_ref: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            warmup: 100,
            alpha: 0.005,
            clip: 4.0,
            radius: 0.3,
            rel: 0.1,
            nov_ref: 1.0,
            decay: 0.0001,
            rest: 120,
            margin: 1.4,
            season_gate: 0.1,
            season_k: 3.0,
            season_ref: 3.0,
        }
    }
}

/// Streaming anomaly scorer for one series; see the module documentation.
#[derive(Debug, Clone)]
pub struct AnomalyScorer {
    cfg: AnomalyConfig,
    /// Finite samples seen.
    n: usize,
    level: f64,
    spread: f64,
    centers: [f64; MAX_CLUSTERS],
    /// Visit counts, stored multiplied by `step` (lazy exponential decay).
    counts: [f64; MAX_CLUSTERS],
    used: usize,
    /// Current weight of one visit; grows by `1 + decay` per sample.
    step: f64,
    /// Monotonic deque of (sample index, raw score) for the suppression window maximum.
    recent: VecDeque<(usize, f64)>,
    /// The open episode, if any.
    episode: Option<Episode>,
    /// Held score of the last observed sample.
    held: f64,
    /// Usual level per UTC hour of day.
    hours: HourlyBaseline,
}

/// An episode of unusual values: its onset score and the baseline it left.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Episode {
    score: f64,
    level: f64,
    spread: f64,
    /// Usual level at the onset's hour (or overall), for the reason.
    usual: f64,
    /// Whether `usual` is the hour's own level.
    hourly: bool,
    /// Consecutive samples back near `level`.
    quiet: usize,
}

/// Winsorised exponentially weighted level for each UTC hour of the day.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HourlyBaseline {
    level: [f64; 24],
    spread: [f64; 24],
    count: [f64; 24],
    /// Timestamp of each bucket's first sample.
    first: [i64; 24],
}

impl HourlyBaseline {
    fn hour(ts_ms: i64) -> usize {
        (ts_ms.div_euclid(3_600_000) % 24) as usize
    }

    /// The usual level at `ts_ms`'s hour, once it has enough samples.
    fn usual(&self, ts_ms: i64) -> Option<f64> {
        let h = Self::hour(ts_ms);
        let a_day_ago = ts_ms.saturating_sub(self.first[h]) >= DAY_MS - 3_600_000;
        (self.count[h] >= HOUR_MIN_SAMPLES && a_day_ago).then_some(self.level[h])
    }

    /// Seasonal surprise of `x` at `ts_ms`'s hour: its distance from the
    /// hour's level in the hour's spreads (floored at a tenth of the global
    /// spread), squashed; 0 until the hour has [`HOUR_MIN_SAMPLES`] samples,
    /// and 0 unless the series is strongly periodic (the hours' mean spread
    /// at most `cfg.season_gate` × the global spread).
    fn surprise(&self, ts_ms: i64, x: f64, cfg: &AnomalyConfig, spread: f64, level: f64) -> f64 {
        let h = Self::hour(ts_ms);
        if self.count[h] < HOUR_MIN_SAMPLES {
            return 0.0;
        }
        let mean_spread = self.spread.iter().sum::<f64>() / 24.0;
        if mean_spread > cfg.season_gate * spread {
            return 0.0;
        }
        let sp = self.spread[h]
            .max(0.1 * spread)
            .max(1e-9 * (1.0 + level.abs()));
        squash(((x - self.level[h]).abs() / sp - cfg.season_k) / cfg.season_ref)
    }

    /// Adds `x` to its hour: winsorised at `clip` spreads (floored at a tenth
    /// of the global `spread`), weight `max(1 / n, 0.02)`.
    fn learn(&mut self, ts_ms: i64, x: f64, clip: f64, spread: f64) {
        let h = Self::hour(ts_ms);
        let n = self.count[h];
        if n == 0.0 {
            self.level[h] = x;
            self.spread[h] = 0.0;
            self.first[h] = ts_ms;
        } else {
            let w = (1.0 / (n + 1.0)).max(0.02);
            let dev = x - self.level[h];
            let bound = clip * self.spread[h].max(0.1 * spread).max(1e-12);
            self.level[h] += w * dev.clamp(-bound, bound);
            self.spread[h] += w * (dev.abs().min(bound) - self.spread[h]);
        }
        self.count[h] = n + 1.0;
    }
}

/// How far a value is from its usual level, for a reason in words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unusual {
    /// The value now.
    pub now: f64,
    /// Its usual level (the level it left when the episode began).
    pub usual: f64,
    /// Whether `usual` is the usual level for this hour of the day.
    pub hourly: bool,
}

impl Unusual {
    /// "6× its usual level for this hour", "a third of its usual level",
    /// "up from about 0": how `now` compares with `usual`.
    pub fn words(&self) -> String {
        let scope = if self.hourly {
            "its usual level for this hour"
        } else {
            "its usual level"
        };
        let (now, usual) = (self.now, self.usual);
        if usual.abs() < 1e-12 || !usual.is_finite() {
            return if now > 0.0 {
                format!("up from about 0 ({scope})")
            } else {
                format!("down from about 0 ({scope})")
            };
        }
        let r = now / usual;
        if r >= 1.0 {
            let n = if r >= 10.0 {
                format!("{r:.0}")
            } else {
                format!("{r:.1}").trim_end_matches(".0").to_string()
            };
            format!("{n}× {scope}")
        } else if r > 0.0 {
            let pct = (r * 100.0).round();
            format!("{pct:.0}% of {scope}")
        } else {
            format!("{now:.3} against {scope} of {usual:.3}")
        }
    }
}

fn squash(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else {
        1.0 - (-x).exp()
    }
}

impl AnomalyScorer {
    /// Creates a scorer with an empty memory.
    pub fn new(cfg: AnomalyConfig) -> Self {
        let cap = cfg.rest.min(4096) + 1;
        Self {
            cfg,
            n: 0,
            level: 0.0,
            spread: 0.0,
            centers: [0.0; MAX_CLUSTERS],
            counts: [0.0; MAX_CLUSTERS],
            used: 0,
            step: 1.0,
            recent: VecDeque::with_capacity(cap),
            episode: None,
            held: 0.0,
            hours: HourlyBaseline {
                level: [0.0; 24],
                spread: [0.0; 24],
                count: [0.0; 24],
                first: [0; 24],
            },
        }
    }

    /// Scores the sample at `ts_ms` (see [`AnomalyScorer::score`]) and also
    /// keeps what alerting needs: the held score ([`AnomalyScorer::held`])
    /// and the hour-of-day baseline. Returns the score.
    pub fn observe(&mut self, ts_ms: i64, x: f64) -> f64 {
        if !x.is_finite() {
            self.held = 0.0;
            return 0.0;
        }
        // The baseline as it was before this sample.
        let (level, spread) = (self.level, self.spread);
        let score = self.score_at(ts_ms, x);
        let eps = 1e-9 * (1.0 + level.abs());
        match &mut self.episode {
            Some(ep) => {
                let away = (x - ep.level).abs() > HOLD_SPREADS * ep.spread.max(eps);
                ep.quiet = if away { 0 } else { ep.quiet + 1 };
                self.held = if away { ep.score.max(score) } else { score };
                if away {
                    ep.score = ep.score.max(score);
                }
                if ep.quiet >= EPISODE_QUIET {
                    self.episode = None;
                }
            }
            None if score >= EPISODE_SCORE => {
                let hourly = self.hours.usual(ts_ms);
                self.episode = Some(Episode {
                    score,
                    level,
                    spread,
                    usual: hourly.unwrap_or(level),
                    hourly: hourly.is_some(),
                    quiet: 0,
                });
                self.held = score;
            }
            None => self.held = score,
        }
        score
    }

    /// Held score of the last [`AnomalyScorer::observe`]d sample: the open
    /// episode's onset score while the value stays away from the level it
    /// left, the plain score otherwise.
    pub fn held(&self) -> f64 {
        self.held
    }

    /// How `now` (observed at `ts_ms`) compares with its usual level: the
    /// open episode's baseline, else the hour's usual level, else the overall
    /// level; `None` before the first sample.
    pub fn unusual(&self, ts_ms: i64, now: f64) -> Option<Unusual> {
        if self.n == 0 {
            return None;
        }
        Some(match &self.episode {
            Some(ep) => Unusual {
                now,
                usual: ep.usual,
                hourly: ep.hourly,
            },
            None => match self.hours.usual(ts_ms) {
                Some(usual) => Unusual {
                    now,
                    usual,
                    hourly: true,
                },
                None => Unusual {
                    now,
                    usual: self.level,
                    hourly: false,
                },
            },
        })
    }

    /// Scores the next sample: 0 = familiar, 1 = never seen anything like it.
    /// Non-finite input is treated as absent (returns 0, state unchanged).
    /// Without a timestamp the seasonal channel stays off.
    pub fn score(&mut self, x: f64) -> f64 {
        self.score_inner(None, x)
    }

    /// [`AnomalyScorer::score`] for a sample taken at `ts_ms` (unix ms, UTC):
    /// adds the seasonal channel, a value unusual for its hour of the day in
    /// a strongly daily series.
    pub fn score_at(&mut self, ts_ms: i64, x: f64) -> f64 {
        self.score_inner(Some(ts_ms), x)
    }

    fn score_inner(&mut self, ts_ms: Option<i64>, x: f64) -> f64 {
        if !x.is_finite() {
            return 0.0;
        }
        if self.n == 0 {
            self.n = 1;
            self.level = x;
            self.centers[0] = x;
            self.counts[0] = self.step;
            self.used = 1;
            return 0.0;
        }
        self.n += 1;
        let mut raw = self.novelty_and_learn(x);
        if let Some(ts) = ts_ms {
            if self.cfg.season_gate > 0.0 {
                let s = self
                    .hours
                    .surprise(ts, x, &self.cfg, self.spread, self.level);
                raw = raw.max(s);
            }
            self.hours.learn(ts, x, self.cfg.clip, self.spread);
        }
        self.update_scale(x);
        if self.n <= self.cfg.warmup {
            return 0.0;
        }
        self.suppress(raw)
    }

    /// Raw novelty of `x` against the cluster memory, then adds `x` to it.
    fn novelty_and_learn(&mut self, x: f64) -> f64 {
        let c = &self.cfg;
        let eps = 1e-9 * (1.0 + self.level.abs()) + 1e-3 * self.spread;
        let r = (c.radius * self.spread + c.rel * (x - self.level).abs()).max(eps);
        let mut best = 0;
        let mut best_d = f64::INFINITY;
        for (k, &center) in self.centers[..self.used].iter().enumerate() {
            let d = (x - center).abs();
            if d < best_d {
                best_d = d;
                best = k;
            }
        }
        let raw = if best_d <= r {
            1.0 / (1.0 + self.counts[best] / self.step)
        } else {
            squash((best_d / r - 1.0) / c.nov_ref)
        };
        let k = if best_d <= r {
            best
        } else {
            let slot = if self.used < MAX_CLUSTERS {
                self.used += 1;
                self.used - 1
            } else {
                // Recycle the least visited cluster.
                let mut weakest = 0;
                for j in 1..MAX_CLUSTERS {
                    if self.counts[j] < self.counts[weakest] {
                        weakest = j;
                    }
                }
                weakest
            };
            self.centers[slot] = x;
            self.counts[slot] = 0.0;
            slot
        };
        self.counts[k] += self.step;
        let lr = (self.step / self.counts[k]).max(0.05);
        self.centers[k] += lr * (x - self.centers[k]);
        self.step *= 1.0 + c.decay;
        if self.step > 1e100 {
            for count in &mut self.counts {
                *count /= self.step;
            }
            self.step = 1.0;
        }
        raw
    }

    /// Winsorised EW level and mean absolute deviation.
    fn update_scale(&mut self, x: f64) {
        let c = &self.cfg;
        let eps = 1e-9 * (1.0 + self.level.abs()) + 1e-3 * self.spread;
        let w = (1.0 / self.n as f64).max(c.alpha);
        let dev = x - self.level;
        let sp = self.spread.max(eps);
        self.level += w * dev.clamp(-c.clip * sp, c.clip * sp);
        self.spread += w * (dev.abs().min(c.clip * sp) - self.spread);
        if self.n < 10 {
            self.spread = self.spread.max(dev.abs() / 2.0);
        }
    }

    /// Reports `raw` only if it beats `margin` × the maximum of the last `rest` raw scores.
    fn suppress(&mut self, raw: f64) -> f64 {
        let (n, rest) = (self.n, self.cfg.rest);
        while self.recent.front().is_some_and(|&(i, _)| i + rest < n) {
            self.recent.pop_front();
        }
        let recent_max = self.recent.front().map_or(0.0, |e| e.1);
        while self.recent.back().is_some_and(|&(_, v)| v <= raw) {
            self.recent.pop_back();
        }
        self.recent.push_back((n, raw));
        if raw > self.cfg.margin * recent_max {
            raw.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
#[path = "anomaly_tests.rs"]
mod tests;
