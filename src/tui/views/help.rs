//! The help screen, generated from the key table.

use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// Draw every key binding with what it does and where.
pub fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            let place = match b.screen {
                None => "everywhere".to_string(),
                Some(s) => format!("{s:?}").to_lowercase(),
            };
            Line::from(vec![
                Span::styled(format!("  {:<10}", b.keys), theme.accent),
                Span::raw(format!("{:<22}", b.description)),
                Span::styled(place, theme.muted),
            ])
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(" keys ", theme.accent));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
