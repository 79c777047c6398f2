//! `medic demo exporter`: the demo fleet as Prometheus text exposition on
//! `/metrics`, named like cAdvisor and common HTTP middleware, so a real
//! Prometheus scraping it answers medic's default `[source.queries]`.
//!
//! Gauges are the demo's values at the demo clock's now; counters
//! (`container_cpu_usage_seconds_total`, `http_requests_total`) integrate
//! the demo's rates from the exporter's start, as a real process's
//! counters would (they start at zero when it starts).

use super::demo::{Demo, DemoClock, SERVICES};
use crate::model::{Metric, Millis};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// Integrate counters in steps of at most this much demo time.
const INTEGRATION_STEP: Millis = 1_000;
/// Longest gap the counters catch up on in one scrape (a paused laptop).
const MAX_CATCH_UP: Millis = 6 * 3_600_000;
/// `container_spec_cpu_period`, as the kernel's CFS default (µs).
const CPU_PERIOD_US: f64 = 100_000.0;

/// The demo fleet plus its counters' running totals.
#[derive(Debug)]
pub struct Exporter {
    demo: Demo,
    clock: DemoClock,
    counters: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    at: Option<Millis>,
    cpu_seconds: [f64; SERVICES.len()],
    ok_requests: [f64; SERVICES.len()],
    error_requests: [f64; SERVICES.len()],
}

impl Exporter {
    /// An exporter for `demo` read at `clock`'s time.
    pub fn new(demo: Demo, clock: DemoClock) -> Exporter {
        Exporter {
            demo,
            clock,
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The exposition at the clock's current time.
    pub fn render_now(&self) -> String {
        self.render(self.clock.now())
    }

    /// The exposition as of demo time `now` (counters advance to `now`).
    pub fn render(&self, now: Millis) -> String {
        let value = |svc: &str, m: Metric, t: Millis| self.demo.value(svc, m, t).unwrap_or(0.0);
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut t = c.at.unwrap_or(now).max(now - MAX_CATCH_UP);
        while t < now {
            let dt = INTEGRATION_STEP.min(now - t);
            let secs = dt as f64 / 1000.0;
            for (i, svc) in SERVICES.iter().enumerate() {
                let requests = value(svc, Metric::Requests, t);
                let errors = value(svc, Metric::Errors, t).min(requests);
                c.cpu_seconds[i] += value(svc, Metric::Cpu, t) * secs;
                c.ok_requests[i] += (requests - errors) * secs;
                c.error_requests[i] += errors * secs;
            }
            t += dt;
        }
        c.at = Some(now);

        let mut out = String::with_capacity(4096);
        let mut family =
            |name: &str,
             kind: &str,
             help: &str,
             samples: &mut dyn Iterator<Item = (String, f64)>| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for (labels, v) in samples {
                    let _ = writeln!(out, "{name}{{{labels}}} {}", number(v));
                }
            };
        let per_service = |m: Metric, scale: f64| {
            SERVICES
                .iter()
                .map(move |s| (format!("service=\"{s}\""), value(s, m, now) * scale))
        };
        family(
            "container_memory_working_set_bytes",
            "gauge",
            "Memory working set of the service (medic demo fleet).",
            &mut per_service(Metric::Memory, 1.0),
        );
        family(
            "container_spec_memory_limit_bytes",
            "gauge",
            "Memory limit of the service (medic demo fleet).",
            &mut per_service(Metric::MemoryLimit, 1.0),
        );
        family(
            "container_spec_cpu_quota",
            "gauge",
            "CPU quota in microseconds per period (medic demo fleet).",
            &mut per_service(Metric::CpuLimit, CPU_PERIOD_US),
        );
        family(
            "container_spec_cpu_period",
            "gauge",
            "CPU period in microseconds (medic demo fleet).",
            &mut SERVICES
                .iter()
                .map(|s| (format!("service=\"{s}\""), CPU_PERIOD_US)),
        );
        family(
            "container_cpu_usage_seconds_total",
            "counter",
            "CPU time consumed (medic demo fleet).",
            &mut SERVICES
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("service=\"{s}\""), c.cpu_seconds[i])),
        );
        family(
            "http_requests_total",
            "counter",
            "HTTP requests served, by status code (medic demo fleet).",
            &mut SERVICES.iter().enumerate().flat_map(|(i, s)| {
                [
                    (format!("service=\"{s}\",code=\"200\""), c.ok_requests[i]),
                    (format!("service=\"{s}\",code=\"500\""), c.error_requests[i]),
                ]
            }),
        );
        out
    }
}

/// A sample value as the text format writes it (`+Inf`, `NaN`, shortest round-trip decimal).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Serve `exporter` on `listen` until Ctrl-C: `/metrics` and a short `/`.
pub async fn serve(listen: &str, exporter: Exporter) -> anyhow::Result<()> {
    use anyhow::Context;
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let exporter = Arc::new(exporter);
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let exporter = exporter.clone();
                async move {
                    (
                        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        exporter.render_now(),
                    )
                }
            }),
        )
        .route(
            "/",
            get(|| async { "medic demo exporter: the demo fleet's metrics are on /metrics\n" }),
        );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("cannot listen on {listen} (is the port taken? try another --listen)")
        })?;
    crate::terminal::eprint_line(format_args!(
        "medic demo exporter: serving the demo fleet on http://{}/metrics (Ctrl-C stops)",
        listener.local_addr()?
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving /metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR: Millis = 1_790_000_000_000;

    #[test]
    fn gauges_and_counters_in_text_format() {
        let demo = Demo::new(crate::sources::demo::DEFAULT_SEED, ANCHOR);
        let e = Exporter::new(demo.clone(), DemoClock::new(ANCHOR, 1.0));
        let first = e.render(ANCHOR);
        assert!(first.contains("# TYPE container_memory_working_set_bytes gauge"));
        assert!(first.contains("container_cpu_usage_seconds_total{service=\"api\"} 0\n"));
        let later = e.render(ANCHOR + 60_000);
        let counter = |text: &str, series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap()
        };
        // api runs ~1.4 cores: about 84 CPU-seconds a minute.
        let cpu = counter(&later, "container_cpu_usage_seconds_total{service=\"api\"}");
        assert!((60.0..120.0).contains(&cpu), "{cpu}");
        let mem = counter(
            &later,
            "container_memory_working_set_bytes{service=\"api\"}",
        );
        assert_eq!(
            mem,
            demo.value("api", Metric::Memory, ANCHOR + 60_000).unwrap()
        );
        let errors = counter(
            &later,
            "http_requests_total{service=\"checkout\",code=\"500\"}",
        );
        assert!(errors > 0.0);
    }
}
