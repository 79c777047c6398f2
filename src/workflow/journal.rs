//! The journal: every incident, step output, event, side effect and bit of
//! UI state, durable in one embedded sled database under the data dir.
//!
//! sled stays behind this module's interface (records in, records out) so
//! the store could change without touching callers. Writes that medic acts
//! on (approvals, plan edits, side-effect intents) are flushed to disk before
//! the call returns.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod repair;
pub use repair::{repair, Repaired};

/// The journal format this build writes. Older journals are migrated on open.
pub const SCHEMA_VERSION: u32 = 1;

/// The journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another medic holds the journal.
    #[error(
        "the journal in {dir} is in use by another medic{pid}; stop that one first, or use another --data-dir",
        pid = .pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The data dir.
        dir: PathBuf,
        /// The other process, when known and still running.
        pid: Option<u32>,
    },
    /// The files are damaged.
    #[error(
        "the journal in {dir} is damaged ({detail}); nothing was changed. Run `medic incidents --repair` \
         to move it aside (to {dir}/journal.damaged-<time>, kept for inspection) and start fresh; \
         incidents in it will no longer be listed"
    )]
    Corrupt {
        /// The data dir.
        dir: PathBuf,
        /// What sled reported.
        detail: String,
    },
    /// Written by a newer medic.
    #[error("the journal in {dir} has format {found}, newer than this medic understands ({SCHEMA_VERSION}); upgrade medic")]
    TooNew {
        /// The data dir.
        dir: PathBuf,
        /// Its version.
        found: u32,
    },
    /// The disk said no (full, read-only, permissions).
    #[error("journal in {dir}: {source}")]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--repair` was asked for a journal that is fine.
    #[error(
        "the journal in {dir} opens cleanly; nothing to repair (a damaged record is listed and skipped, never the whole journal)"
    )]
    Healthy {
        /// The data dir.
        dir: PathBuf,
    },
    /// A record could not be encoded or decoded.
    #[error("journal record {key}: {source}")]
    Record {
        /// Which record.
        key: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// One entry of the side-effect log: an intent, then its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectEntry {
    /// The incident.
    pub incident: String,
    /// The idempotency key (`push:medic/…`, `pr:medic/…`).
    pub key: String,
    /// `intent`, `performed` or `adopted` (found already done, not redone).
    pub phase: String,
    /// Details (commit id, PR number).
    pub detail: String,
    /// When (ms since epoch).
    pub at: i64,
}

/// A record that could not be decoded: listed as damaged and skipped, so
/// one bad record never hides the rest of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Damaged {
    /// The record's key (an incident id, or `incident/step`).
    pub key: String,
    /// Why it could not be read.
    pub why: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "journal record {} is damaged and was skipped: {}",
            self.key, self.why
        )
    }
}

/// The records that could be read, and the ones that could not.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// The readable records, by key.
    pub records: Vec<T>,
    /// The damaged ones.
    pub damaged: Vec<Damaged>,
}

/// The journal: one sled database with a tree per kind of record.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    db: sled::Db,
    incidents: sled::Tree,
    steps: sled::Tree,
    events: sled::Tree,
    effects: sled::Tree,
    ui: sled::Tree,
}

impl Journal {
    /// Open (or create) the journal under `data_dir/journal`.
    pub fn open(data_dir: &Path) -> Result<Journal, JournalError> {
        let dir = data_dir.to_path_buf();
        let io = |source| JournalError::Io {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join("journal");
        let pid_file = data_dir.join("medic.pid");
        let db = open_db(&path, &dir, &pid_file)?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| classify(&dir, &pid_file, e));
        let journal = Journal {
            incidents: tree("incidents")?,
            steps: tree("steps")?,
            events: tree("events")?,
            effects: tree("effects")?,
            ui: tree("ui")?,
            dir: dir.clone(),
            db,
        };
        journal.migrate()?;
        journal.check_ledger()?;
        // Only for the "in use" message of the next medic; the lock is sled's.
        let _ = std::fs::write(&pid_file, std::process::id().to_string());
        owner_only(data_dir, &path).map_err(io)?;
        Ok(journal)
    }

    /// sled recovers from a damaged log by dropping what follows the damage,
    /// silently. The ledger (`journal.ids`, one incident id per line, outside
    /// sled) turns that into a loud error: every id it lists must be readable.
    fn check_ledger(&self) -> Result<(), JournalError> {
        let Ok(text) = std::fs::read_to_string(self.ledger_path()) else {
            return Ok(());
        };
        let missing: Vec<&str> = text
            .lines()
            .filter(|id| !id.is_empty())
            .filter(|id| !matches!(self.incidents.contains_key(id), Ok(true)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(JournalError::Corrupt {
            dir: self.dir.clone(),
            detail: format!(
                "{} incident(s) recorded in journal.ids cannot be read, e.g. {}",
                missing.len(),
                missing[0]
            ),
        })
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.join("journal.ids")
    }

    /// The data dir this journal lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn migrate(&self) -> Result<(), JournalError> {
        let found = self
            .db
            .get("schema_version")
            .map_err(|e| self.err(e))?
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])));
        match found {
            None => {
                self.db
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| self.err(e))?;
                self.flush()
            }
            Some(v) if v > SCHEMA_VERSION => Err(JournalError::TooNew {
                dir: self.dir.clone(),
                found: v,
            }),
            // Version 1 is the first format; later versions add their steps here.
            Some(_) => Ok(()),
        }
    }

    fn err(&self, e: sled::Error) -> JournalError {
        classify(&self.dir, &self.dir.join("medic.pid"), e)
    }

    /// Make everything written so far durable. The fsync never runs on an
    /// async worker: on a multi-threaded runtime the worker hands its tasks
    /// on first (`block_in_place`), so the UI and the timeouts go on.
    pub fn flush(&self) -> Result<(), JournalError> {
        off_the_workers(|| self.db.flush().map(|_| ()).map_err(|e| self.err(e)))
    }

    /// [`Journal::flush`] from async code: the fsync runs on a blocking thread.
    pub async fn flush_async(&self) -> Result<(), JournalError> {
        let journal = self.clone();
        tokio::task::spawn_blocking(move || {
            journal.db.flush().map(|_| ()).map_err(|e| journal.err(e))
        })
        .await
        .unwrap_or_else(|e| {
            Err(JournalError::Io {
                dir: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })
        })
    }

    fn put<T: Serialize>(
        &self,
        tree: &sled::Tree,
        key: &str,
        value: &T,
    ) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(value).map_err(|source| JournalError::Record {
            key: key.to_string(),
            source,
        })?;
        tree.insert(key, bytes).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        key: &str,
    ) -> Result<Option<T>, JournalError> {
        match tree.get(key).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| JournalError::Record {
                        key: key.to_string(),
                        source,
                    })
            }
        }
    }

    fn scan<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        prefix: &str,
    ) -> Result<Vec<T>, JournalError> {
        tree.scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                serde_json::from_slice(&v).map_err(|source| JournalError::Record {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    source,
                })
            })
            .collect()
    }

    fn scan_readable<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        prefix: &str,
    ) -> Result<Listing<T>, JournalError> {
        let mut out = Listing {
            records: vec![],
            damaged: vec![],
        };
        for kv in tree.scan_prefix(prefix) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            match serde_json::from_slice(&v) {
                Ok(r) => out.records.push(r),
                Err(e) => out.damaged.push(Damaged {
                    key: String::from_utf8_lossy(&k).replace('\u{0}', "/"),
                    why: e.to_string(),
                }),
            }
        }
        Ok(out)
    }

    /// Every readable incident record, by id, and the damaged ones (skipped).
    pub fn incidents_readable<T: DeserializeOwned>(&self) -> Result<Listing<T>, JournalError> {
        self.scan_readable(&self.incidents, "")
    }

    /// Every readable step record of an incident, and the damaged ones (skipped).
    pub fn steps_readable<T: DeserializeOwned>(
        &self,
        incident: &str,
    ) -> Result<Listing<T>, JournalError> {
        self.scan_readable(&self.steps, &format!("{incident}\u{0}"))
    }

    fn tree(&self, name: &str) -> &sled::Tree {
        match name {
            "incidents" => &self.incidents,
            "steps" => &self.steps,
            "events" => &self.events,
            "effects" => &self.effects,
            _ => &self.ui,
        }
    }

    /// Store an incident record (durably).
    pub fn put_incident<T: Serialize>(&self, id: &str, record: &T) -> Result<(), JournalError> {
        let new = !self.incidents.contains_key(id).map_err(|e| self.err(e))?;
        self.put(&self.incidents, id, record)?;
        self.flush()?;
        if new {
            self.add_to_ledger(id)?;
        }
        Ok(())
    }

    /// Store a new incident record only if no record has this id (an atomic
    /// compare-and-swap, durably). False: the id is taken, nothing written.
    pub fn create_incident<T: Serialize>(
        &self,
        id: &str,
        record: &T,
    ) -> Result<bool, JournalError> {
        let bytes = serde_json::to_vec(record).map_err(|source| JournalError::Record {
            key: id.to_string(),
            source,
        })?;
        let swapped = self
            .incidents
            .compare_and_swap(id, None as Option<&[u8]>, Some(bytes))
            .map_err(|e| self.err(e))?;
        if swapped.is_err() {
            return Ok(false);
        }
        self.flush()?;
        self.add_to_ledger(id)?;
        Ok(true)
    }

    fn add_to_ledger(&self, id: &str) -> Result<(), JournalError> {
        use std::io::Write;
        let io = |source| JournalError::Io {
            dir: self.dir.clone(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .create(true)
            .append(true)
            .open(self.ledger_path())
            .map_err(io)?;
        writeln!(f, "{id}").map_err(io)?;
        off_the_workers(|| f.sync_data().map_err(io))
    }

    /// One incident record.
    pub fn incident<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, JournalError> {
        self.get(&self.incidents, id)
    }

    /// Every incident record, by id.
    pub fn incidents<T: DeserializeOwned>(&self) -> Result<Vec<T>, JournalError> {
        self.scan(&self.incidents, "")
    }

    /// A step's record for an incident.
    pub fn step<T: DeserializeOwned>(
        &self,
        incident: &str,
        step: &str,
    ) -> Result<Option<T>, JournalError> {
        self.get(&self.steps, &format!("{incident}\u{0}{step}"))
    }

    /// Store a step's record (durably: a finished step is never recomputed).
    pub fn put_step<T: Serialize>(
        &self,
        incident: &str,
        step: &str,
        record: &T,
    ) -> Result<(), JournalError> {
        self.put(&self.steps, &format!("{incident}\u{0}{step}"), record)?;
        self.flush()
    }

    /// Forget a step's record so the next run computes it again (the
    /// operator rejected its output); durable before it returns.
    pub fn remove_step(&self, incident: &str, step: &str) -> Result<(), JournalError> {
        self.steps
            .remove(format!("{incident}\u{0}{step}"))
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Every step record of an incident.
    pub fn steps<T: DeserializeOwned>(&self, incident: &str) -> Result<Vec<T>, JournalError> {
        self.scan(&self.steps, &format!("{incident}\u{0}"))
    }

    /// Append an event to an incident's history (not flushed: events are a log, not a decision).
    pub fn append_event<T: Serialize>(
        &self,
        incident: &str,
        event: &T,
    ) -> Result<u64, JournalError> {
        let seq = self.db.generate_id().map_err(|e| self.err(e))?;
        self.put(&self.events, &format!("{incident}\u{0}{seq:020}"), event)?;
        Ok(seq)
    }

    /// An incident's events, oldest first.
    pub fn events<T: DeserializeOwned>(&self, incident: &str) -> Result<Vec<T>, JournalError> {
        self.scan(&self.events, &format!("{incident}\u{0}"))
    }

    /// Append to the side-effect log, durably (intents must be on disk before acting).
    pub fn log_effect(&self, entry: &EffectEntry) -> Result<(), JournalError> {
        let seq = self.db.generate_id().map_err(|e| self.err(e))?;
        self.put(
            &self.effects,
            &format!("{}\u{0}{seq:020}", entry.incident),
            entry,
        )?;
        self.flush()
    }

    /// An incident's side-effect log, oldest first.
    pub fn effects(&self, incident: &str) -> Result<Vec<EffectEntry>, JournalError> {
        self.scan(&self.effects, &format!("{incident}\u{0}"))
    }

    /// Store a piece of UI state (view, selection, filter).
    pub fn put_ui<T: Serialize>(&self, key: &str, value: &T) -> Result<(), JournalError> {
        self.put(&self.ui, key, value)
    }

    /// Read a piece of UI state.
    pub fn ui<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, JournalError> {
        self.get(&self.ui, key)
    }
}

/// Opens sled. A lock held by this very process is a handle still being
/// dropped (sled's flusher lets go of the file lock a moment after the last
/// `Db`): wait for it briefly instead of failing a reopen in the same process.
fn open_db(path: &Path, dir: &Path, pid_file: &Path) -> Result<sled::Db, JournalError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(path)
            .flush_every_ms(Some(200))
            .open()
            .map_err(|e| classify(dir, pid_file, e))
        {
            Err(JournalError::Locked { pid: Some(pid), .. })
                if pid == std::process::id() && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Turn sled's errors into ones that say what to do.
fn classify(dir: &Path, pid_file: &Path, e: sled::Error) -> JournalError {
    match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            let pid = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|p| Path::new(&format!("/proc/{p}")).exists());
            JournalError::Locked {
                dir: dir.to_path_buf(),
                pid,
            }
        }
        sled::Error::Io(source) => JournalError::Io {
            dir: dir.to_path_buf(),
            source,
        },
        other => JournalError::Corrupt {
            dir: dir.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Move a damaged journal aside (`journal` → `journal.damaged-<ms>`) so the
/// next open starts fresh. Returns where it went.
pub fn move_aside(data_dir: &Path, now_ms: i64) -> std::io::Result<PathBuf> {
    let from = data_dir.join("journal");
    let to = data_dir.join(format!("journal.damaged-{now_ms}"));
    std::fs::rename(&from, &to)?;
    let ledger = data_dir.join("journal.ids");
    if ledger.exists() {
        std::fs::rename(&ledger, to.join("journal.ids"))?;
    }
    Ok(to)
}

/// Runs a blocking fsync so that no async worker waits in it: on a
/// multi-threaded runtime the worker hands its tasks on first.
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// The journal holds evidence and plans: the data dir becomes 0700, and
/// medic's own files in it (the id ledger, the pid file) and every file of
/// sled's 0600. Anything else a user keeps there is left as it is.
fn owner_only(data_dir: &Path, journal: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set =
            |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        set(data_dir, 0o700)?;
        let mut dirs = vec![journal.to_path_buf()];
        for name in ["journal.ids", "medic.pid"] {
            let p = data_dir.join(name);
            if p.is_file() {
                set(&p, 0o600)?;
            }
        }
        while let Some(d) = dirs.pop() {
            set(&d, 0o700)?;
            for e in std::fs::read_dir(&d)?.flatten() {
                match e.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(e.path()),
                    Ok(t) if t.is_file() => set(&e.path(), 0o600)?,
                    _ => {}
                }
            }
        }
    }
    let _ = (data_dir, journal);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_data_dir_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        {
            let j = Journal::open(&data).unwrap();
            j.put_incident("inc-1", &serde_json::json!({"service": "api"}))
                .unwrap();
            j.put_step("inc-1", "evidence", &"a bundle").unwrap();
            j.flush().unwrap();
        }
        // A file of the user's beside the journal (an editor script, say) keeps its mode.
        let own = data.join("editor.sh");
        std::fs::write(&own, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _j = Journal::open(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&own), 0o755, "not medic's file");
        let mut files = 0;
        let mut dirs = vec![data.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    assert_eq!(mode(&p), 0o700, "{}", p.display());
                    dirs.push(p);
                } else if p != own {
                    assert_eq!(mode(&p), 0o600, "{}", p.display());
                    files += 1;
                }
            }
        }
        assert!(files >= 3, "sled's files, the pid file and the ledger");
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            j.put_incident("inc-1", &serde_json::json!({"service": "api"}))
                .unwrap();
            j.put_step("inc-1", "plan", &"a plan").unwrap();
            j.append_event("inc-1", &"started").unwrap();
            j.append_event("inc-1", &"finished").unwrap();
        }
        let j = Journal::open(dir.path()).unwrap();
        let inc: serde_json::Value = j.incident("inc-1").unwrap().unwrap();
        assert_eq!(inc["service"], "api");
        assert_eq!(
            j.step::<String>("inc-1", "plan").unwrap().unwrap(),
            "a plan"
        );
        assert_eq!(
            j.events::<String>("inc-1").unwrap(),
            vec!["started", "finished"]
        );
        assert!(j.step::<String>("inc-2", "plan").unwrap().is_none());
    }

    #[test]
    fn steps_of_one_incident_do_not_leak_into_another() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.put_step("a", "x", &1).unwrap();
        j.put_step("ab", "x", &2).unwrap();
        assert_eq!(j.steps::<i32>("a").unwrap(), vec![1]);
    }

    #[test]
    fn a_newer_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            j.db.insert("schema_version", &99u32.to_be_bytes()).unwrap();
            j.flush().unwrap();
        }
        let e = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("format 99"), "{e}");
    }
}
