//! The transactional outbox relay: events appended to the store (the log is the outbox: an event and its state change commit together) onto their Kafka topics, keyed by aggregate id, in safe-cursor order, at least once, resuming from its checkpoint.
//!
//! The relay reads with the store's safe `(tx_id, global_position)` cursor, so an event that
//! commits late is never skipped. It sends one record at a time and waits for the
//! acknowledgement (the Kafka transport's producer is idempotent with `acks=all`), so records
//! of one stream reach their partition in stream order. When the transport fails (broker
//! down) it retries the same record with backoff until it is acknowledged, then moves on;
//! the checkpoint is saved after each batch, so after a crash or a stop the unacknowledged
//! tail of a batch is sent again: consumers deduplicate by event id (the `ce_id` header).

use super::EventStore;
use super::error::StoreError;
use super::event::Cursor;
use super::filter::EventFilter;
use carebus_core::transport::Transport;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Counter (label `relay`): records acknowledged.
pub const RELAYED_COUNTER: &str = "carebus_store_outbox_relayed_total";
/// Counter (label `relay`): failed send attempts (each retried).
pub const RETRIES_COUNTER: &str = "carebus_store_outbox_retries_total";

/// What a relay run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Records acknowledged by the transport.
    pub relayed: u64,
    /// Failed send attempts that were retried.
    pub retries: u64,
    /// The checkpoint after the run.
    pub cursor: Cursor,
}

/// Relays a store's events to a transport. Runs one at a time per name (the name is the
/// checkpoint key).
pub struct OutboxRelay<S, T> {
    store: S,
    transport: Arc<T>,
    name: String,
    filter: EventFilter,
    batch: usize,
    poll: Duration,
    max_backoff: Duration,
}

impl<S: EventStore, T: Transport> OutboxRelay<S, T> {
    /// A relay named `name`: batches of 100, polling every 50 ms, backoff up to 2 s.
    pub fn new(store: S, transport: Arc<T>, name: impl Into<String>) -> Self {
        OutboxRelay {
            store,
            transport,
            name: name.into(),
            filter: EventFilter::default(),
            batch: 100,
            poll: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
    /// Relay only the events matching `filter` (e.g. one aggregate type).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = filter;
        self
    }
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Relay until `stop` resolves (checked between sends and while waiting).
    pub async fn run(
        &self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<RelayStats, StoreError> {
        self.run_inner(Some(stop)).await
    }

    /// Relay every event committed so far (waiting for transactions still in flight), then
    /// return.
    pub async fn run_until_idle(&self) -> Result<RelayStats, StoreError> {
        self.run_inner(None::<std::future::Pending<()>>).await
    }

    async fn run_inner<F: Future<Output = ()> + Send>(
        &self,
        stop: Option<F>,
    ) -> Result<RelayStats, StoreError> {
        let live = stop.is_some();
        let stop = stop.map(Box::pin);
        let mut stop = stop;
        let mut stopped = || -> bool {
            match stop.as_mut() {
                Some(s) => futures::FutureExt::now_or_never(s.as_mut()).is_some(),
                None => false,
            }
        };
        let mut stats = RelayStats {
            cursor: self
                .store
                .checkpoint(&self.name)
                .await?
                .unwrap_or(Cursor::START),
            ..RelayStats::default()
        };
        let relayed = metrics::counter!(RELAYED_COUNTER, "relay" => self.name.clone());
        let retries = metrics::counter!(RETRIES_COUNTER, "relay" => self.name.clone());
        loop {
            if stopped() {
                return Ok(stats);
            }
            let batch = self
                .store
                .read(&self.filter, stats.cursor, self.batch)
                .await?;
            let mut sent_to = None;
            for event in &batch {
                let mut backoff = Duration::from_millis(50);
                loop {
                    match self.transport.send(event.to_record()).await {
                        Ok(_) => break,
                        Err(e) => {
                            stats.retries += 1;
                            retries.increment(1);
                            tracing::warn!(
                                relay = %self.name,
                                position = event.global_position,
                                error = %e,
                                "outbox relay send failed; retrying"
                            );
                            if stopped() {
                                if let Some(c) = sent_to {
                                    self.store.save_checkpoint(&self.name, c).await?;
                                    stats.cursor = c;
                                }
                                return Ok(stats);
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(self.max_backoff);
                        }
                    }
                }
                stats.relayed += 1;
                relayed.increment(1);
                sent_to = Some(event.cursor());
            }
            if let Some(c) = sent_to {
                self.store.save_checkpoint(&self.name, c).await?;
                stats.cursor = c;
            }
            if batch.len() == self.batch {
                continue;
            }
            if !live && self.store.count(&self.filter, stats.cursor).await? == 0 {
                return Ok(stats);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
