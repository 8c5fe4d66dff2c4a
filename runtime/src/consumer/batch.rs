//! Batch and stream modes: records of a consumer group turned into batches handed to one function call, or into a `Stream` of decoded events.
//!
//! Both decode like the record-at-a-time consumer (poison pills go to `<topic>.dlq`). A batch is
//! retried in place as a whole; when it keeps failing every record of it is dead-lettered (or,
//! with dead letters off, the consumer stops without committing it). In stream mode an item
//! counts as processed when the next one is requested (or at [`EventStream::close`]).

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
use std::sync::Arc;
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
            match processor.decode(&r) {
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

    /// The group's events as a `Stream`. Poison pills are dead-lettered and skipped.
    pub async fn stream<E: TopicEvents>(&self) -> Result<EventStream<T, E>, ConsumerError> {
        let consumer = Arc::new(
            self.publisher
                .transport()
                .subscribe(self.config.subscription(E::TOPIC))
                .await?,
        );
        let processor = self.decoder::<E>();
        let (_trigger, never) = Shutdown::channel();
        let state = (
            consumer.clone(),
            processor,
            None::<(TopicPartition, i64)>,
            never,
            _trigger,
        );
        let poll_timeout = self.config.poll_timeout;
        let inner = futures::stream::unfold(state, move |(c, p, last, sd, trig)| async move {
            if let Some((tp, next)) = &last {
                let _ = c.store_offset(tp, *next);
            }
            loop {
                match c.poll(poll_timeout).await {
                    Ok(Some(ConsumerEvent::Record(r))) => {
                        let done = Some((r.topic_partition(), r.offset + 1));
                        match p.decode(&r) {
                            Ok((env, event)) => {
                                let item = StreamItem {
                                    context: context(&env, &r, 1),
                                    event,
                                    position: done.clone().expect("set above"),
                                };
                                return Some((Ok(item), (c, p, done, sd, trig)));
                            }
                            Err(undecoded) => {
                                let topic = crate::dead_letter::original_topic(&r);
                                if let Outcome::Failed(m) =
                                    p.undecodable(&r, &topic, undecoded, &sd).await
                                {
                                    let err = ConsumerError::HandlerFailed(m);
                                    return Some((Err(err), (c, p, None, sd, trig)));
                                }
                                let _ = c.store_offset(&r.topic_partition(), r.offset + 1);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.is_retriable() => tokio::time::sleep(poll_timeout).await,
                    Err(e) => return Some((Err(e.into()), (c, p, None, sd, trig))),
                }
            }
        });
        Ok(EventStream {
            inner: Box::pin(inner),
            consumer,
        })
    }
}

/// One decoded event of an [`EventStream`].
#[derive(Clone, Debug)]
pub struct StreamItem<E> {
    pub context: HandlerContext,
    pub event: E,
    /// The record's partition and the offset after it.
    position: (TopicPartition, i64),
}

type ItemStream<E> = Pin<Box<dyn Stream<Item = Result<StreamItem<E>, ConsumerError>> + Send>>;

/// A consumer group's events as a `Stream`; call [`EventStream::close`] to commit and leave.
pub struct EventStream<T: Transport, E> {
    inner: ItemStream<E>,
    consumer: Arc<T::Consumer>,
}

impl<T: Transport, E: TopicEvents> EventStream<T, E> {
    /// Commit what was processed so far (every item before the last one yielded).
    pub async fn commit(&self) -> Result<(), ConsumerError> {
        Ok(self.consumer.commit().await?)
    }

    /// Mark the last yielded item processed too, commit, and leave the group.
    pub async fn close(self, last: Option<&StreamItem<E>>) -> Result<(), ConsumerError> {
        if let Some(item) = last {
            let (tp, next) = &item.position;
            let _ = self.consumer.store_offset(tp, *next);
        }
        self.consumer.commit().await?;
        Ok(self.consumer.close().await?)
    }
}

impl<T: Transport, E: TopicEvents> Stream for EventStream<T, E> {
    type Item = Result<StreamItem<E>, ConsumerError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
