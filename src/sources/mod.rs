//! Where metrics come from: the embedded demo, Prometheus-compatible stores
//! and Railway. A source answers "every service's metrics over this window"
//! on medic's grid; it never judges them.

pub mod alertmanager;
pub mod demo;
pub mod evidence;
pub mod exporter;
pub mod http;
pub mod kube;
pub mod listener;
pub mod loki;
pub mod prometheus;
pub mod promql_json;
pub mod railway;
pub mod silences;
pub mod statuspage;

use crate::config::ServiceConfig;
use crate::model::{is_limit, FleetSnapshot, Metric, Millis, NoData, Series, ServiceMetrics};
use demo::{Demo, DemoClock, Deploy, LogLine, UpstreamStatus};
use std::time::Duration;

/// A metric source that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is configured but not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// One query failed: it names the query, the server and why.
    #[error("query `{query}` ({detail}) on {server}: {message}")]
    Query {
        /// The metric or query name (`memory`, `services`).
        query: String,
        /// The query text (PromQL) or a short description.
        detail: String,
        /// The server's base URL.
        server: String,
        /// What went wrong, in words.
        message: String,
    },
}

/// A configured metric source.
#[derive(Debug, Clone)]
pub enum Source {
    /// The embedded, simulated fleet and its clock.
    Demo {
        /// The fleet.
        demo: Demo,
        /// Its clock (may run faster than the wall).
        clock: DemoClock,
    },
    /// A Prometheus-compatible HTTP API (Prometheus, VictoriaMetrics, Thanos, Mimir).
    Prometheus(Box<prometheus::Prometheus>),
    /// Railway's GraphQL API.
    Railway(Box<railway::Railway>),
}

impl Source {
    /// The embedded demo, anchored at the current wall time (aligned to the
    /// minute so the first screen is stable), running `speed`× real time.
    pub fn demo(seed: u64, speed: f64) -> Source {
        let anchor = wall_now().div_euclid(60_000) * 60_000;
        Source::Demo {
            demo: Demo::new(seed, anchor),
            clock: DemoClock::new(anchor, speed),
        }
    }

    /// A short name for status lines: `demo ×10`, `prometheus http://…`.
    pub fn describe(&self) -> String {
        match self {
            Source::Demo { clock, .. } if clock.speed != 1.0 => format!("demo ×{}", clock.speed),
            Source::Demo { .. } => "demo".to_string(),
            Source::Prometheus(p) => format!("prometheus {}", p.url()),
            Source::Railway(r) => format!("railway {}", r.describe()),
        }
    }

    /// How often to refresh, in wall time: one step of source time (the
    /// demo's clock may run faster than the wall). Callers clamp it.
    pub fn refresh_interval(&self, step: Millis) -> Duration {
        let speed = match self {
            Source::Demo { clock, .. } => clock.speed,
            _ => 1.0,
        };
        Duration::from_millis((step as f64 / speed).max(0.0) as u64)
    }

    /// Warnings gathered since the last call: skipped series, stale data.
    pub fn take_warnings(&mut self) -> Vec<String> {
        match self {
            Source::Demo { .. } => Vec::new(),
            Source::Prometheus(p) => p.take_warnings(),
            Source::Railway(r) => r.take_warnings(),
        }
    }

    /// The source's notion of now (the demo's clock may run fast).
    pub fn now(&self) -> Millis {
        match self {
            Source::Demo { clock, .. } => clock.now(),
            Source::Prometheus(_) | Source::Railway(_) => wall_now(),
        }
    }

    /// Every service's metrics over `(now - lookback, now]` at `step`.
    pub async fn latest(
        &mut self,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        let snap = match self {
            Source::Demo { demo, .. } => Ok(demo.snapshot(now, lookback, step)),
            Source::Prometheus(p) => p.latest(now, lookback, step).await,
            Source::Railway(r) => r.latest(now, lookback, step).await,
        };
        snap.map(|s| self.no_services_is_no_data(s))
    }

    /// Zero services is never an all-clear: say so in `missing`.
    fn no_services_is_no_data(&self, mut snap: FleetSnapshot) -> FleetSnapshot {
        if snap.services.is_empty() && snap.missing.is_empty() {
            snap.missing.push(NoData {
                query: "services".into(),
                reason: format!(
                    "{} returned no service at all: check the source's URL, the service label and that the exporters are scraped",
                    self.describe()
                ),
            });
        }
        snap
    }

    /// Every service's metrics on the grid from `start` to `end` at `step`.
    pub async fn range(
        &mut self,
        start: Millis,
        end: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        match self {
            Source::Demo { demo, .. } => {
                let start = start.div_euclid(step) * step;
                Ok(demo.range(start, end, step, end))
            }
            Source::Prometheus(p) => p.range(start, end, step).await,
            Source::Railway(r) => r.range(start, end, step).await,
        }
        .map(|s| self.no_services_is_no_data(s))
    }
}

/// `absent = "zero"`: where the service has any other series present, an
/// absent sample of `metric` reads as 0 (the series is created if the query
/// returned none for this service). Instants where the service has no data at
/// all stay absent, so a service that is gone is not "0 errors".
pub fn read_absent_as_zero(
    svc: &mut ServiceMetrics,
    metric: Metric,
    start: Millis,
    step: Millis,
    len: usize,
) {
    let mut present = vec![false; len];
    for m in Metric::ALL.into_iter().filter(|m| *m != metric) {
        if let Some(s) = svc.get(m) {
            for (p, v) in present.iter_mut().zip(&s.values) {
                *p |= !v.is_nan();
            }
        }
    }
    if !present.iter().any(|p| *p) {
        return;
    }
    let mut series = svc
        .get(metric)
        .cloned()
        .unwrap_or_else(|| Series::absent(start, step, len));
    for (v, p) in series.values.iter_mut().zip(&present) {
        if v.is_nan() && *p {
            *v = 0.0;
        }
    }
    svc.set(metric, series);
}

/// `[[services]]` limits: used at every instant where the source exports no
/// limit (absent, 0 or not finite) for a service that has data.
pub fn apply_override(
    svc: &mut ServiceMetrics,
    o: &ServiceConfig,
    start: Millis,
    step: Millis,
    len: usize,
) {
    for (metric, limit) in [
        (Metric::MemoryLimit, o.memory_limit.map(|b| b.0)),
        (Metric::CpuLimit, o.cpu_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut series = svc
            .get(metric)
            .cloned()
            .unwrap_or_else(|| Series::absent(start, step, len));
        for v in series.values.iter_mut() {
            if !is_limit(*v) {
                *v = limit;
            }
        }
        svc.set(metric, series);
    }
}

/// The last good snapshot of a real source, handed back marked stale when
/// a refresh fails, so a source that is down never stops medic.
#[derive(Debug, Clone, Default)]
pub struct LastKnown {
    last: Option<FleetSnapshot>,
}

impl LastKnown {
    /// Keep a good snapshot; on failure return the last good one marked
    /// stale (its error becomes a warning), or the error if there is none yet.
    pub fn settle(
        &mut self,
        fetched: Result<FleetSnapshot, SourceError>,
        warnings: &mut Vec<String>,
    ) -> Result<FleetSnapshot, SourceError> {
        match fetched {
            Ok(snap) => {
                self.last = Some(snap.clone());
                Ok(snap)
            }
            Err(e) => match &self.last {
                Some(last) => {
                    warnings.push(format!("{e}; showing last-known values (STALE)"));
                    Ok(FleetSnapshot {
                        stale: true,
                        ..last.clone()
                    })
                }
                None => Err(e),
            },
        }
    }
}

/// What a source knows besides metrics, for triage. `None` means "this
/// source cannot tell" (said plainly in the evidence), not "nothing happened".
impl Source {
    /// Log lines of `service` in `[from, to)`.
    pub async fn logs(&self, service: &str, from: Millis, to: Millis) -> Option<Vec<LogLine>> {
        match self {
            Source::Demo { demo, .. } => Some(demo.logs(service, from, to)),
            Source::Railway(r) => r.logs(service, from, to).await.ok(),
            _ => None,
        }
    }

    /// Recent deploys across the fleet, newest first.
    pub async fn deploys(&self) -> Option<Vec<Deploy>> {
        match self {
            Source::Demo { demo, .. } => Some(demo.deploys()),
            Source::Railway(r) => r.deploys().await.ok(),
            _ => None,
        }
    }

    /// Upstream providers' status at `now`.
    pub async fn upstreams(&self, now: Millis) -> Option<Vec<UpstreamStatus>> {
        match self {
            Source::Demo { demo, .. } => Some(demo.upstreams(now)),
            _ => None,
        }
    }
}

/// Wall-clock time now. The edges of medic read the clock; `detect` never does.
pub fn wall_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
