//! OpenAI Codex CLI, tested with 0.171.0: `codex exec --json -s
//! workspace-write`, one JSON event per line (`thread.started`,
//! `turn.started`, `item.started|updated|completed`, `turn.completed`,
//! `turn.failed`, `error`).
//!
//! The to-do list is the `todo_list` item (`items: [{text, completed}]`),
//! which Codex emits when the model uses its plan tool. Its sandbox keeps
//! writes inside the checkout; `exec` never stops to ask for approval.

use super::jail::Policy;
use super::process::{self, Said, Spec};
use super::{AgentError, AgentFuture, AgentReport, CodingAgent, EventSink, Task};
use crate::config::AgentConfig;
use crate::model::{Todo, TodoStatus};
use serde_json::Value;
use std::path::Path;

/// The Codex driver.
#[derive(Debug, Clone)]
pub struct Codex {
    /// The executable.
    pub command: String,
    /// Handed to `-m` as is.
    pub model: Option<String>,
    /// Extra arguments (`-c key=value` overrides).
    pub args: Vec<String>,
    /// Extra environment for the process.
    pub env: Vec<(String, String)>,
    /// How its process is confined (`[agent] sandbox`, `pass_env`).
    pub sandbox: Policy,
}

/// The operator's variables its own config needs inside the sandbox (its
/// model's key and endpoint); `[agent] pass_env` adds more.
const CODEX_ENV: &[&str] = &["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"];

impl Codex {
    /// The driver `[agent]` describes.
    pub fn from_config(config: &AgentConfig) -> Codex {
        Codex {
            command: config.command.clone().unwrap_or_else(|| "codex".into()),
            model: config.model.clone(),
            args: Vec::new(),
            env: Vec::new(),
            sandbox: Policy::from_config(config, CODEX_ENV),
        }
    }

    async fn go(
        &self,
        task: &Task,
        checkout: &Path,
        sink: EventSink<'_>,
    ) -> Result<AgentReport, AgentError> {
        let mut args: Vec<String> = ["exec", "--json", "-s", "workspace-write"]
            .map(String::from)
            .to_vec();
        if let Some(m) = &self.model {
            args.extend(["-m".into(), m.clone()]);
        }
        args.extend(self.args.iter().cloned());
        args.push(task.prompt.clone());
        let spec = Spec {
            program: self.command.clone(),
            args,
            env: self.env.clone(),
            cwd: checkout.to_path_buf(),
            sandbox: self.sandbox.clone(),
        };
        process::starting(&spec, "codex", &mut *sink);
        let ending = process::run_json_lines(
            &spec,
            task.time_limit,
            task.runaway,
            checkout,
            &mut |l| parse_line(l),
            &mut *sink,
        )
        .await?;
        Ok(process::finish(ending, "codex", sink))
    }
}

impl CodingAgent for Codex {
    fn kind(&self) -> &'static str {
        "codex"
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

/// One line of `codex exec --json`.
pub(crate) fn parse_line(line: &str) -> Result<Vec<Said>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let kind = v["type"].as_str().ok_or("no type")?;
    let item = &v["item"];
    Ok(match kind {
        "item.started" | "item.updated" | "item.completed" => {
            let done = kind == "item.completed";
            // What the loop detector watches: each finished command or tool
            // call. A patch is not: its item names the files, not the change,
            // so two different edits of one file would look the same (no
            // progress for too long catches a patch loop).
            let call = match item["type"].as_str().unwrap_or("") {
                "command_execution" if done => Some(Said::ToolCall {
                    name: "command_execution".into(),
                    input: serde_json::json!({"command": item["command"]}),
                }),
                "mcp_tool_call" if done => Some(Said::ToolCall {
                    name: format!(
                        "{}/{}",
                        item["server"].as_str().unwrap_or("?"),
                        item["tool"].as_str().unwrap_or("?")
                    ),
                    input: item["arguments"].clone(),
                }),
                _ => None,
            };
            let mut said: Vec<Said> = call.into_iter().collect();
            said.extend(match item["type"].as_str().unwrap_or("") {
                "todo_list" => vec![Said::Todos(todos(&item["items"]))],
                "agent_message" if done => item["text"]
                    .as_str()
                    .map(|t| vec![Said::Text(t.into())])
                    .unwrap_or_default(),
                "command_execution" if done => vec![Said::Log(format!(
                    "ran {} (exit {})",
                    process::quote(item["command"].as_str().unwrap_or("?")),
                    item["exit_code"]
                        .as_i64()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into())
                ))],
                // A patch Codex could not apply (its own sandbox said no) changed nothing.
                "file_change" if done && item["status"] == "failed" => vec![Said::Log(format!(
                    "codex could not apply a patch to {}",
                    process::quote(
                        &item["changes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["path"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                ))],
                "file_change" if done => item["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["path"].as_str())
                    .map(|p| Said::FileChanged(p.into()))
                    .collect(),
                // Codex reports warnings as error items; the run goes on.
                "error" if done => vec![Said::Log(format!(
                    "codex: {}",
                    process::quote(item["message"].as_str().unwrap_or(""))
                ))],
                _ => Vec::new(),
            });
            said
        }
        "turn.completed" => vec![Said::Done(None)],
        "turn.failed" => vec![Said::Error(
            v["error"]["message"]
                .as_str()
                .unwrap_or("turn failed")
                .into(),
        )],
        "error" => vec![Said::Error(v["message"].as_str().unwrap_or("error").into())],
        _ => Vec::new(),
    })
}

/// A `todo_list` item's entries; the first one not completed is the one in progress.
fn todos(items: &Value) -> Vec<Todo> {
    let mut current = false;
    items
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            let status = if t["completed"] == true {
                TodoStatus::Completed
            } else if !current {
                current = true;
                TodoStatus::InProgress
            } else {
                TodoStatus::Pending
            };
            Todo {
                id: format!("t{}", i + 1),
                content: t["text"].as_str().unwrap_or("").into(),
                status,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_list_items() {
        // The shape documented for `codex exec --json` (docs/exec.md).
        let l = r#"{"type":"item.updated","item":{"id":"item_1","type":"todo_list","items":[{"text":"Raise the memory limit","completed":true},{"text":"Check the rollout","completed":false},{"text":"Write the summary","completed":false}]}}"#;
        let said = parse_line(l).unwrap();
        let Said::Todos(t) = &said[0] else {
            panic!("{said:?}")
        };
        assert_eq!(
            t.iter()
                .map(|t| (t.content.as_str(), t.status))
                .collect::<Vec<_>>(),
            [
                ("Raise the memory limit", TodoStatus::Completed),
                ("Check the rollout", TodoStatus::InProgress),
                ("Write the summary", TodoStatus::Pending)
            ]
        );
    }

    #[test]
    fn captured_lines() {
        // Captured from codex-cli 0.171.0 against a scripted Responses server.
        let lines = [
            r#"{"type":"thread.started","thread_id":"01a2222f-7220-7f90-bcd8-3232baf95d49"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'echo \"memory: 48G\" > app.txt'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'echo \"memory: 48G\" > app.txt'","aggregated_output":"","exit_code":0,"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Done."}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":30,"cached_input_tokens":0,"output_tokens":15,"reasoning_output_tokens":0}}"#,
        ];
        let said: Vec<Vec<Said>> = lines.iter().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(said[0], []);
        assert_eq!(said[2], []);
        assert!(matches!(&said[3][0], Said::ToolCall { name, .. } if name == "command_execution"));
        assert!(matches!(&said[3][1], Said::Log(l) if l.contains("exit 0")));
        assert_eq!(said[4], [Said::Text("Done.".into())]);
        assert_eq!(said[5], [Said::Done(None)]);
        let warn = r#"{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `scripted` not found."}}"#;
        assert!(matches!(&parse_line(warn).unwrap()[0], Said::Log(_)));
        let fc = r#"{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"k8s/api.yaml","kind":"update"}],"status":"completed"}}"#;
        assert_eq!(
            parse_line(fc).unwrap(),
            [Said::FileChanged("k8s/api.yaml".into())]
        );
        // Captured under a sandbox that kept Codex's own from starting.
        let refused = r#"{"type":"item.completed","item":{"id":"item_0","type":"file_change","changes":[{"path":"/tmp/x/repo/k8s/api.yaml","kind":"update"}],"status":"failed"}}"#;
        assert!(
            matches!(&parse_line(refused).unwrap()[..], [Said::Log(l)] if l.contains("could not apply")),
            "a failed patch is not a changed file"
        );
        let failed = r#"{"type":"turn.failed","error":{"message":"stream disconnected"}}"#;
        assert_eq!(
            parse_line(failed).unwrap(),
            [Said::Error("stream disconnected".into())]
        );
        assert!(parse_line("Reading additional input from stdin...").is_err());
    }
}
