//! Railway's logs and deploys for triage: the service's deployment live at
//! the window's end, its runtime logs (`deploymentLogs`) and its failed
//! requests (`httpLogs` filtered to 5xx), and recent deployments as deploys.

use super::queries::{DEPLOYMENTS_QUERY, DEPLOYMENT_LOGS_QUERY, HTTP_LOGS_QUERY, SERVICES_QUERY};
use super::{rfc3339_millis, Railway, ServicesData};
use crate::model::{Millis, ServiceId};
use crate::sources::demo::{Deploy, LogLine};
use crate::sources::SourceError;
use serde::Deserialize;
use serde_json::json;

/// Most runtime lines and failed requests read per window.
const LIMIT: i64 = 500;
/// Railway's log query syntax for failed requests (also checked client-side).
pub const HTTP_5XX_FILTER: &str = "@httpStatus:>=500";

#[derive(Deserialize)]
struct DeploymentsData {
    deployments: DeploymentConnection,
}

#[derive(Deserialize)]
struct DeploymentConnection {
    edges: Vec<DeploymentEdge>,
}

#[derive(Deserialize)]
struct DeploymentEdge {
    node: Deployment,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    id: String,
    status: String,
    created_at: String,
    #[serde(default)]
    meta: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsData {
    deployment_logs: Vec<RuntimeLog>,
}

#[derive(Deserialize)]
struct RuntimeLog {
    timestamp: String,
    message: String,
    #[serde(default)]
    severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpLogsData {
    http_logs: Vec<HttpLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpLog {
    timestamp: String,
    method: String,
    path: String,
    http_status: i64,
    #[serde(default)]
    total_duration: Option<i64>,
    #[serde(default)]
    upstream_errors: Option<String>,
}

/// A deployment's version in words: the commit (short) or the image, else its id.
fn version(d: &Deployment) -> String {
    let meta = d.meta.as_ref();
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(|v| v.as_str());
    match (field("commitHash"), field("image")) {
        (Some(c), _) => c.chars().take(7).collect(),
        (None, Some(i)) => i.to_string(),
        _ => d.id.chars().take(8).collect(),
    }
}

impl Railway {
    /// A service's id from its name: the cached list, else one page of it.
    async fn service_id(&self, name: &str) -> Result<Option<String>, SourceError> {
        let find = |list: &[(String, String)]| {
            list.iter()
                .find(|(_, n)| n == name)
                .map(|(id, _)| id.clone())
        };
        if let Some((_, list)) = &self.services {
            return Ok(find(list));
        }
        let page: ServicesData = self
            .graphql(
                "services",
                SERVICES_QUERY,
                json!({ "environmentId": self.environment_id, "after": null }),
            )
            .await?;
        let list: Vec<(String, String)> = page
            .environment
            .service_instances
            .edges
            .into_iter()
            .map(|e| (e.node.service_id, e.node.service_name))
            .collect();
        Ok(find(&list))
    }

    async fn deployments(&self, service_id: &str) -> Result<Vec<Deployment>, SourceError> {
        let input = json!({
            "projectId": self.project_id,
            "environmentId": self.environment_id,
            "serviceId": service_id,
        });
        let data: DeploymentsData = self
            .graphql(
                "deployments",
                DEPLOYMENTS_QUERY,
                json!({ "input": input, "first": 10 }),
            )
            .await?;
        let mut list: Vec<Deployment> =
            data.deployments.edges.into_iter().map(|e| e.node).collect();
        list.sort_by_key(|d| std::cmp::Reverse(crate::units::parse_rfc3339(&d.created_at)));
        Ok(list)
    }

    /// Runtime logs and failed requests of `service` in `[from, to)`, oldest first.
    pub async fn logs(
        &self,
        service: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<LogLine>, SourceError> {
        let Some(id) = self.service_id(service).await? else {
            return Ok(Vec::new());
        };
        // The deployment serving at the window's end: the newest created before it.
        let deployments = self.deployments(&id).await?;
        let live = deployments
            .iter()
            .filter(|d| d.status == "SUCCESS" || d.status == "SLEEPING" || d.status == "CRASHED")
            .find(|d| crate::units::parse_rfc3339(&d.created_at).is_some_and(|t| t <= to))
            .or_else(|| deployments.first());
        let Some(live) = live else {
            return Ok(Vec::new());
        };
        let svc = ServiceId(service.to_string());
        let mut lines = Vec::new();
        let runtime: LogsData = self
            .graphql(
                "deploymentLogs",
                DEPLOYMENT_LOGS_QUERY,
                json!({
                    "deploymentId": live.id,
                    "startDate": rfc3339_millis(from),
                    "endDate": rfc3339_millis(to),
                    "limit": LIMIT,
                }),
            )
            .await?;
        for l in runtime.deployment_logs {
            let Some(at) = crate::units::parse_rfc3339(&l.timestamp) else {
                continue;
            };
            let level = match l
                .severity
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("error" | "err" | "fatal" | "critical") => "ERROR",
                Some("warn" | "warning") => "WARN",
                _ => "INFO",
            };
            lines.push(LogLine {
                at,
                service: svc.clone(),
                level: level.into(),
                message: l.message,
            });
        }
        let failed: HttpLogsData = self
            .graphql(
                "httpLogs",
                HTTP_LOGS_QUERY,
                json!({
                    "deploymentId": live.id,
                    "filter": HTTP_5XX_FILTER,
                    "beforeDate": rfc3339_millis(to),
                    "beforeLimit": LIMIT,
                }),
            )
            .await?;
        for h in failed
            .http_logs
            .into_iter()
            .filter(|h| h.http_status >= 500)
        {
            let Some(at) =
                crate::units::parse_rfc3339(&h.timestamp).filter(|t| *t >= from && *t < to)
            else {
                continue;
            };
            let upstream = h
                .upstream_errors
                .filter(|u| !u.is_empty() && u != "[]")
                .map(|u| format!("; upstream errors: {u}"))
                .unwrap_or_default();
            lines.push(LogLine {
                at,
                service: svc.clone(),
                level: "ERROR".into(),
                message: format!(
                    "HTTP {} {} {} ({} ms){upstream}",
                    h.http_status,
                    h.method,
                    h.path,
                    h.total_duration.unwrap_or(0)
                ),
            });
        }
        lines.sort_by_key(|l| l.at);
        Ok(lines)
    }

    /// Recent deployments of the known services as deploys, newest first.
    pub async fn deploys(&self) -> Result<Vec<Deploy>, SourceError> {
        let services = match &self.services {
            Some((_, list)) => list.clone(),
            None => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        for (id, name) in services {
            let list = self.deployments(&id).await?;
            let done: Vec<&Deployment> = list
                .iter()
                .filter(|d| {
                    d.status == "SUCCESS"
                        || d.status == "CRASHED"
                        || d.status == "SLEEPING"
                        || d.status == "REMOVED"
                })
                .collect();
            for (i, d) in done.iter().enumerate() {
                let Some(at) = crate::units::parse_rfc3339(&d.created_at) else {
                    continue;
                };
                out.push(Deploy {
                    id: version(d),
                    service: ServiceId(name.clone()),
                    at,
                    version: version(d),
                    previous: done
                        .get(i + 1)
                        .map(|p| version(p))
                        .unwrap_or_else(|| "?".into()),
                    author: "railway".into(),
                    message: format!("deployment {} ({})", d.id, d.status.to_ascii_lowercase()),
                });
            }
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.at));
        Ok(out)
    }
}
