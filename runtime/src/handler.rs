//! What a handler is given (the event's envelope and delivery facts) and what it returns.

use std::fmt;

/// Envelope and delivery facts of the event being handled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HandlerContext {
    pub event_id: String,
    pub event_type: String,
    pub event_version: u32,
    pub aggregate_id: String,
    pub aggregate_type: String,
    pub tenant_id: Option<String>,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// 1 for the first delivery, then 2, 3, ... on retries.
    pub attempt: u32,
    /// Reply topic of a request (request-reply), from the `carebus_replyto` header.
    pub reply_to: Option<String>,
    /// W3C `traceparent` of the handled event.
    pub traceparent: Option<String>,
    /// The producing service (envelope `metadata.source`).
    pub source: Option<String>,
    /// The user on whose behalf the event was produced (envelope `metadata.userId`).
    pub user_id: Option<String>,
}

/// The outcome of handling one event.
pub type HandlerResult = Result<(), HandlerError>;

/// Why a handler failed; decides between retry and dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerError {
    pub kind: HandlerErrorKind,
    /// A message free of PHI: it goes to logs and dead-letter headers.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerErrorKind {
    /// Worth retrying (a dependency was down, a timeout).
    Retriable,
    /// Will never succeed (bad data, a rule broken): straight to the dead-letter topic.
    Permanent,
}

impl HandlerError {
    pub fn retriable(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Retriable,
            message: message.into(),
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Permanent,
            message: message.into(),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            HandlerErrorKind::Retriable => "retriable",
            HandlerErrorKind::Permanent => "permanent",
        };
        write!(f, "{kind} handler error: {}", self.message)
    }
}

impl std::error::Error for HandlerError {}
