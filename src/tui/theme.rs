//! Colours by meaning (ok, warn, crit, muted, accent, selection, border).
//!
//! The default uses the 16 ANSI colours so it follows the user's palette;
//! `mono` (chosen by `NO_COLOR`) uses modifiers only. Status is never shown
//! by colour alone: glyphs and words carry it too.

use crate::model::AlertState;
use ratatui::style::{Color, Modifier, Style};

/// Styles by meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Healthy.
    pub ok: Style,
    /// Pending, attention.
    pub warn: Style,
    /// Firing, broken.
    pub crit: Style,
    /// Secondary text.
    pub muted: Style,
    /// Titles, highlights.
    pub accent: Style,
    /// The selected row.
    pub selection: Style,
    /// Borders of panes.
    pub border: Style,
}

impl Theme {
    /// ANSI 16 colours.
    pub fn default_colors() -> Theme {
        Theme {
            ok: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            crit: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            muted: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            selection: Style::new().add_modifier(Modifier::REVERSED),
            border: Style::new().fg(Color::DarkGray),
        }
    }

    /// Modifiers only, for `NO_COLOR` and monochrome terminals.
    pub fn mono() -> Theme {
        Theme {
            ok: Style::new(),
            warn: Style::new().add_modifier(Modifier::UNDERLINED),
            crit: Style::new().add_modifier(Modifier::BOLD),
            muted: Style::new().add_modifier(Modifier::DIM),
            accent: Style::new().add_modifier(Modifier::BOLD),
            selection: Style::new().add_modifier(Modifier::REVERSED),
            border: Style::new(),
        }
    }

    /// `mono` when `NO_COLOR` is set (to anything non-empty), else the default.
    pub fn from_env() -> Theme {
        match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Theme::mono(),
            _ => Theme::default_colors(),
        }
    }

    /// The style for an alert state.
    pub fn state(&self, s: AlertState) -> Style {
        match s {
            AlertState::Firing => self.crit,
            AlertState::Pending => self.warn,
            AlertState::Inactive | AlertState::Resolved => self.ok,
        }
    }
}
