//! The transactional outbox relay: events appended to the store (the log is the outbox: an event and its state change commit together) onto their Kafka topics, keyed by aggregate id, in safe-cursor order, at least once, resuming from its checkpoint.
//!
//! The relay reads with the store's safe `(tx_id, global_position)` cursor, so an event that
//! commits late is never skipped. It sends one record at a time and waits for the
//! acknowledgement (the Kafka transport's producer is idempotent with `acks=all`), so records
//! of one stream reach their partition in stream order. When the transport fails for a while
//! (broker down, a timeout) it retries the same record with backoff until it is acknowledged,
//! then moves on. When the transport refuses a record for good (too large, unknown topic, not
//! authorised) the relay *parks* it ([`EventStore::park`]: the event stays in the store, the
//! parked row says why), counts it, logs it without event data, and goes on with the next:
//! one bad event never holds back the ones behind it. [`OutboxRelay::retry_parked`] sends the
//! parked events again once the cause is fixed. The checkpoint is saved after each batch, so
//! after a crash or a stop the unacknowledged tail of a batch is sent again: consumers
//! deduplicate by event id (the `ce_id` header).

use super::EventStore;
use super::error::StoreError;
use super::event::{Cursor, ParkedEvent, StoredEvent};
use super::filter::EventFilter;
use carebus_core::transport::Transport;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Counter (label `relay`): records acknowledged.
pub const RELAYED_COUNTER: &str = "carebus_store_outbox_relayed_total";
/// Counter (label `relay`): failed send attempts (each retried).
pub const RETRIES_COUNTER: &str = "carebus_store_outbox_retries_total";
/// Counter (label `relay`): events parked because the transport refused them for good.
pub const PARKED_COUNTER: &str = "carebus_store_outbox_parked_total";

/// What a relay run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Records acknowledged by the transport.
    pub relayed: u64,
    /// Failed send attempts that were retried.
    pub retries: u64,
    /// Events parked (refused for good by the transport).
    pub parked: u64,
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
    idle_deadline: Duration,
}

/// How one send ended.
enum Sent {
    Delivered,
    Parked,
    /// A stop was asked for, or (when running until idle) the transport kept failing.
    GaveUp(Option<StoreError>),
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
            idle_deadline: Duration::from_secs(30),
        }
    }
    /// Relay only the events matching `filter` (e.g. one aggregate type).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = filter;
        self
    }
    /// Read at most `n` events per batch (default 100; at least 1); the checkpoint is saved after
    /// each.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// How long to wait before reading again once caught up (default 50 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }
    /// Longest wait between retries of a failed send (default 2 s; the first wait is 50 ms, then
    /// doubles).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
    /// How long [`run_until_idle`](Self::run_until_idle) retries one event the transport keeps
    /// failing (retriably) before it returns an error (default 30 s); nothing is lost, the
    /// checkpoint stays before the event.
    pub fn idle_deadline(mut self, d: Duration) -> Self {
        self.idle_deadline = d;
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
                match self.send(event, live, &mut stopped, &mut stats).await? {
                    Sent::Delivered | Sent::Parked => sent_to = Some(event.cursor()),
                    Sent::GaveUp(error) => {
                        if let Some(c) = sent_to {
                            self.store.save_checkpoint(&self.name, c).await?;
                            stats.cursor = c;
                        }
                        return match error {
                            Some(e) => Err(e),
                            None => Ok(stats),
                        };
                    }
                }
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

    /// Send one event until it is acknowledged (retriable failures back off), or park it when
    /// the transport refuses it for good.
    async fn send(
        &self,
        event: &StoredEvent,
        live: bool,
        stopped: &mut impl FnMut() -> bool,
        stats: &mut RelayStats,
    ) -> Result<Sent, StoreError> {
        let mut backoff = Duration::from_millis(50);
        let started = tokio::time::Instant::now();
        loop {
            let e = match self.transport.send(event.to_record()).await {
                Ok(_) => {
                    stats.relayed += 1;
                    metrics::counter!(RELAYED_COUNTER, "relay" => self.name.clone()).increment(1);
                    return Ok(Sent::Delivered);
                }
                Err(e) => e,
            };
            if !e.is_retriable() {
                self.park(event, &e).await?;
                stats.parked += 1;
                return Ok(Sent::Parked);
            }
            stats.retries += 1;
            metrics::counter!(RETRIES_COUNTER, "relay" => self.name.clone()).increment(1);
            tracing::warn!(
                relay = %self.name,
                position = event.global_position,
                error = %e,
                "outbox relay send failed; retrying"
            );
            if stopped() {
                return Ok(Sent::GaveUp(None));
            }
            if !live && started.elapsed() >= self.idle_deadline {
                return Ok(Sent::GaveUp(Some(StoreError::Backend {
                    operation: "relay the outbox",
                    message: format!(
                        "event at position {} was not acknowledged within {:?}; it stays in the \
                         store and is sent on the next run",
                        event.global_position, self.idle_deadline
                    ),
                    retriable: true,
                    source: Some(Box::new(e)),
                })));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// Set `event` aside: refused for good by the transport with `error`.
    async fn park(
        &self,
        event: &StoredEvent,
        error: &carebus_core::transport::TransportError,
    ) -> Result<(), StoreError> {
        metrics::counter!(PARKED_COUNTER, "relay" => self.name.clone()).increment(1);
        tracing::error!(
            relay = %self.name,
            position = event.global_position,
            event_id = %event.event_id,
            event_type = %event.event_type,
            topic = %event.topic,
            error = %error,
            "outbox relay: the transport refused the event for good; parked, going on with the next"
        );
        self.store
            .park(ParkedEvent {
                relay: self.name.clone(),
                event_id: event.event_id,
                cursor: event.cursor(),
                event_type: event.event_type.clone(),
                topic: event.topic.clone(),
                reason: error.to_string(),
                parked_at: carebus_core::Timestamp::now(),
            })
            .await
    }

    /// Send this relay's parked events again, in store order, once the cause is fixed (the
    /// topic created, the size limit raised). A delivered event is unparked; one refused again
    /// stays parked with the new reason. Stops at the first retriable failure. Returns how many
    /// were delivered.
    pub async fn retry_parked(&self) -> Result<u64, StoreError> {
        let mut delivered = 0;
        for parked in self.store.parked(&self.name).await? {
            // The event is the first one strictly after the cursor just before it.
            let before = Cursor {
                tx_id: parked.cursor.tx_id,
                position: parked.cursor.position - 1,
            };
            let found = self.store.read(&EventFilter::default(), before, 1).await?;
            let Some(event) = found.into_iter().find(|e| e.event_id == parked.event_id) else {
                tracing::warn!(relay = %self.name, event_id = %parked.event_id, "a parked event is no longer in the store (archived?); left parked");
                continue;
            };
            match self.transport.send(event.to_record()).await {
                Ok(_) => {
                    self.store.unpark(&self.name, parked.event_id).await?;
                    delivered += 1;
                }
                Err(e) if e.is_retriable() => {
                    return Err(StoreError::Backend {
                        operation: "retry parked events",
                        message: format!("{e}"),
                        retriable: true,
                        source: Some(Box::new(e)),
                    });
                }
                Err(e) => self.park(&event, &e).await?,
            }
        }
        Ok(delivered)
    }
}
