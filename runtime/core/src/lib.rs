//! carebus core: the types, codecs, wire format and traits every other carebus crate and the generated code are written against.
//!
//! - [`types`]: [`Uuid`], [`Timestamp`], [`Date`], [`Decimal`] and [`Phi`] (redacted PHI).
//! - [`event`]: [`DomainEvent`], [`AvroCodec`], [`JsonCodec`] (Avro's JSON encoding); [`avro`]:
//!   the Avro binary reader and writer the generated codecs call; [`json_legacy`]: carebus's
//!   JSON form from before Avro's JSON encoding, upcast on read.
//! - [`envelope`] and [`wire`]: CloudEvents headers (Kafka protocol binding), Avro single-object /
//!   Confluent / JSON / Protobuf framing, decoding back to a topic's event enum.
//! - [`transport`]: the producer/consumer abstraction the in-process bus and Kafka implement.
//! - [`topic`], [`handler`], [`publish`]: the per-topic contracts the generated code implements
//!   and calls ([`TopicEvents`], [`TopicHandler`], [`Publish`]).
//! - [`deidentify`]: the de-identification plans generated from field classifications, which
//!   the analytics sink applies.
//! - [`journey`]: journey definitions as embedded by the generated code, and the pure state
//!   machine the journey engine runs them with.
//! - [`dead_letter`] and [`claim_check`]: the dead-letter record format and the claim-check
//!   pattern, over any transport.
//!
//! Applications depend on the facade crate `carebus`, which re-exports all of this; generated
//! code (crate `carebus-schemas`) depends on this crate only.

#![warn(missing_docs)]

pub mod avro;
#[doc(hidden)]
pub mod avro_serde;
pub mod claim_check;
pub mod cloudevents;
pub mod config;
pub mod dead_letter;
pub mod deidentify;
pub mod envelope;
pub mod error;
pub mod event;
pub mod handler;
pub mod headers;
pub mod journey;
pub mod json_legacy;
pub mod publish;
pub mod topic;
pub mod transport;
pub mod types;
pub mod wire;

pub use error::{DecodeError, ValidationError};
pub use event::{AvroCodec, DomainEvent, JsonCodec, PayloadFormat};
pub use handler::{
    ContextFields, HandlerContext, HandlerError, HandlerErrorKind, HandlerResult, HandlerResultExt,
};
pub use publish::{Delivered, Delivery, Publish, PublishError, PublishOptions};
pub use topic::{CleanupPolicy, EventInfo, TopicEvents, TopicHandler, TopicSpec};
pub use types::{
    BigDecimal, Date, Decimal, LocalTimestampMicros, LocalTimestampMillis, LocalTimestampNanos,
    Phi, PrecisionExceeded, TimeMicros, TimeMillis, TimePeriod, Timestamp, TimestampMillis,
    TimestampNanos, Uuid,
};

/// Re-exports used by generated code, so `carebus-schemas` needs no extra dependencies.
#[doc(hidden)]
pub mod __private {
    pub use prost;
    pub use serde;
    pub use serde_json;
}
