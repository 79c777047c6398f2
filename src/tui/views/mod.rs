//! Rendering: state in, cells out. Views never do I/O and never mutate state.

pub mod agent;
pub mod ascii;
pub mod confirm;
pub mod fleet;
pub mod held;
pub mod help;
pub mod incident;
pub mod incidents;
pub mod work;

use super::app::{App, Screen};
use super::keys;
use super::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Below this size medic asks for a bigger terminal instead of drawing a broken layout.
pub const MIN_WIDTH: u16 = 60;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: u16 = 12;

/// Box-drawing in plain ASCII, for `--ascii`.
pub const ASCII_BORDER: ratatui::symbols::border::Set = ratatui::symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// The border glyphs: Unicode lines, or ASCII with `--ascii`.
pub fn border_set(ascii: bool) -> ratatui::symbols::border::Set<'static> {
    if ascii {
        ASCII_BORDER
    } else {
        ratatui::symbols::border::PLAIN
    }
}

/// How many flags are open (not resolved): the header and the flagged
/// panel say the same number.
pub fn open_flags(fleet: &crate::tui::app::FleetView) -> usize {
    fleet
        .flags
        .iter()
        .filter(|x| x.state != crate::model::AlertState::Resolved)
        .count()
}

/// Draw the whole screen for `app` (with `--ascii`, only ASCII reaches the cells).
pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    draw_screen(frame, app, theme);
    if app.ascii {
        ascii::enforce(frame.buffer_mut());
    }
}

fn draw_screen(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let x = if app.ascii { "x" } else { "×" };
        let msg = format!(
            "resize to at least {MIN_WIDTH}{x}{MIN_HEIGHT} (now {}{x}{})",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).style(theme.warn), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app, theme);
    match app.screen {
        Screen::Fleet => fleet::render(frame, body, app, theme),
        Screen::Incident => incident::render(frame, body, app, theme),
        Screen::Work => work::render(frame, body, app, theme),
        Screen::Help => help::render(frame, body, app, theme),
        Screen::Incidents => incidents::render(frame, body, app, theme),
    }
    render_footer(frame, footer, app, theme);
}

fn render_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(" medic ", theme.accent)];
    match &app.fleet {
        Some(f) => {
            let flagged = open_flags(f);
            spans.push(Span::styled(format!("│ {} │ ", f.source), theme.muted));
            spans.push(Span::raw(format!("{} services, ", f.rows.len())));
            let style = if flagged > 0 { theme.crit } else { theme.ok };
            spans.push(Span::styled(format!("{flagged} flagged"), style));
            spans.push(Span::styled(
                format!(
                    " │ {} UTC",
                    crate::units::rfc3339(f.at)
                        .replace('T', " ")
                        .trim_end_matches('Z')
                ),
                theme.muted,
            ));
            if f.stale {
                spans.push(Span::styled(" [STALE: last-known values]", theme.warn));
            }
        }
        None => spans.push(Span::styled("│ loading…", theme.muted)),
    }
    frame.render_widget(Line::from(spans), area);
}

/// The footer: the prompt, or the notice and the error; then the keys that
/// act now, the most useful first (`? help` and `q quit` always fit).
fn render_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let width = area.width as usize;
    let all = keys::hints(app, usize::MAX);
    let essential: usize = all.iter().filter(|h| h.rank == 0).map(|h| h.width()).sum();
    let mut spans = Vec::new();
    if let Some(input) = &app.input {
        let cursor = if app.ascii { "_" } else { "█" };
        spans.push(Span::styled(
            format!("{}{}{cursor} ", input.kind.prompt(), input.text),
            theme.accent,
        ));
    } else {
        let room = width.saturating_sub(essential);
        if let Some(note) = &app.notice {
            spans.push(Span::styled(
                format!(
                    " {} ",
                    fit(
                        &crate::terminal::one_line(note),
                        room.saturating_sub(2),
                        app.ascii
                    )
                ),
                theme.accent,
            ));
        }
        if let Some(err) = &app.error {
            let left = room.saturating_sub(spans.iter().map(Span::width).sum::<usize>());
            if left > 8 {
                spans.push(Span::styled(
                    format!(
                        " ! {} ",
                        fit(
                            &cause_first(&crate::terminal::one_line(err)),
                            left - 4,
                            app.ascii
                        )
                    ),
                    theme.warn,
                ));
            }
        }
    }
    let used: usize = spans.iter().map(Span::width).sum();
    for h in keys::hints(app, width.saturating_sub(used)) {
        spans.push(Span::styled(format!(" {}", h.keys), theme.accent));
        spans.push(Span::styled(format!(" {} ", h.label), theme.muted));
    }
    frame.render_widget(Line::from(spans), area);
}

/// An error chain (`context: context: cause`) with its cause first, so a
/// narrow status line still says why: `connection refused · querying …`.
pub fn cause_first(error: &str) -> String {
    match error.rsplit_once(": ") {
        Some((context, cause)) if !cause.trim().is_empty() && !context.trim().is_empty() => {
            format!("{} · {}", cause.trim(), context.trim())
        }
        _ => error.to_string(),
    }
}

/// `text` in at most `cells` columns: cut at a word with an ellipsis when
/// it is longer (never mid-word unless one word is longer than the room).
pub fn fit(text: &str, cells: usize, ascii: bool) -> String {
    let width = |s: &str| Span::raw(s).width();
    if width(text) <= cells {
        return text.to_string();
    }
    let dots = if ascii { "..." } else { "…" };
    let room = cells.saturating_sub(width(dots));
    let mut out = String::new();
    for word in text.split_inclusive(' ') {
        if width(&out) + width(word.trim_end()) > room {
            break;
        }
        out.push_str(word);
    }
    if out.trim().is_empty() {
        out = text.chars().take(room).collect();
        while width(&out) > room {
            out.pop();
        }
    }
    format!("{}{dots}", out.trim_end())
}

#[cfg(test)]
pub(crate) mod tests;
