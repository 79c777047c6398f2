//! The one key table: every binding is a row of data (keys, screen, modes,
//! action, label, rank, `enabled` on state). The same rows dispatch key
//! presses, draw the footer hints and the help screen, so they cannot drift.
//!
//! To add a key: add one [`Binding`] row to [`BINDINGS`] in `keys/table.rs`
//! (with [`bind`] and a `when_*` condition there, or a new
//! `fn(&App) -> Result<(), &'static str>` whose `Err` says why the key does
//! nothing now), and handle its [`Action`] in the screen's update. A lower `rank` survives
//! a narrow footer; [`HELP_ONLY`] keeps it out of the footer.

use super::action::{Action, Mode, Screen};
use super::app::App;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key as the table knows it: a code, and whether Ctrl is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// True for Ctrl and the key.
    pub ctrl: bool,
}

/// A plain character key.
pub const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

/// Ctrl and a character.
pub const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

/// A named key (Enter, Esc, arrows).
pub const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    /// Whether a key press is this key (Shift is part of the character).
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let held = key.modifiers.contains(KeyModifiers::CONTROL);
        key.code == self.code && held == self.ctrl && !key.modifiers.contains(KeyModifiers::ALT)
    }

    /// The key's name as shown to the operator; `ascii` avoids arrows.
    pub fn name(&self, ascii: bool) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Left if ascii => "Left".into(),
            KeyCode::Right if ascii => "Right".into(),
            KeyCode::Up if ascii => "Up".into(),
            KeyCode::Down if ascii => "Down".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// Whether a binding acts now; `Err` says why not, in the operator's words.
pub type Enabled = fn(&App) -> Result<(), &'static str>;

/// One binding: which keys, where, what it does and when.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The keys (the first two are shown).
    pub keys: &'static [Key],
    /// Where it applies (`None` = every screen).
    pub screen: Option<Screen>,
    /// The keyboard modes it applies in.
    pub modes: &'static [Mode],
    /// What it does.
    pub action: Action,
    /// What it does, in a word or two (footer and help).
    pub label: &'static str,
    /// Footer priority: 0 always shows, higher drops first at narrow widths;
    /// [`HELP_ONLY`] is never a hint.
    pub rank: u8,
    /// Whether it acts in this state (a disabled key says why and does nothing).
    pub enabled: Enabled,
}

/// The rank of a binding listed in help but never in the footer.
pub const HELP_ONLY: u8 = u8::MAX;

/// A row of the table (a `const fn` so the table stays a constant).
#[allow(clippy::too_many_arguments)]
pub const fn bind(
    keys: &'static [Key],
    screen: Option<Screen>,
    modes: &'static [Mode],
    action: Action,
    label: &'static str,
    rank: u8,
    enabled: Enabled,
) -> Binding {
    Binding {
        keys,
        screen,
        modes,
        action,
        label,
        rank,
        enabled,
    }
}

mod table;
pub use table::{always, BINDINGS};

/// Whether `b` is a binding of `screen` in `mode`.
fn applies(b: &Binding, screen: Screen, mode: Mode) -> bool {
    b.screen.is_none_or(|s| s == screen) && b.modes.contains(&mode)
}

/// What a key press means now: the first enabled binding's action, a
/// [`Action::Refused`] saying why when the key's bindings are all disabled,
/// a typed character in the prompt or an edit key in the editor, or `None`
/// when the key means nothing here.
pub fn action_for(app: &App, key: KeyEvent) -> Option<Action> {
    let mode = app.mode();
    let mut refused = None;
    for b in BINDINGS
        .iter()
        .filter(|b| applies(b, app.screen, mode) && b.keys.iter().any(|k| k.matches(&key)))
    {
        match (b.enabled)(app) {
            Ok(()) => return Some(b.action.clone()),
            Err(why) => refused = refused.or(Some(why)),
        }
    }
    if let Some(why) = refused {
        return Some(Action::Refused(why));
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match (mode, key.code) {
        (Mode::Typing, KeyCode::Char(c)) if !ctrl => Some(Action::InputChar(c)),
        (Mode::Editing, _) => Some(Action::EditKey(key)),
        _ => None,
    }
}

/// One footer hint: the keys and what they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The keys, as shown (`j/↓`).
    pub keys: String,
    /// What they do.
    pub label: &'static str,
    /// The binding's rank (0: always shown).
    pub rank: u8,
}

impl Hint {
    /// Cells the hint takes in the footer (` keys label `).
    pub fn width(&self) -> usize {
        let cells = |s: &str| ratatui::text::Span::raw(s).width();
        cells(&self.keys) + cells(self.label) + 3
    }
}

/// The keys' names joined for display (at most two).
pub fn label_keys(keys: &[Key], ascii: bool) -> String {
    keys.iter()
        .take(2)
        .map(|k| k.name(ascii))
        .collect::<Vec<_>>()
        .join("/")
}

/// The footer hints that fit in `room` cells: the bindings that act now on
/// this screen and mode, the lowest ranks first, shown in table order.
pub fn hints(app: &App, room: usize) -> Vec<Hint> {
    let mode = app.mode();
    let mut live: Vec<(usize, &Binding)> = BINDINGS
        .iter()
        .enumerate()
        .filter(|(_, b)| b.rank != HELP_ONLY && applies(b, app.screen, mode))
        .filter(|(_, b)| (b.enabled)(app).is_ok())
        .collect();
    live.sort_by_key(|(i, b)| (b.rank, *i));
    let mut left = room;
    let mut kept: Vec<(usize, Hint)> = Vec::new();
    for (i, b) in live {
        let hint = Hint {
            keys: label_keys(&b.keys[..1], app.ascii),
            label: b.label,
            rank: b.rank,
        };
        // The same keys twice (two bindings of one key) show once.
        if kept.iter().any(|(_, h)| h.keys == hint.keys) {
            continue;
        }
        if hint.width() > left {
            continue;
        }
        left -= hint.width();
        kept.push((i, hint));
    }
    kept.sort_by_key(|(i, _)| *i);
    kept.into_iter().map(|(_, h)| h).collect()
}

#[cfg(test)]
mod tests;
