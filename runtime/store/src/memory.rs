//! The embedded event store: the same [`EventStore`] semantics (conflicts, idempotent ids, safe ordering) kept in process memory, for demos and tests without a server.

use super::error::StoreError;
use super::event::{
    AppendResult, AppendedEvent, Cursor, ExpectedVersion, NewEvent, ParkedEvent, Snapshot,
    StoredEvent,
};
use super::filter::EventFilter;
use super::{EventStore, check_stream_id};
use carebus_core::types::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory event store. Clones share the same data. Each append is one "transaction":
/// its events share a `tx_id`, and transactions are numbered in commit order, so the safe
/// cursor order is the append order.
#[derive(Clone, Default)]
pub struct MemoryEventStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    events: Vec<StoredEvent>,
    by_id: HashMap<carebus_core::Uuid, usize>,
    streams: HashMap<String, Vec<usize>>,
    snapshots: HashMap<String, Vec<Snapshot>>,
    checkpoints: HashMap<String, Cursor>,
    parked: Vec<ParkedEvent>,
    last_tx: u64,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryEventStore::default()
    }

    /// Number of events stored.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether no event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written append (appends are
        // computed first, then pushed), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEventStore")
            .field("events", &self.len())
            .finish()
    }
}

fn append_locked(
    inner: &mut Inner,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendResult, StoreError> {
    check_stream_id(stream)?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id)) {
        return Err(StoreError::InvalidAppend {
            stream: stream.to_string(),
            reason: format!("event id {} appears twice in the batch", dup.event_id),
        });
    }
    let stored_of = |inner: &Inner, e: &NewEvent| {
        inner.by_id.get(&e.event_id).map(|&i| {
            let s = &inner.events[i];
            AppendedEvent {
                event_id: s.event_id,
                stream_version: s.stream_version,
                cursor: s.cursor(),
            }
        })
    };
    let current = inner.streams.get(stream).map(|v| v.len() as u64);
    let duplicates = events
        .iter()
        .filter(|e| inner.by_id.contains_key(&e.event_id))
        .count();
    if duplicates == events.len() {
        // A retried batch (or an empty one): nothing to write, report where it is.
        return Ok(AppendResult {
            stream_id: stream.to_string(),
            events: events.iter().filter_map(|e| stored_of(inner, e)).collect(),
            stream_version: current.unwrap_or(0),
            duplicates,
        });
    }
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => current.is_none(),
        ExpectedVersion::Exact(v) => current == Some(v),
    };
    if !ok {
        return Err(StoreError::Conflict {
            stream: stream.to_string(),
            expected,
            actual: current,
        });
    }
    inner.last_tx += 1;
    let tx_id = inner.last_tx;
    let recorded_at = Timestamp::now();
    let mut version = current.unwrap_or(0);
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        if let Some(done) = stored_of(inner, &e) {
            out.push(done);
            continue;
        }
        version += 1;
        let cursor = Cursor {
            tx_id,
            position: inner.events.len() as i64 + 1,
        };
        out.push(AppendedEvent {
            event_id: e.event_id,
            stream_version: version,
            cursor,
        });
        let index = inner.events.len();
        inner.by_id.insert(e.event_id, index);
        inner
            .streams
            .entry(stream.to_string())
            .or_default()
            .push(index);
        inner.events.push(StoredEvent::from_new(
            e,
            stream,
            version,
            cursor,
            recorded_at,
        ));
    }
    Ok(AppendResult {
        stream_id: stream.to_string(),
        events: out,
        stream_version: version,
        duplicates,
    })
}

impl EventStore for MemoryEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        append_locked(&mut self.lock(), stream, expected, events)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.lock();
        let Some(indexes) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = from_version.saturating_sub(1) as usize;
        Ok(indexes
            .iter()
            .skip(skip)
            .take(limit)
            .map(|&i| inner.events[i].clone())
            .collect())
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().streams.get(stream).map(|v| v.len() as u64))
    }

    async fn read(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.lock();
        let start = inner.events.partition_point(|e| e.cursor() <= after);
        Ok(inner.events[start..]
            .iter()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn count(&self, filter: &EventFilter, after: Cursor) -> Result<u64, StoreError> {
        let inner = self.lock();
        let start = inner.events.partition_point(|e| e.cursor() <= after);
        Ok(inner.events[start..]
            .iter()
            .filter(|e| filter.matches(e))
            .count() as u64)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let list = inner
            .snapshots
            .entry(snapshot.stream_id.clone())
            .or_default();
        list.retain(|s| s.version != snapshot.version);
        list.push(snapshot);
        list.sort_by_key(|s| s.version);
        Ok(())
    }

    async fn latest_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self
            .lock()
            .snapshots
            .get(stream)
            .and_then(|l| l.last().cloned()))
    }

    async fn prune_snapshots(&self, stream: &str, keep: usize) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let Some(list) = inner.snapshots.get_mut(stream) else {
            return Ok(0);
        };
        let remove = list.len().saturating_sub(keep);
        list.drain(..remove);
        Ok(remove as u64)
    }

    async fn checkpoint(&self, subscription: &str) -> Result<Option<Cursor>, StoreError> {
        Ok(self.lock().checkpoints.get(subscription).copied())
    }

    async fn save_checkpoint(&self, subscription: &str, cursor: Cursor) -> Result<(), StoreError> {
        self.lock()
            .checkpoints
            .insert(subscription.to_string(), cursor);
        Ok(())
    }

    async fn delete_checkpoint(&self, subscription: &str) -> Result<(), StoreError> {
        self.lock().checkpoints.remove(subscription);
        Ok(())
    }

    async fn park(&self, parked: ParkedEvent) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner
            .parked
            .retain(|p| !(p.relay == parked.relay && p.event_id == parked.event_id));
        inner.parked.push(parked);
        inner.parked.sort_by_key(|p| p.cursor);
        Ok(())
    }

    async fn parked(&self, relay: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        Ok(self
            .lock()
            .parked
            .iter()
            .filter(|p| p.relay == relay)
            .cloned()
            .collect())
    }

    async fn unpark(&self, relay: &str, event_id: carebus_core::Uuid) -> Result<(), StoreError> {
        self.lock()
            .parked
            .retain(|p| !(p.relay == relay && p.event_id == event_id));
        Ok(())
    }
}
