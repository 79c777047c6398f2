//! `medic backtest`: replay the rules over history and print every transition.

use crate::detect::backtest;
use crate::model::Millis;
use crate::setup::{Setup, UsageError};
use crate::units;
use serde::Serialize;
use std::io::Write;

/// One transition as a JSON line (the `backtest --json` contract).
#[derive(Debug, Serialize)]
struct TransitionLine<'a> {
    service: &'a str,
    rule: &'a str,
    state: &'a str,
    at: String,
}

/// Parse `--from`/`--to`: RFC 3339 (`2026-11-28T03:00:00Z`), `now`, or
/// relative to now (`-2h`, `now-2h`).
pub fn parse_time(s: &str, now: Millis) -> Result<Millis, UsageError> {
    let t = s.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rel) = t.strip_prefix("now-").or_else(|| t.strip_prefix('-')) {
        return units::parse_duration(rel)
            .map(|d| now - d)
            .map_err(|e| UsageError(format!("bad time `{s}`: {e}")));
    }
    humantime::parse_rfc3339_weak(t)
        .map(|st| {
            st.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as Millis)
                .unwrap_or(0)
        })
        .map_err(|e| {
            UsageError(format!(
                "bad time `{s}`: {e} (use RFC 3339 like 2026-11-28T03:00:00Z, `now`, or `-2h`)"
            ))
        })
}

/// Run `backtest` over `[from, to]`.
pub async fn run(
    mut setup: Setup,
    from: &str,
    to: &str,
    step: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let now = setup.source.now();
    let from_ms = parse_time(from, now)?;
    let to_ms = parse_time(to, now)?;
    if from_ms >= to_ms {
        return Err(UsageError(format!(
            "--from ({}) must be earlier than --to ({})",
            units::rfc3339(from_ms),
            units::rfc3339(to_ms)
        ))
        .into());
    }
    let step_ms = match step {
        Some(s) => units::parse_duration(s).map_err(|e| UsageError(format!("--step: {e}")))?,
        None => setup.step(),
    };
    if step_ms <= 0 {
        return Err(UsageError("--step must be longer than 0s".into()).into());
    }
    let points = (to_ms - from_ms) / step_ms;
    if points > 5_000_000 {
        return Err(UsageError(format!(
            "{points} evaluations is too many: use a larger --step or a shorter range"
        ))
        .into());
    }
    let history = setup.source.range(from_ms, to_ms, step_ms).await?;
    // No data is said, never replayed as "no transitions".
    for m in &history.missing {
        crate::terminal::eprint_line(format_args!(
            "medic: no data for `{}`: {}",
            m.query, m.reason
        ));
    }
    let transitions = backtest::run(&setup.rules, &history);
    let mut out = crate::terminal::stdout();
    for t in &transitions {
        if json {
            let line = TransitionLine {
                service: &t.service.0,
                rule: &t.rule,
                state: t.state.json_word(),
                at: units::rfc3339(t.at),
            };
            out.json_line(&line)?;
        } else {
            out.row(format_args!(
                "{}  {} {:<9} {:<10} {}",
                units::rfc3339(t.at),
                t.state.glyph(),
                t.state.word(),
                t.service,
                t.rule
            ))?;
        }
    }
    if !json && transitions.is_empty() && history.missing.is_empty() {
        writeln!(
            out,
            "no transitions between {} and {}",
            units::rfc3339(from_ms),
            units::rfc3339(to_ms)
        )?;
    }
    out.flush()?;
    if !history.missing.is_empty() {
        return Err(crate::commands::scan::NoDataFound(history.missing).into());
    }
    Ok(())
}
