//! `medic incidents --repair`: move a journal that does not open aside and
//! keep, in a fresh one, every record that can still be read.

use super::{move_aside, Journal, JournalError};
use std::path::{Path, PathBuf};

/// What `medic incidents --repair` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired {
    /// Where the damaged journal went (kept for inspection).
    pub moved_to: PathBuf,
    /// Incidents copied into the fresh journal.
    pub kept: usize,
    /// Why nothing could be copied, when the damaged journal would not open at all.
    pub unreadable: Option<String>,
}

/// The trees of the journal, in the order they are copied on repair.
const TREES: [&str; 5] = ["incidents", "steps", "events", "effects", "ui"];

/// `medic incidents --repair`: only for a journal that does not open. Moves
/// it aside (kept for inspection), starts a fresh one, and copies into it
/// every record of the old one that can still be read.
pub fn repair(data_dir: &Path, now_ms: i64) -> Result<Repaired, JournalError> {
    match Journal::open(data_dir) {
        Ok(_) => {
            return Err(JournalError::Healthy {
                dir: data_dir.to_path_buf(),
            })
        }
        Err(JournalError::Corrupt { .. }) => {}
        Err(other) => return Err(other),
    }
    let io = |source| JournalError::Io {
        dir: data_dir.to_path_buf(),
        source,
    };
    let moved_to = move_aside(data_dir, now_ms).map_err(io)?;
    // sled may panic on a badly damaged log; that only means nothing is readable.
    let old = std::panic::catch_unwind(|| sled::Config::new().path(&moved_to).open());
    let old = match old {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Ok(unreadable(moved_to, e.to_string())),
        Err(_) => return Ok(unreadable(moved_to, "sled could not recover it".into())),
    };
    let fresh = Journal::open(data_dir)?;
    let mut kept = 0;
    for name in TREES {
        let Ok(tree) = old.open_tree(name) else {
            continue;
        };
        for (k, v) in tree.iter().flatten() {
            // Only what still decodes; a record's own type is checked when it is read.
            if serde_json::from_slice::<serde_json::Value>(&v).is_err() {
                continue;
            }
            if name == "incidents" {
                let id = String::from_utf8_lossy(&k).into_owned();
                let value: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
                fresh.put_incident(&id, &value)?;
                kept += 1;
            } else if name == "events" || name == "effects" {
                // Logs are keyed by the old db's id generator: new keys keep
                // their order and cannot collide with the fresh db's next ids.
                let incident = k.split(|b| *b == 0).next().unwrap_or_default().to_vec();
                let seq = fresh.db.generate_id().map_err(|e| fresh.err(e))?;
                let mut key = incident;
                key.extend_from_slice(format!("\u{0}{seq:020}").as_bytes());
                fresh.tree(name).insert(key, v).map_err(|e| fresh.err(e))?;
            } else {
                fresh.tree(name).insert(k, v).map_err(|e| fresh.err(e))?;
            }
        }
    }
    fresh.flush()?;
    Ok(Repaired {
        moved_to,
        kept,
        unreadable: None,
    })
}

fn unreadable(moved_to: PathBuf, why: String) -> Repaired {
    Repaired {
        moved_to,
        kept: 0,
        unreadable: Some(why),
    }
}
