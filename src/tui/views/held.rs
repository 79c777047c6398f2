//! The change policy's second confirm: every path of the agent's change
//! that is held back (CI files, hooks, git config, Dockerfile downloads,
//! symlinks, binaries, `[forge] protected`), each with why, before `y`
//! lets them be pushed. Rendering only.

use crate::forge::policy::Held;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Draw the confirm listing `held` over the middle of `area`.
pub fn render(frame: &mut Frame, area: Rect, held: &[Held], theme: &Theme) {
    let width = 76.min(area.width.saturating_sub(2));
    let shown = held.len().min(area.height.saturating_sub(8) as usize);
    let height = (shown as u16 + 6).min(area.height);
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    };
    let mut lines = vec![Line::raw(
        "The agent's change touches paths that run or hide code elsewhere:",
    )];
    for h in held.iter().take(shown) {
        lines.push(Line::from(vec![
            Span::styled(format!("▲ {}", clean(&h.path)), theme.warn),
            Span::styled(format!("  {}", clean(&h.why)), theme.muted),
        ]));
    }
    if held.len() > shown {
        lines.push(Line::styled(
            format!("… and {} more (see the diff: d)", held.len() - shown),
            theme.muted,
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "y push them too and open the draft PR · n back",
        theme.accent,
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.crit)
                .title(Span::styled(" held back by the change policy ", theme.crit)),
        ),
        popup,
    );
}

/// A path or reason with its control and bidi characters shown escaped, as
/// the CLI shows them (they come from the agent).
fn clean(s: &str) -> String {
    crate::terminal::one_line(s).into_owned()
}
