//! Running an external agent's command: in its own process group, stdout read
//! as JSON lines, the last stderr lines kept for the error message, and the
//! whole group killed on timeout or when medic is done with it.
//!
//! The drivers' parsers are pure; this is the only place that spawns.

use super::jail::{Jail, Network, Policy};
use super::lines::{BoundedLines, MAX_EVENT_LINE, MAX_STDERR_LINE};
use super::runaway::{Looping, RunawayLimits, Watch};
use super::{AgentError, AgentEvent, EventSink};
use crate::model::Todo;
use crate::triage::redact::redact_str;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::process::{Child, Command};

/// How many stderr lines an error message quotes.
const STDERR_LINES: usize = 12;
/// Longest stderr or stdout line quoted, in characters.
const QUOTE_CHARS: usize = 300;
/// Log lines forwarded per run; past it, one notice and silence.
const MAX_LOG_LINES: usize = 2_000;
/// Characters kept of an agent's closing summary (it goes in the PR body).
const MAX_SUMMARY_CHARS: usize = 8_000;
/// Changed files remembered per run.
const MAX_FILES: usize = 1_000;
/// To-do items kept from one list, and characters kept of each.
const MAX_TODOS: usize = 100;
const MAX_TODO_CHARS: usize = 500;

/// What one line of an agent's output said, once parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Said {
    /// The whole to-do list.
    Todos(Vec<Todo>),
    /// A line for the operator.
    Log(String),
    /// A file written (as the agent named it: absolute or relative).
    FileChanged(String),
    /// The model's prose (the last one is the summary).
    Text(String),
    /// The agent reported a failure.
    Error(String),
    /// The agent says it is done, with its own summary if it gave one.
    Done(Option<String>),
    /// The agent called a tool (what the loop detector watches).
    ToolCall {
        /// The tool, as the agent names it.
        name: String,
        /// Its arguments.
        input: serde_json::Value,
    },
}

/// A command to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    /// How it is confined (see [`super::jail`]).
    pub(crate) sandbox: Policy,
}

impl Spec {
    /// The command line as an operator would type it (the prompt elided).
    pub(crate) fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            if a.len() > 60 || a.contains('\n') {
                s.push_str(" <prompt>");
            } else {
                s.push(' ');
                s.push_str(a);
            }
        }
        s
    }

    /// Starts it inside its sandbox (with the network: it must reach its
    /// model), in its own process group, stdin closed, stdout and stderr piped.
    pub(crate) fn spawn(&self) -> Result<Child, AgentError> {
        // Inside bubblewrap a missing program is bwrap's exit 1: say it here.
        if !super::jail::exists(&self.program) {
            return Err(AgentError::Spawn {
                command: self.display(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("`{}` is not an executable file or on PATH", self.program),
                ),
            });
        }
        let mut jail = Jail::new(&self.sandbox, &self.cwd, Network::Shared)?;
        jail.bind_program(&self.program);
        let mut cmd = jail.command(&self.program, &self.args, &self.env);
        cmd.spawn().map_err(|source| AgentError::Spawn {
            command: self.display(),
            source,
        })
    }
}

/// Tells the operator what starts, and warns in red when it runs unconfined.
pub(crate) fn starting(spec: &Spec, kind: &str, sink: EventSink<'_>) {
    if let Some(w) = super::jail::policy_warning(spec.sandbox.mode, kind) {
        sink(AgentEvent::Log(w));
    }
    sink(AgentEvent::Log(format!("starting {}", spec.display())));
}

/// The last lines a process wrote on stderr, redacted and truncated.
#[derive(Debug, Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    /// Reads `stderr` to its end in the background.
    pub(crate) fn collect(stderr: impl AsyncRead + Unpin + Send + 'static) -> StderrTail {
        let tail = StderrTail::default();
        let lines = tail.0.clone();
        tokio::spawn(async move {
            let mut reader = BoundedLines::new(stderr, MAX_STDERR_LINE);
            while let Ok(Some(line)) = reader.next_line().await {
                let line = line.text;
                if line.trim().is_empty() {
                    continue;
                }
                let mut l = lines.lock().unwrap_or_else(|e| e.into_inner());
                if l.len() == STDERR_LINES {
                    l.pop_front();
                }
                l.push_back(quote(&line));
            }
        });
        tail
    }

    /// The lines so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// A line fit for an error message: redacted, truncated.
pub(crate) fn quote(line: &str) -> String {
    let line = redact_str(line.trim_end());
    if line.chars().count() > QUOTE_CHARS {
        let cut: String = line.chars().take(QUOTE_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Kills a process group when dropped: a run abandoned half-way (the
/// workflow's own timeout, medic cancelling) must not leave the agent's
/// children behind.
pub(crate) struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Guards the group `child` leads.
    pub(crate) fn new(child: &Child) -> GroupGuard {
        GroupGuard(child.id())
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Kills the process group led by `child` (the agent and everything it started).
pub(crate) async fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // Without unsafe code there is no killpg; the `kill` utility does it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.kill().await;
}

/// What a JSON-lines run ended with.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    pub(crate) summary: Option<String>,
    pub(crate) last_text: Option<String>,
    /// Prose not logged yet (it may be the summary).
    pub(crate) unsaid: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) todos: Vec<Todo>,
    pub(crate) files: Vec<String>,
    /// Log lines forwarded so far.
    pub(crate) logs: usize,
    /// The loop detector, when the run is watched.
    pub(crate) watch: Option<Watch>,
    /// What the detector found; the caller stops the run.
    pub(crate) looping: Option<Looping>,
}

impl Ending {
    /// An ending whose run the loop detector watches from now on.
    pub(crate) fn watched(limits: RunawayLimits) -> Ending {
        Ending {
            watch: Some(Watch::new(limits, std::time::Instant::now())),
            ..Ending::default()
        }
    }

    /// When the run counts as looping if nothing changes before (far away
    /// when unwatched).
    pub(crate) fn deadline(&self) -> tokio::time::Instant {
        match &self.watch {
            Some(w) => tokio::time::Instant::from_std(w.deadline()),
            None => tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600),
        }
    }

    /// The detector's verdict once its deadline passed.
    pub(crate) fn timed_out(&self) -> Option<Looping> {
        self.watch
            .as_ref()
            .and_then(|w| w.check_time(std::time::Instant::now()).err())
    }
}

/// Ends a looping run's report: the to-do list says why (open items
/// failed, the reason last), and the error carries the reason.
pub(crate) fn looped(why: Looping, ending: &Ending, sink: EventSink<'_>) -> AgentError {
    sink(AgentEvent::Todos(super::runaway::stopped_todos(
        &ending.todos,
        &why,
    )));
    AgentError::Looping(why)
}

/// Forwards what a line said to the sink, keeping what the ending needs.
pub(crate) fn forward(said: Said, checkout: &Path, ending: &mut Ending, sink: EventSink<'_>) {
    // The model's prose is logged once something follows it; the last of it
    // is the summary, shown by `Finished` (not twice).
    // What an agent prints is bounded: so many log lines, each quoted.
    let mut log = |ending: &mut Ending, line: String| {
        ending.logs += 1;
        if ending.logs < MAX_LOG_LINES {
            sink(AgentEvent::Log(quote(&line)));
        } else if ending.logs == MAX_LOG_LINES {
            sink(AgentEvent::Log(format!(
                "… more than {MAX_LOG_LINES} log lines; the rest are not shown"
            )));
        }
    };
    if let Said::ToolCall { name, input } = &said {
        if let Some(w) = &mut ending.watch {
            if let Err(e) = w.call(name, input, std::time::Instant::now()) {
                ending.looping.get_or_insert(e);
            }
        }
        return;
    }
    if !matches!(said, Said::Text(_) | Said::Done(_)) {
        if let Some(t) = ending.unsaid.take() {
            log(ending, t);
        }
    }
    match said {
        Said::ToolCall { .. } => {}
        Said::Todos(t) => {
            let t: Vec<Todo> = t
                .into_iter()
                .take(MAX_TODOS)
                .map(|mut t| {
                    if t.content.chars().count() > MAX_TODO_CHARS {
                        t.content =
                            t.content.chars().take(MAX_TODO_CHARS).collect::<String>() + "…";
                    }
                    t
                })
                .collect();
            if let Some(w) = &mut ending.watch {
                w.todos(&t, std::time::Instant::now());
            }
            if t != ending.todos {
                ending.todos = t.clone();
                sink(AgentEvent::Todos(t));
            }
        }
        Said::Log(l) => log(ending, l),
        Said::FileChanged(f) => {
            let rel = relative(checkout, &f);
            if let Some(w) = &mut ending.watch {
                w.file_changed(&rel, std::time::Instant::now());
            }
            if !ending.files.contains(&rel) {
                if ending.files.len() >= MAX_FILES {
                    return;
                }
                ending.files.push(rel.clone());
            }
            sink(AgentEvent::FileChanged(quote(&rel)));
        }
        Said::Text(t) => {
            let t = t.trim().to_string();
            if !t.is_empty() {
                if let Some(prev) = ending.unsaid.replace(t.clone()) {
                    log(ending, prev);
                }
                ending.last_text = Some(t);
            }
        }
        Said::Error(e) => {
            log(ending, format!("agent error: {e}"));
            ending.error = Some(e);
        }
        Said::Done(s) => ending.summary = s.or(ending.summary.take()),
    }
}

/// `path` relative to the checkout, `/`-separated, when it is inside it.
pub(crate) fn relative(checkout: &Path, path: &str) -> String {
    let p = Path::new(path);
    let roots = [
        checkout.to_path_buf(),
        checkout.canonicalize().unwrap_or_default(),
    ];
    for root in roots.iter().filter(|r| !r.as_os_str().is_empty()) {
        if let Ok(rel) = p.strip_prefix(root) {
            return rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
        }
    }
    path.trim_start_matches("./").to_string()
}

/// Why reading an agent's output stopped early.
enum Halt {
    /// A line that is not its event stream (or the stream broke).
    Garbled(String),
    /// The loop detector's verdict.
    Looping(Looping),
}

/// Runs `spec` to its end or the limit, feeding each stdout line to `parse`.
/// A line `parse` rejects kills the agent: its output can no longer be trusted.
/// The loop detector watches the run with `runaway`; a looping agent's
/// process group is killed.
pub(crate) async fn run_json_lines(
    spec: &Spec,
    limit: Duration,
    runaway: RunawayLimits,
    checkout: &Path,
    parse: &mut (dyn FnMut(&str) -> Result<Vec<Said>, String> + Send),
    sink: EventSink<'_>,
) -> Result<Ending, AgentError> {
    let mut child = spec.spawn()?;
    let _group = GroupGuard::new(&child);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = StderrTail::collect(child.stderr.take().expect("stderr is piped"));
    let mut ending = Ending::watched(runaway);
    let work = async {
        let mut lines = BoundedLines::new(stdout, MAX_EVENT_LINE);
        loop {
            let next = tokio::select! {
                next = lines.next_line() => next,
                _ = tokio::time::sleep_until(ending.deadline()) => {
                    match ending.timed_out() {
                        Some(why) => break Err(Halt::Looping(why)),
                        None => continue,
                    }
                }
            };
            let line = match next {
                Ok(Some(l)) if l.cut > 0 => {
                    // Not parsed (its head is not JSON on its own), not kept.
                    let note = format!(
                        "skipped an output line of {} bytes (more than {MAX_EVENT_LINE})",
                        l.text.len() + l.cut
                    );
                    forward(Said::Log(note), checkout, &mut ending, &mut *sink);
                    continue;
                }
                Ok(Some(l)) => l.text,
                Ok(None) => break Ok(()),
                Err(e) => break Err(Halt::Garbled(format!("reading its output: {e}"))),
            };
            if line.trim().is_empty() {
                continue;
            }
            match parse(&line) {
                Ok(said) => {
                    for s in said {
                        forward(s, checkout, &mut ending, &mut *sink);
                    }
                    if let Some(why) = ending.looping.take() {
                        break Err(Halt::Looping(why));
                    }
                }
                Err(_) => break Err(Halt::Garbled(line)),
            }
        }
    };
    let outcome = tokio::time::timeout(limit, work).await;
    let garbled = match outcome {
        Err(_) => {
            kill_group(&mut child).await;
            return Err(AgentError::Timeout {
                seconds: limit.as_secs(),
            });
        }
        Ok(r) => r.err(),
    };
    let garbled = match garbled {
        Some(Halt::Looping(why)) => {
            kill_group(&mut child).await;
            return Err(looped(why, &ending, sink));
        }
        Some(Halt::Garbled(line)) => Some(line),
        None => None,
    };
    if let Some(line) = garbled {
        kill_group(&mut child).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Err(AgentError::Garbled {
            command: spec.display(),
            line: quote(&line),
            stderr: stderr.lines(),
        });
    }
    // Stdout closed: the agent is exiting. Give it a moment, then make sure.
    let status = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(s)) => Some(s),
        _ => None,
    };
    kill_group(&mut child).await;
    // Let the stderr reader drain what the process wrote last.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let failed = match status {
        Some(s) if s.success() => None,
        Some(s) => Some(format!("it exited with {s}")),
        None => Some("it closed its output but did not exit".into()),
    };
    if let Some(reason) = failed.or_else(|| ending.error.clone()) {
        let reason = match &ending.error {
            Some(e) if !reason.contains(e.as_str()) => format!("{reason} ({})", quote(e)),
            _ => reason,
        };
        return Err(AgentError::Died {
            command: spec.display(),
            reason,
            stderr: stderr.lines(),
        });
    }
    Ok(ending)
}

/// The report and the final event for a run that ended well.
pub(crate) fn finish(ending: Ending, agent: &str, sink: EventSink<'_>) -> super::AgentReport {
    if let Some(t) = &ending.unsaid {
        if ending
            .summary
            .as_ref()
            .is_some_and(|s| s.trim() != t.trim())
        {
            sink(AgentEvent::Log(quote(t)));
        }
    }
    let summary = ending
        .summary
        .or(ending.last_text)
        .map(|s| {
            let s = redact_str(&s);
            if s.chars().count() > MAX_SUMMARY_CHARS {
                s.chars().take(MAX_SUMMARY_CHARS).collect::<String>() + "…"
            } else {
                s
            }
        })
        .unwrap_or_else(|| format!("{agent} finished without a summary"));
    sink(AgentEvent::Finished {
        summary: summary.clone(),
    });
    super::AgentReport {
        summary,
        todos: ending.todos,
        changes: ending
            .files
            .iter()
            .map(|f| format!("`{f}`: edited by {agent}"))
            .collect(),
    }
}

/// Sends [`AgentEvent::Failed`] for an error and hands the error back.
pub(crate) fn failed(e: AgentError, sink: EventSink<'_>) -> AgentError {
    sink(AgentEvent::Failed {
        error: e.to_string(),
    });
    e
}

/// A to-do status as the agents spell it.
pub(crate) fn todo_status(s: &str) -> crate::model::TodoStatus {
    use crate::model::TodoStatus;
    match s {
        "in_progress" | "in-progress" | "active" => TodoStatus::InProgress,
        "completed" | "done" => TodoStatus::Completed,
        "cancelled" | "canceled" | "deleted" => TodoStatus::Cancelled,
        "failed" => TodoStatus::Failed,
        _ => TodoStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_to_the_checkout() {
        let root = Path::new("/work/co");
        assert_eq!(relative(root, "/work/co/k8s/api.yaml"), "k8s/api.yaml");
        assert_eq!(relative(root, "./k8s/api.yaml"), "k8s/api.yaml");
        assert_eq!(relative(root, "/etc/passwd"), "/etc/passwd");
    }

    #[test]
    fn prose_is_logged_once_and_the_last_is_the_summary() {
        let mut events = Vec::new();
        let mut sink = |e: AgentEvent| events.push(e);
        let mut ending = Ending::default();
        let root = Path::new("/co");
        for said in [
            Said::Text("Looking at the manifest.".into()),
            Said::FileChanged("/co/a.yaml".into()),
            Said::Text("Raised it.".into()),
            Said::Done(Some("Raised it.".into())),
        ] {
            forward(said, root, &mut ending, &mut sink);
        }
        let report = finish(ending, "test", &mut sink);
        assert_eq!(report.summary, "Raised it.");
        assert_eq!(
            events,
            [
                AgentEvent::Log("Looking at the manifest.".into()),
                AgentEvent::FileChanged("a.yaml".into()),
                AgentEvent::Finished {
                    summary: "Raised it.".into()
                },
            ]
        );
    }

    #[test]
    fn what_an_agent_prints_is_bounded_in_count_and_length() {
        let mut events = Vec::new();
        let mut sink = |e: AgentEvent| events.push(e);
        let mut ending = Ending::default();
        let root = Path::new("/co");
        for i in 0..MAX_LOG_LINES + 500 {
            forward(
                Said::Log(format!("{i} {}", "x".repeat(10_000))),
                root,
                &mut ending,
                &mut sink,
            );
        }
        for i in 0..MAX_FILES + 10 {
            forward(
                Said::FileChanged(format!("/co/f{i}")),
                root,
                &mut ending,
                &mut sink,
            );
        }
        let many: Vec<Todo> = (0..1000)
            .map(|i| Todo {
                id: i.to_string(),
                content: "y".repeat(5_000),
                status: crate::model::TodoStatus::Pending,
            })
            .collect();
        forward(Said::Todos(many), root, &mut ending, &mut sink);
        forward(
            Said::Done(Some("z".repeat(100_000))),
            root,
            &mut ending,
            &mut sink,
        );
        let report = finish(ending, "test", &mut sink);
        let logs = events
            .iter()
            .filter(|e| matches!(e, AgentEvent::Log(_)))
            .count();
        assert_eq!(logs, MAX_LOG_LINES);
        assert!(events.iter().all(|e| match e {
            AgentEvent::Log(l) | AgentEvent::FileChanged(l) => l.chars().count() <= QUOTE_CHARS + 1,
            _ => true,
        }));
        assert_eq!(report.changes.len(), MAX_FILES);
        assert_eq!(report.todos.len(), MAX_TODOS);
        assert!(report
            .todos
            .iter()
            .all(|t| t.content.chars().count() <= MAX_TODO_CHARS + 1));
        assert!(report.summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
    }

    #[test]
    fn quotes_are_redacted_and_short() {
        let q = quote(&format!(
            "token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB {}",
            "x".repeat(500)
        ));
        assert!(q.contains("[REDACTED:") && !q.contains("ghp_0123"));
        assert!(q.chars().count() <= QUOTE_CHARS + 1);
    }
}
