//! The nouns of medic: services, metrics, series, flags and their states.
//!
//! Plain data shared by every room (sources, detect, tui, cli). No I/O here.

use serde::{Deserialize, Serialize};
use std::fmt;

pub mod absent;
mod plan;
pub use plan::*;

/// Milliseconds since the Unix epoch (UTC), the one time unit inside medic.
pub type Millis = i64;

/// The name of a service, as the metric source labels it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub String);

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<&str> for ServiceId {
    fn from(s: &str) -> Self {
        ServiceId(s.to_string())
    }
}

/// The metrics medic knows about; each one is a query in `[source.queries]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// CPU used, in cores.
    Cpu,
    /// CPU limit, in cores.
    CpuLimit,
    /// Memory working set, in bytes.
    Memory,
    /// Memory limit, in bytes.
    MemoryLimit,
    /// HTTP requests per second.
    Requests,
    /// HTTP 5xx responses per second.
    Errors,
}

/// The unit a value is measured in, so every screen prints it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// CPU cores.
    Cores,
    /// Bytes.
    Bytes,
    /// Events per second.
    PerSecond,
    /// A dimensionless ratio (0.05 = 5%).
    Ratio,
    /// A plain number.
    Number,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 6] = [
        Metric::Cpu,
        Metric::CpuLimit,
        Metric::Memory,
        Metric::MemoryLimit,
        Metric::Requests,
        Metric::Errors,
    ];

    /// The name used in config files and rule expressions.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::CpuLimit => "cpu_limit",
            Metric::Memory => "memory",
            Metric::MemoryLimit => "memory_limit",
            Metric::Requests => "requests",
            Metric::Errors => "errors",
        }
    }

    /// Parse a metric name as written in config and expressions.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The unit of this metric's values.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Cpu | Metric::CpuLimit => Unit::Cores,
            Metric::Memory | Metric::MemoryLimit => Unit::Bytes,
            Metric::Requests | Metric::Errors => Unit::PerSecond,
        }
    }

    /// The limit metric that bounds this one, if any (cpu → cpu_limit).
    pub fn limit(self) -> Option<Metric> {
        match self {
            Metric::Cpu => Some(Metric::CpuLimit),
            Metric::Memory => Some(Metric::MemoryLimit),
            _ => None,
        }
    }

    /// Position in [`Metric::ALL`], for dense per-metric arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Values on a regular time grid: `values[i]` is the value at `start + i * step`.
///
/// An absent sample is `NaN`: never zero, never interpolated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Timestamp of the first value.
    pub start: Millis,
    /// Distance between values, > 0.
    pub step: Millis,
    /// The values; `NaN` marks an absent sample.
    pub values: Vec<f64>,
}

impl Series {
    /// A series of `len` absent samples.
    pub fn absent(start: Millis, step: Millis, len: usize) -> Series {
        Series {
            start,
            step,
            values: vec![f64::NAN; len],
        }
    }

    /// Timestamp of value `i`.
    pub fn time_at(&self, i: usize) -> Millis {
        self.start + i as Millis * self.step
    }

    /// Timestamp just after the last value.
    pub fn end(&self) -> Millis {
        self.time_at(self.values.len())
    }

    /// The last present value, if any.
    pub fn last_present(&self) -> Option<f64> {
        self.values.iter().rev().copied().find(|v| v.is_finite())
    }

    /// Value at timestamp `t` if `t` is on the grid and present.
    pub fn at(&self, t: Millis) -> Option<f64> {
        if t < self.start || self.step <= 0 || (t - self.start) % self.step != 0 {
            return None;
        }
        let i = ((t - self.start) / self.step) as usize;
        self.values.get(i).copied().filter(|v| v.is_finite())
    }

    /// Resample raw `(t, v)` samples (sorted by time) onto a grid with
    /// Prometheus instant-vector semantics: the value at `t` is the latest
    /// sample in `(t - lookback, t]`; none there means absent.
    pub fn from_samples(
        samples: &[(Millis, f64)],
        start: Millis,
        step: Millis,
        len: usize,
        lookback: Millis,
    ) -> Series {
        let mut out = Series::absent(start, step, len);
        let mut j = 0usize;
        let mut latest: Option<(Millis, f64)> = None;
        for (i, slot) in out.values.iter_mut().enumerate() {
            let t = start + i as Millis * step;
            while j < samples.len() && samples[j].0 <= t {
                latest = Some(samples[j]);
                j += 1;
            }
            if let Some((ts, v)) = latest {
                if ts > t - lookback {
                    *slot = v;
                }
            }
        }
        out
    }
}

/// One service's metrics over the same grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceMetrics {
    /// Which service.
    pub service: ServiceId,
    /// One optional series per [`Metric`], indexed by [`Metric::index`].
    pub series: [Option<Series>; 6],
}

impl ServiceMetrics {
    /// A service with no series yet.
    pub fn new(service: ServiceId) -> Self {
        ServiceMetrics {
            service,
            series: Default::default(),
        }
    }

    /// The series for `metric`, if the source returned one.
    pub fn get(&self, metric: Metric) -> Option<&Series> {
        self.series[metric.index()].as_ref()
    }

    /// Set the series for `metric`.
    pub fn set(&mut self, metric: Metric, series: Series) {
        self.series[metric.index()] = Some(series);
    }

    /// The last present value of `metric`.
    pub fn last(&self, metric: Metric) -> Option<f64> {
        self.get(metric).and_then(Series::last_present)
    }

    /// The current limit bounding `metric` (memory → memory_limit); `None`
    /// means no limit: absent, 0 (cAdvisor's "unlimited") or not finite.
    pub fn limit_of(&self, metric: Metric) -> Option<f64> {
        self.last(metric.limit()?).filter(|l| is_limit(*l))
    }
}

/// Is `v` a real limit? 0, negative and non-finite values mean "no limit".
#[inline]
pub fn is_limit(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// A query or metric that gave nothing to judge: shown to the operator
/// (scan exits 3, the TUI shows a banner), never read as an all-clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoData {
    /// The query (`cpu`, `memory`…) or `source` when the source did not answer.
    pub query: String,
    /// What is missing and what to check, in words.
    pub reason: String,
}

/// Everything one refresh of a source returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    /// The services, sorted by name.
    pub services: Vec<ServiceMetrics>,
    /// The evaluation time the snapshot was taken for.
    pub at: Millis,
    /// True when the source could not be reached and these are last-known values.
    pub stale: bool,
    /// Queries that returned nothing to judge (empty: every query answered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<NoData>,
}

impl FleetSnapshot {
    /// The services keyed by id, built once per refresh so that finding a
    /// flag's metrics is a hash lookup, not a search of the whole fleet.
    pub fn index(&self) -> std::collections::HashMap<&ServiceId, &ServiceMetrics> {
        self.services.iter().map(|s| (&s.service, s)).collect()
    }
}

/// Where an alerting rule stands for one service (Prometheus' alert states,
/// plus `resolved` for "was firing, no longer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Condition false.
    Inactive,
    /// Condition true, not yet for long enough.
    Pending,
    /// Condition held for the rule's `for` duration.
    Firing,
    /// Was firing, condition no longer true.
    Resolved,
}

impl AlertState {
    /// The lower-case word used in JSON and on screen.
    pub fn word(self) -> &'static str {
        match self {
            AlertState::Inactive => "ok",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// The JSON word (`inactive` rather than `ok`).
    pub fn json_word(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            s => s.word(),
        }
    }

    /// A glyph so the state never hangs on colour alone.
    pub fn glyph(self) -> &'static str {
        match self {
            AlertState::Inactive => "✔",
            AlertState::Pending => "▲",
            AlertState::Firing => "✖",
            AlertState::Resolved => "✔",
        }
    }

    /// Plain-ASCII glyph for terminals without Unicode.
    pub fn ascii_glyph(self) -> &'static str {
        match self {
            AlertState::Inactive => "+",
            AlertState::Pending => "^",
            AlertState::Firing => "x",
            AlertState::Resolved => "+",
        }
    }

    /// Sort key: worst first.
    pub fn severity(self) -> u8 {
        match self {
            AlertState::Firing => 3,
            AlertState::Pending => 2,
            AlertState::Resolved => 1,
            AlertState::Inactive => 0,
        }
    }
}

/// What kind of trouble a flag is, once triage has looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real problem in the service: fix it.
    Actionable,
    /// High usage in proportion to a traffic rise: scale, don't patch.
    Load,
    /// An upstream provider's incident explains it.
    External,
    /// Most of the project degrades together: the platform, not the service.
    Platform,
    /// Flapping or too little traffic to mean anything.
    Noise,
}

impl Verdict {
    /// The lower-case word used in JSON and on screen.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Actionable => "actionable",
            Verdict::Load => "load",
            Verdict::External => "external",
            Verdict::Platform => "platform",
            Verdict::Noise => "noise",
        }
    }
}

/// A rule's state changing for one service, at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The service.
    pub service: ServiceId,
    /// The rule's name.
    pub rule: String,
    /// The state entered.
    pub state: AlertState,
    /// When it was entered.
    pub at: Millis,
    /// The expression's value at that instant (NaN when absent).
    #[serde(with = "absent")]
    pub value: f64,
}

/// A service a rule currently complains about (pending, firing or recently resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// The service.
    pub service: ServiceId,
    /// The rule's name.
    pub rule: String,
    /// The metric the rule is about (its expression's first metric).
    pub metric: Metric,
    /// Current state.
    pub state: AlertState,
    /// The expression's latest value (NaN when absent, e.g. an alert
    /// without a value annotation).
    #[serde(with = "absent")]
    pub value: f64,
    /// The rule's threshold (NaN when the rule has none, e.g. an Alertmanager alert).
    #[serde(with = "absent")]
    pub threshold: f64,
    /// The rule's comparison, e.g. `>`.
    pub op: String,
    /// The unit of `value` and `threshold`.
    pub unit: Unit,
    /// When the current state was entered.
    pub since: Millis,
    /// When the trouble began: the first breaching evaluation of this episode.
    pub onset: Millis,
    /// Triage's verdict.
    pub verdict: Verdict,
    /// Why, in words with numbers.
    pub reason: String,
    /// Seconds until the metric reaches its limit at the current trend, if it is heading there.
    pub eta_seconds: Option<f64>,
}
