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
//! All calls block. `http://` and `https://` remotes go through medic's own
//! smart-HTTP transport (`http_transport`, TLS by rustls), which sends the
//! token to that remote only; SSH remotes need git2's `ssh` feature, which
//! this build leaves out.

use super::ForgeError;
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    BranchType, Cred, CredentialType, Direction, FetchOptions, IndexAddOption, Oid, PushOptions,
    RemoteCallbacks, Repository, Signature,
};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::Path;

/// How many times credentials are offered before giving up.
pub const MAX_CREDENTIAL_ATTEMPTS: u32 = 3;
/// The remote medic clones from and pushes to.
const REMOTE: &str = "origin";
const PREFIX: &str = "medic/";

/// A branch medic created: `medic/<incident-id>-<slug>`. The only kind of
/// branch this module will push.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

impl BranchName {
    /// The branch for an incident: `incident_id` must be 1–64 ASCII letters,
    /// digits, `-` or `_`; `title` is turned into a slug (lowercase words
    /// joined by `-`, at most 40 characters).
    pub fn new(incident_id: &str, title: &str) -> Result<BranchName, ForgeError> {
        let bad = |why| ForgeError::BadBranchName {
            name: format!("{PREFIX}{incident_id}-{title}"),
            why,
        };
        if incident_id.is_empty() || incident_id.len() > 64 {
            return Err(bad("the incident id must be 1 to 64 characters"));
        }
        if !incident_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "the incident id may hold only letters, digits, `-` and `_`",
            ));
        }
        let slug = slug(title);
        if slug.is_empty() {
            return Err(bad("the title has no letters or digits for a slug"));
        }
        BranchName::parse(&format!("{PREFIX}{incident_id}-{slug}"))
    }

    /// Reads back a name made by [`BranchName::new`] (from the journal, a
    /// PR record), checking its shape.
    pub fn parse(name: &str) -> Result<BranchName, ForgeError> {
        let bad = |why| ForgeError::BadBranchName {
            name: name.to_string(),
            why,
        };
        let rest = name
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with medic/"))?;
        let (id, slug) = rest
            .split_once('-')
            .ok_or_else(|| bad("no `-` between incident id and slug"))?;
        let ok = |s: &str, extra: char| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == extra)
        };
        if !ok(id, '_')
            || !ok(slug, '-')
            || slug.starts_with('-')
            || slug.ends_with('-')
            || name.len() > 120
        {
            return Err(bad(
                "it must be medic/<incident-id>-<slug> with letters, digits, `-` and `_`",
            ));
        }
        if slug.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("the slug must be lowercase"));
        }
        if !git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
            return Err(bad("git does not accept it as a branch name"));
        }
        Ok(BranchName(name.to_string()))
    }

    /// The branch name (`medic/inc-42-api-memory-limit`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full ref (`refs/heads/medic/…`).
    pub fn refname(&self) -> String {
        format!("refs/heads/{}", self.0)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BranchName {
    type Error = ForgeError;
    fn try_from(s: String) -> Result<Self, ForgeError> {
        BranchName::parse(&s)
    }
}

impl From<BranchName> for String {
    fn from(b: BranchName) -> String {
        b.0
    }
}

/// Lowercase words of `text` joined by `-`, at most 40 characters.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        let extra = word.len() + usize::from(!out.is_empty());
        if out.len() + extra > 40 {
            if out.is_empty() {
                out.push_str(&word[..40]);
            }
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    out
}

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
}

impl fmt::Debug for Checkout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkout")
            .field("path", &self.repo.workdir())
            .field("settings", &self.settings)
            .finish()
    }
}

/// Callbacks offering `creds`, counting attempts in `attempts`.
fn callbacks<'a>(creds: &'a Credentials, attempts: &'a Cell<u32>) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, user_from_url, allowed| {
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
    /// Clones `url` (a path or URL) into `dest`, checking out the base.
    pub fn clone(url: &str, dest: &Path, settings: GitSettings) -> Result<Checkout, ForgeError> {
        let _auth = http_remote(url, &settings.credentials)?;
        let attempts = Cell::new(0);
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(&settings.credentials, &attempts));
        let repo = RepoBuilder::new()
            .branch(&settings.base)
            .fetch_options(fo)
            .clone(url, dest)
            .map_err(|e| auth_or(e, &attempts, url, "clone"))?;
        Ok(Checkout { repo, settings })
    }

    /// Opens a checkout made earlier (resuming after a crash).
    pub fn open(dir: &Path, settings: GitSettings) -> Result<Checkout, ForgeError> {
        let repo = Repository::open(dir).map_err(ForgeError::git("open"))?;
        Ok(Checkout { repo, settings })
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.repo.workdir().unwrap_or_else(|| self.repo.path())
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    /// Fetches the remote's branches (to see the base move, or a branch pushed before a crash).
    pub fn fetch(&self) -> Result<(), ForgeError> {
        let attempts = Cell::new(0);
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(ForgeError::git("fetch"))?;
        let url = remote.url().unwrap_or("").to_string();
        let _auth = http_remote(&url, &self.settings.credentials)?;
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(&self.settings.credentials, &attempts));
        remote
            .fetch(&[] as &[&str], Some(&mut fo), None)
            .map_err(|e| auth_or(e, &attempts, &url, "fetch"))
    }

    /// The base branch's commit on the remote (as last fetched).
    pub fn base_oid(&self) -> Result<Oid, ForgeError> {
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
    pub fn commit_all(&self, message: &str) -> Result<Option<Oid>, ForgeError> {
        self.current_branch()?;
        let r = &self.repo;
        let e = || ForgeError::git("commit");
        let mut index = r.index().map_err(e())?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .map_err(e())?;
        index.update_all(["*"], None).map_err(e())?;
        index.write().map_err(e())?;
        let tree_oid = index.write_tree().map_err(e())?;
        let head = r.head().and_then(|h| h.peel_to_commit()).map_err(e())?;
        if tree_oid == head.tree_id() {
            return Ok(None);
        }
        let tree = r.find_tree(tree_oid).map_err(e())?;
        self.check_size(&self.diff_to(&tree)?)?;
        let a = &self.settings.author;
        let sig = Signature::now(&a.name, &a.email).map_err(e())?;
        let oid = r
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
            .map_err(e())?;
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
        let e = || ForgeError::git("diff");
        let base = self
            .repo
            .find_commit(self.base_oid()?)
            .and_then(|c| c.tree())
            .map_err(e())?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&base), Some(tree), None)
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

    fn check_size(&self, diff: &DiffSummary) -> Result<(), ForgeError> {
        if diff.bytes() > self.settings.max_diff_bytes {
            return Err(ForgeError::DiffTooLarge {
                bytes: diff.bytes(),
                limit: self.settings.max_diff_bytes,
            });
        }
        Ok(())
    }

    /// The commit `branch` points to on the remote now (`None`: not there).
    pub fn remote_oid(&self, branch: &BranchName) -> Result<Option<Oid>, ForgeError> {
        let attempts = Cell::new(0);
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(ForgeError::git("list remote refs"))?;
        let url = remote.url().unwrap_or("").to_string();
        let _auth = http_remote(&url, &self.settings.credentials)?;
        let cb = callbacks(&self.settings.credentials, &attempts);
        let conn = remote
            .connect_auth(Direction::Fetch, Some(cb), None)
            .map_err(|e| auth_or(e, &attempts, &url, "connect"))?;
        let refname = branch.refname();
        let heads = conn.list().map_err(ForgeError::git("list remote refs"))?;
        Ok(heads.iter().find(|h| h.name() == refname).map(|h| h.oid()))
    }

    /// Pushes `branch` (fast-forward only) after the guard rails: not the
    /// base, not empty, within the size limit, not already there.
    pub fn push(&self, branch: &BranchName) -> Result<PushOutcome, ForgeError> {
        if branch.as_str() == self.settings.base {
            return Err(ForgeError::ProtectedBranch {
                branch: branch.to_string(),
            });
        }
        let refname = branch.refname();
        let local = self
            .repo
            .refname_to_id(&refname)
            .map_err(ForgeError::git("find the branch"))?;
        let tree = self
            .repo
            .find_commit(local)
            .and_then(|c| c.tree())
            .map_err(ForgeError::git("push"))?;
        let diff = self.diff_to(&tree)?;
        if diff.is_empty() {
            return Err(ForgeError::EmptyDiff {
                branch: branch.to_string(),
                base: self.settings.base.clone(),
            });
        }
        self.check_size(&diff)?;
        if self.remote_oid(branch)? == Some(local) {
            return Ok(PushOutcome::AlreadyThere(local));
        }

        let attempts = Cell::new(0);
        let statuses: RefCell<Vec<(String, Option<String>)>> = RefCell::new(Vec::new());
        let remote_said = RefCell::new(String::new());
        let mut cb = callbacks(&self.settings.credentials, &attempts);
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
            true
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(ForgeError::git("push"))?;
        let url = remote.url().unwrap_or("").to_string();
        let _auth = http_remote(&url, &self.settings.credentials)?;
        // No `+`: never a force push.
        let spec = format!("{refname}:{refname}");
        let pushed = remote.push(&[spec.as_str()], Some(&mut opts));
        drop(opts);
        let said = remote_said.into_inner().trim().to_string();
        if let Err(e) = pushed {
            if attempts.get() > MAX_CREDENTIAL_ATTEMPTS || is_auth(&e) {
                return Err(auth_or(e, &attempts, &url, "push"));
            }
            return Err(ForgeError::Rejected {
                refname,
                reason: join(e.message(), &said),
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
            Some((_, None)) => Ok(PushOutcome::Pushed(local)),
            // No status for our ref: believe only what the remote shows.
            None if self.remote_oid(branch)? == Some(local) => Ok(PushOutcome::Pushed(local)),
            None => Err(ForgeError::Rejected {
                refname,
                reason: join("the remote did not confirm the update", &said),
            }),
        }
    }
}

fn join(a: &str, remote_said: &str) -> String {
    if remote_said.is_empty() {
        a.to_string()
    } else {
        format!("{a} (remote: {remote_said})")
    }
}

/// An authentication error when the credentials were refused, else a plain git error.
/// Prepares an HTTP(S) remote: medic's transport (TLS by rustls), and the
/// token offered to that remote alone while the guard lives.
fn http_remote(
    url: &str,
    creds: &Credentials,
) -> Result<Option<super::http_transport::AuthGuard>, ForgeError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Ok(None);
    }
    super::http_transport::install().map_err(ForgeError::git("set up git over HTTPS"))?;
    Ok(match creds {
        Credentials::Token { username, token } => {
            Some(super::http_transport::authorize(url, username, token))
        }
        _ => None,
    })
}

/// Whether `e` says the remote refused (or wanted) credentials.
fn is_auth(e: &git2::Error) -> bool {
    e.code() == git2::ErrorCode::Auth || super::http_transport::is_refusal(e)
}

fn auth_or(e: git2::Error, attempts: &Cell<u32>, url: &str, action: &'static str) -> ForgeError {
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
    fn branch_names_only_from_incident_and_slug() {
        let b = BranchName::new("inc-42", "Raise api's memory limit to 48 GB").unwrap();
        assert_eq!(b.as_str(), "medic/inc-42-raise-api-s-memory-limit-to-48-gb");
        assert_eq!(
            b.refname(),
            "refs/heads/medic/inc-42-raise-api-s-memory-limit-to-48-gb"
        );
        assert_eq!(BranchName::parse(b.as_str()).unwrap(), b);
        let long = BranchName::new("7", &"word ".repeat(30)).unwrap();
        assert!(long.as_str().len() <= "medic/7-".len() + 40);
        for bad in [
            "main",
            "refs/heads/main",
            "medic/",
            "medic/x",
            "medic/inc-",
            "medic/inc-Up",
            "medic/inc-a..b",
            "medic/inc-a b",
            "medic/inc/x-y",
            "feature/inc-x",
            "+medic/inc-x",
        ] {
            assert!(BranchName::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(BranchName::new("", "x").is_err());
        assert!(BranchName::new("inc 1", "x").is_err());
        assert!(BranchName::new("../main", "x").is_err());
        assert!(BranchName::new("inc-1", "!!!").is_err());
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<BranchName>(&json).unwrap(), b);
        assert!(serde_json::from_str::<BranchName>("\"main\"").is_err());
    }

    #[test]
    fn tokens_never_print() {
        let c = Credentials::Token {
            username: "x-access-token".into(),
            token: "ghp_secret".into(),
        };
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }
}
