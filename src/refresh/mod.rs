//! One refresh pipeline: source → detect → triage, below the commands and
//! the TUI. `scan`, `fix`, the TUI's collector and the workflow's evidence
//! step all read the fleet through it, so what they flag cannot drift apart.
//!
//! Triage is the costly part (logs, a backtest per flag): it runs for flags
//! that are new or changed since the last refresh; the others keep the
//! verdict and evidence they were given. Fetching is incremental
//! ([`window`]): after the first full fetch only the newest points are asked
//! for. This room never prints or draws.

pub mod window;

use crate::detect::rules::Rule;
use crate::detect::Detector;
use crate::model::Verdict;
use crate::model::{AlertState, Evidence, Flag, FleetSnapshot, Millis, ServiceId, Transition};
use crate::sources::evidence::{EvidenceSource, EvidenceSources};
use crate::sources::prometheus::Grid;
use crate::sources::{Source, SourceError};
use crate::triage::{self, ProjectWide};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A verdict older than this (source time) is judged again even if its flag
/// did not change: logs and the fleet around it move on.
pub const REJUDGE_AFTER: Millis = 5 * 60_000;

/// The detector over refreshes, and the verdicts already given.
#[derive(Debug, Clone)]
pub struct Pipeline {
    detector: Detector,
    judged: HashMap<(ServiceId, String), Judged>,
    project: Option<ProjectWide>,
    platform: bool,
    /// The last good window, slid along by incremental refreshes.
    window: Option<Arc<FleetSnapshot>>,
    /// The last answer when it was last-known values (the source is down).
    stale: Option<Arc<FleetSnapshot>>,
    fetches: Fetches,
}

/// How the source was asked so far (to see that refreshes are incremental).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetches {
    /// Whole-window fetches (the first, and every fall-back).
    pub full: usize,
    /// Fetches of only the newest points.
    pub incremental: usize,
    /// Refreshes with nothing new since the last (no request at all).
    pub skipped: usize,
}

/// A verdict given to one episode of (service, rule).
#[derive(Debug, Clone)]
struct Judged {
    /// The flag's (state, since, onset) when it was judged.
    episode: (AlertState, Millis, Millis),
    /// The snapshot instant it was judged at.
    at: Millis,
    verdict: Verdict,
    reason: String,
    evidence: Evidence,
}

/// A snapshot run through the detector.
#[derive(Debug, Clone)]
pub struct Detected {
    /// What the source answered (shared with the pipeline's window).
    pub snap: Arc<FleetSnapshot>,
    /// The state changes this snapshot caused, oldest first.
    pub changes: Vec<Transition>,
    /// Flags as of the snapshot (verdict still the detector's `actionable`).
    pub flags: Vec<Flag>,
}

/// What one refresh produced: flags with their verdicts and evidence.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// What the source answered (shared with the pipeline's window: drop it
    /// before the next refresh, or that refresh copies the window).
    pub snap: Arc<FleetSnapshot>,
    /// The state changes this refresh caused, oldest first.
    pub changes: Vec<Transition>,
    /// Flags, worst first, judged (open ones) or in the detector's words (resolved).
    pub flags: Vec<Flag>,
    /// The evidence of every open flag, in the order of `flags`.
    pub evidence: Vec<Evidence>,
    /// How many flags triage ran for in this refresh (new or changed ones).
    pub judged: usize,
}

impl Pipeline {
    /// A pipeline for these rules, with no history yet.
    pub fn new(rules: Vec<Rule>) -> Pipeline {
        Pipeline {
            detector: Detector::new(rules),
            judged: HashMap::new(),
            project: None,
            platform: false,
            window: None,
            stale: None,
            fetches: Fetches::default(),
        }
    }

    /// How the source was asked so far.
    pub fn fetches(&self) -> Fetches {
        self.fetches
    }

    /// The last snapshot refreshed (last-known values when the source is down).
    pub fn last(&self) -> Option<Arc<FleetSnapshot>> {
        self.stale.as_ref().or(self.window.as_ref()).cloned()
    }

    /// Remember an answer: a good one is the window the next refresh slides.
    fn keep(&mut self, snap: &Arc<FleetSnapshot>) {
        if snap.stale {
            self.stale = Some(snap.clone());
        } else {
            self.window = Some(snap.clone());
            self.stale = None;
        }
    }

    /// Every service's metrics over `(now - lookback, now]`: the first time
    /// (and whenever the newest points do not line up) a full fetch; after
    /// that only the points since the window's settled end.
    pub async fn fetch_at(
        &mut self,
        source: &mut Source,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Result<Arc<FleetSnapshot>, SourceError> {
        let grid = Grid::window(now, lookback, step);
        if let Some(held) = self.window.as_mut() {
            match window::next_start(held, &grid) {
                Some(None) => {
                    self.fetches.skipped += 1;
                    self.stale = None;
                    return Ok(held.clone());
                }
                Some(Some(from)) => {
                    if let Ok(delta) = source.range(from, now, step).await {
                        // Copies the window only if a consumer still holds the last one.
                        let slid = Arc::make_mut(held);
                        if window::slide(slid, &delta, &grid) {
                            slid.at = now;
                            self.fetches.incremental += 1;
                            self.stale = None;
                            return Ok(held.clone());
                        }
                    }
                }
                None => {}
            }
        }
        let held = self.window.take();
        let mut snap = Arc::new(source.latest(now, lookback, step).await?);
        // The source's last-known values are its last full fetch; the
        // window slid on since: that is what was last known.
        if let (true, Some(held)) = (snap.stale, held) {
            snap = Arc::new(FleetSnapshot {
                stale: true,
                ..(*held).clone()
            });
        }
        self.fetches.full += 1;
        self.keep(&snap);
        Ok(snap)
    }

    /// The detector, with every snapshot so far ingested.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Ask `source` for `(now - lookback, now]` and run it through the detector.
    pub async fn detect_at(
        &mut self,
        source: &mut Source,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Result<Detected, SourceError> {
        let snap = self.fetch_at(source, now, lookback, step).await?;
        Ok(self.detect_shared(snap))
    }

    /// Run a snapshot through the detector.
    /// A snapshot fetched elsewhere becomes the window the next refresh slides.
    pub fn detect(&mut self, snap: FleetSnapshot) -> Detected {
        let snap = Arc::new(snap);
        self.keep(&snap);
        self.detect_shared(snap)
    }

    fn detect_shared(&mut self, snap: Arc<FleetSnapshot>) -> Detected {
        let changes = self.detector.ingest(&snap);
        let flags = self.detector.flags(&snap);
        Detected {
            snap,
            changes,
            flags,
        }
    }

    /// Give every open flag (the detector's and `extra`, e.g. Alertmanager's)
    /// its verdict and evidence; triage runs only for flags that are new,
    /// changed, or judged more than [`REJUDGE_AFTER`] ago, and for all of
    /// them when the project-wide evidence or the platform picture changed.
    pub async fn judge<S: EvidenceSource>(
        &mut self,
        evidence: &S,
        detected: Detected,
        extra: Vec<Flag>,
    ) -> Refreshed {
        let Detected {
            snap,
            changes,
            mut flags,
        } = detected;
        flags.extend(extra);
        let open = |f: &Flag| f.state != AlertState::Resolved;
        if !flags.iter().any(open) {
            self.judged.clear();
            return Refreshed {
                snap,
                changes,
                flags,
                evidence: Vec::new(),
                judged: 0,
            };
        }
        // Deploys and upstream status once per refresh: a change there can
        // change any verdict, so everything is judged again.
        let project = ProjectWide::fetch(evidence, snap.at).await;
        let platform = platform_picture(&flags, snap.services.len());
        let everything = self.project.as_ref() != Some(&project) || platform != self.platform;
        let all = flags.clone();
        let index = snap.index();
        let mut bundles = Vec::new();
        let mut judged = 0;
        let mut current: HashSet<(ServiceId, String)> = HashSet::new();
        for flag in flags.iter_mut().filter(|f| open(f)) {
            let key = (flag.service.clone(), flag.rule.clone());
            let episode = (flag.state, flag.since, flag.onset);
            let kept = self.judged.get(&key).filter(|j| {
                !everything
                    && j.episode == episode
                    && (0..REJUDGE_AFTER).contains(&(snap.at - j.at))
            });
            match kept {
                Some(j) => {
                    flag.verdict = j.verdict;
                    flag.reason = j.reason.clone();
                    bundles.push(j.evidence.clone());
                }
                None => {
                    let metrics = index.get(&flag.service).copied();
                    let (evidence_bundle, _, judgement) = triage::assess_with(
                        evidence,
                        &project,
                        &snap,
                        metrics,
                        &self.detector,
                        &all,
                        flag,
                    )
                    .await;
                    flag.verdict = judgement.verdict;
                    flag.reason = judgement.reason();
                    judged += 1;
                    self.judged.insert(
                        key.clone(),
                        Judged {
                            episode,
                            at: snap.at,
                            verdict: flag.verdict,
                            reason: flag.reason.clone(),
                            evidence: evidence_bundle.clone(),
                        },
                    );
                    bundles.push(evidence_bundle);
                }
            }
            current.insert(key);
        }
        drop(index);
        // Verdicts of flags that closed or went away are forgotten.
        self.judged.retain(|k, _| current.contains(k));
        self.project = Some(project);
        self.platform = platform;
        Refreshed {
            snap,
            changes,
            flags,
            evidence: bundles,
            judged,
        }
    }

    /// [`Pipeline::detect`] then [`Pipeline::judge`].
    pub async fn update<S: EvidenceSource>(
        &mut self,
        evidence: &S,
        snap: FleetSnapshot,
        extra: Vec<Flag>,
    ) -> Refreshed {
        let detected = self.detect(snap);
        self.judge(evidence, detected, extra).await
    }

    /// One whole refresh: ask the source for the window ending at its now,
    /// detect, and judge with `evidence` beside the source.
    pub async fn refresh(
        &mut self,
        source: &mut Source,
        evidence: &EvidenceSources,
        lookback: Millis,
        step: Millis,
        extra: Vec<Flag>,
    ) -> Result<Refreshed, SourceError> {
        let now = source.now();
        let detected = self.detect_at(source, now, lookback, step).await?;
        Ok(self.judge(&evidence.beside(source), detected, extra).await)
    }
}

/// Could the platform verdict apply: most of the fleet flagged at once?
/// (The same share `triage::verdict` uses; when it flips, every flag is
/// judged again, so no verdict says "this service" during a platform outage.)
fn platform_picture(flags: &[Flag], fleet: usize) -> bool {
    let flagged: HashSet<&ServiceId> = flags
        .iter()
        .filter(|f| f.state != AlertState::Resolved)
        .map(|f| &f.service)
        .collect();
    let others = flagged.len().saturating_sub(1);
    let rest = fleet.saturating_sub(1).max(1);
    others >= 3 && others as f64 / rest as f64 >= triage::verdict::PLATFORM_SHARE
}

#[cfg(test)]
mod tests;
