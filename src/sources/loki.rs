//! Loki: log lines around a flag's onset through LogQL `query_range`.
//!
//! It fetches and parses; folding and judging belong to `triage::context`.
//! Errors name the server and what it said, so the evidence can say
//! "logs unavailable: loki at URL: …" and triage goes on.

use super::demo::LogLine;
use super::http::{self, Auth, Policy};
use crate::config::LogsConfig;
use crate::model::{Millis, ServiceId};
use serde::Deserialize;
use std::time::Duration;

/// The query used when `[logs] query` is not set.
pub const DEFAULT_QUERY: &str = r#"{service="$service"}"#;

/// A Loki server and the LogQL that selects one service's lines.
#[derive(Debug, Clone)]
pub struct Loki {
    url: String,
    query: String,
    limit: u32,
    auth: Auth,
    client: reqwest::Client,
    policy: Policy,
}

/// `query_range`'s envelope (only what medic reads).
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    stream: std::collections::BTreeMap<String, String>,
    values: Vec<Entry>,
}

/// `["<unix ns as a string>", "<line>"]`, sometimes with a third element
/// (structured metadata) that medic ignores.
#[derive(Deserialize)]
struct Entry(String, String, #[serde(default)] serde::de::IgnoredAny);

impl Loki {
    /// A log source from `[logs]`; secrets are read from their env vars now.
    pub fn from_config(cfg: &LogsConfig) -> Result<Loki, String> {
        let url = cfg
            .url
            .clone()
            .ok_or("logs.url is required for kind = \"loki\"")?;
        let auth = match (
            &cfg.bearer_token_env,
            &cfg.basic_auth_user_env,
            &cfg.basic_auth_password_env,
        ) {
            (Some(var), _, _) => Auth::Bearer(http::secret_from_env("logs.bearer_token_env", var)?),
            (None, Some(u), Some(p)) => Auth::Basic {
                user: http::secret_from_env("logs.basic_auth_user_env", u)?,
                password: http::secret_from_env("logs.basic_auth_password_env", p)?,
            },
            _ => Auth::None,
        };
        let policy = Policy {
            timeout: Duration::from_secs(10),
            retries: 1,
            ..Policy::default()
        };
        Ok(Loki {
            url: url.trim_end_matches('/').to_string(),
            query: cfg.query.clone().unwrap_or_else(|| DEFAULT_QUERY.into()),
            limit: cfg.limit,
            auth,
            client: http::client(&policy),
            policy,
        })
    }

    /// Override the retry policy (tests use short timeouts).
    pub fn set_policy(&mut self, policy: Policy) {
        self.client = http::client(&policy);
        self.policy = policy;
    }

    /// `loki at URL`, for evidence gaps and status lines.
    pub fn describe(&self) -> String {
        format!("loki at {}", self.url)
    }

    /// The LogQL for one service: `$service` replaced, quoted safely.
    pub fn query_for(&self, service: &str) -> String {
        let escaped = service.replace('\\', "\\\\").replace('"', "\\\"");
        self.query.replace("$service", &escaped)
    }

    /// Lines of `service` in `[from, to)`, oldest first.
    pub async fn logs(
        &self,
        service: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<LogLine>, String> {
        let endpoint = format!("{}/loki/api/v1/query_range", self.url);
        let query = self.query_for(service);
        let mut url =
            reqwest::Url::parse(&endpoint).map_err(|e| format!("bad URL {endpoint}: {e}"))?;
        url.query_pairs_mut()
            .append_pair("query", &query)
            .append_pair("start", &(from as i128 * 1_000_000).to_string())
            .append_pair("end", &(to as i128 * 1_000_000).to_string())
            .append_pair("direction", "forward")
            .append_pair("limit", &self.limit.to_string());
        let reply = http::send_with_retries(&self.policy, || {
            self.auth.apply(self.client.get(url.clone()))
        })
        .await
        .map_err(|e| format!("query `{query}`: {e}"))?;
        if reply.status != 200 {
            return Err(format!(
                "query `{query}`: HTTP {}: {}",
                reply.status,
                http::snippet(&reply.body, &reply.content_type)
            ));
        }
        parse_query_range(&reply.body, service).map_err(|e| format!("query `{query}`: {e}"))
    }
}

/// Parse a `query_range` answer of type `streams` into log lines, oldest first.
pub fn parse_query_range(body: &[u8], service: &str) -> Result<Vec<LogLine>, String> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not a Loki query_range answer ({e}): {}",
            http::snippet(body, "")
        )
    })?;
    if env.status != "success" {
        return Err(format!(
            "Loki answered status `{}`: {}",
            env.status,
            env.error.unwrap_or_default()
        ));
    }
    let data = env.data.ok_or("Loki answered success without `data`")?;
    if data.result_type != "streams" {
        return Err(format!(
            "expected resultType `streams`, got `{}`: the query must select log lines, not a metric",
            data.result_type
        ));
    }
    let mut lines = Vec::new();
    for stream in data.result {
        let label_level = ["level", "detected_level", "severity"]
            .iter()
            .find_map(|k| stream.stream.get(*k))
            .map(|l| normal_level(l));
        for Entry(ns, line, _) in stream.values {
            let ns: i128 = ns
                .parse()
                .map_err(|_| format!("timestamp `{ns}` is not nanoseconds since the epoch"))?;
            lines.push(LogLine {
                at: (ns / 1_000_000) as Millis,
                service: ServiceId(service.to_string()),
                level: label_level.clone().unwrap_or_else(|| level_of(&line)),
                message: line,
            });
        }
    }
    lines.sort_by_key(|l| l.at);
    Ok(lines)
}

/// `error`, `err`, `E` → `ERROR`; `warning` → `WARN`; anything else `INFO`.
fn normal_level(l: &str) -> String {
    match l.to_ascii_lowercase().as_str() {
        "error" | "err" | "e" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg" => {
            "ERROR".into()
        }
        "warn" | "warning" | "w" => "WARN".into(),
        _ => "INFO".into(),
    }
}

/// The level a line announces (`level=error`, `"level":"warn"`, `ERROR …`).
fn level_of(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .collect();
    if words
        .iter()
        .any(|w| matches!(*w, "error" | "err" | "fatal" | "panic" | "critical"))
    {
        "ERROR".into()
    } else if words.iter().any(|w| matches!(*w, "warn" | "warning")) {
        "WARN".into()
    } else {
        "INFO".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_from_labels_or_text() {
        assert_eq!(normal_level("warning"), "WARN");
        assert_eq!(level_of(r#"{"level":"error","msg":"boom"}"#), "ERROR");
        assert_eq!(level_of("level=warn msg=slow"), "WARN");
        assert_eq!(level_of("GET /errors-page 200"), "INFO");
    }

    #[test]
    fn service_names_are_quoted_safely() {
        let mut cfg: LogsConfig = toml::from_str("kind = \"loki\"\nurl = \"http://x\"").unwrap();
        cfg.query = None;
        let loki = Loki::from_config(&cfg).unwrap();
        assert_eq!(loki.query_for("a\"b"), r#"{service="a\"b"}"#);
    }
}
