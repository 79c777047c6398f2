//! The local forge of the embedded default: a bare repository in the data
//! dir is the remote, and a pull request is a JSON record next to it.
//!
//! Layout under `<data-dir>/forge/`: `repos/<repo>.git` (the remote) and
//! `pulls/<repo>/<n>.json` (one record per pull request). Records are
//! written to a temporary file and then linked or renamed into place, so a
//! crash never leaves half a record, and a number is never taken twice.
//! Opening a pull request for a branch that already has an open one adopts
//! it. This room never touches a checkout; it only reads the bare remote.

use super::{sample_repo, BranchName, ForgeError, NewPullRequest};
use crate::model::PullRequest;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a pull request is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullState {
    /// Open (as a draft until someone marks it ready).
    Open,
    /// Closed without merging.
    Closed,
    /// Merged into its base (`merge_commit` says how).
    Merged,
}

/// A pull request as the local forge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRecord {
    /// The repository.
    pub repo: String,
    /// Open or closed.
    pub state: PullState,
    /// Number, url, branch, base, title, body, draft.
    #[serde(flatten)]
    pub pr: PullRequest,
    /// The branch's commit on the remote when the record was last written.
    pub head: String,
    /// The diff against the base.
    pub diff: String,
    /// The base branch's merge commit, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// Comments on the pull request, oldest first (medic's verification outcome).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
}

/// The local forge for one repository.
#[derive(Debug, Clone)]
pub struct LocalForge {
    root: PathBuf,
    repo: String,
}

impl LocalForge {
    /// The forge for `repo` under `<data_dir>/forge/`. Creates nothing.
    pub fn new(data_dir: &Path, repo: &str) -> Result<LocalForge, ForgeError> {
        let ok = !repo.is_empty()
            && repo.len() <= 100
            && !repo.starts_with('.')
            && repo
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return Err(ForgeError::BadRepoName(repo.to_string()));
        }
        Ok(LocalForge {
            root: data_dir.join("forge"),
            repo: repo.to_string(),
        })
    }

    /// The demo's forge, holding the sample repository (created if missing).
    pub fn demo(data_dir: &Path) -> Result<LocalForge, ForgeError> {
        super::git::isolate_from_git_config();
        let forge = LocalForge::new(data_dir, sample_repo::REPO)?;
        sample_repo::create(&forge.remote_path())?;
        Ok(forge)
    }

    /// The repository's name.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The bare repository that plays the remote.
    pub fn remote_path(&self) -> PathBuf {
        self.root.join("repos").join(format!("{}.git", self.repo))
    }

    /// The remote as a URL git can clone (a local path).
    pub fn remote_url(&self) -> String {
        self.remote_path().display().to_string()
    }

    fn pulls_dir(&self) -> PathBuf {
        self.root.join("pulls").join(&self.repo)
    }

    /// Every pull request record, by number.
    pub fn list(&self) -> Result<Vec<PullRecord>, ForgeError> {
        let dir = self.pulls_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ForgeError::io(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(ForgeError::io(&dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
                .is_none()
            {
                continue; // temporary files and strays
            }
            out.push(read_record(&path)?);
        }
        out.sort_by_key(|r| r.pr.number);
        Ok(out)
    }

    /// Pull request number `n`.
    pub fn get(&self, n: u64) -> Result<Option<PullRecord>, ForgeError> {
        let path = self.pulls_dir().join(format!("{n}.json"));
        if !path.exists() {
            return Ok(None);
        }
        read_record(&path).map(Some)
    }

    /// The open pull request from `branch`, if there is one.
    pub fn find_open_pr(&self, branch: &BranchName) -> Result<Option<PullRecord>, ForgeError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|r| r.state == PullState::Open && r.pr.branch == branch.as_str()))
    }

    /// Opens a draft pull request, or adopts the open one from the same
    /// branch (refreshing its diff and head; never a second one). The
    /// branch must already be on the remote.
    pub fn open_pr(&self, new: NewPullRequest) -> Result<PullRecord, ForgeError> {
        if new.branch.as_str() == new.base {
            return Err(ForgeError::ProtectedBranch {
                branch: new.base.clone(),
            });
        }
        let head = self
            .remote_head(&new.branch)?
            .ok_or_else(|| ForgeError::NotPushed {
                branch: new.branch.to_string(),
            })?;
        if let Some(mut existing) = self.find_open_pr(&new.branch)? {
            if existing.head != head || existing.diff != new.diff {
                existing.head = head;
                existing.diff = new.diff;
                self.replace(&existing)?;
            }
            return Ok(existing);
        }
        let dir = self.pulls_dir();
        fs::create_dir_all(&dir).map_err(ForgeError::io(&dir))?;
        let mut number = self.list()?.last().map_or(1, |r| r.pr.number + 1);
        loop {
            let record = PullRecord {
                repo: self.repo.clone(),
                state: PullState::Open,
                pr: PullRequest {
                    number,
                    url: format!("local://forge/{}/pull/{number}", self.repo),
                    branch: new.branch.to_string(),
                    base: new.base.clone(),
                    title: new.title.clone(),
                    body: new.body.clone(),
                    draft: true,
                },
                head: head.clone(),
                diff: new.diff.clone(),
                merge_commit: None,
                comments: vec![],
            };
            let tmp = write_temp(&dir, &record)?;
            let path = dir.join(format!("{number}.json"));
            // A hard link never replaces an existing file: a number taken
            // meanwhile fails here and the next one is tried.
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => return Ok(record),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
                Err(e) => return Err(ForgeError::io(&path)(e)),
            }
        }
    }

    /// Marks pull request `n` closed (for the operator and the tests).
    pub fn close(&self, n: u64) -> Result<(), ForgeError> {
        if let Some(mut r) = self.get(n)? {
            r.state = PullState::Closed;
            self.replace(&r)?;
        }
        Ok(())
    }

    /// Merges pull request `n` into its base on the remote with a merge
    /// commit (the operator's `medic merge`; the demo's "deploy"), and
    /// returns that commit. Again after a crash: the merge already on the
    /// base is found, never made twice.
    pub fn merge(&self, n: u64) -> Result<String, ForgeError> {
        let mut record = self.get(n)?.ok_or_else(|| ForgeError::Record {
            path: self
                .pulls_dir()
                .join(format!("{n}.json"))
                .display()
                .to_string(),
            why: format!("there is no pull request #{n} in {}", self.repo),
        })?;
        if let Some(done) = &record.merge_commit {
            return Ok(done.clone());
        }
        if record.state == PullState::Closed {
            return Err(ForgeError::Untrusted {
                why: format!("pull request #{n} is closed; reopen it before merging"),
            });
        }
        let repo = git2::Repository::open_bare(self.remote_path())
            .map_err(ForgeError::git("open the remote"))?;
        let branch = BranchName::parse(&record.pr.branch)?;
        let head = repo
            .refname_to_id(&branch.refname())
            .map_err(ForgeError::git("read the pull request's branch"))?;
        let base_ref = format!("refs/heads/{}", record.pr.base);
        let base = repo
            .refname_to_id(&base_ref)
            .map_err(|_| ForgeError::NoBase {
                base: record.pr.base.clone(),
            })?;
        let merged = if repo
            .graph_descendant_of(base, head)
            .map_err(ForgeError::git("compare the branch with the base"))?
        {
            // Merged before a crash could record it: the base tip is (or follows) the merge.
            base
        } else {
            let ours = repo
                .find_commit(base)
                .map_err(ForgeError::git("read the base"))?;
            let theirs = repo
                .find_commit(head)
                .map_err(ForgeError::git("read the branch"))?;
            let mut index = repo
                .merge_commits(&ours, &theirs, None)
                .map_err(ForgeError::git("merge the branch"))?;
            if index.has_conflicts() {
                return Err(ForgeError::Untrusted {
                    why: format!(
                        "pull request #{n} conflicts with {}; resolve it on the branch first",
                        record.pr.base
                    ),
                });
            }
            let tree_id = index
                .write_tree_to(&repo)
                .map_err(ForgeError::git("write the merged tree"))?;
            let tree = repo
                .find_tree(tree_id)
                .map_err(ForgeError::git("read the merged tree"))?;
            let who = git2::Signature::now("medic", "medic@localhost")
                .map_err(ForgeError::git("sign the merge"))?;
            let message = format!(
                "Merge pull request #{n} from {}\n\n{}",
                record.pr.branch, record.pr.title
            );
            repo.commit(
                Some(&base_ref),
                &who,
                &who,
                &message,
                &tree,
                &[&ours, &theirs],
            )
            .map_err(ForgeError::git("commit the merge"))?
        };
        record.state = PullState::Merged;
        record.merge_commit = Some(merged.to_string());
        self.replace(&record)?;
        Ok(merged.to_string())
    }

    /// Adds a comment to pull request `n`, unless one holding `marker` is
    /// there already (a retry after a crash does not post twice).
    pub fn comment(&self, n: u64, marker: &str, body: &str) -> Result<(), ForgeError> {
        let Some(mut record) = self.get(n)? else {
            return Err(ForgeError::Record {
                path: self
                    .pulls_dir()
                    .join(format!("{n}.json"))
                    .display()
                    .to_string(),
                why: format!("there is no pull request #{n} in {}", self.repo),
            });
        };
        if record.comments.iter().any(|c| c.contains(marker)) {
            return Ok(());
        }
        record.comments.push(body.to_string());
        self.replace(&record)
    }

    /// Rewrites a record in place, atomically.
    fn replace(&self, record: &PullRecord) -> Result<(), ForgeError> {
        let dir = self.pulls_dir();
        let tmp = write_temp(&dir, record)?;
        let path = dir.join(format!("{}.json", record.pr.number));
        fs::rename(&tmp, &path).map_err(ForgeError::io(&path))
    }

    /// The branch's commit in the bare remote, if it is there.
    fn remote_head(&self, branch: &BranchName) -> Result<Option<String>, ForgeError> {
        let repo = git2::Repository::open_bare(self.remote_path())
            .map_err(ForgeError::git("open the remote"))?;
        Ok(repo
            .refname_to_id(&branch.refname())
            .ok()
            .map(|o| o.to_string()))
    }
}

fn read_record(path: &Path) -> Result<PullRecord, ForgeError> {
    let text = fs::read_to_string(path).map_err(ForgeError::io(path))?;
    serde_json::from_str(&text).map_err(|e| ForgeError::Record {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Writes `record` to a fresh temporary file in `dir`, synced to disk.
fn write_temp(dir: &Path, record: &PullRecord) -> Result<PathBuf, ForgeError> {
    let json = serde_json::to_string_pretty(record).expect("a record always serialises");
    for attempt in 0u32.. {
        let tmp = dir.join(format!(
            ".tmp-{}-{}-{attempt}",
            std::process::id(),
            record.pr.number
        ));
        let mut f = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ForgeError::io(&tmp)(e)),
        };
        f.write_all(json.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(ForgeError::io(&tmp))?;
        return Ok(tmp);
    }
    unreachable!("some attempt number is free")
}
