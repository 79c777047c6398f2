//! The key table itself: every binding as a row, and the conditions on
//! state that enable them (each `Err` says why a key does nothing now).

use super::{bind, ch, code, ctrl, Binding, Key, HELP_ONLY};
use crate::tui::action::{Action, InputKind, Mode, Screen};
use crate::tui::app::App;
use ratatui::crossterm::event::KeyCode;

const NORMAL: &[Mode] = &[Mode::Normal];
const TYPING: &[Mode] = &[Mode::Typing];
const CONFIRMING: &[Mode] = &[Mode::Confirming];
const EDITING: &[Mode] = &[Mode::Editing];
const ALL_MODES: &[Mode] = &[Mode::Normal, Mode::Typing, Mode::Confirming, Mode::Editing];

/// Always enabled.
pub fn always(_: &App) -> Result<(), &'static str> {
    Ok(())
}

fn when_row(app: &App) -> Result<(), &'static str> {
    app.selected_row()
        .map(|_| ())
        .ok_or("no service selected (no data yet, or the filter hides all)")
}

fn when_flagged(app: &App) -> Result<(), &'static str> {
    app.focus
        .as_ref()
        .and_then(|s| app.fleet.as_ref()?.flag_of(s))
        .map(|_| ())
        .ok_or("no open flag here: nothing to plan")
}

fn when_search(app: &App) -> Result<(), &'static str> {
    if app.search.is_empty() {
        Err("no search: / first")
    } else {
        Ok(())
    }
}

fn when_secrets(app: &App) -> Result<(), &'static str> {
    if app.secrets_in_evidence() > 0 {
        Ok(())
    } else {
        Err("no secret in this evidence")
    }
}

fn when_unapproved_plan(app: &App) -> Result<(), &'static str> {
    match &app.work {
        None => Err("no incident here"),
        Some(w) if w.approved => Err("the plan is approved; cancel (c) first to change it"),
        Some(w) if w.plan.is_none() => Err("no plan yet: it is being written"),
        Some(_) => Ok(()),
    }
}

fn when_unapproved(app: &App) -> Result<(), &'static str> {
    match &app.work {
        None => Err("no incident here"),
        Some(w) if w.approved => Err("the plan is approved; cancel (c) first to change it"),
        Some(_) => Ok(()),
    }
}

fn when_plan(app: &App) -> Result<(), &'static str> {
    match &app.work {
        Some(w) if w.plan.is_some() => Ok(()),
        _ => Err("no plan yet: it is being written"),
    }
}

fn when_diff(app: &App) -> Result<(), &'static str> {
    match &app.work {
        Some(w) if w.diff.is_some() => Ok(()),
        _ => Err("no diff yet: the agent has not run"),
    }
}

fn when_diff_shown(app: &App) -> Result<(), &'static str> {
    if app.show_diff {
        Ok(())
    } else {
        Err("only the diff scrolls sideways: d shows it")
    }
}

fn when_publishable(app: &App) -> Result<(), &'static str> {
    match &app.work {
        None => Err("no incident here"),
        Some(w) if w.pr.is_some() => Err("the pull request is already open"),
        Some(w) if w.cancelled => Err("the run was cancelled: nothing is pushed"),
        Some(w) if !w.approved || w.diff.is_none() => {
            Err("nothing to push yet: approve, then let the agent finish")
        }
        Some(_) => Ok(()),
    }
}

fn when_cancellable(app: &App) -> Result<(), &'static str> {
    match &app.work {
        None => Err("no incident here"),
        Some(w) if w.pr.is_some() => {
            Err("the pull request is open: close it on the forge; medic does not undo it")
        }
        Some(w) if w.cancelled => Err("already cancelled"),
        Some(w) if !w.approved => {
            Err("nothing runs before approval: r for a new plan, or Esc to leave it")
        }
        Some(_) => Ok(()),
    }
}

fn when_pr(app: &App) -> Result<(), &'static str> {
    match &app.work {
        Some(w) if w.pr.is_some() => Ok(()),
        _ => Err("no pull request yet: nothing to copy"),
    }
}

fn when_approve_confirm(app: &App) -> Result<(), &'static str> {
    match &app.work {
        Some(w) if w.confirm => Ok(()),
        _ => Err("nothing to confirm"),
    }
}

fn when_held_confirm(app: &App) -> Result<(), &'static str> {
    match &app.work {
        Some(w) if w.held_confirm => Ok(()),
        _ => Err("nothing to confirm"),
    }
}

fn prompt_is(app: &App, kind: InputKind) -> Result<(), &'static str> {
    match &app.input {
        Some(i) if i.kind == kind => Ok(()),
        _ => Err("not this prompt"),
    }
}

fn when_filter_prompt(app: &App) -> Result<(), &'static str> {
    prompt_is(app, InputKind::Filter)
}

fn when_search_prompt(app: &App) -> Result<(), &'static str> {
    prompt_is(app, InputKind::Search)
}

fn when_command_prompt(app: &App) -> Result<(), &'static str> {
    prompt_is(app, InputKind::Command)
}

const FLEET: Option<Screen> = Some(Screen::Fleet);
const INCIDENT: Option<Screen> = Some(Screen::Incident);
const PLAN: Option<Screen> = Some(Screen::Work);
const LIST: Option<Screen> = Some(Screen::Incidents);
const HELP: Option<Screen> = Some(Screen::Help);
const ANY: Option<Screen> = None;

const DOWN: &[Key] = &[ch('j'), code(KeyCode::Down)];
const UP: &[Key] = &[ch('k'), code(KeyCode::Up)];
const TOP: &[Key] = &[ch('g'), code(KeyCode::Home)];
const BOTTOM: &[Key] = &[ch('G'), code(KeyCode::End)];
const ENTER: &[Key] = &[code(KeyCode::Enter)];
const ESC: &[Key] = &[code(KeyCode::Esc)];

/// Every key medic knows, in the order help lists them. The first enabled
/// row matching a key on a screen and mode is the one that acts.
pub const BINDINGS: &[Binding] = &[
    // The fleet.
    bind(DOWN, FLEET, NORMAL, Action::Down, "next service", 3, always),
    bind(UP, FLEET, NORMAL, Action::Up, "previous service", 4, always),
    bind(
        TOP,
        FLEET,
        NORMAL,
        Action::Top,
        "first service",
        HELP_ONLY,
        always,
    ),
    bind(
        BOTTOM,
        FLEET,
        NORMAL,
        Action::Bottom,
        "last service",
        HELP_ONLY,
        always,
    ),
    bind(
        ENTER,
        FLEET,
        NORMAL,
        Action::Open,
        "open incident",
        1,
        when_row,
    ),
    bind(
        &[ch('/')],
        FLEET,
        NORMAL,
        Action::StartInput(InputKind::Filter),
        "filter",
        2,
        always,
    ),
    // One service's incident.
    bind(
        &[ch('p')],
        INCIDENT,
        NORMAL,
        Action::Plan,
        "plan a fix",
        1,
        when_flagged,
    ),
    bind(
        DOWN,
        INCIDENT,
        NORMAL,
        Action::Down,
        "scroll down",
        4,
        always,
    ),
    bind(
        UP,
        INCIDENT,
        NORMAL,
        Action::Up,
        "scroll up",
        HELP_ONLY,
        always,
    ),
    bind(TOP, INCIDENT, NORMAL, Action::Top, "top", HELP_ONLY, always),
    bind(
        BOTTOM,
        INCIDENT,
        NORMAL,
        Action::Bottom,
        "bottom",
        HELP_ONLY,
        always,
    ),
    bind(
        &[ch('/')],
        INCIDENT,
        NORMAL,
        Action::StartInput(InputKind::Search),
        "search logs",
        3,
        always,
    ),
    bind(
        &[ch('n')],
        INCIDENT,
        NORMAL,
        Action::NextMatch,
        "next hit",
        5,
        when_search,
    ),
    bind(
        &[ch('N')],
        INCIDENT,
        NORMAL,
        Action::PrevMatch,
        "previous hit",
        HELP_ONLY,
        when_search,
    ),
    bind(
        &[ch('v')],
        INCIDENT,
        NORMAL,
        Action::RevealSecret,
        "reveal a secret",
        6,
        when_secrets,
    ),
    bind(ESC, INCIDENT, NORMAL, Action::Back, "back", 2, always),
    // The plan and its run.
    bind(
        &[ch('a')],
        PLAN,
        NORMAL,
        Action::Approve,
        "approve",
        1,
        when_unapproved_plan,
    ),
    bind(
        &[ch('p')],
        PLAN,
        NORMAL,
        Action::Publish,
        "push, open PR",
        1,
        when_publishable,
    ),
    bind(
        &[ch('d')],
        PLAN,
        NORMAL,
        Action::ToggleDiff,
        "diff",
        2,
        when_diff,
    ),
    bind(
        &[ch('c')],
        PLAN,
        NORMAL,
        Action::Cancel,
        "cancel",
        2,
        when_cancellable,
    ),
    bind(
        &[ch('m')],
        PLAN,
        NORMAL,
        Action::Merge,
        "merge PR",
        2,
        when_pr,
    ),
    bind(
        &[ch('y')],
        PLAN,
        NORMAL,
        Action::Copy,
        "copy PR link",
        2,
        when_pr,
    ),
    bind(
        &[ch('e')],
        PLAN,
        NORMAL,
        Action::Edit,
        "edit",
        3,
        when_unapproved_plan,
    ),
    bind(
        ENTER,
        PLAN,
        NORMAL,
        Action::ToggleCitations,
        "evidence",
        4,
        when_plan,
    ),
    bind(
        &[ch('r')],
        PLAN,
        NORMAL,
        Action::Regenerate,
        "new plan",
        5,
        when_unapproved,
    ),
    bind(
        &[ch('i')],
        PLAN,
        NORMAL,
        Action::EditInPlace,
        "edit here",
        HELP_ONLY,
        when_unapproved_plan,
    ),
    bind(DOWN, PLAN, NORMAL, Action::Down, "scroll down", 6, always),
    bind(UP, PLAN, NORMAL, Action::Up, "scroll up", HELP_ONLY, always),
    bind(TOP, PLAN, NORMAL, Action::Top, "top", HELP_ONLY, always),
    bind(
        BOTTOM,
        PLAN,
        NORMAL,
        Action::Bottom,
        "bottom",
        HELP_ONLY,
        always,
    ),
    bind(
        &[ch('l'), code(KeyCode::Right)],
        PLAN,
        NORMAL,
        Action::Right,
        "scroll right",
        5,
        when_diff_shown,
    ),
    bind(
        &[ch('h'), code(KeyCode::Left)],
        PLAN,
        NORMAL,
        Action::Left,
        "scroll left",
        HELP_ONLY,
        when_diff_shown,
    ),
    bind(
        &[code(KeyCode::Tab)],
        PLAN,
        NORMAL,
        Action::NextPane,
        "agent pane",
        7,
        always,
    ),
    bind(ESC, PLAN, NORMAL, Action::Back, "back", 3, always),
    // The approval confirm and the held paths' second confirm.
    bind(
        &[ch('y')],
        PLAN,
        CONFIRMING,
        Action::Confirm,
        "approve",
        0,
        when_approve_confirm,
    ),
    bind(
        &[ch('y')],
        PLAN,
        CONFIRMING,
        Action::Confirm,
        "push held paths too",
        0,
        when_held_confirm,
    ),
    bind(
        &[ch('n'), code(KeyCode::Esc)],
        PLAN,
        CONFIRMING,
        Action::Deny,
        "no, go back",
        0,
        always,
    ),
    // The `:incidents` list.
    bind(DOWN, LIST, NORMAL, Action::Down, "next", 3, always),
    bind(UP, LIST, NORMAL, Action::Up, "previous", 4, always),
    bind(TOP, LIST, NORMAL, Action::Top, "first", HELP_ONLY, always),
    bind(
        BOTTOM,
        LIST,
        NORMAL,
        Action::Bottom,
        "last",
        HELP_ONLY,
        always,
    ),
    bind(ENTER, LIST, NORMAL, Action::Open, "open", 1, always),
    bind(ESC, LIST, NORMAL, Action::Back, "back", 2, always),
    bind(ESC, HELP, NORMAL, Action::Back, "back", 1, always),
    // The prompt (every other key types).
    bind(
        ENTER,
        ANY,
        TYPING,
        Action::InputSubmit,
        "keep filter",
        0,
        when_filter_prompt,
    ),
    bind(
        ENTER,
        ANY,
        TYPING,
        Action::InputSubmit,
        "search",
        0,
        when_search_prompt,
    ),
    bind(
        ENTER,
        ANY,
        TYPING,
        Action::InputSubmit,
        "run",
        0,
        when_command_prompt,
    ),
    bind(ESC, ANY, TYPING, Action::InputCancel, "close", 0, always),
    bind(
        &[code(KeyCode::Backspace)],
        ANY,
        TYPING,
        Action::InputBackspace,
        "delete",
        HELP_ONLY,
        always,
    ),
    // The in-place editor (every other key edits).
    bind(
        &[ctrl('s')],
        PLAN,
        EDITING,
        Action::EditSave,
        "keep the edit",
        0,
        always,
    ),
    bind(
        ESC,
        PLAN,
        EDITING,
        Action::EditDiscard,
        "drop the edit",
        0,
        always,
    ),
    // Everywhere.
    bind(
        &[ch(':')],
        ANY,
        NORMAL,
        Action::StartInput(InputKind::Command),
        "command",
        8,
        always,
    ),
    bind(
        &[ch('?')],
        ANY,
        NORMAL,
        Action::ToggleHelp,
        "help",
        0,
        always,
    ),
    bind(&[ch('q')], ANY, NORMAL, Action::Quit, "quit", 0, always),
    bind(
        &[ctrl('l')],
        ANY,
        NORMAL,
        Action::Redraw,
        "redraw",
        HELP_ONLY,
        always,
    ),
    bind(
        &[ctrl('c')],
        ANY,
        ALL_MODES,
        Action::Quit,
        "quit",
        HELP_ONLY,
        always,
    ),
];
