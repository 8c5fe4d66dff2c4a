//! carebus runtime: typed events from the generated code in, Kafka (or the in-process bus) and the event store out.
//!
//! The generated code (crate `carebus-schemas`) implements [`DomainEvent`], [`AvroCodec`] and
//! [`JsonCodec`] for each event and calls the traits in [`publish`], [`topic`] and [`handler`].
//!
//! Moving events:
//! - [`transport`]: the abstraction both transports implement; [`bus`] is the in-process one
//!   (the embedded default), `kafka` (feature `kafka`) the rdkafka one.
//! - [`envelope`] and [`wire`]: CloudEvents headers, Avro single-object / Confluent / JSON
//!   framing, decoding back to a topic's event enum.
//! - [`publisher`]: [`Publisher`] (implements [`Publish`]) with retries, circuit breaker,
//!   outbox, dead letters, claim check, batches, transactions, request-reply.
//! - [`consumer`]: [`Consumer`] running a generated [`TopicHandler`]; [`dead_letter`] to
//!   inspect and redrive; [`context`] for correlation inside handlers.
//! - [`testing`]: a recording publisher, a test consumer, handlers on the bus;
//!   [`observe`]: `/metrics`, `/health`, `/ready`.

#![warn(missing_docs)]

pub mod bus;
pub mod consumer;
pub mod context;
pub mod observe;
pub mod publisher;
pub mod service;
pub mod testing;

/// The event store API and the embedded in-memory store (crate `carebus-store`).
#[cfg(feature = "store")]
pub use carebus_store as store;

/// The PostgreSQL event store (crate `carebus-postgres`).
#[cfg(feature = "postgres")]
pub use carebus_postgres as postgres;

/// The Kafka transport, topic admin and topics plan (crate `carebus-kafka`).
#[cfg(feature = "kafka")]
pub use carebus_kafka as kafka;

pub use carebus_core::{
    avro, claim_check, cloudevents, config, dead_letter, envelope, error, event, handler,
    json_legacy, publish, topic, transport, types, wire,
};

pub use config::{ConfigError, Settings};
pub use consumer::{Consumer, ConsumerConfig, ProcessingMode, Shutdown, UnknownEvents};
pub use error::{DecodeError, ValidationError};
pub use event::{AvroCodec, DomainEvent, JsonCodec, PayloadFormat};
pub use handler::{
    ContextFields, HandlerContext, HandlerError, HandlerErrorKind, HandlerResult, HandlerResultExt,
};
pub use publish::{Delivered, Delivery, Publish, PublishError, PublishOptions};
pub use publisher::{Prepared, Publisher, PublisherConfig};
pub use service::{RunningService, Service, ServiceError, ServiceReport};
pub use topic::{CleanupPolicy, EventInfo, TopicEvents, TopicHandler, TopicSpec};
pub use types::{
    BigDecimal, Date, Decimal, LocalTimestampMicros, LocalTimestampMillis, LocalTimestampNanos,
    Phi, PrecisionExceeded, TimeMicros, TimeMillis, TimePeriod, Timestamp, TimestampMillis,
    TimestampNanos, Uuid,
};

/// Re-exports used by generated code, so `carebus-schemas` needs no extra dependencies.
#[doc(hidden)]
pub use carebus_core::__private;
