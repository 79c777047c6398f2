//! Targeted edits to block-style YAML (Kubernetes workloads, Compose files):
//! find a key by its path, replace only its scalar's bytes.
//!
//! No YAML library round-trips comments and layout, so this is a small
//! line scanner that understands indentation, `- ` items, quoting and
//! trailing comments — enough to locate a key — and refuses (with a reason)
//! anything it does not understand, such as a flow mapping (`{cpu: 1}`) or
//! an alias, rather than guessing.

use super::bounds::within_band;
use super::quantity::{self, Style};
use super::{FieldEdit, Outcome, Want};
use std::ops::Range;

/// One physical line, as the scanner sees it.
#[derive(Debug, Clone)]
struct Line {
    /// Byte offset of the line's first byte.
    start: usize,
    indent: usize,
    /// Not blank and not only a comment.
    content: bool,
    doc_sep: bool,
    dash: bool,
    /// The key's column and its (unquoted) text.
    key: Option<(usize, String)>,
    /// The scalar value's absolute byte range, quotes included.
    value: Option<Range<usize>>,
}

/// A YAML text and its scanned lines.
pub(crate) struct Yaml<'a> {
    text: &'a str,
    lines: Vec<Line>,
}

impl<'a> Yaml<'a> {
    /// Every line: the whole text as one range.
    pub(super) fn all(&self) -> Range<usize> {
        0..self.lines.len()
    }

    pub(crate) fn new(text: &'a str) -> Yaml<'a> {
        let mut lines = Vec::new();
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let body = raw.trim_end_matches('\n').trim_end_matches('\r');
            lines.push(scan(text, start, start + body.len()));
            start += raw.len();
        }
        Yaml { text, lines }
    }

    /// Line ranges of the `---`-separated documents that have content.
    pub(super) fn docs(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut from = 0;
        for (i, l) in self.lines.iter().enumerate() {
            if l.doc_sep {
                out.push(from..i);
                from = i + 1;
            }
        }
        out.push(from..self.lines.len());
        out.retain(|r| self.first_content(r.clone()).is_some());
        out
    }

    fn first_content(&self, r: Range<usize>) -> Option<usize> {
        r.into_iter().find(|&j| self.lines[j].content)
    }

    /// The lines under the key on line `i` (its nested block), trailing blanks dropped.
    pub(super) fn block(&self, i: usize) -> Range<usize> {
        let col = self.lines[i]
            .key
            .as_ref()
            .map_or(self.lines[i].indent, |k| k.0);
        let mut end = i + 1;
        let mut last = i + 1;
        while end < self.lines.len() {
            let l = &self.lines[end];
            if l.doc_sep {
                break;
            }
            if l.content {
                if l.indent > col || (l.dash && l.indent == col) {
                    last = end + 1;
                } else {
                    break;
                }
            }
            end += 1;
        }
        i + 1..last
    }

    /// The line of `key` among the mapping entries of range `r`.
    pub(super) fn key_in(&self, r: Range<usize>, key: &str) -> Option<usize> {
        let first = self.first_content(r.clone())?;
        let col = self.lines[first].key.as_ref()?.0;
        r.into_iter().find(|&j| {
            let l = &self.lines[j];
            l.content && matches!(&l.key, Some((c, k)) if *c == col && k == key)
        })
    }

    /// Follows `path` from mapping range `r`; the line of the last key.
    pub(super) fn path(&self, r: Range<usize>, path: &[&str]) -> Option<usize> {
        let mut range = r;
        let mut line = None;
        for key in path {
            let j = self.key_in(range, key)?;
            line = Some(j);
            range = self.block(j);
        }
        line
    }

    /// The items (line ranges) of the sequence under the key on line `i`.
    pub(super) fn items(&self, i: usize) -> Vec<Range<usize>> {
        let r = self.block(i);
        let Some(first) = self.first_content(r.clone()) else {
            return Vec::new();
        };
        if !self.lines[first].dash {
            return Vec::new();
        }
        let d = self.lines[first].indent;
        let starts: Vec<usize> = r
            .clone()
            .filter(|&j| self.lines[j].content && self.lines[j].dash && self.lines[j].indent == d)
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| s..starts.get(n + 1).copied().unwrap_or(r.end))
            .collect()
    }

    /// The scalar value on line `i` (without quotes), or why it is not one.
    pub(super) fn scalar(&self, i: usize) -> Result<(Range<usize>, &'a str), String> {
        let l = &self.lines[i];
        let key = l.key.as_ref().map_or("", |k| k.1.as_str());
        let Some(v) = l.value.clone() else {
            return Err(format!("line {}: `{key}` has no value on its line", i + 1));
        };
        let raw = &self.text[v.clone()];
        if raw.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
            return Err(format!(
                "line {}: `{key}: {raw}` is not a plain value (flow style, anchor, alias or block); edit it by hand",
                i + 1
            ));
        }
        Ok((v, unquote(raw)))
    }

    /// Replaces line `i`'s scalar with `new`, keeping its quotes.
    pub(super) fn set(&self, i: usize, field: &str, new: &str) -> Result<FieldEdit, String> {
        let (range, old) = self.scalar(i)?;
        let raw = &self.text[range.clone()];
        let text = match raw.chars().next() {
            Some(q @ ('"' | '\'')) => format!("{q}{new}{q}"),
            _ => new.to_string(),
        };
        Ok(FieldEdit {
            range,
            text,
            field: field.to_string(),
            before: old.to_string(),
            after: new.to_string(),
            line: i + 1,
        })
    }

    /// Inserts `key: value` as the first entry under the key on line `i`.
    fn insert(&self, i: usize, key: &str, value: &str, field: &str) -> Result<FieldEdit, String> {
        if self.lines[i].value.is_some() {
            return Err(format!(
                "line {}: cannot add `{key}` under an inline value",
                i + 1
            ));
        }
        let block = self.block(i);
        let (col, at) = match self.first_content(block) {
            Some(f) if self.lines[f].dash => {
                return Err(format!("line {}: expected a mapping, found a list", f + 1))
            }
            Some(f) => (self.lines[f].indent, self.lines[f].start),
            None => {
                let parent = self.lines[i].key.as_ref().map_or(0, |k| k.0);
                let at = self.lines.get(i + 1).map_or(self.text.len(), |n| n.start);
                (parent + 2, at)
            }
        };
        let newline = if at == self.text.len() && !self.text.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        let eol = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        Ok(FieldEdit {
            range: at..at,
            text: format!("{newline}{}{key}: {value}{eol}", " ".repeat(col)),
            field: field.to_string(),
            before: "(unset)".to_string(),
            after: value.to_string(),
            line: i + 2,
        })
    }
}

fn unquote(raw: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    raw
}

fn scan(text: &str, start: usize, end: usize) -> Line {
    let s = &text[start..end];
    let indent = s.len() - s.trim_start_matches(' ').len();
    let rest = &s[indent..];
    let content = !rest.trim().is_empty() && !rest.starts_with('#');
    let doc_sep = indent == 0 && (rest == "---" || rest.starts_with("--- ") || rest == "...");
    let mut line = Line {
        start,
        indent,
        content,
        doc_sep,
        dash: false,
        key: None,
        value: None,
    };
    if !content || doc_sep {
        return line;
    }
    let mut col = indent;
    if rest == "-" || rest.starts_with("- ") {
        line.dash = true;
        let after = &s[indent + 1..];
        col = indent + 1 + (after.len() - after.trim_start_matches(' ').len());
    }
    let from = match key_at(&s[col..]) {
        Some((key, used)) => {
            line.key = Some((col, key));
            col + used
        }
        None => col,
    };
    line.value = scalar_span(s, from).map(|r| start + r.start..start + r.end);
    line
}

/// A mapping key at the start of `r`: its text and the bytes it uses (with the colon).
fn key_at(r: &str) -> Option<(String, usize)> {
    let (key, used) = if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = r[1..].find(q)? + 1;
        (r[1..close].to_string(), close + 1)
    } else {
        if r.starts_with(['{', '[', '#', '&', '*', '!', '|', '>', '-', '"', '\'']) {
            return None;
        }
        let mut at = None;
        for (i, c) in r.char_indices() {
            if c == '#' && i > 0 && r[..i].ends_with([' ', '\t']) {
                return None;
            }
            if c == ':'
                && r[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| n == ' ' || n == '\t')
            {
                at = Some(i);
                break;
            }
        }
        let i = at?;
        (r[..i].trim_end().to_string(), i)
    };
    let after = &r[used..];
    if !after.starts_with(':')
        || !after[1..]
            .chars()
            .next()
            .is_none_or(|n| n == ' ' || n == '\t')
    {
        return None;
    }
    Some((key, used + 1))
}

/// The scalar starting at or after byte `from` of line `s`, without its trailing comment.
fn scalar_span(s: &str, from: usize) -> Option<Range<usize>> {
    let lead = s[from..].len() - s[from..].trim_start_matches([' ', '\t']).len();
    let at = from + lead;
    let v = &s[at..];
    if v.is_empty() || v.starts_with('#') {
        return None;
    }
    if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = v[1..].find(q).map_or(v.len(), |p| p + 2);
        return Some(at..at + close);
    }
    let mut end = v.len();
    for (i, c) in v.char_indices() {
        if c == '#' && i > 0 && v[..i].ends_with([' ', '\t']) {
            end = i;
            break;
        }
    }
    let trimmed = v[..end].trim_end();
    Some(at..at + trimmed.len())
}

/// Workloads that run pods from a template.
const WORKLOADS: [&str; 4] = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"];

/// Edits to a Kubernetes manifest so `service`'s workload does `want`;
/// `None` when the file holds no workload for the service.
pub(crate) fn kubernetes(
    text: &str,
    service: &str,
    want: &Want,
) -> Option<Result<Outcome, String>> {
    let y = Yaml::new(text);
    // A Kubernetes workload id (`namespace/name`, the kubernetes preset's
    // services) matches by name, and by namespace where the manifest says one.
    let (namespace, service) = match service.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, service),
    };
    let mut found = None;
    for doc in y.docs() {
        let kind = y.key_in(doc.clone(), "kind").and_then(|k| y.scalar(k).ok());
        let Some((_, kind)) = kind else { continue };
        if !WORKLOADS.contains(&kind) {
            continue;
        }
        let name = y
            .path(doc.clone(), &["metadata", "name"])
            .and_then(|n| y.scalar(n).ok());
        let app = y
            .path(doc.clone(), &["metadata", "labels", "app"])
            .and_then(|n| y.scalar(n).ok());
        let ns = y
            .path(doc.clone(), &["metadata", "namespace"])
            .and_then(|n| y.scalar(n).ok())
            .map(|n| n.1);
        let ns_ok = match (namespace, ns) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        if ns_ok && (name.map(|n| n.1) == Some(service) || app.map(|a| a.1) == Some(service)) {
            found = Some((doc, kind));
            break;
        }
    }
    let (doc, kind) = found?;
    Some(kubernetes_edit(&y, doc, kind, service, want))
}

fn kubernetes_edit(
    y: &Yaml,
    doc: Range<usize>,
    kind: &str,
    service: &str,
    want: &Want,
) -> Result<Outcome, String> {
    let spec = y
        .key_in(doc.clone(), "spec")
        .ok_or_else(|| format!("the {kind} `{service}` has no spec"))?;
    if let Want::Replicas(n) = want {
        if kind == "DaemonSet" {
            return Err(format!(
                "`{service}` is a DaemonSet (one pod per node): replicas do not apply"
            ));
        }
        let edit = match y.key_in(y.block(spec), "replicas") {
            Some(r) => y.set(r, "spec.replicas", &n.to_string())?,
            None => y.insert(spec, "replicas", &n.to_string(), "spec.replicas")?,
        };
        return Ok(Outcome::one(edit));
    }
    let containers = y
        .path(y.block(spec), &["template", "spec", "containers"])
        .ok_or_else(|| format!("the {kind} `{service}` has no spec.template.spec.containers"))?;
    let items = y.items(containers);
    let name_of = |r: &Range<usize>| {
        y.key_in(r.clone(), "name")
            .and_then(|n| y.scalar(n).ok())
            .map(|s| s.1)
    };
    let item = items
        .iter()
        .find(|r| name_of(r) == Some(service))
        .or_else(|| items.first())
        .ok_or_else(|| format!("the {kind} `{service}` lists no containers"))?
        .clone();
    let cname = name_of(&item).unwrap_or(service).to_string();
    match want {
        Want::Tag(tag) => {
            let i = y
                .key_in(item, "image")
                .ok_or_else(|| format!("container `{cname}` has no image"))?;
            let (_, image) = y.scalar(i)?;
            let edit = y.set(i, &format!("containers[{cname}].image"), &retag(image, tag))?;
            Ok(Outcome::one(edit))
        }
        Want::Memory { bytes, max_factor } => {
            let field = format!("containers[{cname}].resources.limits.memory");
            let limits = y.path(item, &["resources", "limits"]).ok_or_else(|| {
                format!("container `{cname}` has no resources.limits; add one by hand")
            })?;
            match y.key_in(y.block(limits), "memory") {
                Some(m) => raise(y, m, &field, *bytes, *max_factor, Style::K8s),
                // No limit means unlimited: a new one could only lower it, and
                // there is nothing to measure the band against.
                None => Err(format!(
                    "container `{cname}` has no memory limit (unlimited); raising does not apply, set one by hand"
                )),
            }
        }
        Want::Replicas(_) => unreachable!("handled above"),
    }
}

/// Raises the size on line `i` to at least `bytes`, at most `max_factor`
/// times its current value; never lowers it.
pub(super) fn raise(
    y: &Yaml,
    i: usize,
    field: &str,
    bytes: u64,
    max_factor: f64,
    style: Style,
) -> Result<Outcome, String> {
    let (_, old) = y.scalar(i)?;
    let current = quantity::parse(old, style).map_err(|e| format!("line {}: {e}", i + 1))?;
    within_band(field, current, bytes, max_factor)?;
    if current >= bytes {
        return Ok(Outcome::note(format!(
            "{field} is already {old} ({}), at or above the {} asked for; left as is",
            quantity::Human(current),
            quantity::Human(bytes)
        )));
    }
    let new = quantity::format_like(old, bytes, style);
    Ok(Outcome::one(y.set(i, field, &new)?))
}

/// Edits to a Compose file so service `service` does `want`; `None` when it has no such service.
pub(crate) fn compose(text: &str, service: &str, want: &Want) -> Option<Result<Outcome, String>> {
    let y = Yaml::new(text);
    let all = 0..y.lines.len();
    let services = y.key_in(all, "services")?;
    let svc = y.key_in(y.block(services), service)?;
    let body = y.block(svc);
    let at = |p: &[&str]| y.path(body.clone(), p);
    let result = match want {
        Want::Tag(tag) => match at(&["image"]) {
            Some(i) => y
                .scalar(i)
                .and_then(|(_, image)| y.set(i, "image", &retag(image, tag)))
                .map(Outcome::one),
            None => Err(format!("compose service `{service}` has no image (it builds from source)")),
        },
        Want::Replicas(n) => match (at(&["deploy", "replicas"]), at(&["deploy"]), at(&["scale"])) {
            (Some(i), _, _) => y.set(i, "deploy.replicas", &n.to_string()).map(Outcome::one),
            (None, _, Some(i)) => y.set(i, "scale", &n.to_string()).map(Outcome::one),
            (None, Some(d), None) => y.insert(d, "replicas", &n.to_string(), "deploy.replicas").map(Outcome::one),
            (None, None, None) => Err(format!("compose service `{service}` has no deploy section; add one by hand")),
        },
        Want::Memory { bytes, max_factor } => match (at(&["deploy", "resources", "limits", "memory"]), at(&["mem_limit"])) {
            (Some(i), _) => raise(&y, i, "deploy.resources.limits.memory", *bytes, *max_factor, Style::Docker),
            (None, Some(i)) => raise(&y, i, "mem_limit", *bytes, *max_factor, Style::Docker),
            (None, None) => Err(format!(
                "compose service `{service}` has no memory limit (deploy.resources.limits.memory or mem_limit)"
            )),
        },
    };
    Some(result)
}

/// `registry.example/api:v2.14.0` with tag `v2.13.3`; a digest is dropped, a missing tag added.
/// A digest (`sha256:…`) pins the image by content: `registry.example/api@sha256:…`.
pub(crate) fn retag(image: &str, tag: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let name_start = image.rfind('/').map_or(0, |p| p + 1);
    let name = match image[name_start..].find(':') {
        Some(p) => &image[..name_start + p],
        None => image,
    };
    let sep = if tag.starts_with("sha256:") { '@' } else { ':' };
    format!("{name}{sep}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_keys_values_and_comments() {
        let text = "a:\n  - name: \"x # y\" # c\n    image: r/x:1   # pinned\nb: 'q'\n";
        let y = Yaml::new(text);
        assert_eq!(y.lines[1].key, Some((4, "name".into())));
        assert!(y.lines[1].dash);
        assert_eq!(&text[y.lines[1].value.clone().unwrap()], "\"x # y\"");
        assert_eq!(&text[y.lines[2].value.clone().unwrap()], "r/x:1");
        assert_eq!(y.scalar(3).unwrap().1, "q");
        assert_eq!(y.items(0).len(), 1);
        assert_eq!(y.path(0..4, &["b"]), Some(3));
    }

    #[test]
    fn retags_images() {
        assert_eq!(
            retag("registry.example/api:v2.14.0", "v2.13.3"),
            "registry.example/api:v2.13.3"
        );
        assert_eq!(retag("localhost:5000/api", "v1"), "localhost:5000/api:v1");
        assert_eq!(retag("api@sha256:abc", "v1"), "api:v1");
    }
}
