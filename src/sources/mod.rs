//! Where metrics come from: the embedded demo today, Prometheus-compatible
//! stores and Railway next. A source answers "every service's metrics over
//! this window"; it never judges them.

pub mod demo;

use crate::model::{FleetSnapshot, Millis};
use demo::{Demo, DemoClock, Deploy, LogLine, UpstreamStatus};

/// A metric source that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is configured but not available in this build.
    #[error("{0}")]
    Unsupported(String),
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
        }
    }

    /// The source's notion of now (the demo's clock may run fast).
    pub fn now(&self) -> Millis {
        match self {
            Source::Demo { clock, .. } => clock.now(),
        }
    }

    /// Every service's metrics over `(now - lookback, now]` at `step`.
    pub async fn latest(
        &mut self,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        match self {
            Source::Demo { demo, .. } => Ok(demo.snapshot(now, lookback, step)),
        }
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
        }
    }

    /// Recent deploys across the fleet, newest first.
    pub async fn deploys(&self) -> Option<Vec<Deploy>> {
        match self {
            Source::Demo { demo, .. } => Some(demo.deploys()),
        }
    }

    /// Upstream providers' status at `now`.
    pub async fn upstreams(&self, now: Millis) -> Option<Vec<UpstreamStatus>> {
        match self {
            Source::Demo { demo, .. } => Some(demo.upstreams(now)),
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
