//! Suspect commits: what landed on the base branch of the service's
//! repository in the window before an onset (sha, author, subject, files),
//! read with git2 from a repository on disk (the local forge's remote, or
//! a mirror). Blocking: callers run it on the blocking pool. It reads refs
//! and objects only; it never fetches, checks out or writes.

use super::ForgeError;
use crate::model::Millis;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// At most this many files are listed per commit.
pub const MAX_FILES: usize = 12;
/// At most this many commits are walked looking for the window.
const MAX_WALK: usize = 5_000;

/// One commit on the base branch in the window before an onset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectCommit {
    /// Short commit id (12 hex digits).
    pub sha: String,
    /// The author's name.
    pub author: String,
    /// When it was committed (committer time).
    pub at: Millis,
    /// The first line of the message.
    pub subject: String,
    /// Paths it changed against its first parent (at most [`MAX_FILES`]).
    pub files: Vec<String>,
    /// How many more paths it changed.
    pub more_files: usize,
}

/// Commits on `base` committed in `[from, to]`, newest first, at most `limit`.
pub fn suspect_commits(
    repo: &Path,
    base: &str,
    from: Millis,
    to: Millis,
    limit: usize,
) -> Result<Vec<SuspectCommit>, ForgeError> {
    super::git::isolate_from_git_config();
    let git = |action| move |source| ForgeError::Git { action, source };
    let repo =
        git2::Repository::open(repo).map_err(git("open the repository for suspect commits"))?;
    let tip = repo
        .refname_to_id(&format!("refs/heads/{base}"))
        .map_err(git("read the base branch"))?;
    let mut walk = repo.revwalk().map_err(git("walk the base branch"))?;
    walk.set_sorting(git2::Sort::TIME)
        .map_err(git("walk the base branch"))?;
    walk.push(tip).map_err(git("walk the base branch"))?;
    walk.simplify_first_parent()
        .map_err(git("walk the base branch"))?;
    let mut out = Vec::new();
    for oid in walk.take(MAX_WALK) {
        let oid = oid.map_err(git("walk the base branch"))?;
        let commit = repo.find_commit(oid).map_err(git("read a commit"))?;
        let at = commit.time().seconds() * 1000;
        if at > to {
            continue;
        }
        // Sorted by time: everything further is older than the window.
        if at < from {
            break;
        }
        let tree = commit.tree().map_err(git("read a commit's tree"))?;
        let parent = commit.parent(0).ok().and_then(|p| p.tree().ok());
        let diff = repo
            .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
            .map_err(git("diff a commit"))?;
        let mut files: Vec<String> = diff
            .deltas()
            .filter_map(|d| {
                d.new_file()
                    .path()
                    .or_else(|| d.old_file().path())
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .collect();
        let more_files = files.len().saturating_sub(MAX_FILES);
        files.truncate(MAX_FILES);
        let id = oid.to_string();
        out.push(SuspectCommit {
            sha: id[..12.min(id.len())].to_string(),
            author: commit.author().name().unwrap_or("unknown").to_string(),
            at,
            subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
            files,
            more_files,
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
