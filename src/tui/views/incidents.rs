//! The `:incidents` list: every incident in the journal, newest first, with
//! where it stands and its pull request; `Enter` opens its plan and run.

use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

/// Draw the incident list into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header =
        Row::new(["INCIDENT", "SERVICE", "RULE", "STATUS", "PULL REQUEST"]).style(theme.muted);
    let rows: Vec<Row> = if app.incidents.is_empty() {
        vec![Row::new([Cell::from(Span::styled(
            "no incidents in the journal yet",
            theme.muted,
        ))])]
    } else {
        app.incidents
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let style = match r.status.as_str() {
                    "needs attention" => theme.crit,
                    "awaiting approval" | "open" => theme.warn,
                    _ => theme.ok,
                };
                let row = Row::new([
                    Cell::from(format!(
                        "{}{}",
                        if i == app.incident_selected {
                            "›"
                        } else {
                            " "
                        },
                        r.id
                    )),
                    Cell::from(r.service.clone()),
                    Cell::from(r.rule.clone()),
                    Cell::from(Span::styled(r.status.clone(), style)),
                    Cell::from(r.pr.clone().unwrap_or_else(|| "—".into())),
                ]);
                if i == app.incident_selected {
                    row.style(theme.selection)
                } else {
                    row
                }
            })
            .collect()
    };
    let widths = [
        Constraint::Length(24),
        Constraint::Length(9),
        Constraint::Length(18),
        Constraint::Length(17),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths).header(header).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_focus)
            .title(Span::styled(
                format!(" incidents ({}) ", app.incidents.len()),
                theme.accent,
            )),
    );
    frame.render_widget(table, area);
}
