//! Schema JSON in, named-type tables and example mismatches out: collects named types, inlines shared ones, and checks each example value has the JSON form of its field's Avro type.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Records every named type (records, enums, fixed, at any depth) by full name.
pub fn collect_named(json: &Value, registry: &mut BTreeMap<String, Value>) {
    match json {
        Value::Array(items) => items.iter().for_each(|i| collect_named(i, registry)),
        Value::Object(map) => {
            let named = map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| ["record", "enum", "fixed"].contains(&t));
            if let (true, Some(name), Some(ns)) = (
                named,
                map.get("name").and_then(Value::as_str),
                map.get("namespace").and_then(Value::as_str),
            ) {
                registry.insert(format!("{ns}.{name}"), json.clone());
            }
            for key in ["type", "items", "values"] {
                if let Some(v) = map.get(key) {
                    collect_named(v, registry);
                }
            }
            if let Some(Value::Array(fields)) = map.get("fields") {
                fields.iter().for_each(|f| collect_named(f, registry));
            }
        }
        _ => {}
    }
}

/// `json` with every reference to a shared named type replaced by its definition at first use,
/// so apache-avro can parse it alone (as the compatibility check needs).
pub fn inline_types(
    json: &Value,
    defs: &BTreeMap<String, Value>,
    seen: &mut BTreeSet<String>,
) -> Value {
    match json {
        Value::String(name) if defs.contains_key(name) => {
            if seen.insert(name.clone()) {
                inline_types(&defs[name], defs, seen)
            } else {
                json.clone()
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| inline_types(i, defs, seen)).collect())
        }
        Value::Object(map) => {
            if let (Some(name), Some(ns)) = (
                map.get("name").and_then(Value::as_str),
                map.get("namespace").and_then(Value::as_str),
            ) {
                seen.insert(format!("{ns}.{name}"));
            }
            let mut out = map.clone();
            for key in ["type", "items", "values"] {
                if let Some(v) = map.get(key) {
                    out.insert(key.into(), inline_types(v, defs, seen));
                }
            }
            if let Some(Value::Array(fields)) = map.get("fields") {
                out.insert(
                    "fields".into(),
                    Value::Array(fields.iter().map(|f| inline_types(f, defs, seen)).collect()),
                );
            }
            Value::Object(out)
        }
        _ => json.clone(),
    }
}

/// Walks every record in `json` and checks each field's examples against the field's type.
pub fn check_examples(
    rel: &str,
    json: &Value,
    registry: &BTreeMap<String, Value>,
    problems: &mut Vec<String>,
    checked: &mut usize,
) {
    match json {
        Value::Array(items) => items
            .iter()
            .for_each(|i| check_examples(rel, i, registry, problems, checked)),
        Value::Object(map) => {
            if let Some(Value::Array(fields)) = map.get("fields") {
                let record = map.get("name").and_then(Value::as_str).unwrap_or_default();
                for field in fields {
                    let name = field["name"].as_str().unwrap_or_default();
                    let examples = field
                        .get("examples")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if examples.is_empty() && field["type"] != "bytes" {
                        problems.push(format!("{rel}: {record}.{name}: no examples"));
                    }
                    for example in &examples {
                        *checked += 1;
                        if let Err(why) = fits(&field["type"], example, registry) {
                            problems
                                .push(format!("{rel}: {record}.{name}: example {example} {why}"));
                        }
                    }
                    check_examples(rel, &field["type"], registry, problems, checked);
                }
            }
            for key in ["items", "values"] {
                if let Some(v) = map.get(key) {
                    check_examples(rel, v, registry, problems, checked);
                }
            }
        }
        _ => {}
    }
}

fn expect(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("is not {what}"))
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_timestamp(s: &str) -> bool {
    s.len() >= 20
        && is_date(&s[..10])
        && s.as_bytes()[10] == b'T'
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
}

fn is_decimal(s: &str, scale: u64) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && frac.len() as u64 <= scale
}

/// Whether `value` is the JSON form of a value of Avro type `ty`.
pub fn fits(ty: &Value, value: &Value, registry: &BTreeMap<String, Value>) -> Result<(), String> {
    match ty {
        Value::String(t) => match t.as_str() {
            "null" => expect(value.is_null(), "null"),
            "boolean" => expect(value.is_boolean(), "a boolean"),
            "int" | "long" => expect(value.is_i64(), "an integer"),
            "float" | "double" => expect(value.is_number(), "a number"),
            "string" | "bytes" => expect(value.is_string(), "a string"),
            named => match registry.get(named) {
                Some(def) => fits(def, value, registry),
                None => Err(format!("has unknown type {named}")),
            },
        },
        Value::Array(branches) => {
            if branches.iter().any(|b| fits(b, value, registry).is_ok()) {
                Ok(())
            } else {
                Err(format!("fits no branch of {ty}"))
            }
        }
        Value::Object(def) => {
            let text = value.as_str().unwrap_or_default();
            match (
                def.get("logicalType").and_then(Value::as_str),
                def["type"].as_str().unwrap_or_default(),
            ) {
                (Some("uuid"), _) => expect(is_uuid(text), "a UUID string"),
                (Some("date"), _) => expect(is_date(text), "an ISO date string (YYYY-MM-DD)"),
                (Some("timestamp-micros" | "timestamp-millis"), _) => {
                    expect(is_timestamp(text), "an RFC 3339 timestamp string")
                }
                (Some("decimal"), _) => {
                    let scale = def.get("scale").and_then(Value::as_u64).unwrap_or(0);
                    expect(is_decimal(text, scale), "a decimal string within the scale")
                }
                (_, "enum") => {
                    let symbols = def["symbols"].as_array().unwrap();
                    expect(symbols.contains(value), "one of the enum's symbols")
                }
                (_, "array") => match value.as_array() {
                    Some(items) => items
                        .iter()
                        .try_for_each(|i| fits(&def["items"], i, registry)),
                    None => Err("is not an array".into()),
                },
                (_, "map") => match value.as_object() {
                    Some(entries) => entries
                        .values()
                        .try_for_each(|v| fits(&def["values"], v, registry)),
                    None => Err("is not an object".into()),
                },
                (_, "record") => {
                    let Some(obj) = value.as_object() else {
                        return Err("is not an object".into());
                    };
                    let fields = def["fields"].as_array().unwrap();
                    for key in obj.keys() {
                        if !fields.iter().any(|f| f["name"] == *key) {
                            return Err(format!("has key {key:?}, not a field of {}", def["name"]));
                        }
                    }
                    for f in fields {
                        match obj.get(f["name"].as_str().unwrap_or_default()) {
                            Some(v) => fits(&f["type"], v, registry)
                                .map_err(|e| format!("field {}: {e}", f["name"]))?,
                            None if f.get("default").is_some() => {}
                            None => return Err(format!("lacks required field {}", f["name"])),
                        }
                    }
                    Ok(())
                }
                (_, primitive) => fits(&Value::String(primitive.into()), value, registry),
            }
        }
        _ => Err(format!("has a type this check does not know: {ty}")),
    }
}
