//! Catch-up subscriptions and replays: stored events after a checkpoint into an [`EventSink`] (handler, projection, transport) in safe-cursor order, then live; with progress, stall metrics and resumable checkpoints.

use super::EventStore;
use super::error::StoreError;
use super::event::{Cursor, StoredEvent};
use super::filter::EventFilter;
use carebus_core::transport::Transport;
use std::future::Future;
use std::time::{Duration, Instant};

/// Gauge (label `subscription`): 1 while the subscription makes no progress although events
/// are pending, else 0.
pub const STALLED_GAUGE: &str = "carebus_store_subscription_stalled";
/// Counter (label `subscription`): times a subscription was found stalled.
pub const STALLS_COUNTER: &str = "carebus_store_subscription_stalls_total";
/// Counter (label `subscription`): events processed.
pub const EVENTS_COUNTER: &str = "carebus_store_subscription_events_total";
/// Gauge (label `subscription`): committed events not yet processed, measured when idle.
pub const PENDING_GAUGE: &str = "carebus_store_subscription_pending";

/// Where a subscription's events go. `apply_batch` must make the events' effects and the
/// checkpoint durable together (one transaction where the backend allows it): after a crash
/// the subscription resumes at the last checkpoint, so a batch is never half-applied.
pub trait EventSink: Send {
    /// The subscription's name: its checkpoint key and metric label.
    fn name(&self) -> &str;
    /// The stored checkpoint to resume after; `None` = from the beginning.
    fn load_checkpoint(
        &mut self,
    ) -> impl Future<Output = Result<Option<Cursor>, StoreError>> + Send;
    /// Process `events` (in order) and record `checkpoint` (the cursor of the last one).
    fn apply_batch(
        &mut self,
        events: &[StoredEvent],
        checkpoint: Cursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A replay's or subscription's progress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Events processed by this run.
    pub done: u64,
    /// Events matching the filter still to process (committed ones, as last counted).
    pub remaining: u64,
    /// `done` per second of this run.
    pub events_per_sec: f64,
    /// Time since this run started.
    pub elapsed: Duration,
    /// The checkpoint after the last batch.
    pub cursor: Cursor,
    /// Times this run was found stalled (no progress for `stall_after` while events were
    /// pending); each is also a [`STALLS_COUNTER`] increment and a `tracing` warning.
    pub stalls: u64,
}

/// Reads a store after a checkpoint in batches and feeds a sink.
#[derive(Clone, Debug)]
pub struct CatchUp<S> {
    store: S,
    filter: EventFilter,
    batch: usize,
    poll: Duration,
    stall_after: Duration,
}

impl<S: EventStore> CatchUp<S> {
    /// Every event, batches of 500, polling every 100 ms, stalled after 30 s without progress.
    pub fn new(store: S) -> Self {
        CatchUp {
            store,
            filter: EventFilter::default(),
            batch: 500,
            poll: Duration::from_millis(100),
            stall_after: Duration::from_secs(30),
        }
    }
    /// Only events matching `filter` (a selective replay).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = filter;
        self
    }
    /// Read and apply at most `n` events at a time (default 500; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// How long to wait before reading again once caught up (default 100 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }
    /// How long without progress while events are pending counts as stalled.
    pub fn stall_after(mut self, d: Duration) -> Self {
        self.stall_after = d;
        self
    }

    /// Replay: process every matching event committed so far (waiting for transactions still
    /// in flight), then return. Resumes from the sink's checkpoint; `on_progress` is called
    /// after each batch.
    pub async fn run_to_end<K: EventSink>(
        &self,
        sink: &mut K,
        on_progress: impl FnMut(&Progress) + Send,
    ) -> Result<Progress, StoreError> {
        self.run(sink, on_progress, None::<std::future::Pending<()>>)
            .await
    }

    /// Subscription: catch up, then keep processing new events until `stop` resolves.
    pub async fn run_live<K: EventSink>(
        &self,
        sink: &mut K,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<Progress, StoreError> {
        self.run(sink, |_| {}, Some(stop)).await
    }

    async fn run<K: EventSink, F: Future<Output = ()> + Send>(
        &self,
        sink: &mut K,
        mut on_progress: impl FnMut(&Progress) + Send,
        stop: Option<F>,
    ) -> Result<Progress, StoreError> {
        let name = sink.name().to_string();
        let live = stop.is_some();
        let mut stop = stop.map(Box::pin);
        let started = Instant::now();
        let mut cursor = sink.load_checkpoint().await?.unwrap_or(Cursor::START);
        let mut remaining = self.store.count(&self.filter, cursor).await?;
        let mut progress = Progress {
            done: 0,
            remaining,
            events_per_sec: 0.0,
            elapsed: Duration::ZERO,
            cursor,
            stalls: 0,
        };
        let mut last_progress = Instant::now();
        let mut stalled = false;
        let events_counter = metrics::counter!(EVENTS_COUNTER, "subscription" => name.clone());
        loop {
            let batch = self.store.read(&self.filter, cursor, self.batch).await?;
            if let Some(last) = batch.last() {
                let next = last.cursor();
                sink.apply_batch(&batch, next).await?;
                cursor = next;
                let n = batch.len() as u64;
                events_counter.increment(n);
                remaining = remaining.saturating_sub(n);
                last_progress = Instant::now();
                if stalled {
                    stalled = false;
                    metrics::gauge!(STALLED_GAUGE, "subscription" => name.clone()).set(0.0);
                    tracing::info!(subscription = %name, cursor = %cursor, "subscription moves again");
                }
                progress.done += n;
                progress.cursor = cursor;
                progress.remaining = remaining;
                progress.elapsed = started.elapsed();
                progress.events_per_sec =
                    progress.done as f64 / progress.elapsed.as_secs_f64().max(1e-9);
                on_progress(&progress);
                if batch.len() == self.batch {
                    continue;
                }
            }
            // Caught up with what the safe cursor shows: is anything still pending?
            remaining = self.store.count(&self.filter, cursor).await?;
            progress.remaining = remaining;
            metrics::gauge!(PENDING_GAUGE, "subscription" => name.clone()).set(remaining as f64);
            if remaining == 0 {
                last_progress = Instant::now();
                if !live {
                    progress.elapsed = started.elapsed();
                    return Ok(progress);
                }
            } else if !stalled && last_progress.elapsed() >= self.stall_after {
                stalled = true;
                progress.stalls += 1;
                metrics::gauge!(STALLED_GAUGE, "subscription" => name.clone()).set(1.0);
                metrics::counter!(STALLS_COUNTER, "subscription" => name.clone()).increment(1);
                tracing::warn!(
                    subscription = %name,
                    cursor = %cursor,
                    pending = remaining,
                    stalled_for_ms = last_progress.elapsed().as_millis() as u64,
                    "subscription stalled: events are committed but the safe cursor cannot pass \
                     them; a transaction open since before them (anywhere in the cluster) holds \
                     it back: look for old xact_start in pg_stat_activity"
                );
            }
            match stop.as_mut() {
                Some(stop) => {
                    tokio::select! {
                        _ = stop.as_mut() => {
                            progress.elapsed = started.elapsed();
                            return Ok(progress);
                        }
                        _ = tokio::time::sleep(self.poll) => {}
                    }
                }
                None => tokio::time::sleep(self.poll).await,
            }
        }
    }
}

/// A sink calling a handler per event, then saving the checkpoint in the store (after the
/// batch: at-least-once if the process dies between the two; use a PostgreSQL projection for
/// exactly-once effects in the database).
pub struct HandlerSink<S, H> {
    store: S,
    name: String,
    handler: H,
}

impl<S, H> HandlerSink<S, H>
where
    S: EventStore,
    H: FnMut(&StoredEvent) -> Result<(), StoreError> + Send,
{
    /// A sink named `name` (its checkpoint key in `store`) calling `handler` for each event.
    pub fn new(store: S, name: impl Into<String>, handler: H) -> Self {
        HandlerSink {
            store,
            name: name.into(),
            handler,
        }
    }
}

impl<S, H> EventSink for HandlerSink<S, H>
where
    S: EventStore,
    H: FnMut(&StoredEvent) -> Result<(), StoreError> + Send,
{
    fn name(&self) -> &str {
        &self.name
    }
    async fn load_checkpoint(&mut self) -> Result<Option<Cursor>, StoreError> {
        self.store.checkpoint(&self.name).await
    }
    async fn apply_batch(
        &mut self,
        events: &[StoredEvent],
        checkpoint: Cursor,
    ) -> Result<(), StoreError> {
        for e in events {
            (self.handler)(e)?;
        }
        self.store.save_checkpoint(&self.name, checkpoint).await
    }
}

/// A sink publishing each event back onto its Kafka topic (or the bus) as it was published:
/// binary-mode CloudEvents headers, keyed by aggregate id. The checkpoint is saved after the
/// whole batch is acknowledged (at-least-once; consumers deduplicate by event id).
pub struct TransportSink<S, T> {
    store: S,
    name: String,
    transport: std::sync::Arc<T>,
}

impl<S: EventStore, T: Transport> TransportSink<S, T> {
    /// A sink named `name` (its checkpoint key in `store`) sending each event through `transport`.
    pub fn new(store: S, name: impl Into<String>, transport: std::sync::Arc<T>) -> Self {
        TransportSink {
            store,
            name: name.into(),
            transport,
        }
    }
}

impl<S: EventStore, T: Transport> EventSink for TransportSink<S, T> {
    fn name(&self) -> &str {
        &self.name
    }
    async fn load_checkpoint(&mut self) -> Result<Option<Cursor>, StoreError> {
        self.store.checkpoint(&self.name).await
    }
    async fn apply_batch(
        &mut self,
        events: &[StoredEvent],
        checkpoint: Cursor,
    ) -> Result<(), StoreError> {
        // One at a time: keeps per-stream order whatever the transport's batching does.
        for e in events {
            self.transport
                .send(e.to_record())
                .await
                .map_err(|err| StoreError::projection(&self.name, err))?;
        }
        self.store.save_checkpoint(&self.name, checkpoint).await
    }
}
