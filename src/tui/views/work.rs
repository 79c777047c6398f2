//! The plan and its run: the plan as the operator will approve it (root
//! cause, confidence, cited evidence, steps, changes), then the agent's
//! to-do list with live status, a log tail and the pull request link.

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
                // The status ends at a word with an ellipsis, never mid-word.
                super::fit(
                    &crate::terminal::one_line(&w.status),
                    (title.width as usize)
                        .saturating_sub(w.service.0.len() + w.incident.len() + 14),
                    app.ascii,
                ),
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
        " diff against the base (d plan · h/l sideways) "
    } else if w.approved {
        " plan (approved) "
    } else {
        " plan: waits for your approval "
    };
    if let Some(editor) = &app.editing {
        // The whole reason above the editor, wrapped: at 80 columns a footer would cut it.
        let error = app.editor_error.as_deref().map(crate::terminal::one_line);
        let rows = error.as_ref().map_or(0, |e| {
            let w = plan_area.width.max(1) as usize;
            (ratatui::text::Span::raw(e.as_ref()).width().div_ceil(w) + 1).min(4) as u16
        });
        let [why, edit] =
            Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(plan_area);
        if let Some(e) = error {
            frame.render_widget(
                Paragraph::new(e.into_owned())
                    .style(theme.warn)
                    .wrap(Wrap { trim: true }),
                why,
            );
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_set(super::border_set(app.ascii))
            .border_style(theme.border_focus)
            .title(Span::styled(
                " editing the plan: Ctrl-S keep · Esc drop ",
                theme.accent,
            ));
        let inner = block.inner(edit);
        frame.render_widget(block, edit);
        frame.render_widget(editor, inner);
    } else {
        // The diff is never wrapped (a continuation would read as context):
        // it scrolls sideways instead. The plan is prose and wraps.
        let paragraph = if diff_text.is_some() {
            Paragraph::new(plan_text).scroll((app.scroll, app.hscroll))
        } else {
            Paragraph::new(plan_text)
                .wrap(Wrap { trim: false })
                .scroll((app.scroll, 0))
        };
        frame.render_widget(
            paragraph.block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border)
                    .title(Span::styled(plan_title, theme.accent)),
            ),
            plan_area,
        );
    }

    super::agent::render(frame, run_area, app, w, theme);

    if app.show_citations {
        render_citations(frame, plan_area, app, theme);
    }

    if w.held_confirm {
        super::held::render(frame, area, app, &w.held, theme);
    }

    if w.confirm {
        let lines = vec![
            Line::raw("The agent changes a local checkout on a branch of its own."),
            Line::raw(format!("Branch: medic/{}-…", w.incident)),
            Line::raw(
                "Nothing is pushed and no draft PR opens before you see the diff and press p.",
            ),
        ];
        super::confirm::render(
            frame,
            area,
            app,
            (" approve this plan? ", theme.warn),
            lines,
            theme,
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
                    Span::raw(
                        super::incident::mask(&item.title, None, &mut 0)
                            .replace(|c: char| c.is_control(), " "),
                    ),
                ]));
                lines.push(Line::styled(
                    super::incident::mask(&item.detail, None, &mut 0)
                        .replace(|c: char| c.is_control(), " "),
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
