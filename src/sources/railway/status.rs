//! Railway's `platformStatus` as an upstream for triage: when Railway itself
//! reports an incident or maintenance, every service on it may suffer, and
//! an error spike overlapping it is someone else's outage first.

use super::queries::PLATFORM_STATUS_QUERY;
use super::Railway;
use crate::model::Millis;
use crate::sources::demo::{UpstreamIncident, UpstreamStatus};
use crate::sources::SourceError;
use serde::Deserialize;
use serde_json::json;

/// Where Railway publishes its status for people.
const STATUS_PAGE: &str = "https://status.railway.com";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusData {
    platform_status: PlatformStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlatformStatus {
    is_stable: bool,
    incident: Option<Incident>,
    maintenance: Option<Maintenance>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Incident {
    message: String,
    status: String,
    url: String,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct Maintenance {
    message: String,
    status: String,
    url: String,
    start: String,
}

impl Railway {
    /// Railway's platform status now, as an upstream every service uses.
    pub async fn platform_status(&self, now: Millis) -> Result<UpstreamStatus, SourceError> {
        let data: StatusData = self
            .graphql("platform status", PLATFORM_STATUS_QUERY, json!({}))
            .await?;
        Ok(to_upstream(data.platform_status, now))
    }
}

fn to_upstream(s: PlatformStatus, now: Millis) -> UpstreamStatus {
    let mut incidents = Vec::new();
    let mut url = STATUS_PAGE.to_string();
    if let Some(i) = s.incident.filter(|i| i.status != "RESOLVED") {
        url = i.url.clone();
        incidents.push(UpstreamIncident {
            name: i.message,
            status: i.status.to_ascii_lowercase(),
            impact: if s.is_stable { "minor" } else { "major" }.into(),
            // Without a start time the incident is taken as open since now.
            started_at: i
                .created_at
                .as_deref()
                .and_then(crate::units::parse_rfc3339)
                .unwrap_or(now),
        });
    }
    if let Some(m) = s.maintenance.filter(|m| m.status == "INPROGRESS") {
        if incidents.is_empty() {
            url = m.url.clone();
        }
        incidents.push(UpstreamIncident {
            name: format!("maintenance: {}", m.message),
            status: "in progress".into(),
            impact: "maintenance".into(),
            started_at: crate::units::parse_rfc3339(&m.start).unwrap_or(now),
        });
    }
    let (indicator, description) = match (s.is_stable, incidents.is_empty()) {
        (true, true) => ("none", "All systems operational".to_string()),
        (false, true) => ("minor", "Railway reports the platform unstable".to_string()),
        (stable, false) => (
            if stable { "minor" } else { "major" },
            incidents
                .iter()
                .map(|i| i.name.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    UpstreamStatus {
        name: "railway".into(),
        url,
        indicator: indicator.into(),
        description,
        incidents,
        // The platform hosts every service.
        used_by: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> UpstreamStatus {
        let s: PlatformStatus = serde_json::from_value(v).unwrap();
        to_upstream(s, 1_000)
    }

    #[test]
    fn stable_is_operational() {
        let u = parse(json!({"isStable": true, "incident": null, "maintenance": null}));
        assert_eq!(u.indicator, "none");
        assert!(u.incidents.is_empty());
        assert!(u.used_by.is_empty(), "every service");
    }

    #[test]
    fn an_open_incident_is_major_with_its_start() {
        let u = parse(json!({"isStable": false, "incident": {"id": "i1",
            "message": "Elevated 5xx in us-west2", "status": "INVESTIGATING",
            "url": "https://status.railway.com/incident/i1", "createdAt": "2026-12-03T10:00:00Z"},
            "maintenance": null}));
        assert_eq!(u.indicator, "major");
        assert_eq!(u.url, "https://status.railway.com/incident/i1");
        assert_eq!(u.incidents[0].status, "investigating");
        assert_eq!(
            u.incidents[0].started_at,
            crate::units::parse_rfc3339("2026-12-03T10:00:00Z").unwrap()
        );
    }

    #[test]
    fn resolved_incidents_and_future_maintenance_do_not_count() {
        let u = parse(
            json!({"isStable": true, "incident": {"id": "i1", "message": "x",
            "status": "RESOLVED", "url": "u", "createdAt": null},
            "maintenance": {"id": "m", "message": "db upgrade", "status": "NOTSTARTEDYET",
            "url": "u", "start": "2026-12-04T10:00:00Z"}}),
        );
        assert_eq!(u.indicator, "none");
        assert!(u.incidents.is_empty());
    }

    #[test]
    fn maintenance_in_progress_is_listed() {
        let u = parse(json!({"isStable": true, "incident": null,
            "maintenance": {"id": "m", "message": "db upgrade", "status": "INPROGRESS",
            "url": "https://status.railway.com/m", "start": "2026-12-03T10:00:00Z"}}));
        assert_eq!(u.indicator, "minor");
        assert_eq!(u.incidents[0].name, "maintenance: db upgrade");
    }
}
