//! A Protobuf message descriptor in, its canonical text out: the stable form a Protobuf event's fingerprint is computed from.
//!
//! The text lists what decides the wire format and nothing else: full names, field numbers,
//! names, labels and types, fields sorted by number, followed by every message and enum the
//! event refers to (transitively, in order of first reference). Comments, options, whitespace
//! and declaration order do not change it. Example:
//!
//! ```text
//! message healthcare.ai.Finding{1 code string;2 display string;3 confidence double}
//! ```

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The canonical text of `message` and the types it refers to.
pub(crate) fn canonical_form(message: &MessageDescriptor) -> String {
    let mut seen = BTreeSet::new();
    let mut queue = vec![Named::Message(message.clone())];
    seen.insert(message.full_name().to_string());
    let mut out = String::new();
    let mut next = 0;
    while let Some(named) = queue.get(next).cloned() {
        next += 1;
        if !out.is_empty() {
            out.push('\n');
        }
        match named {
            Named::Message(m) => {
                let mut fields: Vec<FieldDescriptor> = m.fields().collect();
                fields.sort_by_key(|f| f.number());
                let _ = write!(out, "message {}{{", m.full_name());
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(';');
                    }
                    let _ = write!(out, "{} {} {}", f.number(), f.name(), label_and_type(f));
                    for referenced in referenced_types(f) {
                        let name = referenced.full_name().to_string();
                        if !name.starts_with("google.protobuf.") && seen.insert(name) {
                            queue.push(referenced);
                        }
                    }
                }
                out.push('}');
            }
            Named::Enum(e) => {
                let mut values: Vec<_> = e
                    .values()
                    .map(|v| (v.number(), v.name().to_string()))
                    .collect();
                values.sort();
                let _ = write!(out, "enum {}{{", e.full_name());
                let body: Vec<String> = values
                    .iter()
                    .map(|(n, name)| format!("{n} {name}"))
                    .collect();
                out.push_str(&body.join(";"));
                out.push('}');
            }
        }
    }
    out
}

#[derive(Clone)]
enum Named {
    Message(MessageDescriptor),
    Enum(EnumDescriptor),
}

impl Named {
    fn full_name(&self) -> &str {
        match self {
            Named::Message(m) => m.full_name(),
            Named::Enum(e) => e.full_name(),
        }
    }
}

fn label_and_type(f: &FieldDescriptor) -> String {
    if f.is_map()
        && let Kind::Message(entry) = f.kind()
    {
        return format!(
            "map<{},{}>",
            kind_name(&entry.map_entry_key_field().kind()),
            kind_name(&entry.map_entry_value_field().kind())
        );
    }
    let label = if f.is_list() {
        "repeated "
    } else if let Some(o) = f.containing_oneof() {
        if o.is_synthetic() {
            "optional "
        } else {
            return format!("oneof {} {}", o.name(), kind_name(&f.kind()));
        }
    } else {
        ""
    };
    format!("{label}{}", kind_name(&f.kind()))
}

fn referenced_types(f: &FieldDescriptor) -> Vec<Named> {
    let kinds = match f.kind() {
        Kind::Message(entry) if f.is_map() => vec![
            entry.map_entry_key_field().kind(),
            entry.map_entry_value_field().kind(),
        ],
        k => vec![k],
    };
    kinds
        .into_iter()
        .filter_map(|k| match k {
            Kind::Message(m) => Some(Named::Message(m)),
            Kind::Enum(e) => Some(Named::Enum(e)),
            _ => None,
        })
        .collect()
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => format!("message {}", m.full_name()),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
    }
}
