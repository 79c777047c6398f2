//! Platform configs: `railway.toml`, `railway.json` and `fly.toml`.
//!
//! TOML goes through `toml_edit`, which keeps comments, order and quoting
//! of everything it is not asked to change; JSON is edited in place at the
//! value's bytes (a serializer would reflow the file). What a platform's
//! config cannot express (Railway has no memory limit in config-as-code)
//! is refused with a reason, never approximated.

use super::quantity::{self, Style};
use super::{FieldEdit, Outcome, Want};
use std::ops::Range;
use toml_edit::{DocumentMut, Item, Table, Value};

fn parse_toml(text: &str, file: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>()
        .map_err(|e| format!("{file} is not valid TOML: {}", e.message()))
}

/// A whole-file edit: toml_edit re-renders the document, untouched parts byte for byte.
fn whole(text: &str, doc: &DocumentMut, field: &str, before: String, after: String) -> FieldEdit {
    FieldEdit {
        range: 0..text.len(),
        text: doc.to_string(),
        field: field.to_string(),
        before,
        after,
        line: 0,
    }
}

/// `new`, in the same string quoting and with the same surrounding spaces
/// and comment as `old`.
fn like(old: Option<&Value>, new: Value) -> Value {
    let mut new = match (old, &new) {
        (Some(Value::String(o)), Value::String(n))
            if o.display_repr().starts_with('\'') && !n.value().contains('\'') =>
        {
            format!("'{}'", n.value()).parse::<Value>().unwrap_or(new)
        }
        _ => new,
    };
    if let Some(old) = old {
        *new.decor_mut() = old.decor().clone();
    }
    new
}

fn display(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.value().clone(),
        Some(v) => v.clone().decorated("", "").to_string(),
        None => "(unset)".to_string(),
    }
}

/// Replaces the value at `key` in place, so the key's own indentation survives
/// (`Table::insert` would re-create the key with default decoration).
fn put(table: &mut Table, key: &str, v: Value) {
    match table.get_mut(key) {
        Some(item) => *item = Item::Value(v),
        None => {
            table.insert(key, Item::Value(v));
        }
    }
}

/// Sets `key` in `table`, keeping the old value's decoration; returns (before, after).
fn set(table: &mut Table, key: &str, new: Value) -> (String, String) {
    let old = table.get(key).and_then(Item::as_value).cloned();
    let v = like(old.as_ref(), new);
    let after = display(Some(&v));
    put(table, key, v);
    (display(old.as_ref()), after)
}

/// `railway.toml`: replicas are `[deploy] numReplicas`; memory and image are not in config-as-code.
pub(crate) fn railway_toml(text: &str, want: &Want) -> Result<Outcome, String> {
    let mut doc = parse_toml(text, "railway.toml")?;
    match want {
        Want::Replicas(n) => {
            let deploy = doc
                .entry("deploy")
                .or_insert_with(|| Item::Table(Table::new()))
                .as_table_mut()
                .ok_or("railway.toml: `deploy` is not a table")?;
            let (before, after) = set(deploy, "numReplicas", Value::from(*n as i64));
            Ok(Outcome::one(whole(text, &doc, "deploy.numReplicas", before, after)))
        }
        Want::Memory { .. } => Err("railway.toml cannot set a memory limit; change it in the service's settings on Railway".into()),
        Want::Tag(_) => Err("railway.toml does not pin an image; roll back from the service's deployments on Railway".into()),
    }
}

/// `fly.toml`: memory is `[[vm]] memory` (or `memory_mb`), replicas
/// `[http_service] min_machines_running`, the image `[build] image`.
pub(crate) fn fly_toml(text: &str, want: &Want) -> Result<Outcome, String> {
    let mut doc = parse_toml(text, "fly.toml")?;
    match want {
        Want::Memory { bytes, max_factor } => {
            let vms = doc
                .get_mut("vm")
                .and_then(Item::as_array_of_tables_mut)
                .ok_or("fly.toml has no [[vm]] section; add one by hand")?;
            let mut out = Outcome::default();
            let mut changed = Vec::new();
            for (n, vm) in vms.iter_mut().enumerate() {
                let (key, old) = match (vm.get("memory"), vm.get("memory_mb")) {
                    (Some(Item::Value(v)), _) => ("memory", v.clone()),
                    (None, Some(Item::Value(v))) => ("memory_mb", v.clone()),
                    _ => continue,
                };
                let old_text = match &old {
                    Value::String(s) => s.value().clone(),
                    Value::Integer(i) => i.value().to_string(),
                    other => return Err(format!("fly.toml: [[vm]] {key} = {other} is not a size")),
                };
                let current =
                    quantity::parse(&old_text, Style::Fly).map_err(|e| format!("fly.toml: {e}"))?;
                let field = format!("vm[{n}].{key}");
                super::bounds::within_band(&field, current, *bytes, *max_factor)?;
                if current >= *bytes {
                    out.notes.push(format!(
                        "{field} is already {old_text} ({}), at or above the {} asked for; left as is",
                        quantity::Human(current),
                        quantity::Human(*bytes)
                    ));
                    continue;
                }
                let new_text = quantity::format_like(&old_text, *bytes, Style::Fly);
                let new = match &old {
                    Value::Integer(_) => {
                        Value::from(new_text.parse::<i64>().map_err(|e| e.to_string())?)
                    }
                    _ => Value::from(new_text.clone()),
                };
                put(vm, key, like(Some(&old), new));
                changed.push((field, old_text, new_text));
            }
            if changed.is_empty() && out.notes.is_empty() {
                return Err("fly.toml: no [[vm]] section sets memory; add `memory` by hand".into());
            }
            if !changed.is_empty() {
                let join = |f: fn(&(String, String, String)) -> &str| {
                    changed.iter().map(f).collect::<Vec<_>>().join(", ")
                };
                let (field, before, after) = (join(|c| &c.0), join(|c| &c.1), join(|c| &c.2));
                out.edits.push(whole(text, &doc, &field, before, after));
            }
            Ok(out)
        }
        Want::Replicas(n) => {
            let svc = doc
                .get_mut("http_service")
                .and_then(Item::as_table_mut)
                .ok_or("fly.toml has no [http_service]; scale with `fly scale count`")?;
            let (before, after) = set(svc, "min_machines_running", Value::from(*n as i64));
            let mut out = Outcome::one(whole(
                text,
                &doc,
                "http_service.min_machines_running",
                before,
                after,
            ));
            out.notes.push(format!(
                "Fly keeps at least {n} Machines running; the total is `fly scale count`, which a config file cannot set"
            ));
            Ok(out)
        }
        Want::Tag(tag) => {
            let build = doc
                .get_mut("build")
                .and_then(Item::as_table_mut)
                .filter(|b| b.contains_key("image"))
                .ok_or("fly.toml builds from source (no [build] image); roll back with `fly deploy --image`")?;
            let image = build
                .get("image")
                .and_then(Item::as_str)
                .ok_or("fly.toml: [build] image is not a string")?;
            let new = super::yaml::retag(image, tag);
            let (before, after) = set(build, "image", Value::from(new));
            Ok(Outcome::one(whole(
                text,
                &doc,
                "build.image",
                before,
                after,
            )))
        }
    }
}

/// The `app` name a `fly.toml` deploys.
pub(crate) fn fly_app(text: &str) -> Option<String> {
    let doc = text.parse::<DocumentMut>().ok()?;
    doc.get("app").and_then(Item::as_str).map(str::to_string)
}

/// `railway.json`: replicas are `deploy.numReplicas`, edited at the value's bytes.
pub(crate) fn railway_json(text: &str, want: &Want) -> Result<Outcome, String> {
    let Want::Replicas(n) = want else {
        return Err(match want {
            Want::Memory { .. } => "railway.json cannot set a memory limit; change it in the service's settings on Railway",
            _ => "railway.json does not pin an image; roll back from the service's deployments on Railway",
        }
        .into());
    };
    serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| format!("railway.json is not valid JSON: {e}"))?;
    let mut scan = JsonScan {
        s: text.as_bytes(),
        i: 0,
        want: &["deploy", "numReplicas"],
        value: None,
        parent: None,
    };
    scan.value(&mut Vec::new());
    let field = "deploy.numReplicas".to_string();
    if let Some(r) = scan.value {
        return Ok(Outcome::one(FieldEdit {
            before: text[r.clone()].to_string(),
            range: r,
            text: n.to_string(),
            field,
            after: n.to_string(),
            line: 0,
        }));
    }
    let Some(open) = scan.parent else {
        return Err("railway.json has no `deploy` object; add one by hand".into());
    };
    // Insert as the first member, with the whitespace the next member has.
    let rest = &text[open + 1..];
    let ws = &rest[..rest.len() - rest.trim_start().len()];
    let empty = rest.trim_start().starts_with('}');
    let sep = if empty { "" } else { "," };
    Ok(Outcome::one(FieldEdit {
        range: open + 1..open + 1,
        text: format!("{ws}\"numReplicas\": {n}{sep}"),
        field,
        before: "(unset)".into(),
        after: n.to_string(),
        line: 0,
    }))
}

/// Finds the byte range of the value at `want`, and where its parent object opens.
struct JsonScan<'a> {
    s: &'a [u8],
    i: usize,
    want: &'a [&'a str],
    value: Option<Range<usize>>,
    parent: Option<usize>,
}

impl JsonScan<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Range<usize> {
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() && self.s[self.i] != b'"' {
            self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
        }
        self.i += 1;
        start..self.i.min(self.s.len())
    }

    fn value(&mut self, path: &mut Vec<String>) {
        self.ws();
        let start = self.i;
        let at_want =
            path.len() == self.want.len() && path.iter().zip(self.want).all(|(a, b)| a == b);
        let at_parent =
            path.len() + 1 == self.want.len() && path.iter().zip(self.want).all(|(a, b)| a == b);
        match self.s.get(self.i) {
            Some(b'{') => {
                if at_parent {
                    self.parent = Some(self.i);
                }
                self.i += 1;
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b'}') | None => break,
                        Some(b',') => self.i += 1,
                        Some(b'"') => {
                            let k = self.string();
                            let key = String::from_utf8_lossy(&self.s[k.start + 1..k.end - 1])
                                .into_owned();
                            self.ws();
                            self.i += 1; // the colon
                            path.push(key);
                            self.value(path);
                            path.pop();
                        }
                        Some(_) => self.i += 1,
                    }
                }
                self.i += 1;
            }
            Some(b'[') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b']') | None => break,
                        Some(b',') => self.i += 1,
                        Some(_) => {
                            path.push("#".into());
                            self.value(path);
                            path.pop();
                        }
                    }
                }
                self.i += 1;
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self.i < self.s.len() && !b",}] \t\r\n".contains(&self.s[self.i]) {
                    self.i += 1;
                }
            }
            None => {}
        }
        if at_want {
            self.value = Some(start..self.i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_value_and_insert() {
        let text =
            "{\n  \"deploy\": {\n    \"startCommand\": \"x\",\n    \"numReplicas\": 2\n  }\n}\n";
        let out = railway_json(text, &Want::Replicas(4)).unwrap();
        assert_eq!(
            out.apply(text),
            text.replace("\"numReplicas\": 2", "\"numReplicas\": 4")
        );
        let text = "{\n  \"deploy\": {\n    \"startCommand\": \"x\"\n  }\n}\n";
        let out = railway_json(text, &Want::Replicas(3)).unwrap();
        assert_eq!(
            out.apply(text),
            "{\n  \"deploy\": {\n    \"numReplicas\": 3,\n    \"startCommand\": \"x\"\n  }\n}\n"
        );
        assert!(railway_json("{\"build\": {}}", &Want::Replicas(3)).is_err());
    }
}
