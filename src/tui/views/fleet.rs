//! The fleet view: flagged services on top (worst first), then one row per
//! service with CPU, memory and error-rate sparklines and current readings.

use crate::model::{AlertState, Unit};
use crate::spark::spark;
use crate::tui::app::{App, ServiceRow};
use crate::tui::theme::Theme;
use crate::units;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

/// Draw the flagged list and the fleet table into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(fleet) = &app.fleet else {
        frame.render_widget(
            Paragraph::new("  waiting for the first data from the source…").style(theme.muted),
            area,
        );
        return;
    };
    // No data is a banner naming the query, never "nothing flagged".
    let banner: Vec<Line> = fleet
        .no_data
        .iter()
        .take(2)
        .map(|m| {
            Line::styled(
                // The reason can quote a server's error body.
                format!(
                    "  ! no data for `{}`: {}",
                    crate::terminal::one_line(&m.query),
                    crate::terminal::one_line(&m.reason)
                ),
                theme.warn,
            )
        })
        .collect();
    let flagged_rows = (fleet.flags.len().max(1) + banner.len()).clamp(1, 6) as u16;
    let [top, rest] =
        Layout::vertical([Constraint::Length(flagged_rows + 2), Constraint::Min(3)]).areas(area);
    // Room to spare below the table: the selected service's detail.
    let table_rows = app.visible_rows().len() as u16 + 3;
    let [bottom, detail] = if rest.height >= table_rows + DETAIL_MIN_HEIGHT {
        Layout::vertical([
            Constraint::Length(table_rows),
            Constraint::Min(DETAIL_MIN_HEIGHT),
        ])
        .areas(rest)
    } else {
        [rest, Rect::default()]
    };
    if !detail.is_empty() {
        render_detail(frame, detail, app, theme);
    }

    // Flagged: one line per flag, worst first. Narrow terminals show the
    // metric instead of the rule name, to keep room for the time to limit.
    let narrow = area.width < 100;
    let mut lines: Vec<Line> = if fleet.flags.is_empty() && !banner.is_empty() {
        Vec::new()
    } else if fleet.flags.is_empty() {
        vec![Line::styled("  ✔ nothing flagged", theme.ok)]
    } else {
        fleet
            .flags
            .iter()
            .take(if fleet.flags.len() > 6 { 5 } else { 6 })
            .map(|f| {
                let glyph = if app.ascii {
                    f.state.ascii_glyph()
                } else {
                    f.state.glyph()
                };
                let row = fleet.rows.iter().find(|r| r.service == f.service);
                let reading = row.map(|r| reading(r, f.metric, true)).unwrap_or_default();
                let pr = app
                    .open_prs
                    .iter()
                    .find(|(s, _)| *s == f.service.0)
                    .map(|(_, n)| format!("  PR #{n} open"))
                    .unwrap_or_default();
                Line::from(vec![
                    Span::styled(
                        format!(" {glyph} {:<8}", f.state.word()),
                        theme.state(f.state),
                    ),
                    Span::styled(format!(" {:<9}", f.service), theme.accent),
                    if narrow {
                        Span::raw(format!(" {:<8}", f.metric.name()))
                    } else {
                        Span::raw(format!(" {:<18}", f.rule))
                    },
                    Span::raw(format!(" {:<15}", reading)),
                    Span::styled(format!(" {}", units::clock(f.since)), theme.muted),
                    Span::styled(format!("  {}", f.verdict.word()), theme.muted),
                    // Anomaly flags say why in words ("error rate 6× its usual
                    // level for this hour"), not just a score.
                    Span::raw(
                        crate::detect::reason_in_words(&f.reason)
                            .map(|w| format!("  {}", crate::terminal::one_line(w)))
                            .unwrap_or_default(),
                    ),
                    Span::styled(
                        f.eta_seconds
                            .map(|s| {
                                format!(
                                    "  full in ~{}",
                                    units::duration((s / 60.0).round() as i64 * 60_000)
                                )
                            })
                            .unwrap_or_default(),
                        theme.warn,
                    ),
                    Span::styled(pr, theme.accent),
                ])
            })
            .collect()
    };
    if fleet.flags.len() > 6 {
        lines.push(Line::styled(
            format!("  … and {} more", fleet.flags.len() - 5),
            theme.muted,
        ));
    }
    lines.splice(0..0, banner);
    // The same count as the header: open flags; resolved ones are said apart.
    let open = super::open_flags(fleet);
    let resolved = fleet.flags.len() - open;
    let title = if resolved > 0 {
        format!(" flagged ({open}) · {resolved} resolved ")
    } else {
        format!(" flagged ({open}) ")
    };
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(title, theme.accent)),
        ),
        top,
    );

    // The fleet table. Metric columns share what is left after the fixed ones.
    let fixed = 11 + 10 + 11 + 4;
    let metric_w = ((bottom.width.saturating_sub(fixed + 2)) / 3).max(8) as usize;
    let wide = metric_w >= 22;
    let reading_w = if wide { 14 } else { 5 };
    let spark_w = metric_w.saturating_sub(reading_w + 1).max(3);
    let header = Row::new(vec![
        "STATE", " SERVICE", "CPU", "MEMORY", "5xx RATE", "VERDICT",
    ])
    .style(theme.muted);
    // Only the rows that fit are built (a fleet of thousands costs what a screenful costs);
    // the window follows the selection.
    let visible = app.visible_rows();
    let room = bottom.height.saturating_sub(3).max(1) as usize;
    let first = app.selected.saturating_sub(room - 1);
    let rows = visible
        .iter()
        .enumerate()
        .skip(first)
        .take(room)
        .map(|(i, r)| {
            let glyph = if app.ascii {
                r.state.ascii_glyph()
            } else {
                r.state.glyph()
            };
            let cells = vec![
                Line::styled(format!("{glyph} {}", r.state.word()), theme.state(r.state)),
                Line::raw(if i == app.selected {
                    format!("›{}", r.service)
                } else {
                    format!(" {}", r.service)
                }),
                Line::raw(metric_cell(
                    &r.cpu,
                    r.cpu_limit.unwrap_or(f64::NAN),
                    spark_w,
                    app.ascii,
                    reading(r, crate::model::Metric::Cpu, wide),
                    reading_w,
                )),
                Line::raw(metric_cell(
                    &r.memory,
                    r.memory_limit.unwrap_or(f64::NAN),
                    spark_w,
                    app.ascii,
                    reading(r, crate::model::Metric::Memory, wide),
                    reading_w,
                )),
                Line::raw(metric_cell(
                    &r.error_rate,
                    error_scale(&r.error_rate),
                    spark_w,
                    app.ascii,
                    reading(r, crate::model::Metric::Errors, wide),
                    reading_w,
                )),
                Line::styled(
                    r.verdict.map(|v| v.word()).unwrap_or("—"),
                    if r.state == AlertState::Inactive {
                        theme.muted
                    } else {
                        theme.warn
                    },
                ),
            ];
            let row = Row::new(cells);
            if i == app.selected {
                row.style(theme.selection)
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(metric_w as u16),
        Constraint::Length(metric_w as u16),
        Constraint::Length(metric_w as u16),
        Constraint::Min(8),
    ];
    let table = Table::new(rows, widths).header(header).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(Span::styled(
                if app.filter.is_empty() {
                    " fleet (last hour) ".to_string()
                } else {
                    format!(
                        " fleet (last hour) · /{} · {} of {} ",
                        app.filter,
                        visible.len(),
                        fleet.rows.len()
                    )
                },
                theme.accent,
            )),
    );
    frame.render_widget(table, bottom);
}

/// The detail pane needs this many rows to be worth drawing.
const DETAIL_MIN_HEIGHT: u16 = 10;

/// The selected service, larger: its flagged metric charted against the
/// threshold with the onset, beside the verdict and its reasons.
fn render_detail(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let (Some(fleet), Some(row)) = (&app.fleet, app.selected_row()) else {
        return;
    };
    let flag = fleet.flag_of(&row.service);
    let [chart, verdict] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    super::incident::render_chart(frame, chart, row, flag, theme, app.ascii);
    let mut lines = match flag {
        Some(f) => {
            let glyph = if app.ascii {
                f.state.ascii_glyph()
            } else {
                f.state.glyph()
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("{glyph} {} ", f.state.word()), theme.state(f.state)),
                    Span::styled(f.verdict.word(), theme.warn),
                ]),
                Line::styled(
                    format!("{} · onset {} UTC", f.rule, units::clock(f.onset)),
                    theme.muted,
                ),
            ];
            lines.extend(f.reason.split("; ").map(|r| Line::raw(format!("- {r}"))));
            lines
        }
        None => vec![Line::styled(
            format!(
                "{} {} is not flagged now",
                if app.ascii { "v" } else { "✔" },
                row.service
            ),
            theme.ok,
        )],
    };
    lines.push(Line::styled("Enter opens the incident", theme.muted));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_set(super::border_set(app.ascii))
                    .border_style(theme.border)
                    .title(Span::styled(format!(" {} ", row.service), theme.accent)),
            ),
        verdict,
    );
}

/// Errors are scaled to at least 10% so a healthy 0.1% stays a flat line.
fn error_scale(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.10, f64::max)
}

fn metric_cell(
    values: &[f64],
    max: f64,
    spark_w: usize,
    ascii: bool,
    reading: String,
    reading_w: usize,
) -> String {
    format!(
        "{} {:>reading_w$}",
        spark(values, spark_w, max, ascii),
        reading
    )
}

/// The current reading of a row's metric: `95%` narrow, `30.5 GB 95%` wide.
fn reading(r: &ServiceRow, metric: crate::model::Metric, wide: bool) -> String {
    use crate::model::Metric;
    let last = |v: &[f64]| v.iter().rev().copied().find(|x| x.is_finite());
    match metric {
        Metric::Cpu | Metric::CpuLimit => with_limit(last(&r.cpu), r.cpu_limit, Unit::Cores, wide),
        Metric::Memory | Metric::MemoryLimit => {
            with_limit(last(&r.memory), r.memory_limit, Unit::Bytes, wide)
        }
        Metric::Errors | Metric::Requests => match last(&r.error_rate) {
            None => "—".into(),
            Some(e) if wide => match r.requests {
                Some(req) => format!("{} of {}", units::percent(e), units::per_second(req)),
                None => units::percent(e),
            },
            Some(e) => units::percent(e),
        },
    }
}

fn with_limit(v: Option<f64>, limit: Option<f64>, unit: Unit, wide: bool) -> String {
    match (v, limit) {
        (None, _) => "—".into(),
        (Some(v), Some(l)) if l > 0.0 => {
            if wide {
                format!("{} {}", short(v, unit), units::percent(v / l))
            } else {
                units::percent(v / l)
            }
        }
        (Some(v), _) if wide => {
            let s = format!("{} no limit", short(v, unit));
            if s.chars().count() <= 14 {
                s
            } else {
                "no limit".into()
            }
        }
        (Some(v), _) => short(v, unit),
    }
}

fn short(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Cores => format!("{v:.2}c"),
        _ => units::value(v, unit),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::NoData;
    use crate::tui::app::{Action, App};
    use crate::tui::theme::Theme;
    use crate::tui::views::tests::draw;

    #[test]
    fn no_data_is_a_banner_and_an_unlimited_service_says_no_limit() {
        let mut view = crate::tui::app::tests::demo_view(1_790_000_000_000);
        view.flags.clear();
        view.no_data = vec![NoData {
            query: "cpu".into(),
            reason: "`typo_cpu` returned no series".into(),
        }];
        let api = view.rows.iter_mut().find(|r| r.service.0 == "api").unwrap();
        api.memory_limit = None;
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(view)));
        let screen = draw(&app, &Theme::mono(), 120, 40);
        assert!(
            screen.contains("! no data for `cpu`: `typo_cpu`"),
            "{screen}"
        );
        assert!(!screen.contains("nothing flagged"), "{screen}");
        let row = screen
            .lines()
            .find(|l| l.contains("›api"))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(row.contains("no limit"), "{row}");
    }

    #[test]
    fn an_anomaly_flag_shows_its_reason_in_words() {
        let mut view = crate::tui::app::tests::demo_view(1_790_000_000_000);
        let flag = view.flags.first_mut().expect("the demo flags something");
        flag.reason = format!(
            "error rate 6× its usual level for this hour (usual 1.0%, now 6.0%){}anomaly score of errors / requests > 0.5 for 5m: score 0.93, firing since 03:14 UTC",
            crate::detect::ANOMALY_WORDS_END
        );
        let service = flag.service.clone();
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(view)));
        let screen = draw(&app, &Theme::mono(), 200, 40);
        let row = screen
            .lines()
            .find(|l| l.contains(&service.0) && l.contains("error rate"))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(row.contains("6× its usual level for this hour"), "{row}");
        assert!(!row.contains("anomaly score of"), "only the words: {row}");
    }
}
