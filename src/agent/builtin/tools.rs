//! The tools the model may call: their JSON schemas and what they do.
//! Every file access goes through the [`Sandbox`]; every failure comes back
//! as a tool error the model can read, never as a crash.

use super::sandbox::Sandbox;
use crate::model::{Todo, TodoStatus};
use crate::plan::llm::ToolSpec;
use serde_json::{json, Value};
use std::path::Path;

/// Largest file `read_file` returns in full; longer ones are cut.
const MAX_READ: usize = 64 * 1024;
/// Files `grep` skips as too large to be source.
const MAX_GREP_FILE: u64 = 1024 * 1024;
/// Matches `grep` returns.
const MAX_MATCHES: usize = 200;
/// Entries `list` returns.
const MAX_ENTRIES: usize = 500;

/// The specs sent with every request.
pub fn specs() -> Vec<ToolSpec> {
    let spec = |name: &str, description: &str, schema: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        input_schema: schema,
    };
    let path = json!({"type": "string", "description": "Path relative to the repository root"});
    vec![
        spec(
            "read_file",
            "Read a text file of the repository.",
            json!({"type": "object", "properties": {"path": path}, "required": ["path"]}),
        ),
        spec(
            "write_file",
            "Create or overwrite a file with the given content.",
            json!({"type": "object", "properties": {"path": path, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        spec(
            "edit",
            "Replace one exact occurrence of `old` by `new` in a file. `old` must occur exactly once: include enough context.",
            json!({"type": "object", "properties": {"path": path, "old": {"type": "string"}, "new": {"type": "string"}}, "required": ["path", "old", "new"]}),
        ),
        spec(
            "list",
            "List a directory of the repository (directories end with /).",
            json!({"type": "object", "properties": {"path": path}}),
        ),
        spec(
            "grep",
            "Search files for a regular expression; answers path:line: text.",
            json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path}, "required": ["pattern"]}),
        ),
        spec(
            "run_command",
            "Run a command in the repository root: argv as a list, no shell. Only builds, tests, linters and read-only git are allowed.",
            json!({"type": "object", "properties": {"argv": {"type": "array", "items": {"type": "string"}}}, "required": ["argv"]}),
        ),
        spec(
            "update_todos",
            "Replace the whole to-do list (send every item each time).",
            json!({"type": "object", "properties": {"todos": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"},
                "content": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "in_progress", "completed", "failed", "cancelled"]}
            }, "required": ["content", "status"]}}}, "required": ["todos"]}),
        ),
    ]
}

/// A string argument, or an error the model can act on.
pub fn arg<'a>(input: &'a Value, key: &str) -> Result<&'a str, String> {
    input
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string argument `{key}`"))
}

/// `read_file`.
pub fn read_file(sb: &Sandbox, input: &Value) -> Result<String, String> {
    let path = arg(input, "path")?;
    let abs = sb.read_path(path).map_err(|e| e.to_string())?;
    if abs.is_dir() {
        return Err(format!("{path} is a directory; use `list`"));
    }
    // By the name asked for and by the file it resolves to (a symlink `notes`
    // to `.env` is still `.env`).
    let real = std::fs::canonicalize(&abs).unwrap_or_else(|_| abs.clone());
    if [Path::new(path), abs.as_path(), real.as_path()]
        .iter()
        .any(|p| crate::triage::redact::is_secret_file(p))
    {
        return Err(format!(
            "{path} holds credentials (by its name): medic does not show secret files to the model"
        ));
    }
    let bytes = std::fs::read(&abs).map_err(|e| format!("{path}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.len() > MAX_READ {
        let mut end = MAX_READ;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        return Ok(format!(
            "{}\n[… cut: the file has {} bytes, shown {end} …]",
            &text[..end],
            text.len()
        ));
    }
    Ok(text.into_owned())
}

/// `write_file`; returns the path written, relative to the checkout.
pub fn write_file(sb: &Sandbox, input: &Value) -> Result<String, String> {
    let path = arg(input, "path")?;
    let content = arg(input, "content")?;
    let abs = sb.write_path(path).map_err(|e| e.to_string())?;
    sb.write(path, &abs, content.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(sb.display(&abs))
}

/// `edit`: one exact, unique replacement; returns the path edited.
pub fn edit(sb: &Sandbox, input: &Value) -> Result<String, String> {
    let path = arg(input, "path")?;
    let old = arg(input, "old")?;
    let new = arg(input, "new")?;
    if old.is_empty() {
        return Err("`old` is empty; quote the exact text to replace".into());
    }
    let abs = sb.write_path(path).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&abs).map_err(|e| format!("{path}: {e}"))?;
    match text.matches(old).count() {
        0 => Err(format!(
            "{path}: `old` was not found; read the file and quote it exactly"
        )),
        1 => {
            let edited = text.replacen(old, new, 1);
            sb.write(path, &abs, edited.as_bytes())
                .map_err(|e| e.to_string())?;
            Ok(sb.display(&abs))
        }
        n => Err(format!(
            "{path}: `old` occurs {n} times; include more context so it is unique"
        )),
    }
}

/// `list`.
pub fn list(sb: &Sandbox, input: &Value) -> Result<String, String> {
    let path = input.get("path").and_then(Value::as_str).unwrap_or(".");
    let abs = sb.read_path(path).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&abs).map_err(|e| format!("{path}: {e}"))? {
        let entry = entry.map_err(|e| format!("{path}: {e}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        names.push(if is_dir { format!("{name}/") } else { name });
    }
    names.sort();
    let total = names.len();
    names.truncate(MAX_ENTRIES);
    let mut out = names.join("\n");
    if total > MAX_ENTRIES {
        out.push_str(&format!("\n[… {} more …]", total - MAX_ENTRIES));
    }
    Ok(out)
}

/// `grep`: walks without following symlinks, skipping `.git` and binaries.
pub fn grep(sb: &Sandbox, input: &Value) -> Result<String, String> {
    let pattern = arg(input, "pattern")?;
    let re = regex::Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
    let path = input.get("path").and_then(Value::as_str).unwrap_or(".");
    let start = sb.read_path(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut stack = vec![start];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&p) else {
                continue;
            };
            let mut children: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            children.sort();
            stack.extend(children.into_iter().rev());
        } else if meta.is_file()
            && meta.len() <= MAX_GREP_FILE
            && !crate::triage::redact::is_secret_file(&p)
        {
            // Credential files are not shown to the model, by grep either.
            grep_file(sb, &p, &re, &mut out);
            if out.len() >= MAX_MATCHES {
                out.truncate(MAX_MATCHES);
                out.push(format!("[… stopped at {MAX_MATCHES} matches …]"));
                break;
            }
        }
    }
    Ok(if out.is_empty() {
        "no matches".into()
    } else {
        out.join("\n")
    })
}

fn grep_file(sb: &Sandbox, p: &Path, re: &regex::Regex, out: &mut Vec<String>) {
    let Ok(bytes) = std::fs::read(p) else { return };
    if bytes.contains(&0) {
        return; // binary
    }
    let text = String::from_utf8_lossy(&bytes);
    for (i, line) in text.lines().enumerate() {
        if re.is_match(line) {
            let line: String = line.chars().take(300).collect();
            out.push(format!("{}:{}: {line}", sb.display(p), i + 1));
            if out.len() > MAX_MATCHES {
                return;
            }
        }
    }
}

/// `update_todos`: the full list, validated.
pub fn todos(input: &Value) -> Result<Vec<Todo>, String> {
    let items = input
        .get("todos")
        .and_then(Value::as_array)
        .ok_or("missing list argument `todos`")?;
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let content = t
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("todo {}: missing `content`", i + 1))?;
            let status = match t.get("status").and_then(Value::as_str) {
                Some("pending") => TodoStatus::Pending,
                Some("in_progress") => TodoStatus::InProgress,
                Some("completed") => TodoStatus::Completed,
                Some("failed") => TodoStatus::Failed,
                Some("cancelled") => TodoStatus::Cancelled,
                other => {
                    return Err(format!(
                        "todo {}: status {other:?} is not one of pending, in_progress, completed, failed, cancelled",
                        i + 1
                    ))
                }
            };
            let id = t
                .get("id")
                .and_then(|v| v.as_str().map(String::from).or_else(|| v.as_u64().map(|n| n.to_string())))
                .unwrap_or_else(|| (i + 1).to_string());
            Ok(Todo {
                id,
                content: content.to_string(),
                status,
            })
        })
        .collect()
}

/// `run_command`'s argv: a list of strings.
pub fn argv(input: &Value) -> Result<Vec<String>, String> {
    let list = input
        .get("argv")
        .and_then(Value::as_array)
        .ok_or("missing list argument `argv` (e.g. [\"git\", \"status\"])")?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| format!("argv item {v} is not a string"))
        })
        .collect()
}
