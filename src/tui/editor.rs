//! `e` on a plan: write it as Markdown to a temporary file, hand the
//! terminal to `$VISUAL` / `$EDITOR` (falling back to `vi`), and read the
//! result back. An edit that does not parse reopens with the error at the
//! top as a comment; one the operator leaves unfixed is kept for the next
//! `e`, never lost. The caller suspends and restores the TUI around this.

use super::app::App;
use crate::plan::markdown;
use std::path::Path;
use std::process::Command;

/// How medic's own comment at the top of a rejected edit starts.
const COMMENT: &str = "<!-- medic:";

/// The editor command the operator configured, split into program and arguments.
pub fn editor_command() -> Vec<String> {
    let raw = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    raw.split_whitespace().map(str::to_string).collect()
}

/// What became of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    /// The plan is as it was.
    Unchanged,
    /// A plan that parses: journal it.
    Saved(String),
    /// The operator left an edit that does not parse: keep it, and why.
    Kept {
        /// The text as the operator left it (without medic's comment).
        text: String,
        /// Why it was not saved.
        error: String,
    },
}

/// The text without medic's comment lines.
fn without_comment(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with(COMMENT))
        .collect();
    let mut out = kept.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `text` with `error` at the top as a comment the parser skips.
fn with_error(text: &str, error: &str) -> String {
    format!(
        "{COMMENT} NOT SAVED: {error}. Fix it and save; leave without saving to keep your text for the next `e`. -->\n{text}"
    )
}

/// Why `text` does not parse, with the line as the editor shows it below
/// medic's one comment line; `None` when it parses.
fn rejection(text: &str) -> Option<String> {
    markdown::parse(text)
        .err()
        .map(|e| format!("plan line {}: {}", e.line + 1, e.message))
}

/// Run `argv` on `path` until the text parses or the operator leaves it
/// unchanged. `start` is what the editor opens with; `original` the plan
/// as journaled (an edit back to it is no edit).
pub fn edit_text(
    argv: &[String],
    path: &Path,
    start: &str,
    original: &str,
) -> Result<Edited, String> {
    let program = argv.first().ok_or("no editor: set $VISUAL or $EDITOR")?;
    let mut text = start.to_string();
    loop {
        std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        let status = Command::new(program)
            .args(&argv[1..])
            .arg(path)
            .status()
            .map_err(|e| format!("cannot start `{program}` (set $VISUAL or $EDITOR): {e}"))?;
        if !status.success() {
            return Err(format!("`{program}` exited with {status}: plan unchanged"));
        }
        let after =
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let body = without_comment(&after);
        let error = rejection(&body);
        if body == original {
            return Ok(Edited::Unchanged);
        }
        match error {
            None => return Ok(Edited::Saved(body)),
            // Left as it was shown: the operator gives up for now; keep the text.
            Some(error) if after == text => return Ok(Edited::Kept { text: body, error }),
            Some(error) => text = with_error(&body, &error),
        }
    }
}

/// Edit the open plan (or the edit kept from last time, with its error).
pub async fn edit_plan(app: &App) -> Result<(String, Edited), String> {
    let Some((incident, plan)) = app
        .work
        .as_ref()
        .and_then(|w| Some((w.incident.clone(), w.plan.clone()?)))
    else {
        return Ok((String::new(), Edited::Unchanged));
    };
    let original = markdown::render(&plan);
    let start = match &app.kept_edit {
        Some((id, text, error)) if *id == incident => with_error(text, error),
        _ => original.clone(),
    };
    let argv = editor_command();
    tokio::task::spawn_blocking(move || {
        // Private to this process; removed whatever the editor does.
        let path = std::env::temp_dir().join(format!("medic-{}-{incident}.md", std::process::id()));
        let _cleanup = RemoveOnDrop(path.clone());
        let edited = edit_text(&argv, &path, &start, &original)?;
        Ok((incident, edited))
    })
    .await
    .map_err(|e| format!("the editor task failed: {e}"))?
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "# Raise api's memory limit\n\n## Summary\n\nThe heap outgrew the limit.\n\n## Changes\n\n- raise-memory-limit api 48000000000\n";

    /// An "editor": a shell script run on the file.
    fn editor(dir: &Path, script: &str) -> Vec<String> {
        let path = dir.join("editor.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        vec![path.display().to_string()]
    }

    #[test]
    fn a_line_appended_at_the_end_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let argv = editor(dir.path(), "echo 'Check the GC settings too.' >> \"$1\"");
        let got = edit_text(&argv, &dir.path().join("p.md"), PLAN, PLAN).unwrap();
        let Edited::Saved(text) = got else {
            panic!("{got:?}")
        };
        let plan = markdown::parse(&text).unwrap();
        assert!(
            plan.summary.contains("Check the GC settings too."),
            "{plan:?}"
        );
    }

    #[test]
    fn a_rejected_edit_reopens_with_the_error_on_top_and_the_fix_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        // First round: a broken change; second round (it sees medic's error): fixed.
        let argv = editor(
            dir.path(),
            "if grep -q 'NOT SAVED: plan line 11:' \"$1\"; then sed -i 's/ lots$/ 6/' \"$1\"; \
             else echo '- set-replicas api lots' >> \"$1\"; fi",
        );
        let got = edit_text(&argv, &dir.path().join("p.md"), PLAN, PLAN).unwrap();
        let Edited::Saved(text) = got else {
            panic!("{got:?}")
        };
        assert!(!text.contains("medic:"), "the comment is not saved: {text}");
        assert_eq!(markdown::parse(&text).unwrap().mitigations.len(), 2);
    }

    #[test]
    fn an_edit_left_unfixed_is_kept_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        // Breaks the plan the first time; then leaves the file as shown.
        let argv = editor(
            dir.path(),
            "grep -q 'NOT SAVED' \"$1\" || echo '- set-replicas api lots' >> \"$1\"",
        );
        let got = edit_text(&argv, &dir.path().join("p.md"), PLAN, PLAN).unwrap();
        let Edited::Kept { text, error } = got else {
            panic!("{got:?}")
        };
        assert!(text.ends_with("- set-replicas api lots\n"), "{text}");
        assert!(error.contains("`lots` is not a replica count"), "{error}");
        // Reopened from what was kept, with the error at the top.
        let again = with_error(&text, &error);
        assert!(
            again.starts_with("<!-- medic: NOT SAVED: plan line 11:"),
            "{again}"
        );
        assert_eq!(again.lines().nth(10), Some("- set-replicas api lots"));
    }
}
