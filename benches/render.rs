//! Drawing the fleet view: 1,000 services at 200×50 into ratatui's
//! `TestBackend` (issue target: ≤ 2 ms median per frame). Each iteration
//! is a full frame: layout, the flagged list, the visible rows with their
//! three sparklines each, the footer. The one-hour demo window at 15 s
//! steps gives every sparkline 240 points to fold into its width.

use criterion::{criterion_group, criterion_main, Criterion};
use medic::config::default_rules;
use medic::detect::Detector;
use medic::model::{FleetSnapshot, ServiceId};
use medic::sources::demo::{Demo, DEFAULT_SEED};
use medic::tui::app::{Action, App, FleetView};
use medic::tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn fleet(copies: usize) -> FleetView {
    let anchor = 1_790_000_000_000;
    let step = 15_000;
    let base = Demo::new(DEFAULT_SEED, anchor).range(anchor - 3_600_000, anchor, step, anchor);
    let mut services = Vec::new();
    for c in 0..copies {
        for s in &base.services {
            let mut s = s.clone();
            s.service = ServiceId(format!("{}-{c:03}", s.service));
            services.push(s);
        }
    }
    services.sort_by(|a, b| a.service.cmp(&b.service));
    let snap = FleetSnapshot {
        services,
        at: anchor,
        stale: false,
        missing: Vec::new(),
    };
    let mut detector = Detector::new(default_rules());
    detector.ingest(&snap);
    let flags = detector.flags(&snap);
    FleetView::new(&snap, &detector, flags, Vec::new(), "bench".into())
}

fn bench(c: &mut Criterion) {
    let view = fleet(125); // 8 demo services × 125 = 1,000
    assert_eq!(view.rows.len(), 1_000);
    for (name, theme, middle) in [
        ("fleet 1000 services 200x50", Theme::default_colors(), false),
        (
            "fleet 1000 services 200x50, selection mid-list",
            Theme::mono(),
            true,
        ),
    ] {
        let mut app = App::default();
        app.update(Action::Fleet(Box::new(view.clone())));
        if middle {
            for _ in 0..500 {
                app.update(Action::Down);
            }
        }
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        c.bench_function(name, |b| {
            b.iter(|| {
                terminal
                    .draw(|f| medic::tui::views::render(f, &app, &theme))
                    .unwrap();
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
