//! The git layer (libgit2): clone, branch from the base, commit, diff and
//! push — with the guard rails enforced here, not by callers.
//!
//! - Only a [`BranchName`] can be pushed, and one can only be made from an
//!   incident id and a slug (`medic/<incident>-<slug>`): the base branch,
//!   or anyone else's branch, cannot even be named.
//! - Refspecs never carry `+`: no force push.
//! - Every push compares the remote ref first (already there: no-op), checks
//!   the diff size against the limit (over: [`ForgeError::DiffTooLarge`],
//!   stop and ask), and checks the per-ref status libgit2 reports
//!   (`push_update_reference`), because a hook's rejection still returns Ok.
//! - Credentials are offered at most [`MAX_CREDENTIAL_ATTEMPTS`] times:
//!   libgit2 asks again after every failure and would loop forever.
//!
//! The checkout is the agent's, so nothing is read from it but files and
//! objects: every transfer goes to the forge URL from medic's config, the
//! push leaves from medic's own outbox repository (see [`super::remote`]),
//! medic's commit sits on the start medic recorded, and libgit2 reads no
//! git config at all ([`isolate_from_git_config`]).
//!
//! All calls block (the workflow runs them through [`super::blocking`]).
//! `http://` and `https://` remotes go through medic's own
//! smart-HTTP transport (`http_transport`, TLS by rustls), which sends the
//! token to that remote only; SSH remotes need git2's `ssh` feature, which
//! this build leaves out.

pub use super::branch::{safe_id, BranchName};
use super::ForgeError;
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    BranchType, Cred, CredentialType, FetchOptions, IndexAddOption, Oid, RemoteCallbacks,
    Repository, Signature,
};
use std::cell::Cell;
use std::fmt;
use std::path::Path;

/// Makes libgit2 read no system, global or XDG git config in this process
/// (once; every entry point of the git layer calls it first). medic's git
/// settings come from medic's config alone: an `url.*.insteadOf` in a
/// `~/.gitconfig` the agent (or anyone) wrote cannot redirect a clone or a
/// push, and no credential helper or proxy setting from there applies.
pub fn isolate_from_git_config() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        for level in [
            git2::ConfigLevel::System,
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::ProgramData,
        ] {
            // SAFETY: the search paths are libgit2 globals; the OnceLock makes
            // this the one write, done before the git layer opens or clones
            // anything (every entry point calls this first), so no config
            // load runs concurrently with it. An empty path means "none".
            let _ = unsafe { git2::opts::set_search_path(level, "") };
        }
    });
}

/// How many times credentials are offered before giving up.
pub const MAX_CREDENTIAL_ATTEMPTS: u32 = 3;
/// The remote medic clones from and pushes to.
const REMOTE: &str = "origin";

/// How medic authenticates to the remote.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials (local paths, anonymous remotes).
    #[default]
    None,
    /// A token as the password of HTTP basic auth (GitHub: username `x-access-token`).
    Token {
        /// The user name sent with the token.
        username: String,
        /// The token (never printed).
        token: String,
    },
    /// Keys from the running SSH agent.
    SshAgent,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token { username, .. } => {
                write!(f, "Token {{ username: {username:?}, token: <redacted> }}")
            }
            Credentials::SshAgent => f.write_str("SshAgent"),
        }
    }
}

/// Who medic's commits are by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// What the git layer needs to know for one repository.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// The base branch (`main`): branched from, never pushed to.
    pub base: String,
    /// The commit author.
    pub author: Author,
    /// How to authenticate.
    pub credentials: Credentials,
    /// The largest diff (bytes of patch text) medic pushes without asking.
    pub max_diff_bytes: usize,
    /// Set when the step that runs this git work timed out or was
    /// cancelled: transfers stop at their next progress report.
    pub cancel: super::blocking::CancelFlag,
}

/// A diff against the base.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffSummary {
    /// The patch, as `git diff` prints it.
    pub text: String,
    /// Files changed.
    pub files: usize,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
}

impl DiffSummary {
    /// The patch's size in bytes (what the limit is about).
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// No change at all.
    pub fn is_empty(&self) -> bool {
        self.files == 0
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote now has this commit.
    Pushed(Oid),
    /// The remote already had it; nothing was sent.
    AlreadyThere(Oid),
}

/// A working copy medic cloned, with its settings.
pub struct Checkout {
    repo: Repository,
    settings: GitSettings,
    /// The forge URL from medic's config: every transfer goes there, never
    /// to a remote the checkout's own `.git/config` names.
    url: String,
    /// The base commit medic branched from, as medic saw it before the
    /// agent ran (the checkout's refs are the agent's to move).
    base: Cell<Option<Oid>>,
    /// Where medic's branch started (the parent of medic's commit).
    start: Cell<Option<Oid>>,
    /// The branch medic started: commits go there whatever HEAD says now.
    started: std::cell::RefCell<Option<BranchName>>,
}

impl fmt::Debug for Checkout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkout")
            .field("path", &self.repo.workdir())
            .field("url", &self.url)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Callbacks offering `creds`, counting attempts in `attempts`, and
/// stopping the transfer once `cancel` is set (libgit2 aborts when a
/// progress callback says no).
pub(crate) fn callbacks<'a>(
    creds: &'a Credentials,
    attempts: &'a Cell<u32>,
    cancel: &'a super::blocking::CancelFlag,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.transfer_progress(move |_| !cancel.is_set());
    cb.sideband_progress(move |_| !cancel.is_set());
    cb.push_negotiation(move |_| {
        if cancel.is_set() {
            Err(git2::Error::from_str(super::blocking::STOPPED))
        } else {
            Ok(())
        }
    });
    cb.credentials(move |_url, user_from_url, allowed| {
        if cancel.is_set() {
            return Err(git2::Error::from_str(super::blocking::STOPPED));
        }
        attempts.set(attempts.get() + 1);
        if attempts.get() > MAX_CREDENTIAL_ATTEMPTS {
            return Err(git2::Error::from_str("credentials refused too many times"));
        }
        match creds {
            Credentials::Token { username, token }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, token)
            }
            Credentials::SshAgent if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key_from_agent(user_from_url.unwrap_or("git"))
            }
            Credentials::SshAgent if allowed.contains(CredentialType::USERNAME) => {
                Cred::username(user_from_url.unwrap_or("git"))
            }
            _ => Err(git2::Error::from_str(
                "the remote asks for credentials medic was not given",
            )),
        }
    });
    cb
}

impl Checkout {
    /// Clones `url` (the forge URL from medic's config: a path or URL) into
    /// `dest`, checking out the base.
    pub fn clone(url: &str, dest: &Path, settings: GitSettings) -> Result<Checkout, ForgeError> {
        isolate_from_git_config();
        let _auth = http_remote(url, &settings)?;
        let attempts = Cell::new(0);
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(
            &settings.credentials,
            &attempts,
            &settings.cancel,
        ));
        let repo = RepoBuilder::new()
            .branch(&settings.base)
            .fetch_options(fo)
            .clone(url, dest)
            .map_err(|e| stopped_or(&settings, auth_or(e, &attempts, url, "clone")))?;
        let checkout = Checkout::trusting(repo, dest, url, settings)?;
        checkout.base.set(checkout.base_oid().ok());
        Ok(checkout)
    }

    /// Opens a checkout made earlier (resuming after a crash); `url` is the
    /// forge URL from medic's config, whatever the checkout says.
    pub fn open(dir: &Path, url: &str, settings: GitSettings) -> Result<Checkout, ForgeError> {
        isolate_from_git_config();
        let repo = Repository::open(dir).map_err(ForgeError::git("open"))?;
        Checkout::trusting(repo, dir, url, settings)
    }

    /// The checkout with its working directory pinned to `dir`: a
    /// `core.worktree` the agent wrote cannot make medic commit files
    /// from elsewhere.
    fn trusting(
        repo: Repository,
        dir: &Path,
        url: &str,
        settings: GitSettings,
    ) -> Result<Checkout, ForgeError> {
        repo.set_workdir(dir, false)
            .map_err(ForgeError::git("open"))?;
        Ok(Checkout {
            repo,
            settings,
            url: url.to_string(),
            base: Cell::new(None),
            start: Cell::new(None),
            started: std::cell::RefCell::new(None),
        })
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.repo.workdir().unwrap_or_else(|| self.repo.path())
    }

    /// The forge URL every transfer goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    /// The same checkout, its transfers stopped by `cancel` from now on
    /// (a checkout handed from one blocking call to the next).
    pub fn with_cancel(mut self, cancel: super::blocking::CancelFlag) -> Checkout {
        self.settings.cancel = cancel;
        self
    }

    /// Branch from (and diff against) the base in `snapshot`, the remote as
    /// medic saw it before the agent ran, instead of the checkout's refs.
    pub fn trust_base(&self, snapshot: &super::remote::RefSnapshot) -> Result<Oid, ForgeError> {
        let base = snapshot.base(&self.settings.base)?;
        self.repo
            .find_commit(base)
            .map_err(ForgeError::git("find the base branch"))?;
        self.base.set(Some(base));
        Ok(base)
    }

    /// Fetches the remote's branches (to see the base move, or a branch
    /// pushed before a crash) from the configured forge URL.
    pub fn fetch(&self) -> Result<(), ForgeError> {
        let attempts = Cell::new(0);
        let url = self.url.clone();
        let mut remote = self
            .repo
            .remote_anonymous(&url)
            .map_err(ForgeError::git("fetch"))?;
        super::remote::same_url(&remote, &url)?;
        let _auth = http_remote(&url, &self.settings)?;
        let mut fo = FetchOptions::new();
        let s = &self.settings;
        fo.remote_callbacks(callbacks(&s.credentials, &attempts, &s.cancel));
        let spec = format!("+refs/heads/*:refs/remotes/{REMOTE}/*");
        remote
            .fetch(&[spec.as_str()], Some(&mut fo), None)
            .map_err(|e| stopped_or(s, auth_or(e, &attempts, &url, "fetch")))
    }

    /// The base branch's commit: the trusted one when medic recorded it,
    /// else the checkout's remote-tracking ref (as last fetched).
    pub fn base_oid(&self) -> Result<Oid, ForgeError> {
        if let Some(oid) = self.base.get() {
            return Ok(oid);
        }
        self.repo
            .refname_to_id(&format!("refs/remotes/{REMOTE}/{}", self.settings.base))
            .map_err(ForgeError::git("find the base branch"))
    }

    /// Whether the local branch exists.
    pub fn branch_exists(&self, branch: &BranchName) -> bool {
        self.repo
            .find_branch(branch.as_str(), BranchType::Local)
            .is_ok()
    }

    /// Checks out `branch`: the existing local branch, else the one already
    /// on the remote (pushed before a crash), else a new one from the base.
    pub fn start_branch(&self, branch: &BranchName) -> Result<Oid, ForgeError> {
        let r = &self.repo;
        let err = ForgeError::git("create the branch");
        if !self.branch_exists(branch) {
            let remote = format!("refs/remotes/{REMOTE}/{branch}");
            let from = match r.refname_to_id(&remote) {
                Ok(oid) => oid,
                Err(_) => self.base_oid()?,
            };
            let commit = r
                .find_commit(from)
                .map_err(ForgeError::git("create the branch"))?;
            r.branch(branch.as_str(), &commit, false)
                .map_err(ForgeError::git("create the branch"))?;
        }
        let oid = r
            .refname_to_id(&branch.refname())
            .map_err(ForgeError::git("create the branch"))?;
        let obj = r
            .find_object(oid, None)
            .map_err(ForgeError::git("check out the branch"))?;
        r.checkout_tree(&obj, Some(CheckoutBuilder::new().safe()))
            .map_err(ForgeError::git("check out the branch"))?;
        r.set_head(&branch.refname()).map_err(err)?;
        self.start.set(Some(oid));
        *self.started.borrow_mut() = Some(branch.clone());
        Ok(oid)
    }

    /// The medic branch HEAD is on, or why committing there is refused.
    fn current_branch(&self) -> Result<BranchName, ForgeError> {
        let head = self.repo.head().map_err(ForgeError::git("read HEAD"))?;
        let name = head.shorthand().unwrap_or("(detached)").to_string();
        if !head.is_branch() || name == self.settings.base {
            return Err(ForgeError::NotOnMedicBranch { head: name });
        }
        BranchName::parse(&name).map_err(|_| ForgeError::NotOnMedicBranch { head: name })
    }

    /// Commits every change in the working directory (new, modified and
    /// deleted files, `.gitignore` respected) to the current medic branch.
    /// `None` when there is nothing to commit. Refuses (before committing)
    /// when the branch's diff against the base would exceed the limit.
    ///
    /// The commit's parent is where medic started the branch, not whatever
    /// HEAD says now, and the index starts from that commit's tree: commits
    /// or index entries the agent made itself never reach the remote; only
    /// the working tree's content does, as one reviewable commit.
    pub fn commit_all(&self, message: &str) -> Result<Option<Oid>, ForgeError> {
        // The branch medic started, even if the agent moved HEAD elsewhere.
        let started = self.started.borrow().clone();
        let branch = match started {
            Some(b) => b,
            None => self.current_branch()?,
        };
        let r = &self.repo;
        let e = || ForgeError::git("commit");
        let start = match self.start.get() {
            Some(oid) => oid,
            None => r.refname_to_id(&branch.refname()).map_err(e())?,
        };
        let parent = r.find_commit(start).map_err(e())?;
        let mut index = r.index().map_err(e())?;
        index.read_tree(&parent.tree().map_err(e())?).map_err(e())?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .map_err(e())?;
        index.update_all(["*"], None).map_err(e())?;
        index.write().map_err(e())?;
        let tree_oid = index.write_tree().map_err(e())?;
        if tree_oid == parent.tree_id() {
            // Whatever the agent did to the branch ref, it points at medic's start again.
            r.reference(&branch.refname(), start, true, "medic: nothing to commit")
                .map_err(e())?;
            return Ok(None);
        }
        let tree = r.find_tree(tree_oid).map_err(e())?;
        self.check_size(&self.diff_to(&tree)?)?;
        let a = &self.settings.author;
        let sig = Signature::now(&a.name, &a.email).map_err(e())?;
        let oid = r
            .commit(None, &sig, &sig, message, &tree, &[&parent])
            .map_err(e())?;
        r.reference(&branch.refname(), oid, true, "medic: commit")
            .map_err(e())?;
        r.set_head(&branch.refname()).map_err(e())?;
        Ok(Some(oid))
    }

    /// HEAD's diff against the base: the pull request's diff.
    pub fn diff(&self) -> Result<DiffSummary, ForgeError> {
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_tree())
            .map_err(ForgeError::git("diff"))?;
        self.diff_to(&head)
    }

    fn diff_to(&self, tree: &git2::Tree) -> Result<DiffSummary, ForgeError> {
        let base = self
            .repo
            .find_commit(self.base_oid()?)
            .and_then(|c| c.tree())
            .map_err(ForgeError::git("diff"))?;
        diff_trees(&self.repo, &base, tree)
    }

    fn check_size(&self, diff: &DiffSummary) -> Result<(), ForgeError> {
        check_size(diff, self.settings.max_diff_bytes)
    }

    /// The commit `branch` points to on the remote now (`None`: not there),
    /// asked of the configured forge URL.
    pub fn remote_oid(&self, branch: &BranchName) -> Result<Option<Oid>, ForgeError> {
        let refs = super::remote::RefSnapshot::take(&self.url, &self.settings)?;
        Ok(refs.get(&branch.refname()))
    }

    /// The remote's refs now, from the configured forge URL.
    pub fn remote_refs(&self) -> Result<super::remote::RefSnapshot, ForgeError> {
        super::remote::RefSnapshot::take(&self.url, &self.settings)
    }

    /// Pushes `branch` (fast-forward only) after the guard rails: not the
    /// base, not empty, within the size limit, not already there, and the
    /// remote's other refs as they were when the checkout was made (see
    /// [`super::remote::Outbox::push`]).
    pub fn push(&self, branch: &BranchName) -> Result<PushOutcome, ForgeError> {
        self.push_against(branch, None)
    }

    /// [`Checkout::push`], comparing the remote's refs with `snapshot`
    /// (taken before the agent ran) instead of with a fresh listing.
    pub fn push_against(
        &self,
        branch: &BranchName,
        snapshot: Option<&super::remote::RefSnapshot>,
    ) -> Result<PushOutcome, ForgeError> {
        if branch.as_str() == self.settings.base {
            return Err(ForgeError::ProtectedBranch {
                branch: branch.to_string(),
            });
        }
        let local = self
            .repo
            .refname_to_id(&branch.refname())
            .map_err(ForgeError::git("find the branch"))?;
        let fresh;
        let snapshot = match snapshot {
            Some(s) => s,
            None => {
                fresh = self.remote_refs()?;
                &fresh
            }
        };
        let outbox = super::remote::Outbox::open(self.path(), &self.url, self.settings.clone())?;
        outbox.push(branch, local, snapshot)
    }
}

/// The patch from `base` to `tree`, with its stats.
pub(crate) fn diff_trees(
    repo: &Repository,
    base: &git2::Tree,
    tree: &git2::Tree,
) -> Result<DiffSummary, ForgeError> {
    let e = || ForgeError::git("diff");
    let diff = repo
        .diff_tree_to_tree(Some(base), Some(tree), None)
        .map_err(e())?;
    let stats = diff.stats().map_err(e())?;
    let mut text = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .map_err(e())?;
    Ok(DiffSummary {
        text,
        files: stats.files_changed(),
        insertions: stats.insertions(),
        deletions: stats.deletions(),
    })
}

/// [`ForgeError::DiffTooLarge`] when the patch is over `limit` bytes.
pub(crate) fn check_size(diff: &DiffSummary, limit: usize) -> Result<(), ForgeError> {
    if diff.bytes() > limit {
        return Err(ForgeError::DiffTooLarge {
            bytes: diff.bytes(),
            limit,
        });
    }
    Ok(())
}

/// [`ForgeError::Interrupted`] when the settings' cancel flag stopped the
/// transfer, else `e` as it is.
pub(crate) fn stopped_or(settings: &GitSettings, e: ForgeError) -> ForgeError {
    if settings.cancel.is_set() {
        ForgeError::Interrupted
    } else {
        e
    }
}

pub(crate) fn join(a: &str, remote_said: &str) -> String {
    if remote_said.is_empty() {
        a.to_string()
    } else {
        format!("{a} (remote: {remote_said})")
    }
}

/// Prepares an HTTP(S) remote: medic's transport (TLS by rustls), the
/// token offered to that remote alone, and the transfer stopped when the
/// cancel flag is set, while the guard lives.
pub(crate) fn http_remote(
    url: &str,
    settings: &GitSettings,
) -> Result<Option<super::http_transport::AuthGuard>, ForgeError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Ok(None);
    }
    super::http_transport::install().map_err(ForgeError::git("set up git over HTTPS"))?;
    let creds = match &settings.credentials {
        Credentials::Token { username, token } => Some((username.as_str(), token.as_str())),
        _ => None,
    };
    Ok(Some(super::http_transport::authorize(
        url,
        creds,
        settings.cancel.clone(),
    )))
}

/// Whether `e` says the remote refused (or wanted) credentials.
fn is_auth(e: &git2::Error) -> bool {
    e.code() == git2::ErrorCode::Auth || super::http_transport::is_refusal(e)
}

/// An authentication error when the credentials were refused, else a plain git error.
pub(crate) fn auth_or(
    e: git2::Error,
    attempts: &Cell<u32>,
    url: &str,
    action: &'static str,
) -> ForgeError {
    if attempts.get() > MAX_CREDENTIAL_ATTEMPTS || is_auth(&e) {
        ForgeError::Auth {
            url: url.to_string(),
            attempts: attempts.get().clamp(1, MAX_CREDENTIAL_ATTEMPTS),
        }
    } else {
        ForgeError::Git { action, source: e }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let c = Credentials::Token {
            username: "x-access-token".into(),
            token: "ghp_secret".into(),
        };
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }
}
