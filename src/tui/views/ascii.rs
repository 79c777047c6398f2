//! `--ascii` is ASCII: after a frame is drawn, every cell that is not
//! ASCII becomes its nearest ASCII look-alike (box lines, bullets, arrows,
//! blocks, braille), and anything else (a service label, a log line or a
//! model's text in another script) a `?`. The views pick ASCII glyphs
//! themselves where they can; this pass is the guarantee, cell by cell, so
//! a terminal without Unicode fonts never shows a broken glyph.

use ratatui::buffer::Buffer;

/// The one-cell ASCII stand-in for a non-ASCII symbol.
pub fn fallback(symbol: &str) -> &'static str {
    let Some(c) = symbol.chars().next() else {
        return " ";
    };
    match c {
        '─' | '━' | '═' | '╌' | '┄' | '‐' | '–' | '—' | '−' => "-",
        '│' | '┃' | '║' | '╎' | '┆' => "|",
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' | '╔' | '╗'
        | '╚' | '╝' => "+",
        '…' => ".",
        '·' | '•' | '◦' | '∙' => "*",
        '→' | '▶' | '►' | '›' | '»' => ">",
        '←' | '◀' | '‹' | '«' => "<",
        '↑' | '▲' => "^",
        '↓' | '▼' => "v",
        '✔' | '✓' => "v",
        '✖' | '✗' | '×' => "x",
        '☐' | '□' => "o",
        '█' | '▇' | '▆' | '▉' | '▊' => "#",
        '▅' | '▄' | '▃' => "=",
        '▂' | '▁' | '▏' | '▎' | '▍' | '▌' | '▋' => "_",
        '░' | '▒' | '▓' => ":",
        '≥' => ">",
        '≤' => "<",
        '‘' | '’' | '′' => "'",
        '“' | '”' | '″' => "\"",
        '\u{2800}' => " ",
        '\u{2801}'..='\u{28ff}' => ".",
        c if c.is_whitespace() => " ",
        _ => "?",
    }
}

/// Replace every non-ASCII cell of `buf` (a wide character's second cell
/// becomes a blank, so the row keeps its width).
pub fn enforce(buf: &mut Buffer) {
    let area = buf.area;
    for y in area.top()..area.bottom() {
        let mut wide_tail = false;
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if wide_tail {
                wide_tail = false;
                cell.set_symbol(" ");
                continue;
            }
            if cell.symbol().is_ascii() && !cell.symbol().is_empty() {
                continue;
            }
            let sym = cell.symbol().to_string();
            wide_tail = ratatui::text::Span::raw(sym.as_str()).width() > 1;
            cell.set_symbol(fallback(&sym));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Todo, TodoStatus};
    use crate::tui::action::{Action, InputKind};
    use crate::tui::app::App;
    use crate::tui::theme::Theme;
    use crate::tui::views::tests::{demo_app, sample_work};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    const PLAN: &str = "# Raise api's memory limit now → 48 GB\n\n- severity: high\n- fix: config\n- confidence: 70%\n\n## Summary\n\nThe heap grows · without bound…\n\n## Root cause\n\nA cache without eviction.\n\nEvidence: `metric:memory@onset`, `log:1`\n\n## Changes\n\n- raise-memory-limit api 48000000000\n";

    /// Every view `--ascii` can show, each as (name, app).
    fn every_view() -> Vec<(&'static str, App)> {
        let mut views = Vec::new();
        let mut app = demo_app();
        app.ascii = true;
        views.push(("fleet", app.clone()));
        let mut filter = app.clone();
        filter.update(Action::StartInput(InputKind::Filter));
        filter.update(Action::InputChar('a'));
        views.push(("fleet filter", filter));
        let mut help = app.clone();
        help.update(Action::ToggleHelp);
        views.push(("help", help));
        app.update(Action::Open);
        views.push(("incident", app.clone()));
        let mut search = app.clone();
        search.update(Action::StartInput(InputKind::Search));
        search.update(Action::InputChar('e'));
        search.update(Action::InputSubmit);
        views.push(("incident search", search));
        let mut palette = app.clone();
        palette.update(Action::StartInput(InputKind::Command));
        views.push(("palette", palette));
        app.update(Action::Plan);
        views.push(("plan, waiting", app.clone()));
        let mut w = sample_work(PLAN, false);
        w.status = "change ready · d diff · p push…".into();
        w.log = vec![
            "deploy/api.yaml:35: memory 32G → 48G ✔".into(),
            "日本語のログ 🚀".into(),
        ];
        w.todos = [
            "Raise the limit",
            "Check the GC",
            "Find the leak",
            "Drop it",
            "Failed one",
        ]
        .iter()
        .zip([
            TodoStatus::Completed,
            TodoStatus::InProgress,
            TodoStatus::Pending,
            TodoStatus::Cancelled,
            TodoStatus::Failed,
        ])
        .map(|(c, status)| Todo {
            id: c.to_string(),
            content: c.to_string(),
            status,
        })
        .collect();
        app.update(Action::Work(Box::new(w.clone())));
        views.push(("plan", app.clone()));
        let mut confirm = app.clone();
        confirm.update(Action::Approve);
        views.push(("approve confirm", confirm));
        let mut cited = app.clone();
        cited.update(Action::ToggleCitations);
        views.push(("citations", cited));
        let mut editing = app.clone();
        editing.update(Action::EditInPlace);
        views.push(("in-place editor", editing));
        w.approved = true;
        w.diff = Some("--- a/deploy/api.yaml\n+++ b/deploy/api.yaml\n@@ -1 +1 @@\n-memory: 32G\n+memory: 48G → more\n".into());
        w.held = vec![crate::forge::policy::Held {
            path: ".github/workflows/ci.yml".into(),
            why: "CI/automation file".into(),
        }];
        app.update(Action::Work(Box::new(w.clone())));
        let mut diff = app.clone();
        diff.update(Action::ToggleDiff);
        views.push(("diff", diff));
        let mut held = app.clone();
        held.update(Action::Publish);
        views.push(("held confirm", held));
        w.pr = Some("local://forge/shop/pull/1".into());
        app.update(Action::Work(Box::new(w)));
        views.push(("pull request", app.clone()));
        let mut list = app.clone();
        list.update(Action::StartInput(InputKind::Command));
        for c in "incidents".chars() {
            list.update(Action::InputChar(c));
        }
        list.update(Action::InputSubmit);
        list.update(Action::Incidents(vec![crate::tui::app::IncidentRow {
            id: "20261128-0415-api-1f39".into(),
            service: "api".into(),
            rule: "memory-near-limit".into(),
            status: "pr opened".into(),
            pr: Some("local://forge/shop/pull/1".into()),
        }]));
        views.push(("incidents", list));
        let mut stale = demo_app();
        stale.ascii = true;
        stale.update(Action::SourceError(
            "prometheus http://127.0.0.1:9 — connection refused…".into(),
        ));
        views.push(("stale", stale));
        views
    }

    fn buffer(app: &App, theme: &Theme, w: u16, h: u16) -> ratatui::buffer::Buffer {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| crate::tui::views::render(f, app, theme))
            .unwrap();
        t.backend().buffer().clone()
    }

    #[test]
    fn every_view_at_80x24_with_ascii_is_ascii_in_every_cell() {
        let views = every_view();
        assert!(views.len() >= 16);
        for (name, app) in &views {
            for (w, h) in [(80, 24), (40, 10)] {
                let buf = buffer(app, &Theme::default_colors(), w, h);
                for y in 0..h {
                    for x in 0..w {
                        let s = buf[(x, y)].symbol();
                        assert!(
                            s.is_ascii(),
                            "{name} at {w}x{h}: cell ({x},{y}) is {s:?}\n{}",
                            crate::tui::views::tests::draw(app, &Theme::default_colors(), w, h)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_mono_theme_has_no_colour_in_any_cell_and_its_styles_are_snapshotted() {
        for (name, mut app) in every_view() {
            app.ascii = false;
            let buf = buffer(&app, &Theme::mono(), 80, 24);
            for cell in buf.content() {
                assert!(
                    cell.fg == ratatui::style::Color::Reset
                        && cell.bg == ratatui::style::Color::Reset,
                    "{name}: {:?} has colour {:?}/{:?}",
                    cell.symbol(),
                    cell.fg,
                    cell.bg
                );
            }
        }
        let views = every_view();
        let fleet = &views[0].1;
        // The Debug form lists every style run: modifiers in mono, colours in default.
        insta::assert_snapshot!(
            "fleet_mono_styles_80x24",
            format!("{:?}", buffer(fleet, &Theme::mono(), 80, 24))
        );
        insta::assert_snapshot!(
            "fleet_default_styles_80x24",
            format!("{:?}", buffer(fleet, &Theme::default_colors(), 80, 24))
        );
    }
}
