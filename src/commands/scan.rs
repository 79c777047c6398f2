//! `medic scan`: headless detection, as JSON lines or a readable table.
//!
//! No silent all-clear: a query that returned no series, zero services or a
//! source that cannot answer is printed as no-data (`{"state":"no-data",
//! "query":…,"reason":…}` with `--json`) and `scan --once` exits
//! [`EXIT_NO_DATA`]. Watch mode waits for a source that is down at start-up
//! (bounded backoff) and says when it answers.

use crate::detect::Detector;
use crate::model::{Flag, FleetSnapshot, Metric, NoData, ServiceMetrics, Transition};
use crate::refresh::{Pipeline, Refreshed};
use crate::setup::Setup;
use crate::sources::alertmanager::{AlertFlag, Inbox};
use crate::terminal;
use crate::units;
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

/// One flag as a JSON line (the `scan --json` contract).
#[derive(Debug, Serialize)]
pub struct FlagLine<'a> {
    /// Service name.
    pub service: &'a str,
    /// The metric the rule is about.
    pub metric: &'a str,
    /// The rule's name.
    pub rule: &'a str,
    /// pending | firing | resolved.
    pub state: &'a str,
    /// The rule expression's current value (null when absent).
    pub value: Option<f64>,
    /// The rule's threshold.
    pub threshold: f64,
    /// When the current state began (RFC 3339 UTC).
    pub since: String,
    /// actionable | load | external | platform | noise.
    pub verdict: &'a str,
    /// Why, in words.
    pub reason: &'a str,
    /// True when the source could not be reached and values are last-known.
    pub stale: bool,
    /// Seconds until the metric reaches its limit at the current trend (null if not heading there).
    pub eta_seconds: Option<f64>,
}

impl<'a> FlagLine<'a> {
    /// The JSON view of a flag.
    pub fn new(f: &'a Flag, stale: bool) -> Self {
        FlagLine {
            service: &f.service.0,
            metric: f.metric.name(),
            rule: &f.rule,
            state: f.state.json_word(),
            value: f.value.is_finite().then_some(f.value),
            threshold: f.threshold,
            since: units::rfc3339(f.since),
            verdict: f.verdict.word(),
            reason: &f.reason,
            stale,
            eta_seconds: f.eta_seconds.map(|s| s.round()),
        }
    }
}

/// The exit code of `scan --once` when something had no data to judge.
pub const EXIT_NO_DATA: u8 = 3;

/// `scan --once` (or `backtest`) found queries without data (already printed): exit 3.
#[derive(Debug, thiserror::Error)]
#[error("no data to judge for: {}", .0.iter().map(|m| m.query.as_str()).collect::<Vec<_>>().join(", "))]
pub struct NoDataFound(pub Vec<NoData>);

/// One no-data state as a JSON line (the `scan --json` contract).
#[derive(Debug, Serialize)]
pub struct NoDataLine<'a> {
    /// Always `no-data`.
    pub state: &'static str,
    /// The query (`cpu`, `errors`…), `services`, or `source`.
    pub query: &'a str,
    /// What is missing and what to check.
    pub reason: &'a str,
}

/// A source error as no-data: the query it names, or `source`.
pub fn source_no_data(e: &crate::sources::SourceError) -> NoData {
    NoData {
        query: match e {
            crate::sources::SourceError::Query { query, .. } => query.clone(),
            crate::sources::SourceError::Unsupported(_) => "source".into(),
        },
        reason: format!("the source did not answer: {e}"),
    }
}

/// Print no-data states: JSON lines on stdout with `--json` (stderr stays
/// for words), and always one line each on stderr.
fn print_no_data(missing: &[NoData], json: bool) -> anyhow::Result<()> {
    let mut out = terminal::stdout();
    for m in missing {
        if json {
            let line = NoDataLine {
                state: "no-data",
                query: &m.query,
                reason: &m.reason,
            };
            out.json_line(&line)?;
        }
        terminal::eprint_line(format_args!(
            "medic: no data for `{}`: {}",
            m.query, m.reason
        ));
    }
    out.flush()?;
    Ok(())
}

/// Watch mode: ask until the source answers, backing off from 1 s to 30 s;
/// one line per failure that differs from the last, one when it answers.
async fn first_answer(
    setup: &mut Setup,
    lookback: crate::model::Millis,
    step: crate::model::Millis,
) -> anyhow::Result<FleetSnapshot> {
    let mut delay = Duration::from_secs(1);
    let mut last_error = String::new();
    let mut attempts = 0u32;
    loop {
        let now = setup.source.now();
        match setup.source.latest(now, lookback, step).await {
            Ok(snap) => {
                if attempts > 0 {
                    terminal::eprint_line(format_args!(
                        "medic: {} answers again after {attempts} failed attempt(s)",
                        setup.source.describe()
                    ));
                }
                return Ok(snap);
            }
            Err(e) => {
                attempts += 1;
                let text = e.to_string();
                if text != last_error {
                    terminal::eprint_line(format_args!(
                        "medic: {text}; retrying (every {}s at most) until it answers, Ctrl-C to stop",
                        BACKOFF_CAP.as_secs()
                    ));
                    last_error = text;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tokio::signal::ctrl_c() => return Err(anyhow::anyhow!("stopped before the source answered")),
        }
        delay = (delay * 2).min(BACKOFF_CAP);
    }
}

/// The longest wait between two attempts at a source that is down.
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Run `scan`: once, or watching and printing every change.
pub async fn run(mut setup: Setup, once: bool, json: bool) -> anyhow::Result<()> {
    // Alertmanager's webhook listens from the start (watch mode only: `--once` cannot wait).
    let mut alerts = match (&setup.config.alertmanager, once) {
        (Some(am), false) => {
            let (inbox, changes) = start_receiver(am, true).await?;
            Some(AlertFeed::new(inbox, changes))
        }
        _ => None,
    };
    let mut pipeline = Pipeline::new(setup.rules.clone());
    let (step, lookback) = (setup.step(), setup.lookback());
    let snap = if once {
        let now = setup.source.now();
        match setup.source.latest(now, lookback, step).await {
            Ok(snap) => snap,
            Err(e) => {
                let missing = vec![source_no_data(&e)];
                print_no_data(&missing, json)?;
                return Err(NoDataFound(missing).into());
            }
        }
    } else {
        first_answer(&mut setup, lookback, step).await?
    };
    warn(&mut setup);
    let Refreshed { snap, flags, .. } = pipeline
        .update(&setup.evidence.beside(&setup.source), snap, vec![])
        .await;
    let mut out = terminal::stdout();
    if json {
        for f in &flags {
            out.json_line(&FlagLine::new(f, snap.stale))?;
        }
    } else {
        write!(out, "{}", table(&flags, &snap))?;
    }
    out.flush()?;
    drop(out);
    print_no_data(&snap.missing, json)?;
    if once {
        if !snap.missing.is_empty() {
            return Err(NoDataFound(snap.missing.clone()).into());
        }
        return Ok(());
    }
    let mut missing = snap.missing.clone();
    // The pipeline slides its own copy of the window; holding this one would copy it.
    drop(snap);
    // Watch: one refresh per step of source time; print each change as it happens.
    let every = setup
        .source
        .refresh_interval(step)
        .clamp(Duration::from_millis(200), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            alert = next_alert(&mut alerts) => {
                if let (Some(a), Some(last)) = (alert, pipeline.last()) {
                    let detector = pipeline.detector();
                    let flags = detector.flags(&last);
                    let flag = judge_alert(&setup, &last, detector, &flags, a.flag).await;
                    print_alert(&flag, &last, json)?;
                }
                continue;
            }
        }
        // A source that fails before its first answer is reported and retried, never fatal.
        let refreshed = pipeline
            .refresh(&mut setup.source, &setup.evidence, lookback, step, vec![])
            .await;
        let Refreshed {
            snap,
            changes,
            flags,
            ..
        } = match refreshed {
            Ok(r) => r,
            Err(e) => {
                terminal::eprint_line(format_args!("medic: {e}"));
                continue;
            }
        };
        warn(&mut setup);
        if snap.missing != missing {
            if snap.missing.is_empty() {
                terminal::eprint_line(format_args!("medic: every query has data again"));
            }
            let new: Vec<NoData> = snap
                .missing
                .iter()
                .filter(|m| !missing.contains(m))
                .cloned()
                .collect();
            print_no_data(&new, json)?;
            missing = snap.missing.clone();
        }
        let mut out = terminal::stdout();
        for t in changes {
            if let Some(f) = flags
                .iter()
                .find(|f| f.service == t.service && f.rule == t.rule)
            {
                if json {
                    out.json_line(&FlagLine::new(f, snap.stale))?;
                } else {
                    out.row(format_args!("{}", change_line(&t, f, &snap)))?;
                }
            } else if !json {
                out.row(format_args!(
                    "{} {} {} → {}",
                    units::rfc3339(t.at),
                    t.service,
                    t.rule,
                    t.state.word()
                ))?;
            }
        }
        out.flush()?;
    }
}

/// Bind `[alertmanager] listen` and serve the webhook in the background;
/// returns the inbox (every alert's current flag: `inbox.flags()`) and a
/// stream of changes subscribed before the first request. The TUI can use
/// it as is.
pub async fn start_receiver(
    am: &crate::config::AlertmanagerConfig,
    announce: bool,
) -> anyhow::Result<(Inbox, tokio::sync::broadcast::Receiver<AlertFlag>)> {
    let token = match &am.token_env {
        Some(var) => Some(
            crate::sources::http::secret_from_env("alertmanager.token_env", var)
                .map_err(crate::setup::UsageError)?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&am.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "alertmanager.listen = \"{}\": cannot listen: {e}",
                am.listen
            )
        })?;
    if announce {
        terminal::eprint_line(format_args!(
            "medic: Alertmanager webhook on http://{}{}",
            listener.local_addr()?,
            crate::sources::alertmanager::PATH
        ));
        let exposed =
            crate::sources::alertmanager::exposure_warning(listener.local_addr()?, token.is_some());
        if let Some(w) = exposed {
            terminal::eprint_line(format_args!("medic: warning: {w}"));
        }
    }
    let inbox = Inbox::default();
    let changes = inbox.subscribe();
    let serving = inbox.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::sources::alertmanager::serve(listener, serving, token).await {
            terminal::eprint_line(format_args!("medic: Alertmanager webhook stopped: {e}"));
        }
    });
    Ok((inbox, changes))
}

/// Past this many remembered alerts, those the inbox no longer holds are dropped.
const JUDGED_MAX: usize = 20_000;

/// Alert changes in the order they came; a burst faster than the judging
/// (a broadcast lag) is caught up from the inbox, so every alert is judged.
struct AlertFeed {
    inbox: Inbox,
    changes: tokio::sync::broadcast::Receiver<AlertFlag>,
    /// Each alert's last judged state: (onset, state).
    judged: std::collections::HashMap<String, (crate::model::Millis, crate::model::AlertState)>,
    backlog: std::collections::VecDeque<AlertFlag>,
}

impl AlertFeed {
    fn new(inbox: Inbox, changes: tokio::sync::broadcast::Receiver<AlertFlag>) -> AlertFeed {
        AlertFeed {
            inbox,
            changes,
            judged: Default::default(),
            backlog: Default::default(),
        }
    }

    /// True (and remembered) when this alert's state was not judged yet.
    fn fresh(&mut self, a: &AlertFlag) -> bool {
        let state = (a.flag.onset, a.flag.state);
        let fresh = self.judged.insert(a.fingerprint.clone(), state) != Some(state);
        // Bounded like the inbox: forget alerts the inbox has forgotten.
        if self.judged.len() > JUDGED_MAX {
            let kept: std::collections::HashSet<String> = self
                .inbox
                .alerts()
                .into_iter()
                .map(|a| a.fingerprint)
                .collect();
            self.judged.retain(|k, _| kept.contains(k));
        }
        fresh
    }

    async fn next(&mut self) -> Option<AlertFlag> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            if let Some(a) = self.backlog.pop_front() {
                return Some(a);
            }
            match self.changes.recv().await {
                Ok(a) if self.fresh(&a) => return Some(a),
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    terminal::eprint_line(format_args!(
                        "medic: {n} Alertmanager change(s) came faster than they were judged; catching up from the inbox"
                    ));
                    for a in self.inbox.alerts() {
                        if self.fresh(&a) {
                            self.backlog.push_back(a);
                        }
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The next alert change, or never when there is no receiver.
async fn next_alert(alerts: &mut Option<AlertFeed>) -> Option<AlertFlag> {
    let Some(feed) = alerts else {
        return std::future::pending().await;
    };
    let next = feed.next().await;
    if next.is_none() {
        *alerts = None;
    }
    next
}

/// An alert's flag through the same triage as medic's own flags.
pub async fn judge_alert(
    setup: &Setup,
    snap: &FleetSnapshot,
    detector: &Detector,
    flags: &[Flag],
    mut flag: Flag,
) -> Flag {
    if flag.state == crate::model::AlertState::Resolved {
        flag.reason = format!("{} (resolved in Alertmanager)", flag.reason);
        return flag;
    }
    let mut all = flags.to_vec();
    all.push(flag.clone());
    let (_, _, judgement) = crate::triage::assess(
        &setup.evidence.beside(&setup.source),
        snap,
        detector,
        &all,
        &flag,
    )
    .await;
    flag.verdict = judgement.verdict;
    flag.reason = judgement.reason();
    flag
}

fn print_alert(f: &Flag, snap: &FleetSnapshot, json: bool) -> anyhow::Result<()> {
    let mut out = terminal::stdout();
    if json {
        out.json_line(&FlagLine::new(f, snap.stale))?;
    } else {
        out.row(format_args!(
            "{}  {} {:<9} {:<10} {:<20} {} (from Alertmanager)",
            units::rfc3339(f.since),
            f.state.glyph(),
            f.state.word(),
            f.service,
            f.rule,
            f.verdict.word()
        ))?;
    }
    out.flush()?;
    Ok(())
}

/// Source warnings go to stderr, so `--json` output stays clean.
fn warn(setup: &mut Setup) {
    for w in setup.source.take_warnings() {
        terminal::eprint_line(format_args!("medic: warning: {w}"));
    }
}

fn change_line(t: &Transition, f: &Flag, snap: &FleetSnapshot) -> String {
    format!(
        "{}  {} {:<9} {:<10} {:<20} {}",
        units::rfc3339(t.at),
        f.state.glyph(),
        f.state.word(),
        f.service,
        f.rule,
        reading(f, snap)
    )
}

/// The flagged metric's reading with units: `30.5 GB / 32 GB (95%)`.
pub fn reading(f: &Flag, snap: &FleetSnapshot) -> String {
    let svc = snap.services.iter().find(|s| s.service == f.service);
    reading_of(f.metric, svc)
}

/// A service's current reading of `metric` with limit or traffic context.
pub fn reading_of(metric: Metric, svc: Option<&ServiceMetrics>) -> String {
    let Some(svc) = svc else {
        return "absent".to_string();
    };
    units::metric_reading(
        metric,
        svc.last(metric),
        metric.limit().and_then(|l| svc.last(l)),
        svc.last(Metric::Requests),
    )
}

/// The readable table `scan` prints without `--json`.
pub fn table(flags: &[Flag], snap: &FleetSnapshot) -> String {
    if flags.is_empty() && !snap.missing.is_empty() {
        // Never "✔ no service flagged" when something could not be judged.
        let what: Vec<&str> = snap.missing.iter().map(|m| m.query.as_str()).collect();
        return format!(
            "! no data for {} ({} services checked): nothing flagged, but this is not an all-clear\n",
            what.join(", "),
            snap.services.len()
        );
    }
    if flags.is_empty() {
        return format!(
            "✔ no service flagged ({} services checked{})\n",
            snap.services.len(),
            if snap.stale { ", data STALE" } else { "" }
        );
    }
    let mut s = format!(
        "{:<11} {:<10} {:<18} {:<34} {:<11} {}\n",
        "STATE", "SERVICE", "RULE", "NOW", "SINCE", "VERDICT"
    );
    for f in flags {
        // One row per flag, whatever its labels hold: `one_line` escapes a newline.
        let row = format!(
            "{} {:<9} {:<10} {:<18} {:<34} {:<11} {}",
            f.state.glyph(),
            f.state.word(),
            f.service,
            f.rule,
            reading(f, snap),
            format!("{} UTC", units::clock(f.since)),
            f.verdict.word()
        );
        s.push_str(&terminal::one_line(&row));
        s.push('\n');
    }
    if snap.stale {
        s.push_str("! data is STALE: the source did not answer; showing last-known values\n");
    }
    s
}
