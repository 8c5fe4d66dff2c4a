//! Error types of the runtime: decode failures, validation failures, unknown events.
//!
//! Messages never contain field values (a value may be PHI): they name the field, the type and
//! the rule, never the data.

use thiserror::Error;

/// A payload could not be turned into a typed event.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    #[error("payload ended early while reading {what} at byte {offset}")]
    UnexpectedEof { what: &'static str, offset: usize },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{remaining} unread bytes after the datum; was it written with another schema?")]
    TrailingBytes { remaining: usize },
    #[error("unknown symbol index {index} for enum {enum_name}")]
    UnknownSymbol { enum_name: &'static str, index: i32 },
    #[error("field `{field}` is required but missing")]
    MissingField { field: String },
    #[error("field `{field}`: expected {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("unknown event {event_type} version {version}; known versions: {known}")]
    UnknownEvent {
        event_type: String,
        version: u32,
        known: String,
    },
    #[error("no event has schema fingerprint {fingerprint:#018x}")]
    UnknownFingerprint { fingerprint: u64 },
    #[error("protobuf: {0}")]
    Protobuf(String),
    #[error("framing: {0}")]
    Framing(String),
}

impl DecodeError {
    /// Prefix a field path onto errors that carry one (used by nested decoders).
    pub fn in_field(self, field: &str) -> DecodeError {
        match self {
            DecodeError::MissingField { field: f } => DecodeError::MissingField {
                field: format!("{field}.{f}"),
            },
            DecodeError::WrongType { field: f, expected } => DecodeError::WrongType {
                field: if f.is_empty() {
                    field.to_string()
                } else {
                    format!("{field}.{f}")
                },
                expected,
            },
            other => other,
        }
    }
}

/// An event broke a schema constraint; raised before anything is sent or stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{event_type}: field `{field}` {rule}")]
pub struct ValidationError {
    pub event_type: &'static str,
    pub field: String,
    /// What is wrong, without the value (it may be PHI).
    pub rule: String,
}
