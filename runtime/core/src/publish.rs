//! The publishing contract the generated typed publishers call: an event plus envelope options in, a delivery out.

use crate::event::DomainEvent;
use std::future::Future;

/// Envelope fields set by the caller; missing ids are filled in (event id, time) or taken
/// from the event being handled (correlation, causation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishOptions {
    /// Tenant of the event (`ce_tenantid`); inherited from the handled event when `None`.
    pub tenant_id: Option<String>,
    /// Correlation id (`ce_correlationid`); inherited from the handled event (or its id) when
    /// `None`.
    pub correlation_id: Option<String>,
    /// Causation id (`ce_causationid`); the handled event's id when `None`.
    pub causation_id: Option<String>,
    /// User who caused the event (`ce_userid`); the handled event's user when `None`.
    pub user_id: Option<String>,
    /// Producing service (`ce_source`); the publisher's configured `source` when `None`.
    pub source: Option<String>,
    /// Extra headers passed through as-is (must not hold PHI).
    pub headers: Vec<(String, String)>,
    /// Client IP address recorded in the envelope metadata.
    pub ip_address: Option<String>,
    /// Fixed event id (idempotent re-publish); a new UUID when `None`.
    pub event_id: Option<String>,
}

/// What became of a published event: acknowledged by the transport, or kept durably in the
/// local outbox to be delivered when the transport is back. Both are success: nothing is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The transport acknowledged the event at this position.
    Delivered(Delivered),
    /// The transport is unreachable (circuit open or retries exhausted); the event is kept in
    /// the outbox and delivered, in order, when it is back.
    Queued {
        /// The event's id (`ce_id`).
        event_id: String,
        /// The topic it will be delivered to.
        topic: String,
    },
}

/// Where an acknowledged event landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The event's id (`ce_id`).
    pub event_id: String,
    /// The topic it was written to.
    pub topic: String,
    /// The partition the transport put it in.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
}

impl Delivery {
    /// The event's id (the envelope's `ce_id`).
    pub fn event_id(&self) -> &str {
        match self {
            Delivery::Delivered(d) => &d.event_id,
            Delivery::Queued { event_id, .. } => event_id,
        }
    }

    /// The topic the event was published to.
    pub fn topic(&self) -> &str {
        match self {
            Delivery::Delivered(d) => &d.topic,
            Delivery::Queued { topic, .. } => topic,
        }
    }

    /// Where the event landed; `None` while it waits in the outbox.
    pub fn delivered(&self) -> Option<&Delivered> {
        match self {
            Delivery::Delivered(d) => Some(d),
            Delivery::Queued { .. } => None,
        }
    }

    /// The partition, once delivered.
    pub fn partition(&self) -> Option<i32> {
        self.delivered().map(|d| d.partition)
    }

    /// The offset, once delivered.
    pub fn offset(&self) -> Option<i64> {
        self.delivered().map(|d| d.offset)
    }

    /// Whether the event waits in the outbox.
    pub fn is_queued(&self) -> bool {
        matches!(self, Delivery::Queued { .. })
    }
}

/// Why publishing failed. Texts name topics, event types and ids, never event data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event broke a schema constraint; nothing was sent.
    #[error("event failed validation: {0}")]
    Invalid(#[from] crate::error::ValidationError),
    /// The transport failed (after the configured retries) and no outbox kept the event.
    #[error("publish to {topic} failed: {source}")]
    Transport {
        /// The topic published to.
        topic: String,
        /// The transport's error.
        #[source]
        source: crate::transport::TransportError,
    },
    /// The circuit breaker is open and no outbox is configured: the event was not sent.
    #[error(
        "publish to {topic} refused: the circuit is open while the transport is unreachable, and \
         no outbox is configured to keep the event (set outbox_dir and outbox_key)"
    )]
    CircuitOpen {
        /// The topic published to.
        topic: String,
    },
    /// A required envelope field is missing or empty.
    #[error("envelope is incomplete: {0}")]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// The event could not be framed (e.g. no Confluent schema id configured).
    #[error("event could not be encoded: {0}")]
    Encode(#[from] crate::wire::WireError),
    /// The encoded event is larger than the configured limit (and no claim-check store is set).
    #[error(
        "{event_type} is {size} bytes, over the {max}-byte limit (max_message_bytes); \
         raise the limit or configure a claim-check store"
    )]
    TooLarge {
        /// The event's type.
        event_type: String,
        /// Size of the record (key, value and headers), in bytes.
        size: usize,
        /// The configured `max_message_bytes`.
        max: usize,
    },
    /// The transport refused the event for good; it was sent to the dead-letter topic.
    #[error("{topic} refused event {event_id}; it was sent to {dead_letter_topic}: {source}")]
    DeadLettered {
        /// The event's id.
        event_id: String,
        /// The topic that refused it.
        topic: String,
        /// The dead-letter topic that now holds it.
        dead_letter_topic: String,
        /// Why the topic refused it.
        #[source]
        source: crate::transport::TransportError,
    },
    /// The transport refused the event for good, and the dead-letter topic failed too.
    #[error(
        "{topic} refused event {event_id} ({refused}), and sending it to {dead_letter_topic} \
         failed too: {source}"
    )]
    DeadLetterFailed {
        /// The event's id.
        event_id: String,
        /// The topic that refused it.
        topic: String,
        /// The dead-letter topic that failed as well.
        dead_letter_topic: String,
        /// Why the topic refused the event.
        refused: crate::transport::TransportError,
        /// Why the dead-letter topic failed.
        #[source]
        source: crate::transport::TransportError,
    },
    /// The publisher is not configured for what was asked (e.g. request-reply without a
    /// reply topic, a reply to an event that is not a request).
    #[error("cannot publish to {topic}: {reason}")]
    Misconfigured {
        /// The topic published to.
        topic: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// No reply arrived in time (request-reply).
    #[error("no reply on {reply_topic} within {timeout_ms} ms")]
    ReplyTimeout {
        /// The topic the reply was awaited on.
        reply_topic: String,
        /// How long the request waited, in milliseconds.
        timeout_ms: u64,
    },
    /// Waiting for the transport to acknowledge everything sent failed.
    #[error("flushing the transport failed: {0}")]
    Flush(#[source] crate::transport::TransportError),
    /// The local outbox or claim-check store failed.
    #[error("local {what} failed: {source}")]
    Storage {
        /// Which store and step: `"outbox"`, `"outbox write"` or `"claim-check store"`.
        what: &'static str,
        /// The I/O error; an outbox failure is an [`std::io::Error::other`] around the
        /// outbox's own error (`carebus::publisher::OutboxError`), reachable as its source.
        #[source]
        source: std::io::Error,
    },
    /// The transport could not take the event and the local outbox is full: the event was
    /// neither sent nor kept.
    #[error(
        "event {event_id} to {topic} was not sent and not kept: the outbox is full \
         ({used_bytes} of {limit_bytes} bytes, outbox_max_bytes); it fills while the transport \
         is unreachable — restore the transport so the outbox drains, or raise \
         outbox_max_bytes (CAREBUS_OUTBOX_MAX_BYTES) if the disk has room"
    )]
    OutboxFull {
        /// The event's id.
        event_id: String,
        /// The topic published to.
        topic: String,
        /// Bytes the outbox's records take now.
        used_bytes: u64,
        /// The configured `outbox_max_bytes`.
        limit_bytes: u64,
    },
    /// The task publishing the event panicked or was cancelled.
    #[error("the publish task did not finish: {reason}")]
    Aborted {
        /// The join error's text (panic or cancellation).
        reason: String,
    },
}

impl PublishOptions {
    /// Options for an event caused by the handled event `ctx`: same correlation (or the
    /// handled event's id when it had none), causation = its event id, same tenant.
    pub fn caused_by(ctx: &crate::handler::HandlerContext) -> Self {
        PublishOptions {
            tenant_id: ctx.tenant_id().map(str::to_owned),
            correlation_id: ctx
                .correlation_id()
                .or_else(|| Some(ctx.event_id()).filter(|s| !s.is_empty()))
                .map(str::to_owned),
            causation_id: Some(ctx.event_id())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            ..PublishOptions::default()
        }
    }
}

/// Anything that can publish typed events (Kafka, the in-process bus, a test recorder).
pub trait Publish: Send + Sync {
    /// Validate, envelope and send `event`; [`Delivery::Queued`] when it was kept in the outbox.
    fn publish<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send;
}

/// Publishing from a handler: retriable when the transport may come back, else permanent.
/// (A publish queued in the outbox is `Ok`, not an error.)
impl From<PublishError> for crate::handler::HandlerError {
    fn from(e: PublishError) -> Self {
        use PublishError as P;
        let kind = match &e {
            P::Transport { source, .. } if source.is_retriable() => {
                crate::handler::HandlerErrorKind::Retriable
            }
            P::CircuitOpen { .. }
            | P::ReplyTimeout { .. }
            | P::Flush(_)
            | P::Storage { .. }
            | P::OutboxFull { .. }
            | P::Aborted { .. } => crate::handler::HandlerErrorKind::Retriable,
            _ => crate::handler::HandlerErrorKind::Permanent,
        };
        crate::handler::HandlerError::from_error(kind, e)
    }
}
