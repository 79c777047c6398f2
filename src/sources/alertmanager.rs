//! Alertmanager in: a webhook receiver (`POST /webhook/alertmanager`,
//! payload version 4) that turns alerts into flags for the same triage as
//! medic's own. Alertmanager resends; the receiver is idempotent on the
//! alert's `fingerprint` and episode (`startsAt`) whatever `groupKey` it
//! comes in, `status: resolved` resolves, and a late resend of `firing`
//! after `resolved` changes nothing.
//!
//! It records and announces alerts; it never judges them (triage does).
//! Silences, the other direction, live in `sources::silences`.
//!
//! It stays bounded: a resolved alert is forgotten [`InboxLimits::resolved_ttl_ms`]
//! after medic saw it resolve, the inbox holds at most [`InboxLimits::max_alerts`]
//! (the oldest resolved go first, then the oldest firing, counted in
//! [`Inbox::dropped`]), and the listener caps connections and closes silent
//! ones (`sources::listener`).

use crate::model::{AlertState, Flag, Metric, ServiceId, Unit, Verdict};
use crate::sources::listener::{Guarded, Limits};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Largest webhook body accepted (Alertmanager's payloads are far smaller).
pub const MAX_BODY: usize = 1 << 20;
/// The path Alertmanager's `webhook_configs.url` must point at.
pub const PATH: &str = "/webhook/alertmanager";
/// Labels that name the service, in order of preference.
pub const SERVICE_LABELS: [&str; 4] = ["service", "job", "app", "container"];

/// Alertmanager's webhook body, version 4.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Always "4" for this format.
    pub version: String,
    /// Identifies the alert group; with `fingerprint`, the idempotency key.
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: String,
    /// The receiver's name in Alertmanager's config.
    pub receiver: String,
    /// Labels the group is grouped by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group shares.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the group shares.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's own URL.
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<Alert>,
}

/// One alert of a webhook.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels (`alertname`, `service`, …).
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    pub starts_at: String,
    /// When it ended; `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: String,
    /// Link to the rule's expression in the generator (Prometheus).
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    /// Alertmanager's identity of the alert (a hash of its labels).
    pub fingerprint: String,
}

/// An alert as medic keeps it, with the flag it became.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFlag {
    /// Alertmanager's fingerprint.
    pub fingerprint: String,
    /// The group it last came in.
    pub group_key: String,
    /// Its labels (the silence's matchers).
    pub labels: BTreeMap<String, String>,
    /// The flag triage sees.
    pub flag: Flag,
}

/// How much the inbox keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxLimits {
    /// Most alerts kept, firing and resolved together.
    pub max_alerts: usize,
    /// A resolved alert is forgotten this long after it resolved (ms).
    pub resolved_ttl_ms: i64,
}

impl Default for InboxLimits {
    fn default() -> Self {
        InboxLimits {
            max_alerts: 10_000,
            resolved_ttl_ms: 3_600_000,
        }
    }
}

/// Alerts received so far and a stream of changes (new alert, resolved).
#[derive(Debug, Clone)]
pub struct Inbox {
    /// Each alert with when medic recorded its current state (ms).
    alerts: Arc<Mutex<BTreeMap<String, (AlertFlag, crate::model::Millis)>>>,
    changes: broadcast::Sender<AlertFlag>,
    limits: InboxLimits,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox::with_limits(InboxLimits::default())
    }
}

/// Why a webhook was refused (the HTTP status says which kind).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not JSON at all: 400.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a version-4 webhook payload: 422.
    #[error("not an Alertmanager webhook payload (version 4): {0}")]
    Invalid(String),
}

impl Inbox {
    /// An empty inbox keeping within `limits`.
    pub fn with_limits(limits: InboxLimits) -> Inbox {
        Inbox {
            alerts: Arc::default(),
            changes: broadcast::channel(1024).0,
            limits,
            dropped: Arc::default(),
        }
    }

    /// How many alerts it holds now.
    pub fn len(&self) -> usize {
        self.alerts.lock().expect("inbox").len()
    }

    /// True when it holds no alert.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Alerts dropped because the inbox was full (not counting expired resolved ones).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every alert received, firing or resolved, as flags (newest state each).
    pub fn flags(&self) -> Vec<Flag> {
        self.alerts().into_iter().map(|a| a.flag).collect()
    }

    /// Every alert received with its labels.
    pub fn alerts(&self) -> Vec<AlertFlag> {
        self.alerts
            .lock()
            .expect("inbox")
            .values()
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// A stream of changes: each new alert, and each alert that resolves.
    /// Replays send nothing. Consumers that lag lose the oldest changes,
    /// never the state (`flags()` holds it).
    pub fn subscribe(&self) -> broadcast::Receiver<AlertFlag> {
        self.changes.subscribe()
    }

    /// Parse and record one webhook body; returns how many alerts changed state.
    pub fn accept(&self, body: &[u8]) -> Result<usize, Refusal> {
        self.accept_at(body, crate::sources::wall_now())
    }

    /// [`Inbox::accept`] at wall-clock time `now` (ms): resolved alerts
    /// older than the TTL are forgotten, and the size cap is kept.
    pub fn accept_at(&self, body: &[u8], now: crate::model::Millis) -> Result<usize, Refusal> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| Refusal::NotJson(e.to_string()))?;
        let hook: Webhook = serde_path_to_error::deserialize(value)
            .map_err(|e| Refusal::Invalid(format!("at `{}`: {}", e.path(), e.inner())))?;
        if hook.version != "4" {
            return Err(Refusal::Invalid(format!(
                "version `{}`; medic reads version 4",
                hook.version
            )));
        }
        let mut parsed = Vec::new();
        for (i, a) in hook.alerts.iter().enumerate() {
            parsed.push(to_flag(a).map_err(|e| Refusal::Invalid(format!("alerts[{i}]: {e}")))?);
        }
        let mut changed = 0;
        let mut alerts = self.alerts.lock().expect("inbox");
        for (a, flag) in hook.alerts.iter().zip(parsed) {
            // Same alert, same episode (startsAt): a resend is a replay, and a
            // late "firing" after "resolved" is stale. Neither changes anything.
            let known = alerts
                .get(&a.fingerprint)
                .filter(|(r, _)| r.flag.onset == flag.onset)
                .map(|(r, _)| r.flag.state);
            if known == Some(flag.state) || known == Some(AlertState::Resolved) {
                continue;
            }
            let record = AlertFlag {
                fingerprint: a.fingerprint.clone(),
                group_key: hook.group_key.clone(),
                labels: a.labels.clone(),
                flag,
            };
            alerts.insert(a.fingerprint.clone(), (record.clone(), now));
            changed += 1;
            // No subscriber is fine: the state is kept either way.
            let _ = self.changes.send(record);
        }
        let dropped = prune(&mut alerts, &self.limits, now);
        if dropped > 0 {
            self.dropped
                .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(changed)
    }
}

/// Forgets alerts that resolved (as medic saw it: its own clock, not the
/// sender's) more than the TTL ago, then the oldest (resolved first) beyond
/// the cap; returns how many were dropped for the cap.
fn prune(
    alerts: &mut BTreeMap<String, (AlertFlag, crate::model::Millis)>,
    limits: &InboxLimits,
    now: i64,
) -> usize {
    let expiry = now.saturating_sub(limits.resolved_ttl_ms);
    alerts.retain(|_, (a, seen)| !(a.flag.state == AlertState::Resolved && *seen < expiry));
    if alerts.len() <= limits.max_alerts {
        return 0;
    }
    // Down to 90% of the cap, so a full inbox is not sorted on every webhook.
    let excess = alerts.len() - (limits.max_alerts - limits.max_alerts / 10);
    let mut order: Vec<(bool, i64, String)> = alerts
        .iter()
        .map(|(k, (a, seen))| (a.flag.state != AlertState::Resolved, *seen, k.clone()))
        .collect();
    order.select_nth_unstable(excess - 1);
    for (_, _, k) in order.into_iter().take(excess) {
        alerts.remove(&k);
    }
    excess
}

/// The label that names medic's own rule for an alert, so the alert and
/// medic's flag for the same trouble share one incident.
pub const RULE_LABEL: &str = "medic_rule";

/// Turn one alert into a flag: service from a label, rule from `medic_rule`
/// when set, else `alertname`.
pub fn to_flag(a: &Alert) -> Result<Flag, String> {
    let state = match a.status.as_str() {
        "firing" => AlertState::Firing,
        "resolved" => AlertState::Resolved,
        other => return Err(format!("status `{other}` is neither firing nor resolved")),
    };
    if a.fingerprint.trim().is_empty() {
        return Err("empty fingerprint".into());
    }
    let alertname = a.labels.get("alertname").ok_or("no `alertname` label")?;
    let rule = a
        .labels
        .get(RULE_LABEL)
        .filter(|r| !r.trim().is_empty())
        .unwrap_or(alertname)
        .clone();
    let service = SERVICE_LABELS
        .iter()
        .find_map(|l| a.labels.get(*l))
        .ok_or_else(|| format!("no label naming the service (one of {SERVICE_LABELS:?})"))?
        .clone();
    let starts = crate::units::parse_rfc3339(&a.starts_at)
        .ok_or_else(|| format!("startsAt `{}` is not an RFC 3339 time", a.starts_at))?;
    let ends = crate::units::parse_rfc3339(&a.ends_at).filter(|t| *t > 0);
    let metric = guess_metric(alertname, &a.labels);
    let value = a
        .annotations
        .get("value")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let summary = ["summary", "description", "message"]
        .iter()
        .find_map(|k| a.annotations.get(*k))
        .cloned()
        .unwrap_or_else(|| format!("{alertname} is {}", a.status));
    Ok(Flag {
        service: ServiceId(service),
        rule,
        metric,
        state,
        value,
        threshold: f64::NAN,
        op: ">".into(),
        unit: if value.is_finite() && value <= 1.0 {
            Unit::Ratio
        } else {
            metric.unit()
        },
        since: match state {
            AlertState::Resolved => ends.unwrap_or(starts),
            _ => starts,
        },
        onset: starts,
        verdict: Verdict::Actionable,
        reason: format!("Alertmanager: {summary}"),
        eta_seconds: None,
    })
}

/// Which of medic's metrics an alert is about, from its name and labels.
fn guess_metric(rule: &str, labels: &BTreeMap<String, String>) -> Metric {
    let text = format!(
        "{rule} {}",
        labels.get("metric").map(String::as_str).unwrap_or("")
    )
    .to_ascii_lowercase();
    if text.contains("mem") || text.contains("oom") {
        Metric::Memory
    } else if text.contains("cpu") || text.contains("throttl") {
        Metric::Cpu
    } else if text.contains("latency") || text.contains("traffic") || text.contains("request") {
        Metric::Requests
    } else {
        Metric::Errors
    }
}

#[derive(Clone)]
struct Receiver {
    inbox: Inbox,
    token: Option<Arc<str>>,
}

/// The receiver's routes: `POST /webhook/alertmanager` with a body limit;
/// `token` (when set) must come as `Authorization: Bearer <token>`.
pub fn router(inbox: Inbox, token: Option<String>, max_body: usize) -> Router {
    Router::new()
        .route(PATH, post(webhook))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Receiver {
            inbox,
            token: token.map(Arc::from),
        })
}

/// Serve the receiver on `listener` until the task is dropped, with the
/// default connection limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    inbox: Inbox,
    token: Option<String>,
) -> std::io::Result<()> {
    serve_with(listener, inbox, token, Limits::default()).await
}

/// [`serve`] with these connection limits (cap, idle and lifetime timeouts).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    inbox: Inbox,
    token: Option<String>,
    limits: Limits,
) -> std::io::Result<()> {
    axum::serve(
        Guarded::new(listener, limits),
        router(inbox, token, MAX_BODY),
    )
    .await
}

/// The warning to give when the receiver listens beyond loopback without a
/// token: anyone who reaches it can make alerts (and so incidents).
pub fn exposure_warning(addr: std::net::SocketAddr, has_token: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !has_token).then(|| {
        format!(
            "the Alertmanager webhook listens on {addr}, beyond loopback, without a token: anyone who can \
             reach it can inject alerts. Set [alertmanager] token_env (and the same bearer token in \
             Alertmanager's http_config), or listen on 127.0.0.1"
        )
    })
}

/// Compare without stopping at the first difference (token guessing by timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn webhook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &r.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "missing or wrong bearer token\n",
            )
                .into_response();
        }
    }
    match r.inbox.accept(&body) {
        Ok(changed) => {
            (StatusCode::OK, format!("ok: {changed} alert(s) changed\n")).into_response()
        }
        Err(e @ Refusal::NotJson(_)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e @ Refusal::Invalid(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(labels: &[(&str, &str)]) -> Alert {
        Alert {
            status: "firing".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: "2026-11-28T12:00:00Z".into(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: "f1".into(),
        }
    }

    #[test]
    fn medic_rule_label_names_the_rule_for_dedup() {
        let a = alert(&[
            ("alertname", "ApiMemoryNearLimit"),
            ("service", "api"),
            (RULE_LABEL, "memory-near-limit"),
        ]);
        let f = to_flag(&a).unwrap();
        assert_eq!(f.rule, "memory-near-limit");
        assert_eq!(f.metric, Metric::Memory, "guessed from the alert's name");
        assert!(
            f.reason.contains("ApiMemoryNearLimit is firing"),
            "{}",
            f.reason
        );
    }

    #[test]
    fn without_it_the_alertname_is_the_rule() {
        let a = alert(&[("alertname", "CheckoutErrors"), ("service", "checkout")]);
        let f = to_flag(&a).unwrap();
        assert_eq!(f.rule, "CheckoutErrors");
        assert_eq!(f.metric, Metric::Errors);
        let blank = alert(&[("alertname", "X"), ("service", "s"), (RULE_LABEL, " ")]);
        assert_eq!(to_flag(&blank).unwrap().rule, "X");
    }
}
