//! An IR record in, its self-contained Avro schema JSON (named types inlined at first use) and its Parsing Canonical Form out.
//!
//! The canonical form follows the Avro specification ("Parsing Canonical Form for Schemas"):
//! full names, only the attributes that matter for parsing (`name type fields symbols items
//! values size`, in that order), primitives as bare strings, no whitespace; logical types are
//! stripped to their underlying type, as the Java reference implementation does.

use crate::ir::{Classification, Event, NamedType, ProtoScalar, Record, Type};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// (self-contained schema JSON text, Parsing Canonical Form) of `record`.
pub fn self_contained_and_canonical(
    record: &Record,
    types: &[NamedType],
    event: Option<&Event>,
) -> (String, String) {
    let mut seen = BTreeSet::new();
    let full = record_json(record, types, event, &mut seen);
    let mut seen = BTreeSet::new();
    let canonical = canonical_record(record, types, &mut seen);
    (
        serde_json::to_string_pretty(&full).unwrap_or_default(),
        canonical,
    )
}

/// The Parsing Canonical Form of a record.
pub fn canonical_form(record: &Record, types: &[NamedType]) -> String {
    canonical_record(record, types, &mut BTreeSet::new())
}

fn record_json(
    r: &Record,
    types: &[NamedType],
    event: Option<&Event>,
    seen: &mut BTreeSet<String>,
) -> Value {
    seen.insert(r.full_name());
    let mut m = Map::new();
    m.insert("type".into(), json!("record"));
    m.insert("name".into(), json!(r.name));
    if !r.namespace.is_empty() {
        m.insert("namespace".into(), json!(r.namespace));
    }
    if let Some(d) = &r.doc {
        m.insert("doc".into(), json!(d));
    }
    if !r.aliases.is_empty() {
        m.insert("aliases".into(), json!(r.aliases));
    }
    if let Some(e) = event {
        m.insert("event_version".into(), json!(e.version));
        m.insert("aggregate_type".into(), json!(e.aggregate_type));
        m.insert("aggregate_id".into(), json!(e.aggregate_id));
        if !e.topic.is_empty() {
            m.insert("topic".into(), json!(e.topic));
        }
        m.insert("compatibility".into(), json!(e.compatibility.as_str()));
        if let Some(d) = &e.deprecated {
            m.insert("deprecated".into(), json!(d));
        }
    }
    let fields: Vec<Value> = r
        .fields
        .iter()
        .map(|f| {
            let mut fm = Map::new();
            fm.insert("name".into(), json!(f.name));
            fm.insert("type".into(), type_json(&f.ty, types, seen));
            if let Some(d) = &f.doc {
                fm.insert("doc".into(), json!(d));
            }
            if let Some(d) = &f.default {
                fm.insert("default".into(), d.clone());
            }
            if !f.aliases.is_empty() {
                fm.insert("aliases".into(), json!(f.aliases));
            }
            if f.classification != Classification::None {
                fm.insert(
                    "classification".into(),
                    serde_json::to_value(f.classification).unwrap_or_default(),
                );
            }
            if let Some(a) = f.analytics {
                fm.insert("analytics".into(), json!(a.as_str()));
            }
            if !f.examples.is_empty() {
                fm.insert("examples".into(), Value::Array(f.examples.clone()));
            }
            if let Some(d) = &f.deprecated {
                fm.insert("deprecated".into(), json!(d));
            }
            Value::Object(fm)
        })
        .collect();
    m.insert("fields".into(), Value::Array(fields));
    Value::Object(m)
}

fn type_json(t: &Type, types: &[NamedType], seen: &mut BTreeSet<String>) -> Value {
    match t {
        Type::Null => json!("null"),
        Type::Boolean => json!("boolean"),
        Type::Int => json!("int"),
        Type::Long => json!("long"),
        Type::Float => json!("float"),
        Type::Double => json!("double"),
        Type::Bytes => json!("bytes"),
        Type::String => json!("string"),
        Type::Uuid => json!({"type": "string", "logicalType": "uuid"}),
        Type::Date => json!({"type": "int", "logicalType": "date"}),
        Type::TimestampMillis => json!({"type": "long", "logicalType": "timestamp-millis"}),
        Type::TimestampMicros => json!({"type": "long", "logicalType": "timestamp-micros"}),
        Type::TimestampNanos => json!({"type": "long", "logicalType": "timestamp-nanos"}),
        Type::TimeMillis => json!({"type": "int", "logicalType": "time-millis"}),
        Type::TimeMicros => json!({"type": "long", "logicalType": "time-micros"}),
        Type::LocalTimestampMillis => {
            json!({"type": "long", "logicalType": "local-timestamp-millis"})
        }
        Type::LocalTimestampMicros => {
            json!({"type": "long", "logicalType": "local-timestamp-micros"})
        }
        Type::LocalTimestampNanos => {
            json!({"type": "long", "logicalType": "local-timestamp-nanos"})
        }
        Type::Decimal { precision, scale } => {
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
        }
        Type::BigDecimal => json!({"type": "bytes", "logicalType": "big-decimal"}),
        Type::Array { items } => json!({"type": "array", "items": type_json(items, types, seen)}),
        Type::Map { values } => json!({"type": "map", "values": type_json(values, types, seen)}),
        Type::Union { branches } => {
            Value::Array(branches.iter().map(|b| type_json(b, types, seen)).collect())
        }
        Type::Proto { scalar } => json!(proto_base(*scalar)),
        Type::Named { name } => {
            if seen.contains(name) {
                return json!(name);
            }
            match types.iter().find(|t| &t.full_name() == name) {
                None => json!(name),
                Some(NamedType::Record(r)) => record_json(r, types, None, seen),
                Some(NamedType::Enum(e)) => {
                    seen.insert(name.clone());
                    let mut m = Map::new();
                    m.insert("type".into(), json!("enum"));
                    m.insert("name".into(), json!(e.name));
                    if !e.namespace.is_empty() {
                        m.insert("namespace".into(), json!(e.namespace));
                    }
                    if let Some(d) = &e.doc {
                        m.insert("doc".into(), json!(d));
                    }
                    if !e.aliases.is_empty() {
                        m.insert("aliases".into(), json!(e.aliases));
                    }
                    m.insert(
                        "symbols".into(),
                        json!(e.symbols.iter().map(|s| &s.name).collect::<Vec<_>>()),
                    );
                    if let Some(d) = &e.default {
                        m.insert("default".into(), json!(d));
                    }
                    Value::Object(m)
                }
                Some(NamedType::Fixed(f)) => {
                    seen.insert(name.clone());
                    let mut m = Map::new();
                    m.insert("type".into(), json!("fixed"));
                    m.insert("name".into(), json!(f.name));
                    if !f.namespace.is_empty() {
                        m.insert("namespace".into(), json!(f.namespace));
                    }
                    if !f.aliases.is_empty() {
                        m.insert("aliases".into(), json!(f.aliases));
                    }
                    m.insert("size".into(), json!(f.size));
                    Value::Object(m)
                }
            }
        }
    }
}

fn proto_base(s: ProtoScalar) -> &'static str {
    match s {
        ProtoScalar::Uint32
        | ProtoScalar::Sint32
        | ProtoScalar::Fixed32
        | ProtoScalar::Sfixed32 => "int",
        _ => "long",
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn canonical_record(r: &Record, types: &[NamedType], seen: &mut BTreeSet<String>) -> String {
    seen.insert(r.full_name());
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|f| {
            format!(
                "{{\"name\":{},\"type\":{}}}",
                q(&f.name),
                canonical_type(&f.ty, types, seen)
            )
        })
        .collect();
    format!(
        "{{\"name\":{},\"type\":\"record\",\"fields\":[{}]}}",
        q(&r.full_name()),
        fields.join(",")
    )
}

fn canonical_type(t: &Type, types: &[NamedType], seen: &mut BTreeSet<String>) -> String {
    match t {
        Type::Null => "\"null\"".into(),
        Type::Boolean => "\"boolean\"".into(),
        Type::Int | Type::Date | Type::TimeMillis => "\"int\"".into(),
        Type::Long
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::TimeMicros
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => "\"long\"".into(),
        Type::Float => "\"float\"".into(),
        Type::Double => "\"double\"".into(),
        Type::Bytes | Type::Decimal { .. } | Type::BigDecimal => "\"bytes\"".into(),
        Type::String | Type::Uuid => "\"string\"".into(),
        Type::Proto { scalar } => q(proto_base(*scalar)),
        Type::Array { items } => format!(
            "{{\"type\":\"array\",\"items\":{}}}",
            canonical_type(items, types, seen)
        ),
        Type::Map { values } => format!(
            "{{\"type\":\"map\",\"values\":{}}}",
            canonical_type(values, types, seen)
        ),
        Type::Union { branches } => format!(
            "[{}]",
            branches
                .iter()
                .map(|b| canonical_type(b, types, seen))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Type::Named { name } => {
            if seen.contains(name) {
                return q(name);
            }
            match types.iter().find(|t| &t.full_name() == name) {
                None => q(name),
                Some(NamedType::Record(r)) => canonical_record(r, types, seen),
                Some(NamedType::Enum(e)) => {
                    seen.insert(name.clone());
                    let syms: Vec<String> = e.symbols.iter().map(|s| q(&s.name)).collect();
                    format!(
                        "{{\"name\":{},\"type\":\"enum\",\"symbols\":[{}]}}",
                        q(name),
                        syms.join(",")
                    )
                }
                Some(NamedType::Fixed(f)) => {
                    seen.insert(name.clone());
                    format!(
                        "{{\"name\":{},\"type\":\"fixed\",\"size\":{}}}",
                        q(name),
                        f.size
                    )
                }
            }
        }
    }
}
