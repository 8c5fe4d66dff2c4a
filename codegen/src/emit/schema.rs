//! An event of the IR in, its self-contained Avro schema JSON out (named types defined inline at first use, referenced by full name after), as the `SCHEMA` constant carries it.

use crate::ir::{Event, Field, Model, NamedType, Record, Type};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The self-contained Avro schema of an event version, as compact JSON.
pub fn event_schema(model: &Model, event: &Event) -> String {
    let mut seen = BTreeSet::new();
    record_schema(model, &event.record, &mut seen).to_string()
}

/// The schema of a record with every named type it uses inlined at first use.
pub fn record_schema(model: &Model, r: &Record, seen: &mut BTreeSet<String>) -> Value {
    seen.insert(r.full_name());
    let mut o = Map::new();
    o.insert("type".into(), "record".into());
    name_attrs(&mut o, &r.name, &r.namespace, r.doc.as_deref(), &r.aliases);
    let fields: Vec<Value> = r
        .fields
        .iter()
        .map(|f| field_schema(model, f, seen))
        .collect();
    o.insert("fields".into(), Value::Array(fields));
    Value::Object(o)
}

fn name_attrs(
    o: &mut Map<String, Value>,
    name: &str,
    ns: &str,
    doc: Option<&str>,
    aliases: &[String],
) {
    o.insert("name".into(), name.into());
    if !ns.is_empty() {
        o.insert("namespace".into(), ns.into());
    }
    if let Some(d) = doc {
        o.insert("doc".into(), d.into());
    }
    if !aliases.is_empty() {
        o.insert("aliases".into(), json!(aliases));
    }
}

fn field_schema(model: &Model, f: &Field, seen: &mut BTreeSet<String>) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), f.name.clone().into());
    o.insert("type".into(), type_schema(model, &f.ty, seen));
    if let Some(d) = &f.doc {
        o.insert("doc".into(), d.clone().into());
    }
    if let Some(d) = &f.default {
        o.insert("default".into(), d.clone());
    }
    if !f.aliases.is_empty() {
        o.insert("aliases".into(), json!(f.aliases));
    }
    Value::Object(o)
}

/// The schema JSON of a field type.
pub fn type_schema(model: &Model, ty: &Type, seen: &mut BTreeSet<String>) -> Value {
    match ty {
        Type::Null => "null".into(),
        Type::Boolean => "boolean".into(),
        Type::Int => "int".into(),
        Type::Long => "long".into(),
        Type::Float => "float".into(),
        Type::Double => "double".into(),
        Type::Bytes => "bytes".into(),
        Type::String => "string".into(),
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
        Type::Decimal { precision, scale } => json!({
            "type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale
        }),
        Type::BigDecimal => json!({"type": "bytes", "logicalType": "big-decimal"}),
        Type::Array { items } => json!({"type": "array", "items": type_schema(model, items, seen)}),
        Type::Map { values } => json!({"type": "map", "values": type_schema(model, values, seen)}),
        Type::Union { branches } => Value::Array(
            branches
                .iter()
                .map(|b| type_schema(model, b, seen))
                .collect(),
        ),
        Type::Named { name } => {
            if seen.contains(name) {
                return name.clone().into();
            }
            match model.named_type(name) {
                Some(NamedType::Record(r)) => record_schema(model, r, seen),
                Some(NamedType::Enum(e)) => {
                    seen.insert(name.clone());
                    let mut o = Map::new();
                    o.insert("type".into(), "enum".into());
                    name_attrs(&mut o, &e.name, &e.namespace, e.doc.as_deref(), &e.aliases);
                    let symbols: Vec<&str> = e.symbols.iter().map(|s| s.name.as_str()).collect();
                    o.insert("symbols".into(), json!(symbols));
                    if let Some(d) = &e.default {
                        o.insert("default".into(), d.clone().into());
                    }
                    Value::Object(o)
                }
                Some(NamedType::Fixed(f)) => {
                    seen.insert(name.clone());
                    let mut o = Map::new();
                    o.insert("type".into(), "fixed".into());
                    name_attrs(&mut o, &f.name, &f.namespace, f.doc.as_deref(), &f.aliases);
                    o.insert("size".into(), f.size.into());
                    if let Some(l) = f.logical {
                        o.insert("logicalType".into(), l.name().into());
                        if let crate::ir::FixedLogical::Decimal { precision, scale } = l {
                            o.insert("precision".into(), precision.into());
                            o.insert("scale".into(), scale.into());
                        }
                    }
                    Value::Object(o)
                }
                // Unresolved names are the loader's diagnostics; keep the reference.
                None => name.clone().into(),
            }
        }
        Type::Proto { scalar } => match scalar {
            crate::ir::ProtoScalar::Uint32
            | crate::ir::ProtoScalar::Sint32
            | crate::ir::ProtoScalar::Fixed32
            | crate::ir::ProtoScalar::Sfixed32 => "int".into(),
            _ => "long".into(),
        },
    }
}
