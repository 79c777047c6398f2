//! Atlassian Statuspage v2: an upstream provider's own word on its health,
//! from `GET {page}/api/v2/summary.json`.
//!
//! It fetches and parses; whether an incident overlaps a flag's onset is
//! for `triage::context` to decide.

use super::demo::{UpstreamIncident, UpstreamStatus};
use super::http::{self, Policy};
use crate::config::UpstreamConfig;
use crate::model::ServiceId;
use serde::Deserialize;
use std::time::Duration;

/// One provider's status page.
#[derive(Debug, Clone)]
pub struct Statuspage {
    name: String,
    url: String,
    used_by: Vec<ServiceId>,
    client: reqwest::Client,
    policy: Policy,
}

#[derive(Deserialize)]
struct Summary {
    status: Indicator,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    incidents: Vec<Incident>,
}

#[derive(Deserialize)]
struct Indicator {
    indicator: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct Component {
    name: String,
    status: String,
    #[serde(default)]
    group: bool,
}

#[derive(Deserialize)]
struct Incident {
    name: String,
    status: String,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
}

impl Statuspage {
    /// A status page from one `[[upstream]]` entry.
    pub fn from_config(cfg: &UpstreamConfig) -> Statuspage {
        let policy = Policy {
            timeout: Duration::from_secs(5),
            retries: 1,
            ..Policy::default()
        };
        Statuspage {
            name: cfg.name.clone(),
            url: cfg.statuspage.trim_end_matches('/').to_string(),
            used_by: cfg.used_by.iter().cloned().map(ServiceId).collect(),
            client: http::client(&policy),
            policy,
        }
    }

    /// Override the retry policy (tests use short timeouts).
    pub fn set_policy(&mut self, policy: Policy) {
        self.client = http::client(&policy);
        self.policy = policy;
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider's status now (an empty `used_by` means every service).
    pub async fn status(&self) -> Result<UpstreamStatus, String> {
        let endpoint = format!("{}/api/v2/summary.json", self.url);
        let reply = http::send_with_retries(&self.policy, || self.client.get(&endpoint))
            .await
            .map_err(|e| format!("status page of {} at {endpoint}: {e}", self.name))?;
        if reply.status != 200 {
            return Err(format!(
                "status page of {} at {endpoint}: HTTP {}: {}",
                self.name,
                reply.status,
                http::snippet(&reply.body, &reply.content_type)
            ));
        }
        parse_summary(&self.name, &self.url, self.used_by.clone(), &reply.body)
            .map_err(|e| format!("status page of {} at {endpoint}: {e}", self.name))
    }
}

/// Parse `summary.json`: the indicator, degraded components in the
/// description, and the incidents not yet resolved.
pub fn parse_summary(
    name: &str,
    url: &str,
    used_by: Vec<ServiceId>,
    body: &[u8],
) -> Result<UpstreamStatus, String> {
    let s: Summary = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not a Statuspage v2 summary ({e}): {}",
            http::snippet(body, "")
        )
    })?;
    let degraded: Vec<String> = s
        .components
        .iter()
        .filter(|c| !c.group && c.status != "operational")
        .map(|c| format!("{} {}", c.name, c.status.replace('_', " ")))
        .collect();
    let mut description = s.status.description;
    if !degraded.is_empty() {
        description = format!("{description}; {}", degraded.join(", "));
    }
    let mut incidents = Vec::new();
    for i in s.incidents {
        if matches!(i.status.as_str(), "resolved" | "postmortem" | "completed") {
            continue;
        }
        let when = i.started_at.as_deref().or(i.created_at.as_deref());
        let started_at = when.and_then(crate::units::parse_rfc3339).ok_or_else(|| {
            format!(
                "incident `{}` has no readable started_at/created_at ({when:?})",
                i.name
            )
        })?;
        incidents.push(UpstreamIncident {
            name: i.name,
            status: i.status,
            impact: i.impact.unwrap_or_else(|| "unknown".into()),
            started_at,
        });
    }
    incidents.sort_by_key(|i| i.started_at);
    Ok(UpstreamStatus {
        name: name.to_string(),
        url: url.to_string(),
        indicator: s.status.indicator,
        description,
        incidents,
        used_by,
    })
}
