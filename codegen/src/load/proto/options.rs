//! carebus custom options (`(carebus.topic)`, `(carebus.classification)`, ...) on Protobuf messages and fields in, checked IR annotations out.

use super::SchemaFiles;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::{Classification, Compatibility, Record, Source};
use prost_reflect::{
    DynamicMessage, ExtensionDescriptor, FieldDescriptor, MessageDescriptor, Value,
};

/// Options on an event message.
pub(crate) const EVENT_VERSION: &str = "event_version";
pub(crate) const AGGREGATE_TYPE: &str = "aggregate_type";
pub(crate) const AGGREGATE_ID: &str = "aggregate_id";
pub(crate) const TOPIC: &str = "topic";
pub(crate) const COMPATIBILITY: &str = "compatibility";
pub(crate) const DEPRECATED: &str = "deprecated";
/// Options on a field.
pub(crate) const CLASSIFICATION: &str = "classification";
pub(crate) const ANALYTICS: &str = "analytics";
pub(crate) const EXAMPLES: &str = "examples";
/// Protobuf forbids two extensions with one name in a package, so the field-level
/// `deprecated` may be declared under this name instead.
pub(crate) const FIELD_DEPRECATED: &str = "field_deprecated";

/// The reason recorded for Protobuf's own `deprecated = true`, which carries none.
pub(crate) const PROTOBUF_DEPRECATED: &str =
    "marked `deprecated = true` in the .proto; the schema gives no replacement";

/// The reason recorded for Protobuf's own `deprecated` option: [`PROTOBUF_DEPRECATED`] when it
/// is set to true, none otherwise.
pub(crate) fn protobuf_deprecated(option: Option<bool>) -> Option<String> {
    option
        .filter(|d| *d)
        .map(|_| PROTOBUF_DEPRECATED.to_string())
}

const MESSAGE_OPTIONS: [&str; 6] = [
    EVENT_VERSION,
    AGGREGATE_TYPE,
    AGGREGATE_ID,
    TOPIC,
    COMPATIBILITY,
    DEPRECATED,
];
const FIELD_OPTIONS: [&str; 4] = [CLASSIFICATION, ANALYTICS, FIELD_DEPRECATED, EXAMPLES];

/// Field number of `options` in `DescriptorProto` and `FieldDescriptorProto`.
const MESSAGE_OPTIONS_TAG: i32 = 7;
const FIELD_OPTIONS_TAG: i32 = 8;

/// The carebus options of an event message, checked.
#[derive(Debug)]
pub(crate) struct EventOptions {
    pub version: u32,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub topic: String,
    pub compatibility: Compatibility,
    pub deprecated: Option<String>,
}

/// The carebus options of a field, checked.
#[derive(Debug, Default)]
pub(crate) struct FieldOptions {
    pub classification: Classification,
    /// Whether `(carebus.classification)` was set.
    pub classified: bool,
    pub analytics: Option<crate::ir::Analytics>,
    pub examples: Vec<serde_json::Value>,
    pub deprecated: Option<String>,
}

/// The carebus extensions set in an options message, by short name, with their numbers.
fn carebus_options(options: &DynamicMessage) -> Vec<(String, u32, Value)> {
    options
        .extensions()
        .filter(|(ext, _)| is_carebus(ext))
        .map(|(ext, v)| (ext.name().to_string(), ext.number(), v.clone()))
        .collect()
}

fn is_carebus(ext: &ExtensionDescriptor) -> bool {
    ext.full_name()
        .strip_prefix(super::OPTIONS_PACKAGE)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Read an event's options. `None` when the message has no `(carebus.topic)`: it is a
/// plain named type then.
pub(crate) fn event_options(
    files: &SchemaFiles,
    message: &MessageDescriptor,
    record: &Record,
    diags: &mut Diagnostics,
) -> Option<EventOptions> {
    let set = carebus_options(&message.options());
    let file = message.parent_file();
    let at = |number: u32| {
        let mut path = message.path().to_vec();
        path.extend([MESSAGE_OPTIONS_TAG, number as i32]);
        let (source, _) = files.locate(file.name(), &path);
        if source.line == 0 {
            record.source.clone()
        } else {
            source
        }
    };
    let get = |name: &str| set.iter().find(|(n, _, _)| n == name);
    let text = |name: &str| get(name).and_then(|(_, _, v)| v.as_str().map(str::to_string));

    let Some(topic) = text(TOPIC) else {
        if let Some((name, number, _)) = set.iter().find(|(n, _, _)| *n != DEPRECATED) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::BadAnnotation,
                    at(*number),
                    format!(
                        "message `{}` sets `(carebus.{name})` but has no `(carebus.topic)`",
                        record.name
                    ),
                )
                .help("add `option (carebus.topic) = \"<topic>\";` to make it an event, or remove the event options"),
            );
        }
        return None;
    };
    let mut opts = EventOptions {
        version: 1,
        aggregate_type: text(AGGREGATE_TYPE).unwrap_or_default(),
        aggregate_id: text(AGGREGATE_ID).unwrap_or_default(),
        topic,
        compatibility: Compatibility::default(),
        deprecated: text(DEPRECATED).or_else(|| {
            protobuf_deprecated(
                message
                    .descriptor_proto()
                    .options
                    .as_ref()
                    .and_then(|o| o.deprecated),
            )
        }),
    };
    if opts.topic.trim().is_empty() {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::BadAnnotation,
                at(topic_number(&set)),
                "`(carebus.topic)` is empty",
            )
            .help("name a topic from schemas/topics.toml, e.g. `healthcare.ai.events`"),
        );
    }
    if let Some((_, number, v)) = get(EVENT_VERSION) {
        match v.as_i32() {
            Some(n) if n >= 1 => opts.version = n as u32,
            _ => diags.push(
                Diagnostic::new(
                    DiagnosticKind::BadAnnotation,
                    at(*number),
                    format!(
                        "`(carebus.event_version)` of `{}` must be 1 or more",
                        record.name
                    ),
                )
                .help("versions start at 1 and grow by one per breaking change"),
            ),
        }
    }
    if let Some((_, number, v)) = get(COMPATIBILITY) {
        let value = v.as_str().unwrap_or_default();
        match Compatibility::parse(value) {
            Some(c) => opts.compatibility = c,
            None => {
                let all = Compatibility::ALL.map(Compatibility::as_str);
                let help = match suggest(value, all) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use one of {}", all.join(", ")),
                };
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::BadAnnotation,
                        at(*number),
                        format!("unknown compatibility mode `{value}`"),
                    )
                    .help(help),
                );
            }
        }
    }
    if opts.aggregate_type.trim().is_empty() {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::BadAnnotation,
                record.source.clone(),
                format!("event `{}` has no `(carebus.aggregate_type)`", record.name),
            )
            .help("add `option (carebus.aggregate_type) = \"<Aggregate>\";`, e.g. \"Patient\""),
        );
    }
    let field_names = || record.fields.iter().map(|f| f.name.as_str());
    if opts.aggregate_id.is_empty() {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::MissingAggregateId,
                record.source.clone(),
                format!("event `{}` has no `(carebus.aggregate_id)`", record.name),
            )
            .help(format!(
                "add `option (carebus.aggregate_id) = \"<field>\";` naming the field that holds the aggregate id (one of: {})",
                field_names().collect::<Vec<_>>().join(", ")
            )),
        );
    } else if record.field(&opts.aggregate_id).is_none() {
        let number = get(AGGREGATE_ID).map_or(0, |(_, n, _)| *n);
        let help = match suggest(&opts.aggregate_id, field_names()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "name one of the fields: {}",
                field_names().collect::<Vec<_>>().join(", ")
            ),
        };
        diags.push(
            Diagnostic::new(
                DiagnosticKind::MissingAggregateId,
                at(number),
                format!(
                    "`(carebus.aggregate_id)` of `{}` names `{}`, which is not a field of it",
                    record.name, opts.aggregate_id
                ),
            )
            .help(help),
        );
    }
    Some(opts)
}

fn topic_number(set: &[(String, u32, Value)]) -> u32 {
    set.iter()
        .find(|(n, _, _)| n == TOPIC)
        .map_or(0, |(_, n, _)| *n)
}

/// Read a field's options.
pub(crate) fn field_options(
    files: &SchemaFiles,
    field: &FieldDescriptor,
    source: &Source,
    diags: &mut Diagnostics,
) -> FieldOptions {
    let mut out = FieldOptions {
        deprecated: protobuf_deprecated(
            field
                .field_descriptor_proto()
                .options
                .as_ref()
                .and_then(|o| o.deprecated),
        ),
        ..FieldOptions::default()
    };
    for (name, number, value) in carebus_options(&field.options()) {
        let mut path = field.path().to_vec();
        path.extend([FIELD_OPTIONS_TAG, number as i32]);
        let (at, _) = files.locate(field.parent_file().name(), &path);
        let field_source = if at.line == 0 { source } else { &at };
        match name.as_str() {
            CLASSIFICATION => {
                let v = value.as_str().unwrap_or_default();
                out.classified = true;
                match Classification::parse(v) {
                    Some(c) => out.classification = c,
                    None => {
                        let help = match suggest(v, ["phi", "pii", "none"]) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "use `phi`, `pii` or `none`".to_string(),
                        };
                        diags.push(
                            Diagnostic::new(
                                DiagnosticKind::BadAnnotation,
                                field_source.clone(),
                                format!(
                                    "field `{}` has unknown classification `{v}`",
                                    field.name()
                                ),
                            )
                            .help(help),
                        );
                    }
                }
            }
            ANALYTICS => {
                let v = value.as_str().unwrap_or_default();
                match crate::ir::Analytics::parse(v) {
                    Some(a) => out.analytics = Some(a),
                    None => diags.push(
                        Diagnostic::new(
                            DiagnosticKind::BadAnnotation,
                            field_source.clone(),
                            format!("field `{}` has unknown analytics rule `{v}`", field.name()),
                        )
                        .help(format!("use one of: {}", crate::ir::Analytics::SPELLINGS)),
                    ),
                }
            }
            DEPRECATED | FIELD_DEPRECATED => out.deprecated = value.as_str().map(str::to_string),
            EXAMPLES => {
                for (i, example) in value.as_list().unwrap_or_default().iter().enumerate() {
                    let text = example.as_str().unwrap_or_default();
                    match serde_json::from_str(text) {
                        Ok(v) => out.examples.push(v),
                        Err(e) => diags.push(
                            Diagnostic::new(
                                DiagnosticKind::BadAnnotation,
                                field_source.clone(),
                                format!(
                                    "example {} of field `{}` is not JSON: {e}",
                                    i + 1,
                                    field.name()
                                ),
                            )
                            .help("write each example as a JSON value, e.g. \"\\\"text\\\"\" for a string or \"42\" for a number"),
                        ),
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Turn protox's errors about carebus options into annotation diagnostics:
/// - `'carebus.topik' resolves to 'carebus.topik', which is not defined` → unknown annotation
///   with a "did you mean";
/// - `expected an extension to type 'google.protobuf.MessageOptions', but 'carebus.examples'
///   extends 'google.protobuf.FieldOptions'` → an option in the wrong place;
/// - `expected a value of type 'int32' for option '(carebus.event_version)', but found '"2"'`
///   → a value of the wrong type.
pub(crate) fn option_error(message: &str, source: Source) -> Option<Diagnostic> {
    if message.ends_with("is not defined") {
        let rest = message.strip_prefix('\'')?;
        let name = &rest[..rest.find('\'')?];
        let short = name.strip_prefix("carebus.")?;
        let known = MESSAGE_OPTIONS.iter().chain(FIELD_OPTIONS.iter()).copied();
        let help = match suggest(short, known) {
            Some(s) => format!("did you mean `(carebus.{s})`?"),
            None => format!(
                "carebus options are: on messages {}; on fields {}",
                MESSAGE_OPTIONS.join(", "),
                FIELD_OPTIONS.join(", ")
            ),
        };
        return Some(
            Diagnostic::new(
                DiagnosticKind::UnknownAnnotation,
                source,
                format!("unknown carebus option `({name})`"),
            )
            .help(help),
        );
    }
    let quoted: Vec<&str> = message.split('\'').skip(1).step_by(2).collect();
    if message.starts_with("expected an extension to type") {
        let (wanted, name, declared) = (quoted.first()?, quoted.get(1)?, quoted.get(2)?);
        name.strip_prefix("carebus.")?;
        let place = |t: &str| {
            if t.ends_with("FieldOptions") {
                "field"
            } else {
                "message"
            }
        };
        return Some(
            Diagnostic::new(
                DiagnosticKind::BadAnnotation,
                source,
                format!(
                    "`({name})` is a {} option, used here on a {}",
                    place(declared),
                    place(wanted)
                ),
            )
            .help(if place(declared) == "field" {
                format!("put it after a field: `string x = 1 [({name}) = ...];`")
            } else {
                format!("put it inside the message: `option ({name}) = ...;`")
            }),
        );
    }
    if message.starts_with("expected a value of type") {
        let (ty, option) = (quoted.first()?, quoted.get(1)?);
        option.strip_prefix("(carebus.")?;
        return Some(
            Diagnostic::new(
                DiagnosticKind::BadAnnotation,
                source,
                format!("`{option}` takes a value of type {ty}"),
            )
            .help(match *ty {
                "string" => "write the value in double quotes".to_string(),
                _ => format!("write a {ty} literal without quotes, e.g. `2`"),
            }),
        );
    }
    None
}
