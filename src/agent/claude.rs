//! Claude Code, tested with 2.1.332: `claude -p --output-format stream-json
//! --verbose --permission-mode acceptEdits`.
//!
//! Its to-do list comes from `TodoWrite` tool calls (the whole list each
//! time) or, in 2.1 and later, from `TaskCreate`/`TaskUpdate` (one task at a
//! time; the id arrives in the tool result). 2.1 offers those tools in `-p`
//! mode only with `CLAUDE_CODE_ENABLE_TODO_TOOLS=1`, which the driver sets.
//! `ANTHROPIC_BASE_URL` and the key pass through from the environment.

use super::jail::Policy;
use super::process::{self, Said, Spec};
use super::{AgentError, AgentFuture, AgentReport, CodingAgent, EventSink, Task};
use crate::config::AgentConfig;
use crate::model::{Todo, TodoStatus};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The Claude Code driver.
#[derive(Debug, Clone)]
pub struct Claude {
    /// The executable.
    pub command: String,
    /// Handed to `--model` as is.
    pub model: Option<String>,
    /// `--max-turns`.
    pub max_turns: u32,
    /// Extra arguments.
    pub args: Vec<String>,
    /// Extra environment for the process.
    pub env: Vec<(String, String)>,
    /// How its process is confined (`[agent] sandbox`, `pass_env`).
    pub sandbox: Policy,
}

/// The operator's variables its own config needs inside the sandbox (its
/// model's key and endpoint); `[agent] pass_env` adds more.
const CLAUDE_ENV: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
];

impl Claude {
    /// The driver `[agent]` describes.
    pub fn from_config(config: &AgentConfig) -> Claude {
        Claude {
            command: config.command.clone().unwrap_or_else(|| "claude".into()),
            model: config.model.clone(),
            max_turns: config.max_steps,
            args: Vec::new(),
            env: Vec::new(),
            sandbox: Policy::from_config(config, CLAUDE_ENV),
        }
    }

    async fn go(
        &self,
        task: &Task,
        checkout: &Path,
        sink: EventSink<'_>,
    ) -> Result<AgentReport, AgentError> {
        let mut args: Vec<String> = [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            // No reaching out: logs in the prompt may ask it to.
            "--disallowedTools",
            "WebFetch,WebSearch",
        ]
        .map(String::from)
        .to_vec();
        if self.max_turns > 0 {
            args.extend(["--max-turns".into(), self.max_turns.to_string()]);
        }
        if let Some(m) = &self.model {
            args.extend(["--model".into(), m.clone()]);
        }
        args.extend(self.args.iter().cloned());
        args.push(task.prompt.clone());
        let mut env = vec![("CLAUDE_CODE_ENABLE_TODO_TOOLS".to_string(), "1".to_string())];
        env.extend(self.env.iter().cloned());
        let spec = Spec {
            program: self.command.clone(),
            args,
            env,
            cwd: checkout.to_path_buf(),
            sandbox: self.sandbox.clone(),
        };
        process::starting(&spec, "claude", &mut *sink);
        let mut stream = Stream::default();
        let ending = process::run_json_lines(
            &spec,
            task.time_limit,
            task.runaway,
            checkout,
            &mut |l| stream.line(l),
            &mut *sink,
        )
        .await?;
        Ok(process::finish(ending, "claude", sink))
    }
}

impl CodingAgent for Claude {
    fn kind(&self) -> &'static str {
        "claude"
    }

    fn run<'a>(
        &'a self,
        task: &'a Task,
        checkout: &'a Path,
        sink: EventSink<'a>,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            sink(super::AgentEvent::Todos(task.todos.clone()));
            self.go(task, checkout, &mut *sink)
                .await
                .map_err(|e| process::failed(e, sink))
        })
    }
}

/// The state `stream-json` needs across lines: the task list and which tool
/// each pending call was.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    todos: Vec<Todo>,
    calls: HashMap<String, String>,
}

impl Stream {
    /// One line of `--output-format stream-json`.
    pub(crate) fn line(&mut self, line: &str) -> Result<Vec<Said>, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let kind = v["type"].as_str().ok_or("no type")?;
        let mut said = Vec::new();
        match kind {
            "system" if v["subtype"] == "init" => said.push(Said::Log(format!(
                "claude code {} (model {}, permissions {})",
                v["claude_code_version"].as_str().unwrap_or("?"),
                v["model"].as_str().unwrap_or("?"),
                v["permissionMode"].as_str().unwrap_or("?"),
            ))),
            "assistant" => {
                for block in v["message"]["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str() {
                        Some("text") => {
                            said.extend(block["text"].as_str().map(|t| Said::Text(t.into())))
                        }
                        Some("tool_use") => {
                            said.push(Said::ToolCall {
                                name: block["name"].as_str().unwrap_or("tool").into(),
                                input: block["input"].clone(),
                            });
                            said.extend(self.tool_use(block))
                        }
                        _ => {}
                    }
                }
            }
            "user" => {
                // A created task's id arrives with its result.
                let task = &v["tool_use_result"]["task"];
                if let (Some(id), Some(subject)) = (task["id"].as_str(), task["subject"].as_str()) {
                    if !self.todos.iter().any(|t| t.id == id) {
                        self.todos.push(Todo {
                            id: id.into(),
                            content: subject.into(),
                            status: TodoStatus::Pending,
                        });
                        said.push(Said::Todos(self.todos.clone()));
                    }
                }
                for block in v["message"]["content"].as_array().into_iter().flatten() {
                    let name = block["tool_use_id"]
                        .as_str()
                        .and_then(|id| self.calls.remove(id));
                    if block["is_error"] == true {
                        said.push(Said::Log(format!(
                            "{} failed: {}",
                            name.as_deref().unwrap_or("tool"),
                            process::quote(&content_text(&block["content"]))
                        )));
                    }
                }
            }
            "result" => {
                let text = v["result"].as_str().map(String::from);
                if v["is_error"] == true || v["subtype"] != "success" {
                    said.push(Said::Error(text.unwrap_or_else(|| {
                        v["subtype"].as_str().unwrap_or("error").into()
                    })));
                } else {
                    said.push(Said::Done(text));
                }
            }
            _ => {}
        }
        Ok(said)
    }

    fn tool_use(&mut self, block: &Value) -> Vec<Said> {
        let name = block["name"].as_str().unwrap_or("tool");
        let input = &block["input"];
        if let Some(id) = block["id"].as_str() {
            self.calls.insert(id.into(), name.into());
        }
        match name {
            "TodoWrite" => {
                self.todos = input["todos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, t)| Todo {
                        id: t["id"]
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| format!("t{}", i + 1)),
                        content: t["content"].as_str().unwrap_or("").into(),
                        status: process::todo_status(t["status"].as_str().unwrap_or("")),
                    })
                    .collect();
                vec![Said::Todos(self.todos.clone())]
            }
            "TaskUpdate" => {
                let id = input["taskId"].as_str().unwrap_or("");
                let Some(pos) = self.todos.iter().position(|t| t.id == id) else {
                    return Vec::new();
                };
                if input["status"] == "deleted" {
                    self.todos.remove(pos);
                } else {
                    let t = &mut self.todos[pos];
                    if let Some(s) = input["status"].as_str() {
                        t.status = process::todo_status(s);
                    }
                    if let Some(s) = input["subject"].as_str() {
                        t.content = s.into();
                    }
                }
                vec![Said::Todos(self.todos.clone())]
            }
            "TaskCreate" => Vec::new(),
            "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => input["file_path"]
                .as_str()
                .or(input["notebook_path"].as_str())
                .map(|p| vec![Said::FileChanged(p.into())])
                .unwrap_or_default(),
            "Bash" => vec![Said::Log(format!(
                "bash: {}",
                process::quote(input["command"].as_str().unwrap_or(""))
            ))],
            other => vec![Said::Log(format!("tool: {other}"))],
        }
    }
}

fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from Claude Code 2.1.332 against a scripted Messages server (uuids shortened).
    const LINES: [&str; 6] = [
        r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_0","name":"TaskCreate","input":{"subject":"Raise the memory limit","description":"api to 48G","activeForm":"Raising"}}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"e8"}"#,
        r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0","type":"tool_result","content":"Task #1 created successfully: Raise the memory limit"}]},"parent_tool_use_id":null,"session_id":"e8","tool_use_result":{"task":{"id":"1","subject":"Raise the memory limit","description":"api to 48G"}},"tool_result_meta":[{"id":"toolu_0","permission_decision":{"decision":"accept","source":"config"}}]}"#,
        r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_2","name":"TaskUpdate","input":{"taskId":"1","status":"in_progress"}}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"e8"}"#,
        r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_3","name":"Write","input":{"file_path":"/tmp/cc/repo/app.txt","content":"memory: 48G\n"}}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"e8"}"#,
        r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"text","text":"Done."}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"e8"}"#,
        r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":1200,"num_turns":6,"result":"Done.","stop_reason":"end_turn","session_id":"e8","total_cost_usd":0.00084}"#,
    ];

    #[test]
    fn tasks_become_the_todo_list() {
        let mut s = Stream::default();
        let said: Vec<Vec<Said>> = LINES.iter().map(|l| s.line(l).unwrap()).collect();
        assert!(matches!(&said[0][..], [Said::ToolCall { name, .. }] if name == "TaskCreate"));
        let Said::Todos(t) = &said[1][0] else {
            panic!("{said:?}")
        };
        assert_eq!(
            (t[0].id.as_str(), t[0].content.as_str(), t[0].status),
            ("1", "Raise the memory limit", TodoStatus::Pending)
        );
        let Said::Todos(t) = &said[2][1] else {
            panic!("{said:?}")
        };
        assert_eq!(t[0].status, TodoStatus::InProgress);
        assert_eq!(
            said[3],
            [
                Said::ToolCall {
                    name: "Write".into(),
                    input: serde_json::json!({"file_path": "/tmp/cc/repo/app.txt", "content": "memory: 48G\n"})
                },
                Said::FileChanged("/tmp/cc/repo/app.txt".into())
            ]
        );
        assert_eq!(said[4], [Said::Text("Done.".into())]);
        assert_eq!(said[5], [Said::Done(Some("Done.".into()))]);
    }

    #[test]
    fn todowrite_and_failures() {
        let mut s = Stream::default();
        let tw = r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"TodoWrite","input":{"todos":[{"content":"Raise limit","status":"completed","activeForm":"Raising"},{"content":"Verify","status":"in_progress","activeForm":"Verifying"}]}}]}}"#;
        let said = s.line(tw).unwrap();
        let Said::Todos(t) = &said[1] else {
            panic!("{said:?}")
        };
        assert_eq!(
            t.iter().map(|t| t.status).collect::<Vec<_>>(),
            [TodoStatus::Completed, TodoStatus::InProgress]
        );
        let err = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":40}"#;
        assert_eq!(
            s.line(err).unwrap(),
            [Said::Error("error_max_turns".into())]
        );
        assert!(s.line("Invalid API key · Please run /login").is_err());
    }
}
