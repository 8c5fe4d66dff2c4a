//! What can go wrong in the event store, as one error enum whose texts name streams, versions and operations, never event data.

use super::event::ExpectedVersion;
use carebus_core::error::{DecodeError, ValidationError};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved since the caller read it.
    #[error(
        "stream `{stream}` expected {expected} but is at {}; reload it and retry the command",
        actual.map_or_else(|| "no stream (it does not exist)".to_string(), |v| format!("version {v}"))
    )]
    Conflict {
        /// The stream appended to.
        stream: String,
        /// The version the append expected.
        expected: ExpectedVersion,
        /// The stream's version, `None` when it does not exist.
        actual: Option<u64>,
    },
    /// The stream id cannot be used.
    #[error("invalid stream id: {reason}")]
    InvalidStream {
        /// What is wrong with it (empty, too long, a control character...).
        reason: String,
    },
    /// An event broke its schema's constraints; nothing was appended.
    #[error("event not appended: {0}")]
    Validation(#[from] ValidationError),
    /// A batch the store cannot take (empty, mixed, too large).
    #[error("invalid append to stream `{stream}`: {reason}")]
    InvalidAppend {
        /// The stream appended to.
        stream: String,
        /// What the store cannot take.
        reason: String,
    },
    /// A stored payload could not be turned into a typed event.
    #[error(
        "stored event {event_type} v{version} at position {position} could not be decoded: {source}; \
         register an upcaster or regenerate the schemas"
    )]
    Decode {
        /// The stored event's type.
        event_type: String,
        /// Its stored schema version.
        version: u32,
        /// Its global position.
        position: i64,
        /// What the decoder reported (no field values).
        source: DecodeError,
    },
    /// An upcaster failed or loops.
    #[error("upcasting {event_type} v{version}: {reason}")]
    Upcast {
        /// The event type being upcast.
        event_type: String,
        /// The version being lifted when it failed (the stored version, for a cycle).
        version: u32,
        /// What went wrong (no field values).
        reason: String,
    },
    /// A snapshot could not be written or read.
    #[error("snapshot of stream `{stream}`: {reason}")]
    Snapshot {
        /// The aggregate's stream.
        stream: String,
        /// Why (a serde error about the state's shape).
        reason: String,
    },
    /// A projection or handler failed; the checkpoint did not move past the failing batch.
    #[error("projection `{name}` failed: {reason}")]
    Projection {
        /// The projection's (or sink's) name.
        name: String,
        /// Why it failed; must not hold event data.
        reason: String,
    },
    /// The database (or another backend) failed; `operation` names what was being done.
    #[error("event store {operation} failed: {message}")]
    Backend {
        /// What was being done (`"append"`, `"connect"`, ...).
        operation: &'static str,
        /// The backend's message.
        message: String,
        /// Whether retrying may succeed (connection loss, serialization failure, deadlock).
        retriable: bool,
        /// The backend's own error (for PostgreSQL a `sqlx::Error`; downcast to inspect it).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// Whether retrying the same operation may succeed (conflicts need a reload first).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                retriable: true,
                ..
            }
        )
    }

    /// A projection error from any displayable cause (do not pass event data).
    pub fn projection(name: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Projection {
            name: name.into(),
            reason: reason.to_string(),
        }
    }
}

/// Appending or reading from a handler: retriable when the backend may recover, else permanent.
impl From<StoreError> for carebus_core::HandlerError {
    fn from(e: StoreError) -> Self {
        let kind = if e.is_retriable() {
            carebus_core::HandlerErrorKind::Retriable
        } else {
            carebus_core::HandlerErrorKind::Permanent
        };
        carebus_core::HandlerError::from_error(kind, e)
    }
}
