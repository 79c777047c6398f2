//! The loop detector every agent runs under, builtin or external: a model
//! that repeats an identical tool call, or goes on without changing a file
//! or its to-do list, is stopped early with a reason the operator can read
//! ("the agent was looping: …") instead of burning the step cap, the wall
//! clock and the budget.
//!
//! Pure bookkeeping: the caller feeds tool calls, changed files and to-do
//! lists as the agent reports them, with the time they arrived, and stops
//! the run (the builtin loop returns, an external agent's process group is
//! killed) on the first [`Looping`]. A step cap, wall clock and token budget
//! stay in force on top.

use crate::model::{Todo, TodoStatus};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// When an agent counts as looping (`[agent] max_repeated_calls`,
/// `max_steps_without_progress`, `max_time_without_progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunawayLimits {
    /// The same tool with the same arguments this many times without
    /// progress in between stops the run (0: never).
    pub max_repeats: u32,
    /// This many steps (the builtin loop's model calls) without changing a
    /// file or the to-do list stops the run (0: never).
    pub max_idle_steps: u32,
    /// This long without changing a file or the to-do list stops the run.
    pub max_idle_time: Duration,
}

impl Default for RunawayLimits {
    /// 3 identical calls, 8 steps or 10 minutes without progress.
    fn default() -> Self {
        RunawayLimits {
            max_repeats: 3,
            max_idle_steps: 8,
            max_idle_time: Duration::from_secs(600),
        }
    }
}

impl RunawayLimits {
    /// The limits `[agent]` sets.
    pub fn from_config(config: &crate::config::AgentConfig) -> RunawayLimits {
        RunawayLimits {
            max_repeats: config.max_repeated_calls,
            max_idle_steps: config.max_steps_without_progress,
            max_idle_time: Duration::from_millis(config.max_time_without_progress.0.max(0) as u64),
        }
    }
}

/// Why the watch stopped a run; displays as "the agent was looping: …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the agent was looping: {0}")]
pub struct Looping(pub String);

/// The watch over one run.
#[derive(Debug, Clone)]
pub struct Watch {
    limits: RunawayLimits,
    /// Identical calls since the last progress, by fingerprint.
    repeats: HashMap<String, u32>,
    /// The fingerprint of the last call (what a file change came from).
    last_call: Option<String>,
    /// (path, call) pairs that changed a file: the same write again is not progress.
    writes: HashSet<(String, String)>,
    /// The to-do list as last seen.
    todos: Option<Vec<Todo>>,
    idle_steps: u32,
    last_progress: Instant,
}

impl Watch {
    /// A watch starting at `now`.
    pub fn new(limits: RunawayLimits, now: Instant) -> Watch {
        Watch {
            limits,
            repeats: HashMap::new(),
            last_call: None,
            writes: HashSet::new(),
            todos: None,
            idle_steps: 0,
            last_progress: now,
        }
    }

    /// The limits it watches with.
    pub fn limits(&self) -> RunawayLimits {
        self.limits
    }

    /// The agent called `tool` with `input`.
    pub fn call(&mut self, tool: &str, input: &Value, now: Instant) -> Result<(), Looping> {
        let fp = format!("{tool} {}", canonical(input));
        let n = self.repeats.entry(fp.clone()).or_insert(0);
        *n += 1;
        let n = *n;
        self.last_call = Some(fp);
        if self.limits.max_repeats > 0 && n >= self.limits.max_repeats {
            return Err(Looping(format!(
                "it called `{tool}` with the same arguments {n} times without changing a file \
                 or its to-do list in between ({}); `[agent] max_repeated_calls` is {}",
                short(&canonical(input)),
                self.limits.max_repeats
            )));
        }
        self.check_time(now)
    }

    /// The builtin loop asked the model once more.
    pub fn step(&mut self, now: Instant) -> Result<(), Looping> {
        self.idle_steps += 1;
        let max = self.limits.max_idle_steps;
        if max > 0 && self.idle_steps > max {
            return Err(Looping(format!(
                "{max} steps went by without changing a file or its to-do list \
                 (`[agent] max_steps_without_progress`)"
            )));
        }
        self.check_time(now)
    }

    /// A file was written. Progress unless the same call already wrote it.
    pub fn file_changed(&mut self, path: &str, now: Instant) {
        let call = self.last_call.clone().unwrap_or_default();
        if self.writes.insert((path.to_string(), call)) {
            self.progress(now);
        }
    }

    /// The agent reported its to-do list. Progress when it differs.
    pub fn todos(&mut self, list: &[Todo], now: Instant) {
        if self.todos.as_deref() != Some(list) {
            let first = self.todos.is_none();
            self.todos = Some(list.to_vec());
            // The list the run starts with is not the agent's doing.
            if !first || !list.is_empty() {
                self.progress(now);
            }
        }
    }

    /// When the run counts as looping if nothing changes before.
    pub fn deadline(&self) -> Instant {
        self.last_progress + self.limits.max_idle_time
    }

    /// Fails once the time without progress is up.
    pub fn check_time(&self, now: Instant) -> Result<(), Looping> {
        if now >= self.deadline() {
            return Err(Looping(format!(
                "nothing changed (no file, no to-do) for {}s (`[agent] max_time_without_progress`)",
                self.limits.max_idle_time.as_secs()
            )));
        }
        Ok(())
    }

    fn progress(&mut self, now: Instant) {
        self.repeats.clear();
        self.idle_steps = 0;
        self.last_progress = now;
    }
}

/// The to-do list a looping run ends with: what was left open marked
/// failed, and the reason as the last item, so the list says why it stopped.
pub fn stopped_todos(todos: &[Todo], why: &Looping) -> Vec<Todo> {
    let mut out: Vec<Todo> = todos
        .iter()
        .cloned()
        .map(|mut t| {
            if matches!(t.status, TodoStatus::Pending | TodoStatus::InProgress) {
                t.status = TodoStatus::Failed;
            }
            t
        })
        .collect();
    out.push(Todo {
        id: "stopped".into(),
        content: format!("stopped by medic: {why}"),
        status: TodoStatus::Failed,
    });
    out
}

/// JSON with object keys sorted, so the same arguments in another key order
/// are the same call.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The arguments, shortened for the reason line.
fn short(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn todo(id: &str, status: TodoStatus) -> Todo {
        Todo {
            id: id.into(),
            content: format!("do {id}"),
            status,
        }
    }

    #[test]
    fn the_third_identical_call_stops_whatever_the_key_order() {
        let t0 = Instant::now();
        let mut w = Watch::new(RunawayLimits::default(), t0);
        let a = json!({"todos": [{"id": "1", "status": "pending"}], "x": 1});
        let b = json!({"x": 1, "todos": [{"status": "pending", "id": "1"}]});
        w.call("update_todos", &a, t0).unwrap();
        w.call("update_todos", &b, t0).unwrap();
        let e = w.call("update_todos", &a, t0).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "the agent was looping: it called `update_todos` with the same arguments 3 times"
            ),
            "{e}"
        );
    }

    #[test]
    fn progress_resets_the_count_but_the_same_write_again_is_not_progress() {
        let t0 = Instant::now();
        let mut w = Watch::new(RunawayLimits::default(), t0);
        let read = json!({"path": "a.yaml"});
        let write = json!({"path": "a.yaml", "content": "x"});
        // read, edit, read, edit: real work.
        for i in 0..2 {
            w.call("read_file", &read, t0).unwrap();
            w.call("write_file", &json!({"path": "a.yaml", "content": i}), t0)
                .unwrap();
            w.file_changed("a.yaml", t0);
        }
        w.call("read_file", &read, t0).unwrap();
        // The same write over and over: the first changed the file, the
        // ones after it are no progress, and the third of those stops.
        for _ in 0..3 {
            w.call("write_file", &write, t0).unwrap();
            w.file_changed("a.yaml", t0);
        }
        assert!(w.call("write_file", &write, t0).is_err());
    }

    #[test]
    fn steps_and_time_without_progress_stop_and_a_new_todo_list_is_progress() {
        let t0 = Instant::now();
        let limits = RunawayLimits {
            max_repeats: 0,
            max_idle_steps: 3,
            max_idle_time: Duration::from_secs(60),
        };
        let mut w = Watch::new(limits, t0);
        w.todos(&[todo("s1", TodoStatus::Pending)], t0);
        for _ in 0..3 {
            w.step(t0).unwrap();
        }
        w.todos(&[todo("s1", TodoStatus::InProgress)], t0);
        for _ in 0..3 {
            w.step(t0).unwrap();
        }
        // The same list again changes nothing.
        w.todos(&[todo("s1", TodoStatus::InProgress)], t0);
        let e = w.step(t0).unwrap_err();
        assert!(e.to_string().contains("3 steps went by"), "{e}");

        let mut w = Watch::new(limits, t0);
        assert!(w.check_time(t0 + Duration::from_secs(59)).is_ok());
        w.file_changed("b.txt", t0 + Duration::from_secs(59));
        assert!(w.check_time(t0 + Duration::from_secs(100)).is_ok());
        let e = w.check_time(t0 + Duration::from_secs(119)).unwrap_err();
        assert!(e.to_string().contains("for 60s"), "{e}");
    }

    #[test]
    fn a_stopped_list_says_why() {
        let why = Looping("it called `x` 3 times".into());
        let t = stopped_todos(
            &[
                todo("s1", TodoStatus::Completed),
                todo("s2", TodoStatus::InProgress),
            ],
            &why,
        );
        assert_eq!(
            t.iter().map(|t| t.status).collect::<Vec<_>>(),
            [
                TodoStatus::Completed,
                TodoStatus::Failed,
                TodoStatus::Failed
            ]
        );
        assert!(t[2]
            .content
            .contains("the agent was looping: it called `x`"));
    }
}
