//! The TOML config file: every key optional, defaults for all, and errors
//! that name the file, the line and the key path (with a "did you mean").
//!
//! Values are checked while they are read (durations, operators,
//! expressions, fractions), so every error carries its position in the file.

use crate::detect::expr::Expr;
use crate::detect::rules::{Op, Rule, RuleKind};
use crate::model::Millis;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};

mod bounds;
mod evidence;
mod presets;
mod queries;
pub use bounds::{HttpConfig, MitigateConfig, DEFAULT_MAX_BODY_BYTES};
pub use evidence::DeployConfig;
pub use presets::{Ingredient, Namespaces, Preset, PresetInputs};
pub use queries::{Absent, Bytes, Query, ServiceConfig};

/// Everything medic can be told in its config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where metrics come from.
    pub source: SourceConfig,
    /// Alerting rules; absent means the defaults (CPU, memory, error rate).
    pub rules: Option<Vec<RuleConfig>>,
    /// Where logs come from.
    pub logs: Option<LogsConfig>,
    /// Upstream providers whose status pages medic checks.
    pub upstream: Vec<UpstreamConfig>,
    /// Deploys medic cannot learn from the source (a list kept by CI, say).
    pub deploys: Vec<DeployConfig>,
    /// The LLM that writes plans.
    pub llm: LlmConfig,
    /// The coding agent that carries out plans.
    pub agent: AgentConfig,
    /// Where pull requests are opened.
    pub forge: ForgeConfig,
    /// Alertmanager webhook receiver and silences.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// What the metrics do not say about a service (limits set elsewhere).
    pub services: Vec<ServiceConfig>,
    /// Limits on what medic reads from servers.
    pub http: HttpConfig,
    /// How a merged change is watched through.
    pub watch: WatchConfig,
}

/// `[watch]`: after the pull request merges.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// How long after the merge the change counts as live (the deploy
    /// pipeline's usual time); the plan's hold-down starts after it.
    pub live_after: Duration,
}

/// Which kind of metric source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The embedded, simulated fleet.
    Demo,
    /// Prometheus or anything speaking its HTTP API (VictoriaMetrics, Thanos, Mimir).
    #[default]
    Prometheus,
    /// Railway's GraphQL API.
    Railway,
}

/// `[source]`: where metrics come from and how to query them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// demo | prometheus | railway.
    pub kind: SourceKind,
    /// Base URL of the Prometheus-compatible API, or Railway's GraphQL
    /// endpoint; unset means the kind's default (see [`SourceConfig::url`]).
    #[serde(rename = "url")]
    pub url_override: Option<String>,
    /// The label that names a service in every query result.
    pub service_label: String,
    /// Resolution of the series medic reads.
    pub step: Duration,
    /// How much history each refresh reads.
    pub lookback: Duration,
    /// Name of the env var holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// Name of the env var holding the HTTP basic-auth user.
    pub basic_auth_user_env: Option<String>,
    /// Name of the env var holding the HTTP basic-auth password.
    pub basic_auth_password_env: Option<String>,
    /// How long one HTTP request may take before it is abandoned.
    pub timeout: Duration,
    /// How many times a failed request is retried (with backoff and jitter).
    pub retries: u32,
    /// PromQL per metric; each returns one series per service. A metric
    /// not set here gets the preset's query.
    pub queries: QueriesConfig,
    /// Which exporters the default queries expect: plain | cadvisor | kubernetes.
    pub preset: Preset,
    /// Namespaces the default queries include or exclude.
    pub namespaces: Namespaces,
    /// The HTTP request counter the default `requests` and `errors` read.
    pub request_metric: String,
    /// The status-code label of `request_metric`.
    pub status_label: String,
    /// Railway: the project whose services medic watches.
    pub project_id: Option<String>,
    /// Railway: the environment (production, staging…) within the project.
    pub environment_id: Option<String>,
    /// Railway: name of the env var holding an account or workspace token
    /// (sent as `Authorization: Bearer`).
    pub token_env: Option<String>,
    /// Railway: name of the env var holding a project token
    /// (sent as `Project-Access-Token`).
    pub project_token_env: Option<String>,
}

/// Railway's public GraphQL endpoint.
pub const RAILWAY_URL: &str = "https://backboard.railway.com/graphql/v2";

/// Where Prometheus listens unless told otherwise.
pub const PROMETHEUS_URL: &str = "http://127.0.0.1:9090";

impl SourceConfig {
    /// The endpoint to query: `url` if set, else the kind's default.
    pub fn url(&self) -> &str {
        match (&self.url_override, self.kind) {
            (Some(u), _) => u,
            (None, SourceKind::Railway) => RAILWAY_URL,
            (None, _) => PROMETHEUS_URL,
        }
    }

    /// What the preset builds its queries from.
    pub fn preset_inputs(&self) -> PresetInputs<'_> {
        PresetInputs {
            preset: self.preset,
            service_label: &self.service_label,
            namespaces: &self.namespaces,
            request_metric: &self.request_metric,
            status_label: &self.status_label,
        }
    }

    /// Every metric's query: `[source.queries]` where set, else the preset's.
    pub fn queries(&self) -> [(crate::model::Metric, Query); 6] {
        let inputs = self.preset_inputs();
        self.queries.all().map(|(m, q)| {
            (
                m,
                q.cloned()
                    .unwrap_or_else(|| Query::from(inputs.query(m).as_str())),
            )
        })
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Prometheus,
            url_override: None,
            service_label: "service".into(),
            step: Duration(15_000),
            lookback: Duration(3_600_000),
            bearer_token_env: None,
            basic_auth_user_env: None,
            basic_auth_password_env: None,
            timeout: Duration(10_000),
            retries: 2,
            queries: QueriesConfig::default(),
            preset: Preset::Plain,
            namespaces: Namespaces::default(),
            request_metric: "http_requests_total".into(),
            status_label: "code".into(),
            project_id: None,
            environment_id: None,
            token_env: None,
            project_token_env: None,
        }
    }
}

/// `[source.queries]`: one PromQL query per metric (see [`Query`] for how
/// an absent sample reads); an unset metric gets `[source] preset`'s query
/// (see [`SourceConfig::queries`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueriesConfig {
    /// CPU used, cores.
    pub cpu: Option<Query>,
    /// CPU limit, cores.
    pub cpu_limit: Option<Query>,
    /// Memory working set, bytes.
    pub memory: Option<Query>,
    /// Memory limit, bytes.
    pub memory_limit: Option<Query>,
    /// Requests per second.
    pub requests: Option<Query>,
    /// 5xx responses per second.
    pub errors: Option<Query>,
}

impl QueriesConfig {
    /// Every query as written (unset: `None`), in [`crate::model::Metric::ALL`] order.
    pub fn all(&self) -> [(crate::model::Metric, Option<&Query>); 6] {
        use crate::model::Metric;
        [
            (Metric::Cpu, self.cpu.as_ref()),
            (Metric::CpuLimit, self.cpu_limit.as_ref()),
            (Metric::Memory, self.memory.as_ref()),
            (Metric::MemoryLimit, self.memory_limit.as_ref()),
            (Metric::Requests, self.requests.as_ref()),
            (Metric::Errors, self.errors.as_ref()),
        ]
    }
}

/// `[[rules]]`: one alerting rule as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name shown everywhere.
    pub name: String,
    /// threshold | anomaly.
    #[serde(default)]
    pub kind: RuleKind,
    /// Arithmetic over metric names, e.g. `memory / memory_limit`.
    pub expr: ExprText,
    /// `>`, `>=`, `<`, `<=`.
    #[serde(default = "default_op")]
    pub op: Op,
    /// What the expression is compared with.
    pub threshold: f64,
    /// How long the condition must hold.
    #[serde(default, rename = "for")]
    pub for_: Duration,
    /// How long to keep firing once the condition clears.
    #[serde(default)]
    pub keep_firing_for: Duration,
    /// Fraction of the window's samples that must breach (0 < f ≤ 1).
    #[serde(default)]
    pub min_fraction: Fraction,
    /// Ignore samples with less traffic than this (req/s).
    #[serde(default)]
    pub min_requests: f64,
}

fn default_op() -> Op {
    Op::Gt
}

/// `[logs]`: where logs come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// loki | railway | demo.
    pub kind: String,
    /// Base URL (Loki).
    #[serde(default)]
    pub url: Option<String>,
    /// LogQL with `$service` substituted.
    #[serde(default)]
    pub query: Option<String>,
    /// Name of the env var holding a bearer token for the log source.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Name of the env var holding the basic-auth user (Grafana Cloud).
    #[serde(default)]
    pub basic_auth_user_env: Option<String>,
    /// Name of the env var holding the basic-auth password.
    #[serde(default)]
    pub basic_auth_password_env: Option<String>,
    /// Most lines one query returns.
    #[serde(default = "default_log_limit")]
    pub limit: u32,
}

fn default_log_limit() -> u32 {
    500
}

/// `[[upstream]]`: a provider with an Atlassian Statuspage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The provider's name (`stripe`).
    pub name: String,
    /// Base URL of its status page.
    pub statuspage: String,
    /// Services that call this provider; empty means every service.
    #[serde(default)]
    pub used_by: Vec<String>,
}

/// `[llm]`: which model writes plans.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// openai | anthropic | ollama | none.
    pub provider: String,
    /// API base URL.
    pub base_url: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Name of the env var holding the API key.
    pub api_key_env: Option<String>,
    /// Tokens one incident may spend on the model before medic stops asking.
    pub max_tokens_per_incident: u64,
    /// Dollars one incident may spend (priced models only).
    pub max_usd_per_incident: Option<f64>,
    /// Sampling temperature plans are asked at (0: the same evidence gives
    /// the same plan).
    pub temperature: f32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: "none".into(),
            base_url: None,
            model: None,
            api_key_env: None,
            max_tokens_per_incident: 200_000,
            max_usd_per_incident: None,
            temperature: 0.0,
        }
    }
}

/// `[agent]`: which coding agent carries out an approved plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// builtin | opencode | claude | codex | mitigate.
    pub kind: String,
    /// Step cap for the agent.
    pub max_steps: u32,
    /// The agent's executable.
    pub command: Option<String>,
    /// Model handed to the agent as is.
    pub model: Option<String>,
    /// `[agent.mitigate]`: how far the offline agent may change a service.
    pub mitigate: MitigateConfig,
    /// How agent processes are confined: `bwrap` (bubblewrap, the default) or `none`.
    pub sandbox: SandboxMode,
    /// Names of env vars an external agent gets inside its sandbox, on top of
    /// the base allowlist and its kind's defaults (its model's API key, say).
    pub pass_env: Vec<String>,
    /// The loop detector: the same tool call with the same arguments this
    /// many times without progress stops the agent (0: off).
    pub max_repeated_calls: u32,
    /// The builtin agent's model calls without changing a file or the to-do
    /// list before it is stopped as looping (0: off).
    pub max_steps_without_progress: u32,
    /// Time any agent may go without changing a file or its to-do list.
    pub max_time_without_progress: Duration,
}

/// `[agent] sandbox`: whether agent processes run inside bubblewrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Every agent process and every command it runs inside bubblewrap.
    #[default]
    #[serde(alias = "bubblewrap")]
    Bwrap,
    /// No sandbox: agents run with the operator's user, HOME and network
    /// (shown as a red warning on every run).
    None,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            kind: "mitigate".into(),
            max_steps: 40,
            command: None,
            model: None,
            mitigate: MitigateConfig::default(),
            sandbox: SandboxMode::Bwrap,
            pass_env: Vec::new(),
            max_repeated_calls: 3,
            max_steps_without_progress: 8,
            max_time_without_progress: Duration(600_000),
        }
    }
}

/// `[forge]`: where branches are pushed and PRs opened.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForgeConfig {
    /// github | local.
    pub kind: String,
    /// `owner/name`.
    pub repo: Option<String>,
    /// The base branch PRs target.
    pub base: String,
    /// Name of the env var holding the token.
    pub token_env: String,
    /// API base URL (GitHub Enterprise).
    pub api_url: Option<String>,
    /// Globs of paths the agent's change may touch only with the
    /// operator's second, explicit yes (besides CI, hooks, symlinks, binaries).
    pub protected: Vec<String>,
    /// The largest diff (bytes of patch text) pushed without stopping to ask.
    pub max_diff_bytes: usize,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        ForgeConfig {
            kind: "local".into(),
            repo: None,
            base: "main".into(),
            token_env: "GITHUB_TOKEN".into(),
            api_url: None,
            protected: Vec::new(),
            max_diff_bytes: 200_000,
        }
    }
}

/// `[alertmanager]`: webhook receiver and silences.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Address the webhook receiver listens on.
    #[serde(default = "default_am_listen")]
    pub listen: String,
    /// Name of the env var holding the webhook's bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Alertmanager's base URL (for silences).
    #[serde(default)]
    pub url: Option<String>,
}

fn default_am_listen() -> String {
    "127.0.0.1:9095".into()
}

/// A duration written as `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration(pub Millis);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::units::parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

/// A fraction in (0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl Default for Fraction {
    fn default() -> Self {
        Fraction(1.0)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = f64::deserialize(d)?;
        if f > 0.0 && f <= 1.0 {
            Ok(Fraction(f))
        } else {
            Err(serde::de::Error::custom(format!(
                "{f} is not a fraction: use a number in (0, 1], e.g. 0.8"
            )))
        }
    }
}

/// A rule expression, parsed when the config is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprText(pub Expr);

impl<'de> Deserialize<'de> for ExprText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Expr::parse(&s)
            .map(ExprText)
            .map_err(|e| serde::de::Error::custom(format!("in `{s}`: {e}")))
    }
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value is wrong.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Key path, e.g. `rules[0].threshold`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
            let (line, column) = span
                .map(|s| line_col(text, s.start))
                .unwrap_or_else(|| find_key_line(text, &key));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: if key.is_empty() {
                    "(top level)".into()
                } else {
                    key
                },
                message,
            }
        };
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), String::new(), e.message().trim().to_string()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            let inner = e.into_inner();
            let (key, message) = explain(&key, inner.message());
            invalid(inner.span(), key, message)
        })?;
        config
            .validate()
            .map_err(|(key, msg)| invalid(None, key, msg))?;
        Ok(config)
    }

    /// Checks across keys that serde cannot express.
    fn validate(&self) -> Result<(), (String, String)> {
        let allowed = |key: &str, value: &str, options: &[&str]| {
            if options.contains(&value) {
                Ok(())
            } else {
                Err((
                    key.to_string(),
                    format!("`{value}` is not one of {}", options.join(", ")),
                ))
            }
        };
        allowed(
            "llm.provider",
            &self.llm.provider,
            &["openai", "anthropic", "ollama", "none"],
        )?;
        if !(0.0..=2.0).contains(&self.llm.temperature) {
            return Err((
                "llm.temperature".into(),
                format!(
                    "{} is not between 0 and 2 (0 asks for the same plan from the same evidence)",
                    self.llm.temperature
                ),
            ));
        }
        allowed(
            "agent.kind",
            &self.agent.kind,
            &["builtin", "opencode", "claude", "codex", "mitigate"],
        )?;
        allowed("forge.kind", &self.forge.kind, &["github", "local"])?;
        if let Err(why) = crate::forge::policy::Protected::new(&self.forge.protected) {
            return Err(("forge.protected".into(), why));
        }
        if self.forge.max_diff_bytes == 0 {
            return Err((
                "forge.max_diff_bytes".into(),
                "must be more than 0 (it is the largest diff pushed without asking)".into(),
            ));
        }
        if self.forge.kind == "github" {
            // Checked here so a bad repo fails at startup (exit 2), not at the pr step.
            let ok = self.forge.repo.as_deref().is_some_and(|r| {
                r.split_once('/')
                    .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            });
            if !ok {
                return Err((
                    "forge.repo".into(),
                    "kind = \"github\" needs repo = \"owner/name\"".into(),
                ));
            }
        }
        if let Some(logs) = &self.logs {
            allowed("logs.kind", &logs.kind, &["loki", "railway", "demo"])?;
        }
        self.validate_evidence()?;
        if self.source.step.0 <= 0 {
            return Err(("source.step".into(), "must be longer than 0s".into()));
        }
        if self.source.lookback.0 < self.source.step.0 {
            return Err((
                "source.lookback".into(),
                "must be at least one `step` long".into(),
            ));
        }
        self.validate_source()?;
        queries::validate_services(&self.services)?;
        if let Some(rules) = &self.rules {
            for (i, r) in rules.iter().enumerate() {
                if !r.threshold.is_finite() {
                    return Err((
                        format!("rules[{i}].threshold"),
                        "must be a finite number".into(),
                    ));
                }
                if rules[..i].iter().any(|o| o.name == r.name) {
                    return Err((
                        format!("rules[{i}].name"),
                        format!(
                            "a rule named `{}` already exists; names must be unique",
                            r.name
                        ),
                    ));
                }
                if r.kind == RuleKind::Anomaly && !(0.0..=1.0).contains(&r.threshold) {
                    return Err((
                        format!("rules[{i}].threshold"),
                        "an anomaly rule compares a score in [0, 1]: use e.g. 0.8".into(),
                    ));
                }
                if r.min_requests < 0.0 || !r.min_requests.is_finite() {
                    return Err((format!("rules[{i}].min_requests"), "must be ≥ 0".into()));
                }
            }
        }
        Ok(())
    }

    /// `[source]` checks: auth keys that go together, Railway's ids, sane timeouts.
    fn validate_source(&self) -> Result<(), (String, String)> {
        let s = &self.source;
        if s.timeout.0 <= 0 {
            return Err(("source.timeout".into(), "must be longer than 0s".into()));
        }
        if s.retries > 10 {
            return Err((
                "source.retries".into(),
                "at most 10: a source that fails 10 times in a row is down, and medic marks it stale".into(),
            ));
        }
        match (&s.basic_auth_user_env, &s.basic_auth_password_env) {
            (Some(_), None) => {
                return Err((
                    "source.basic_auth_password_env".into(),
                    "basic auth needs both basic_auth_user_env and basic_auth_password_env".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "source.basic_auth_user_env".into(),
                    "basic auth needs both basic_auth_user_env and basic_auth_password_env".into(),
                ))
            }
            (Some(_), Some(_)) if s.bearer_token_env.is_some() => {
                return Err((
                    "source.bearer_token_env".into(),
                    "choose one of bearer_token_env and basic auth, not both".into(),
                ))
            }
            _ => {}
        }
        for (key, v) in [
            ("source.service_label", &s.service_label),
            ("source.status_label", &s.status_label),
        ] {
            if !presets::is_label_name(v) {
                return Err((
                    key.into(),
                    format!("`{v}` is not a Prometheus label name (letters, digits and `_`; relabel `app.kubernetes.io/name` to `app_kubernetes_io_name`)"),
                ));
            }
        }
        if !presets::is_metric_name(&s.request_metric) {
            return Err((
                "source.request_metric".into(),
                format!(
                    "`{}` is not a Prometheus metric name, e.g. http_requests_total",
                    s.request_metric
                ),
            ));
        }
        if s.preset != Preset::Plain && presets::RESERVED_LABELS.contains(&s.service_label.as_str())
        {
            return Err((
                "source.service_label".into(),
                format!(
                    "preset = \"{}\" joins on `{}`; name the service label something else (the default `service` works)",
                    s.preset.word(),
                    s.service_label
                ),
            ));
        }
        s.namespaces.validate()?;
        if let Some(u) = &s.url_override {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err((
                    "source.url".into(),
                    format!("`{u}` is not an http:// or https:// URL"),
                ));
            }
        }
        if s.kind == SourceKind::Railway {
            for (key, v) in [
                ("source.project_id", &s.project_id),
                ("source.environment_id", &s.environment_id),
            ] {
                if v.as_deref().is_none_or(str::is_empty) {
                    return Err((
                        key.into(),
                        "required for kind = \"railway\" (copy it from the project's settings, or `railway status --json`)".into(),
                    ));
                }
            }
            if s.token_env.is_none() && s.project_token_env.is_none() {
                return Err((
                    "source.token_env".into(),
                    "kind = \"railway\" needs token_env (account or workspace token) or project_token_env (project token): the name of the env var holding it".into(),
                ));
            }
        }
        Ok(())
    }

    /// The rules to evaluate: the configured ones, or the defaults.
    pub fn rules(&self) -> Vec<Rule> {
        match &self.rules {
            Some(rules) => rules.iter().map(RuleConfig::to_rule).collect(),
            None => default_rules(),
        }
    }
}

impl RuleConfig {
    /// The runtime rule.
    pub fn to_rule(&self) -> Rule {
        Rule {
            name: self.name.clone(),
            kind: self.kind,
            expr: self.expr.0.clone(),
            op: self.op,
            threshold: self.threshold,
            for_ms: self.for_.0,
            keep_firing_for_ms: self.keep_firing_for.0,
            min_fraction: self.min_fraction.0,
            min_requests: self.min_requests,
        }
    }
}

/// The rules medic runs when the config names none: CPU saturation,
/// memory near its limit, and the 5xx error rate.
pub fn default_rules() -> Vec<Rule> {
    let rule = |name: &str, expr: &str, threshold: f64, for_ms, mf, min_requests| Rule {
        name: name.into(),
        kind: RuleKind::Threshold,
        expr: Expr::parse(expr).expect("default rule expressions parse"),
        op: Op::Gt,
        threshold,
        for_ms,
        keep_firing_for_ms: 2 * 60_000,
        min_fraction: mf,
        min_requests,
    };
    vec![
        // CPU is spiky by nature: judge a 10-minute window, not each sample.
        rule(
            "cpu-saturated",
            "cpu / cpu_limit",
            0.9,
            10 * 60_000,
            0.8,
            0.0,
        ),
        rule(
            "memory-near-limit",
            "memory / memory_limit",
            0.9,
            5 * 60_000,
            1.0,
            0.0,
        ),
        rule(
            "error-rate-high",
            "errors / requests",
            0.05,
            5 * 60_000,
            0.8,
            0.5,
        ),
        // An error rate unusual for this service, even below 5%: the
        // anomaly score held over 80% of a 5-minute window (one odd sample
        // never fires), ignoring near-idle traffic.
        Rule {
            kind: RuleKind::Anomaly,
            ..rule(
                "error-rate-unusual",
                "errors / requests",
                0.5,
                5 * 60_000,
                0.8,
                0.5,
            )
        },
    ]
}

/// Turn serde's wording into medic's: "unknown key `x`, did you mean `y`?".
fn explain(key: &str, message: &str) -> (String, String) {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        let full_key = if key.is_empty() {
            name.to_string()
        } else if key.ends_with(name) {
            key.to_string()
        } else {
            format!("{key}.{name}")
        };
        let mut msg = format!("unknown key `{name}`");
        if let Some(best) = closest(name, &expected) {
            msg.push_str(&format!("; did you mean `{best}`?"));
        }
        if !expected.is_empty() {
            msg.push_str(&format!(" (valid keys here: {})", expected.join(", ")));
        }
        return (full_key, msg);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let full_key = if key.is_empty() {
            name.to_string()
        } else {
            format!("{key}.{name}")
        };
        return (full_key, format!("required key `{name}` is missing"));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let mut msg = format!("`{name}` is not one of {}", expected.join(", "));
        if let Some(best) = closest(name, &expected) {
            msg.push_str(&format!("; did you mean `{best}`?"));
        }
        return (key.to_string(), msg);
    }
    (key.to_string(), message.to_string())
}

/// The candidate within edit distance 2 (or a third of the length) of `word`.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Best-effort line of a key path's last segment, for checks made after parsing.
fn find_key_line(text: &str, key: &str) -> (usize, usize) {
    let last = key.rsplit('.').next().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with(last) && t[last.len()..].trim_start().starts_with('=') {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, Path::new("medic.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn watch_live_after_reads_a_duration() {
        let c = Config::parse("[watch]\nlive_after = \"10m\"\n", Path::new("x")).unwrap();
        assert_eq!(c.watch.live_after, Duration(600_000));
        assert_eq!(Config::default().watch.live_after, Duration(0));
        assert!(err("[watch]\nlive_afte = \"1m\"\n").contains("live_after"));
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("", Path::new("x")).unwrap();
        assert_eq!(c.source.kind, SourceKind::Prometheus);
        assert_eq!(c.source.step, Duration(15_000));
        assert_eq!(c.rules().len(), 4);
        let unusual = c
            .rules()
            .into_iter()
            .find(|r| r.name == "error-rate-unusual");
        let unusual = unusual.expect("a default anomaly rule for the error rate");
        assert_eq!(unusual.kind, RuleKind::Anomaly);
        assert!(
            unusual.for_ms >= 60_000 && unusual.min_fraction < 1.0 && unusual.min_requests > 0.0
        );
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
[source]
kind = "prometheus"
url = "http://127.0.0.1:9090"
step = "30s"
lookback = "2h"
bearer_token_env = "PROM_TOKEN"

[source.queries]
cpu = 'sum by (service) (rate(cpu[1m]))'

[[rules]]
name = "memory-near-limit"
expr = "memory / memory_limit"
op = ">"
threshold = 0.9
for = "5m"
keep_firing_for = "2m"
min_fraction = 1.0

[[upstream]]
name = "stripe"
statuspage = "https://status.example.com"

[llm]
provider = "openai"
"#;
        let c = Config::parse(text, Path::new("x")).unwrap();
        let rules = c.rules();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].for_ms, 300_000);
        assert_eq!(
            c.source.queries.cpu.as_ref().unwrap(),
            &"sum by (service) (rate(cpu[1m]))"
        );
        assert_eq!(c.upstream[0].name, "stripe");
    }

    #[test]
    fn unknown_key_names_line_path_and_suggestion() {
        let e = err(
            "[source]\nurl = \"x\"\n\n[[rules]]\nname = \"a\"\nexpr = \"cpu\"\nthreshhold = 1\n",
        );
        assert!(e.starts_with("medic.toml:7:"), "{e}");
        assert!(e.contains("rules[0].threshhold"), "{e}");
        assert!(e.contains("did you mean `threshold`?"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = err("[source]\nstep = 15\n");
        assert!(e.starts_with("medic.toml:2:"), "{e}");
        assert!(e.contains("source.step"), "{e}");
        let e = err("[source]\nstep = \"15 seconds\"\n");
        assert!(
            e.contains("source.step") && e.contains("unknown unit"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_caught_where_they_are() {
        let e = err("[[rules]]\nname = \"a\"\nexpr = \"memory / memroy_limit\"\nthreshold = 1\n");
        assert!(
            e.starts_with("medic.toml:3:") && e.contains("rules[0].expr"),
            "{e}"
        );
        let e = err("[[rules]]\nname = \"a\"\nexpr = \"cpu\"\nop = \"=>\"\nthreshold = 1\n");
        assert!(
            e.contains("rules[0].op") && e.contains("`=>` is not one of"),
            "{e}"
        );
        let e = err("[[rules]]\nname = \"a\"\nexpr = \"cpu\"\nthreshold = 1\nmin_fraction = 1.5\n");
        assert!(e.contains("rules[0].min_fraction"), "{e}");
        let e = err("[[rules]]\nname = \"a\"\nexpr = \"cpu\"\n");
        assert!(
            e.contains("rules[0].threshold") && e.contains("missing"),
            "{e}"
        );
        let e = err("[source]\nkind = \"prometheos\"\n");
        assert!(e.contains("did you mean `prometheus`"), "{e}");
        let e = err("[llm]\nprovider = \"gpt\"\n");
        assert!(
            e.starts_with("medic.toml:2:") && e.contains("llm.provider"),
            "{e}"
        );
        let e = err("[llm]\nprovider = \"ollama\"\ntemperature = 3.5\n");
        assert!(
            e.contains("llm.temperature") && e.contains("between 0 and 2"),
            "{e}"
        );
        let e = err("[source\n");
        assert!(e.starts_with("medic.toml:1:"), "{e}");
        let e = err("[forge]\nkind = \"github\"\nrepo = \"acme\"\n");
        assert!(e.contains("forge.repo") && e.contains("owner/name"), "{e}");
    }

    #[test]
    fn source_auth_and_railway_keys_are_checked_with_their_position() {
        let e = err("[source]\nbasic_auth_user_env = \"U\"\n");
        assert!(
            e.starts_with("medic.toml:1:") && e.contains("source.basic_auth_password_env"),
            "{e}"
        );
        let e = err("[source]\nbearer_token_env = \"T\"\nbasic_auth_user_env = \"U\"\nbasic_auth_password_env = \"P\"\n");
        assert!(
            e.starts_with("medic.toml:2:") && e.contains("not both"),
            "{e}"
        );
        let e = err("[source]\nretries = 50\n");
        assert!(
            e.starts_with("medic.toml:2:") && e.contains("source.retries"),
            "{e}"
        );
        let e = err("[source]\nurl = \"127.0.0.1:9090\"\n");
        assert!(
            e.starts_with("medic.toml:2:") && e.contains("http://"),
            "{e}"
        );
        let c = Config::parse(
            "[source]\nkind = \"railway\"\nproject_id = \"p\"\nenvironment_id = \"e\"\ntoken_env = \"T\"\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.source.url(), RAILWAY_URL);
        assert_eq!(Config::default().source.url(), PROMETHEUS_URL);
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            closest("thresold", &["threshold", "name"]),
            Some("threshold")
        );
        assert_eq!(closest("zzz", &["threshold", "name"]), None);
    }
}
