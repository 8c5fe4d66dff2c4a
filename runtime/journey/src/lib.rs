//! carebus-journey: the patient journeys of `schemas/journeys/` run as durable state machines and sagas — consumed events and due timers in, new instance states, history, timers and outgoing events (through the transactional outbox) out.
//!
//! - [`Engine`]: built from the generated `journeys::<name>::journeys()`, the topics whose
//!   events it emits (`.emits::<JourneysEvent>()`), and an [`InstanceStore`].
//! - [`InstanceStore`]: [`PgInstanceStore`] (feature `postgres`: tables of migrations
//!   0120–0129 of carebus-postgres; the outbox is the event store, published by its
//!   `OutboxRelay`) or [`MemoryInstanceStore`] (embedded, for the platform demo).
//! - [`JourneyHandler`]: one per consumed topic, run in consumer group [`ENGINE_GROUP`];
//!   [`Engine::run_timers`]: the durable timer loop.
//!
//! - [`dashboard::Dashboard`] (feature `postgres`): the HTML dashboard the engine process
//!   serves, over [`overview`]'s reads of the PostgreSQL instance store.
//!
//! The definition format is documented in `docs/journeys.md`; the state machine itself is
//! `carebus_core::journey::machine`.

#![warn(missing_docs)]

mod clock;
mod consume;
#[cfg(feature = "postgres")]
pub mod dashboard;
mod engine;
mod memory;
#[cfg(feature = "postgres")]
pub mod overview;
#[cfg(feature = "postgres")]
mod pg;
mod store;

pub use carebus_core::journey::{
    Compensating, Decision, Definition, HistoryKind, Hooks, Instance, InstanceView, Journey,
    NoHooks,
};
pub use clock::{Clock, ShiftedClock, SystemClock};
pub use consume::{GAUGE_REFRESH, JourneyHandler};
pub use engine::*;
pub use memory::MemoryInstanceStore;
#[cfg(feature = "postgres")]
pub use pg::PgInstanceStore;
pub use store::{
    Applied, Decide, DecideTimer, DueTimer, Fired, InstanceStore, ParkedInstance, Plan, Processed,
    StateCount, StoredHistory,
};

/// Why the engine could not process an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The instance store failed (the input is retried).
    #[error("journey store: {operation} failed: {source}")]
    Store {
        /// What the store was doing.
        operation: &'static str,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The instance kept changing under the engine (other engines processing events of the
    /// same instance); the input is retried.
    #[error(
        "journey `{journey}`: the instance kept changing concurrently after {attempts} attempts; the event is retried"
    )]
    Conflict {
        /// Journey name.
        journey: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An outgoing event did not fit its schema: the definitions and the generated code are
    /// out of step (rebuild), or a custom action produced a bad value.
    #[error(
        "the engine built a {event_type} its schema rejects: {source}; rebuild so the definitions and generated code agree"
    )]
    Encode {
        /// Event type.
        event_type: String,
        /// Why its codec rejected it.
        #[source]
        source: carebus_core::DecodeError,
    },
    /// The engine is set up wrong.
    #[error("journey engine configuration: {0}")]
    Config(String),
}

impl EngineError {
    /// Whether retrying the same input may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            EngineError::Store { .. } | EngineError::Conflict { .. }
        )
    }
}
