//! The incident view: the flagged metric charted against its threshold with
//! the onset marked, the verdict and its reasons, then the evidence (deploys,
//! upstream status, the rest of the project) and the folded logs.

use crate::model::{AlertState, EvidenceKind, Flag, Metric};
use crate::tui::app::{App, ServiceRow};
use crate::tui::input::contains;
use crate::tui::theme::Theme;
use crate::units;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

/// The flagged metric as the rule sees it: usage ÷ limit, or the 5xx share.
fn flagged_values(row: &ServiceRow, metric: Metric) -> Vec<f64> {
    let ratio = |v: &[f64], l: Option<f64>| -> Vec<f64> {
        match l.filter(|l| *l > 0.0) {
            Some(l) => v.iter().map(|x| x / l).collect(),
            None => vec![f64::NAN; v.len()],
        }
    };
    match metric {
        Metric::Memory | Metric::MemoryLimit => ratio(&row.memory, row.memory_limit),
        Metric::Cpu | Metric::CpuLimit => ratio(&row.cpu, row.cpu_limit),
        Metric::Errors | Metric::Requests => row.error_rate.clone(),
    }
}

/// Draw the incident of the focused service into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let (Some(fleet), Some(service)) = (&app.fleet, &app.focus) else {
        return;
    };
    let Some(row) = fleet.rows.iter().find(|r| &r.service == service) else {
        frame.render_widget(
            Paragraph::new(format!("  {service} is no longer reported by the source")),
            area,
        );
        return;
    };
    let flag = fleet.flag_of(service);
    let [title, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(45),
        Constraint::Min(4),
    ])
    .areas(area);

    // Title: state, rule, verdict, onset, time to limit.
    let title_line = match flag {
        Some(f) => {
            let glyph = if app.ascii {
                f.state.ascii_glyph()
            } else {
                f.state.glyph()
            };
            let mut spans = vec![
                Span::styled(
                    format!(" {glyph} {} ", f.state.word()),
                    theme.state(f.state),
                ),
                Span::styled(format!("{service} "), theme.accent),
                Span::raw(format!("· {} · ", f.rule)),
                Span::styled(f.verdict.word(), theme.warn),
                Span::styled(
                    format!(" · onset {} UTC", units::clock(f.onset)),
                    theme.muted,
                ),
            ];
            if let Some(eta) = f.eta_seconds {
                spans.push(Span::styled(
                    format!(
                        " · limit in ~{}",
                        units::duration((eta / 60.0).round() as i64 * 60_000)
                    ),
                    theme.crit,
                ));
            }
            Line::from(spans)
        }
        None => Line::styled(format!(" ✔ {service} is not flagged now"), theme.ok),
    };
    frame.render_widget(title_line, title);

    let [chart_area, verdict_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(middle);
    render_chart(frame, chart_area, row, flag, theme, app.ascii);

    // Verdict and reasons.
    let reasons: Vec<Line> = match flag {
        Some(f) => f
            .reason
            .split("; ")
            .map(|r| {
                Line::from(vec![
                    Span::styled("• ", theme.muted),
                    Span::raw(r.to_string()),
                ])
            })
            .collect(),
        None => vec![Line::raw("no open flag")],
    };
    frame.render_widget(
        Paragraph::new(reasons).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(
                    format!(" verdict: {} ", flag.map_or("—", |f| f.verdict.word())),
                    theme.accent,
                )),
        ),
        verdict_area,
    );

    // Evidence: facts first, then logs (untrusted text, shown as data).
    let mut lines = Vec::new();
    // Line numbers of the search hits, to scroll to the current one.
    let mut hits: Vec<usize> = Vec::new();
    // Secrets are masked as the prompts mask them; `v` shows one at a time.
    let mut secrets = 0;
    let text_w = (bottom.width as usize).saturating_sub(2 + 22).max(8);
    if let Some(ev) = fleet.evidence_of(service) {
        for kind in [
            EvidenceKind::Deploy,
            EvidenceKind::Upstream,
            EvidenceKind::Metric,
            EvidenceKind::Health,
            EvidenceKind::Log,
        ] {
            for item in ev.items.iter().filter(|i| i.kind == kind) {
                let style = match kind {
                    EvidenceKind::Log if item.title.starts_with("ERROR") => theme.crit,
                    EvidenceKind::Log if item.title.starts_with("WARN") => theme.warn,
                    _ => Style::default(),
                };
                // One row each, cut at a word with an ellipsis (never mid-word).
                let title = super::fit(
                    &sanitize(&mask(&item.title, app.reveal, &mut secrets)),
                    text_w,
                    app.ascii,
                );
                let detail = super::fit(
                    &sanitize(&mask(&item.detail, app.reveal, &mut secrets)),
                    text_w,
                    app.ascii,
                );
                if !app.search.is_empty()
                    && (contains(&title, &app.search) || contains(&detail, &app.search))
                {
                    hits.push(lines.len());
                }
                let mut first = vec![Span::styled(format!("{:<22}", item.id), theme.muted)];
                first.extend(highlight(&title, &app.search, style, theme.matched));
                lines.push(Line::from(first));
                let mut second = vec![Span::raw(" ".repeat(22))];
                second.extend(highlight(&detail, &app.search, theme.muted, theme.matched));
                lines.push(Line::from(second));
            }
        }
        for gap in &ev.gaps {
            lines.push(Line::styled(format!("! {gap}"), theme.warn));
        }
    } else {
        lines.push(Line::styled(
            "  no evidence gathered (the service is not flagged)",
            theme.muted,
        ));
    }
    let current = (!hits.is_empty()).then(|| app.search_hit % hits.len());
    let scroll = match current {
        Some(h) if app.search_jump => hits[h].saturating_sub(1) as u16,
        _ => app.scroll,
    };
    let title = match (app.search.is_empty(), current) {
        (true, _) if secrets > 0 => match app.reveal {
            Some(i) => format!(
                " evidence · secret {} of {secrets} shown (v next, Esc hide) ",
                i + 1
            ),
            None => format!(" evidence · {secrets} secret(s) masked (v reveals one) "),
        },
        (true, _) => " evidence (j/k scroll, / search) ".to_string(),
        (false, Some(h)) => format!(
            " evidence · /{} · hit {} of {} (n/N) ",
            app.search,
            h + 1,
            hits.len()
        ),
        (false, None) => format!(" evidence · /{} · no match ", app.search),
    };
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(title, theme.accent)),
        ),
        bottom,
    );
}

/// `text` split into spans with every case-insensitive occurrence of
/// `needle` in the `hit` style.
fn highlight(text: &str, needle: &str, base: Style, hit: Style) -> Vec<Span<'static>> {
    if needle.is_empty() {
        return vec![Span::styled(text.to_string(), base)];
    }
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII: highlight only when it did not.
    if lower.len() != text.len() {
        return vec![Span::styled(text.to_string(), base)];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        let start = at + found;
        let end = start + needle.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        if start > at {
            spans.push(Span::styled(text[at..start].to_string(), base));
        }
        spans.push(Span::styled(text[start..end].to_string(), hit));
        at = end;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}

/// `text` with its secrets masked as `[REDACTED:kind]`, as in prompts and
/// PR bodies, except the `reveal`-th secret of the pane (numbered by
/// `seen`, which counts every secret met so far), shown for the operator.
pub(super) fn mask(text: &str, reveal: Option<usize>, seen: &mut usize) -> String {
    let found = crate::triage::redact::redact(text);
    if found.findings.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in &found.findings {
        let (Some(before), Some(secret)) = (text.get(at..f.start), text.get(f.start..f.end)) else {
            // Never guess at a range: the redacted text is the safe answer.
            return found.text;
        };
        out.push_str(before);
        if reveal == Some(*seen) {
            out.push_str(secret);
        } else {
            out.push_str(&format!("[REDACTED:{}]", f.kind));
        }
        *seen += 1;
        at = f.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Log text is attacker-controllable: strip control characters (escape
/// sequences would repaint the operator's terminal).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '␣' } else { c })
        .collect()
}

/// The flagged metric charted against its threshold, the onset marked.
pub(super) fn render_chart(
    frame: &mut Frame,
    area: Rect,
    row: &ServiceRow,
    flag: Option<&Flag>,
    theme: &Theme,
    ascii: bool,
) {
    // Braille needs a capable font; --ascii draws with dots instead.
    let marker = if ascii { Marker::Dot } else { Marker::Braille };
    let metric = flag.map_or(Metric::Memory, |f| f.metric);
    let values = flagged_values(row, metric);
    let n = values.len();
    let minutes = |i: usize| (i as f64 - (n as f64 - 1.0)) * row.step as f64 / 60_000.0;
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| (minutes(i), *v))
        .collect();
    let x0 = minutes(0).min(-1.0);
    let threshold = flag.map(|f| f.threshold);
    // Zoom on the data and the threshold: a ratio creeping from 85% to 96%
    // must not be a flat line at the top of a 0–100% axis.
    let hi = points
        .iter()
        .map(|p| p.1)
        .chain(threshold)
        .fold(f64::MIN, f64::max);
    let lo = points
        .iter()
        .map(|p| p.1)
        .chain(threshold)
        .fold(f64::MAX, f64::min);
    let (lo, hi) = if hi >= lo { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(0.005);
    let y_min = (lo - pad).max(0.0);
    let y_max = hi + pad;
    let threshold_line: Vec<(f64, f64)> = threshold
        .map(|t| vec![(x0, t), (0.0, t)])
        .unwrap_or_default();
    let onset_line: Vec<(f64, f64)> = flag
        .map(|f| (f.onset - (row.start + (n as i64 - 1) * row.step)) as f64 / 60_000.0)
        .filter(|x| *x >= x0)
        .map(|x| vec![(x, y_min), (x, y_max)])
        .unwrap_or_default();
    let state = flag.map_or(AlertState::Inactive, |f| f.state);
    let what = match metric {
        Metric::Errors | Metric::Requests => "5xx share",
        Metric::Cpu | Metric::CpuLimit => "cpu ÷ limit",
        _ => "memory ÷ limit",
    };
    // The title says what is drawn: a legend does not fit a small chart.
    let title = match threshold {
        Some(t) => format!(" {what} · threshold {} ", units::percent(t)),
        None => format!(" {what}, last hour "),
    };
    let mut datasets = vec![Dataset::default()
        .name(what)
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(theme.state(state))
        .data(&points)];
    if !threshold_line.is_empty() {
        datasets.push(
            Dataset::default()
                .name(format!(
                    "threshold {}",
                    units::percent(threshold.unwrap_or(0.0))
                ))
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(theme.warn)
                .data(&threshold_line),
        );
    }
    if !onset_line.is_empty() {
        datasets.push(
            Dataset::default()
                .name("onset")
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(theme.muted)
                .data(&onset_line),
        );
    }
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(title, theme.accent)),
        )
        .x_axis(
            Axis::default()
                .bounds([x0, 0.0])
                .labels([format!("{:.0}m", x0), "now".to_string()])
                .style(theme.muted),
        )
        .y_axis(
            Axis::default()
                .bounds([y_min, y_max])
                .labels([units::percent(y_min), units::percent(y_max)])
                .style(theme.muted),
        );
    frame.render_widget(chart, area);
}
