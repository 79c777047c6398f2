//! The GitHub forge (octocrab): find the open pull request from medic's
//! branch, or open one as a draft. GitHub Enterprise through `[forge]
//! api_url`.
//!
//! The token comes from the env var `[forge] token_env` names; it is held by
//! octocrab (as a secret) and by [`Credentials::Token`] for the push, whose
//! `Debug` hides it, and it never appears in a URL: the push authenticates
//! through libgit2's credentials callback, not `https://token@host`. Errors
//! name the env var to check, never its value. This room does not push; the
//! workflow pushes through [`super::git`] with [`GithubForge::credentials`].

use super::git::Credentials;
use super::{BranchName, ForgeError, NewPullRequest};
use crate::config::ForgeConfig;
use crate::model::PullRequest;
use octocrab::Octocrab;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The public API, used when `[forge] api_url` is unset.
pub const GITHUB_API: &str = "https://api.github.com";

/// A pull request forge on GitHub (or GitHub Enterprise) for one repository.
#[derive(Clone)]
pub struct GithubForge {
    /// Built on first use: octocrab spawns a worker task, so it needs the
    /// tokio runtime, which [`GithubForge::new`] must not require.
    client: Arc<OnceLock<Octocrab>>,
    owner: String,
    repo: String,
    api_url: String,
    token_env: String,
    token: String,
}

impl fmt::Debug for GithubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubForge")
            .field("repo", &format!("{}/{}", self.owner, self.repo))
            .field("api_url", &self.api_url)
            .field("token_env", &self.token_env)
            .finish_non_exhaustive()
    }
}

impl GithubForge {
    /// The forge `[forge]` describes, with the token read from its env var.
    pub fn from_config(cfg: &ForgeConfig) -> Result<GithubForge, ForgeError> {
        let repo = cfg.repo.as_deref().ok_or_else(|| ForgeError::Config {
            key: "forge.repo",
            why: "kind = \"github\" needs repo = \"owner/name\"".into(),
        })?;
        let token = std::env::var(&cfg.token_env)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| ForgeError::Config {
                key: "forge.token_env",
                why: format!(
                    "the env var {} is not set; export a GitHub token with pull request write access there",
                    cfg.token_env
                ),
            })?;
        GithubForge::new(repo, cfg.api_url.as_deref(), &cfg.token_env, token)
    }

    /// The forge for `owner/name` at `api_url` (default: api.github.com),
    /// authenticating with `token` (read from `token_env`, named in errors).
    pub fn new(
        repo: &str,
        api_url: Option<&str>,
        token_env: &str,
        token: String,
    ) -> Result<GithubForge, ForgeError> {
        let (owner, name) = repo
            .split_once('/')
            .filter(|(o, n)| valid_name(o) && valid_name(n))
            .ok_or_else(|| ForgeError::Config {
                key: "forge.repo",
                why: format!("`{repo}` is not owner/name"),
            })?;
        let api_url = api_url
            .unwrap_or(GITHUB_API)
            .trim_end_matches('/')
            .to_string();
        if let Err(e) = Octocrab::builder().base_uri(api_url.as_str()) {
            return Err(ForgeError::Config {
                key: "forge.api_url",
                why: format!("`{api_url}` is not a URL: {}", describe(&e)),
            });
        }
        Ok(GithubForge {
            client: Arc::default(),
            owner: owner.to_string(),
            repo: name.to_string(),
            api_url,
            token_env: token_env.to_string(),
            token,
        })
    }

    /// The API client, built on the first call (inside the runtime).
    fn client(&self) -> Result<&Octocrab, ForgeError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .and_then(|b| {
                b.personal_token(self.token.clone())
                    .set_connect_timeout(Some(Duration::from_secs(10)))
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .build()
            })
            .map_err(|e| ForgeError::Github {
                action: "set up the client",
                message: describe(&e),
            })?;
        Ok(self.client.get_or_init(|| built))
    }

    /// `owner/name`.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// The HTTPS clone URL (no credentials in it): github.com for the
    /// public API, the Enterprise host for `https://host/api/v3`.
    pub fn remote_url(&self) -> String {
        let web = if self.api_url == GITHUB_API {
            "https://github.com".to_string()
        } else {
            self.api_url
                .trim_end_matches("/api/v3")
                .trim_end_matches("/api")
                .to_string()
        };
        format!("{web}/{}/{}.git", self.owner, self.repo)
    }

    /// What the push offers when the remote asks (GitHub takes a token as
    /// the password of the user `x-access-token`).
    pub fn credentials(&self) -> Credentials {
        Credentials::Token {
            username: "x-access-token".into(),
            token: self.token.clone(),
        }
    }

    /// The open pull request from `branch` in this repository, if any.
    pub async fn find_open_pr(
        &self,
        branch: &BranchName,
    ) -> Result<Option<PullRequest>, ForgeError> {
        let page = self
            .client()?
            .pulls(&self.owner, &self.repo)
            .list()
            .state(octocrab::params::State::Open)
            .head(format!("{}:{}", self.owner, branch.as_str()))
            .per_page(10)
            .send()
            .await
            .map_err(|e| self.error("list pull requests", e))?;
        // The head filter is GitHub's; check it anyway (a server ignoring
        // it must not make medic adopt someone else's pull request).
        Ok(page
            .items
            .into_iter()
            .find(|p| p.head.ref_field == branch.as_str())
            .map(|p| self.model(p)))
    }

    /// Opens a draft pull request, or adopts the open one from the same
    /// branch: looked up first, and again when GitHub answers 422 "A pull
    /// request already exists" (a crash between creating and recording).
    pub async fn open_pr(&self, new: NewPullRequest) -> Result<PullRequest, ForgeError> {
        if new.branch.as_str() == new.base {
            return Err(ForgeError::ProtectedBranch { branch: new.base });
        }
        if let Some(existing) = self.find_open_pr(&new.branch).await? {
            return Ok(existing);
        }
        let created = self
            .client()?
            .pulls(&self.owner, &self.repo)
            .create(&new.title, new.branch.as_str(), &new.base)
            .body(new.body.clone())
            .draft(Some(true))
            .send()
            .await;
        match created {
            Ok(p) => Ok(self.model(p)),
            Err(e) if already_exists(&e) => self
                .find_open_pr(&new.branch)
                .await?
                .ok_or_else(|| ForgeError::Github {
                    action: "open a pull request",
                    message: format!(
                        "GitHub says a pull request from {} already exists, but none is open from {}:{}; look at the repository's pull requests",
                        new.branch, self.owner, new.branch
                    ),
                }),
            Err(e) => Err(self.error("open a pull request", e)),
        }
    }

    /// Pull request `n`'s merge commit, once GitHub says it is merged.
    pub async fn merged(&self, n: u64) -> Result<Option<super::Merged>, ForgeError> {
        let p = self
            .client()?
            .pulls(&self.owner, &self.repo)
            .get(n)
            .await
            .map_err(|e| self.error("read a pull request", e))?;
        let merged = p.merged.unwrap_or(false) || p.merged_at.is_some();
        Ok(match (merged, p.merge_commit_sha) {
            (true, Some(commit)) => Some(super::Merged { commit }),
            _ => None,
        })
    }

    /// Comment on pull request `n` unless a comment holding `marker` is there.
    pub async fn comment(&self, n: u64, marker: &str, body: String) -> Result<(), ForgeError> {
        let client = self.client()?;
        let page = client
            .issues(&self.owner, &self.repo)
            .list_comments(n)
            .per_page(100)
            .send()
            .await
            .map_err(|e| self.error("list pull request comments", e))?;
        if page
            .items
            .iter()
            .any(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
        {
            return Ok(());
        }
        client
            .issues(&self.owner, &self.repo)
            .create_comment(n, body)
            .await
            .map_err(|e| self.error("comment on a pull request", e))?;
        Ok(())
    }

    fn model(&self, p: octocrab::models::pulls::PullRequest) -> PullRequest {
        PullRequest {
            number: p.number,
            url: p.html_url.map(|u| u.to_string()).unwrap_or_else(|| {
                format!(
                    "https://github.com/{}/{}/pull/{}",
                    self.owner, self.repo, p.number
                )
            }),
            branch: p.head.ref_field,
            base: p.base.ref_field,
            title: p.title.unwrap_or_default(),
            body: p.body.unwrap_or_default(),
            draft: p.draft.unwrap_or(false),
        }
    }

    fn error(&self, action: &'static str, e: octocrab::Error) -> ForgeError {
        if let octocrab::Error::GitHub { source, .. } = &e {
            let status = source.status_code.as_u16();
            if status == 401 || status == 403 {
                return ForgeError::GithubAuth {
                    action,
                    status,
                    message: self.scrub(&source.message),
                    token_env: self.token_env.clone(),
                    repo: self.repo(),
                };
            }
            if status == 404 {
                return ForgeError::Github {
                    action,
                    message: format!(
                        "{} was not found at {} (HTTP 404); check [forge] repo, api_url, and that the token in {} can see it",
                        self.repo(),
                        self.api_url,
                        self.token_env
                    ),
                };
            }
        }
        ForgeError::Github {
            action,
            message: self.scrub(&describe(&e)),
        }
    }

    /// Never let the token into an error, even if a server echoes it.
    fn scrub(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.token, "<token>")
        }
    }
}

/// GitHub's 422 for a second pull request from the same branch.
fn already_exists(e: &octocrab::Error) -> bool {
    let octocrab::Error::GitHub { source, .. } = e else {
        return false;
    };
    source.status_code.as_u16() == 422
        && (source.message.contains("already exists")
            || source.errors.iter().flatten().any(|err| {
                err.get("message")
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| m.contains("already exists"))
            }))
}

/// octocrab's error and its causes, one line, without backtraces.
fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let details: Vec<String> = source
                .errors
                .iter()
                .flatten()
                .filter_map(|d| d.get("message").and_then(|m| m.as_str()).map(String::from))
                .collect();
            let mut m = format!("HTTP {}: {}", source.status_code.as_u16(), source.message);
            if !details.is_empty() {
                m.push_str(&format!(" ({})", details.join("; ")));
            }
            m
        }
        octocrab::Error::Json { source, .. } => format!(
            "GitHub's answer is not what its API documents (at `{}`): {}",
            source.path(),
            source.inner()
        ),
        octocrab::Error::Serde { source, .. } => {
            format!("GitHub's answer is not what its API documents: {source}")
        }
        other => {
            let mut m = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                m.push_str(&format!(": {s}"));
                src = s.source();
            }
            m
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_carry_no_credentials() {
        let f = GithubForge::new("acme/api", None, "GITHUB_TOKEN", "ghp_EXAMPLE".into()).unwrap();
        assert_eq!(f.remote_url(), "https://github.com/acme/api.git");
        let ghe = GithubForge::new(
            "acme/api",
            Some("https://ghe.example.com/api/v3/"),
            "GHE_TOKEN",
            "ghp_EXAMPLE".into(),
        )
        .unwrap();
        assert_eq!(ghe.remote_url(), "https://ghe.example.com/acme/api.git");
        for text in [format!("{f:?}"), format!("{:?}", f.credentials())] {
            assert!(!text.contains("ghp_EXAMPLE"), "{text}");
        }
        assert!(GithubForge::new("acme", None, "T", "x".into()).is_err());
        assert!(GithubForge::new("acme/../x", None, "T", "x".into()).is_err());
    }
}
