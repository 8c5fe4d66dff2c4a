//! Small builders that turn terse test rows into IR records, named types and events for the compatibility tests.
#![allow(dead_code)]

use carebus_codegen::fingerprint::crc64_avro;
use carebus_codegen::history::Snapshot;
use carebus_codegen::ir::{
    Classification, Compatibility, Enum, EnumSymbol, Event, Field, Fixed, Model, NamedType,
    ProtoScalar, Record, SchemaFormat, Source, Type,
};
use serde_json::Value;

pub const NS: &str = "healthcare.common";

pub fn field(name: &str, ty: Type) -> Field {
    Field {
        rust: Default::default(),
        name: name.into(),
        doc: None,
        ty,
        default: None,
        aliases: Vec::new(),
        classification: Classification::None,
        examples: Vec::new(),
        deprecated: None,
        proto_number: None,
        classified: false,
        analytics: None,
        source: Source::default(),
    }
}

pub fn with_default(mut f: Field, default: Value) -> Field {
    f.default = Some(default);
    f
}

pub fn with_aliases(mut f: Field, aliases: &[&str]) -> Field {
    f.aliases = aliases.iter().map(|a| a.to_string()).collect();
    f
}

pub fn numbered(mut f: Field, number: u32) -> Field {
    f.proto_number = Some(number);
    f
}

/// A record in `file`; fields without a source get line = 2 + index, column 5.
pub fn record_in(file: &str, name: &str, namespace: &str, fields: Vec<Field>) -> Record {
    let fields = fields
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            if f.source == Source::default() {
                f.source = Source::new(file, i as u32 + 2, 5);
            }
            f
        })
        .collect();
    Record {
        rust: Default::default(),
        cycle: Vec::new(),
        deprecated: None,
        name: name.into(),
        namespace: namespace.into(),
        doc: None,
        aliases: Vec::new(),
        fields,
        source: Source::new(file, 1, 1),
    }
}

/// The event record `PatientCreated` with `fields`, in `file`.
pub fn event_record(file: &str, fields: Vec<Field>) -> Record {
    record_in(file, "PatientCreated", "healthcare.patient", fields)
}

pub fn named(name: &str) -> Type {
    Type::Named {
        name: format!("{NS}.{name}"),
    }
}

pub fn shared_record(file: &str, name: &str, fields: Vec<Field>) -> NamedType {
    NamedType::Record(record_in(file, name, NS, fields))
}

pub fn aliased(mut t: NamedType, aliases: &[&str]) -> NamedType {
    let aliases = aliases.iter().map(|a| a.to_string()).collect();
    match &mut t {
        NamedType::Record(r) => r.aliases = aliases,
        NamedType::Enum(e) => e.aliases = aliases,
        NamedType::Fixed(f) => f.aliases = aliases,
    }
    t
}

pub fn enumeration(name: &str, symbols: &[&str], default: Option<&str>) -> NamedType {
    numbered_enum(
        name,
        &symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as i32))
            .collect::<Vec<_>>(),
        default,
    )
}

pub fn numbered_enum(name: &str, symbols: &[(&str, i32)], default: Option<&str>) -> NamedType {
    NamedType::Enum(Enum {
        rust: Default::default(),
        deprecated: None,
        name: name.into(),
        namespace: NS.into(),
        doc: None,
        aliases: Vec::new(),
        symbols: symbols
            .iter()
            .map(|(s, n)| EnumSymbol {
                name: s.to_string(),
                number: *n,
                doc: None,
            })
            .collect(),
        default: default.map(str::to_string),
        open: false,
        source: Source::new("enum.avsc", 1, 1),
    })
}

pub fn fixed(name: &str, size: u32) -> NamedType {
    NamedType::Fixed(Fixed {
        rust: Default::default(),
        name: name.into(),
        namespace: NS.into(),
        doc: None,
        aliases: Vec::new(),
        size,
        logical: None,
        source: Source::new("fixed.avsc", 1, 1),
    })
}

pub fn union(branches: Vec<Type>) -> Type {
    Type::Union { branches }
}
pub fn optional(t: Type) -> Type {
    union(vec![Type::Null, t])
}
pub fn array(t: Type) -> Type {
    Type::Array { items: Box::new(t) }
}
pub fn map(t: Type) -> Type {
    Type::Map {
        values: Box::new(t),
    }
}
pub fn proto(scalar: ProtoScalar) -> Type {
    Type::Proto { scalar }
}

pub fn snapshot(record: Record, types: Vec<NamedType>) -> Snapshot {
    Snapshot { record, types }
}

/// `PatientCreated { value: ty }` with named types `types`, in `file`.
pub fn one_field(file: &str, ty: Type, types: Vec<NamedType>) -> Snapshot {
    snapshot(event_record(file, vec![field("value", ty)]), types)
}

/// An event version; fingerprint and canonical form are derived from the record and types,
/// so any schema change changes the fingerprint.
pub fn event(
    version: u32,
    format: SchemaFormat,
    compatibility: Compatibility,
    file: &str,
    record: Record,
) -> Event {
    let canonical = serde_json::to_string(&record).unwrap();
    Event {
        rust: Default::default(),
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        version,
        domain: "patient".into(),
        format,
        doc: None,
        aggregate_type: "Patient".into(),
        aggregate_id: "patientId".into(),
        topic: "healthcare.patients.events".into(),
        compatibility,
        deprecated: None,
        fingerprint: crc64_avro(canonical.as_bytes()),
        canonical_form: canonical,
        schema_text: String::new(),
        record,
        source: Source::new(file, 1, 1),
    }
}

pub fn model(events: Vec<Event>, types: Vec<NamedType>) -> Model {
    Model {
        events,
        types,
        ..Model::default()
    }
}
