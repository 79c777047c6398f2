//! `medic incidents --similar ID`: the past incidents medic remembers that
//! look like this one (same rule; the same service and log templates count
//! most), each with its fix and outcome.

use crate::setup::UsageError;
use crate::terminal;
use crate::workflow::engine::StepRecord;
use crate::workflow::incident::{Incident, Triage};
use crate::workflow::journal::Journal;
use crate::workflow::memory;

/// List the incidents similar to `id`, one line each (JSON lines with `json`).
pub fn similar(data_dir: &std::path::Path, id: &str, json: bool) -> anyhow::Result<()> {
    let journal = Journal::open(data_dir)?;
    let inc: Incident = journal.incident(id)?.ok_or_else(|| {
        UsageError(format!(
            "no incident `{id}` in {} (see `medic incidents`)",
            data_dir.display()
        ))
    })?;
    let triage: Triage = journal
        .step::<StepRecord>(id, "evidence")?
        .and_then(|r| r.output)
        .and_then(|o| serde_json::from_value(o).ok())
        .ok_or_else(|| {
            UsageError(format!(
                "incident {id} has no evidence yet: `medic resume {id}` gathers it"
            ))
        })?;
    let memories = memory::recall(&journal)?;
    let found = memory::similar(&memories, &memory::signature(&inc, &triage), id);
    let mut out = terminal::stdout();
    if found.is_empty() && !json {
        out.row(format_args!(
            "nothing like {id} in the journal yet (incidents count once their change was watched through)"
        ))?;
    }
    for m in found {
        if json {
            out.json_line(&serde_json::json!({
                "id": m.incident,
                "service": m.signature.service.0,
                "rule": m.signature.rule,
                "opened_at": crate::units::rfc3339(m.opened_at),
                "fix": m.fix,
                "verdict": m.verdict,
                "history": memory::words(m, &memories),
            }))?;
        } else {
            out.row(format_args!(
                "{:<28} {:<9} {:<18} {}",
                m.incident,
                m.signature.service,
                m.signature.rule,
                memory::words(m, &memories)
            ))?;
        }
    }
    Ok(())
}
