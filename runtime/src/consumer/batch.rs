//! Batch and stream modes: records of a consumer group turned into batches handed to one function call, or into a `Stream` of decoded events.
//!
//! Both decode like the record-at-a-time consumer (poison pills go to `<topic>.dlq`). A batch is
//! retried in place as a whole; when it keeps failing every record of it is dead-lettered (or,
//! with dead letters off, the consumer stops without committing it). In stream mode an item
//! counts as processed only when it is acknowledged ([`StreamItem::ack`]); the offset of a
//! partition moves past an item only once it and every item before it are acknowledged, so
//! buffering, reordering or concurrent stream combinators never commit an event that was not
//! processed (at-least-once).

use super::offsets::OffsetTracker;
use super::process::{Outcome, Processor, context};
use super::{Consumer, ConsumerError, RunReport, Shutdown};
use crate::handler::{HandlerContext, HandlerErrorKind, HandlerResult};
use crate::topic::{TopicEvents, TopicHandler};
use crate::transport::{
    ConsumerEvent, ReceivedRecord, TopicPartition, Transport, TransportConsumer,
};
use futures::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// A handler that is never called: lets batch and stream mode reuse the record processor's
/// decoding and dead-lettering.
struct Decoder<E>(PhantomData<fn() -> E>);

impl<E: TopicEvents> TopicHandler for Decoder<E> {
    type Events = E;
    async fn handle(&self, _ctx: &HandlerContext, _event: E) -> HandlerResult {
        Ok(())
    }
}

impl<T: Transport> Consumer<T> {
    fn decoder<E: TopicEvents>(&self) -> Arc<Processor<T, Decoder<E>>> {
        Arc::new(Processor {
            publisher: self.publisher.clone(),
            handler: Decoder(PhantomData),
            config: self.config.clone(),
            dedupe: self.dedupe.clone(),
            claim_check: self.claim_check.clone(),
            metrics: Default::default(),
        })
    }

    /// Hand up to `max_batch` events at a time to `handler` (waiting at most `linger` for a
    /// batch to fill) until `shutdown` fires.
    pub async fn run_batch<E, F, Fut>(
        &self,
        max_batch: usize,
        linger: Duration,
        handler: F,
        mut shutdown: Shutdown,
    ) -> Result<RunReport, ConsumerError>
    where
        E: TopicEvents,
        F: Fn(Vec<(HandlerContext, E)>) -> Fut,
        Fut: Future<Output = HandlerResult>,
    {
        let processor = self.decoder::<E>();
        let consumer = self
            .publisher
            .transport()
            .subscribe(self.config.subscription(E::TOPIC))
            .await?;
        let mut report = RunReport::default();
        let result = loop {
            if shutdown.is_triggered() {
                break Ok(());
            }
            let mut records: Vec<ReceivedRecord> = Vec::new();
            let deadline = tokio::time::Instant::now() + linger;
            while records.len() < max_batch.max(1) {
                let left = if records.is_empty() {
                    self.config.poll_timeout
                } else {
                    deadline.saturating_duration_since(tokio::time::Instant::now())
                };
                if !records.is_empty() && left.is_zero() {
                    break;
                }
                let polled = tokio::select! {
                    p = consumer.poll(left) => p,
                    _ = shutdown.wait() => break,
                };
                match polled {
                    Ok(Some(ConsumerEvent::Record(r))) => records.push(r),
                    Ok(Some(_)) => {}
                    Ok(None) if records.is_empty() => {}
                    Ok(None) => break,
                    Err(e) if e.is_retriable() => tokio::time::sleep(left).await,
                    Err(e) => return Err(e.into()),
                }
            }
            if records.is_empty() {
                continue;
            }
            let count = records.len() as u64;
            match self
                .handle_batch(&processor, records, &handler, &shutdown)
                .await
            {
                Ok(Some(ends)) => {
                    report.finished += count;
                    for (tp, next) in ends {
                        let _ = consumer.store_offset(&tp, next);
                    }
                    if let Err(e) = consumer.commit().await {
                        tracing::warn!(error = %e, "commit failed; will retry");
                    }
                }
                Ok(None) => break Ok(()), // interrupted by shutdown: not committed
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = consumer.close().await {
            tracing::warn!(error = %e, "leaving the consumer group failed");
        }
        result.map(|()| report)
    }

    /// Handle one batch; returns the next offset per partition when it is finished.
    async fn handle_batch<E, F, Fut>(
        &self,
        processor: &Processor<T, Decoder<E>>,
        records: Vec<ReceivedRecord>,
        handler: &F,
        shutdown: &Shutdown,
    ) -> Result<Option<HashMap<TopicPartition, i64>>, ConsumerError>
    where
        E: TopicEvents,
        F: Fn(Vec<(HandlerContext, E)>) -> Fut,
        Fut: Future<Output = HandlerResult>,
    {
        let mut ends = HashMap::new();
        let mut items = Vec::new();
        let mut kept = Vec::new();
        for r in records {
            ends.insert(r.topic_partition(), r.offset + 1);
            match processor.decode(&r).await {
                Ok((env, event)) => {
                    items.push((context(&env, &r, 1), event));
                    kept.push(r);
                }
                Err(undecoded) => {
                    let topic = crate::dead_letter::original_topic(&r);
                    match processor.undecodable(&r, &topic, undecoded, shutdown).await {
                        Outcome::Done => {}
                        Outcome::Interrupted => return Ok(None),
                        Outcome::Failed(m) => return Err(ConsumerError::HandlerFailed(m)),
                    }
                }
            }
        }
        if items.is_empty() {
            return Ok(Some(ends));
        }
        let mut attempt = 1;
        let error = loop {
            for (ctx, _) in items.iter_mut() {
                ctx.attempt = attempt;
            }
            match handler(items.clone()).await {
                Ok(()) => {
                    metrics::counter!("carebus_consumed_total", "topic" => E::TOPIC)
                        .increment(items.len() as u64);
                    return Ok(Some(ends));
                }
                Err(e)
                    if e.kind == HandlerErrorKind::Retriable
                        && attempt < self.config.retry.attempts.max(1) =>
                {
                    let mut sd = shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.retry.backoff(attempt)) => {}
                        _ = sd.wait() => return Ok(None),
                    }
                    attempt += 1;
                }
                Err(e) => break e,
            }
        };
        for r in &kept {
            let topic = crate::dead_letter::original_topic(r);
            let outcome = processor
                .dead_letter(
                    r,
                    &topic,
                    "handler-failed",
                    &error.message,
                    attempt,
                    shutdown,
                )
                .await;
            match outcome {
                Outcome::Done => {}
                Outcome::Interrupted => return Ok(None),
                Outcome::Failed(m) => return Err(ConsumerError::HandlerFailed(m)),
            }
        }
        Ok(Some(ends))
    }

    /// The group's events as a `Stream`. Poison pills are dead-lettered (or skipped, for
    /// unknown event types) and committed past. Acknowledge each item once it is processed
    /// ([`StreamItem::ack`]): only acknowledged items are committed.
    pub async fn stream<E: TopicEvents>(&self) -> Result<EventStream<T, E>, ConsumerError> {
        let consumer = Arc::new(
            self.publisher
                .transport()
                .subscribe(self.config.subscription(E::TOPIC))
                .await?,
        );
        let processor = self.decoder::<E>();
        let (trigger, never) = Shutdown::channel();
        let offsets: Arc<Mutex<OffsetTracker>> = Arc::default();
        let acks = Acks {
            consumer: consumer.clone(),
            offsets: offsets.clone(),
        };
        let state = (consumer.clone(), processor, acks, never, trigger);
        let poll_timeout = self.config.poll_timeout;
        let inner = futures::stream::unfold(state, move |(c, p, acks, sd, trig)| async move {
            loop {
                match c.poll(poll_timeout).await {
                    Ok(Some(ConsumerEvent::Record(r))) => {
                        let tp = r.topic_partition();
                        match p.decode(&r).await {
                            Ok((env, event)) => {
                                acks.lock().start(&tp, r.offset);
                                let item = StreamItem {
                                    context: context(&env, &r, 1),
                                    event,
                                    ack: Ack {
                                        acks: acks.clone(),
                                        tp,
                                        offset: r.offset,
                                    },
                                };
                                return Some((Ok(item), (c, p, acks, sd, trig)));
                            }
                            Err(undecoded) => {
                                let topic = crate::dead_letter::original_topic(&r);
                                if let Outcome::Failed(m) =
                                    p.undecodable(&r, &topic, undecoded, &sd).await
                                {
                                    let err = ConsumerError::HandlerFailed(m);
                                    return Some((Err(err), (c, p, acks, sd, trig)));
                                }
                                // Dead-lettered (or skipped): finished, in its place.
                                let safe =
                                    acks.lock()
                                        .start_finished(&tp.topic, tp.partition, r.offset);
                                acks.store(&tp, safe);
                            }
                        }
                    }
                    Ok(Some(ConsumerEvent::Revoked(parts))) => acks.lock().revoke(&parts),
                    Ok(_) => {}
                    Err(e) if e.is_retriable() => tokio::time::sleep(poll_timeout).await,
                    Err(e) => return Some((Err(e.into()), (c, p, acks, sd, trig))),
                }
            }
        });
        Ok(EventStream {
            inner: Box::pin(inner),
            consumer,
            offsets,
        })
    }
}

/// The acknowledgement side of an [`EventStream`]: which items are processed, and the member
/// whose offsets it stores.
struct Acks<C> {
    consumer: Arc<C>,
    offsets: Arc<Mutex<OffsetTracker>>,
}

impl<C> Clone for Acks<C> {
    fn clone(&self) -> Self {
        Acks {
            consumer: self.consumer.clone(),
            offsets: self.offsets.clone(),
        }
    }
}

impl<C: TransportConsumer> Acks<C> {
    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetTracker> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store `safe` (the end of the partition's acknowledged prefix) when it moved.
    fn store(&self, tp: &TopicPartition, safe: Option<i64>) {
        if let Some(next) = safe
            && let Err(e) = self.consumer.store_offset(tp, next)
        {
            // A partition revoked meanwhile: its new owner reads the item again.
            tracing::debug!(%tp, error = %e, "stream: offset not stored");
        }
    }
}

/// The handle that marks one [`StreamItem`] processed.
struct Ack<C> {
    acks: Acks<C>,
    tp: TopicPartition,
    offset: i64,
}

/// One decoded event of an [`EventStream`]. Call [`ack`](StreamItem::ack) once it is
/// processed; an item never acknowledged is never committed, and the group delivers it again
/// after a restart or a rebalance.
pub struct StreamItem<T: Transport, E> {
    /// Envelope and delivery facts of the event (attempt is always 1 in stream mode).
    pub context: HandlerContext,
    /// The decoded event; may hold PHI in `Phi` fields.
    pub event: E,
    ack: Ack<T::Consumer>,
}

impl<T: Transport, E> StreamItem<T, E> {
    /// Mark the event processed: its offset (and the offsets of the items before it on its
    /// partition, once they are acknowledged too) will be committed.
    pub fn ack(&self) {
        let safe = self.ack.acks.lock().finish(&self.ack.tp, self.ack.offset);
        self.ack.acks.store(&self.ack.tp, safe);
    }

    /// The record's partition and offset.
    pub fn position(&self) -> (&TopicPartition, i64) {
        (&self.ack.tp, self.ack.offset)
    }
}

impl<T: Transport, E: std::fmt::Debug> std::fmt::Debug for StreamItem<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamItem")
            .field("context", &self.context)
            .field("event", &self.event)
            .field("partition", &self.ack.tp)
            .field("offset", &self.ack.offset)
            .finish()
    }
}

type ItemStream<T, E> = Pin<Box<dyn Stream<Item = Result<StreamItem<T, E>, ConsumerError>> + Send>>;

/// A consumer group's events as a `Stream`; call [`EventStream::close`] to commit what was
/// acknowledged and leave the group.
pub struct EventStream<T: Transport, E> {
    inner: ItemStream<T, E>,
    consumer: Arc<T::Consumer>,
    offsets: Arc<Mutex<OffsetTracker>>,
}

impl<T: Transport, E: TopicEvents> EventStream<T, E> {
    /// Commit what was acknowledged so far (each partition up to its first unacknowledged
    /// item).
    pub async fn commit(&self) -> Result<(), ConsumerError> {
        Ok(self.consumer.commit().await?)
    }

    /// Items handed out and not acknowledged yet.
    pub fn unacknowledged(&self) -> usize {
        self.offsets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_flight()
    }

    /// Commit what was acknowledged and leave the group; unacknowledged items are delivered
    /// again to the group.
    pub async fn close(self) -> Result<(), ConsumerError> {
        self.consumer.commit().await?;
        Ok(self.consumer.close().await?)
    }
}

impl<T: Transport, E: TopicEvents> Stream for EventStream<T, E> {
    type Item = Result<StreamItem<T, E>, ConsumerError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
