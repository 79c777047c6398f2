//! The agent pane: the to-do list with live status, the files changed, the
//! pull request, then the run's activity (steps, commands, files, problems,
//! messages), one row each, cut at a word. It follows the newest entry
//! until the operator focuses it (Tab) and scrolls it (j/k, g/G).

use crate::model::TodoStatus;
use crate::tui::activity::{Activity, ActivityKind};
use crate::tui::app::{App, WorkView};
use crate::tui::theme::Theme;
use crate::units;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// The pane's pinned rows for `w` (to-dos, files changed, the PR), `width` cells wide.
pub fn pinned(app: &App, w: &WorkView, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let fit = |s: &str, room: usize| super::fit(&crate::terminal::one_line(s), room, app.ascii);
    let mut lines: Vec<Line> = Vec::new();
    let done = w
        .todos
        .iter()
        .filter(|t| t.status == TodoStatus::Completed)
        .count();
    if w.todos.is_empty() {
        lines.push(Line::styled(
            fit("the to-do list appears once the agent starts", width),
            theme.muted,
        ));
    } else {
        lines.push(Line::styled(
            format!("to-do {done}/{} done", w.todos.len()),
            theme.accent,
        ));
    }
    for t in &w.todos {
        let (glyph, ascii, style) = match t.status {
            TodoStatus::Completed => ("✔ done    ", "v done    ", theme.ok),
            TodoStatus::InProgress => ("▶ working ", "> working ", theme.warn),
            TodoStatus::Failed => ("✖ failed  ", "x failed  ", theme.crit),
            TodoStatus::Cancelled => ("- dropped ", "- dropped ", theme.muted),
            TodoStatus::Pending => ("☐ pending ", "o pending ", theme.muted),
        };
        let glyph = if app.ascii { ascii } else { glyph };
        // A to-do is read whole: wrapped at words under its text, up to three rows.
        let rows = wrap(
            &crate::terminal::one_line(&t.content),
            width.saturating_sub(10),
            3,
            app.ascii,
        );
        for (i, row) in rows.into_iter().enumerate() {
            let lead = if i == 0 {
                glyph.to_string()
            } else {
                " ".repeat(10)
            };
            lines.push(Line::from(vec![Span::styled(lead, style), Span::raw(row)]));
        }
    }
    let mut files: Vec<&str> = w
        .activity
        .iter()
        .filter(|a| a.kind == ActivityKind::File)
        .map(|a| a.text.as_str())
        .collect();
    files.sort_unstable();
    files.dedup();
    if !files.is_empty() {
        lines.push(Line::styled(
            format!("files changed ({})", files.len()),
            theme.accent,
        ));
        for f in files {
            lines.push(Line::raw(format!("  {}", fit(f, width.saturating_sub(2)))));
        }
    }
    if let Some(pr) = &w.pr {
        lines.push(Line::from(vec![
            Span::styled("PR ", theme.accent),
            Span::raw(fit(pr, width.saturating_sub(3))),
        ]));
        lines.push(Line::styled("y copies the link (OSC 52)", theme.muted));
    }
    lines
}

/// The pane's activity rows for `w` (they scroll), `width` cells wide.
pub fn activity(app: &App, w: &WorkView, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    // Before the first journaled event arrives, the log lines stand in.
    let fallback: Vec<Activity>;
    let activity = if w.activity.is_empty() {
        fallback = w
            .log
            .iter()
            .map(|l| Activity {
                at: 0,
                kind: if l.starts_with(crate::agent::jail::WARNING_PREFIX) {
                    ActivityKind::Problem
                } else {
                    ActivityKind::Message
                },
                text: l.clone(),
            })
            .collect();
        &fallback
    } else {
        &w.activity
    };
    if !activity.is_empty() {
        lines.push(Line::styled("activity", theme.accent));
    }
    for a in activity {
        let style = match a.kind {
            ActivityKind::Problem => theme.crit,
            ActivityKind::Step => theme.ok,
            ActivityKind::Command | ActivityKind::File => ratatui::style::Style::default(),
            ActivityKind::Message => theme.muted,
        };
        let clock = if a.at > 0 {
            format!("{} ", units::clock(a.at))
        } else {
            String::new()
        };
        let head = format!("{clock}{} ", a.kind.tag());
        let indent = head.chars().count();
        let rows = wrap(
            &crate::terminal::one_line(&a.text),
            width.saturating_sub(indent),
            2,
            app.ascii,
        );
        for (i, row) in rows.into_iter().enumerate() {
            let lead = if i == 0 {
                head.clone()
            } else {
                " ".repeat(indent)
            };
            lines.push(Line::from(vec![
                Span::styled(lead, theme.muted),
                Span::styled(row, style),
            ]));
        }
    }
    lines
}

/// `text` in rows of at most `width` cells, broken at words, at most `max`
/// rows (the last ends with an ellipsis when text is left over). Each row is
/// one screen row, so the pane knows exactly how far it can scroll.
pub fn wrap(text: &str, width: usize, max: usize, ascii: bool) -> Vec<String> {
    let width = width.max(4);
    let cells = |s: &str| Span::raw(s).width();
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let next = if row.is_empty() {
            cells(word)
        } else {
            cells(&row) + 1 + cells(word)
        };
        if next > width && !row.is_empty() {
            rows.push(std::mem::take(&mut row));
        }
        if !row.is_empty() {
            row.push(' ');
        }
        row.push_str(word);
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    if rows.len() > max {
        let rest = rows[max - 1..].join(" ");
        rows.truncate(max - 1);
        rows.push(super::fit(&rest, width, ascii));
    }
    // A single word wider than the row is cut (nothing else can be done).
    rows.into_iter()
        .map(|r| super::fit(&r, width, ascii))
        .collect()
}

/// Draw the pane into `area`: the pinned rows on top (at most 60% of it),
/// the activity below.
pub fn render(frame: &mut Frame, area: Rect, app: &App, w: &WorkView, theme: &Theme) {
    let block_style = if app.agent_focus {
        theme.border_focus
    } else {
        theme.border
    };
    let inner_w = area.width.saturating_sub(2).max(1) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let mut top = pinned(app, w, inner_w, theme);
    top.truncate(rows * 3 / 5);
    let list = activity(app, w, inner_w, theme);
    let room = rows.saturating_sub(top.len());
    let last = list.len().saturating_sub(room);
    // Unfocused, it follows the newest entry; focused, it stays where scrolled.
    let first = if app.agent_focus {
        last.saturating_sub(app.agent_scroll as usize)
    } else {
        last
    };
    let title = if app.agent_focus {
        format!(
            " agent · {}-{} of {} (Tab: plan) ",
            first + 1,
            (first + room).min(list.len()),
            list.len()
        )
    } else {
        " agent (Tab scrolls) ".to_string()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(super::border_set(app.ascii))
        .border_style(block_style)
        .title(Span::styled(title, theme.accent));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let top_rows = top.len() as u16;
    let [pinned_area, list_area] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length(top_rows),
        ratatui::layout::Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(top), pinned_area);
    frame.render_widget(
        Paragraph::new(list).scroll((u16::try_from(first).unwrap_or(u16::MAX), 0)),
        list_area,
    );
}
