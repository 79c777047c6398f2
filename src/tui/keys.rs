//! The one key table: it maps keys to actions and generates both the help
//! screen and the footer hints, so they cannot drift apart.

use super::app::{Action, Screen};
use super::input::InputKind;
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
    bind("/", "filter services", true, Some(Screen::Fleet)),
    bind("j/k", "scroll evidence", true, Some(Screen::Incident)),
    bind("/", "search the logs", true, Some(Screen::Incident)),
    bind("n/N", "next / previous hit", false, Some(Screen::Incident)),
    bind("p", "plan a fix", true, Some(Screen::Incident)),
    bind("Esc", "back to the fleet", true, Some(Screen::Incident)),
    bind("a", "approve the plan", true, Some(Screen::Work)),
    bind("Enter", "show cited evidence", true, Some(Screen::Work)),
    bind("y/n", "answer the confirm", false, Some(Screen::Work)),
    bind("e", "edit in $EDITOR", true, Some(Screen::Work)),
    bind("i", "edit in place", false, Some(Screen::Work)),
    bind("r", "reject, plan again", false, Some(Screen::Work)),
    bind("d", "diff", true, Some(Screen::Work)),
    bind("p", "push, open the PR", true, Some(Screen::Work)),
    bind("c", "cancel the run", false, Some(Screen::Work)),
    bind("m", "merge the PR", true, Some(Screen::Work)),
    bind("y", "copy the PR link", false, Some(Screen::Work)),
    bind("j/k", "scroll the plan", false, Some(Screen::Work)),
    bind("Esc", "back to the incident", true, Some(Screen::Work)),
    bind("j/k", "select", true, Some(Screen::Incidents)),
    bind("Enter", "open", true, Some(Screen::Incidents)),
    bind("Esc", "back to the fleet", true, Some(Screen::Incidents)),
    bind("Esc", "back", false, Some(Screen::Help)),
    bind(":", "command", false, None),
    bind("?", "help", true, None),
    bind("Ctrl-L", "redraw the screen", false, None),
    bind("q", "quit", true, None),
    bind("Ctrl-C", "quit", false, None),
];

/// What the keyboard is doing, beyond which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys are commands.
    Normal,
    /// A prompt is open: keys are text.
    Typing,
    /// The approval confirm is showing: `y` or `n`.
    Confirming,
    /// The plan's in-place editor has the keys.
    Editing,
}

/// The action a key press means on `screen` in `mode`, if any.
pub fn action_for(key: KeyEvent, screen: Screen, mode: Mode) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if mode == Mode::Typing {
        return Some(match key.code {
            KeyCode::Char('c') if ctrl => Action::Quit,
            KeyCode::Esc => Action::InputCancel,
            KeyCode::Enter => Action::InputSubmit,
            KeyCode::Backspace => Action::InputBackspace,
            KeyCode::Char(c) if !ctrl => Action::InputChar(c),
            _ => return None,
        });
    }
    if mode == Mode::Editing {
        return Some(match key.code {
            KeyCode::Char('s') if ctrl => Action::EditSave,
            KeyCode::Char('c') if ctrl => Action::Quit,
            KeyCode::Esc => Action::EditDiscard,
            _ => Action::EditKey(key),
        });
    }
    if mode == Mode::Confirming {
        return match key.code {
            KeyCode::Char('y') => Some(Action::Confirm),
            KeyCode::Char('n') | KeyCode::Esc => Some(Action::Deny),
            KeyCode::Char('c') if ctrl => Some(Action::Quit),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('l') if ctrl => Action::Redraw,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char(':') => Action::StartInput(InputKind::Command),
        KeyCode::Esc => Action::Back,
        _ if screen == Screen::Help => return None,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Enter if matches!(screen, Screen::Fleet | Screen::Incidents) => Action::Open,
        KeyCode::Enter if screen == Screen::Work => Action::ToggleCitations,
        KeyCode::Char('/') if matches!(screen, Screen::Fleet | Screen::Incident) => {
            Action::StartInput(InputKind::Filter)
        }
        KeyCode::Char('n') if screen == Screen::Incident => Action::NextMatch,
        KeyCode::Char('N') if screen == Screen::Incident => Action::PrevMatch,
        KeyCode::Char('p') if screen == Screen::Incident => Action::Plan,
        KeyCode::Char('a') if screen == Screen::Work => Action::Approve,
        KeyCode::Char('e') if screen == Screen::Work => Action::Edit,
        KeyCode::Char('i') if screen == Screen::Work => Action::EditInPlace,
        KeyCode::Char('r') if screen == Screen::Work => Action::Regenerate,
        KeyCode::Char('d') if screen == Screen::Work => Action::ToggleDiff,
        KeyCode::Char('p') if screen == Screen::Work => Action::Publish,
        KeyCode::Char('c') if screen == Screen::Work => Action::Cancel,
        KeyCode::Char('m') if screen == Screen::Work => Action::Merge,
        KeyCode::Char('y') if screen == Screen::Work => Action::Copy,
        _ => return None,
    })
}

/// The footer hints for `screen`: (keys, description, applies everywhere).
pub fn hints(screen: Screen) -> Vec<(&'static str, &'static str, bool)> {
    BINDINGS
        .iter()
        .filter(|b| b.hint && b.screen.is_none_or(|s| s == screen))
        .map(|b| (b.keys, b.description, b.screen.is_none()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_is_a_real_binding() {
        for screen in [
            Screen::Fleet,
            Screen::Incident,
            Screen::Work,
            Screen::Incidents,
        ] {
            for b in BINDINGS
                .iter()
                .filter(|b| b.screen.is_none_or(|s| s == screen))
            {
                let first = b.keys.split('/').next().unwrap();
                let code = match first {
                    "Enter" => KeyCode::Enter,
                    "Esc" => KeyCode::Esc,
                    s if s.chars().count() == 1 => KeyCode::Char(s.chars().next().unwrap()),
                    _ => continue,
                };
                assert!(
                    action_for(
                        KeyEvent::new(code, KeyModifiers::NONE),
                        screen,
                        Mode::Normal
                    )
                    .is_some(),
                    "{} is listed on {screen:?} but does nothing",
                    b.keys
                );
            }
        }
    }

    #[test]
    fn typing_takes_every_character_and_confirming_only_y_or_n() {
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(
            action_for(key('q'), Screen::Fleet, Mode::Typing),
            Some(Action::InputChar('q'))
        );
        assert_eq!(
            action_for(key('y'), Screen::Work, Mode::Confirming),
            Some(Action::Confirm)
        );
        assert_eq!(
            action_for(key('y'), Screen::Work, Mode::Normal),
            Some(Action::Copy)
        );
        assert_eq!(action_for(key('d'), Screen::Work, Mode::Confirming), None);
    }
}
