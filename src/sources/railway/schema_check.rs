//! Checks medic's Railway query documents against Railway's published
//! introspection schema (`schema.json`, MIT, from Railway's CLI): every
//! field exists on its parent type and is not deprecated, every argument
//! exists with a compatible type, required arguments are given, enum
//! literals are members of their enum, leaves have no selection and
//! objects have one, and every variable is declared and used.
//!
//! Why not `graphql_client`: it generates types through a proc macro and
//! pulls a GraphQL parser and codegen stack into every build on a 2-core
//! machine, for three small documents; this checker is a few hundred
//! lines, runs in `cargo test`, and fails the build of a PR the same way.
//! It covers the subset medic writes (one query operation, fields, aliases,
//! arguments, variables, lists, enums, scalars); anything else is refused.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Name(String),
    Int(String),
    Float(String),
    Str(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | ':' | '$' | '!' | '[' | ']' | '=' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '"' => {
                let start = i + 1;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                out.push(Tok::Str(chars[start..i.min(chars.len())].iter().collect()));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || ".eE+-".contains(chars[i])) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                out.push(if s.contains(['.', 'e', 'E']) {
                    Tok::Float(s)
                } else {
                    Tok::Int(s)
                });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            '.' => return Err("fragments (`...`) are not supported by this checker".into()),
            c => return Err(format!("unexpected character `{c}`")),
        }
    }
    Ok(out)
}

/// A type as written in a variable definition: `String!`, `[MetricTag!]`.
#[derive(Debug, Clone, PartialEq)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

#[derive(Debug, Clone)]
enum Val {
    Var(String),
    Int,
    Float,
    Str,
    Bool,
    Null,
    Enum(String),
    List(Vec<Val>),
}

#[derive(Debug)]
struct Field {
    name: String,
    args: Vec<(String, Val)>,
    selection: Option<Vec<Field>>,
}

#[derive(Debug)]
struct Operation {
    vars: Vec<(String, TypeRef)>,
    selection: Vec<Field>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let t = self.toks.get(self.pos).cloned().ok_or("unexpected end")?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            t => Err(format!("expected `{c}`, found {t:?}")),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            t => Err(format!("expected a name, found {t:?}")),
        }
    }

    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn operation(&mut self) -> Result<Operation, String> {
        if self.name()? != "query" {
            return Err("only `query` operations are supported".into());
        }
        if matches!(self.peek(), Some(Tok::Name(_))) {
            self.name()?;
        }
        let mut vars = Vec::new();
        if self.is('(') {
            self.expect('(')?;
            while !self.is(')') {
                self.expect('$')?;
                let name = self.name()?;
                self.expect(':')?;
                let ty = self.type_ref()?;
                if self.is('=') {
                    return Err("default values for variables are not supported".into());
                }
                vars.push((name, ty));
            }
            self.expect(')')?;
        }
        let selection = self.selection()?;
        if self.pos != self.toks.len() {
            return Err("only one operation per document".into());
        }
        Ok(Operation { vars, selection })
    }

    fn type_ref(&mut self) -> Result<TypeRef, String> {
        let base = if self.is('[') {
            self.expect('[')?;
            let inner = self.type_ref()?;
            self.expect(']')?;
            TypeRef::List(Box::new(inner))
        } else {
            TypeRef::Named(self.name()?)
        };
        if self.is('!') {
            self.expect('!')?;
            return Ok(TypeRef::NonNull(Box::new(base)));
        }
        Ok(base)
    }

    fn selection(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.is('}') {
            let first = self.name()?;
            let name = if self.is(':') {
                self.expect(':')?;
                self.name()?
            } else {
                first
            };
            let mut args = Vec::new();
            if self.is('(') {
                self.expect('(')?;
                while !self.is(')') {
                    let a = self.name()?;
                    self.expect(':')?;
                    args.push((a, self.value()?));
                }
                self.expect(')')?;
            }
            let selection = if self.is('{') {
                Some(self.selection()?)
            } else {
                None
            };
            fields.push(Field {
                name,
                args,
                selection,
            });
        }
        self.expect('}')?;
        Ok(fields)
    }

    fn value(&mut self) -> Result<Val, String> {
        Ok(match self.next()? {
            Tok::Punct('$') => Val::Var(self.name()?),
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.is(']') {
                    items.push(self.value()?);
                }
                self.expect(']')?;
                Val::List(items)
            }
            Tok::Int(_) => Val::Int,
            Tok::Float(_) => Val::Float,
            Tok::Str(_) => Val::Str,
            Tok::Name(n) if n == "true" || n == "false" => Val::Bool,
            Tok::Name(n) if n == "null" => Val::Null,
            Tok::Name(n) => Val::Enum(n),
            t => return Err(format!("unsupported value {t:?}")),
        })
    }
}

/// The introspection schema, indexed by type name.
pub struct Schema {
    types: HashMap<String, Value>,
    query: String,
}

impl Schema {
    /// Load an introspection result (`{"data": {"__schema": …}}` or `{"__schema": …}`).
    pub fn from_json(text: &str) -> Result<Schema, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let s = v
            .pointer("/data/__schema")
            .or_else(|| v.get("__schema"))
            .ok_or("no __schema")?;
        let query = s
            .pointer("/queryType/name")
            .and_then(Value::as_str)
            .ok_or("no queryType")?
            .to_string();
        let types = s
            .get("types")
            .and_then(Value::as_array)
            .ok_or("no types")?
            .iter()
            .filter_map(|t| Some((t.get("name")?.as_str()?.to_string(), t.clone())))
            .collect();
        Ok(Schema { types, query })
    }

    /// Check one document; every problem found, in words with its path.
    pub fn check(&self, document: &str) -> Result<(), Vec<String>> {
        let toks = lex(document).map_err(|e| vec![e])?;
        let op = Parser { toks, pos: 0 }
            .operation()
            .map_err(|e| vec![format!("syntax: {e}")])?;
        let mut errors = Vec::new();
        let mut used = BTreeSet::new();
        let vars: HashMap<&str, &TypeRef> = op.vars.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (n, t) in &op.vars {
            if !self.types.contains_key(base_name(t)) {
                errors.push(format!("variable ${n}: unknown type `{t}`"));
            }
        }
        self.check_selection(
            &self.query,
            &op.selection,
            &vars,
            &mut used,
            "",
            &mut errors,
        );
        for (n, _) in &op.vars {
            if !used.contains(n.as_str()) {
                errors.push(format!("variable ${n} is declared but never used"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn check_selection<'a>(
        &self,
        parent: &str,
        fields: &'a [Field],
        vars: &HashMap<&str, &TypeRef>,
        used: &mut BTreeSet<&'a str>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(ty) = self.types.get(parent) else {
            errors.push(format!("{path}: unknown type `{parent}`"));
            return;
        };
        let empty = vec![];
        let schema_fields = ty.get("fields").and_then(Value::as_array).unwrap_or(&empty);
        for f in fields {
            let here = format!("{path}{parent}.{}", f.name);
            let Some(sf) = schema_fields
                .iter()
                .find(|sf| sf.get("name").and_then(Value::as_str) == Some(&f.name))
            else {
                errors.push(format!("{here}: no field `{}` on type `{parent}`", f.name));
                continue;
            };
            if sf.get("isDeprecated").and_then(Value::as_bool) == Some(true) {
                errors.push(format!("{here}: deprecated ({})", sf["deprecationReason"]));
            }
            let schema_args = sf.get("args").and_then(Value::as_array).unwrap_or(&empty);
            for (name, val) in &f.args {
                let Some(sa) = schema_args
                    .iter()
                    .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
                else {
                    errors.push(format!("{here}: no argument `{name}`"));
                    continue;
                };
                let expected = to_type_ref(&sa["type"]);
                self.check_value(
                    val,
                    &expected,
                    vars,
                    used,
                    &format!("{here}({name})"),
                    errors,
                );
            }
            for sa in schema_args {
                let required = sa["type"]["kind"] == "NON_NULL" && sa["defaultValue"].is_null();
                let name = sa["name"].as_str().unwrap_or("");
                if required && !f.args.iter().any(|(n, _)| n == name) {
                    errors.push(format!("{here}: required argument `{name}` is missing"));
                }
            }
            let out = to_type_ref(&sf["type"]);
            let base = base_name(&out);
            let kind = self
                .types
                .get(base)
                .and_then(|t| t.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let composite = matches!(kind, "OBJECT" | "INTERFACE" | "UNION");
            match (&f.selection, composite) {
                (Some(sel), true) => {
                    self.check_selection(base, sel, vars, used, &format!("{here} > "), errors)
                }
                (None, true) => {
                    errors.push(format!("{here}: `{base}` is an object; select its fields"))
                }
                (Some(_), false) => {
                    errors.push(format!("{here}: `{base}` is a leaf; it has no fields"))
                }
                (None, false) => {}
            }
        }
    }

    fn check_value<'a>(
        &self,
        val: &'a Val,
        expected: &TypeRef,
        vars: &HashMap<&str, &TypeRef>,
        used: &mut BTreeSet<&'a str>,
        here: &str,
        errors: &mut Vec<String>,
    ) {
        match val {
            Val::Var(v) => {
                used.insert(v.as_str());
                match vars.get(v.as_str()) {
                    None => errors.push(format!("{here}: variable ${v} is not declared")),
                    Some(t) if !compatible(t, expected) => errors.push(format!(
                        "{here}: variable ${v} is {t}, the argument takes {expected}"
                    )),
                    Some(_) => {}
                }
            }
            Val::Null => {
                if matches!(expected, TypeRef::NonNull(_)) {
                    errors.push(format!("{here}: null for non-null {expected}"));
                }
            }
            Val::List(items) => match strip_non_null(expected) {
                TypeRef::List(inner) => {
                    for item in items {
                        self.check_value(item, inner, vars, used, here, errors);
                    }
                }
                _ => errors.push(format!("{here}: a list where {expected} belongs")),
            },
            literal => {
                // A single value where a list belongs is coerced to a one-item list.
                let mut t = strip_non_null(expected);
                while let TypeRef::List(inner) = t {
                    t = strip_non_null(inner);
                }
                let name = base_name(t);
                let kind = self
                    .types
                    .get(name)
                    .map(|t| t["kind"].as_str().unwrap_or(""));
                let ok = match literal {
                    Val::Int => matches!(name, "Int" | "Float" | "ID"),
                    Val::Float => name == "Float",
                    Val::Str => {
                        matches!(name, "String" | "ID" | "DateTime")
                            || kind == Some("SCALAR")
                                && !matches!(name, "Int" | "Float" | "Boolean")
                    }
                    Val::Bool => name == "Boolean",
                    Val::Enum(e) => {
                        kind == Some("ENUM")
                            && self.types[name]["enumValues"]
                                .as_array()
                                .is_some_and(|vs| vs.iter().any(|v| v["name"] == e.as_str()))
                    }
                    _ => true,
                };
                if !ok {
                    errors.push(format!("{here}: {literal:?} is not a valid {name}"));
                }
            }
        }
    }
}

fn to_type_ref(t: &Value) -> TypeRef {
    match t["kind"].as_str() {
        Some("NON_NULL") => TypeRef::NonNull(Box::new(to_type_ref(&t["ofType"]))),
        Some("LIST") => TypeRef::List(Box::new(to_type_ref(&t["ofType"]))),
        _ => TypeRef::Named(t["name"].as_str().unwrap_or("?").to_string()),
    }
}

fn strip_non_null(t: &TypeRef) -> &TypeRef {
    match t {
        TypeRef::NonNull(inner) => inner,
        t => t,
    }
}

fn base_name(t: &TypeRef) -> &str {
    match t {
        TypeRef::Named(n) => n,
        TypeRef::List(i) | TypeRef::NonNull(i) => base_name(i),
    }
}

/// GraphQL's "is variable usage allowed": a non-null variable may feed a
/// nullable argument, never the reverse; lists compare item by item.
fn compatible(var: &TypeRef, arg: &TypeRef) -> bool {
    match (var, arg) {
        (TypeRef::NonNull(v), TypeRef::NonNull(a)) => compatible(v, a),
        (TypeRef::NonNull(v), a) => compatible(v, a),
        (_, TypeRef::NonNull(_)) => false,
        (TypeRef::List(v), TypeRef::List(a)) => compatible(v, a),
        (TypeRef::Named(v), TypeRef::Named(a)) => v == a,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{http_query, METRICS_QUERY, SERVICES_QUERY};
    use super::*;

    fn schema() -> Schema {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/sources/railway/schema.json"
        );
        let text =
            std::fs::read_to_string(path).expect("Railway schema.json is vendored in the repo");
        Schema::from_json(&text).expect("valid introspection JSON")
    }

    #[test]
    fn medics_railway_queries_match_the_published_schema() {
        let schema = schema();
        for (name, doc) in [
            ("services", SERVICES_QUERY.to_string()),
            ("metrics", METRICS_QUERY.to_string()),
            ("http (1 service)", http_query(1)),
            ("http (batch)", http_query(3)),
        ] {
            if let Err(errors) = schema.check(&doc) {
                panic!(
                    "{name} query does not match Railway's schema:\n  {}",
                    errors.join("\n  ")
                );
            }
        }
    }

    #[test]
    fn the_checker_catches_what_the_schema_forbids() {
        let schema = schema();
        let errs = |doc: &str| schema.check(doc).unwrap_err().join("\n");
        let e =
            errs("query { metrics(startDate: \"x\", measurements: [CPU_USAGE]) { measurment } }");
        assert!(
            e.contains("no field `measurment` on type `MetricsResult`"),
            "{e}"
        );
        let e =
            errs("query { metrics(startDate: \"x\", measurements: [CPU_USED]) { measurement } }");
        assert!(e.contains("CPU_USED"), "{e}");
        let e = errs("query { metrics(measurements: [CPU_USAGE]) { measurement } }");
        assert!(
            e.contains("required argument `startDate` is missing"),
            "{e}"
        );
        let e = errs("query Q($d: String!) { metrics(startDate: $d, measurements: [CPU_USAGE]) { measurement } }");
        assert!(
            e.contains("variable $d is String!, the argument takes DateTime!"),
            "{e}"
        );
        let e = errs("query Q($d: DateTime) { metrics(startDate: $d, measurements: [CPU_USAGE]) { measurement } }");
        assert!(e.contains("variable $d is DateTime"), "{e}");
        let e = errs("query { metrics(startDate: \"x\", measurements: [CPU_USAGE]) }");
        assert!(e.contains("is an object; select its fields"), "{e}");
        let e = errs(
            "query { metrics(startDate: \"x\", measurements: [CPU_USAGE]) { measurement { x } } }",
        );
        assert!(e.contains("is a leaf"), "{e}");
        let e = errs("query Q($unused: Int) { metrics(startDate: \"x\", measurements: [CPU_USAGE], colour: 1) { measurement } }");
        assert!(
            e.contains("no argument `colour`") && e.contains("$unused"),
            "{e}"
        );
    }
}
