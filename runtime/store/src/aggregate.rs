//! Aggregates from streams: an [`Aggregate`] folds its topic's generated events into state; a [`Repository`] loads it (latest snapshot + the events after it), runs commands, appends with the expected version and snapshots by policy.

use super::EventStore;
use super::error::StoreError;
use super::event::{AppendResult, EventContext, ExpectedVersion, NewEvent, Snapshot, stream_name};
use super::upcast::{Upcasters, decode_stored};
use carebus_core::topic::TopicEvents;
use carebus_core::types::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// State rebuilt from one stream of events.
///
/// `STATE_VERSION` is the version of the state's *shape* (its serde form): bump it when the
/// struct changes, and snapshots of older shapes are ignored and rebuilt from the events.
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The topic's event enum (every version); `apply` sees current versions only when the
    /// repository's [`Upcasters`] lift the old ones.
    type Event: TopicEvents;
    /// Aggregate type, the stream category (`Patient`).
    const AGGREGATE_TYPE: &'static str;
    /// Version of the state's serialized shape.
    const STATE_VERSION: u32;

    /// Fold one event into the state. Must not fail: events are facts.
    fn apply(&mut self, event: &Self::Event);

    /// The stream holding the aggregate `id`.
    fn stream_id(id: &str) -> String {
        stream_name(Self::AGGREGATE_TYPE, id)
    }
}

/// When the repository writes snapshots, and how many it keeps per stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Snapshot whenever the stream version crosses a multiple of this; `None` = only on
    /// demand ([`Repository::snapshot`]).
    pub every: Option<u64>,
    /// Snapshots kept per stream (older ones are deleted after each write); at least 1.
    pub keep: usize,
}

impl SnapshotPolicy {
    /// Only on demand.
    pub fn on_demand() -> Self {
        SnapshotPolicy {
            every: None,
            keep: 2,
        }
    }
    /// Every `n` events (n ≥ 1).
    pub fn every(n: u64) -> Self {
        SnapshotPolicy {
            every: Some(n.max(1)),
            keep: 2,
        }
    }
    /// Keep the newest `k` snapshots (k ≥ 1).
    pub fn keep(mut self, k: usize) -> Self {
        self.keep = k.max(1);
        self
    }
}

/// An aggregate as loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded<A> {
    /// The aggregate's stream (`Patient-123`).
    pub stream_id: String,
    /// The state folded from the snapshot and the events after it.
    pub state: A,
    /// The stream version the state includes (0 = no events).
    pub version: u64,
    /// The snapshot version the load started from, if one was used.
    pub from_snapshot: Option<u64>,
    /// Tenant of the newest event read.
    pub tenant_id: Option<String>,
}

/// A command was refused, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError<E> {
    /// The command refused to run on the loaded state; nothing was appended.
    #[error("command refused: {0}")]
    Command(E),
    /// Loading, appending or snapshotting failed (a [`StoreError::Conflict`] when another writer
    /// appended first).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads and saves aggregates of type `A` in a store.
#[derive(Clone, Debug)]
pub struct Repository<S, A> {
    store: S,
    upcasters: Upcasters,
    policy: SnapshotPolicy,
    page: usize,
    _aggregate: std::marker::PhantomData<fn() -> A>,
}

impl<S: EventStore, A: Aggregate> Repository<S, A> {
    /// A repository without automatic snapshots.
    pub fn new(store: S, upcasters: Upcasters) -> Self {
        Repository {
            store,
            upcasters,
            policy: SnapshotPolicy::on_demand(),
            page: 1000,
            _aggregate: std::marker::PhantomData,
        }
    }

    /// Snapshot by `policy`.
    pub fn with_snapshots(mut self, policy: SnapshotPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store the repository reads and appends to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Latest usable snapshot + the events after it. A snapshot of another shape version (or
    /// that no longer deserializes) is ignored, and a fresh one is written after the replay.
    pub async fn load(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let stream = A::stream_id(id);
        let mut stale = false;
        let start = match self.store.latest_snapshot(&stream).await? {
            Some(s) if s.state_version == A::STATE_VERSION => {
                match serde_json::from_value::<A>(s.data) {
                    Ok(state) => Some((state, s.version, s.tenant_id)),
                    Err(e) => {
                        // Only the error's category and position: serde's message may quote
                        // a value of the state, which can be PHI.
                        tracing::warn!(stream = %stream, version = s.version,
                            category = ?e.classify(), line = e.line(), column = e.column(),
                            "snapshot no longer deserializes; rebuilding from events");
                        stale = true;
                        None
                    }
                }
            }
            Some(s) => {
                tracing::info!(stream = %stream, snapshot_shape = s.state_version,
                    current_shape = A::STATE_VERSION, "snapshot of an older shape ignored; rebuilding");
                stale = true;
                None
            }
            None => None,
        };
        let from_snapshot = start.as_ref().map(|s| s.1);
        let (state, version, tenant_id) = start.unwrap_or_default();
        let mut loaded = Loaded {
            stream_id: stream,
            state,
            version,
            from_snapshot,
            tenant_id,
        };
        self.fold_tail(&mut loaded).await?;
        if stale && loaded.version > 0 {
            self.write_snapshot(&loaded).await?;
        }
        Ok(loaded)
    }

    /// Every event from the start, ignoring snapshots (for checks and rebuilds).
    pub async fn load_from_events(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let mut loaded = Loaded {
            stream_id: A::stream_id(id),
            state: A::default(),
            version: 0,
            from_snapshot: None,
            tenant_id: None,
        };
        self.fold_tail(&mut loaded).await?;
        Ok(loaded)
    }

    async fn fold_tail(&self, loaded: &mut Loaded<A>) -> Result<(), StoreError> {
        loop {
            let page = self
                .store
                .read_stream(&loaded.stream_id, loaded.version + 1, self.page)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            loaded.version = last.stream_version;
            loaded.tenant_id = last.context.tenant_id.clone();
            for stored in &page {
                let event: A::Event = decode_stored(stored, &self.upcasters)?;
                loaded.state.apply(&event);
            }
            if page.len() < self.page {
                return Ok(());
            }
        }
    }

    /// Load, run `command` on the state, append what it returns at the loaded version, apply
    /// it, and snapshot if the policy says so. A concurrent writer makes this
    /// [`StoreError::Conflict`]: call again to retry on fresh state.
    pub async fn execute<E>(
        &self,
        id: &str,
        context: &EventContext,
        command: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<(Loaded<A>, AppendResult), RepositoryError<E>> {
        let mut loaded = self.load(id).await?;
        let events = command(&loaded.state).map_err(RepositoryError::Command)?;
        let new: Vec<NewEvent> = events
            .iter()
            .map(|e| NewEvent::from_topic_event(e, context))
            .collect();
        let expected = ExpectedVersion::Exact(loaded.version);
        let result = self.store.append(&loaded.stream_id, expected, new).await?;
        for event in &events {
            loaded.state.apply(event);
        }
        let before = loaded.version;
        loaded.version = result.stream_version;
        if context.tenant_id.is_some() {
            loaded.tenant_id = context.tenant_id.clone();
        }
        if let Some(n) = self.policy.every
            && before / n != loaded.version / n
            && let Err(e) = self.write_snapshot(&loaded).await
        {
            // The events are appended: a snapshot is only a shortcut for later loads, so its
            // failure must not make the command look failed (a retry would append again).
            tracing::warn!(stream = %loaded.stream_id, version = loaded.version, error = %e,
                "snapshot after the append failed; later loads replay the events");
        }
        Ok((loaded, result))
    }

    /// Snapshot the aggregate now (on demand); returns the stream version it covers.
    pub async fn snapshot(&self, id: &str) -> Result<u64, StoreError> {
        let loaded = self.load(id).await?;
        if loaded.version > 0 {
            self.write_snapshot(&loaded).await?;
        }
        Ok(loaded.version)
    }

    async fn write_snapshot(&self, loaded: &Loaded<A>) -> Result<(), StoreError> {
        let data = serde_json::to_value(&loaded.state).map_err(|e| StoreError::Snapshot {
            stream: loaded.stream_id.clone(),
            reason: format!("state does not serialize: {e}"),
        })?;
        self.store
            .save_snapshot(Snapshot {
                stream_id: loaded.stream_id.clone(),
                version: loaded.version,
                state_version: A::STATE_VERSION,
                aggregate_type: A::AGGREGATE_TYPE.to_string(),
                tenant_id: loaded.tenant_id.clone(),
                data,
                created_at: Timestamp::now(),
            })
            .await?;
        self.store
            .prune_snapshots(&loaded.stream_id, self.policy.keep.max(1))
            .await?;
        Ok(())
    }
}
