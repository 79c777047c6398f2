//! The views rendered into a test backend: snapshots and what they must show.
use super::*;
use crate::tui::app::{Action, App};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Render `app` at `w`×`h` into text, one line per row.
pub fn draw(app: &App, theme: &Theme, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, app, theme)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An incident's plan-and-run view for `api`, nothing run yet.
pub fn sample_work(plan: &str, approved: bool) -> crate::tui::app::WorkView {
    crate::tui::app::WorkView {
        incident: "20261128-0415-api-1f39".into(),
        service: crate::model::ServiceId::from("api"),
        status: String::new(),
        plan: Some(crate::plan::markdown::parse(plan).unwrap()),
        todos: vec![],
        log: vec![],
        pr: None,
        confirm: false,
        approved,
        diff: None,
        held: vec![],
        held_confirm: false,
        cancelled: false,
        activity: vec![],
        cost: None,
    }
}

#[test]
fn the_work_screen_shows_what_the_llm_cost_beside_plan_and_agent() {
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut w = sample_work("# Raise api's memory limit\n\n- severity: high\n", false);
    w.cost = crate::tui::work::cost_line(crate::plan::llm::Spent {
        calls: 2,
        tokens: 4512,
        usd: 0.0123,
    });
    app.update(Action::Work(Box::new(w)));
    let screen = draw(&app, &Theme::mono(), 120, 40);
    assert!(
        screen.contains("LLM 2 call(s) · 4512 tokens · $0.0123"),
        "{screen}"
    );
    assert_eq!(crate::tui::work::cost_line(Default::default()), None);
}

pub fn demo_app() -> App {
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(crate::tui::app::tests::demo_view(
        1_790_000_000_000,
    ))));
    app
}

#[test]
fn too_small_asks_for_more() {
    let s = draw(&demo_app(), &Theme::mono(), 40, 10);
    assert!(s.contains("resize to at least 60×12"), "{s}");
}

#[test]
fn the_fleet_shows_an_open_pull_request_beside_its_service() {
    let mut app = demo_app();
    app.update(Action::OpenPullRequests(vec![("api".into(), 7)]));
    let screen = draw(&app, &Theme::default(), 120, 40);
    let line = screen
        .lines()
        .find(|l| l.contains(" api ") && l.contains("PR #7 open"));
    assert!(line.is_some(), "{screen}");
}

#[test]
fn fleet_snapshots() {
    let app = demo_app();
    insta::assert_snapshot!("fleet_80x24", draw(&app, &Theme::default_colors(), 80, 24));
    insta::assert_snapshot!(
        "fleet_120x40",
        draw(&app, &Theme::default_colors(), 120, 40)
    );
    let mut ascii = demo_app();
    ascii.ascii = true;
    insta::assert_snapshot!("fleet_ascii_80x24", draw(&ascii, &Theme::mono(), 80, 24));
}

#[test]
fn incident_snapshots() {
    let mut app = demo_app();
    // The fleet is sorted by name: api is the first row.
    app.update(Action::Open);
    assert_eq!(app.screen, Screen::Incident);
    insta::assert_snapshot!(
        "incident_api_80x24",
        draw(&app, &Theme::default_colors(), 80, 24)
    );
    insta::assert_snapshot!(
        "incident_api_120x40",
        draw(&app, &Theme::default_colors(), 120, 40)
    );
    app.update(Action::Back);
    for _ in 0..5 {
        app.update(Action::Down);
    }
    app.update(Action::Open);
    insta::assert_snapshot!(
        "incident_email_120x40_mono",
        draw(&app, &Theme::mono(), 120, 40)
    );
}

#[test]
fn held_confirm_snapshot() {
    use crate::forge::policy::Held;
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut w = sample_work("# Raise api's memory limit now\n", true);
    w.diff = Some("+x".into());
    w.held = vec![
        Held {
            path: ".github/workflows/x.yml".into(),
            why: "CI/automation file: it runs on the CI runners".into(),
        },
        Held {
            path: "key".into(),
            why: "symlink: it can point anywhere".into(),
        },
        Held {
            path: "tool\u{1b}]0;pwned\u{7}".into(),
            why: "binary file: its content cannot be reviewed in the diff".into(),
        },
    ];
    app.update(Action::Work(Box::new(w)));
    app.update(Action::Publish);
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = draw(&app, &Theme::mono(), w, h);
        assert!(screen.contains(".github/workflows/x.yml"), "{screen}");
        assert!(!screen.contains('\u{1b}'), "{screen}");
        insta::assert_snapshot!(format!("held_confirm_{w}x{h}"), screen);
    }
}

#[test]
fn the_approve_confirm_shows_its_keys_at_every_size() {
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    app.update(Action::Work(Box::new(sample_work(
        "# Raise api's memory limit now\n",
        false,
    ))));
    app.update(Action::Approve);
    for (w, h) in [(120, 40), (80, 24), (70, 16), (MIN_WIDTH, MIN_HEIGHT)] {
        let screen = draw(&app, &Theme::mono(), w, h);
        assert!(
            screen.contains("y approve") && screen.contains("n no, go back"),
            "{w}x{h}: the keys are hidden:\n{screen}"
        );
        assert!(screen.contains("approve this plan?"), "{screen}");
        if (w, h) == (80, 24) {
            insta::assert_snapshot!("approve_confirm_80x24", screen);
        }
    }
    // The held paths' confirm too.
    app.update(Action::Deny);
    let mut w = sample_work("# Raise api's memory limit now\n", true);
    w.diff = Some("+x".into());
    w.held = (0..30)
        .map(|i| crate::forge::policy::Held {
            path: format!(".github/workflows/{i}.yml"),
            why: "CI/automation file: it runs on the CI runners".into(),
        })
        .collect();
    app.update(Action::Work(Box::new(w)));
    app.update(Action::Publish);
    for (w, h) in [(80, 24), (MIN_WIDTH, MIN_HEIGHT)] {
        let screen = draw(&app, &Theme::mono(), w, h);
        assert!(
            screen.contains("y push held paths too"),
            "{w}x{h}:\n{screen}"
        );
    }
}

#[test]
fn the_header_and_the_flagged_panel_count_the_same_flags() {
    let mut view = crate::tui::app::tests::demo_view(1_790_000_000_000);
    view.flags[0].state = crate::model::AlertState::Resolved;
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(view)));
    let screen = draw(&app, &Theme::mono(), 80, 24);
    assert!(screen.contains("3 flagged"), "{screen}");
    assert!(screen.contains("flagged (3) · 1 resolved"), "{screen}");
}

#[test]
fn a_tall_fleet_shows_the_selected_service_in_detail() {
    let mut app = demo_app();
    let small = draw(&app, &Theme::mono(), 80, 24);
    assert!(
        !small.contains("Enter opens the incident"),
        "no room at 80x24"
    );
    let tall = draw(&app, &Theme::mono(), 120, 40);
    assert!(tall.contains("memory-near-limit · onset"), "{tall}");
    assert!(tall.contains("threshold") || tall.contains("⠒"), "{tall}");
    app.update(Action::Down);
    let next = draw(&app, &Theme::mono(), 120, 40);
    assert!(next.contains("auth is not flagged now"), "{next}");
}

#[test]
fn work_snapshot() {
    use crate::model::{Todo, TodoStatus};
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let plan = "# Raise api's memory limit now\n\n- severity: high\n- fix: config\n- confidence: 70%\n\n## Root cause\n\nA cache without eviction.\n\nEvidence: `metric:memory@onset`, `log:1`\n";
    let todo = |c: &str, s| Todo {
        id: c.into(),
        content: c.into(),
        status: s,
    };
    app.update(Action::Work(Box::new(crate::tui::app::WorkView {
        incident: "20261128-0415-api-1f39".into(),
        service: crate::model::ServiceId::from("api"),
        status: "running: push".into(),
        plan: Some(crate::plan::markdown::parse(plan).unwrap()),
        todos: vec![
            todo("Raise the memory limit to 48 GB", TodoStatus::Completed),
            todo("Find the unbounded growth", TodoStatus::Pending),
        ],
        log: vec!["deploy/api.yaml:35: memory 32G → 48G".into()],
        pr: None,
        confirm: false,
        approved: true,
        diff: None,
        held: vec![],
        held_confirm: false,
        cancelled: false,
        activity: vec![],
        cost: None,
    })));
    insta::assert_snapshot!("work_80x24", draw(&app, &Theme::mono(), 80, 24));
    app.update(Action::ToggleCitations);
    let cited = draw(&app, &Theme::mono(), 120, 40);
    assert!(
        cited.contains("metric:memory@onset") && cited.contains("log:1"),
        "{cited}"
    );
    insta::assert_snapshot!("work_citations_120x40", cited);
    app.update(Action::ToggleCitations);
    insta::assert_snapshot!("work_120x40", draw(&app, &Theme::default_colors(), 120, 40));
}

#[test]
fn help_snapshot() {
    let mut app = demo_app();
    app.update(Action::ToggleHelp);
    insta::assert_snapshot!("help_80x24", draw(&app, &Theme::mono(), 80, 24));
}

#[test]
fn filter_search_palette_and_incidents_snapshots() {
    use crate::tui::input::InputKind;
    let mut app = demo_app();
    app.update(Action::StartInput(InputKind::Filter));
    for c in "external".chars() {
        app.update(Action::InputChar(c));
    }
    insta::assert_snapshot!("fleet_filter_80x24", draw(&app, &Theme::mono(), 80, 24));
    app.update(Action::InputSubmit);
    app.update(Action::Open);
    app.update(Action::StartInput(InputKind::Search));
    for c in "queued".chars() {
        app.update(Action::InputChar(c));
    }
    app.update(Action::InputSubmit);
    app.update(Action::NextMatch);
    let s = draw(&app, &Theme::mono(), 120, 40);
    assert!(s.contains("hit 2 of"), "{s}");
    insta::assert_snapshot!("incident_search_120x40", s);
    app.update(Action::StartInput(InputKind::Command));
    for c in "theme high-contrast".chars() {
        app.update(Action::InputChar(c));
    }
    let s = draw(&app, &Theme::mono(), 80, 24);
    assert!(
        s.lines()
            .last()
            .unwrap()
            .starts_with(":theme high-contrast"),
        "{s}"
    );
    app.update(Action::InputSubmit);
    assert_eq!(app.theme.name, "high-contrast");
    app.update(Action::StartInput(InputKind::Command));
    for c in "incidents".chars() {
        app.update(Action::InputChar(c));
    }
    app.update(Action::InputSubmit);
    app.update(Action::Incidents(vec![crate::tui::app::IncidentRow {
        id: "20261128-0415-api-1f39".into(),
        service: "api".into(),
        rule: "memory-near-limit".into(),
        status: "pr opened".into(),
        pr: Some("file:///data/forge/sample/pulls/1.json".into()),
    }]));
    insta::assert_snapshot!("incidents_80x24", draw(&app, &Theme::mono(), 80, 24));
    insta::assert_snapshot!(
        "incidents_120x40",
        draw(&app, &Theme::default_colors(), 120, 40)
    );
}

#[test]
fn diff_snapshot() {
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut view = sample_work("# Raise api's memory limit\n", true);
    view.status = "pull request #1 opened (draft)".into();
    view.pr = Some("file:///data/forge/sample/pulls/1.json".into());
    view.diff = Some("--- a/deploy/api.yaml\n+++ b/deploy/api.yaml\n@@ -33,3 +33,3 @@\n           limits:\n-            memory: 32Gi\n+            memory: 48Gi\n".into());
    app.update(Action::Work(Box::new(view)));
    app.update(Action::ToggleDiff);
    insta::assert_snapshot!("work_diff_80x24", draw(&app, &Theme::mono(), 80, 24));
    insta::assert_snapshot!(
        "work_diff_120x40",
        draw(&app, &Theme::default_colors(), 120, 40)
    );
}

#[test]
fn the_diff_is_not_wrapped_scrolls_sideways_and_colours_plus_and_minus() {
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut view = sample_work("# Raise api's memory limit\n", true);
    let long = format!("+            memory: 48Gi # {}END", "x".repeat(80));
    view.diff = Some(format!(
        "@@ -1 +1 @@\n-            memory: 32Gi\n{long}\n context\n"
    ));
    app.update(Action::Work(Box::new(view)));
    app.update(Action::ToggleDiff);
    let theme = Theme::default_colors();
    let screen = draw(&app, &theme, 80, 24);
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows.iter().position(|r| r.contains("48Gi")).unwrap();
    assert!(
        rows[at + 1].contains("context"),
        "the long line does not wrap into the next row:\n{screen}"
    );
    assert!(!screen.contains("END"), "{screen}");
    for _ in 0..10 {
        app.update(Action::Right);
    }
    let scrolled = draw(&app, &theme, 80, 24);
    assert!(
        scrolled.contains("END"),
        "l scrolls to the tail:\n{scrolled}"
    );
    // Colour: the + line in the theme's ok, the - line in crit.
    let mut t = ratatui::Terminal::new(TestBackend::new(80, 24)).unwrap();
    app.hscroll = 0;
    t.draw(|f| render(f, &app, &theme)).unwrap();
    let buf = t.backend().buffer().clone();
    let fg_of = |needle: &str| {
        let y = (0..24)
            .find(|&y| {
                (0..80)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .contains(needle)
            })
            .unwrap();
        let x = (0..80)
            .find(|&x| buf[(x, y)].symbol() == needle.get(..1).unwrap())
            .unwrap();
        buf[(x, y)].fg
    };
    assert_eq!(Some(fg_of("+   ")), theme.ok.fg);
    assert_eq!(Some(fg_of("-   ")), theme.crit.fg);
}

#[test]
fn secrets_in_the_evidence_are_masked_and_v_reveals_one_at_a_time() {
    // Evidence from a source that did not redact (triage redacts the demo's own).
    let mut view = crate::tui::app::tests::demo_view(1_790_000_000_000);
    let api = view
        .evidence
        .iter_mut()
        .find(|e| e.service.0 == "api")
        .unwrap();
    api.items.push(crate::model::EvidenceItem {
        id: "log:9".into(),
        kind: crate::model::EvidenceKind::Log,
        title: "INFO api (×1)".into(),
        detail: "connecting to redis://default:hunter2-Xq9vLr77@cache.internal:6379/0".into(),
        at: None,
    });
    let mut app = App::default();
    app.update(Action::Fleet(Box::new(view)));
    app.update(Action::Open);
    assert_eq!(app.focus.as_ref().unwrap().0, "api");
    let count = app.secrets_in_evidence();
    assert!(count >= 1, "the demo logs a redis password");
    // Scrolled down to the log lines.
    app.scroll = 10;
    let masked = draw(&app, &Theme::mono(), 120, 40);
    assert!(!masked.contains("hunter2"), "in clear on screen:\n{masked}");
    assert!(masked.contains("[REDACTED:"), "{masked}");
    assert!(masked.contains("masked (v reveals one)"), "{masked}");
    let mut shown = false;
    for _ in 0..count {
        app.update(Action::RevealSecret);
        let s = draw(&app, &Theme::mono(), 120, 40);
        shown |= s.contains("hunter2-Xq9vLr77");
        assert!(s.contains(" shown (v next, Esc hide)"), "{s}");
    }
    assert!(shown, "v shows the password to the operator");
    app.update(Action::RevealSecret);
    assert_eq!(app.reveal, None, "past the last, all masked again");
    app.update(Action::RevealSecret);
    app.update(Action::Back);
    assert_eq!(app.screen, Screen::Incident, "Esc hides first");
    assert!(!draw(&app, &Theme::mono(), 120, 40).contains("hunter2"));
}

#[test]
fn an_error_line_at_80_columns_starts_with_its_cause() {
    let mut app = demo_app();
    app.update(Action::SourceError(
        "querying prometheus http://127.0.0.1:9090: error sending request for url (http://127.0.0.1:9090/api/v1/query_range): client error (Connect): tcp connect error: Connection refused (os error 111)".into(),
    ));
    let footer = draw(&app, &Theme::mono(), 80, 24)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        footer.starts_with(" ! Connection refused (os error 111) · querying"),
        "{footer}"
    );
    assert!(
        footer.contains("? help") && footer.contains("q quit"),
        "{footer}"
    );
    // The plan screen's status line ends at a word.
    let mut w = sample_work("# Raise api's memory limit now\n", true);
    w.status = "needs attention: agent: the agent exited with status 1 after writing deploy/api.yaml and the run cannot go on".into();
    app.update(Action::Work(Box::new(w)));
    app.screen = Screen::Work;
    let top = draw(&app, &Theme::mono(), 80, 24)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(top.ends_with('…'), "{top}");
    let last = top.trim_end_matches('…').split(' ').next_back().unwrap();
    assert!(w_is_word(last), "cut mid-word: {top}");
}

fn w_is_word(s: &str) -> bool {
    "needs attention: agent: the agent exited with status 1 after writing deploy/api.yaml and the run cannot go on"
        .split(' ')
        .any(|w| w == s)
}

#[test]
fn in_place_editor_snapshot() {
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut view = sample_work("# Raise api's memory limit\n\n- severity: high\n", false);
    view.status = "the plan waits for your approval (a)".into();
    app.update(Action::Work(Box::new(view)));
    app.update(Action::EditInPlace);
    insta::assert_snapshot!("work_editing_80x24", draw(&app, &Theme::mono(), 80, 24));
}

#[test]
fn the_agent_pane_is_a_list_that_follows_the_newest_and_scrolls_when_focused() {
    use crate::tui::activity::{Activity, ActivityKind};
    let mut app = demo_app();
    app.update(Action::Open);
    app.update(Action::Plan);
    let mut w = sample_work("# Raise api's memory limit now\n", true);
    w.activity = (0..40)
        .map(|i| Activity {
            at: 1_790_000_000_000 + i * 1000,
            kind: match i % 4 {
                0 => ActivityKind::Command,
                1 => ActivityKind::File,
                2 => ActivityKind::Message,
                _ => ActivityKind::Step,
            },
            text: format!("entry{i}"),
        })
        .collect();
    app.update(Action::Work(Box::new(w)));
    let screen = draw(&app, &Theme::mono(), 80, 24);
    assert!(screen.contains("entry39"), "the newest shows:\n{screen}");
    assert!(!screen.contains("entry0 "), "{screen}");
    assert!(
        screen.contains("ran  entry0") || screen.contains("ran  entry36"),
        "{screen}"
    );
    assert!(
        screen.contains("files changed (10)") || screen.contains("file entry"),
        "{screen}"
    );
    // Tab focuses the pane; k and g scroll it, the plan stays put.
    app.update(Action::NextPane);
    app.update(Action::Top);
    let top = draw(&app, &Theme::mono(), 80, 24);
    assert!(
        top.contains("to-do") || top.contains("files changed"),
        "{top}"
    );
    assert!(!top.contains("entry39"), "{top}");
    assert_eq!(app.scroll, 0, "the plan did not scroll");
    app.update(Action::Bottom);
    assert!(draw(&app, &Theme::mono(), 80, 24).contains("entry39"));
    app.update(Action::Back);
    assert!(!app.agent_focus, "Esc gives the keys back to the plan");
    assert_eq!(app.screen, Screen::Work);
}
