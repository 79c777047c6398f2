//! The parts an incident's workflow works with (metric source, evidence
//! sources, settings, the LLM client factory, the agent and the forge),
//! built once by the caller from what the incident started with. The steps
//! receive them; they never re-read a config file or rebuild a client.

use super::incident::{Origin, OriginSource};
use crate::config::Config;
use crate::forge::git::{Author, GitSettings};
use crate::forge::Forge;
use crate::plan::llm::{LlmClient, Spent};
use crate::sources::demo::{Demo, DemoClock};
use crate::sources::evidence::EvidenceSources;
use crate::sources::Source;
use std::path::{Path, PathBuf};

/// A diff larger than this stops the workflow and asks the operator.
pub const MAX_DIFF_BYTES: usize = 200_000;

/// Everything an incident's steps need besides the journal.
pub struct Parts {
    /// The incident's metric source.
    pub source: Source,
    /// `[logs]`, `[[upstream]]`, `[[deploys]]` beside the metric source.
    pub evidence: EvidenceSources,
    /// The incident's settings (rules, `[llm]`, `[agent]`, `[forge]`).
    pub settings: Config,
    /// Makes the LLM clients the planner and the builtin agent use.
    pub llm: LlmFactory,
    /// The data dir (checkouts, local forge).
    pub data_dir: PathBuf,
    /// What the operator must know about these parts (the config file
    /// changed since the incident opened); the run reports each once.
    pub notes: Vec<String>,
}

impl Parts {
    /// Parts from a source and its settings.
    pub fn new(source: Source, settings: Config, data_dir: &Path) -> anyhow::Result<Parts> {
        let evidence = EvidenceSources::from_config(&settings).map_err(|e| anyhow::anyhow!(e))?;
        Ok(Parts {
            source,
            evidence,
            llm: LlmFactory {
                config: settings.llm.clone(),
            },
            settings,
            data_dir: data_dir.to_path_buf(),
            notes: vec![],
        })
    }

    /// Rebuild the parts an incident started with: its source, and the
    /// settings journaled when it opened (the config file only for incidents
    /// journaled before snapshots; a file changed since is reported, not applied).
    pub fn for_origin(origin: &Origin, data_dir: &Path) -> anyhow::Result<Parts> {
        let mut notes = vec![];
        let snapshot = origin
            .settings
            .as_deref()
            .filter(|text| !text.contains("[REDACTED:"));
        let settings = match (snapshot, &origin.config) {
            (Some(text), path) => {
                let shown = path.clone().unwrap_or_else(|| "journaled settings".into());
                if let Some(path) = path {
                    if super::incident::settings_snapshot(Some(path)).as_deref()
                        != origin.settings.as_deref()
                    {
                        notes.push(format!(
                            "the config file {} changed since the incident opened; this incident keeps the settings it opened with (open a new incident to use the new ones)",
                            path.display()
                        ));
                    }
                }
                Config::parse(text, &shown)?
            }
            (None, Some(path)) => Config::load(path)?,
            (None, None) => Config::default(),
        };
        crate::sources::http::set_max_body_bytes(settings.http.max_body_bytes.0);
        if let (Some(journaled), Some(path)) = (origin.settings.as_deref(), &origin.config) {
            // The snapshot kept no secret, so the file is read again: only if
            // it is still the file the incident opened with.
            if journaled.contains("[REDACTED:")
                && super::incident::settings_snapshot(Some(path)).as_deref() != Some(journaled)
            {
                anyhow::bail!(
                    "the config file {} changed since this incident opened, and the settings journaled then held a secret medic does not keep: restore the file, or cancel this incident and open a new one",
                    path.display()
                );
            }
        }
        if origin
            .settings
            .as_deref()
            .is_some_and(|t| t.contains("[REDACTED:"))
        {
            notes.push(
                "the journaled settings held a secret (redacted); the config file is read again"
                    .into(),
            );
        }
        let source = match &origin.source {
            OriginSource::Demo {
                seed,
                anchor,
                speed,
                started,
            } => Source::Demo {
                demo: Demo::new(*seed, *anchor),
                // Every process reads the same demo time: a watch window survives a restart.
                clock: DemoClock::continuing(*anchor, *speed, started.unwrap_or(*anchor)),
            },
            OriginSource::Config { .. } => source_for(&settings)?,
        };
        let mut parts = Parts::new(source, settings, data_dir)?;
        parts.notes = notes;
        Ok(parts)
    }

    /// The coding agent `[agent]` names. The builtin agent's tool loop spends
    /// the incident's LLM budget through `llm` (the client the caller made).
    pub fn agent(
        &self,
        llm: Option<&LlmClient>,
    ) -> anyhow::Result<Box<dyn crate::agent::CodingAgent>> {
        Ok(match llm {
            Some(llm) => Box::new(crate::agent::builtin::Builtin {
                llm: llm.clone(),
                limits: crate::agent::builtin::Limits::from_config(&self.settings.agent),
            }),
            None => crate::agent::for_config(&self.settings.agent)?,
        })
    }

    /// True when the agent is medic's own tool loop (it needs an LLM client).
    pub fn agent_uses_llm(&self) -> bool {
        self.settings.agent.kind == "builtin"
    }

    /// The forge `[forge]` names (the local one lives in the data dir).
    pub fn forge(&self) -> anyhow::Result<Forge> {
        Ok(Forge::from_config(&self.settings.forge, &self.data_dir)?)
    }

    /// How medic's git layer talks to the forge.
    pub fn git_settings(&self, forge: &Forge) -> GitSettings {
        GitSettings {
            base: self.settings.forge.base.clone(),
            author: Author {
                name: "medic".into(),
                email: "medic@localhost".into(),
            },
            credentials: forge.credentials(),
            max_diff_bytes: self.settings.forge.max_diff_bytes,
            cancel: Default::default(),
        }
    }

    /// Where the agent's checkout of an incident lives.
    pub fn workdir(&self, incident: &str) -> PathBuf {
        // One safe path segment whatever the service was called (`..`, `/`).
        self.data_dir
            .join("work")
            .join(crate::forge::git::safe_id(incident))
    }
}

/// The metric source `[source]` describes (as `Setup::resolve` builds it).
fn source_for(settings: &Config) -> anyhow::Result<Source> {
    use crate::config::SourceKind;
    Ok(match settings.source.kind {
        SourceKind::Demo => Source::demo(crate::sources::demo::DEFAULT_SEED, 1.0),
        SourceKind::Prometheus => Source::Prometheus(Box::new(
            crate::sources::prometheus::Prometheus::from_config(&settings.source)
                .map_err(|e| anyhow::anyhow!(e))?,
        )),
        SourceKind::Railway => Source::Railway(Box::new(
            crate::sources::railway::Railway::from_config(&settings.source)
                .map_err(|e| anyhow::anyhow!(e))?,
        )),
    })
}

/// The planner `[llm]` names: `heuristic`, or `llm:<provider>/<model>`.
pub fn planner_name(config: &Config) -> String {
    match config.llm.provider.as_str() {
        "none" => "heuristic".into(),
        p => format!("llm:{p}/{}", config.llm.model.as_deref().unwrap_or("?")),
    }
}

/// Makes LLM clients from `[llm]`, each with the incident's budget; the key
/// comes from the env var `[llm]` names, read when a client is made.
#[derive(Debug, Clone)]
pub struct LlmFactory {
    config: crate::config::LlmConfig,
}

impl LlmFactory {
    /// A factory for `[llm]` (the pre-flight builds one to check it).
    pub fn new(config: crate::config::LlmConfig) -> LlmFactory {
        LlmFactory { config }
    }

    /// True when `[llm]` names a model (`provider` is not `none`).
    pub fn configured(&self) -> bool {
        self.config.provider != "none"
    }

    /// A client whose budget goes on from what the incident already spent.
    pub fn client(&self, spent: Spent) -> anyhow::Result<LlmClient> {
        use crate::plan::llm::{ApiKey, LlmConfig, Provider};
        let llm = &self.config;
        let provider = Provider::parse(&llm.provider).ok_or_else(|| {
            anyhow::anyhow!(
                "llm.provider `{}` is not openai, anthropic or ollama",
                llm.provider
            )
        })?;
        let model = llm.model.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "llm.model is required when llm.provider is `{}`",
                llm.provider
            )
        })?;
        let api_key = match &llm.api_key_env {
            Some(var) => Some(ApiKey::new(std::env::var(var).map_err(|_| {
                anyhow::anyhow!(
                    "llm.api_key_env names `{var}`, but that environment variable is not set"
                )
            })?)),
            None => None,
        };
        let base = llm.base_url.clone().unwrap_or_else(|| {
            Provider::default_base_url_for(&llm.provider)
                .unwrap_or(provider.default_base_url())
                .to_string()
        });
        let mut cfg = LlmConfig::new(provider, base, model, api_key);
        cfg.json_mode = provider == Provider::OpenAi;
        cfg.plan_temperature = llm.temperature;
        // One budget per incident: the run stops when it is spent.
        let budget = crate::plan::llm::Budget::new(
            Some(llm.max_tokens_per_incident),
            llm.max_usd_per_incident,
        )
        .already_spent(spent);
        Ok(LlmClient::new(cfg)?.with_budget(budget))
    }
}

#[cfg(test)]
mod llm_tests {
    use super::*;

    #[test]
    fn ollama_is_openai_wire_on_its_local_endpoint_and_plans_at_the_configured_temperature() {
        let config = crate::config::LlmConfig {
            provider: "ollama".into(),
            model: Some("qwen2.5-coder:7b".into()),
            temperature: 0.3,
            ..Default::default()
        };
        let client = LlmFactory { config }.client(Spent::default()).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:11434/v1/chat/completions");
        assert!(matches!(client, LlmClient::OpenAi(_)));
        assert!(client.config().json_mode);
        assert_eq!(client.config().plan_temperature, 0.3);
    }
}
