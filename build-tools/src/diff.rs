//! The API difference between two specs, as a reviewer of a spec update wants to read it.
//!
//! Each spec is flattened into facts (an operation exists, a parameter has a type, a schema
//! field has a type, ...) keyed by what they describe; the difference is the facts added,
//! removed or changed. Sorting by key groups the lines by operation and schema.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One line of the difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added { what: String, now: String },
    Removed { what: String, was: String },
    Changed { what: String, was: String, now: String },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { what, now } => write!(f, "+ {what}: {now}"),
            Change::Removed { what, was } => write!(f, "- {what}: {was}"),
            Change::Changed { what, was, now } => write!(f, "~ {what}: {was} -> {now}"),
        }
    }
}

/// The changes from `old` to `new`, in a stable order; empty when the APIs are the same.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let (old, new) = (facts(old), facts(new));
    let mut changes = Vec::new();
    for (what, was) in &old {
        match new.get(what) {
            None => changes.push(Change::Removed { what: what.clone(), was: was.clone() }),
            Some(now) if now != was => changes.push(Change::Changed {
                what: what.clone(),
                was: was.clone(),
                now: now.clone(),
            }),
            Some(_) => {}
        }
    }
    for (what, now) in &new {
        if !old.contains_key(what) {
            changes.push(Change::Added { what: what.clone(), now: now.clone() });
        }
    }
    changes.sort_by(|a, b| key(a).cmp(key(b)));
    changes
}

fn key(change: &Change) -> &str {
    match change {
        Change::Added { what, .. }
        | Change::Removed { what, .. }
        | Change::Changed { what, .. } => what,
    }
}

/// Flattens the parts of a spec that shape a generated client into `description -> value`.
fn facts(spec: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let empty = Map::new();
    let paths = spec.get("paths").and_then(Value::as_object).unwrap_or(&empty);
    for (path, item) in paths {
        let shared_params = item.get("parameters");
        for (method, op) in item.as_object().unwrap_or(&empty) {
            if !crate::HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            let name = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
            out.insert(format!("operation {name}"), format!("{} {path}", method.to_uppercase()));
            let params = shared_params
                .into_iter()
                .chain(op.get("parameters"))
                .filter_map(Value::as_array)
                .flatten();
            for param in params {
                let param = resolve(spec, param);
                let (Some(pname), Some(location)) = (
                    param.get("name").and_then(Value::as_str),
                    param.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let required = param.get("required").and_then(Value::as_bool) == Some(true);
                out.insert(
                    format!("operation {name}: {location} parameter `{pname}`"),
                    with_required(type_of(param.get("schema")), required),
                );
            }
            if let Some(body) = op.get("requestBody") {
                let body = resolve(spec, body);
                for (media, content) in
                    body.get("content").and_then(Value::as_object).unwrap_or(&empty)
                {
                    out.insert(
                        format!("operation {name}: request body {media}"),
                        type_of(content.get("schema")),
                    );
                }
            }
            for (status, response) in
                op.get("responses").and_then(Value::as_object).unwrap_or(&empty)
            {
                let response = resolve(spec, response);
                let bodies: Vec<String> = response
                    .get("content")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty)
                    .iter()
                    .map(|(media, c)| format!("{media} {}", type_of(c.get("schema"))))
                    .collect();
                let summary =
                    if bodies.is_empty() { "no body".to_owned() } else { bodies.join(", ") };
                out.insert(format!("operation {name}: response {status}"), summary);
                for header in
                    response.get("headers").and_then(Value::as_object).unwrap_or(&empty).keys()
                {
                    out.insert(
                        format!("operation {name}: response {status} header `{header}`"),
                        type_of(response["headers"][header].get("schema")),
                    );
                }
            }
        }
    }
    let schemas = spec.pointer("/components/schemas").and_then(Value::as_object).unwrap_or(&empty);
    for (schema_name, schema) in schemas {
        out.insert(format!("schema {schema_name}"), type_of(Some(schema)));
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (field, field_schema) in
            schema.get("properties").and_then(Value::as_object).unwrap_or(&empty)
        {
            out.insert(
                format!("schema {schema_name}: field `{field}`"),
                with_required(type_of(Some(field_schema)), required.contains(&field.as_str())),
            );
        }
    }
    out
}

/// Follows one local `$ref` (parameters, request bodies and responses may be references).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| spec.pointer(pointer))
        .unwrap_or(value)
}

fn with_required(ty: String, required: bool) -> String {
    if required { format!("{ty}, required") } else { ty }
}

/// A short type description: `string`, `integer/int64`, `array of Foo`, `map of string`.
fn type_of(schema: Option<&Value>) -> String {
    let Some(schema) = schema else {
        return "no schema".to_owned();
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let mut out = match ty {
        "array" => format!("array of {}", type_of(schema.get("items"))),
        "object" => match schema.get("additionalProperties") {
            Some(Value::Object(inner)) => {
                format!("map of {}", type_of(Some(&Value::Object(inner.clone()))))
            }
            Some(Value::Bool(true)) => "map of any".to_owned(),
            _ => "object".to_owned(),
        },
        other => other.to_owned(),
    };
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        out = format!("{out}/{format}");
    }
    for bound in ["minimum", "maximum", "maxLength", "default"] {
        if let Some(v) = schema.get(bound) {
            out = format!("{out} ({bound} {v})");
        }
    }
    out
}
