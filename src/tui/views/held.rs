//! The change policy's second confirm: every path of the agent's change
//! that is held back (CI files, hooks, git config, Dockerfile downloads,
//! symlinks, binaries, `[forge] protected`), each with why, before `y`
//! lets them be pushed. Rendering only.

use crate::forge::policy::Held;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

/// Draw the confirm listing `held` over the middle of `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, held: &[Held], theme: &Theme) {
    let shown = held.len().min(area.height.saturating_sub(8) as usize);
    let (mark, more) = if app.ascii {
        ("!", "...")
    } else {
        ("▲", "…")
    };
    let mut lines = vec![Line::raw(
        "The agent's change touches paths that run or hide code elsewhere:",
    )];
    for h in held.iter().take(shown) {
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {}", clean(&h.path)), theme.warn),
            Span::styled(format!("  {}", clean(&h.why)), theme.muted),
        ]));
    }
    if held.len() > shown {
        lines.push(Line::styled(
            format!("{more} and {} more (see the diff: d)", held.len() - shown),
            theme.muted,
        ));
    }
    lines.push(Line::raw("y pushes them too and opens the draft PR."));
    super::confirm::render(
        frame,
        area,
        app,
        (" held back by the change policy ", theme.crit),
        lines,
        theme,
    );
}

/// A path or reason with its control and bidi characters shown escaped, as
/// the CLI shows them (they come from the agent).
fn clean(s: &str) -> String {
    crate::terminal::one_line(s).into_owned()
}
