//! `medic doctor`: the one command that says why a fleet is empty. For a
//! Prometheus source it prints each query with how many services it
//! returned and how many series lacked the service label, then each series
//! the preset is built from with the labels it is missing and the exporter
//! that should provide it. Exits 3 when no query returned a service.

use super::scan::NoDataFound;
use crate::model::NoData;
use crate::setup::Setup;
use crate::sources::prometheus::doctor::Diagnosis;
use crate::sources::Source;
use crate::terminal;
use std::io::Write;

/// Run `doctor`.
pub async fn run(setup: Setup) -> anyhow::Result<()> {
    let mut out = terminal::stdout();
    let Source::Prometheus(p) = &setup.source else {
        out.row(format_args!(
            "doctor checks Prometheus-compatible sources; this config uses {} (run `medic scan --once` to see what it returns)",
            setup.source.describe()
        ))?;
        return Ok(());
    };
    let src = &setup.config.source;
    out.row(format_args!(
        "source: {}, preset = \"{}\", service label `{}`, window {}",
        setup.source.describe(),
        src.preset.word(),
        src.service_label,
        crate::units::duration(setup.lookback()),
    ))?;
    let now = setup.source.now();
    let d = p
        .diagnose(&src.preset_inputs(), now, setup.lookback(), setup.step())
        .await;
    for line in report(&d, &src.service_label) {
        out.row(format_args!("{line}"))?;
    }
    out.flush()?;
    if d.services() == 0 {
        return Err(NoDataFound(vec![NoData {
            query: "services".into(),
            reason: "no query returned a service; the lines above say which series or labels are missing".into(),
        }])
        .into());
    }
    Ok(())
}

/// The report as lines (each shown through `terminal`, labels are hostile).
pub fn report(d: &Diagnosis, label: &str) -> Vec<String> {
    let mut lines = vec!["queries:".to_string()];
    for q in &d.queries {
        let state = match (&q.error, q.services) {
            (Some(e), _) => format!("✖ failed: {e}"),
            (None, 0) if q.unlabelled > 0 => format!(
                "✖ 0 services: {} series without the `{label}` label",
                q.unlabelled
            ),
            (None, 0) => "✖ 0 series".to_string(),
            (None, n) => {
                let mut s = format!("✔ {n} services");
                if q.unlabelled > 0 {
                    s.push_str(&format!(
                        ", {} series without `{label}` skipped",
                        q.unlabelled
                    ));
                }
                if q.duplicates > 0 {
                    s.push_str(&format!(", {} services returned twice", q.duplicates));
                }
                s
            }
        };
        lines.push(format!("  {:<12} {state}", q.metric.name()));
        lines.push(format!("               {}", q.promql));
    }
    if !d.ingredients.is_empty() {
        lines.push("series the queries are built from (now):".to_string());
    }
    for c in &d.ingredients {
        let sel = c.ingredient.selector("");
        let state = match (&c.error, c.series) {
            (Some(e), _) => format!("✖ check failed: {e}"),
            (None, Some(0)) | (None, None) => format!(
                "✖ no series (expected from {}): check that it is scraped and the name is right",
                c.ingredient.from
            ),
            (None, Some(n)) if c.missing.is_empty() => {
                format!(
                    "✔ {n} series, labels {} present",
                    c.ingredient.labels.join(", ")
                )
            }
            (None, Some(n)) => format!(
                "▲ {n} series; missing labels: {} (relabel the scrape so they carry them)",
                c.missing
                    .iter()
                    .map(|(l, k)| format!("`{l}` on {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        lines.push(format!("  {sel}"));
        lines.push(format!("      {state}"));
    }
    lines
}
