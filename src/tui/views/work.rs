//! The plan and its run: the plan as the operator will approve it (root
//! cause, confidence, cited evidence, steps, changes), then the agent's
//! to-do list with live status, a log tail and the pull request link.

use crate::model::TodoStatus;
use crate::plan::markdown;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Draw the focused incident's plan and run into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(w) = &app.work else {
        frame.render_widget(
            Paragraph::new("  gathering evidence and writing the plan…").style(theme.muted),
            area,
        );
        return;
    };
    let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    frame.render_widget(
        Line::from(vec![
            Span::styled(format!(" {} ", w.service), theme.accent),
            Span::styled(format!("incident {} · ", w.incident), theme.muted),
            Span::styled(
                w.status.clone(),
                if w.approved { theme.ok } else { theme.warn },
            ),
            Span::styled(
                w.cost
                    .as_deref()
                    .map(|c| format!(" · {c}"))
                    .unwrap_or_default(),
                theme.muted,
            ),
        ]),
        title,
    );
    let [plan_area, run_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);

    let diff_text = w.diff.as_deref().filter(|_| app.show_diff);
    let plan_text: Vec<Line> = match (&w.plan, diff_text) {
        (_, Some(diff)) => diff
            .lines()
            .map(|l| {
                let style = if l.starts_with("+++") || l.starts_with("---") {
                    theme.accent
                } else if l.starts_with('+') {
                    theme.ok
                } else if l.starts_with('-') {
                    theme.crit
                } else if l.starts_with("@@") {
                    theme.muted
                } else {
                    ratatui::style::Style::default()
                };
                Line::styled(l.replace(|c: char| c.is_control(), " "), style)
            })
            .collect(),
        (Some(p), None) => markdown::render(p)
            .lines()
            .map(|l| {
                if l.starts_with("# ") || l.starts_with("## ") {
                    Line::styled(l.to_string(), theme.accent)
                } else {
                    Line::raw(l.to_string())
                }
            })
            .collect(),
        (None, None) => vec![Line::styled("no plan yet", theme.muted)],
    };
    let plan_title = if diff_text.is_some() {
        " diff against the base (d: back to the plan) "
    } else if w.approved {
        " plan (approved) "
    } else {
        " plan: a approve · e edit · r new plan "
    };
    if let Some(editor) = &app.editing {
        frame.render_widget(editor, plan_area);
    } else {
        frame.render_widget(
            Paragraph::new(plan_text)
                .wrap(Wrap { trim: false })
                .scroll((app.scroll, 0))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.border)
                        .title(Span::styled(plan_title, theme.accent)),
                ),
            plan_area,
        );
    }

    let mut lines: Vec<Line> = Vec::new();
    if w.todos.is_empty() {
        lines.push(Line::styled(
            "the to-do list appears once the agent starts",
            theme.muted,
        ));
    }
    for t in &w.todos {
        let (glyph, ascii, style) = match t.status {
            TodoStatus::Completed => ("✔ done    ", "v done    ", theme.ok),
            TodoStatus::InProgress => ("▶ working ", "> working ", theme.warn),
            TodoStatus::Failed => ("✖ failed  ", "x failed  ", theme.crit),
            TodoStatus::Cancelled => ("- dropped ", "- dropped ", theme.muted),
            TodoStatus::Pending => ("☐ pending ", "[ ] pending ", theme.muted),
        };
        let glyph = if app.ascii { ascii } else { glyph };
        lines.push(Line::from(vec![
            Span::styled(glyph, style),
            Span::raw(t.content.clone()),
        ]));
    }
    if let Some(pr) = &w.pr {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("PR ", theme.accent),
            Span::raw(pr.clone()),
        ]));
        lines.push(Line::styled("y copies the link (OSC 52)", theme.muted));
    }
    lines.push(Line::raw(""));
    // The log tail gets the rows left, counted as wrapped rows, newest last.
    let inner = run_area.width.saturating_sub(2).max(1) as usize;
    let rows_of = |text: &str| text.chars().count().max(1).div_ceil(inner);
    let used: usize = lines.iter().map(|l| rows_of(&l.to_string())).sum();
    let mut room = (run_area.height.saturating_sub(2) as usize).saturating_sub(used);
    let mut start = w.log.len();
    while start > 0 && rows_of(&w.log[start - 1]) <= room {
        room -= rows_of(&w.log[start - 1]);
        start -= 1;
    }
    for l in &w.log[start..] {
        // The unconfined-agent warning stands out in red (see agent::jail::warning).
        let style = if l.starts_with(crate::agent::jail::WARNING_PREFIX) {
            theme.crit
        } else {
            theme.muted
        };
        lines.push(Line::styled(
            l.replace(|c: char| c.is_control(), " "),
            style,
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(" agent ", theme.accent)),
        ),
        run_area,
    );

    if app.show_citations {
        render_citations(frame, plan_area, app, theme);
    }

    if w.held_confirm {
        super::held::render(frame, area, &w.held, theme);
    }

    if w.confirm {
        let width = 64.min(area.width.saturating_sub(4));
        let popup = Rect {
            x: area.x + (area.width.saturating_sub(width)) / 2,
            y: area.y + area.height / 3,
            width,
            height: 6,
        };
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw("Approve this plan? The agent changes a checkout on a"),
                Line::raw(format!(
                    "medic/{}-… branch; you see the diff and press p",
                    w.incident
                )),
                Line::raw("before anything is pushed or a draft PR opened."),
                Line::styled("y approve · n cancel", theme.accent),
            ])
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.warn),
            ),
            popup,
        );
    }
}

/// The evidence the plan's root cause cites, each id resolved against what
/// triage gathered; an id that resolves to nothing is said so, loudly.
fn render_citations(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(plan) = app.work.as_ref().and_then(|w| w.plan.as_ref()) else {
        return;
    };
    let evidence = app
        .work
        .as_ref()
        .and_then(|w| app.fleet.as_ref()?.evidence_of(&w.service));
    let mut lines = vec![Line::styled(
        format!(
            "root cause ({:.0}% sure): {}",
            plan.root_cause.confidence * 100.0,
            plan.root_cause.hypothesis
        ),
        theme.accent,
    )];
    if plan.root_cause.evidence.is_empty() {
        lines.push(Line::styled("the plan cites no evidence", theme.warn));
    }
    for id in &plan.root_cause.evidence {
        lines.push(Line::raw(""));
        match evidence.and_then(|e| e.get(id)) {
            Some(item) => {
                lines.push(Line::from(vec![
                    Span::styled(format!("{id}  "), theme.accent),
                    Span::raw(item.title.replace(|c: char| c.is_control(), " ")),
                ]));
                lines.push(Line::styled(
                    item.detail.replace(|c: char| c.is_control(), " "),
                    theme.muted,
                ));
            }
            None => lines.push(Line::from(vec![
                Span::styled(format!("{id}  "), theme.accent),
                Span::styled(
                    "not in the evidence gathered now (the flag may have moved on)",
                    theme.warn,
                ),
            ])),
        }
    }
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus)
                .title(Span::styled(
                    " cited evidence (Enter/Esc close) ",
                    theme.accent,
                )),
        ),
        area,
    );
}
