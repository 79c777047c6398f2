//! `medic scan`: headless detection, as JSON lines or a readable table.

use crate::detect::Detector;
use crate::model::{Flag, FleetSnapshot, Metric, ServiceMetrics, Transition};
use crate::setup::Setup;
use crate::sources::alertmanager::{AlertFlag, Inbox};
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
    let mut detector = Detector::new(setup.rules.clone());
    let (step, lookback) = (setup.step(), setup.lookback());
    let now = setup.source.now();
    let snap = setup.source.latest(now, lookback, step).await?;
    warn(&mut setup);
    detector.ingest(&snap);
    let mut flags = detector.flags(&snap);
    crate::triage::judge_all(
        &setup.evidence.beside(&setup.source),
        &snap,
        &detector,
        &mut flags,
    )
    .await;
    let mut out = std::io::stdout().lock();
    if json {
        for f in &flags {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&FlagLine::new(f, snap.stale))?
            )?;
        }
    } else {
        write!(out, "{}", table(&flags, &snap))?;
    }
    out.flush()?;
    drop(out);
    if once {
        return Ok(());
    }
    // Watch: one refresh per step of source time; print each change as it happens.
    let every = setup
        .source
        .refresh_interval(step)
        .clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut last = snap;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            alert = next_alert(&mut alerts) => {
                if let Some(a) = alert {
                    let flags = detector.flags(&last);
                    let flag = judge_alert(&setup, &last, &detector, &flags, a.flag).await;
                    print_alert(&flag, &last, json)?;
                }
                continue;
            }
        }
        let now = setup.source.now();
        // A source that fails before its first answer is reported and retried, never fatal.
        let snap = match setup.source.latest(now, lookback, step).await {
            Ok(snap) => snap,
            Err(e) => {
                eprintln!("medic: {e}");
                continue;
            }
        };
        warn(&mut setup);
        last = snap.clone();
        let changes = detector.ingest(&snap);
        let mut flags = detector.flags(&snap);
        if !changes.is_empty() {
            crate::triage::judge_all(
                &setup.evidence.beside(&setup.source),
                &snap,
                &detector,
                &mut flags,
            )
            .await;
        }
        let mut out = std::io::stdout().lock();
        for t in changes {
            if let Some(f) = flags
                .iter()
                .find(|f| f.service == t.service && f.rule == t.rule)
            {
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&FlagLine::new(f, snap.stale))?
                    )?;
                } else {
                    writeln!(out, "{}", change_line(&t, f, &snap))?;
                }
            } else if !json {
                writeln!(
                    out,
                    "{} {} {} → {}",
                    units::rfc3339(t.at),
                    t.service,
                    t.rule,
                    t.state.word()
                )?;
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
        eprintln!(
            "medic: Alertmanager webhook on http://{}{}",
            listener.local_addr()?,
            crate::sources::alertmanager::PATH
        );
    }
    let inbox = Inbox::default();
    let changes = inbox.subscribe();
    let serving = inbox.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::sources::alertmanager::serve(listener, serving, token).await {
            eprintln!("medic: Alertmanager webhook stopped: {e}");
        }
    });
    Ok((inbox, changes))
}

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
        self.judged.insert(a.fingerprint.clone(), state) != Some(state)
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
                    eprintln!(
                        "medic: {n} Alertmanager change(s) came faster than they were judged; catching up from the inbox"
                    );
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
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&FlagLine::new(f, snap.stale))?
        )?;
    } else {
        writeln!(
            out,
            "{}  {} {:<9} {:<10} {:<20} {} (from Alertmanager)",
            units::rfc3339(f.since),
            f.state.glyph(),
            f.state.word(),
            f.service,
            f.rule,
            f.verdict.word()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Source warnings go to stderr, so `--json` output stays clean.
fn warn(setup: &mut Setup) {
    for w in setup.source.take_warnings() {
        eprintln!("medic: warning: {w}");
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
        s.push_str(&format!(
            "{} {:<9} {:<10} {:<18} {:<34} {:<11} {}\n",
            f.state.glyph(),
            f.state.word(),
            f.service,
            f.rule,
            reading(f, snap),
            format!("{} UTC", units::clock(f.since)),
            f.verdict.word()
        ));
    }
    if snap.stale {
        s.push_str("! data is STALE: the source did not answer; showing last-known values\n");
    }
    s
}
