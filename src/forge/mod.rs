//! From an agent's changes in a checkout to a pull request: the git layer
//! (clone, branch, commit, push, with the guard rails), the local forge of
//! the embedded default (a bare repository as the remote, the pull request
//! kept as a record), GitHub (octocrab), the [`Forge`] the workflow talks
//! to, and the demo's sample repository.
//!
//! The guard rails live here so no caller can get around them: medic pushes
//! only branches it named (`medic/<incident>-<slug>`, see [`BranchName`]),
//! never the base, never with force, and never a diff over the configured
//! size. This room does not decide *whether* to push (approval is the
//! workflow's), and it does not edit files (that is the agent's).

pub mod blocking;
pub mod branch;
pub mod changes;
pub mod git;
pub mod github;
pub mod http_transport;
pub mod local;
pub mod policy;
pub mod remote;
pub mod sample_repo;
pub mod suspects;

pub use git::BranchName;

use crate::config::ForgeConfig;
use crate::model::PullRequest;
use git::Credentials;
use github::GithubForge;
use local::LocalForge;
use std::path::Path;

/// Where branches are pushed and pull requests opened, as `[forge] kind` says.
#[derive(Debug, Clone)]
pub enum Forge {
    /// The embedded default: a bare repository in the data dir.
    Local(LocalForge),
    /// GitHub or GitHub Enterprise.
    Github(GithubForge),
}

impl Forge {
    /// The forge `[forge]` configures (`local`: the demo's sample
    /// repository under `data_dir`; `github`: `repo`, `token_env`, `api_url`).
    pub fn from_config(cfg: &ForgeConfig, data_dir: &Path) -> Result<Forge, ForgeError> {
        match cfg.kind.as_str() {
            "local" => Ok(Forge::Local(LocalForge::demo(data_dir)?)),
            "github" => Ok(Forge::Github(GithubForge::from_config(cfg)?)),
            other => Err(ForgeError::Config {
                key: "forge.kind",
                why: format!("`{other}` is not a forge; use \"local\" or \"github\""),
            }),
        }
    }

    /// The URL medic clones from and pushes to (never with credentials in it).
    pub fn remote_url(&self) -> String {
        match self {
            Forge::Local(f) => f.remote_url(),
            Forge::Github(f) => f.remote_url(),
        }
    }

    /// What the git layer offers when the remote asks for credentials.
    pub fn credentials(&self) -> Credentials {
        match self {
            Forge::Local(_) => Credentials::None,
            Forge::Github(f) => f.credentials(),
        }
    }

    /// The open pull request from `branch`, if there is one.
    pub async fn find_open_pr(
        &self,
        branch: &BranchName,
    ) -> Result<Option<PullRequest>, ForgeError> {
        match self {
            Forge::Local(f) => {
                // File reads and git2: off the async workers.
                let (f, branch) = (f.clone(), branch.clone());
                blocking::run(move |_| Ok(f.find_open_pr(&branch)?.map(|r| r.pr))).await
            }
            Forge::Github(f) => f.find_open_pr(branch).await,
        }
    }

    /// Opens a draft pull request, or adopts the open one from the same branch.
    pub async fn open_pr(&self, new: NewPullRequest) -> Result<PullRequest, ForgeError> {
        match self {
            Forge::Local(f) => {
                let f = f.clone();
                blocking::run(move |_| Ok(f.open_pr(new)?.pr)).await
            }
            Forge::Github(f) => f.open_pr(new).await,
        }
    }
}

/// A merged pull request, as the forge reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Merged {
    /// The merge commit on the base branch (what must reach the workload).
    pub commit: String,
}

impl Forge {
    /// Pull request `n`'s merge, once it is merged (`None`: not yet).
    pub async fn merged(&self, n: u64) -> Result<Option<Merged>, ForgeError> {
        match self {
            Forge::Local(f) => {
                let f = f.clone();
                blocking::run(move |_| {
                    Ok(f.get(n)?
                        .and_then(|r| r.merge_commit)
                        .map(|commit| Merged { commit }))
                })
                .await
            }
            Forge::Github(f) => f.merged(n).await,
        }
    }

    /// Comment on pull request `n` once: a comment holding `marker` is not posted again.
    pub async fn comment(&self, n: u64, marker: &str, body: String) -> Result<(), ForgeError> {
        match self {
            Forge::Local(f) => {
                let (f, marker) = (f.clone(), marker.to_string());
                blocking::run(move |_| f.comment(n, &marker, &body)).await
            }
            Forge::Github(f) => f.comment(n, marker, body).await,
        }
    }
}

/// Why a forge operation failed. [`ForgeError::DiffTooLarge`] is the one
/// the caller shows as "stop and ask" rather than as a failure.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// A git operation failed.
    #[error("git {action}: {source}")]
    Git {
        /// What medic was doing (`clone`, `push`, …).
        action: &'static str,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The remote kept refusing the credentials.
    #[error("authentication to {url} failed after {attempts} attempts: check the token (or the SSH agent) and its access to the repository")]
    Auth {
        /// The remote.
        url: String,
        /// How many times credentials were offered.
        attempts: u32,
    },
    /// A branch name medic did not make, or a malformed one.
    #[error("`{name}` is not a medic branch ({why}); medic only pushes branches named medic/<incident-id>-<slug>")]
    BadBranchName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An attempt to push to (or commit on) the base branch.
    #[error(
        "refusing to push to `{branch}`: it is the base branch; medic pushes only its own branches"
    )]
    ProtectedBranch {
        /// The branch.
        branch: String,
    },
    /// Committing while the checkout is on a branch medic did not create.
    #[error("refusing to commit on `{head}`: check out a medic branch first")]
    NotOnMedicBranch {
        /// What HEAD points to.
        head: String,
    },
    /// The remote rejected the update, even though the transport said OK.
    #[error("the remote rejected {refname}: {reason}")]
    Rejected {
        /// The ref.
        refname: String,
        /// The remote's words (hook output included).
        reason: String,
    },
    /// The change is bigger than the configured limit: stop and ask the operator.
    #[error(
        "the diff is {bytes} bytes, over the limit of {limit}: stopping to ask before pushing"
    )]
    DiffTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit (`[forge] max_diff_bytes`).
        limit: usize,
    },
    /// The branch has no change against the base: nothing to push, no pull request.
    #[error("{branch} has no change against {base}: nothing to push and no pull request to open")]
    EmptyDiff {
        /// The branch.
        branch: String,
        /// The base.
        base: String,
    },
    /// The branch is not on the remote yet.
    #[error("{branch} is not on the remote; push it before opening a pull request")]
    NotPushed {
        /// The branch.
        branch: String,
    },
    /// A repository name that cannot be a single path segment.
    #[error("`{0}` is not a repository name (letters, digits, `.`, `_` and `-` only)")]
    BadRepoName(String),
    /// Reading or writing the forge's files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The GitHub API refused the token.
    #[error("GitHub answered HTTP {status} to `{action}` on {repo}: {message}. Check the token in the env var {token_env}: set, not expired, and allowed to read the repository and write pull requests")]
    GithubAuth {
        /// What medic was doing.
        action: &'static str,
        /// 401 or 403.
        status: u16,
        /// What GitHub said.
        message: String,
        /// The env var holding the token (never its value).
        token_env: String,
        /// `owner/name`.
        repo: String,
    },
    /// A GitHub API call failed otherwise (network, 5xx, an unexpected answer).
    #[error("GitHub: could not {action}: {message}")]
    Github {
        /// What medic was doing.
        action: &'static str,
        /// What went wrong.
        message: String,
    },
    /// `[forge]` cannot be used as written.
    #[error("{key}: {why}")]
    Config {
        /// The config key.
        key: &'static str,
        /// What is wrong and what to do.
        why: String,
    },
    /// The remote's base branch, or a ref medic did not create, changed
    /// while the agent ran: nothing is pushed, the operator decides.
    #[error("the remote changed while the agent ran, so medic pushed nothing: {}. medic pushes only its own branch; check who moved these refs (the agent must not), restore them, then retry", changes.join("; "))]
    RefsMoved {
        /// One line per ref that moved, was created or deleted.
        changes: Vec<String>,
    },
    /// The remote has no base branch to branch from or compare with.
    #[error(
        "the remote has no branch `{base}`; set [forge] base to the repository's default branch"
    )]
    NoBase {
        /// The configured base.
        base: String,
    },
    /// Something in the checkout tried to steer medic's git (a rewritten
    /// URL, a replaced `.git`, a commit not on the base).
    #[error("refusing to push: {why}")]
    Untrusted {
        /// What was found.
        why: String,
    },
    /// The step's timeout or the operator's cancel stopped a transfer.
    #[error("{}", blocking::STOPPED)]
    Interrupted,
    /// The thread running git work died (a panic in libgit2 or medic).
    #[error("the git worker thread failed: {0}")]
    Worker(String),
    /// A pull request record that cannot be read.
    #[error("{path}: not a pull request record: {why}")]
    Record {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

impl ForgeError {
    /// Whether the operator should be asked (rather than the step retried).
    pub fn is_stop_and_ask(&self) -> bool {
        matches!(self, ForgeError::DiffTooLarge { .. })
    }

    /// Whether a retry cannot change the outcome (the operator must act):
    /// refs moved under medic, an untrusted checkout, a missing base.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ForgeError::RefsMoved { .. }
                | ForgeError::Untrusted { .. }
                | ForgeError::NoBase { .. }
                | ForgeError::ProtectedBranch { .. }
                | ForgeError::BadBranchName { .. }
        )
    }

    pub(crate) fn git(action: &'static str) -> impl FnOnce(git2::Error) -> ForgeError {
        move |source| ForgeError::Git { action, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ForgeError + '_ {
        move |source| ForgeError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What a pull request is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPullRequest {
    /// One line.
    pub title: String,
    /// Markdown: summary of changes, analysis, root cause, fix, evidence, verification.
    pub body: String,
    /// The head branch (medic's).
    pub branch: BranchName,
    /// The base branch.
    pub base: String,
    /// The diff against the base, as shown to the reviewer.
    pub diff: String,
}
