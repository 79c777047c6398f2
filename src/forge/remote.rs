//! The remote as medic's config names it, never as the checkout does.
//!
//! The agent owns the checkout, `.git/config` included: a `remote.origin.url`,
//! `pushurl`, `url.*.insteadOf` or `core.hooksPath` written there must not
//! decide where medic's token goes or what runs. So:
//!
//! - ref listings go through a *detached* remote built from the forge URL
//!   (no repository, no config at all);
//! - pushes go from the [`Outbox`], a bare repository medic owns beside the
//!   checkout (the agent never sees it), reading the checkout's objects
//!   only (content-addressed, verified by libgit2), through an anonymous
//!   remote on the forge URL; libgit2 runs no hooks;
//! - before a push, the remote's refs are compared with a [`RefSnapshot`]
//!   taken before the agent ran: if the base branch or any ref medic did
//!   not create moved, nothing is pushed ([`ForgeError::RefsMoved`]);
//! - a stale `refs/heads/medic/….lock` left in a local remote by a medic
//!   killed mid-push is removed once it is old enough to be nobody's.

use super::git::{
    auth_or, callbacks, check_size, diff_trees, http_remote, join, stopped_or, GitSettings,
    PushOutcome, MAX_CREDENTIAL_ATTEMPTS,
};
use super::{BranchName, ForgeError};
use git2::{Direction, Oid, PushOptions, Remote, Repository};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A ref lock older than this in a local remote belongs to no live push
/// (libgit2 holds one for milliseconds).
pub const STALE_LOCK_AGE: Duration = Duration::from_secs(10);

/// The remote's refs at one instant (`refs/…` or `HEAD` → commit id), as
/// journaled before the agent ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefSnapshot {
    /// Ref name → object id (hex).
    pub refs: BTreeMap<String, String>,
}

impl RefSnapshot {
    /// Lists the refs of the remote at `url` (git's ls-remote), reading no
    /// repository's config.
    pub fn take(url: &str, settings: &GitSettings) -> Result<RefSnapshot, ForgeError> {
        super::git::isolate_from_git_config();
        let _auth = http_remote(url, settings)?;
        let attempts = Cell::new(0);
        let mut remote =
            Remote::create_detached(url).map_err(ForgeError::git("list remote refs"))?;
        let cb = callbacks(&settings.credentials, &attempts, &settings.cancel);
        let conn = remote
            .connect_auth(Direction::Fetch, Some(cb), None)
            .map_err(|e| stopped_or(settings, auth_or(e, &attempts, url, "connect")))?;
        let heads = conn.list().map_err(ForgeError::git("list remote refs"))?;
        Ok(RefSnapshot {
            refs: heads
                .iter()
                .map(|h| (h.name().to_string(), h.oid().to_string()))
                .collect(),
        })
    }

    /// The commit `refname` points to, if it is there.
    pub fn get(&self, refname: &str) -> Option<Oid> {
        self.refs.get(refname).and_then(|o| Oid::from_str(o).ok())
    }

    /// The base branch's commit, or why there is none.
    pub fn base(&self, base: &str) -> Result<Oid, ForgeError> {
        self.get(&format!("refs/heads/{base}"))
            .ok_or_else(|| ForgeError::NoBase {
                base: base.to_string(),
            })
    }

    /// What moved between `self` (before) and `now`, except `ours`: one
    /// line per ref, in the operator's words. Empty: nothing moved.
    pub fn moved(&self, now: &RefSnapshot, ours: &BranchName) -> Vec<String> {
        let mine = ours.refname();
        let short = |o: &str| o.chars().take(12).collect::<String>();
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            self.refs.keys().chain(now.refs.keys()).collect();
        for name in names {
            if *name == mine || name.strip_suffix("^{}") == Some(mine.as_str()) {
                continue;
            }
            match (self.refs.get(name), now.refs.get(name)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => {
                    out.push(format!("{name} moved from {} to {}", short(a), short(b)))
                }
                (None, Some(b)) => out.push(format!("{name} was created (at {})", short(b))),
                (Some(a), None) => out.push(format!("{name} was deleted (was {})", short(a))),
                (None, None) => {}
            }
        }
        out
    }
}

/// [`ForgeError::Untrusted`] unless `remote` goes to `url` and nowhere else
/// (an `insteadOf` or `pushInsteadOf` rewrote it).
pub(crate) fn same_url(remote: &Remote<'_>, url: &str) -> Result<(), ForgeError> {
    if remote.url().ok() != Some(url) || remote.pushurl().ok().flatten().is_some_and(|p| p != url) {
        return Err(ForgeError::Untrusted {
            why: "a git config rewrites the forge URL (url.*.insteadOf or pushInsteadOf); medic talks only to the URL in its own config".into(),
        });
    }
    Ok(())
}

/// medic's own bare repository beside a checkout: the only place pushes
/// leave from.
pub struct Outbox {
    repo: Repository,
    url: String,
    settings: GitSettings,
}

impl Outbox {
    /// Where the outbox of the checkout at `checkout` lives (`<dir>.outbox.git`).
    pub fn path_for(checkout: &Path) -> PathBuf {
        let name = checkout
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkout".into());
        checkout.with_file_name(format!("{name}.outbox.git"))
    }

    /// Opens (creating) the outbox of `checkout`, seeing the checkout's
    /// objects and nothing else of it; `url` is the forge URL from medic's config.
    pub fn open(checkout: &Path, url: &str, settings: GitSettings) -> Result<Outbox, ForgeError> {
        super::git::isolate_from_git_config();
        let git_dir = checkout.join(".git");
        let meta = std::fs::symlink_metadata(&git_dir).map_err(ForgeError::io(&git_dir))?;
        if !meta.is_dir() {
            return Err(ForgeError::Untrusted {
                why: format!(
                    "{} is no longer a directory (the agent replaced it); medic reads objects only from the checkout it cloned",
                    git_dir.display()
                ),
            });
        }
        let dir = Outbox::path_for(checkout);
        let repo = match Repository::open_bare(&dir) {
            Ok(r) => r,
            Err(_) => Repository::init_bare(&dir).map_err(ForgeError::git("create the outbox"))?,
        };
        let objects = git_dir.join("objects");
        repo.odb()
            .and_then(|odb| odb.add_disk_alternate(&objects.to_string_lossy()))
            .map_err(ForgeError::git("read the checkout's objects"))?;
        Ok(Outbox {
            repo,
            url: url.to_string(),
            settings,
        })
    }

    /// The diff of `commit` against the base in `snapshot`.
    pub fn diff(
        &self,
        commit: Oid,
        snapshot: &RefSnapshot,
    ) -> Result<super::git::DiffSummary, ForgeError> {
        let (base, head) = self.trees(commit, snapshot)?;
        diff_trees(&self.repo, &base, &head)
    }

    /// The change policy's verdict on `commit` against the base in `snapshot`.
    pub fn review(
        &self,
        commit: Oid,
        snapshot: &RefSnapshot,
        protected: &super::policy::Protected,
    ) -> Result<Vec<super::policy::Held>, ForgeError> {
        let (base, head) = self.trees(commit, snapshot)?;
        super::policy::review(&self.repo, base.id(), head.id(), protected)
            .map_err(ForgeError::git("review the change"))
    }

    /// The base's tree and `commit`'s, once `commit` is known to descend
    /// from the base medic branched from.
    fn trees(
        &self,
        commit: Oid,
        snapshot: &RefSnapshot,
    ) -> Result<(git2::Tree<'_>, git2::Tree<'_>), ForgeError> {
        let e = || ForgeError::git("read medic's commit");
        let base = snapshot.base(&self.settings.base)?;
        let c = self.repo.find_commit(commit).map_err(e())?;
        if commit != base && !self.repo.graph_descendant_of(commit, base).map_err(e())? {
            return Err(ForgeError::Untrusted {
                why: format!(
                    "commit {commit} does not descend from the base {base} medic branched from"
                ),
            });
        }
        let base_tree = self
            .repo
            .find_commit(base)
            .and_then(|b| b.tree())
            .map_err(e())?;
        Ok((base_tree, c.tree().map_err(e())?))
    }

    /// Pushes `commit` to `branch` on the forge (fast-forward only), after
    /// the guard rails: not the base, descends from the base, not empty,
    /// within the size limit, the remote's other refs as in `snapshot`, not
    /// already there.
    pub fn push(
        &self,
        branch: &BranchName,
        commit: Oid,
        snapshot: &RefSnapshot,
    ) -> Result<PushOutcome, ForgeError> {
        if branch.as_str() == self.settings.base {
            return Err(ForgeError::ProtectedBranch {
                branch: branch.to_string(),
            });
        }
        let diff = self.diff(commit, snapshot)?;
        if diff.is_empty() {
            return Err(ForgeError::EmptyDiff {
                branch: branch.to_string(),
                base: self.settings.base.clone(),
            });
        }
        check_size(&diff, self.settings.max_diff_bytes)?;
        let now = RefSnapshot::take(&self.url, &self.settings)?;
        let moved = snapshot.moved(&now, branch);
        if !moved.is_empty() {
            return Err(ForgeError::RefsMoved { changes: moved });
        }
        let refname = branch.refname();
        if now.get(&refname) == Some(commit) {
            return Ok(PushOutcome::AlreadyThere(commit));
        }
        clear_stale_lock(&self.url, branch, STALE_LOCK_AGE, &self.settings.cancel)?;
        self.repo
            .reference(&refname, commit, true, "medic: outgoing")
            .map_err(ForgeError::git("push"))?;

        let s = &self.settings;
        let attempts = Cell::new(0);
        let statuses: RefCell<Vec<(String, Option<String>)>> = RefCell::new(Vec::new());
        let remote_said = RefCell::new(String::new());
        let mut cb = callbacks(&s.credentials, &attempts, &s.cancel);
        cb.push_update_reference(|name, status| {
            statuses
                .borrow_mut()
                .push((name.to_string(), status.map(str::to_string)));
            Ok(())
        });
        cb.sideband_progress(|data| {
            remote_said
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(data));
            !s.cancel.is_set()
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        let mut remote = self
            .repo
            .remote_anonymous(&self.url)
            .map_err(ForgeError::git("push"))?;
        same_url(&remote, &self.url)?;
        let url = self.url.clone();
        let _auth = http_remote(&url, s)?;
        // No `+`: never a force push.
        let spec = format!("{refname}:{refname}");
        let pushed = remote.push(&[spec.as_str()], Some(&mut opts));
        drop(opts);
        let said = remote_said.into_inner().trim().to_string();
        if let Err(e) = pushed {
            if s.cancel.is_set() {
                return Err(ForgeError::Interrupted);
            }
            let auth = auth_or(e, &attempts, &url, "push");
            return Err(match auth {
                ForgeError::Git { source, .. } if attempts.get() <= MAX_CREDENTIAL_ATTEMPTS => {
                    ForgeError::Rejected {
                        refname,
                        reason: join(source.message(), &said),
                    }
                }
                other => other,
            });
        }
        match statuses
            .into_inner()
            .into_iter()
            .find(|(n, _)| *n == refname)
        {
            Some((_, Some(why))) => Err(ForgeError::Rejected {
                refname,
                reason: join(&why, &said),
            }),
            Some((_, None)) => Ok(PushOutcome::Pushed(commit)),
            // No status for our ref: believe only what the remote shows.
            None if RefSnapshot::take(&url, s)?.get(&refname) == Some(commit) => {
                Ok(PushOutcome::Pushed(commit))
            }
            None => Err(ForgeError::Rejected {
                refname,
                reason: join("the remote did not confirm the update", &said),
            }),
        }
    }
}

/// The git directory of a local remote (a path or `file://` URL); `None`
/// for network remotes.
fn local_git_dir(url: &str) -> Option<PathBuf> {
    if url.contains("://") && !url.starts_with("file://") {
        return None;
    }
    let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    if path.join("HEAD").is_file() && path.join("objects").is_dir() {
        Some(path)
    } else {
        let dot = path.join(".git");
        dot.is_dir().then_some(dot)
    }
}

/// Removes `refs/heads/<branch>.lock` from a local remote when a medic
/// killed mid-push left it: only medic's own branch's lock, only a regular
/// file, and only once it is `safe_age` old (a younger one is waited for,
/// unless `cancel` stops the wait). True when a lock was removed.
pub fn clear_stale_lock(
    url: &str,
    branch: &BranchName,
    safe_age: Duration,
    cancel: &super::blocking::CancelFlag,
) -> Result<bool, ForgeError> {
    let Some(git_dir) = local_git_dir(url) else {
        return Ok(false);
    };
    let lock = git_dir.join(format!("{}.lock", branch.refname()));
    loop {
        let meta = match std::fs::symlink_metadata(&lock) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ForgeError::io(&lock)(e)),
        };
        if !meta.is_file() {
            return Ok(false);
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age >= safe_age {
            return match std::fs::remove_file(&lock) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(ForgeError::io(&lock)(e)),
            };
        }
        if cancel.is_set() {
            return Err(ForgeError::Interrupted);
        }
        std::thread::sleep((safe_age - age).min(Duration::from_millis(200)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pairs: &[(&str, &str)]) -> RefSnapshot {
        RefSnapshot {
            refs: pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_medics_branch_may_move() {
        let ours = BranchName::new("inc-1", "api fix").unwrap();
        let before = snap(&[
            ("HEAD", "aa"),
            ("refs/heads/main", "aa"),
            ("refs/tags/v1", "cc"),
        ]);
        let mut now = before.clone();
        now.refs.insert(ours.refname(), "dd".into());
        assert!(before.moved(&now, &ours).is_empty());
        now.refs.insert("refs/heads/main".into(), "bb".into());
        now.refs.insert("refs/heads/evil".into(), "ee".into());
        now.refs.remove("refs/tags/v1");
        let moved = before.moved(&now, &ours);
        assert_eq!(
            moved,
            [
                "refs/heads/evil was created (at ee)",
                "refs/heads/main moved from aa to bb",
                "refs/tags/v1 was deleted (was cc)"
            ]
        );
        assert!(before.base("main").is_ok());
        assert!(before
            .base("trunk")
            .unwrap_err()
            .to_string()
            .contains("`trunk`"));
    }

    #[test]
    fn a_stale_lock_is_removed_and_only_that() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("r.git");
        Repository::init_bare(&bare).unwrap();
        let url = bare.display().to_string();
        let ours = BranchName::new("inc-1", "api fix").unwrap();
        let lock = bare.join(format!("{}.lock", ours.refname()));
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(&lock, "").unwrap();
        let other = bare.join("refs/heads/main.lock");
        std::fs::write(&other, "").unwrap();
        let cancel = super::super::blocking::CancelFlag::new();
        let t = std::time::Instant::now();
        assert!(clear_stale_lock(&url, &ours, Duration::from_millis(300), &cancel).unwrap());
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "a young lock is waited for"
        );
        assert!(!lock.exists());
        assert!(other.exists(), "someone else's lock stays");
        assert!(!clear_stale_lock(&url, &ours, Duration::ZERO, &cancel).unwrap());
        assert!(
            !clear_stale_lock("https://x.example/r.git", &ours, Duration::ZERO, &cancel).unwrap()
        );
    }
}
