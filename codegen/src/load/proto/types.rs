//! Protobuf messages, fields and enums (prost-reflect descriptors) in, IR records, field types and open enums out.

use super::SchemaFiles;
use super::options;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::ir::{Enum, EnumSymbol, Field, ProtoScalar, Record, Type};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

/// The only well-known type carebus maps to a domain type.
pub(crate) const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// A message as an IR record. Problems with its fields go to `diags`.
pub(crate) fn record(
    files: &SchemaFiles,
    message: &MessageDescriptor,
    diags: &mut Diagnostics,
) -> Record {
    let file = message.parent_file();
    let (source, doc) = files.locate(file.name(), message.path());
    for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
        let (at, _) = files.locate(file.name(), oneof.path());
        diags.push(
            Diagnostic::new(
                DiagnosticKind::InvalidSchema,
                at,
                format!(
                    "`oneof {}` in message `{}`: carebus does not support oneof",
                    oneof.name(),
                    message.name()
                ),
            )
            .help("use separate `optional` fields instead of the oneof"),
        );
    }
    let fields = message
        .fields()
        .filter_map(|f| field(files, &f, diags))
        .collect();
    // `option deprecated = true;` on a message; an event's is the event's (set by the caller).
    let deprecated = super::options::protobuf_deprecated(
        message
            .descriptor_proto()
            .options
            .as_ref()
            .and_then(|o| o.deprecated),
    );
    Record {
        rust: Default::default(),
        cycle: Vec::new(),
        deprecated,
        name: message.name().to_string(),
        namespace: namespace_of(message.full_name()),
        doc,
        aliases: Vec::new(),
        fields,
        source,
    }
}

/// A full name without its last segment (`healthcare.ai.Finding` → `healthcare.ai`).
pub(crate) fn namespace_of(full_name: &str) -> String {
    full_name
        .rsplit_once('.')
        .map(|(ns, _)| ns.to_string())
        .unwrap_or_default()
}

fn field(files: &SchemaFiles, f: &FieldDescriptor, diags: &mut Diagnostics) -> Option<Field> {
    let (source, doc) = files.locate(f.parent_file().name(), f.path());
    let fail = |diags: &mut Diagnostics, kind, message: String, help: &str| {
        diags.push(Diagnostic::new(kind, source.clone(), message).help(help));
        None
    };
    if f.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
        return None; // reported once for the whole oneof by `record`
    }
    let ty = if f.is_map() {
        let Kind::Message(entry) = f.kind() else {
            return None;
        };
        let key = entry.map_entry_key_field();
        if key.kind() != Kind::String {
            return fail(
                diags,
                DiagnosticKind::InvalidSchema,
                format!(
                    "map field `{}` has {:?} keys; only string keys are supported",
                    f.name(),
                    key.kind()
                ),
                "use `map<string, V>` (convert the key to text) or a repeated message",
            );
        }
        let values = match element_type(&entry.map_entry_value_field()) {
            Ok(t) => t,
            Err(msg) => return fail(diags, DiagnosticKind::InvalidSchema, msg, WKT_HELP),
        };
        Type::Map {
            values: Box::new(values),
        }
    } else {
        let element = match element_type(f) {
            Ok(t) => t,
            Err(msg) => return fail(diags, DiagnosticKind::InvalidSchema, msg, WKT_HELP),
        };
        if f.is_list() {
            Type::Array {
                items: Box::new(element),
            }
        } else if f.field_descriptor_proto().proto3_optional() {
            Type::Union {
                branches: vec![Type::Null, element],
            }
        } else {
            element
        }
    };
    let annotations = options::field_options(files, f, &source, diags);
    Some(Field {
        rust: Default::default(),
        name: f.name().to_string(),
        doc,
        ty,
        default: None,
        aliases: Vec::new(),
        classification: annotations.classification,
        classified: annotations.classified,
        analytics: annotations.analytics,
        examples: annotations.examples,
        deprecated: annotations.deprecated,
        proto_number: Some(f.number()),
        source,
    })
}

const WKT_HELP: &str = "carebus maps google.protobuf.Timestamp to carebus::Timestamp; \
     for other well-known types use a plain field (e.g. int64 for a duration in ms)";

/// The type of one value of a field (ignoring repeated/optional).
fn element_type(f: &FieldDescriptor) -> Result<Type, String> {
    Ok(match f.kind() {
        Kind::Double => Type::Double,
        Kind::Float => Type::Float,
        Kind::Int32 => Type::Int,
        Kind::Int64 => Type::Long,
        Kind::Bool => Type::Boolean,
        Kind::String => Type::String,
        Kind::Bytes => Type::Bytes,
        Kind::Uint32 => proto(ProtoScalar::Uint32),
        Kind::Uint64 => proto(ProtoScalar::Uint64),
        Kind::Sint32 => proto(ProtoScalar::Sint32),
        Kind::Sint64 => proto(ProtoScalar::Sint64),
        Kind::Fixed32 => proto(ProtoScalar::Fixed32),
        Kind::Fixed64 => proto(ProtoScalar::Fixed64),
        Kind::Sfixed32 => proto(ProtoScalar::Sfixed32),
        Kind::Sfixed64 => proto(ProtoScalar::Sfixed64),
        Kind::Enum(e) => Type::Named {
            name: e.full_name().to_string(),
        },
        Kind::Message(m) if m.full_name() == TIMESTAMP => Type::TimestampMicros,
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => {
            return Err(format!(
                "field `{}` uses the well-known type `{}`, which has no carebus domain type",
                f.name(),
                m.full_name()
            ));
        }
        Kind::Message(m) => Type::Named {
            name: m.full_name().to_string(),
        },
    })
}

fn proto(scalar: ProtoScalar) -> Type {
    Type::Proto { scalar }
}

/// A Protobuf enum as an open IR enum (unknown numbers are kept, not rejected).
pub(crate) fn open_enum(files: &SchemaFiles, e: &EnumDescriptor) -> Enum {
    let file = e.parent_file_descriptor_proto().name();
    let (source, doc) = files.locate(file, e.path());
    let symbols: Vec<EnumSymbol> = e
        .values()
        .map(|v| EnumSymbol {
            name: v.name().to_string(),
            number: v.number(),
            doc: files.locate(file, v.path()).1,
        })
        .collect();
    Enum {
        rust: Default::default(),
        deprecated: super::options::protobuf_deprecated(
            e.enum_descriptor_proto()
                .options
                .as_ref()
                .and_then(|o| o.deprecated),
        ),
        name: e.name().to_string(),
        namespace: namespace_of(e.full_name()),
        doc,
        aliases: Vec::new(),
        default: symbols
            .iter()
            .find(|s| s.number == 0)
            .map(|s| s.name.clone()),
        symbols,
        open: true,
        source,
    }
}
