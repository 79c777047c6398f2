//! The one key table: it maps keys to actions and generates both the help
//! screen and the footer hints, so they cannot drift apart.

use super::app::{Action, Screen};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One binding: which keys, what they do, where.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys as shown to the operator.
    pub keys: &'static str,
    /// What happens, in a word or two.
    pub description: &'static str,
    /// Shown in the footer (the rest only in help).
    pub hint: bool,
    /// Where it applies (`None` = everywhere).
    pub screen: Option<Screen>,
}

const fn bind(
    keys: &'static str,
    description: &'static str,
    hint: bool,
    screen: Option<Screen>,
) -> Binding {
    Binding {
        keys,
        description,
        hint,
        screen,
    }
}

/// Every key medic knows.
pub const BINDINGS: &[Binding] = &[
    bind("j/↓", "next service", true, Some(Screen::Fleet)),
    bind("k/↑", "previous service", true, Some(Screen::Fleet)),
    bind("g/G", "first / last", false, Some(Screen::Fleet)),
    bind("Enter", "open incident", true, Some(Screen::Fleet)),
    bind("j/k", "scroll evidence", true, Some(Screen::Incident)),
    bind("p", "plan a fix", true, Some(Screen::Incident)),
    bind("Esc", "back to the fleet", true, Some(Screen::Incident)),
    bind("a", "approve the plan", true, Some(Screen::Work)),
    bind("y/n", "confirm / cancel", true, Some(Screen::Work)),
    bind("j/k", "scroll the plan", false, Some(Screen::Work)),
    bind("Esc", "back to the incident", true, Some(Screen::Work)),
    bind("Esc", "back", false, Some(Screen::Help)),
    bind("?", "help", true, None),
    bind("Ctrl-L", "redraw the screen", false, None),
    bind("q/Ctrl-C", "quit", true, None),
];

/// The action a key press means on `screen`, if any.
pub fn action_for(key: KeyEvent, screen: Screen) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('l') if ctrl => Action::Redraw,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::Back,
        _ if screen == Screen::Help => return None,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Enter if screen == Screen::Fleet => Action::Open,
        KeyCode::Char('p') if screen == Screen::Incident => Action::Plan,
        KeyCode::Char('a') if screen == Screen::Work => Action::Approve,
        KeyCode::Char('y') if screen == Screen::Work => Action::Confirm,
        KeyCode::Char('n') if screen == Screen::Work => Action::Deny,
        _ => return None,
    })
}

/// The footer hints for `screen`: `j/↓ next service  ? help  q quit`.
pub fn hints(screen: Screen) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.hint && b.screen.is_none_or(|s| s == screen))
        .map(|b| (b.keys, b.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_is_a_real_binding() {
        for (keys, _) in hints(Screen::Fleet) {
            let first = keys.split('/').next().unwrap();
            let code = match first {
                "?" => KeyCode::Char('?'),
                s if s.chars().count() == 1 => KeyCode::Char(s.chars().next().unwrap()),
                _ => continue,
            };
            assert!(
                action_for(KeyEvent::new(code, KeyModifiers::NONE), Screen::Fleet).is_some(),
                "{keys} is hinted but does nothing"
            );
        }
    }
}
