//! `[logs]`, `[[upstream]]` and `[[deploys]]`: triage's evidence besides
//! metrics, checked with the key path in every error.

use super::Config;
use serde::Deserialize;

/// `[[deploys]]`: one deploy medic is told about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The service deployed.
    pub service: String,
    /// The version (image tag, commit) deployed.
    pub version: String,
    /// When (RFC 3339).
    pub at: String,
    /// The version it replaced.
    #[serde(default)]
    pub previous: Option<String>,
    /// A stable id (defaults to the version).
    #[serde(default)]
    pub id: Option<String>,
    /// Who deployed.
    #[serde(default)]
    pub author: Option<String>,
    /// What changed.
    #[serde(default)]
    pub message: Option<String>,
}

impl Config {
    /// `[logs]`, `[[upstream]]`, `[[deploys]]`: URLs, auth pairs, timestamps.
    pub(super) fn validate_evidence(&self) -> Result<(), (String, String)> {
        let url = |key: String, u: &str| {
            if u.starts_with("http://") || u.starts_with("https://") {
                Ok(())
            } else {
                Err((key, format!("`{u}` is not an http:// or https:// URL")))
            }
        };
        if let Some(logs) = &self.logs {
            if logs.kind == "loki" {
                match &logs.url {
                    Some(u) => url("logs.url".into(), u)?,
                    None => return Err((
                        "logs.url".into(),
                        "required for kind = \"loki\": Loki's base URL, e.g. http://127.0.0.1:3100"
                            .into(),
                    )),
                }
            }
            if logs.basic_auth_user_env.is_some() != logs.basic_auth_password_env.is_some() {
                return Err((
                    "logs.basic_auth_user_env".into(),
                    "basic auth needs both basic_auth_user_env and basic_auth_password_env".into(),
                ));
            }
            if logs.bearer_token_env.is_some() && logs.basic_auth_user_env.is_some() {
                return Err((
                    "logs.bearer_token_env".into(),
                    "choose one of bearer_token_env and basic auth, not both".into(),
                ));
            }
            if logs.limit == 0 || logs.limit > 5000 {
                return Err(("logs.limit".into(), "must be between 1 and 5000".into()));
            }
        }
        for (i, u) in self.upstream.iter().enumerate() {
            url(format!("upstream[{i}].statuspage"), &u.statuspage)?;
            if u.name.trim().is_empty() {
                return Err((format!("upstream[{i}].name"), "must not be empty".into()));
            }
            if self.upstream[..i].iter().any(|o| o.name == u.name) {
                return Err((
                    format!("upstream[{i}].name"),
                    format!(
                        "an upstream named `{}` already exists; names must be unique",
                        u.name
                    ),
                ));
            }
        }
        for (i, d) in self.deploys.iter().enumerate() {
            if crate::units::parse_rfc3339(&d.at).is_none() {
                return Err((
                    format!("deploys[{i}].at"),
                    format!(
                        "`{}` is not an RFC 3339 time such as 2026-11-28T03:14:00Z",
                        d.at
                    ),
                ));
            }
            for (key, v) in [("service", &d.service), ("version", &d.version)] {
                if v.trim().is_empty() {
                    return Err((format!("deploys[{i}].{key}"), "must not be empty".into()));
                }
            }
        }
        Ok(())
    }
}
