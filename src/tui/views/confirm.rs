//! A confirm popup whose keys are always on screen: the question wraps in
//! the rows it can get, the keys (from the key table) take the last row of
//! the box whatever its size.

use crate::tui::app::App;
use crate::tui::keys;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Draw a confirm over the middle of `area`: `title`, the `lines` (wrapped),
/// then the keys that answer it on a row of their own.
pub fn render(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    (title, border): (&str, Style),
    lines: Vec<Line<'static>>,
    theme: &Theme,
) {
    let width = 72.min(area.width.saturating_sub(2)).max(10);
    let inner_w = width.saturating_sub(2).max(1) as usize;
    // Rows the text needs wrapped (a word that does not fit moves down, so allow one more each).
    let text_rows: usize = lines
        .iter()
        .map(|l| match l.width() {
            0 => 1,
            w => w.div_ceil(inner_w) + usize::from(w > inner_w),
        })
        .sum();
    let height = (text_rows as u16 + 3).min(area.height);
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(super::border_set(app.ascii))
        .border_style(border)
        .title(Span::styled(title.to_string(), border));
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    let [text, answer] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
    let mut spans = Vec::new();
    for h in keys::hints(app, inner.width as usize) {
        spans.push(Span::styled(format!("{} ", h.keys), theme.accent));
        spans.push(Span::raw(format!("{}   ", h.label)));
    }
    frame.render_widget(Line::from(spans), answer);
}
