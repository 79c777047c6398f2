//! Alertmanager out: silences through API v2, so teammates see an incident
//! is being handled. `POST /api/v2/silences` creates, `DELETE
//! /api/v2/silence/{id}` expires, `GET /api/v2/silences` finds one medic
//! made before a crash (its comment names the incident).

use super::http::{self, Policy};
use crate::model::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// An Alertmanager's silence API.
#[derive(Debug, Clone)]
pub struct Silences {
    url: String,
    client: reqwest::Client,
    policy: Policy,
}

/// One label matcher of a silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Label value.
    pub value: String,
    /// Regex match (medic always matches exactly).
    pub is_regex: bool,
    /// `=` rather than `!=`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence as Alertmanager lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Its matchers.
    pub matchers: Vec<Matcher>,
    /// `active`, `pending` or `expired`.
    pub status: SilenceStatus,
}

/// A silence's state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SilenceStatus {
    /// `active`, `pending` or `expired`.
    pub state: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewSilence<'a> {
    matchers: &'a [Matcher],
    starts_at: String,
    ends_at: String,
    created_by: &'a str,
    comment: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

/// Exact matchers for a set of labels (Alertmanager wants at least one).
pub fn matchers(labels: &BTreeMap<String, String>) -> Vec<Matcher> {
    labels
        .iter()
        .map(|(k, v)| Matcher {
            name: k.clone(),
            value: v.clone(),
            is_regex: false,
            is_equal: true,
        })
        .collect()
}

impl Silences {
    /// A client for the Alertmanager at `url`.
    pub fn new(url: &str) -> Silences {
        let policy = Policy {
            timeout: Duration::from_secs(10),
            retries: 2,
            ..Policy::default()
        };
        Silences {
            url: url.trim_end_matches('/').to_string(),
            client: http::client(&policy),
            policy,
        }
    }

    /// Create a silence; returns its id.
    pub async fn create(
        &self,
        matchers: &[Matcher],
        comment: &str,
        starts: Millis,
        ends: Millis,
    ) -> Result<String, String> {
        if matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        let endpoint = format!("{}/api/v2/silences", self.url);
        let body = NewSilence {
            matchers,
            starts_at: crate::units::rfc3339(starts),
            ends_at: crate::units::rfc3339(ends),
            created_by: "medic",
            comment,
        };
        let reply =
            http::send_with_retries(&self.policy, || self.client.post(&endpoint).json(&body))
                .await
                .map_err(|e| format!("creating a silence at {endpoint}: {e}"))?;
        if reply.status != 200 {
            return Err(format!(
                "creating a silence at {endpoint}: HTTP {}: {}",
                reply.status,
                http::snippet(&reply.body, &reply.content_type)
            ));
        }
        serde_json::from_slice::<Created>(&reply.body)
            .map(|c| c.silence_id)
            .map_err(|e| format!("creating a silence at {endpoint}: unreadable answer: {e}"))
    }

    /// Expire a silence; one already expired or gone counts as done.
    pub async fn expire(&self, id: &str) -> Result<(), String> {
        let endpoint = format!("{}/api/v2/silence/{id}", self.url);
        let reply = http::send_with_retries(&self.policy, || self.client.delete(&endpoint))
            .await
            .map_err(|e| format!("expiring silence {id} at {endpoint}: {e}"))?;
        match reply.status {
            200 | 404 => Ok(()),
            // Alertmanager refuses to expire an already expired silence.
            500 if String::from_utf8_lossy(&reply.body).contains("already expired") => Ok(()),
            s => Err(format!(
                "expiring silence {id} at {endpoint}: HTTP {s}: {}",
                http::snippet(&reply.body, &reply.content_type)
            )),
        }
    }

    /// Every silence Alertmanager knows (active, pending and expired).
    pub async fn list(&self) -> Result<Vec<Silence>, String> {
        let endpoint = format!("{}/api/v2/silences", self.url);
        let reply = http::send_with_retries(&self.policy, || self.client.get(&endpoint))
            .await
            .map_err(|e| format!("listing silences at {endpoint}: {e}"))?;
        if reply.status != 200 {
            return Err(format!(
                "listing silences at {endpoint}: HTTP {}: {}",
                reply.status,
                http::snippet(&reply.body, &reply.content_type)
            ));
        }
        serde_json::from_slice(&reply.body)
            .map_err(|e| format!("listing silences at {endpoint}: unreadable answer: {e}"))
    }
}
