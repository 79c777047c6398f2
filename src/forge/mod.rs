//! From an agent's changes in a checkout to a pull request: the git layer
//! (clone, branch, commit, push, with the guard rails), the local forge of
//! the embedded default (a bare repository as the remote, the pull request
//! kept as a record) and the demo's sample repository.
//!
//! The guard rails live here so no caller can get around them: medic pushes
//! only branches it named (`medic/<incident>-<slug>`, see [`BranchName`]),
//! never the base, never with force, and never a diff over the configured
//! size. This room does not decide *whether* to push (approval is the
//! workflow's), and it does not edit files (that is the agent's).

pub mod git;
pub mod local;
pub mod sample_repo;

pub use git::BranchName;

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
