//! The terminal UI: one loop that reads keys and collector updates, updates
//! state through the reducer, and draws only when something changed (at most
//! ~30 frames/s, synchronized output, no mouse capture).

pub mod action;
pub mod activity;
pub mod app;
pub mod clipboard;
pub mod data;
pub mod editor;
pub mod input;
pub mod keys;
pub mod resume;
pub mod theme;
pub mod views;
pub mod work;

use crate::refresh::{Pipeline, Refreshed};
use crate::setup::Setup;
use app::{Action, App, FleetView};
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use ratatui::crossterm::{execute, terminal};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The fastest medic redraws (~30 fps); bursts of changes coalesce into one frame.
const FRAME: Duration = Duration::from_millis(33);
/// A burst of resize events (a window being dragged) draws once, this long after the last.
const RESIZE_SETTLE: Duration = Duration::from_millis(60);

/// How the operator asked the TUI to look.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The colours (`--theme`, `--color`, `NO_COLOR`).
    pub theme: theme::Theme,
    /// `--ascii`: no braille, blocks or box-drawing glyphs beyond ASCII.
    pub ascii: bool,
}

/// Run the TUI until the operator quits. The terminal is restored on exit
/// and on panic.
pub async fn run(setup: Setup, options: Options) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Action>(64);
    // The operator's commands are never dropped: unbounded (they are few and
    // small), so the screen never waits and never loses one.
    let (commands, command_rx) = mpsc::unbounded_channel::<work::Command>();
    let (ui_tx, ui_rx) = mpsc::channel::<resume::UiState>(8);
    let (cancel_tx, cancel_rx) = mpsc::unbounded_channel::<String>();
    let workflows = tokio::spawn(work::serve(
        work::WorkContext::new(&setup),
        command_rx,
        work::Controls {
            ui: ui_rx,
            cancel: cancel_rx,
        },
        tx.clone(),
    ));
    let collector = tokio::spawn(collect(setup, tx, commands.clone()));
    let mut terminal = ratatui::try_init()?;
    let mut app = App {
        theme: options.theme,
        ascii: options.ascii,
        ..App::default()
    };
    let mut events = EventStream::new();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut settle_until = Instant::now();
    let mut saved_ui = app.ui_state();
    let result = loop {
        if dirty {
            let wait = FRAME
                .saturating_sub(last_draw.elapsed())
                .max(settle_until.saturating_duration_since(Instant::now()));
            if wait.is_zero() {
                if app.full_redraw {
                    app.full_redraw = false;
                    repaint_all(&mut terminal)?;
                }
                execute!(std::io::stdout(), terminal::BeginSynchronizedUpdate)?;
                terminal.draw(|f| views::render(f, &app, &app.theme))?;
                execute!(std::io::stdout(), terminal::EndSynchronizedUpdate)?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        let frame_due = FRAME
            .saturating_sub(last_draw.elapsed())
            .max(settle_until.saturating_duration_since(Instant::now()));
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => keys::action_for(&app, k),
                Some(Ok(Event::Resize(w, h))) => {
                    settle_until = Instant::now() + RESIZE_SETTLE;
                    Some(Action::Resize(w, h))
                }
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
            let _ = match cmd {
                work::Command::Cancel(id) => cancel_tx.send(id).map_err(|_| ()),
                cmd => commands.send(cmd).map_err(|_| ()),
            };
        }
        if let Some(text) = app.copy_requested.take() {
            clipboard::copy(&text);
        }
        if std::mem::take(&mut app.edit_requested) {
            // The editor owns the terminal meanwhile: stop reading keys, restore, run, take it back.
            drop(events);
            ratatui::restore();
            let edited = editor::edit_plan(&app).await;
            // Take the terminal back without re-initialising (that would query the cursor).
            terminal::enable_raw_mode()?;
            execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
            events = EventStream::new();
            app.full_redraw = true;
            dirty = true;
            match edited {
                Ok((incident, editor::Edited::Saved(markdown))) => {
                    app.kept_edit = None;
                    let _ = commands.send(work::Command::EditPlan { incident, markdown });
                }
                Ok((_, editor::Edited::Unchanged)) => {
                    app.kept_edit = None;
                    app.notice = Some("plan unchanged".into());
                }
                Ok((incident, editor::Edited::Kept { text, error })) => {
                    app.notice = Some(format!("not saved: {error} · e reopens your text"));
                    app.kept_edit = Some((incident, text, error));
                }
                Err(e) => app.notice = Some(format!("editor: {e}")),
            }
        }
        // Where the operator is survives a restart (saved once the last run's state is applied).
        if app.restored {
            let ui = app.ui_state();
            // A full channel is tried again next turn: the latest state is never lost.
            if ui != saved_ui && ui_tx.try_send(ui.clone()).is_ok() {
                saved_ui = ui;
            }
        }
        if app.quit {
            // The last state goes whatever the channel's fill: there is no next turn.
            let ui = app.ui_state();
            if app.restored && ui != saved_ui {
                let _ = ui_tx.send(ui).await;
            }
            break Ok(());
        }
    };
    collector.abort();
    // Closing the channels lets the workflow task finish writing the UI state.
    drop((commands, ui_tx, cancel_tx));
    ratatui::restore();
    if tokio::time::timeout(Duration::from_secs(1), workflows)
        .await
        .is_err()
    {
        // A workflow is mid-step: the journal resumes it next time.
    }
    result
}

/// Clear the screen and forget what ratatui believes is on it, so the next
/// draw paints every cell. (`Terminal::clear` would ask the terminal for the
/// cursor position, a round trip that races the event reader.)
fn repaint_all(terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
    execute!(std::io::stdout(), terminal::Clear(terminal::ClearType::All))?;
    terminal.current_buffer_mut().reset();
    terminal.swap_buffers();
    Ok(())
}

/// Refresh the source every step of source time, evaluate the rules and
/// send the result to the UI. Errors become a status line, never a crash.
async fn collect(
    mut setup: Setup,
    tx: mpsc::Sender<Action>,
    workflows: mpsc::UnboundedSender<work::Command>,
) {
    let mut pipeline = Pipeline::new(setup.rules.clone());
    let (step, lookback) = (setup.step(), setup.lookback());
    // One refresh per step of source time (a fast demo clock moves smoothly);
    // a refresh with no new point asks the source nothing.
    let every = setup
        .source
        .refresh_interval(step)
        .clamp(Duration::from_millis(250), Duration::from_secs(60));
    // Alertmanager's alerts arrive as flags beside the rules' own, judged the same way.
    let mut alerts = None;
    if let Some(am) = setup.config.alertmanager.clone() {
        match crate::commands::scan::start_receiver(&am, false).await {
            Ok((inbox, changes)) => alerts = Some((inbox, changes)),
            Err(e) => {
                let _ = tx
                    .send(Action::SourceError(format!("Alertmanager webhook: {e:#}")))
                    .await;
            }
        }
    }
    loop {
        let mut actions = Vec::with_capacity(2);
        let extra = alerts
            .as_ref()
            .map(|(inbox, _)| inbox.flags())
            .unwrap_or_default();
        let refreshed = pipeline
            .refresh(&mut setup.source, &setup.evidence, lookback, step, extra)
            .await;
        match refreshed {
            Ok(Refreshed {
                snap,
                flags,
                evidence,
                ..
            }) => {
                // Last-known values say nothing about recovery.
                if !snap.stale {
                    let _ = workflows.send(work::Command::FlagsNow {
                        flags: flags.clone(),
                        present: crate::workflow::incident::with_data(&snap),
                    });
                }
                actions.push(Action::Fleet(Box::new(FleetView::new(
                    &snap,
                    pipeline.detector(),
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
        // An alert arriving refreshes at once rather than at the next tick.
        match &mut alerts {
            Some((_, changes)) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = changes.recv() => {}
                }
            }
            None => tokio::time::sleep(every).await,
        }
    }
}
