//! Change evidence from the forge, for every source: suspect commits on
//! the base branch before an onset (from the local forge's repository, see
//! [`super::suspects`]) and GitHub Deployments and Releases (REST, when the
//! token can read them). `[[deploys]]` in the config stays the fallback.
//!
//! GitHub's shapes, as documented: `GET /repos/{owner}/{repo}/commits`
//! answers `[{sha, commit{author{name}, committer{date}, message}}]` and
//! `GET /repos/{owner}/{repo}/commits/{sha}` adds `files[{filename}]`;
//! `GET /repos/{owner}/{repo}/deployments`
//! answers `[{id, sha, ref, environment, description, creator{login},
//! created_at}]`; `GET /repos/{owner}/{repo}/releases` answers
//! `[{tag_name, name, draft, published_at, author{login}}]`. A 403 or 404
//! means the token cannot read them: a gap in words, never an error.

use super::suspects::SuspectCommit;
use crate::model::{Millis, ServiceId};
use crate::sources::demo::Deploy;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One change the forge knows of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ForgeChange {
    /// A commit on the base branch in the window before the onset.
    Commit(SuspectCommit),
    /// A GitHub Deployment or Release of the repository.
    Deploy(Deploy),
}

/// Where the forge's change evidence comes from.
#[derive(Debug, Clone, Default)]
pub struct ForgeChanges {
    /// A repository on disk whose base branch is read (the local forge's remote).
    pub repo: Option<PathBuf>,
    /// The base branch.
    pub base: String,
    /// GitHub's REST API for the repository, with the token.
    pub github: Option<GithubChanges>,
}

/// Most suspect commits shown.
const MAX_COMMITS: usize = 10;

/// A branch name for a query string (letters, digits and `-._/` pass as is).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

impl ForgeChanges {
    /// Commits in `[from, to]` and GitHub's deployments and releases, and
    /// the gaps of the parts that could not answer. `service` owns them
    /// (the forge's repository is the service's).
    pub async fn fetch(
        &self,
        service: &str,
        from: Millis,
        to: Millis,
    ) -> (Vec<ForgeChange>, Vec<String>) {
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        if let Some(repo) = self.repo.clone().filter(|r| r.exists()) {
            let base = self.base.clone();
            let walked = tokio::task::spawn_blocking(move || {
                super::suspects::suspect_commits(&repo, &base, from, to, MAX_COMMITS)
            })
            .await;
            match walked {
                Ok(Ok(commits)) => out.extend(commits.into_iter().map(ForgeChange::Commit)),
                Ok(Err(e)) => gaps.push(format!("suspect commits unavailable: {e}")),
                Err(e) => gaps.push(format!("suspect commits unavailable: {e}")),
            }
        }
        if let Some(gh) = &self.github {
            let (deployments, releases) =
                futures_util::future::join(gh.deployments(service), gh.releases(service)).await;
            // The base branch's commits from the API when there is no repository on disk.
            if self.repo.is_none() {
                match gh.commits(&self.base, from, to).await {
                    Ok(c) => out.extend(c.into_iter().map(ForgeChange::Commit)),
                    Err(e) => gaps.push(e),
                }
            }
            for r in [deployments, releases] {
                match r {
                    Ok(d) => out.extend(d.into_iter().map(ForgeChange::Deploy)),
                    Err(e) => gaps.push(e),
                }
            }
        }
        (out, gaps)
    }
}

/// GitHub's REST API for one repository.
#[derive(Clone)]
pub struct GithubChanges {
    api: String,
    repo: String,
    token: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for GithubChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubChanges")
            .field("api", &self.api)
            .field("repo", &self.repo)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Deployment {
    id: u64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    creator: Option<Login>,
    created_at: String,
}

#[derive(Deserialize)]
struct CommitPerson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct CommitBody {
    #[serde(default)]
    author: Option<CommitPerson>,
    #[serde(default)]
    committer: Option<CommitPerson>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ListedCommit {
    sha: String,
    commit: CommitBody,
}

#[derive(Deserialize)]
struct CommitFile {
    filename: String,
}

#[derive(Deserialize)]
struct CommitDetail {
    #[serde(default)]
    files: Vec<CommitFile>,
}

#[derive(Deserialize)]
struct Release {
    tag_name: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    published_at: Option<String>,
    #[serde(default)]
    author: Option<Login>,
}

impl GithubChanges {
    /// The API at `api` (no trailing slash) for `owner/name`, reading with `token`.
    pub fn new(api: &str, repo: &str, token: String) -> GithubChanges {
        GithubChanges {
            api: api.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
            token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
    ) -> Result<T, String> {
        let url = format!("{}/repos/{}/{path}", self.api, self.repo);
        let fail = |why: String| format!("GitHub {what} of {} unavailable: {why}", self.repo);
        let reply = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "medic")
            .send()
            .await
            .map_err(|e| fail(format!("{}", e.without_url())))?;
        let status = reply.status().as_u16();
        match status {
            200 => {}
            401 | 403 | 404 => {
                return Err(fail(format!(
                    "HTTP {status}: the token cannot read them (it needs read access to deployments / contents)"
                )))
            }
            s => return Err(fail(format!("HTTP {s}"))),
        }
        let body = reply
            .bytes()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        serde_json::from_slice(&body).map_err(|e| fail(format!("unexpected answer: {e}")))
    }

    /// The repository's latest deployments as deploys of `service`, newest
    /// first; each one's previous version is the one before it in its environment.
    pub async fn deployments(&self, service: &str) -> Result<Vec<Deploy>, String> {
        let list: Vec<Deployment> = self.get("deployments", "deployments?per_page=30").await?;
        let mut out: Vec<Deploy> = Vec::new();
        for (i, d) in list.iter().enumerate() {
            let Some(at) = crate::units::parse_rfc3339(&d.created_at) else {
                continue;
            };
            let previous = list[i + 1..]
                .iter()
                .find(|p| p.environment == d.environment)
                .map_or("?".to_string(), |p| p.git_ref.clone());
            out.push(Deploy {
                id: d.sha.chars().take(7).collect(),
                service: ServiceId(service.to_string()),
                at,
                version: d.git_ref.clone(),
                previous,
                author: d
                    .creator
                    .as_ref()
                    .map_or("unknown".into(), |c| c.login.clone()),
                message: format!(
                    "GitHub deployment {} to {}{}",
                    d.id,
                    d.environment,
                    d.description
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(out)
    }

    /// Commits on `base` committed in `[from, to]`, newest first, with the
    /// files each changed (`GET /repos/{o}/{r}/commits?sha=&since=&until=`,
    /// then `GET /repos/{o}/{r}/commits/{sha}` for the files).
    pub async fn commits(
        &self,
        base: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<SuspectCommit>, String> {
        // Years 1970..=9999: what an RFC 3339 timestamp can say.
        let clamp = |t: Millis| t.clamp(0, 253_402_300_799_000);
        let path = format!(
            "commits?sha={}&since={}&until={}&per_page={MAX_COMMITS}",
            urlencode(base),
            crate::units::rfc3339(clamp(from)),
            crate::units::rfc3339(clamp(to))
        );
        let list: Vec<ListedCommit> = self.get("commits", &path).await?;
        let mut out = Vec::new();
        for c in list.into_iter().take(MAX_COMMITS) {
            let at = c
                .commit
                .committer
                .as_ref()
                .and_then(|p| p.date.as_deref())
                .and_then(crate::units::parse_rfc3339);
            let Some(at) = at else { continue };
            if !c.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let detail: CommitDetail = self
                .get("commit files", &format!("commits/{}", c.sha))
                .await?;
            let mut files: Vec<String> = detail.files.into_iter().map(|f| f.filename).collect();
            let more_files = files.len().saturating_sub(super::suspects::MAX_FILES);
            files.truncate(super::suspects::MAX_FILES);
            out.push(SuspectCommit {
                sha: c.sha.chars().take(12).collect(),
                author: c
                    .commit
                    .author
                    .and_then(|a| a.name)
                    .unwrap_or_else(|| "unknown".into()),
                at,
                subject: c.commit.message.lines().next().unwrap_or("").to_string(),
                files,
                more_files,
            });
        }
        Ok(out)
    }

    /// The repository's published releases as deploys of `service`, newest first.
    pub async fn releases(&self, service: &str) -> Result<Vec<Deploy>, String> {
        let list: Vec<Release> = self.get("releases", "releases?per_page=20").await?;
        let published: Vec<(&Release, Millis)> = list
            .iter()
            .filter(|r| !r.draft)
            .filter_map(|r| Some((r, crate::units::parse_rfc3339(r.published_at.as_deref()?)?)))
            .collect();
        Ok(published
            .iter()
            .enumerate()
            .map(|(i, (r, at))| Deploy {
                id: r.tag_name.clone(),
                service: ServiceId(service.to_string()),
                at: *at,
                version: r.tag_name.clone(),
                previous: published
                    .get(i + 1)
                    .map_or("?".to_string(), |(p, _)| p.tag_name.clone()),
                author: r
                    .author
                    .as_ref()
                    .map_or("unknown".into(), |a| a.login.clone()),
                message: format!(
                    "GitHub release {}",
                    r.name.as_deref().unwrap_or(&r.tag_name)
                ),
            })
            .collect())
    }
}
