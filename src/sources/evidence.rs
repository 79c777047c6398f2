//! What triage reads besides metrics: logs, deploys, upstream status pages.
//!
//! The metric source may know some of it (the demo knows everything);
//! `[logs]`, `[[upstream]]` and `[[deploys]]` in the config add the rest.
//! A part that is down becomes a gap in words, never an error that stops triage.
//! Gaps quote what the failing part answered (an error body, its URL), so
//! they are redacted where they are made: a Loki 500 can echo a query's
//! credentials, a URL can carry `user:password@`.

use super::demo::{Deploy, LogLine, UpstreamStatus};
use super::kube::KubeFact;
use super::loki::Loki;
use super::statuspage::Statuspage;
use super::Source;
use crate::config::Config;
use crate::forge::changes::{ForgeChange, ForgeChanges, GithubChanges};
use crate::model::{Millis, ServiceId};
use crate::triage::redact::redact_str;
use std::future::Future;

/// One kind of evidence as fetched: the items (`None`: nobody could tell)
/// and the gaps, in words, for the parts that could not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    /// What was found; `None` when no part could answer.
    pub items: Option<Vec<T>>,
    /// Why something is missing: `logs unavailable: loki at URL: …`.
    pub gaps: Vec<String>,
}

impl<T> Fetched<T> {
    /// Everything answered.
    pub fn known(items: Vec<T>) -> Self {
        Fetched {
            items: Some(items),
            gaps: Vec::new(),
        }
    }

    /// Nothing could answer, and why (redacted: it may quote an error body).
    pub fn unknown(gap: impl Into<String>) -> Self {
        Fetched {
            items: None,
            gaps: vec![redact_str(&gap.into())],
        }
    }
}

/// Anything triage can ask for logs, deploys and upstream status.
pub trait EvidenceSource: Sync {
    /// Log lines of `service` in `[from, to)`.
    fn logs(
        &self,
        service: &str,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Fetched<LogLine>> + Send;
    /// Recent deploys across the fleet, newest first.
    fn deploys(&self) -> impl Future<Output = Fetched<Deploy>> + Send;
    /// Upstream providers' status at `now`.
    fn upstreams(&self, now: Millis) -> impl Future<Output = Fetched<UpstreamStatus>> + Send;
    /// What Kubernetes says about the workload `service` around `onset`
    /// (kube-state-metrics through Prometheus); nothing for other sources.
    fn kube(
        &self,
        service: &str,
        onset: Millis,
        now: Millis,
    ) -> impl Future<Output = Fetched<KubeFact>> + Send {
        let _ = (service, onset, now);
        async { Fetched::known(Vec::new()) }
    }
    /// What the forge knows changed for `service` in `[from, to]`: suspect
    /// commits, GitHub deployments and releases; nothing without a forge.
    fn changes(
        &self,
        service: &str,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Fetched<ForgeChange>> + Send {
        let _ = (service, from, to);
        async { Fetched::known(Vec::new()) }
    }
}

/// The metric source alone: only the demo knows logs, deploys and upstreams.
impl EvidenceSource for Source {
    async fn logs(&self, service: &str, from: Millis, to: Millis) -> Fetched<LogLine> {
        if let Source::Railway(r) = self {
            return match r.logs(service, from, to).await {
                Ok(l) => Fetched::known(l),
                Err(e) => Fetched::unknown(format!(
                    "logs unavailable: {e}; triage goes on without them"
                )),
            };
        }
        match Source::logs(self, service, from, to).await {
            Some(l) => Fetched::known(l),
            None => Fetched::unknown(
                "logs: no log source configured (add [logs] kind = \"loki\"); triage goes on without them",
            ),
        }
    }

    async fn deploys(&self) -> Fetched<Deploy> {
        if let Source::Railway(r) = self {
            return match r.deploys().await {
                Ok(d) => Fetched::known(d),
                Err(e) => Fetched::unknown(format!("deploys unavailable: {e}")),
            };
        }
        match (Source::deploys(self).await, self) {
            (Some(d), _) => Fetched::known(d),
            (None, Source::Prometheus(p)) if p.preset() == crate::config::Preset::Kubernetes => {
                Fetched::unknown("deploys: rollouts come from kube-state-metrics (k8s:rollout) and commits from the forge; add [[deploys]] entries for anything else")
            }
            (None, _) => Fetched::unknown("deploys: unknown for this source (add [[deploys]] entries)"),
        }
    }

    async fn kube(&self, service: &str, onset: Millis, now: Millis) -> Fetched<KubeFact> {
        match self {
            Source::Prometheus(p) if p.preset() == crate::config::Preset::Kubernetes => {
                match super::kube::facts(p, service, onset, now).await {
                    Ok((facts, gaps)) => Fetched {
                        items: Some(facts),
                        gaps: gaps.iter().map(|g| redact_str(g)).collect(),
                    },
                    Err(e) => Fetched::unknown(format!(
                        "kubernetes evidence unavailable: {e}; is kube-state-metrics scraped?"
                    )),
                }
            }
            _ => Fetched::known(Vec::new()),
        }
    }

    async fn upstreams(&self, now: Millis) -> Fetched<UpstreamStatus> {
        if let Source::Railway(r) = self {
            return match r.platform_status(now).await {
                Ok(s) => Fetched::known(vec![s]),
                Err(e) => Fetched::unknown(format!("Railway platform status unavailable: {e}")),
            };
        }
        match Source::upstreams(self, now).await {
            Some(u) => Fetched::known(u),
            None => Fetched::unknown(
                "upstream status: unknown for this source (add [[upstream]] status pages)",
            ),
        }
    }
}

/// Where logs come from when `[logs]` is set.
#[derive(Debug, Clone)]
pub enum LogSource {
    /// Grafana Loki.
    Loki(Loki),
    /// The metric source's own logs (`kind = "demo"` or `"railway"`).
    FromSource,
    /// Configured but not available in this build, and why.
    Unsupported(String),
}

/// `[logs]`, `[[upstream]]` and `[[deploys]]` from the config.
#[derive(Debug, Clone, Default)]
pub struct EvidenceSources {
    /// The log source, if `[logs]` is set.
    pub logs: Option<LogSource>,
    /// One status page per `[[upstream]]`.
    pub upstreams: Vec<Statuspage>,
    /// The `[[deploys]]` list, newest first.
    pub deploys: Vec<Deploy>,
    /// Suspect commits and GitHub deployments/releases of the forge's repository.
    pub forge: ForgeChanges,
}

impl EvidenceSources {
    /// Build from the config; secrets are read from their env vars now.
    pub fn from_config(config: &Config) -> Result<EvidenceSources, String> {
        let logs = match &config.logs {
            None => None,
            Some(l) if l.kind == "loki" => Some(LogSource::Loki(Loki::from_config(l)?)),
            Some(l) if l.kind == "demo" || l.kind == "railway" => Some(LogSource::FromSource),
            Some(l) => Some(LogSource::Unsupported(format!(
                "logs: kind = \"{}\" is not wired yet; use \"loki\"",
                l.kind
            ))),
        };
        let mut deploys: Vec<Deploy> = config
            .deploys
            .iter()
            .map(|d| Deploy {
                id: d.id.clone().unwrap_or_else(|| d.version.clone()),
                service: ServiceId(d.service.clone()),
                // Validated when the config was loaded.
                at: crate::units::parse_rfc3339(&d.at).unwrap_or(0),
                version: d.version.clone(),
                previous: d.previous.clone().unwrap_or_else(|| "?".into()),
                author: d.author.clone().unwrap_or_else(|| "unknown".into()),
                message: d.message.clone().unwrap_or_default(),
            })
            .collect();
        deploys.sort_by_key(|d| std::cmp::Reverse(d.at));
        let f = &config.forge;
        // GitHub's deployments and releases, when a token is there to read them.
        let github = match (f.kind.as_str(), &f.repo, std::env::var(&f.token_env)) {
            ("github", Some(repo), Ok(token)) if !token.trim().is_empty() => {
                Some(GithubChanges::new(
                    f.api_url
                        .as_deref()
                        .unwrap_or(crate::forge::github::GITHUB_API),
                    repo,
                    token,
                ))
            }
            _ => None,
        };
        Ok(EvidenceSources {
            forge: ForgeChanges {
                repo: None,
                base: f.base.clone(),
                github,
            },
            logs,
            upstreams: config
                .upstream
                .iter()
                .map(Statuspage::from_config)
                .collect(),
            deploys,
        })
    }

    /// These sources beside a metric source, as one thing triage can ask.
    pub fn beside<'a>(&'a self, source: &'a Source) -> WithEvidence<'a> {
        WithEvidence {
            source,
            extra: self,
        }
    }
}

/// A metric source together with the configured evidence sources.
#[derive(Debug, Clone, Copy)]
pub struct WithEvidence<'a> {
    /// The metric source (the demo answers everything itself).
    pub source: &'a Source,
    /// `[logs]`, `[[upstream]]`, `[[deploys]]`.
    pub extra: &'a EvidenceSources,
}

impl EvidenceSource for WithEvidence<'_> {
    async fn logs(&self, service: &str, from: Millis, to: Millis) -> Fetched<LogLine> {
        match &self.extra.logs {
            Some(LogSource::Loki(loki)) => match loki.logs(service, from, to).await {
                Ok(lines) => Fetched::known(lines),
                Err(e) => Fetched::unknown(format!(
                    "logs unavailable: {}: {e}; triage goes on without them",
                    loki.describe()
                )),
            },
            Some(LogSource::Unsupported(why)) => Fetched::unknown(why.clone()),
            Some(LogSource::FromSource) | None => {
                EvidenceSource::logs(self.source, service, from, to).await
            }
        }
    }

    async fn deploys(&self) -> Fetched<Deploy> {
        let mut from_source = EvidenceSource::deploys(self.source).await;
        if self.extra.deploys.is_empty() {
            return from_source;
        }
        let mut all = from_source.items.take().unwrap_or_default();
        all.extend(self.extra.deploys.iter().cloned());
        all.sort_by_key(|d| std::cmp::Reverse(d.at));
        Fetched::known(all)
    }

    async fn kube(&self, service: &str, onset: Millis, now: Millis) -> Fetched<KubeFact> {
        EvidenceSource::kube(self.source, service, onset, now).await
    }

    async fn changes(&self, service: &str, from: Millis, to: Millis) -> Fetched<ForgeChange> {
        let (items, gaps) = self.extra.forge.fetch(service, from, to).await;
        Fetched {
            items: Some(items),
            gaps: gaps.iter().map(|g| redact_str(g)).collect(),
        }
    }

    async fn upstreams(&self, now: Millis) -> Fetched<UpstreamStatus> {
        if self.extra.upstreams.is_empty() {
            return EvidenceSource::upstreams(self.source, now).await;
        }
        // A platform's own status (Railway) beside the configured pages.
        let own = async {
            match self.source {
                Source::Railway(_) => EvidenceSource::upstreams(self.source, now).await,
                _ => Fetched::known(Vec::new()),
            }
        };
        let pages = futures_util::future::join_all(self.extra.upstreams.iter().map(|p| p.status()));
        let (mut out, answers) = futures_util::future::join(own, pages).await;
        for a in answers {
            match a {
                Ok(s) => out.items.get_or_insert_with(Vec::new).push(s),
                Err(e) => out
                    .gaps
                    .push(redact_str(&format!("upstream status unavailable: {e}"))),
            }
        }
        out
    }
}
