//! Error types of the runtime: decode failures, validation failures, unknown events.
//!
//! Messages never contain field values (a value may be PHI): they name the field, the type and
//! the rule, never the data.

use thiserror::Error;

/// A payload could not be turned into a typed event.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    /// The payload ended before a complete value was read.
    #[error("payload ended early while reading {what} at byte {offset}")]
    UnexpectedEof {
        /// The Avro type being read (`"long"`, `"string"`, ...).
        what: &'static str,
        /// Byte offset into the payload where the read started.
        offset: usize,
    },
    /// The bytes are not a valid encoding of the expected value (an over-long varint, a
    /// negative or too large length, invalid UTF-8, a UUID or decimal that does not parse).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read (an Avro type, a logical type such as `"uuid"`, or
        /// `"upcast JSON"`).
        what: &'static str,
        /// What is wrong with it; never contains the value itself.
        detail: String,
    },
    /// Bytes were left after a complete datum: the writer most likely used another schema.
    #[error("{remaining} unread bytes after the datum; was it written with another schema?")]
    TrailingBytes {
        /// Number of unread bytes.
        remaining: usize,
    },
    /// A recursive record is nested deeper than the decoder's limit
    /// ([`crate::avro::max_depth`], default [`crate::avro::DEFAULT_MAX_DEPTH`]): the payload is
    /// hostile or was written for a reader with a higher limit.
    #[error(
        "record {record} is nested more than {limit} levels deep; raise the limit with \
         carebus::avro::set_max_depth (or Reader::with_max_depth) if such values are expected"
    )]
    TooDeep {
        /// Full name of the recursive record that went over the limit.
        record: &'static str,
        /// The limit in force: how many recursive records may be open at once.
        limit: usize,
    },
    /// An Avro enum symbol index that the generated enum does not have.
    #[error("unknown symbol index {index} for enum {enum_name}")]
    UnknownSymbol {
        /// Full name of the Avro enum.
        enum_name: &'static str,
        /// The index read from the payload.
        index: i32,
    },
    /// A required field is absent (JSON or Protobuf payloads).
    #[error("field `{field}` is required but missing")]
    MissingField {
        /// Dotted path of the field (`patient.name`), never its value.
        field: String,
    },
    /// A JSON value does not have the type its field needs.
    #[error("field `{field}`: expected {expected}")]
    WrongType {
        /// Dotted path of the field, never its value.
        field: String,
        /// The JSON type or format expected (`"string"`, `"uuid string"`, ...).
        expected: &'static str,
    },
    /// The topic has no generated event for this type and version (`ce_type`,
    /// `ce_eventversion`).
    #[error("unknown event {event_type} version {version}; known versions: {known}")]
    UnknownEvent {
        /// The CloudEvents type received.
        event_type: String,
        /// The event version received.
        version: u32,
        /// The versions the topic knows, for the message (`"v1, v2"`, or `"none"`).
        known: String,
    },
    /// No event of the topic has this Avro schema fingerprint (single-object framing).
    #[error("no event has schema fingerprint {fingerprint:#018x}")]
    UnknownFingerprint {
        /// The CRC-64-AVRO (Rabin) fingerprint read from the payload.
        fingerprint: u64,
    },
    /// The Protobuf decoder rejected the payload; the text is prost's message.
    #[error("protobuf: {0}")]
    Protobuf(String),
    /// The payload's framing does not fit the topic: JSON data (JSON wire format or
    /// structured CloudEvents) for a topic generated without a JSON decoder.
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
    /// CloudEvents type of the event that failed validation.
    pub event_type: &'static str,
    /// Path of the field that broke the constraint (a name, never its value).
    pub field: String,
    /// What is wrong, without the value (it may be PHI).
    pub rule: String,
}
