//! OpenCode (<https://opencode.ai>), tested with 1.18.33, in two modes:
//!
//! - `run`: `opencode run --format json`, one JSON object per line
//!   (`step_start`, `tool_use`, `text`, `step_finish`, `error`); the to-do
//!   list is the input of `tool_use` parts whose tool is `todowrite`.
//! - `serve`: `opencode serve` on a loopback port it picks and prints, then
//!   `POST /session`, `POST /session/:id/prompt_async` and the `GET /event`
//!   stream (`todo.updated`, `permission.asked`, `session.idle`,
//!   `session.error`), with `GET /session/:id/todo`, `GET /permission` and
//!   `GET /session/status` polled as well, because the event stream has broken
//!   in several releases.
//!
//! medic's permissions go in `OPENCODE_CONFIG_CONTENT` (the highest layer a
//! user can set, above the project's `opencode.json`), so no file is written
//! into the checkout and nothing of medic's ends up in the pull request. Every
//! permission is `allow` or `deny`, never `ask`: nobody is there to answer.
//! OpenCode runs in medic's sandbox with a private HOME, so the user's
//! `~/.config/opencode` is not read: providers come in the user's own
//! `OPENCODE_CONFIG_CONTENT` (merged under medic's permissions) and keys
//! through `[agent] pass_env`.

mod serve;

use super::jail::Policy;
use super::process::{self, Said, Spec, StderrTail};
use super::{AgentError, AgentFuture, AgentReport, CodingAgent, EventSink, Task};
use crate::config::AgentConfig;
use crate::model::Todo;
use serde_json::{json, Value};
use serve::Session;
use std::path::Path;

/// How medic talks to OpenCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `opencode run --format json` (JSON lines on stdout).
    Run,
    /// `opencode serve` over HTTP.
    Serve,
}

/// The OpenCode driver.
#[derive(Debug, Clone)]
pub struct OpenCode {
    /// The executable.
    pub command: String,
    /// `provider/model`, handed to `-m` as is.
    pub model: Option<String>,
    /// Run or serve.
    pub mode: Mode,
    /// Extra arguments after the subcommand (`--pure`, `--log-level`).
    pub args: Vec<String>,
    /// Extra environment for the process.
    pub env: Vec<(String, String)>,
    /// How its process is confined (`[agent] sandbox`, `pass_env`).
    pub sandbox: Policy,
    /// Serve mode: listen to `GET /event` (off: rely on the polls alone).
    pub event_stream: bool,
}

/// The operator's variables its own config needs inside the sandbox (its
/// model's key and endpoint); `[agent] pass_env` adds more.
const OPENCODE_ENV: &[&str] = &["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"];

impl OpenCode {
    /// The driver `[agent]` describes, in `run` mode.
    pub fn from_config(config: &AgentConfig) -> OpenCode {
        OpenCode {
            command: config.command.clone().unwrap_or_else(|| "opencode".into()),
            model: config.model.clone(),
            mode: Mode::Run,
            args: Vec::new(),
            env: Vec::new(),
            sandbox: Policy::from_config(config, OPENCODE_ENV),
            event_stream: true,
        }
    }

    fn spec(&self, args: Vec<String>, checkout: &Path) -> Spec {
        // The user's inline config (the driver's, else medic's environment):
        // inside the sandbox it is the only config OpenCode sees, so it is
        // where providers go. medic's permissions always sit on top.
        const KEY: &str = "OPENCODE_CONFIG_CONTENT";
        let user = self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == KEY)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(KEY).ok());
        let mut env = vec![(KEY.to_string(), config_content(user.as_deref()))];
        env.extend(self.env.iter().filter(|(k, _)| k != KEY).cloned());
        Spec {
            program: self.command.clone(),
            args,
            env,
            cwd: checkout.to_path_buf(),
            sandbox: self.sandbox.clone(),
        }
    }

    async fn run_mode(
        &self,
        task: &Task,
        checkout: &Path,
        sink: EventSink<'_>,
    ) -> Result<AgentReport, AgentError> {
        // Its errors on stdout say only "Unexpected server error"; the log says which.
        let mut args: Vec<String> = [
            "run",
            "--format",
            "json",
            "--print-logs",
            "--log-level",
            "ERROR",
        ]
        .map(String::from)
        .to_vec();
        args.extend(self.args.iter().cloned());
        if let Some(m) = &self.model {
            args.extend(["-m".into(), m.clone()]);
        }
        args.push(task.prompt.clone());
        let spec = self.spec(args, checkout);
        process::starting(&spec, "opencode", &mut *sink);
        let ending = process::run_json_lines(
            &spec,
            task.time_limit,
            task.runaway,
            checkout,
            &mut |l| parse_run_line(l),
            &mut *sink,
        )
        .await?;
        Ok(process::finish(ending, "opencode", sink))
    }

    async fn serve_mode(
        &self,
        task: &Task,
        checkout: &Path,
        sink: EventSink<'_>,
    ) -> Result<AgentReport, AgentError> {
        let mut args = vec![
            "serve".to_string(),
            "--port".into(),
            "0".into(),
            "--hostname".into(),
            "127.0.0.1".into(),
        ];
        args.extend(self.args.iter().cloned());
        let spec = self.spec(args, checkout);
        process::starting(&spec, "opencode", &mut *sink);
        let mut child = spec.spawn()?;
        let _group = process::GroupGuard::new(&child);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = StderrTail::collect(child.stderr.take().expect("stderr is piped"));
        let session = Session {
            spec: &spec,
            stderr: &stderr,
            model: self.model.as_deref(),
            event_stream: self.event_stream,
        };
        let outcome = tokio::time::timeout(
            task.time_limit,
            session.drive(stdout, task, checkout, &mut *sink),
        )
        .await;
        process::kill_group(&mut child).await;
        match outcome {
            Err(_) => Err(AgentError::Timeout {
                seconds: task.time_limit.as_secs(),
            }),
            Ok(r) => r.map(|ending| process::finish(ending, "opencode", sink)),
        }
    }
}

impl CodingAgent for OpenCode {
    fn kind(&self) -> &'static str {
        "opencode"
    }

    fn run<'a>(
        &'a self,
        task: &'a Task,
        checkout: &'a Path,
        sink: EventSink<'a>,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            sink(super::AgentEvent::Todos(task.todos.clone()));
            let r = match self.mode {
                Mode::Run => self.run_mode(task, checkout, &mut *sink).await,
                Mode::Serve => self.serve_mode(task, checkout, &mut *sink).await,
            };
            r.map_err(|e| process::failed(e, sink))
        })
    }
}

/// medic's permission rules: edit and read inside the project, keep a to-do
/// list, look at git; everything else denied. Never `ask`.
fn permissions() -> Value {
    json!({
        "*": "deny",
        "read": "allow",
        "edit": "allow",
        "glob": "allow",
        "grep": "allow",
        "list": "allow",
        "todowrite": "allow",
        "todoread": "allow",
        "bash": {"*": "deny", "git status*": "allow", "git diff*": "allow", "git log*": "allow", "ls*": "allow"},
        "external_directory": "deny",
        "webfetch": "deny",
        "websearch": "deny",
        "task": "deny",
    })
}

/// `OPENCODE_CONFIG_CONTENT`: the user's own (if it is JSON) with medic's permissions on top.
fn config_content(user: Option<&str>) -> String {
    let mut base = user
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    base["permission"] = permissions();
    base.to_string()
}

/// Whether medic's rules allow a permission OpenCode asks about anyway.
fn allowed(permission: &str) -> bool {
    permissions().get(permission).and_then(Value::as_str) == Some("allow")
}

/// One line of `opencode run --format json`.
pub(crate) fn parse_run_line(line: &str) -> Result<Vec<Said>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        return Err("no type".into());
    };
    let part = &v["part"];
    Ok(match kind {
        "tool_use" => tool_part(part),
        "text" => part["text"]
            .as_str()
            .map(|t| vec![Said::Text(t.into())])
            .unwrap_or_default(),
        "error" => vec![Said::Error(error_message(&v["error"]))],
        _ => Vec::new(),
    })
}

/// What a tool part says, once the tool has run.
fn tool_part(part: &Value) -> Vec<Said> {
    let tool = part["tool"].as_str().unwrap_or("tool");
    let state = &part["state"];
    // A finished call, failed or not, is what the loop detector watches.
    let call = Said::ToolCall {
        name: tool.into(),
        input: state["input"].clone(),
    };
    match state["status"].as_str() {
        Some("completed") => {}
        Some("error") => {
            return vec![
                call,
                Said::Log(format!(
                    "{tool} failed: {}",
                    process::quote(state["error"].as_str().unwrap_or("?"))
                )),
            ]
        }
        _ => return Vec::new(),
    }
    let mut said = vec![call];
    said.extend(match tool {
        "todowrite" => vec![Said::Todos(todos(&state["input"]["todos"]))],
        "edit" | "write" | "patch" | "multiedit" => {
            let path = state["input"]["filePath"]
                .as_str()
                .or(state["metadata"]["filepath"].as_str());
            match path {
                Some(p) => vec![Said::FileChanged(p.into())],
                None => vec![Said::Log(format!(
                    "{tool}: {}",
                    state["title"].as_str().unwrap_or("")
                ))],
            }
        }
        _ => vec![Said::Log(format!(
            "{tool}: {}",
            process::quote(state["title"].as_str().unwrap_or(""))
        ))],
    });
    said
}

/// OpenCode's to-do list (`[{content, status, priority, id?}]`).
pub(crate) fn todos(list: &Value) -> Vec<Todo> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, t)| Todo {
                    id: t["id"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| format!("t{}", i + 1)),
                    content: t["content"].as_str().unwrap_or("").to_string(),
                    status: process::todo_status(t["status"].as_str().unwrap_or("")),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn error_message(e: &Value) -> String {
    e["data"]["message"]
        .as_str()
        .or(e["message"].as_str())
        .or(e["name"].as_str())
        .map(String::from)
        .unwrap_or_else(|| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TodoStatus;

    // Captured from opencode 1.18.33 (`opencode run --format json`), ids shortened.
    const TODO_LINE: &str = r#"{"type":"tool_use","timestamp":1795869655679,"sessionID":"ses_1","part":{"type":"tool","tool":"todowrite","callID":"call_1","state":{"status":"completed","input":{"todos":[{"content":"Raise limit","status":"in_progress","priority":"high"},{"content":"Check it","status":"pending","priority":"low"}]},"output":"[]","metadata":{"truncated":false},"title":"2 todos","time":{"start":1,"end":2}},"id":"prt_1","sessionID":"ses_1","messageID":"msg_1"}}"#;
    const WRITE_LINE: &str = r#"{"type":"tool_use","timestamp":1795869656148,"sessionID":"ses_1","part":{"type":"tool","tool":"write","callID":"call_2","state":{"status":"completed","input":{"filePath":"app.txt","content":"memory: 48G\n"},"output":"Wrote file successfully.","metadata":{"diagnostics":{},"filepath":"/tmp/oc/repo/app.txt","exists":true,"truncated":false},"title":"app.txt","time":{"start":1,"end":2}},"id":"prt_2","sessionID":"ses_1","messageID":"msg_2"}}"#;
    const TEXT_LINE: &str = r#"{"type":"text","timestamp":1795869656997,"sessionID":"ses_1","part":{"id":"prt_3","messageID":"msg_3","sessionID":"ses_1","type":"text","text":"Done.","time":{"start":1,"end":2}}}"#;
    const STEP_LINES: [&str; 2] = [
        r#"{"type":"step_start","timestamp":1795869655679,"sessionID":"ses_1","part":{"id":"prt_0","messageID":"msg_1","sessionID":"ses_1","snapshot":"21b9","type":"step-start"}}"#,
        r#"{"type":"step_finish","timestamp":1795869655836,"sessionID":"ses_1","part":{"id":"prt_4","reason":"tool-calls","snapshot":"21b9","messageID":"msg_1","sessionID":"ses_1","type":"step-finish","tokens":{"total":15,"input":10,"output":5,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}"#,
    ];

    #[test]
    fn todowrite_becomes_the_todo_list() {
        let said = parse_run_line(TODO_LINE).unwrap();
        assert!(matches!(&said[0], Said::ToolCall { name, .. } if name == "todowrite"));
        let Said::Todos(t) = &said[1] else {
            panic!("{said:?}")
        };
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].content.as_str(), t[0].status),
            ("Raise limit", TodoStatus::InProgress)
        );
        assert_eq!((t[1].id.as_str(), t[1].status), ("t2", TodoStatus::Pending));
    }

    #[test]
    fn write_text_and_steps() {
        assert_eq!(
            parse_run_line(WRITE_LINE).unwrap(),
            [
                Said::ToolCall {
                    name: "write".into(),
                    input: json!({"filePath": "app.txt", "content": "memory: 48G\n"})
                },
                Said::FileChanged("app.txt".into())
            ]
        );
        assert_eq!(
            parse_run_line(TEXT_LINE).unwrap(),
            [Said::Text("Done.".into())]
        );
        for l in STEP_LINES {
            assert_eq!(parse_run_line(l).unwrap(), []);
        }
        assert!(parse_run_line("Error: something broke").is_err());
        let err = r#"{"type":"error","sessionID":"ses_1","error":{"name":"APIError","data":{"message":"model not found"}}}"#;
        assert_eq!(
            parse_run_line(err).unwrap(),
            [Said::Error("model not found".into())]
        );
    }

    #[test]
    fn the_users_inline_config_is_kept_under_medics_permissions() {
        let user = r#"{"model": "anthropic/claude-sonnet-4-5", "permission": {"*": "ask"}}"#;
        let merged: Value = serde_json::from_str(&config_content(Some(user))).unwrap();
        assert_eq!(merged["model"], "anthropic/claude-sonnet-4-5");
        assert_eq!(merged["permission"], permissions());
        let fresh: Value = serde_json::from_str(&config_content(Some("not json"))).unwrap();
        assert_eq!(fresh, json!({"permission": permissions()}));
    }

    #[test]
    fn permissions_never_ask() {
        let p = permissions().to_string();
        assert!(!p.contains("\"ask\""));
        assert!(allowed("edit") && allowed("todowrite"));
        assert!(!allowed("webfetch") && !allowed("bash") && !allowed("external_directory"));
    }
}
