//! The event store: typed events appended to streams with optimistic concurrency, read back in commit-safe order, in memory here, on PostgreSQL in crate `carebus-postgres`.
//!
//! # The API
//!
//! - [`EventStore`]: `append` (expected version, idempotent by event id), `read_stream`, `read`
//!   / `read_all` after a [`Cursor`], `count`, snapshots and checkpoints. Implemented by
//!   [`MemoryEventStore`] (embedded, no server) and `carebus_postgres::PgEventStore`.
//! - [`NewEvent`] (built from any [`DomainEvent`](carebus_core::DomainEvent) or
//!   [`TopicEvents`](carebus_core::TopicEvents) value plus an [`EventContext`]) in, [`StoredEvent`] out;
//!   [`Upcasters`] + [`decode_stored`] turn stored rows into the current version of the
//!   generated events.
//! - [`Aggregate`] + [`Repository`]: load = latest snapshot + the events after it, execute a
//!   command, append with the expected version, snapshot by [`SnapshotPolicy`].
//! - [`CatchUp`]: catch-up-then-live subscriptions and resumable, selective replays into an
//!   [`EventSink`] (a handler, a projection, a transport), with stall detection and progress.
//!
//! # The safe cursor
//!
//! `global_position` is an identity: a transaction that started later can commit first, so a
//! reader that only remembers the last position would skip the earlier one when it commits
//! (the classic bug of Watermill, Marten's async daemon, SQLStreamStore). Every row also keeps
//! its writing transaction (`tx_id xid8`), and readers ask for
//! `(tx_id, global_position) > (last_tx, last_pos) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())`
//! ordered by `(tx_id, global_position)`: only transactions older than every running one, so
//! nothing can later appear *before* the cursor. [`Cursor`] is that pair.
//!
//! # Migrations (PostgreSQL)
//!
//! Numbered sqlx migrations in `runtime/postgres/migrations/`, embedded as `carebus_postgres::MIGRATOR`:
//! - `0001_streams_and_events.sql`: `streams`, `events` and their indexes.
//! - `0002_snapshots_and_checkpoints.sql`: `snapshots`, `checkpoints`.
//!
//! Numbers 0001–0099 are the core's; **0100–0199 are for store operations** (query API
//! indexes, archive table, PHI key table, row-level security, outbox). Never edit an applied
//! migration; add a new number. `xid8` does not survive `pg_dump`/restore: after a restore,
//! delete every checkpoint and rebuild projections.

#![warn(missing_docs)]

mod aggregate;
mod error;
mod event;
mod filter;
mod memory;
pub mod outbox_relay;
pub mod sink;
mod subscription;
mod upcast;

pub use aggregate::{Aggregate, Loaded, Repository, RepositoryError, SnapshotPolicy};
pub use error::StoreError;
pub use event::{
    AppendResult, AppendedEvent, Cursor, EventContext, ExpectedVersion, NewEvent, ParkedEvent,
    Snapshot, StoredEvent, stream_name,
};
pub use filter::EventFilter;
pub use memory::MemoryEventStore;
pub use subscription::{
    CatchUp, EventSink, HandlerSink, Progress, STALLED_GAUGE, STALLS_COUNTER, TransportSink,
};
pub use upcast::{Recorded, Upcasters, decode_stored};

use std::future::Future;

/// Longest stream id accepted (bytes).
pub const MAX_STREAM_ID_LEN: usize = 256;

/// A store of event streams. Every method is one atomic operation.
///
/// Semantics every backend keeps (tested on both):
/// - `append` writes all events of the batch or none, at consecutive stream versions after
///   the expected one; a stale expected version is [`StoreError::Conflict`].
/// - An event id already stored is a no-op: a retried batch returns the stored positions.
/// - `read`/`read_all` return events strictly after the cursor, in `(tx_id, position)`
///   order, never one that could later be preceded by an event still being written.
pub trait EventStore: Send + Sync + 'static {
    /// Append `events` to `stream` if its version is `expected`.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Events of `stream` with `stream_version >= from_version`, in stream order, at most
    /// `limit`. An unknown stream reads as empty.
    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// The stream's version (number of events), `None` when it does not exist.
    fn stream_version(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Events matching `filter` strictly after `after`, in safe-cursor order, at most `limit`.
    fn read(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// Every event strictly after `after`, in safe-cursor order, at most `limit`.
    fn read_all(
        &self,
        after: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send {
        async move { self.read(&EventFilter::default(), after, limit).await }
    }

    /// How many committed events match `filter` after `after` (including ones the safe cursor
    /// does not return yet): the "remaining" of a replay, the "pending" of a subscription.
    fn count(
        &self,
        filter: &EventFilter,
        after: Cursor,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Store a snapshot (replacing one at the same stream version).
    fn save_snapshot(
        &self,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The snapshot of `stream` with the highest version, whatever its shape version.
    fn latest_snapshot(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Delete all but the newest `keep` snapshots of `stream`; returns how many were deleted.
    fn prune_snapshots(
        &self,
        stream: &str,
        keep: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The stored checkpoint of a subscription, `None` before its first.
    fn checkpoint(
        &self,
        subscription: &str,
    ) -> impl Future<Output = Result<Option<Cursor>, StoreError>> + Send;

    /// Store a subscription's checkpoint.
    fn save_checkpoint(
        &self,
        subscription: &str,
        cursor: Cursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forget a subscription's checkpoint (the next run starts from the beginning).
    fn delete_checkpoint(
        &self,
        subscription: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Set an event aside for a relay (replacing the reason if it is parked already).
    fn park(&self, parked: ParkedEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The events `relay` parked, in store order.
    fn parked(
        &self,
        relay: &str,
    ) -> impl Future<Output = Result<Vec<ParkedEvent>, StoreError>> + Send;

    /// Take an event off `relay`'s parked list (it was delivered, or given up by an operator).
    fn unpark(
        &self,
        relay: &str,
        event_id: carebus_core::Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Check a stream id: not blank, not longer than [`MAX_STREAM_ID_LEN`], no control characters.
pub fn check_stream_id(stream: &str) -> Result<(), StoreError> {
    let reason = if stream.trim().is_empty() {
        "is empty"
    } else if stream.len() > MAX_STREAM_ID_LEN {
        "is longer than 256 bytes"
    } else if stream.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidStream {
        reason: format!("stream id {reason}; use stream_name(aggregate_type, aggregate_id)"),
    })
}
