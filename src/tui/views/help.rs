//! The help screen, generated from the key table and the palette's command
//! list, so it cannot drift from what the keys do. It lists the keys of the
//! screen it was opened from, then those that work everywhere.

use crate::tui::action::{Mode, Screen};
use crate::tui::app::App;
use crate::tui::input::PALETTE;
use crate::tui::keys::{label_keys, BINDINGS};
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// A screen's name in the help's "where" column.
fn place(s: Option<Screen>) -> &'static str {
    match s {
        None => "all",
        Some(Screen::Fleet) => "fleet",
        Some(Screen::Incident) => "incident",
        Some(Screen::Work) => "plan",
        Some(Screen::Incidents) => "list",
        Some(Screen::Help) => "help",
    }
}

/// Where a binding works: its mode when it has only one besides normal
/// keys (the prompt, a confirm, the editor), else its screen.
fn where_(b: &crate::tui::keys::Binding) -> &'static str {
    match b.modes {
        [Mode::Typing] => "prompt",
        [Mode::Confirming] => "confirm",
        [Mode::Editing] => "editor",
        [Mode::Normal] => place(b.screen),
        _ => "any mode",
    }
}

/// Draw the keys of the screen help was opened from and every screen's,
/// with what they do and where, then the palette commands.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let here = app.previous;
    let mut entries: Vec<Line> = vec![Line::styled(
        format!(" keys on the {} screen", place(Some(here))),
        theme.accent,
    )];
    let rows = BINDINGS
        .iter()
        .filter(|b| b.screen == Some(here))
        .chain(BINDINGS.iter().filter(|b| b.screen.is_none()));
    for b in rows {
        entries.push(Line::from(vec![
            Span::styled(
                format!(" {:<10}", label_keys(b.keys, app.ascii)),
                theme.accent,
            ),
            Span::raw(format!("{:<20}", b.label)),
            Span::styled(where_(b), theme.muted),
        ]));
    }
    entries.push(Line::styled(" : commands", theme.accent));
    entries.extend(PALETTE.iter().map(|(cmd, what)| {
        Line::from(vec![
            Span::styled(format!(" :{cmd:<12}"), theme.accent),
            Span::styled(what.to_string(), theme.muted),
        ])
    }));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(super::border_set(app.ascii))
        .border_style(theme.border_focus)
        .title(Span::styled(" keys (Esc back) ", theme.accent));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Two columns when one does not fit.
    let rows = inner.height.max(1) as usize;
    if entries.len() <= rows || inner.width < 76 {
        frame.render_widget(Paragraph::new(entries), inner);
        return;
    }
    let right = entries.split_off(
        entries
            .len()
            .div_ceil(2)
            .max(entries.len().saturating_sub(rows))
            .min(rows),
    );
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(entries), l);
    frame.render_widget(Paragraph::new(right), r);
}
