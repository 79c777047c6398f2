use super::*;
use crate::config::default_rules;
use crate::detect::Detector;
use crate::model::Millis;
use crate::sources::demo::{Demo, DEFAULT_SEED};

/// The demo fleet at a fixed instant, as the collector would send it.
pub(crate) fn demo_view(anchor: Millis) -> FleetView {
    let snap = Demo::new(DEFAULT_SEED, anchor).snapshot(anchor, 3_600_000, 15_000);
    let mut d = Detector::new(default_rules());
    d.ingest(&snap);
    let source = crate::sources::Source::Demo {
        demo: Demo::new(DEFAULT_SEED, anchor),
        clock: crate::sources::demo::DemoClock::new(anchor, 1.0),
    };
    let mut flags = d.flags(&snap);
    let evidence = futures_util::FutureExt::now_or_never(crate::triage::judge_all(
        &source, &snap, &d, &mut flags,
    ))
    .expect("the demo answers without waiting");
    FleetView::new(&snap, &d, flags, evidence, "demo".into())
}

#[test]
fn navigation_stays_in_bounds() {
    let mut app = App::default();
    assert!(!app.update(Action::Down), "nothing to move through yet");
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    assert!(app.update(Action::Down));
    assert_eq!(app.selected, 1);
    app.update(Action::Bottom);
    assert_eq!(app.selected, 7);
    assert!(!app.update(Action::Down));
    app.update(Action::Top);
    assert!(!app.update(Action::Up));
    assert_eq!(app.selected, 0);
}

#[test]
fn selection_follows_the_service_and_data_redraws_only_on_change() {
    let mut app = App::default();
    let view = demo_view(1_790_000_000_000);
    assert!(app.update(Action::Fleet(Box::new(view.clone()))));
    app.update(Action::Down);
    let chosen = app.selected_row().unwrap().service.clone();
    assert!(
        !app.update(Action::Fleet(Box::new(view.clone()))),
        "same data, no redraw"
    );
    let mut moved = view;
    moved.rows.reverse();
    assert!(app.update(Action::Fleet(Box::new(moved))));
    assert_eq!(app.selected_row().unwrap().service, chosen);
}

#[test]
fn source_errors_mark_data_stale() {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    assert!(app.update(Action::SourceError("connection refused".into())));
    assert!(app.fleet.as_ref().unwrap().stale);
    assert!(!app.update(Action::SourceError("connection refused".into())));
}

#[test]
fn help_toggles_and_escape_goes_back() {
    let mut app = App::default();
    app.update(Action::ToggleHelp);
    assert_eq!(app.screen, Screen::Help);
    assert!(app.update(Action::Back));
    assert_eq!(app.screen, Screen::Fleet);
    assert!(!app.update(Action::Back));
    app.update(Action::Quit);
    assert!(app.quit);
}

#[test]
fn approving_needs_a_plan_and_a_confirm_and_queues_one_command() {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    app.update(Action::Open);
    app.update(Action::Plan);
    assert_eq!(app.screen, Screen::Work);
    assert!(matches!(&app.outbox[..], [Command::Prepare(f)] if f.service.0 == "api"));
    app.outbox.clear();
    assert!(
        !app.update(Action::Approve),
        "no plan yet: nothing to approve"
    );
    let view = WorkView {
        incident: "i1".into(),
        service: ServiceId::from("api"),
        status: "waits".into(),
        plan: Some(crate::plan::markdown::parse("# A plan\n").unwrap()),
        todos: vec![],
        log: vec![],
        pr: None,
        confirm: false,
        approved: false,
        diff: None,
        held: vec![],
        held_confirm: false,
        cancelled: false,
        activity: vec![],
        cost: None,
    };
    app.update(Action::Work(Box::new(view)));
    app.update(Action::Approve);
    assert!(app.work.as_ref().unwrap().confirm);
    app.update(Action::Deny);
    assert!(app.outbox.is_empty(), "cancelled: nothing sent");
    app.update(Action::Approve);
    app.update(Action::Confirm);
    let digest =
        crate::workflow::incident::plan_digest(app.work.as_ref().unwrap().plan.as_ref().unwrap());
    assert_eq!(
        app.outbox,
        vec![Command::Approve {
            incident: "i1".into(),
            plan_digest: digest
        }]
    );
    assert!(!app.update(Action::Approve), "approved once is enough");
    app.update(Action::Back);
    assert_eq!(app.screen, Screen::Incident);
}

fn typed(app: &mut App, kind: InputKind, text: &str) {
    app.update(Action::StartInput(kind));
    for c in text.chars() {
        app.update(Action::InputChar(c));
    }
}

#[test]
fn the_filter_narrows_the_fleet_as_you_type_and_esc_clears_it() {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    typed(&mut app, InputKind::Filter, "fir");
    assert_eq!(app.filter, "fir");
    let names: Vec<_> = app
        .visible_rows()
        .iter()
        .map(|r| r.service.0.clone())
        .collect();
    assert_eq!(
        names,
        ["api", "checkout", "email", "web"],
        "state word matches"
    );
    app.update(Action::InputBackspace);
    app.update(Action::InputBackspace);
    app.update(Action::InputBackspace);
    typed(&mut app, InputKind::Filter, "WEB");
    app.update(Action::InputSubmit);
    assert!(app.input.is_none());
    assert_eq!(app.visible_rows().len(), 1);
    app.update(Action::Open);
    assert_eq!(
        app.focus,
        Some(ServiceId::from("web")),
        "Enter opens the filtered row"
    );
    app.update(Action::Back);
    app.update(Action::StartInput(InputKind::Filter));
    app.update(Action::InputCancel);
    assert_eq!(app.filter, "");
    assert_eq!(app.visible_rows().len(), 8);
    assert_eq!(
        app.selected_row().unwrap().service.0,
        "web",
        "selection kept"
    );
}

#[test]
fn search_hits_cycle_with_n_and_scrolling_releases_the_jump() {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    app.update(Action::Open);
    typed(&mut app, InputKind::Filter, "error");
    assert_eq!(app.search, "error", "/ on an incident searches");
    assert!(app.filter.is_empty());
    app.update(Action::InputSubmit);
    assert!(app.search_jump);
    app.update(Action::NextMatch);
    app.update(Action::NextMatch);
    assert_eq!(app.search_hit, 2);
    app.update(Action::PrevMatch);
    assert_eq!(app.search_hit, 1);
    app.update(Action::Down);
    assert!(!app.search_jump);
    app.update(Action::Back);
    assert!(app.search.is_empty(), "Esc clears the search first");
    assert_eq!(app.screen, Screen::Incident);
}

#[test]
fn the_palette_switches_themes_lists_incidents_and_quits() {
    let mut app = App::default();
    typed(&mut app, InputKind::Command, "theme mono");
    app.update(Action::InputSubmit);
    assert_eq!(app.theme.name, "mono");
    assert_eq!(app.ui_state().theme.as_deref(), Some("mono"));
    typed(&mut app, InputKind::Command, "incidnts");
    app.update(Action::InputSubmit);
    assert!(app.notice.as_deref().unwrap().contains("unknown command"));
    typed(&mut app, InputKind::Command, "incidents");
    app.update(Action::InputSubmit);
    assert_eq!(app.screen, Screen::Incidents);
    assert_eq!(app.outbox, vec![Command::ListIncidents]);
    app.outbox.clear();
    app.update(Action::Incidents(vec![IncidentRow {
        id: "i1".into(),
        service: "api".into(),
        rule: "memory-near-limit".into(),
        status: "pr opened".into(),
        pr: Some("local://pr/1".into()),
    }]));
    app.update(Action::Open);
    assert_eq!(app.screen, Screen::Work);
    assert_eq!(app.outbox, vec![Command::Show("i1".into())]);
    typed(&mut app, InputKind::Command, "q");
    app.update(Action::InputSubmit);
    assert!(app.quit);
}

fn work(approved: bool, pr: Option<&str>, diff: Option<&str>) -> WorkView {
    let mut w = crate::tui::views::tests::sample_work("# A plan\n", approved);
    w.incident = "i1".into();
    w.pr = pr.map(str::to_string);
    w.diff = diff.map(str::to_string);
    w
}

#[test]
fn edit_regenerate_cancel_diff_and_copy_respect_the_approval() {
    let mut app = App::default();
    app.update(Action::Work(Box::new(work(false, None, None))));
    app.update(Action::Edit);
    assert!(app.edit_requested);
    app.update(Action::Regenerate);
    assert_eq!(app.outbox, vec![Command::Regenerate("i1".into())]);
    assert!(app.work.as_ref().unwrap().plan.is_none());
    app.outbox.clear();
    app.update(Action::Cancel);
    assert!(app.outbox.is_empty(), "nothing runs before approval");
    app.update(Action::Publish);
    assert!(app.outbox.is_empty(), "nothing is pushed before approval");
    app.update(Action::ToggleDiff);
    assert!(!app.show_diff && app.notice.is_some());

    let mut app = App::default();
    app.update(Action::Work(Box::new(work(true, None, Some("+x")))));
    app.screen = Screen::Work;
    app.update(Action::Edit);
    assert!(!app.edit_requested, "approved plans are not edited");
    app.update(Action::Regenerate);
    assert!(app.outbox.is_empty());
    app.update(Action::ToggleDiff);
    assert!(app.show_diff);
    app.update(Action::Back);
    assert!(!app.show_diff, "Esc closes the diff first");
    app.update(Action::Cancel);
    assert_eq!(app.outbox, vec![Command::Cancel("i1".into())]);
    app.outbox.clear();
    app.update(Action::Publish);
    assert_eq!(
        app.outbox,
        vec![Command::Publish("i1".into())],
        "p after the diff: the go to push"
    );
    app.outbox.clear();
    app.update(Action::Copy);
    assert!(app.copy_requested.is_none(), "no PR, nothing copied");

    app.update(Action::Work(Box::new(work(
        true,
        Some("local://pr/1"),
        Some("+x"),
    ))));
    app.update(Action::Copy);
    assert_eq!(app.copy_requested.as_deref(), Some("local://pr/1"));
}

#[test]
fn the_ui_state_round_trips_and_lands_where_it_was_left() {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    app.update(Action::Restore(None));
    assert!(app.restored);
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Open);
    app.update(Action::Work(Box::new(work(false, None, None))));
    app.screen = Screen::Work;
    let saved = app.ui_state();
    assert_eq!(saved.screen, Screen::Work);
    assert_eq!(saved.focus.as_deref(), Some("batch"));
    assert_eq!(saved.incident.as_deref(), Some("i1"));
    let json = serde_json::to_string(&saved).unwrap();

    let mut again = App::default();
    again.update(Action::Restore(Some(Box::new(
        serde_json::from_str(&json).unwrap(),
    ))));
    assert_eq!(again.screen, Screen::Work);
    assert_eq!(again.outbox, vec![Command::Show("i1".into())]);
    again.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    assert_eq!(again.selected_row().unwrap().service.0, "batch");
    assert_eq!(again.ui_state().selected, saved.selected);
}

#[test]
fn in_place_edits_are_sent_to_the_journal_or_dropped() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c| Action::EditKey(KeyEvent::new(c, KeyModifiers::NONE));
    let mut app = App::default();
    app.update(Action::Work(Box::new(work(false, None, None))));
    app.update(Action::EditInPlace);
    assert!(app.editing.is_some());
    app.update(key(KeyCode::End));
    for c in " (edited)".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(Action::EditSave);
    assert!(app.editing.is_none());
    assert_eq!(
        app.work.as_ref().unwrap().plan.as_ref().unwrap().title,
        "A plan (edited)"
    );
    assert!(matches!(
        &app.outbox[..],
        [Command::EditPlan { incident, markdown }] if incident == "i1" && markdown.starts_with("# A plan (edited)")
    ));
    app.outbox.clear();
    app.update(Action::EditInPlace);
    app.update(key(KeyCode::Char('z')));
    app.update(Action::EditDiscard);
    assert!(app.editing.is_none() && app.outbox.is_empty());
    let mut approved = App::default();
    approved.update(Action::Work(Box::new(work(true, None, None))));
    approved.update(Action::EditInPlace);
    assert!(approved.editing.is_none(), "approved plans are not edited");
}

#[test]
fn held_paths_need_a_second_yes_on_their_own_screen() {
    use crate::forge::policy::Held;
    let mut app = App::default();
    let mut w = work(true, None, Some("+on: push"));
    w.held = vec![Held {
        path: ".github/workflows/x.yml".into(),
        why: "CI/automation file: it runs on the CI runners".into(),
    }];
    app.update(Action::Work(Box::new(w)));
    app.screen = Screen::Work;
    app.update(Action::Publish);
    assert!(app.outbox.is_empty(), "p alone pushes nothing held back");
    assert!(
        app.work.as_ref().unwrap().held_confirm,
        "the second screen shows"
    );
    app.update(Action::Deny);
    assert!(!app.work.as_ref().unwrap().held_confirm);
    assert!(app.outbox.is_empty(), "n goes back, nothing sent");
    app.update(Action::Publish);
    app.update(Action::Confirm);
    assert_eq!(app.outbox, vec![Command::PublishHeld("i1".into())]);
    // Without held paths, p is the plain go.
    let mut app = App::default();
    app.update(Action::Work(Box::new(work(true, None, Some("+x")))));
    app.update(Action::Publish);
    assert_eq!(app.outbox, vec![Command::Publish("i1".into())]);
}

#[test]
fn the_screen_says_approved_only_once_the_journal_has_it() {
    let mut app = App::default();
    app.update(Action::Work(Box::new(work(false, None, None))));
    app.update(Action::Approve);
    app.update(Action::Confirm);
    let w = app.work.as_ref().unwrap();
    assert!(
        !w.status.contains("approved"),
        "sent, not yet journaled: {}",
        w.status
    );
    let id = w.incident.clone();
    let ack = crate::workflow::engine::WorkflowEvent {
        incident: id,
        at: 0,
        kind: crate::workflow::engine::EventKind::Approved { by: "ops".into() },
    };
    app.update(Action::Workflow(Box::new(ack)));
    let w = app.work.as_ref().unwrap();
    assert!(w.status.contains("approved by ops"), "{}", w.status);
    // A note that the stream fell behind reaches the open view.
    let lag = crate::workflow::engine::WorkflowEvent {
        incident: String::new(),
        at: 0,
        kind: crate::workflow::engine::EventKind::Log {
            line: "3 event line(s) skipped".into(),
        },
    };
    assert!(app.update(Action::Workflow(Box::new(lag))));
    assert!(app
        .work
        .as_ref()
        .unwrap()
        .log
        .iter()
        .any(|l| l.contains("skipped")));
}

#[test]
fn a_rejected_edit_is_a_notice_and_never_marks_the_data_stale() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(demo_view(1_790_000_000_000))));
    app.update(Action::Work(Box::new(work(false, None, None))));
    // The workflow task refused an $EDITOR edit.
    app.update(Action::Notice(
        "your edit was not saved: plan line 9: `lots` is not a replica count".into(),
    ));
    assert!(!app.fleet.as_ref().unwrap().stale, "not STALE");
    assert!(app.error.is_none());
    // The in-place editor keeps the text and shows the whole reason.
    app.update(Action::EditInPlace);
    app.update(Action::EditKey(KeyEvent::new(
        KeyCode::End,
        KeyModifiers::NONE,
    )));
    for c in "\n## Stepz".chars() {
        let code = if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        app.update(Action::EditKey(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    app.update(Action::EditSave);
    assert!(app.editing.is_some(), "the editor stays open with the text");
    assert!(
        app.editor_error
            .as_deref()
            .unwrap()
            .contains("unknown section `Stepz`"),
        "{:?}",
        app.editor_error
    );
    assert!(!app.fleet.as_ref().unwrap().stale);
    app.screen = Screen::Work;
    let screen = crate::tui::views::tests::draw(&app, &Theme::mono(), 80, 24);
    assert!(
        screen.contains("Riskz") || screen.contains("Stepz"),
        "{screen}"
    );
    assert!(
        screen.contains("(sections:"),
        "the reason is not cut:\n{screen}"
    );
}

#[test]
fn merge_asks_the_workflow_only_with_a_pull_request() {
    let mut app = App::default();
    app.update(Action::Work(Box::new(work(true, None, Some("diff")))));
    app.update(Action::Merge);
    assert!(app.outbox.is_empty() && app.notice.is_some(), "no PR yet");
    app.update(Action::Work(Box::new(work(
        true,
        Some("local://forge/shop/pull/1"),
        None,
    ))));
    app.update(Action::Merge);
    assert_eq!(app.outbox, vec![Command::Merge("i1".into())]);
}
