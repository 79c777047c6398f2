//! The JSON Schema of a [`Plan`], generated from the type: what medic asks
//! servers to hold the model's answer to (OpenAI's `json_schema` response
//! format, llama.cpp's grammar, Anthropic's forced tool input).
//!
//! Written by hand rather than with `schemars`: the plan is a dozen small
//! types, and the schema must fit OpenAI's strict mode (every property
//! required, `additionalProperties: false`, no `oneOf`, no `$ref` needed),
//! which `schemars` output does not without post-processing, while the
//! derive would pull a proc-macro crate into the model types every area
//! shares. Each impl destructures its type exhaustively, so a field added
//! to the plan without its schema does not compile; a test checks the
//! enum variants against serde's own names.

use crate::model::{FixKind, Mitigation, Plan, PlanStep, RootCause, ServiceId, Severity};
use serde_json::{json, Map, Value};

/// A type whose JSON form has a schema medic can hand to a server.
pub trait Shape {
    /// The JSON Schema of the type's serde form.
    fn schema() -> Value;
}

impl Shape for String {
    fn schema() -> Value {
        json!({"type": "string"})
    }
}

impl Shape for ServiceId {
    fn schema() -> Value {
        json!({"type": "string", "description": "the service's name, as in the evidence"})
    }
}

impl Shape for u64 {
    fn schema() -> Value {
        json!({"type": "integer", "minimum": 0})
    }
}

impl Shape for u32 {
    fn schema() -> Value {
        json!({"type": "integer", "minimum": 0})
    }
}

impl<T: Shape> Shape for Vec<T> {
    fn schema() -> Value {
        json!({"type": "array", "items": T::schema()})
    }
}

/// A list of at most `max` items: a plan's lists are short, and a cap in
/// the schema stops a constrained small model from repeating an item until
/// its token limit (it did, 2000 tokens of one list).
fn list_of<T: Shape>(max: u32) -> Value {
    let mut v = Vec::<T>::schema();
    v["maxItems"] = json!(max);
    v
}

/// An object whose properties are all required and nothing else allowed
/// (what OpenAI's strict mode demands).
fn object(props: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    for (name, schema) in props {
        properties.insert((*name).to_string(), schema.clone());
    }
    let required: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A string with a description for the model.
fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// The serde name of a unit variant.
fn name_of<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        other => panic!("not a unit variant: {other:?}"),
    }
}

/// Every severity, in order; the match makes a new variant a compile error here.
fn severities() -> [Severity; 4] {
    let all = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    for s in all {
        match s {
            Severity::Critical | Severity::High | Severity::Medium | Severity::Low => {}
        }
    }
    all
}

/// Every fix kind, in order (see [`severities`]).
fn fix_kinds() -> [FixKind; 5] {
    let all = [
        FixKind::Code,
        FixKind::Config,
        FixKind::Scale,
        FixKind::Rollback,
        FixKind::None,
    ];
    for k in all {
        match k {
            FixKind::Code
            | FixKind::Config
            | FixKind::Scale
            | FixKind::Rollback
            | FixKind::None => {}
        }
    }
    all
}

impl Shape for Severity {
    fn schema() -> Value {
        let names: Vec<String> = severities().into_iter().map(name_of).collect();
        json!({"type": "string", "enum": names})
    }
}

impl Shape for FixKind {
    fn schema() -> Value {
        let names: Vec<String> = fix_kinds().into_iter().map(name_of).collect();
        json!({"type": "string", "enum": names})
    }
}

impl Shape for RootCause {
    fn schema() -> Value {
        let _exhaustive = |r: &RootCause| {
            let RootCause {
                hypothesis: _,
                confidence: _,
                evidence: _,
            } = r;
        };
        object(&[
            (
                "hypothesis",
                text("the explanation, in one or two sentences"),
            ),
            (
                "confidence",
                json!({"type": "number", "description": "0.0 (a guess) to 1.0 (proven)"}),
            ),
            (
                "evidence",
                json!({"type": "array", "items": text("an evidence id from the bundle"), "maxItems": 8}),
            ),
        ])
    }
}

impl Shape for PlanStep {
    fn schema() -> Value {
        let _exhaustive = |s: &PlanStep| {
            let PlanStep {
                id: _,
                description: _,
                files: _,
            } = s;
        };
        object(&[
            ("id", text("short id: s1, s2, …")),
            ("description", text("what to do")),
            ("files", list_of::<String>(8)),
        ])
    }
}

impl Shape for Mitigation {
    fn schema() -> Value {
        // Internally tagged by `action`: one object per variant.
        let variant = |action: &str, fields: &[(&str, Value)]| {
            let mut props = vec![("action", json!({"type": "string", "enum": [action]}))];
            props.extend(fields.iter().cloned());
            object(&props)
        };
        let one = |m: &Mitigation| match m {
            Mitigation::RaiseMemoryLimit {
                service: _,
                bytes: _,
            } => variant(
                "raise_memory_limit",
                &[("service", ServiceId::schema()), ("bytes", u64::schema())],
            ),
            Mitigation::SetReplicas {
                service: _,
                replicas: _,
            } => variant(
                "set_replicas",
                &[
                    ("service", ServiceId::schema()),
                    ("replicas", u32::schema()),
                ],
            ),
            Mitigation::RollbackImage { service: _, tag: _ } => variant(
                "rollback_image",
                &[("service", ServiceId::schema()), ("tag", String::schema())],
            ),
        };
        let any: Vec<Value> = mitigation_samples().iter().map(one).collect();
        json!({"anyOf": any})
    }
}

/// One value of each mitigation variant (the schema is built from them).
fn mitigation_samples() -> [Mitigation; 3] {
    let service = ServiceId::from("svc");
    [
        Mitigation::RaiseMemoryLimit {
            service: service.clone(),
            bytes: 1,
        },
        Mitigation::SetReplicas {
            service: service.clone(),
            replicas: 1,
        },
        Mitigation::RollbackImage {
            service,
            tag: "v1".into(),
        },
    ]
}

impl Shape for Plan {
    fn schema() -> Value {
        let _exhaustive = |p: &Plan| {
            let Plan {
                title: _,
                summary: _,
                severity: _,
                root_cause: _,
                alternatives: _,
                fix_kind: _,
                steps: _,
                verification: _,
                risks: _,
                rollback: _,
                mitigations: _,
                // Not asked of the model: medic declares it from the
                // triggering rule (`plan::verify::settle`) on every plan.
                verification_rule: _,
            } = p;
        };
        object(&[
            ("title", text("one line")),
            ("summary", text("a short paragraph")),
            ("severity", Severity::schema()),
            ("root_cause", RootCause::schema()),
            ("alternatives", list_of::<String>(4)),
            ("fix_kind", FixKind::schema()),
            ("steps", list_of::<PlanStep>(8)),
            ("verification", list_of::<String>(4)),
            ("risks", list_of::<String>(4)),
            ("rollback", text("how to undo it")),
            ("mitigations", list_of::<Mitigation>(3)),
        ])
    }
}

/// Why `value` does not match `schema` (the subset [`Shape`] emits:
/// type, properties, required, additionalProperties, items, maxItems, enum, anyOf).
pub fn mismatch(schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        return if any.iter().any(|s| mismatch(s, value, at).is_none()) {
            None
        } else {
            Some(format!("{at}: matches none of the {} shapes", any.len()))
        };
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Some(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !ok {
        return Some(format!("{at}: {value} is not of type {ty}"));
    }
    if let (Some(max), Some(values)) = (
        schema.get("maxItems").and_then(Value::as_u64),
        value.as_array(),
    ) {
        if values.len() as u64 > max {
            return Some(format!("{at}: {} items, more than {max}", values.len()));
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            if let Some(m) = mismatch(items, v, &format!("{at}[{i}]")) {
                return Some(m);
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or("");
            if !obj.contains_key(r) {
                return Some(format!("{at}: `{r}` is missing"));
            }
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => {
                    if let Some(m) = mismatch(s, v, &format!("{at}.{k}")) {
                        return Some(m);
                    }
                }
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Some(format!("{at}: `{k}` is not in the shape"))
                }
                None => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Plan {
        Plan {
            title: "Raise api's memory limit".into(),
            summary: "api leaks memory since a17be44".into(),
            severity: Severity::High,
            root_cause: RootCause {
                hypothesis: "a cache without eviction".into(),
                confidence: 0.7,
                evidence: vec!["metric:memory@onset".into()],
            },
            alternatives: vec!["more traffic: requests are flat".into()],
            fix_kind: FixKind::Config,
            steps: vec![PlanStep {
                id: "s1".into(),
                description: "raise the limit".into(),
                files: vec!["deploy/api.yaml".into()],
            }],
            verification: vec!["memory below 80% for 30 min".into()],
            risks: vec!["hides the leak".into()],
            rollback: "revert the PR".into(),
            mitigations: mitigation_samples().to_vec(),
            verification_rule: None,
        }
    }

    #[test]
    fn a_plan_serde_writes_matches_its_schema() {
        let schema = Plan::schema();
        let value = serde_json::to_value(sample()).unwrap();
        assert_eq!(mismatch(&schema, &value, "plan"), None, "{schema:#}");
    }

    #[test]
    fn the_schema_names_every_field_serde_writes_and_requires_them_all() {
        let schema = Plan::schema();
        let value = serde_json::to_value(sample()).unwrap();
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let (mut p, mut k) = (props.clone(), keys);
        p.sort();
        k.sort();
        assert_eq!(p, k);
        assert_eq!(schema["required"].as_array().unwrap().len(), props.len());
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn enum_names_are_serde_names_and_a_wrong_one_fails() {
        let schema = Plan::schema();
        assert_eq!(
            schema["properties"]["severity"]["enum"],
            json!(["critical", "high", "medium", "low"])
        );
        let mut value = serde_json::to_value(sample()).unwrap();
        value["severity"] = json!("critical | high | medium | low");
        assert!(mismatch(&schema, &value, "plan")
            .unwrap()
            .contains("severity"));
        let mut value = serde_json::to_value(sample()).unwrap();
        value["mitigations"][0]["action"] = json!("reboot");
        assert!(mismatch(&schema, &value, "plan").is_some());
        let mut value = serde_json::to_value(sample()).unwrap();
        value["risks"] = json!(["a", "b", "c", "d", "e"]);
        assert!(mismatch(&schema, &value, "plan").unwrap().contains("risks"));
        let mut value = serde_json::to_value(sample()).unwrap();
        value.as_object_mut().unwrap().remove("rollback");
        assert!(mismatch(&schema, &value, "plan")
            .unwrap()
            .contains("rollback"));
    }

    #[test]
    fn what_the_schema_admits_serde_reads_as_a_plan() {
        // Every mitigation variant in the schema deserialises.
        for m in mitigation_samples() {
            let v = serde_json::to_value(&m).unwrap();
            let back: Mitigation = serde_json::from_value(v).unwrap();
            assert_eq!(back, m);
        }
    }
}
