//! The publishing contract the generated typed publishers call: an event plus envelope options in, a delivery out.

use crate::event::DomainEvent;
use std::future::Future;

/// Envelope fields set by the caller; missing ids are filled in (event id, time) or taken
/// from the event being handled (correlation, causation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishOptions {
    pub tenant_id: Option<String>,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub user_id: Option<String>,
    pub source: Option<String>,
    /// Extra headers passed through as-is (must not hold PHI).
    pub headers: Vec<(String, String)>,
    /// Client IP address recorded in the envelope metadata.
    pub ip_address: Option<String>,
    /// Fixed event id (idempotent re-publish); a new UUID when `None`.
    pub event_id: Option<String>,
}

/// Where an event landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("event failed validation: {0}")]
    Invalid(#[from] crate::error::ValidationError),
    #[error("publish to {topic} failed: {reason}")]
    Transport { topic: String, reason: String },
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
        event_type: String,
        size: usize,
        max: usize,
    },
    /// Not delivered yet, but kept durably in the local outbox; it is delivered when the
    /// transport is reachable again. Nothing is lost.
    #[error(
        "{topic} is unreachable (circuit open or retries exhausted); event {event_id} is kept in \
         the outbox and will be delivered when the transport is back"
    )]
    Queued { event_id: String, topic: String },
    /// The transport refused the event for good; it was sent to the dead-letter topic.
    #[error("{topic} refused event {event_id} ({reason}); it was sent to {dead_letter_topic}")]
    DeadLettered {
        event_id: String,
        topic: String,
        dead_letter_topic: String,
        reason: String,
    },
    /// No reply arrived in time (request-reply).
    #[error("no reply on {reply_topic} within {timeout_ms} ms")]
    ReplyTimeout {
        reply_topic: String,
        timeout_ms: u64,
    },
    /// The local outbox or claim-check store failed.
    #[error("local storage failed: {0}")]
    Storage(String),
}

impl PublishError {
    /// Whether the event is safe (delivered later from the outbox) despite the error.
    pub fn is_queued(&self) -> bool {
        matches!(self, PublishError::Queued { .. })
    }
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
    fn publish<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send;
}
