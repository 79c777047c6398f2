//! Rendering: state in, cells out. Views never do I/O and never mutate state.

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

/// Draw the whole screen for `app`.
pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "resize to at least {MIN_WIDTH}×{MIN_HEIGHT} (now {}×{})",
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
        Screen::Help => help::render(frame, body, theme),
        Screen::Incidents => incidents::render(frame, body, app, theme),
    }
    render_footer(frame, footer, app, theme);
}

fn render_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(" medic ", theme.accent)];
    match &app.fleet {
        Some(f) => {
            let flagged = f
                .flags
                .iter()
                .filter(|x| x.state != crate::model::AlertState::Resolved)
                .count();
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

fn render_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Some(input) = &app.input {
        let hint = match input.kind {
            crate::tui::input::InputKind::Command => {
                "  Enter run · Esc close · incidents, theme NAME, ascii, q"
            }
            crate::tui::input::InputKind::Filter => "  Enter keep · Esc clear",
            crate::tui::input::InputKind::Search => "  Enter search · Esc clear · then n/N",
        };
        let line = Line::from(vec![
            Span::styled(
                format!("{}{}", input.kind.prompt(), input.text),
                theme.accent,
            ),
            Span::styled("█", theme.accent),
            Span::styled(hint, theme.muted),
        ]);
        frame.render_widget(line, area);
        return;
    }
    let mut spans = Vec::new();
    if let Some(note) = &app.notice {
        spans.push(Span::styled(format!(" {note} "), theme.accent));
    }
    if let Some(err) = &app.error {
        spans.push(Span::styled(format!(" ! {err} "), theme.warn));
    }
    // The screen's own hints first, as many as fit; `? help` and `q quit` always show.
    let hints = keys::hints(app.screen);
    let (global, local): (Vec<_>, Vec<_>) = hints.iter().partition(|h| h.2);
    let width = |h: &&(&str, &str, bool)| h.0.chars().count() + h.1.chars().count() + 3;
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let mut room =
        (area.width as usize).saturating_sub(used + global.iter().map(width).sum::<usize>());
    let mut shown: Vec<&(&str, &str, bool)> = Vec::new();
    for h in &local {
        if width(h) > room {
            break;
        }
        room -= width(h);
        shown.push(h);
    }
    shown.extend(global.iter());
    for (keys, what, _) in shown {
        spans.push(Span::styled(format!(" {keys}"), theme.accent));
        spans.push(Span::styled(format!(" {what} "), theme.muted));
    }
    frame.render_widget(Line::from(spans), area);
}

#[cfg(test)]
pub(crate) mod tests {
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
            cost: None,
        }
    }

    pub fn demo_app() -> App {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(crate::tui::app::tests::demo_view(
            1_790_000_000_000,
        ))));
        app
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
}
