//! Prometheus-compatible stores (Prometheus, VictoriaMetrics, Thanos, Mimir):
//! one `query_range` per configured query per refresh, whatever the number
//! of services, grouped by the service label onto medic's grid.
//!
//! reqwest directly rather than `prometheus-http-query`: medic needs only
//! `query_range`, but needs its own control of the raw body (to name the
//! query and server when a proxy answers HTML or a body is cut off), of
//! retries/timeouts, and a borrowed, allocation-light parse for 2,000-series
//! responses; the wrapper crate adds types medic would immediately convert.
//!
//! It never judges values; a server that is down or slow makes the snapshot
//! stale (last-known values), never an error that stops medic.

use super::http::{self, Auth, Policy};
use super::{LastKnown, SourceError};
use crate::config::{Absent, ServiceConfig, SourceConfig};
use crate::model::{FleetSnapshot, Metric, Millis, NoData, Series, ServiceId, ServiceMetrics};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Prometheus refuses ranges of more than 11,000 points per series; stay under.
pub const MAX_POINTS_PER_REQUEST: usize = 10_000;

pub mod doctor;
mod grid;
pub mod instant;
pub use grid::Grid;

/// One query's answer on the grid: a series per service, and what was odd.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// Series by service name.
    pub series: BTreeMap<String, Series>,
    /// Series that had no service label (skipped).
    pub unlabelled: usize,
    /// Services that came back more than once (the first is kept).
    pub duplicates: Vec<String>,
    /// Warnings the server attached to its answer.
    pub server_warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType", borrow)]
    result_type: Cow<'a, str>,
    #[serde(borrow)]
    result: Vec<MatrixSeries<'a>>,
}

#[derive(Deserialize)]
struct MatrixSeries<'a> {
    #[serde(borrow)]
    metric: HashMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(default, borrow)]
    values: Vec<(f64, Cow<'a, str>)>,
}

/// Parse a Prometheus sample value: a decimal, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        // Rust's float parser would also take "inf" and "infinity"; Prometheus never sends them.
        s if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && !s.is_empty() =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Parse one `query_range` response body and place its samples on `grid`,
/// adding to `into` (so several chunks of one range fill one series).
///
/// Absent instants stay NaN, `NaN` values are absent, ±Inf are kept.
/// Errors say what was wrong in words (the caller adds query and server).
pub fn parse_query_range_into(
    body: &[u8],
    grid: &Grid,
    service_label: &str,
    into: &mut QueryResult,
) -> Result<(), String> {
    let env: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(_) => return Err(diagnose(body)),
    };
    if env.status != "success" {
        return Err(match (env.error_type, env.error) {
            (Some(t), Some(e)) => format!("the server answered {t}: {e}"),
            (_, Some(e)) => format!("the server answered an error: {e}"),
            _ => format!(
                "the server answered status `{}` without an error",
                env.status
            ),
        });
    }
    into.server_warnings.extend(env.warnings);
    let Some(data) = env.data else {
        return Err("the answer has status success but no `data`".to_string());
    };
    if data.result_type != "matrix" {
        return Err(format!(
            "expected a matrix from query_range, got a {}",
            data.result_type
        ));
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for s in &data.result {
        let Some(name) = s.metric.get(service_label) else {
            into.unlabelled += 1;
            continue;
        };
        // A second series for one service in one answer: keep the first.
        if !seen.insert(name.as_ref()) {
            if !into.duplicates.iter().any(|d| d == name) {
                into.duplicates.push(name.to_string());
            }
            continue;
        }
        let series = into
            .series
            .entry(name.to_string())
            .or_insert_with(|| Series::absent(grid.start, grid.step, grid.len));
        for (ts, v) in &s.values {
            let value = parse_value(v).ok_or_else(|| {
                format!(
                    "series {{{service_label}=\"{name}\"}} has `{v}` at {ts} where a number belongs"
                )
            })?;
            if !ts.is_finite() {
                return Err(format!(
                    "series {{{service_label}=\"{name}\"}} has a timestamp that is not a number"
                ));
            }
            let t = (ts * 1000.0).round() as Millis;
            if let Some(i) = grid_index(series, t) {
                series.values[i] = value;
            }
        }
    }
    Ok(())
}

fn grid_index(series: &Series, t: Millis) -> Option<usize> {
    Grid {
        start: series.start,
        step: series.step,
        len: series.values.len(),
    }
    .index(t)
}

/// Say why a body is not a Prometheus answer: not JSON at all (an HTML page
/// from a proxy, a truncated body), or JSON of the wrong shape (with the path).
fn diagnose(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Err(e) if e.is_eof() => format!(
            "the body ends early ({} bytes, cut off: {e}); a proxy or the server broke the connection",
            body.len()
        ),
        Err(_) => format!(
            "not a Prometheus API answer: {}",
            http::snippet(body, "")
        ),
        Ok(v) => {
            if v.get("status").and_then(|s| s.as_str()) == Some("error") {
                return format!(
                    "the server answered {}: {}",
                    v.get("errorType").and_then(|s| s.as_str()).unwrap_or("error"),
                    v.get("error").and_then(|s| s.as_str()).unwrap_or("(no message)")
                );
            }
            if let Some(t) = v.pointer("/data/resultType").and_then(|s| s.as_str()) {
                if t != "matrix" {
                    return format!("expected a matrix from query_range, got a {t}");
                }
            }
            let mut de = serde_json::Deserializer::from_slice(body);
            match serde_path_to_error::deserialize::<_, Envelope>(&mut de) {
                Err(e) => format!(
                    "unexpected shape at `{}`: {}",
                    e.path(),
                    e.inner()
                ),
                Ok(_) => "unexpected answer".to_string(),
            }
        }
    }
}

/// Why a query that returned no series matters, and what to check.
fn no_series_reason(promql: &str, base: &str, unlabelled: usize, label: &str) -> String {
    let why = if unlabelled > 0 {
        format!("returned {unlabelled} series, none with the `{label}` label (aggregate with `sum by ({label}) (…)`)")
    } else {
        "returned no series (or only NaN samples)".to_string()
    };
    format!(
        "`{promql}` on {base} {why}: check the query in [source.queries] (a typo?) and that its exporter is up and scraped"
    )
}

/// A Prometheus-compatible source with its last good snapshot.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: String,
    service_label: String,
    preset: crate::config::Preset,
    queries: Vec<(Metric, String, Absent)>,
    overrides: Vec<ServiceConfig>,
    auth: Auth,
    policy: Policy,
    client: reqwest::Client,
    last: LastKnown,
    warnings: Vec<String>,
    warned: HashSet<String>,
}

impl Prometheus {
    /// A source from `[source]`; secrets are read from their env vars now.
    pub fn from_config(cfg: &SourceConfig) -> Result<Prometheus, String> {
        let auth = match (
            &cfg.bearer_token_env,
            &cfg.basic_auth_user_env,
            &cfg.basic_auth_password_env,
        ) {
            (Some(var), _, _) => {
                Auth::Bearer(http::secret_from_env("source.bearer_token_env", var)?)
            }
            (None, Some(u), Some(p)) => Auth::Basic {
                user: http::secret_from_env("source.basic_auth_user_env", u)?,
                password: http::secret_from_env("source.basic_auth_password_env", p)?,
            },
            _ => Auth::None,
        };
        let queries = cfg
            .queries()
            .into_iter()
            .map(|(m, q)| {
                let absent = q.absent_for(m);
                (m, q.promql, absent)
            })
            // An empty query switches the metric off (e.g. no HTTP metrics for a worker fleet).
            .filter(|(_, q, _)| !q.trim().is_empty())
            .collect();
        let policy = Policy {
            timeout: Duration::from_millis(cfg.timeout.0 as u64),
            retries: cfg.retries,
            ..Policy::default()
        };
        Ok(Prometheus {
            base: cfg.url().trim_end_matches('/').to_string(),
            service_label: cfg.service_label.clone(),
            preset: cfg.preset,
            queries,
            overrides: Vec::new(),
            auth,
            client: http::client(&policy),
            policy,
            last: LastKnown::default(),
            warnings: Vec::new(),
            warned: HashSet::new(),
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Which exporters the queries expect (`kubernetes`: services are workloads).
    pub fn preset(&self) -> crate::config::Preset {
        self.preset
    }

    /// Limits from `[[services]]`, used where the server exports none.
    pub fn set_overrides(&mut self, overrides: Vec<ServiceConfig>) {
        self.overrides = overrides;
    }

    /// Override the retry policy (tests use short backoffs).
    pub fn set_policy(&mut self, policy: Policy) {
        self.client = http::client(&policy);
        self.policy = policy;
    }

    /// Warnings gathered since the last call (skipped series, stale data).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Every service's metrics over `(now - lookback, now]`. When the server
    /// fails after the first success, the last good snapshot comes back
    /// marked stale and the error becomes a warning.
    pub async fn latest(
        &mut self,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        let grid = Grid::window(now, lookback, step);
        let fetched = self.fetch(&grid, now).await;
        self.last.settle(fetched, &mut self.warnings)
    }

    /// Every service's metrics on the grid from `start` to `end` at `step`.
    pub async fn range(
        &mut self,
        start: Millis,
        end: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        self.fetch(&Grid::range(start, end, step), end).await
    }

    /// One `query_range` per query (concurrently), assembled per service;
    /// absent samples of `absent = "zero"` queries read as 0, `[[services]]`
    /// limits fill in where none is exported, and every `gap` query that
    /// returned no series is named in the snapshot's `missing`.
    async fn fetch(&mut self, grid: &Grid, at: Millis) -> Result<FleetSnapshot, SourceError> {
        let answers = futures_util::future::join_all(
            self.queries
                .iter()
                .map(|(metric, promql, _)| self.query(*metric, promql, grid)),
        )
        .await;
        let mut services: BTreeMap<String, ServiceMetrics> = BTreeMap::new();
        let mut missing = Vec::new();
        let mut zero = Vec::new();
        for ((metric, promql, absent), answer) in self.queries.iter().zip(answers) {
            let result = answer?;
            let mut notes = Vec::new();
            if result.unlabelled > 0 {
                notes.push(format!(
                    "query `{}` ({promql}) on {} returned {} series without the `{}` label; \
                     they are skipped (aggregate with `sum by ({}) (…)`)",
                    metric.name(),
                    self.base,
                    result.unlabelled,
                    self.service_label,
                    self.service_label
                ));
            }
            if !result.duplicates.is_empty() {
                notes.push(format!(
                    "query `{}` ({promql}) on {} returned several series for {}; the first is used \
                     (aggregate with `sum by ({}) (…)`)",
                    metric.name(),
                    self.base,
                    result.duplicates.join(", "),
                    self.service_label
                ));
            }
            for w in &result.server_warnings {
                notes.push(format!(
                    "query `{}` on {}: the server warns: {w}",
                    metric.name(),
                    self.base
                ));
            }
            // Series of only NaN samples are as good as none.
            let empty = result
                .series
                .values()
                .all(|s| s.values.iter().all(|v| v.is_nan()));
            if empty {
                match absent {
                    // No 5xx series at all is what a healthy fleet looks like.
                    Absent::Zero => notes.push(format!(
                        "query `{}` ({promql}) on {} returned no series; read as 0 \
                         (absent = \"zero\"); if that is a typo, no rule on `{}` can fire",
                        metric.name(),
                        self.base,
                        metric.name()
                    )),
                    Absent::Gap if self.overridden(*metric) => {}
                    Absent::Gap => missing.push(NoData {
                        query: metric.name().to_string(),
                        reason: no_series_reason(
                            promql,
                            &self.base,
                            result.unlabelled,
                            &self.service_label,
                        ),
                    }),
                }
            }
            for n in notes {
                if self.warned.insert(n.clone()) {
                    self.warnings.push(n);
                }
            }
            if *absent == Absent::Zero {
                zero.push(*metric);
            }
            for (name, series) in result.series {
                services
                    .entry(name.clone())
                    .or_insert_with(|| ServiceMetrics::new(ServiceId(name)))
                    .set(*metric, series);
            }
        }
        let mut services: Vec<ServiceMetrics> = services.into_values().collect();
        for svc in &mut services {
            for m in &zero {
                super::read_absent_as_zero(svc, *m, grid.start, grid.step, grid.len);
            }
            if let Some(o) = self.overrides.iter().find(|o| o.name == svc.service.0) {
                super::apply_override(svc, o, grid.start, grid.step, grid.len);
            }
        }
        Ok(FleetSnapshot {
            services,
            at,
            stale: false,
            missing,
        })
    }

    /// Does `[[services]]` give this (limit) metric for some service?
    fn overridden(&self, metric: Metric) -> bool {
        self.overrides.iter().any(|o| match metric {
            Metric::MemoryLimit => o.memory_limit.is_some(),
            Metric::CpuLimit => o.cpu_limit.is_some(),
            _ => false,
        })
    }

    /// One query over the grid (several requests only past 10,000 points).
    async fn query(
        &self,
        metric: Metric,
        promql: &str,
        grid: &Grid,
    ) -> Result<QueryResult, SourceError> {
        let fail = |message: String| SourceError::Query {
            query: metric.name().to_string(),
            detail: promql.to_string(),
            server: self.base.clone(),
            message,
        };
        let mut result = QueryResult::default();
        let endpoint = format!("{}/api/v1/query_range", self.base);
        let mut url =
            reqwest::Url::parse(&endpoint).map_err(|e| fail(format!("bad URL {endpoint}: {e}")))?;
        for chunk in grid.chunks(MAX_POINTS_PER_REQUEST) {
            url.query_pairs_mut()
                .clear()
                .append_pair("query", promql)
                .append_pair("start", &http::unix_seconds(chunk.start))
                .append_pair("end", &http::unix_seconds(chunk.end()))
                .append_pair("step", &http::unix_seconds(chunk.step));
            let reply = http::send_with_retries(&self.policy, || {
                self.auth.apply(self.client.get(url.clone()))
            })
            .await
            .map_err(fail)?;
            // The allocation-free parser (`parse_query_range_into` here is its
            // reference), off the async workers so other answers keep arriving.
            let status = reply.status;
            let parsed;
            (result, parsed) = super::promql_json::parse_off_runtime(
                reply.body,
                *grid,
                self.service_label.clone(),
                result,
            )
            .await;
            if let Err(e) = parsed {
                return Err(fail(match status {
                    200 => e,
                    401 | 403 => format!(
                        "HTTP {status}: the server refused the credentials ({e}); check bearer_token_env or basic_auth_*_env"
                    ),
                    s => format!("HTTP {s}: {e}"),
                }));
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
