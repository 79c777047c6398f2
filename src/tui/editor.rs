//! `e` on a plan: write it as Markdown to a temporary file, hand the
//! terminal to `$VISUAL` / `$EDITOR` (falling back to `vi`), and read the
//! result back. The caller suspends and restores the TUI around this.

use super::app::App;
use std::process::Command;

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

/// Edit the open plan. `Ok(None)`: nothing to edit or nothing changed.
pub async fn edit_plan(app: &App) -> Result<Option<(String, String)>, String> {
    let Some((incident, plan)) = app
        .work
        .as_ref()
        .and_then(|w| Some((w.incident.clone(), w.plan.clone()?)))
    else {
        return Ok(None);
    };
    let before = crate::plan::markdown::render(&plan);
    tokio::task::spawn_blocking(move || {
        // Private to this process; removed whatever the editor does.
        let path = std::env::temp_dir().join(format!("medic-{}-{incident}.md", std::process::id()));
        std::fs::write(&path, &before).map_err(|e| format!("{}: {e}", path.display()))?;
        let _cleanup = RemoveOnDrop(path.clone());
        let argv = editor_command();
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .arg(&path)
            .status()
            .map_err(|e| format!("cannot start `{}` (set $VISUAL or $EDITOR): {e}", argv[0]))?;
        if !status.success() {
            return Err(format!(
                "`{}` exited with {status}: plan unchanged",
                argv[0]
            ));
        }
        let after =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((after != before).then_some((incident, after)))
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
