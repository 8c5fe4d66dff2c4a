//! Fallbacks of the publisher: records the transport cannot take now turned into outbox entries delivered by a background task, and records it refuses for good turned into dead letters.

use super::outbox::{OutboxError, crash_point};
use super::{Publisher, event_id};
use crate::publish::{Delivery, PublishError};
use crate::transport::{Record, Transport, TransportError};
use std::sync::atomic::Ordering;
use std::time::Duration;

impl<T: Transport> Publisher<T> {
    /// Keep a record in the outbox (or fail when there is none). The write and its fsync run
    /// on a blocking thread, so a slow disk does not stall the runtime's workers.
    pub(super) async fn queue(
        &self,
        record: Record,
        cause: Option<TransportError>,
    ) -> Result<Delivery, PublishError> {
        let topic = record.topic.clone();
        let event_id = event_id(&record).to_owned();
        if self.inner.outbox.is_none() {
            return Err(match cause {
                Some(source) => PublishError::Transport { topic, source },
                None => PublishError::CircuitOpen { topic },
            });
        }
        let me = self.clone();
        let pushed = tokio::task::spawn_blocking(move || match &me.inner.outbox {
            Some(outbox) => outbox.push(record),
            None => Ok(()),
        })
        .await
        .map_err(|e| PublishError::Storage {
            what: "outbox write",
            source: std::io::Error::other(e),
        })?;
        match pushed {
            Ok(()) => {}
            Err(OutboxError::Full {
                used_bytes,
                limit_bytes,
            }) => {
                tracing::error!(
                    %event_id,
                    %topic,
                    used_bytes,
                    limit_bytes,
                    "outbox full: the event was neither sent nor kept"
                );
                return Err(PublishError::OutboxFull {
                    event_id,
                    topic,
                    used_bytes,
                    limit_bytes,
                });
            }
            Err(e) => {
                return Err(PublishError::Storage {
                    what: "outbox write",
                    source: std::io::Error::other(e),
                });
            }
        }
        metrics::counter!("carebus_outbox_queued_total").increment(1);
        self.start_draining();
        Ok(Delivery::Queued { event_id, topic })
    }

    pub(super) async fn dead_letter(
        &self,
        mut record: Record,
        error: TransportError,
    ) -> Result<Delivery, PublishError> {
        let topic = record.topic.clone();
        let event_id = event_id(&record).to_owned();
        let Some(dlq) = self.inner.config.dead_letter_topic.clone() else {
            return Err(PublishError::Transport {
                topic,
                source: error,
            });
        };
        record
            .headers
            .extend(crate::dead_letter::dead_letter_headers(
                "publish-refused",
                &error.to_string(),
                0,
            ));
        record.headers.push((
            crate::dead_letter::ORIGINAL_TOPIC.into(),
            topic.clone().into_bytes(),
        ));
        record.topic = dlq.clone();
        record.partition = None;
        match self.inner.transport.send(record).await {
            Ok(_) => {
                metrics::counter!("carebus_dead_lettered_total", "topic" => topic.clone())
                    .increment(1);
                Err(PublishError::DeadLettered {
                    event_id,
                    topic,
                    dead_letter_topic: dlq,
                    source: error,
                })
            }
            Err(dlq_error) => Err(PublishError::DeadLetterFailed {
                event_id,
                topic,
                dead_letter_topic: dlq,
                refused: error,
                source: dlq_error,
            }),
        }
    }

    /// Start the background task that empties the outbox (once).
    pub(super) fn start_draining(&self) {
        if self.inner.outbox.is_none() || self.inner.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.drain().await });
    }

    /// Deliver the outbox in queue order, `outbox_drain_window` records per round: all of a
    /// round's records are handed to the transport before any delivery report is awaited, so
    /// a backlog drains at the transport's pace, not one round trip per record (new events
    /// queue behind the backlog to keep order, so a slow drain would never catch up).
    async fn drain(self) {
        let inner = &self.inner;
        let Some(outbox) = &inner.outbox else { return };
        let pause = inner.config.outbox_retry_interval;
        loop {
            if inner.closed.load(Ordering::SeqCst) {
                inner.draining.store(false, Ordering::SeqCst);
                return;
            }
            let round = match outbox.peek_many(inner.config.outbox_drain_window.max(1)) {
                Ok(round) => round,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read the next records");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            if round.is_empty() {
                if !outbox.is_empty() {
                    // Pushes whose commit is under way: theirs is the next round.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                inner.draining.store(false, Ordering::SeqCst);
                // A push may have raced with the store above: take over again if so.
                if outbox.is_empty() || inner.draining.swap(true, Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            if !inner.breaker.allow() {
                tokio::time::sleep(pause).await;
                continue;
            }
            let (delivered, complete) = self.deliver_round(round).await;
            crash_point("drain.sent");
            if let Err(e) = outbox.mark_delivered_many(&delivered) {
                tracing::error!(error = %e, "outbox: cannot record deliveries");
                tokio::time::sleep(pause).await;
            } else if !complete {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Send one round of outbox records; the ids delivered (or dead-lettered), in order, and
    /// whether the whole round got through. A round stops at its first retriable failure:
    /// that record and every later one stay queued, and later ones that did arrive are sent
    /// again next time (at-least-once). Those may have arrived before the failed one (see
    /// [`PublisherConfig::outbox_drain_window`](super::PublisherConfig::outbox_drain_window)).
    async fn deliver_round(&self, round: Vec<(u64, Record)>) -> (Vec<u64>, bool) {
        let inner = &self.inner;
        // Each record enters the transport when its send is first polled: poll every send
        // once, in queue order, before awaiting any.
        let mut sends: Vec<_> = round
            .iter()
            .map(|(_, record)| {
                futures::future::maybe_done(Box::pin(inner.transport.send_ref(record)))
            })
            .collect();
        std::future::poll_fn(|cx| {
            for send in &mut sends {
                let _ = std::pin::Pin::new(send).poll(cx);
            }
            std::task::Poll::Ready(())
        })
        .await;
        let mut results = Vec::with_capacity(sends.len());
        for mut send in sends {
            (&mut send).await;
            results.push(std::pin::Pin::new(&mut send).take_output());
        }
        let mut delivered = Vec::with_capacity(round.len());
        for ((id, record), result) in round.into_iter().zip(results) {
            match result {
                Some(Ok(_)) => {
                    inner.breaker.on_success();
                    metrics::counter!("carebus_published_total", "topic" => record.topic.clone())
                        .increment(1);
                    delivered.push(id);
                }
                // Never dropped: refused records go to the dead-letter topic.
                Some(Err(e)) if !e.is_retriable() => {
                    inner.breaker.on_success();
                    let kept = self
                        .dead_letter(record, e)
                        .await
                        .is_err_and(|e| matches!(e, PublishError::DeadLettered { .. }));
                    if !kept {
                        return (delivered, false);
                    }
                    delivered.push(id);
                }
                _ => {
                    inner.breaker.on_failure();
                    return (delivered, false);
                }
            }
        }
        (delivered, true)
    }
}
