//! The help screen, generated from the key table and the palette's command
//! list, so it cannot drift from what the keys do.

use crate::tui::app::Screen;
use crate::tui::input::PALETTE;
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

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

/// Draw every key binding with what it does and where, then the palette commands.
pub fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut entries: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<9}", b.keys), theme.accent),
                Span::raw(format!("{:<21}", b.description)),
                Span::styled(place(b.screen), theme.muted),
            ])
        })
        .collect();
    entries.push(Line::styled(" : commands", theme.accent));
    entries.extend(PALETTE.iter().map(|(cmd, what)| {
        Line::from(vec![
            Span::styled(format!(" :{cmd:<12}"), theme.accent),
            Span::styled(what.to_string(), theme.muted),
        ])
    }));
    let block = Block::default()
        .borders(Borders::ALL)
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
