//! The terminal UI: one loop that reads keys and collector updates, updates
//! state through the reducer, and draws only when something changed (at most
//! ~30 frames/s, synchronized output, no mouse capture).

pub mod app;
pub mod keys;

pub mod theme;
pub mod views;
pub mod work;

use crate::detect::Detector;
use crate::setup::Setup;
use app::{Action, App, FleetView};
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use ratatui::crossterm::{execute, terminal};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The fastest medic redraws (~30 fps); bursts of changes coalesce into one frame.
const FRAME: Duration = Duration::from_millis(33);

/// Run the TUI until the operator quits. The terminal is restored on exit
/// and on panic.
pub async fn run(setup: Setup) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Action>(64);
    let (commands, command_rx) = mpsc::channel::<work::Command>(16);
    let workflows = tokio::spawn(work::serve(
        work::WorkContext::new(&setup),
        command_rx,
        tx.clone(),
    ));
    let collector = tokio::spawn(collect(setup, tx));
    let mut terminal = ratatui::try_init()?;
    let theme = theme::Theme::from_env();
    let mut app = App::default();
    let mut events = EventStream::new();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let result = loop {
        if dirty {
            let wait = FRAME.saturating_sub(last_draw.elapsed());
            if wait.is_zero() {
                if app.full_redraw {
                    app.full_redraw = false;
                    terminal.clear()?;
                }
                execute!(std::io::stdout(), terminal::BeginSynchronizedUpdate)?;
                terminal.draw(|f| views::render(f, &app, &theme))?;
                execute!(std::io::stdout(), terminal::EndSynchronizedUpdate)?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        let frame_due = FRAME.saturating_sub(last_draw.elapsed());
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => keys::action_for(k, app.screen),
                Some(Ok(Event::Resize(w, h))) => Some(Action::Resize(w, h)),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(anyhow::Error::from(e).context("reading the terminal")),
                None => break Ok(()),
            },
            Some(action) = rx.recv() => Some(action),
            _ = tokio::time::sleep(frame_due), if dirty => None,
        };
        if let Some(a) = action {
            dirty |= app.update(a);
        }
        // Drain whatever else is queued so one frame shows it all.
        while let Ok(a) = rx.try_recv() {
            dirty |= app.update(a);
        }
        for cmd in app.outbox.drain(..) {
            let _ = commands.try_send(cmd);
        }
        if app.quit {
            break Ok(());
        }
    };
    collector.abort();
    workflows.abort();
    ratatui::restore();
    result
}

/// Refresh the source every step of source time, evaluate the rules and
/// send the result to the UI. Errors become a status line, never a crash.
async fn collect(mut setup: Setup, tx: mpsc::Sender<Action>) {
    let mut detector = Detector::new(setup.rules.clone());
    let (step, lookback) = (setup.step(), setup.lookback());
    // Refresh often enough that a fast demo clock still moves smoothly.
    let every = setup
        .source
        .refresh_interval(step)
        .clamp(Duration::from_millis(250), Duration::from_secs(15));
    loop {
        let now = setup.source.now();
        let mut actions = Vec::with_capacity(2);
        match setup.source.latest(now, lookback, step).await {
            Ok(snap) => {
                detector.ingest(&snap);
                let mut flags = detector.flags(&snap);
                let evidence =
                    crate::triage::judge_all(&setup.source, &snap, &detector, &mut flags).await;
                actions.push(Action::Fleet(Box::new(FleetView::new(
                    &snap,
                    &detector,
                    flags,
                    evidence,
                    setup.source.describe(),
                ))));
                // A stale snapshot carries its reason as a warning: show it as the error line.
                let warnings = setup.source.take_warnings();
                if snap.stale {
                    if let Some(w) = warnings.last() {
                        actions.push(Action::SourceError(w.clone()));
                    }
                }
            }
            Err(e) => actions.push(Action::SourceError(e.to_string())),
        }
        for action in actions {
            if tx.send(action).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(every).await;
    }
}
