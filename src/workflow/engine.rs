//! The durable step runner: a finished step's output is stored under
//! (incident, step) and never recomputed; a failing step retries with
//! exponential backoff and jitter up to its policy, then parks the incident
//! for the operator. Every change is broadcast as a [`WorkflowEvent`] and
//! appended to the journal, so the TUI and the headless CLI read one stream.
//!
//! Generic: it knows steps, not plans or agents.

use super::journal::{Journal, JournalError};
use crate::model::{Millis, Todo};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How a step is retried and bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPolicy {
    /// Attempts before giving up (≥ 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
    /// Wall-clock limit of one attempt.
    pub timeout: Duration,
}

impl Default for StepPolicy {
    fn default() -> Self {
        StepPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
        }
    }
}

impl StepPolicy {
    /// The delay before attempt `attempt + 1`: exponential, capped, with
    /// ±50% jitter from `seed` so retries from many incidents do not align.
    pub fn backoff(&self, attempt: u32, seed: u64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jitter = (splitmix(seed ^ attempt as u64) % 1000) as f64 / 1000.0; // 0..1
        capped.mul_f64(0.5 + jitter)
    }
}

/// Where a step stands, as stored in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Started, not finished (a crash leaves it here; resume runs it again).
    Running,
    /// Finished; its output is final.
    Done,
    /// Out of attempts; waits for the operator.
    Failed,
}

/// A step's journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step name.
    pub name: String,
    /// Where it stands.
    pub status: StepStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The output, once done.
    pub output: Option<serde_json::Value>,
    /// The last error.
    pub error: Option<String>,
    /// When it last changed.
    pub at: Millis,
}

/// Something that happened in a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A step began an attempt.
    StepStarted {
        /// Step name.
        step: String,
        /// 1-based attempt.
        attempt: u32,
    },
    /// A step finished (or was already finished: `replayed`).
    StepFinished {
        /// Step name.
        step: String,
        /// True when the stored output was reused, not recomputed.
        replayed: bool,
    },
    /// A step failed and will be tried again.
    StepRetrying {
        /// Step name.
        step: String,
        /// The attempt that failed.
        attempt: u32,
        /// Wait before the next one.
        delay_ms: u64,
        /// Why it failed.
        error: String,
    },
    /// A step is out of attempts: the incident needs attention.
    StepFailed {
        /// Step name.
        step: String,
        /// Why.
        error: String,
    },
    /// The plan waits for the operator's approval.
    AwaitingApproval,
    /// The agent's change is committed locally and waits for the operator's go to push.
    AwaitingPublish {
        /// What changed (`1 file(s) changed, …`).
        diff_stat: String,
    },
    /// The change touches paths the change policy holds back (CI files,
    /// hooks, symlinks, binaries, protected paths): nothing is pushed until
    /// the operator confirms them on the second screen.
    HeldBack {
        /// Each held path and why.
        held: Vec<crate::forge::policy::Held>,
    },
    /// The operator approved the plan.
    Approved {
        /// Who (the local user name).
        by: String,
    },
    /// The agent's to-do list changed (the whole list).
    Todos {
        /// The list.
        todos: Vec<Todo>,
    },
    /// A line for the log tail.
    Log {
        /// The text.
        line: String,
    },
    /// The workflow reached its end.
    Finished {
        /// What came of it (the PR link, or why nothing was needed).
        outcome: String,
    },
    /// The workflow was cancelled.
    Cancelled,
}

/// An event with the incident it belongs to and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowEvent {
    /// The incident.
    pub incident: String,
    /// When (ms since epoch).
    pub at: Millis,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A failure that cannot change on retry (a validation error, a missing
/// setting): the step fails at once and waits for the operator. Return it
/// from a step as `Err(Permanent(..).into())`.
#[derive(Debug, thiserror::Error)]
#[error("{0} (not retried: trying again cannot change it)")]
pub struct Permanent(pub String);

/// Why a step did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Out of attempts.
    #[error("step `{step}` failed after {attempts} attempt(s): {error}")]
    Exhausted {
        /// Step name.
        step: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// The step is marked failed from an earlier run; `retry` clears it.
    #[error("step `{step}` failed earlier and waits for the operator: {error}")]
    Parked {
        /// Step name.
        step: String,
        /// The stored error.
        error: String,
    },
    /// The operator cancelled the workflow.
    #[error("cancelled")]
    Cancelled,
    /// The journal failed; nothing more can be done safely.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Runs steps durably against a journal and broadcasts what happens.
#[derive(Debug, Clone)]
pub struct Engine {
    journal: Journal,
    events: broadcast::Sender<WorkflowEvent>,
    cancel: watch::Receiver<bool>,
    clock: fn() -> Millis,
}

impl Engine {
    /// An engine over `journal`; cancellation is signalled through `cancel`.
    pub fn new(journal: Journal, cancel: watch::Receiver<bool>) -> Engine {
        let (events, _) = broadcast::channel(1024);
        Engine {
            journal,
            events,
            cancel,
            clock: crate::sources::wall_now,
        }
    }

    /// The same engine (journal, event stream) with its own cancel signal:
    /// one per incident, so a cancel stops only the incident it names.
    pub fn with_cancel(&self, cancel: watch::Receiver<bool>) -> Engine {
        Engine {
            cancel,
            ..self.clone()
        }
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Listen to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkflowEvent> {
        self.events.subscribe()
    }

    /// Record and broadcast an event.
    pub fn emit(&self, incident: &str, kind: EventKind) -> Result<(), JournalError> {
        let event = WorkflowEvent {
            incident: incident.to_string(),
            at: (self.clock)(),
            kind,
        };
        self.journal.append_event(incident, &event)?;
        let _ = self.events.send(event);
        Ok(())
    }

    /// True once the operator cancelled.
    pub fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Clear a failed step so the next run tries it again.
    pub fn retry(&self, incident: &str, step: &str) -> Result<(), JournalError> {
        if let Some(mut rec) = self.journal.step::<StepRecord>(incident, step)? {
            if rec.status == StepStatus::Failed {
                rec.status = StepStatus::Running;
                rec.attempts = 0;
                self.journal.put_step(incident, step, &rec)?;
            }
        }
        Ok(())
    }

    /// Run step `name` of `incident` once-and-for-all: return its stored
    /// output if it already finished, else run `f` under `policy` and store
    /// the output before returning it.
    pub async fn step<T, F, Fut>(
        &self,
        incident: &str,
        name: &str,
        policy: StepPolicy,
        mut f: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let previous: Option<StepRecord> = self.journal.step(incident, name)?;
        let mut attempts = 0;
        if let Some(rec) = previous {
            match rec.status {
                StepStatus::Done => {
                    let output = rec.output.unwrap_or(serde_json::Value::Null);
                    let value =
                        serde_json::from_value(output).map_err(|source| JournalError::Record {
                            key: format!("{incident}/{name}"),
                            source,
                        })?;
                    self.emit(
                        incident,
                        EventKind::StepFinished {
                            step: name.to_string(),
                            replayed: true,
                        },
                    )?;
                    return Ok(value);
                }
                StepStatus::Failed => {
                    return Err(StepError::Parked {
                        step: name.to_string(),
                        error: rec.error.unwrap_or_default(),
                    })
                }
                // A crash mid-step: its attempts count towards the limit.
                StepStatus::Running => attempts = rec.attempts,
            }
        }
        loop {
            if self.cancelled() {
                return Err(StepError::Cancelled);
            }
            attempts += 1;
            let mut rec = StepRecord {
                name: name.to_string(),
                status: StepStatus::Running,
                attempts,
                output: None,
                error: None,
                at: (self.clock)(),
            };
            self.journal.put_step(incident, name, &rec)?;
            self.emit(
                incident,
                EventKind::StepStarted {
                    step: name.to_string(),
                    attempt: attempts,
                },
            )?;
            let mut cancel = self.cancel.clone();
            let result = tokio::select! {
                r = tokio::time::timeout(policy.timeout, f(attempts)) => match r {
                    Ok(r) => r,
                    Err(_) => Err(anyhow::anyhow!("timed out after {:?}", policy.timeout)),
                },
                _ = cancelled(&mut cancel) => return Err(StepError::Cancelled),
            };
            match result {
                Ok(value) => {
                    rec.status = StepStatus::Done;
                    rec.output = Some(serde_json::to_value(&value).map_err(|source| {
                        JournalError::Record {
                            key: format!("{incident}/{name}"),
                            source,
                        }
                    })?);
                    rec.at = (self.clock)();
                    self.journal.put_step(incident, name, &rec)?;
                    self.emit(
                        incident,
                        EventKind::StepFinished {
                            step: name.to_string(),
                            replayed: false,
                        },
                    )?;
                    return Ok(value);
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    let permanent = e.downcast_ref::<Permanent>().is_some();
                    if attempts >= policy.max_attempts || permanent {
                        rec.status = StepStatus::Failed;
                        rec.error = Some(error.clone());
                        rec.at = (self.clock)();
                        self.journal.put_step(incident, name, &rec)?;
                        self.emit(
                            incident,
                            EventKind::StepFailed {
                                step: name.to_string(),
                                error: error.clone(),
                            },
                        )?;
                        return Err(StepError::Exhausted {
                            step: name.to_string(),
                            attempts,
                            error,
                        });
                    }
                    let delay = policy.backoff(attempts, hash(incident, name));
                    rec.error = Some(error.clone());
                    self.journal.put_step(incident, name, &rec)?;
                    self.emit(
                        incident,
                        EventKind::StepRetrying {
                            step: name.to_string(),
                            attempt: attempts,
                            delay_ms: delay.as_millis() as u64,
                            error,
                        },
                    )?;
                    let mut cancel = self.cancel.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancelled(&mut cancel) => return Err(StepError::Cancelled),
                    }
                }
            }
        }
    }
}

/// The next event of a subscription, or `None` once the engine is gone. A
/// consumer that fell behind gets a log line saying how many events it
/// missed (the journal has them all) and goes on: a burst never ends it.
pub async fn next_event(rx: &mut broadcast::Receiver<WorkflowEvent>) -> Option<WorkflowEvent> {
    match rx.recv().await {
        Ok(e) => Some(e),
        Err(broadcast::error::RecvError::Lagged(n)) => Some(WorkflowEvent {
            incident: String::new(),
            at: crate::sources::wall_now(),
            kind: EventKind::Log {
                line: format!(
                    "{n} event line(s) skipped here (this view fell behind); the journal keeps them all"
                ),
            },
        }),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// Resolves once the operator cancels; never when the cancel's sender is
/// gone (nobody can cancel any more, which is not a cancel).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await
    }
}

fn hash(a: &str, b: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for byte in a.bytes().chain([0]).chain(b.bytes()) {
        h = (h ^ byte as u64).wrapping_mul(0x1000_0000_01b3);
    }
    h
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn engine(dir: &std::path::Path) -> (Engine, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        (Engine::new(Journal::open(dir).unwrap(), rx), tx)
    }

    fn fast() -> StepPolicy {
        StepPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_finished_step_is_never_recomputed() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        for _ in 0..2 {
            let (e, _c) = engine(dir.path());
            let calls = calls.clone();
            let v: String = e
                .step("i", "plan", fast(), move |_| {
                    let calls = calls.clone();
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Ok("the plan".to_string())
                    }
                })
                .await
                .unwrap();
            assert_eq!(v, "the plan");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_then_parks_with_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let (e, _c) = engine(dir.path());
        let mut events = e.subscribe();
        let r: Result<(), _> = e
            .step("i", "push", fast(), |n| async move {
                Err(anyhow::anyhow!("remote said no ({n})"))
            })
            .await;
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("after 3 attempt(s)") && err.contains("remote said no (3)"),
            "{err}"
        );
        let mut retries = 0;
        while let Ok(ev) = events.try_recv() {
            if matches!(ev.kind, EventKind::StepRetrying { .. }) {
                retries += 1;
            }
        }
        assert_eq!(retries, 2);
        // Parked: the next run does not silently try again.
        let r: Result<(), _> = e.step("i", "push", fast(), |_| async { Ok(()) }).await;
        assert!(matches!(r, Err(StepError::Parked { .. })));
        e.retry("i", "push").unwrap();
        let r: Result<(), _> = e.step("i", "push", fast(), |_| async { Ok(()) }).await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let (e, _c) = engine(dir.path());
        let calls = Arc::new(AtomicU32::new(0));
        let r: Result<(), _> = e
            .step("i", "plan", fast(), |_| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(Permanent(
                        "the plan cites evidence that does not exist: metric:requests".into(),
                    )
                    .into())
                }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "tried once");
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("after 1 attempt(s)") && err.contains("not retried"),
            "{err}"
        );
        let rec: StepRecord = e.journal().step("i", "plan").unwrap().unwrap();
        assert_eq!(rec.status, StepStatus::Failed);
    }

    #[tokio::test]
    async fn a_consumer_that_falls_behind_says_so_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (e, _c) = engine(dir.path());
        let mut rx = e.subscribe();
        for i in 0..1100 {
            e.emit(
                "i",
                EventKind::Log {
                    line: format!("{i}"),
                },
            )
            .unwrap();
        }
        let first = next_event(&mut rx).await.unwrap();
        match first.kind {
            EventKind::Log { line } => {
                assert!(line.starts_with("76 event line(s) skipped"), "{line}")
            }
            other => panic!("{other:?}"),
        }
        let mut seen = 0;
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(50), next_event(&mut rx)).await
        {
            assert_eq!(ev.incident, "i");
            seen += 1;
        }
        assert_eq!(seen, 1024);
        e.emit("i", EventKind::Cancelled).unwrap();
        assert_eq!(
            next_event(&mut rx).await.unwrap().kind,
            EventKind::Cancelled
        );
        assert_eq!(
            e.journal().events::<WorkflowEvent>("i").unwrap().len(),
            1101
        );
    }

    #[tokio::test]
    async fn a_cancel_stops_only_its_own_incident() {
        let dir = tempfile::tempdir().unwrap();
        let (e, _c) = engine(dir.path());
        let (cancel_a, a_rx) = watch::channel(false);
        let a = e.with_cancel(a_rx);
        let b = e.with_cancel(watch::channel(false).1);
        cancel_a.send(true).unwrap();
        let r: Result<(), _> = a.step("a", "plan", fast(), |_| async { Ok(()) }).await;
        assert!(matches!(r, Err(StepError::Cancelled)));
        let r: Result<u8, _> = b.step("b", "plan", fast(), |_| async { Ok(1) }).await;
        assert_eq!(r.unwrap(), 1);
    }

    #[tokio::test]
    async fn flaky_step_succeeds_on_a_later_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let (e, _c) = engine(dir.path());
        let v: u32 = e
            .step("i", "llm", fast(), |n| async move {
                if n < 3 {
                    anyhow::bail!("429")
                }
                Ok(n)
            })
            .await
            .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn timeouts_count_as_failures_and_cancel_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (e, cancel) = engine(dir.path());
        let policy = StepPolicy {
            max_attempts: 1,
            timeout: Duration::from_millis(20),
            ..fast()
        };
        let r: Result<(), _> = e
            .step("i", "agent", policy, |_| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().to_string().contains("timed out"));
        cancel.send(true).unwrap();
        let r: Result<(), _> = e.step("i", "other", fast(), |_| async { Ok(()) }).await;
        assert!(matches!(r, Err(StepError::Cancelled)));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = StepPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        };
        let d1 = p.backoff(1, 7);
        let d3 = p.backoff(3, 7);
        assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(150));
        assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(600));
        assert!(p.backoff(9, 7) <= Duration::from_millis(1500));
        assert_ne!(p.backoff(2, 1), p.backoff(2, 2), "jitter differs by seed");
    }
}
