//! From command-line flags and the config file to a ready source and rules.
//!
//! Decides demo or real: no `--config` and no `MEDIC_CONFIG` means the
//! embedded demo; `--demo` forces it.

use crate::config::{Config, ConfigError, SourceKind};
use crate::detect::rules::Rule;
use crate::sources::{demo, Source};
use std::path::{Path, PathBuf};

/// Bad usage: the command line or the config is wrong. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The global options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--config FILE` or `MEDIC_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--demo`.
    pub demo: bool,
    /// `--data-dir DIR` or `MEDIC_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--speed N`: the demo clock's multiplier.
    pub speed: f64,
}

/// Everything a command needs to run.
#[derive(Debug)]
pub struct Setup {
    /// The loaded config (defaults when there is no file).
    pub config: Config,
    /// Where metrics come from.
    pub source: Source,
    /// `[logs]`, `[[upstream]]`, `[[deploys]]`: triage's other evidence.
    /// Ask through `evidence.beside(&source)`.
    pub evidence: crate::sources::evidence::EvidenceSources,
    /// The rules to evaluate.
    pub rules: Vec<Rule>,
    /// Where the journal and local forge live.
    pub data_dir: PathBuf,
    /// The config file, if one was given (incidents remember it for `resume`).
    pub config_path: Option<PathBuf>,
}

impl Setup {
    /// Resolve flags and config into a source and rules.
    pub fn resolve(globals: &Globals) -> Result<Setup, anyhow::Error> {
        let config = match &globals.config {
            Some(path) => Config::load(path).map_err(config_error)?,
            None => Config {
                source: crate::config::SourceConfig {
                    kind: SourceKind::Demo,
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        crate::sources::http::set_max_body_bytes(config.http.max_body_bytes.0);
        if !(globals.speed > 0.0 && globals.speed.is_finite()) {
            return Err(UsageError(format!(
                "--speed {} must be a positive number (1 = real time)",
                globals.speed
            ))
            .into());
        }
        let kind = if globals.demo {
            SourceKind::Demo
        } else {
            config.source.kind
        };
        let source = match kind {
            SourceKind::Demo => Source::demo(demo::DEFAULT_SEED, globals.speed),
            SourceKind::Prometheus => Source::Prometheus(Box::new({
                let mut p = crate::sources::prometheus::Prometheus::from_config(&config.source)
                    .map_err(UsageError)?;
                p.set_overrides(config.services.clone());
                p
            })),
            SourceKind::Railway => Source::Railway(Box::new(
                crate::sources::railway::Railway::from_config(&config.source)
                    .map_err(UsageError)?,
            )),
        };
        let mut evidence =
            crate::sources::evidence::EvidenceSources::from_config(&config).map_err(UsageError)?;
        let rules = config.rules();
        let data_dir = globals.data_dir.clone().unwrap_or_else(default_data_dir);
        // Suspect commits come from the local forge's repository, when it has one.
        if config.forge.kind == "local" {
            evidence.forge.repo =
                crate::forge::local::LocalForge::new(&data_dir, crate::forge::sample_repo::REPO)
                    .ok()
                    .map(|f| f.remote_path());
        }
        Ok(Setup {
            config,
            source,
            evidence,
            rules,
            data_dir,
            config_path: globals.config.clone(),
        })
    }

    /// Resolution of the series medic reads.
    pub fn step(&self) -> i64 {
        self.config.source.step.0
    }

    /// How much history each refresh reads.
    pub fn lookback(&self) -> i64 {
        self.config.source.lookback.0
    }
}

fn config_error(e: ConfigError) -> anyhow::Error {
    match e {
        ConfigError::Read { .. } => UsageError(e.to_string()).into(),
        ConfigError::Invalid { .. } => UsageError(format!("invalid config: {e}")).into(),
    }
}

/// `$XDG_DATA_HOME/medic`, else `~/.local/share/medic`, else `./.medic`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Path::new(&x).join("medic");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return Path::new(&home).join(".local/share/medic");
    }
    PathBuf::from(".medic")
}
