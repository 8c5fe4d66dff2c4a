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
}

/// Anything that can publish typed events (Kafka, the in-process bus, a test recorder).
pub trait Publish: Send + Sync {
    fn publish<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send;
}
