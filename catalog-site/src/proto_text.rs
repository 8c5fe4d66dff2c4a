//! A Protobuf event in the IR turned into a self-contained proto3 file (no imports, no carebus options) for the AsyncAPI document, whose Protobuf schema parsers cannot follow imports.
//!
//! The annotations the options carried (topic, classification, examples) are already in the
//! AsyncAPI document elsewhere; field numbers, types and names stay exactly as written, so
//! the text describes the same wire format.

use crate::names::short_name;
use crate::pages::reachable_types;
use carebus_codegen::ir::{Event, Field, Model, NamedType, Type};
use std::fmt::Write as _;

/// The proto3 text of `event`'s message and every message and enum it uses.
pub fn self_contained_proto(model: &Model, event: &Event) -> String {
    let mut out = String::from("syntax = \"proto3\";\n");
    if !event.namespace.is_empty() {
        let _ = writeln!(out, "\npackage {};", event.namespace);
    }
    let mut messages = vec![(
        event.record.full_name(),
        &event.record.doc,
        &event.record.fields,
    )];
    let mut enums = Vec::new();
    for ty in reachable_types(model, &event.record.fields) {
        match ty {
            NamedType::Record(r) => messages.push((r.full_name(), &r.doc, &r.fields)),
            NamedType::Enum(e) => enums.push(e),
            NamedType::Fixed(_) => {}
        }
    }
    for e in enums {
        out.push('\n');
        comment(&mut out, e.doc.as_deref(), "");
        let _ = writeln!(out, "enum {} {{", e.name);
        for s in &e.symbols {
            let _ = writeln!(out, "  {} = {};", s.name, s.number);
        }
        out.push_str("}\n");
    }
    for (full_name, doc, fields) in messages {
        out.push('\n');
        comment(&mut out, doc.as_deref(), "");
        let _ = writeln!(out, "message {} {{", short_name(&full_name));
        for (i, f) in fields.iter().enumerate() {
            comment(&mut out, f.doc.as_deref(), "  ");
            let number = f.proto_number.unwrap_or(i as u32 + 1);
            let _ = writeln!(
                out,
                "  {} {} = {number};",
                field_type(model, f),
                proto_field_name(f)
            );
        }
        out.push_str("}\n");
    }
    out
}

fn comment(out: &mut String, doc: Option<&str>, indent: &str) {
    for line in doc.unwrap_or("").lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "{indent}// {}", line.trim());
    }
}

/// The field name as written in the .proto (snake_case), from the IR's camelCase name.
fn proto_field_name(field: &Field) -> String {
    let mut out = String::new();
    for (i, c) in field.name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn field_type(model: &Model, field: &Field) -> String {
    match &field.ty {
        Type::Array { items } => format!("repeated {}", scalar(model, items)),
        Type::Map { values } => format!("map<string, {}>", scalar(model, values)),
        ty => match ty.optional_inner() {
            Some(inner) => format!("optional {}", scalar(model, inner)),
            None => scalar(model, ty),
        },
    }
}

fn scalar(model: &Model, ty: &Type) -> String {
    match ty {
        Type::Boolean => "bool".into(),
        Type::Int | Type::Date | Type::TimeMillis => "int32".into(),
        Type::Long
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::TimeMicros
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => "int64".into(),
        Type::Float => "float".into(),
        Type::Double => "double".into(),
        Type::String | Type::Uuid => "string".into(),
        Type::Proto { scalar } => scalar.as_str().into(),
        Type::Named { name } => match model.named_type(name) {
            // Every reachable type is emitted into this one file under its short name.
            Some(NamedType::Record(_)) | Some(NamedType::Enum(_)) => short_name(name).into(),
            _ => "bytes".into(),
        },
        Type::Union { .. } => match ty.optional_inner() {
            Some(inner) => scalar(model, inner),
            None => "bytes".into(),
        },
        Type::Null
        | Type::Bytes
        | Type::Decimal { .. }
        | Type::BigDecimal
        | Type::Array { .. }
        | Type::Map { .. } => "bytes".into(),
    }
}
