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
        stream: String,
        expected: ExpectedVersion,
        /// The stream's version, `None` when it does not exist.
        actual: Option<u64>,
    },
    /// The stream id cannot be used.
    #[error("invalid stream id: {reason}")]
    InvalidStream { reason: String },
    /// An event broke its schema's constraints; nothing was appended.
    #[error("event not appended: {0}")]
    Validation(#[from] ValidationError),
    /// A batch the store cannot take (empty, mixed, too large).
    #[error("invalid append to stream `{stream}`: {reason}")]
    InvalidAppend { stream: String, reason: String },
    /// A stored payload could not be turned into a typed event.
    #[error(
        "stored event {event_type} v{version} at position {position} could not be decoded: {source}; \
         register an upcaster or regenerate the schemas"
    )]
    Decode {
        event_type: String,
        version: u32,
        position: i64,
        source: DecodeError,
    },
    /// An upcaster failed or loops.
    #[error("upcasting {event_type} v{version}: {reason}")]
    Upcast {
        event_type: String,
        version: u32,
        reason: String,
    },
    /// A snapshot could not be written or read.
    #[error("snapshot of stream `{stream}`: {reason}")]
    Snapshot { stream: String, reason: String },
    /// A projection or handler failed; the checkpoint did not move past the failing batch.
    #[error("projection `{name}` failed: {reason}")]
    Projection { name: String, reason: String },
    /// The database (or another backend) failed; `operation` names what was being done.
    #[error("event store {operation} failed: {message}")]
    Backend {
        operation: &'static str,
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
