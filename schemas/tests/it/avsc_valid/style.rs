//! Schema JSON in, style problems out: unknown keys, missing docs, non-camelCase fields, malformed annotations.

use serde_json::Value;

// The vocabulary is the loader's own, so the two can never disagree.
pub use carebus_codegen::load::avro::{AVRO_KEYS, EVENT_ANNOTATIONS, FIELD_ANNOTATIONS};

/// Every compatibility mode's spelling.
pub fn compatibility_modes() -> Vec<&'static str> {
    carebus_codegen::ir::Compatibility::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}

/// Checks one named type definition (and the types nested in it); `top` is true for a file's
/// top-level schema, where event annotations are allowed.
pub fn check_definition(rel: &str, json: &Value, top: bool, problems: &mut Vec<String>) {
    let Some(obj) = json.as_object() else {
        if let Value::Array(branches) = json {
            branches
                .iter()
                .for_each(|b| check_definition(rel, b, false, problems));
        }
        return;
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(anonymous)");
    for key in obj.keys() {
        let allowed =
            AVRO_KEYS.contains(&key.as_str()) || (top && EVENT_ANNOTATIONS.contains(&key.as_str()));
        if !allowed {
            problems.push(format!("{rel}: {name}: unknown key {key:?}"));
        }
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("record") => {
            if obj
                .get("doc")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{rel}: record {name} has no doc"));
            }
            for field in obj["fields"].as_array().unwrap() {
                let fname = field["name"].as_str().unwrap_or_default();
                let at = format!("{rel}: {name}.{fname}");
                if fname.starts_with(|c: char| !c.is_ascii_lowercase()) || fname.contains('_') {
                    problems.push(format!("{at}: field names are camelCase"));
                }
                for key in field.as_object().unwrap().keys() {
                    let known = ["name", "type", "doc", "default", "order", "aliases"]
                        .contains(&key.as_str());
                    if !known && !FIELD_ANNOTATIONS.contains(&key.as_str()) {
                        problems.push(format!("{at}: unknown key {key:?}"));
                    }
                }
                if field
                    .get("doc")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    problems.push(format!("{at}: no doc"));
                }
                if let Some(c) = field
                    .get("classification")
                    .filter(|c| !["phi", "pii", "none"].contains(&c.as_str().unwrap_or_default()))
                {
                    problems.push(format!("{at}: classification {c} is not phi, pii or none"));
                }
                if field.get("deprecated").is_some_and(|d| !d.is_string()) {
                    problems.push(format!(
                        "{at}: deprecated must be a string giving the reason"
                    ));
                }
                if field.get("examples").is_some_and(|e| !e.is_array()) {
                    problems.push(format!("{at}: examples must be a JSON array"));
                }
                check_definition(rel, &field["type"], false, problems);
            }
        }
        Some("enum") => {
            if obj
                .get("doc")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{rel}: enum {name} has no doc"));
            }
            let symbols: Vec<&str> = obj["symbols"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if let Some(d) = obj
                .get("default")
                .and_then(Value::as_str)
                .filter(|d| !symbols.contains(d))
            {
                problems.push(format!("{rel}: enum {name}: default {d} is not a symbol"));
            }
        }
        Some("array") => check_definition(rel, &obj["items"], false, problems),
        Some("map") => check_definition(rel, &obj["values"], false, problems),
        _ => {}
    }
}
