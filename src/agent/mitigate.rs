//! The offline agent: carries out a plan's [`Mitigation`]s by editing the
//! deployment manifests in a checkout, deterministically, with no network
//! and no model.
//!
//! It understands Kubernetes workloads, Compose files, `railway.toml`,
//! `railway.json` and `fly.toml`, and edits only the value it was asked to
//! change, keeping every comment and the file's layout. Plan steps it cannot
//! carry out (code changes, investigations) stay pending with a log line
//! saying a human or a coding agent must do them; it never claims them.
//! It reads and writes only inside the checkout (symlinks leading out are
//! refused), and it never commits: that is `forge::git`'s job.
//!
//!
//! A plan is not trusted: every mitigation is checked against [`Bounds`]
//! first (the incident's own service only, OCI image tags or digests,
//! 1..=ceiling replicas, a memory limit raised within a band of the current
//! one). A refused mitigation fails its to-do with the reason; the rest of
//! the plan still runs.
//!
//! Events go to a callback (`FnMut(AgentEvent)`), called synchronously in
//! order; a caller with a channel passes `|e| { let _ = tx.send(e); }`.

mod bounds;
mod helm;
mod platform;
pub mod quantity;
mod todos;
mod yaml;

pub use bounds::Bounds;

use super::{AgentError, AgentEvent};
use crate::model::{Mitigation, Plan, Todo, TodoStatus};
use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

/// Largest manifest it will read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// How deep it looks for manifests.
const MAX_DEPTH: usize = 8;
/// Directories that never hold deployment manifests.
const SKIP_DIRS: [&str; 4] = [".git", "node_modules", "target", "vendor"];

/// What one mitigation asks of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Want<'a> {
    /// A memory limit of at least `bytes`, at most `max_factor` × the current one.
    Memory {
        /// The limit asked for.
        bytes: u64,
        /// The band: no more than this many times the current limit.
        max_factor: f64,
    },
    /// This many replicas.
    Replicas(u32),
    /// This image tag.
    Tag(&'a str),
}

/// One text edit in a manifest, with what it means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldEdit {
    /// Bytes to replace.
    pub(crate) range: Range<usize>,
    /// What goes there.
    pub(crate) text: String,
    /// The field, as an engineer would name it (`spec.replicas`).
    pub(crate) field: String,
    /// Its value before.
    pub(crate) before: String,
    /// Its value after.
    pub(crate) after: String,
    /// 1-based line, 0 when not known.
    pub(crate) line: usize,
}

/// The edits a manifest needs, and anything worth telling the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) edits: Vec<FieldEdit>,
    pub(crate) notes: Vec<String>,
}

impl Outcome {
    fn one(edit: FieldEdit) -> Outcome {
        Outcome {
            edits: vec![edit],
            notes: Vec::new(),
        }
    }

    fn note(note: String) -> Outcome {
        Outcome {
            edits: Vec::new(),
            notes: vec![note],
        }
    }

    /// `text` with the edits made (they never overlap).
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut edits: Vec<&FieldEdit> = self.edits.iter().collect();
        edits.sort_by_key(|e| std::cmp::Reverse(e.range.start));
        let mut out = text.to_string();
        for e in edits {
            out.replace_range(e.range.clone(), &e.text);
        }
        out
    }
}

/// One value the agent changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file, relative to the checkout.
    pub file: String,
    /// The service it belongs to.
    pub service: String,
    /// The field (`containers[api].resources.limits.memory`).
    pub field: String,
    /// The value before (`32G`).
    pub before: String,
    /// The value after (`48G`).
    pub after: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Every value changed, in order.
    pub changes: Vec<Change>,
    /// The final to-do list.
    pub todos: Vec<Todo>,
    /// The text of [`AgentEvent::Finished`].
    pub summary: String,
}

/// The kinds of manifest it can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kubernetes,
    Compose,
    RailwayToml,
    RailwayJson,
    Fly,
    /// A Helm chart's `values*.yaml`.
    HelmValues,
    /// A Kustomize `kustomization.yaml`.
    Kustomization,
}

#[derive(Debug, Clone)]
struct Manifest {
    rel: String,
    kind: Kind,
    /// The directory it sits in (its service, for platform configs).
    dir: Option<String>,
}

/// Carries out `plan` in `checkout` within `bounds`, reporting to
/// `on_event` as it goes.
///
/// The plan's steps become the initial to-do list; each [`Mitigation`] is
/// attached to the step that describes it best (or gets its own to-do).
/// Returns an error only when it cannot work at all (no checkout, a write
/// failing); a mitigation it cannot carry out, or that `bounds` refuse,
/// marks its to-do failed with the reason.
pub fn run(
    plan: &Plan,
    checkout: &Path,
    bounds: &Bounds,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<Report, AgentError> {
    let result = run_inner(plan, checkout, bounds, on_event);
    if let Err(e) = &result {
        on_event(AgentEvent::Failed {
            error: e.to_string(),
        });
    }
    result
}

fn run_inner(
    plan: &Plan,
    checkout: &Path,
    bounds: &Bounds,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<Report, AgentError> {
    let root = checkout
        .canonicalize()
        .map_err(|source| AgentError::Checkout {
            path: checkout.display().to_string(),
            source,
        })?;
    let (mut todos, work) = todos::todo_list(plan);
    on_event(AgentEvent::Todos(todos.clone()));
    on_event(AgentEvent::Log(format!("Plan: {}", plan.title)));

    let mut refused = Vec::new();
    let manifests = discover(&root, &mut refused)?;
    for r in &refused {
        on_event(AgentEvent::Log(format!(
            "{r}: refused, it is a symlink leading outside the checkout"
        )));
    }
    on_event(AgentEvent::Log(format!(
        "Found {} deployment manifest{}: {}",
        manifests.len(),
        if manifests.len() == 1 { "" } else { "s" },
        manifests
            .iter()
            .map(|m| m.rel.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )));

    let mut changes = Vec::new();
    let mut left = Vec::new();
    let mut failed = Vec::new();
    let mut done = std::collections::HashSet::new();
    for (t, mitigations) in work.iter().enumerate() {
        if mitigations.is_empty() {
            on_event(AgentEvent::Log(format!(
                "{}: left pending, a human or a coding agent must do it (this agent only edits deployment manifests): {}",
                todos[t].id, todos[t].content
            )));
            left.push(format!("{}: {}", todos[t].id, todos[t].content));
            continue;
        }
        todos[t].status = TodoStatus::InProgress;
        on_event(AgentEvent::Todos(todos.clone()));
        let mut ok = true;
        for m in mitigations {
            // The band is measured from the manifest as it is; a second change
            // of the same kind would be measured from the first one's result
            // and compound (4x, then 16x...). One of each kind per service.
            let check = bounds.check(m).and_then(|()| {
                let key = (std::mem::discriminant(m), mitigation_service(m).to_string());
                if done.insert(key) {
                    Ok(())
                } else {
                    Err(format!(
                        "a second {} for {} in one plan: the band is measured from the manifest before this run, so one change of each kind per service",
                        kind_word(m),
                        mitigation_service(m)
                    ))
                }
            });
            if let Err(reason) = check {
                ok = false;
                let reason = format!("refused: {reason}");
                on_event(AgentEvent::Log(format!("{}: {reason}", todos[t].id)));
                failed.push(format!("{}: {reason}", todos[t].id));
                continue;
            }
            match carry_out(&root, &manifests, &refused, m, bounds, on_event)? {
                Ok(mut c) => changes.append(&mut c),
                Err(reason) => {
                    ok = false;
                    on_event(AgentEvent::Log(format!(
                        "{}: failed: {reason}",
                        todos[t].id
                    )));
                    failed.push(format!("{}: {reason}", todos[t].id));
                }
            }
        }
        todos[t].status = if ok {
            TodoStatus::Completed
        } else {
            TodoStatus::Failed
        };
        on_event(AgentEvent::Todos(todos.clone()));
    }

    let summary = summarise(&changes, &left, &failed);
    on_event(AgentEvent::Finished {
        summary: summary.clone(),
    });
    Ok(Report {
        changes,
        todos,
        summary,
    })
}

/// A mitigation in the operator's words.
pub fn describe(m: &Mitigation) -> String {
    match m {
        Mitigation::RaiseMemoryLimit { service, bytes } => {
            format!(
                "Raise {service}'s memory limit to {}",
                quantity::Human(*bytes)
            )
        }
        Mitigation::SetReplicas { service, replicas } => {
            format!("Run {replicas} replicas of {service}")
        }
        Mitigation::RollbackImage { service, tag } if bounds::is_image_ref(tag) => {
            format!("Roll {service} back to {tag}")
        }
        // Not a tag: shown quoted and escaped, it can never read as YAML.
        Mitigation::RollbackImage { service, tag } => format!("Roll {service} back to {tag:?}"),
    }
}

/// Carries out one mitigation on every manifest of its service.
/// Outer error: could not write; inner error: could not do it (the reason).
fn carry_out(
    root: &Path,
    manifests: &[Manifest],
    refused: &[String],
    m: &Mitigation,
    bounds: &Bounds,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<Result<Vec<Change>, String>, AgentError> {
    let (service, want) = match m {
        Mitigation::RaiseMemoryLimit { service, bytes } => (
            service.0.as_str(),
            Want::Memory {
                bytes: *bytes,
                max_factor: bounds.max_limit_factor,
            },
        ),
        Mitigation::SetReplicas { service, replicas } => {
            (service.0.as_str(), Want::Replicas(*replicas))
        }
        Mitigation::RollbackImage { service, tag } => (service.0.as_str(), Want::Tag(tag)),
    };
    on_event(AgentEvent::Log(describe(m)));
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    let mut handled = false;
    for mf in manifests {
        let path = root.join(&mf.rel);
        let text = read(&path, &mf.rel)?;
        let here = match mf.kind {
            Kind::Kubernetes => yaml::kubernetes(&text, service, &want),
            Kind::HelmValues => {
                let chart = helm::chart_beside(root, &mf.rel)?;
                helm::values(&text, chart.as_deref(), mf.dir.as_deref(), service, &want)
            }
            Kind::Kustomization => helm::kustomization(&text, service, &want),
            Kind::Compose => yaml::compose(&text, service, &want),
            Kind::RailwayToml if mf.dir.as_deref() == Some(service) => {
                Some(platform::railway_toml(&text, &want))
            }
            Kind::RailwayJson if mf.dir.as_deref() == Some(service) => {
                Some(platform::railway_json(&text, &want))
            }
            Kind::Fly
                if platform::fly_app(&text).as_deref() == Some(service)
                    || mf.dir.as_deref() == Some(service) =>
            {
                Some(platform::fly_toml(&text, &want))
            }
            _ => None,
        };
        match here {
            None => {}
            Some(Err(reason)) => problems.push(format!("{}: {reason}", mf.rel)),
            Some(Ok(outcome)) => {
                handled = true;
                for n in &outcome.notes {
                    on_event(AgentEvent::Log(format!("{}: {n}", mf.rel)));
                }
                if outcome.edits.is_empty() {
                    continue;
                }
                write_atomic(root, &mf.rel, &outcome.apply(&text))?;
                for e in &outcome.edits {
                    let at = if e.line > 0 {
                        format!(":{}", e.line)
                    } else {
                        String::new()
                    };
                    on_event(AgentEvent::Log(format!(
                        "{}{at}: {} {} → {}",
                        mf.rel, e.field, e.before, e.after
                    )));
                    changes.push(Change {
                        file: mf.rel.clone(),
                        service: service.to_string(),
                        field: e.field.clone(),
                        before: e.before.clone(),
                        after: e.after.clone(),
                    });
                }
                on_event(AgentEvent::FileChanged(mf.rel.clone()));
            }
        }
    }
    for p in &problems {
        on_event(AgentEvent::Log(p.clone()));
    }
    if handled {
        return Ok(Ok(changes));
    }
    if !problems.is_empty() {
        return Ok(Err(problems.join("; ")));
    }
    let mut reason = format!(
        "no manifest for `{service}` found (looked for a Kubernetes workload named {service}, a Helm chart's values or \
         a kustomization for it, a Compose service {service}, {service}/railway.toml, {service}/railway.json and a \
         fly.toml with app = \"{service}\")"
    );
    if !refused.is_empty() {
        reason.push_str(&format!(
            "; refused symlinks leading outside the checkout: {}",
            refused.join(", ")
        ));
    }
    Ok(Err(reason))
}

fn summarise(changes: &[Change], left: &[String], failed: &[String]) -> String {
    let mut s = String::new();
    if changes.is_empty() {
        s.push_str("No manifest changed.\n");
    } else {
        s.push_str("Changed:\n");
        for c in changes {
            s.push_str(&format!(
                "- {} ({}): {} {} → {}\n",
                c.file, c.service, c.field, c.before, c.after
            ));
        }
    }
    if !failed.is_empty() {
        s.push_str("Could not do:\n");
        for f in failed {
            s.push_str(&format!("- {f}\n"));
        }
    }
    if !left.is_empty() {
        s.push_str("Left for a human or a coding agent:\n");
        for l in left {
            s.push_str(&format!("- {l}\n"));
        }
    }
    s.trim_end().to_string()
}

/// Every manifest under `root`, sorted by path; symlinks leading out go to `refused`.
fn discover(root: &Path, refused: &mut Vec<String>) -> Result<Vec<Manifest>, AgentError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let rd = fs::read_dir(&dir).map_err(|source| AgentError::Io {
            path: rel(root, &dir),
            source,
        })?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for path in entries {
            let r = rel(root, &path);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                // A link inside the checkout is reached by its target's own path.
                let inside = path
                    .canonicalize()
                    .map(|t| t.starts_with(root))
                    .unwrap_or(false);
                if !inside {
                    refused.push(r);
                }
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if meta.is_dir() {
                if depth < MAX_DEPTH && !SKIP_DIRS.contains(&name) && !name.starts_with('.') {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
                continue;
            }
            let Some(kind) = classify(name) else { continue };
            let dir = path
                .parent()
                .filter(|p| *p != root)
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .map(str::to_string);
            out.push(Manifest { rel: r, kind, dir });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn classify(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    let yaml = lower.ends_with(".yaml") || lower.ends_with(".yml");
    Some(
        if yaml && (lower.starts_with("docker-compose") || lower.starts_with("compose")) {
            Kind::Compose
        } else if yaml && lower.starts_with("values") {
            Kind::HelmValues
        } else if yaml && lower.starts_with("kustomization") {
            Kind::Kustomization
        } else if yaml {
            Kind::Kubernetes
        } else if lower == "railway.toml" {
            Kind::RailwayToml
        } else if lower == "railway.json" {
            Kind::RailwayJson
        } else if lower == "fly.toml" || (lower.starts_with("fly.") && lower.ends_with(".toml")) {
            Kind::Fly
        } else {
            return None;
        },
    )
}

/// `path` relative to `root`, `/`-separated.
fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    r.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(path: &Path, rel: &str) -> Result<String, AgentError> {
    fs::read_to_string(path).map_err(|source| AgentError::Io {
        path: rel.to_string(),
        source,
    })
}

/// The checkout-relative `rel` as a path inside `root`, or an error if it would lead out.
pub fn inside(root: &Path, rel: &str) -> Result<PathBuf, AgentError> {
    let escape = || AgentError::Escape {
        path: rel.to_string(),
    };
    let p = Path::new(rel);
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(escape());
    }
    let root = root.canonicalize().map_err(|source| AgentError::Checkout {
        path: root.display().to_string(),
        source,
    })?;
    let full = root.join(p);
    let parent = full.parent().ok_or_else(escape)?;
    let parent = parent.canonicalize().map_err(|_| escape())?;
    if !parent.starts_with(&root) {
        return Err(escape());
    }
    if fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(escape());
    }
    Ok(full)
}

/// Writes `text` to `rel` in `root` through a temporary file and a rename,
/// so a crash never leaves half a manifest; keeps the file's permissions.
fn write_atomic(root: &Path, rel: &str, text: &str) -> Result<(), AgentError> {
    let path = inside(root, rel)?;
    let io = |source| AgentError::Io {
        path: rel.to_string(),
        source,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("manifest");
    let tmp = path.with_file_name(format!(".{name}.medic-tmp"));
    fs::write(&tmp, text).map_err(io)?;
    if let Ok(meta) = fs::metadata(&path) {
        fs::set_permissions(&tmp, meta.permissions()).map_err(io)?;
    }
    fs::rename(&tmp, &path).map_err(io)
}

/// The service a mitigation names.
fn mitigation_service(m: &Mitigation) -> &str {
    match m {
        Mitigation::RaiseMemoryLimit { service, .. }
        | Mitigation::SetReplicas { service, .. }
        | Mitigation::RollbackImage { service, .. } => &service.0,
    }
}

/// What kind of change a mitigation is, in words.
fn kind_word(m: &Mitigation) -> &'static str {
    match m {
        Mitigation::RaiseMemoryLimit { .. } => "memory change",
        Mitigation::SetReplicas { .. } => "replica change",
        Mitigation::RollbackImage { .. } => "image change",
    }
}
