//! Railway's public GraphQL API v2: the services of one project environment,
//! their CPU and memory (`metrics`, one request for all services, grouped
//! by service) and their HTTP traffic (`httpMetricsGroupedByStatus`, one
//! field per service, batched with aliases into one request per 50).
//!
//! Units are converted at the edge: Railway reports memory in GB, medic
//! keeps bytes (×1e9, the decimal GB Railway shows), so Railway and
//! Prometheus print the same `31.2 GB / 32 GB (97%)`; HTTP counts per
//! bucket become requests per second.
//!
//! The query documents (`railway/queries.rs`) are checked against Railway's
//! published schema (`railway/schema.json`) by `build.rs` on every build,
//! and by the tests in `railway/schema_check.rs`.

mod logs;
mod queries;
#[cfg(test)]
mod schema_check;
mod status;

use super::http::{self, Auth, Policy};
use super::prometheus::Grid;
use super::{LastKnown, SourceError};
use crate::config::SourceConfig;
use crate::model::{FleetSnapshot, Metric, Millis, Series, ServiceId, ServiceMetrics};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub use queries::{http_query, METRICS_QUERY, SERVICES_QUERY};

/// How many services one HTTP-metrics request covers (aliases per document).
pub const HTTP_BATCH: usize = 50;

const GB: f64 = 1e9;
/// Re-read the service list this often; services come and go rarely.
const SERVICES_TTL: Millis = 5 * 60_000;

#[derive(Deserialize)]
struct GraphqlReply<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicesData {
    environment: EnvironmentNode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentNode {
    service_instances: Connection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    edges: Vec<Edge>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct Edge {
    node: ServiceInstance,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceInstance {
    service_id: String,
    service_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
struct MetricsData {
    metrics: Vec<MetricsResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsResult {
    measurement: String,
    tags: MetricTags,
    values: Vec<Sample>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricTags {
    service_id: Option<String>,
}

#[derive(Deserialize)]
struct Sample {
    ts: i64,
    value: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpByStatus {
    status_code: i64,
    samples: Vec<Sample>,
}

/// A Railway project environment as a metric source.
#[derive(Debug, Clone)]
pub struct Railway {
    url: String,
    project_id: String,
    environment_id: String,
    auth: Auth,
    policy: Policy,
    client: reqwest::Client,
    /// (when fetched, [(service id, name)]).
    services: Option<(Millis, Vec<(String, String)>)>,
    last: LastKnown,
    warnings: Vec<String>,
}

impl Railway {
    /// A source from `[source]`; the token is read from its env var now.
    pub fn from_config(cfg: &SourceConfig) -> Result<Railway, String> {
        let auth = match (&cfg.token_env, &cfg.project_token_env) {
            (Some(var), _) => Auth::Bearer(http::secret_from_env("source.token_env", var)?),
            (None, Some(var)) => Auth::Header {
                name: "Project-Access-Token",
                value: http::secret_from_env("source.project_token_env", var)?,
            },
            (None, None) => {
                return Err(
                    "source.token_env (or project_token_env) must name the env var holding a Railway token".into(),
                )
            }
        };
        let policy = Policy {
            timeout: Duration::from_millis(cfg.timeout.0 as u64),
            retries: cfg.retries,
            ..Policy::default()
        };
        Ok(Railway {
            url: cfg.url().to_string(),
            project_id: cfg.project_id.clone().unwrap_or_default(),
            environment_id: cfg.environment_id.clone().unwrap_or_default(),
            auth,
            client: http::client(&policy),
            policy,
            services: None,
            last: LastKnown::default(),
            warnings: Vec::new(),
        })
    }

    /// `project/environment at URL` for status lines.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.project_id, self.environment_id)
    }

    /// Override the retry policy (tests use short backoffs).
    pub fn set_policy(&mut self, policy: Policy) {
        self.client = http::client(&policy);
        self.policy = policy;
    }

    /// Warnings gathered since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Every service's metrics over `(now - lookback, now]`; stale
    /// last-known values when Railway fails after a first success.
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

    /// Every service's metrics on the grid from `start` to `end`.
    pub async fn range(
        &mut self,
        start: Millis,
        end: Millis,
        step: Millis,
    ) -> Result<FleetSnapshot, SourceError> {
        self.fetch(&Grid::range(start, end, step), end).await
    }

    async fn fetch(&mut self, grid: &Grid, at: Millis) -> Result<FleetSnapshot, SourceError> {
        let services = self.services(at).await?;
        let step_s = (grid.step / 1000).max(1);
        let start_date = rfc3339_millis(grid.start - grid.step);
        let end_date = rfc3339_millis(grid.end());
        let mut fleet: BTreeMap<String, ServiceMetrics> = services
            .iter()
            .map(|(id, name)| (id.clone(), ServiceMetrics::new(ServiceId(name.clone()))))
            .collect();

        let metrics: MetricsData = self
            .graphql(
                "metrics",
                METRICS_QUERY,
                json!({
                    "projectId": self.project_id,
                    "environmentId": self.environment_id,
                    "startDate": start_date,
                    "endDate": end_date,
                    "sampleRateSeconds": step_s,
                }),
            )
            .await?;
        for m in metrics.metrics {
            let (metric, scale) = match m.measurement.as_str() {
                "CPU_USAGE" => (Metric::Cpu, 1.0),
                "CPU_LIMIT" => (Metric::CpuLimit, 1.0),
                "MEMORY_USAGE_GB" => (Metric::Memory, GB),
                "MEMORY_LIMIT_GB" => (Metric::MemoryLimit, GB),
                _ => continue,
            };
            let Some(svc) = m.tags.service_id.and_then(|id| fleet.get_mut(&id)) else {
                continue;
            };
            let mut series = Series::absent(grid.start, grid.step, grid.len);
            for s in &m.values {
                if let Some(i) = grid.index(s.ts * 1000) {
                    series.values[i] = s.value * scale;
                }
            }
            svc.set(metric, series);
        }

        for batch in services.chunks(HTTP_BATCH) {
            let mut vars = json!({
                "environmentId": self.environment_id,
                "startDate": start_date,
                "endDate": end_date,
                "stepSeconds": step_s,
            });
            for (i, (id, _)) in batch.iter().enumerate() {
                vars[format!("s{i}")] = json!(id);
            }
            let data: BTreeMap<String, Vec<HttpByStatus>> = self
                .graphql("httpMetricsGroupedByStatus", &http_query(batch.len()), vars)
                .await?;
            for (i, (id, _)) in batch.iter().enumerate() {
                let (Some(groups), Some(svc)) = (data.get(&format!("s{i}")), fleet.get_mut(id))
                else {
                    continue;
                };
                let (requests, errors) = http_rates(groups, grid, step_s);
                svc.set(Metric::Requests, requests);
                svc.set(Metric::Errors, errors);
            }
        }
        let mut services: Vec<ServiceMetrics> = fleet.into_values().collect();
        services.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(FleetSnapshot {
            services,
            at,
            stale: false,
            missing: Vec::new(),
        })
    }

    /// The environment's services (cached for a few minutes).
    async fn services(&mut self, now: Millis) -> Result<Vec<(String, String)>, SourceError> {
        if let Some((at, list)) = &self.services {
            if now - at < SERVICES_TTL && now >= *at {
                return Ok(list.clone());
            }
        }
        let mut list = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page: ServicesData = self
                .graphql(
                    "services",
                    SERVICES_QUERY,
                    json!({ "environmentId": self.environment_id, "after": after }),
                )
                .await?;
            let conn = page.environment.service_instances;
            list.extend(
                conn.edges
                    .into_iter()
                    .map(|e| (e.node.service_id, e.node.service_name)),
            );
            match conn.page_info.end_cursor {
                Some(c) if conn.page_info.has_next_page && list.len() < 10_000 => after = Some(c),
                _ => break,
            }
        }
        self.services = Some((now, list.clone()));
        Ok(list)
    }

    /// POST one GraphQL document; errors name the query and the server.
    async fn graphql<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        document: &str,
        variables: serde_json::Value,
    ) -> Result<T, SourceError> {
        let fail = |message: String| SourceError::Query {
            query: name.to_string(),
            detail: "Railway GraphQL".to_string(),
            server: self.url.clone(),
            message,
        };
        let body = serde_json::to_vec(&json!({ "query": document, "variables": variables }))
            .map_err(|e| fail(e.to_string()))?;
        let reply = http::send_with_retries(&self.policy, || {
            self.auth.apply(
                self.client
                    .post(&self.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone()),
            )
        })
        .await
        .map_err(fail)?;
        parse_graphql(&reply).map_err(fail)
    }
}

/// Decode a GraphQL reply: HTTP errors, GraphQL `errors`, or `data`.
fn parse_graphql<T: serde::de::DeserializeOwned>(reply: &http::Reply) -> Result<T, String> {
    match reply.status {
        200 => {}
        401 | 403 => {
            return Err(format!(
                "HTTP {}: Railway refused the token; check the env var named by source.token_env \
                 (account/workspace token) or source.project_token_env (project token)",
                reply.status
            ))
        }
        429 => return Err("HTTP 429: rate limited by Railway, still after retries".to_string()),
        s if !reply.body.starts_with(b"{") => {
            return Err(format!(
                "HTTP {s}: {}",
                http::snippet(&reply.body, &reply.content_type)
            ))
        }
        _ => {}
    }
    let parsed: GraphqlReply<serde_json::Value> =
        serde_json::from_slice(&reply.body).map_err(|e| {
            if e.is_eof() {
                format!("the body ends early ({} bytes): {e}", reply.body.len())
            } else {
                format!(
                    "not a GraphQL answer (HTTP {}): {}",
                    reply.status,
                    http::snippet(&reply.body, &reply.content_type)
                )
            }
        })?;
    if !parsed.errors.is_empty() {
        let messages: Vec<&str> = parsed.errors.iter().map(|e| e.message.as_str()).collect();
        return Err(format!("Railway answered errors: {}", messages.join("; ")));
    }
    let data = parsed
        .data
        .filter(|d| !d.is_null())
        .ok_or_else(|| format!("HTTP {}: the answer has no `data`", reply.status))?;
    serde_path_to_error::deserialize(data)
        .map_err(|e| format!("unexpected shape at `data.{}`: {}", e.path(), e.inner()))
}

/// Requests/s and 5xx/s from per-bucket counts grouped by status code. A
/// bucket no status code reports is absent; one with traffic but no 5xx
/// has zero errors.
fn http_rates(groups: &[HttpByStatus], grid: &Grid, step_s: i64) -> (Series, Series) {
    let mut requests = Series::absent(grid.start, grid.step, grid.len);
    let mut errors = Series::absent(grid.start, grid.step, grid.len);
    for g in groups {
        let is_error = (500..=599).contains(&g.status_code);
        for s in &g.samples {
            let Some(i) = grid.index(s.ts * 1000) else {
                continue;
            };
            let rate = s.value / step_s as f64;
            let add = |slot: &mut f64, v: f64| *slot = if slot.is_nan() { v } else { *slot + v };
            add(&mut requests.values[i], rate);
            add(&mut errors.values[i], if is_error { rate } else { 0.0 });
        }
    }
    (requests, errors)
}

fn rfc3339_millis(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_counts_become_rates_with_zero_errors_when_traffic_is_clean() {
        let grid = Grid {
            start: 60_000,
            step: 60_000,
            len: 3,
        };
        let groups = vec![
            HttpByStatus {
                status_code: 200,
                samples: vec![
                    Sample {
                        ts: 60,
                        value: 600.0,
                    },
                    Sample {
                        ts: 120,
                        value: 1200.0,
                    },
                ],
            },
            HttpByStatus {
                status_code: 503,
                samples: vec![Sample {
                    ts: 120,
                    value: 60.0,
                }],
            },
        ];
        let (req, err) = http_rates(&groups, &grid, 60);
        assert_eq!(req.values[0], 10.0);
        assert_eq!(req.values[1], 21.0);
        assert!(req.values[2].is_nan());
        assert_eq!(err.values[0], 0.0);
        assert_eq!(err.values[1], 1.0);
        assert!(err.values[2].is_nan());
    }

    #[test]
    fn http_documents_alias_one_field_per_service() {
        let q = http_query(2);
        assert!(q.contains("$s1: String!"));
        assert!(q.contains("s1: httpMetricsGroupedByStatus(serviceId: $s1"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn reply(status: u16, body: Vec<u8>) -> http::Reply {
            http::Reply {
                status,
                content_type: "application/json".into(),
                body,
            }
        }

        fn metrics_body(values: &[(i64, f64)]) -> String {
            let points: Vec<String> = values
                .iter()
                .map(|(ts, v)| format!(r#"{{"ts":{ts},"value":{v:?}}}"#))
                .collect();
            format!(
                r#"{{"data":{{"metrics":[{{"measurement":"MEMORY_USAGE_GB","tags":{{"serviceId":"s"}},"values":[{}]}}]}}}}"#,
                points.join(",")
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn arbitrary_replies_never_panic(
                status in prop_oneof![Just(200u16), Just(401), Just(429), Just(500), 100u16..600],
                body in prop::collection::vec(any::<u8>(), 0..300),
            ) {
                let _ = parse_graphql::<MetricsData>(&reply(status, body));
            }

            #[test]
            fn truncated_metrics_are_errors_and_whole_ones_parse(
                values in prop::collection::vec((0i64..4_000_000_000, -1e9f64..1e9), 0..20),
                cut in 0.0f64..1.0,
            ) {
                let body = metrics_body(&values);
                let whole: MetricsData = parse_graphql(&reply(200, body.clone().into_bytes())).unwrap();
                prop_assert_eq!(whole.metrics[0].values.len(), values.len());
                let at = ((body.len() - 1) as f64 * cut) as usize;
                prop_assert!(parse_graphql::<MetricsData>(&reply(200, body.as_bytes()[..at].to_vec())).is_err());
            }
        }
    }
}
