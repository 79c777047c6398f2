use super::*;
use crate::tui::app::tests::demo_view;
use crate::tui::app::App;
use crate::tui::views::tests::{draw, sample_work};

const PLAN: &str = "# Raise the api memory limit\n\n## Root cause\n\nThe heap outgrew the limit.\n\nConfidence: 0.8\n";

fn press(app: &mut App, key: KeyEvent) -> Option<Action> {
    let action = action_for(app, key)?;
    app.update(action.clone());
    Some(action)
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn on_plan(approved: bool) -> App {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    app.screen = Screen::Work;
    app.work = Some(sample_work(PLAN, approved));
    app
}

#[test]
fn every_row_of_the_table_dispatches_its_own_action_when_enabled() {
    // The table is the dispatcher: each enabled row's first key gives its action.
    let app = on_plan(false);
    for b in BINDINGS.iter().filter(|b| b.modes.contains(&Mode::Normal)) {
        if (b.enabled)(&app).is_err() {
            continue;
        }
        let mut app = app.clone();
        app.screen = b.screen.unwrap_or(Screen::Fleet);
        let k = b.keys[0];
        let ev = KeyEvent::new(
            k.code,
            if k.ctrl {
                KeyModifiers::CONTROL
            } else {
                KeyModifiers::NONE
            },
        );
        let first = BINDINGS
            .iter()
            .find(|o| {
                applies(o, app.screen, Mode::Normal)
                    && o.keys.iter().any(|x| x.matches(&ev))
                    && (o.enabled)(&app).is_ok()
            })
            .expect("the row itself matches");
        assert_eq!(
            action_for(&app, ev),
            Some(first.action.clone()),
            "{}",
            b.label
        );
    }
}

#[test]
fn a_disabled_key_does_nothing_and_says_why() {
    // Before approval: no diff, nothing to push, nothing to cancel.
    let mut app = on_plan(false);
    let before = app.clone();
    assert_eq!(
        press(&mut app, key('d')),
        Some(Action::Refused("no diff yet: the agent has not run"))
    );
    assert!(!app.show_diff);
    assert_eq!(
        app.notice.as_deref(),
        Some("no diff yet: the agent has not run")
    );
    press(&mut app, key('c'));
    assert!(app.notice.as_deref().unwrap().contains("before approval"));
    assert!(app.outbox.is_empty(), "nothing was sent");
    press(&mut app, key('p'));
    assert!(app.notice.as_deref().unwrap().contains("nothing to push"));
    assert_eq!(app.work, before.work, "the incident is as it was");

    // After approval: `a` and `e` say so instead of acting.
    let mut app = on_plan(true);
    assert!(matches!(
        press(&mut app, key('a')),
        Some(Action::Refused(_))
    ));
    assert!(!app.work.as_ref().unwrap().confirm, "no confirm opened");
    press(&mut app, key('e'));
    assert!(!app.edit_requested);
    assert!(app.notice.as_deref().unwrap().contains("approved"));

    // After the pull request: `c` says medic does not undo it, and sends nothing.
    app.work.as_mut().unwrap().pr = Some("local://forge/shop/pull/1".into());
    press(&mut app, key('c'));
    assert!(app
        .notice
        .as_deref()
        .unwrap()
        .contains("close it on the forge"));
    assert!(app.outbox.is_empty());
}

#[test]
fn g_and_shift_g_on_the_plan_scroll_it_and_leave_the_fleet_selection_alone() {
    let mut app = on_plan(false);
    app.selected = 3;
    press(
        &mut app,
        KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT),
    );
    assert_eq!(app.selected, 3, "the fleet selection did not move");
    assert!(app.scroll > 0, "G went to the end of the plan");
    press(&mut app, key('g'));
    assert_eq!((app.selected, app.scroll), (3, 0));
}

#[test]
fn the_prompt_types_every_character_and_the_confirm_takes_only_y_or_n() {
    let mut app = App::default();
    press(&mut app, key('/'));
    assert_eq!(action_for(&app, key('q')), Some(Action::InputChar('q')));
    let mut app = on_plan(false);
    assert_eq!(
        action_for(&app, key('y')),
        Some(Action::Refused("no pull request yet: nothing to copy"))
    );
    press(&mut app, key('a'));
    assert_eq!(app.mode(), Mode::Confirming);
    assert_eq!(action_for(&app, key('y')), Some(Action::Confirm));
    assert_eq!(action_for(&app, key('d')), None);
    assert_eq!(
        action_for(
            &app,
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
        ),
        Some(Action::Quit)
    );
}

/// The footer row of `app` at 80 columns.
fn footer(app: &App) -> String {
    draw(app, &crate::tui::theme::Theme::mono(), 80, 24)
        .lines()
        .last()
        .unwrap()
        .to_string()
}

#[test]
fn the_footer_at_80_columns_follows_the_state() {
    let mut app = on_plan(false);
    let before = footer(&app);
    for want in ["a approve", "e edit", "Esc back", "? help", "q quit"] {
        assert!(before.contains(want), "{want} missing: {before}");
    }
    for not in ["d diff", "p push", "c cancel"] {
        assert!(!before.contains(not), "{not} before approval: {before}");
    }

    app.work.as_mut().unwrap().approved = true;
    let running = footer(&app);
    assert!(!running.contains("a approve"), "{running}");
    assert!(running.contains("c cancel"), "{running}");
    assert!(!running.contains("d diff"), "{running}");

    let w = app.work.as_mut().unwrap();
    w.diff = Some("+x".into());
    let ready = footer(&app);
    for want in ["p push, open PR", "d diff", "c cancel", "? help", "q quit"] {
        assert!(ready.contains(want), "{want} missing: {ready}");
    }

    app.work.as_mut().unwrap().pr = Some("http://127.0.0.1/pr/1".into());
    let opened = footer(&app);
    assert!(opened.contains("y copy PR link"), "{opened}");
    assert!(
        !opened.contains("p push") && !opened.contains("c cancel"),
        "{opened}"
    );

    app.work.as_mut().unwrap().pr = None;
    app.work.as_mut().unwrap().confirm = true;
    let confirm = footer(&app);
    assert!(
        confirm.contains("y approve") && confirm.contains("n no, go back"),
        "{confirm}"
    );

    let mut fleet = on_plan(false);
    fleet.screen = Screen::Fleet;
    fleet.notice = Some("a very long notice ".repeat(10));
    let crowded = footer(&fleet);
    assert!(
        crowded.contains("? help") && crowded.contains("q quit"),
        "{crowded}"
    );
    assert!(
        crowded.contains('…'),
        "the notice is cut with an ellipsis: {crowded}"
    );
    insta::assert_snapshot!(
        "footers_80",
        [before, running, ready, opened, confirm, crowded].join("\n")
    );
}

#[test]
fn help_lists_the_screen_it_came_from_from_the_same_table() {
    let mut app = on_plan(false);
    press(&mut app, key('?'));
    let screen = draw(&app, &crate::tui::theme::Theme::mono(), 80, 24);
    for b in BINDINGS.iter().filter(|b| b.screen == Some(Screen::Work)) {
        assert!(
            screen.contains(b.label),
            "{} missing from help:\n{screen}",
            b.label
        );
    }
}
