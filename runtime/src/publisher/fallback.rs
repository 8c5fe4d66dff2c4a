//! Fallbacks of the publisher: records the transport cannot take now turned into outbox entries delivered by a background task, and records it refuses for good turned into dead letters.

use super::{Publisher, event_id, storage};
use crate::publish::{Delivery, PublishError};
use crate::transport::{Record, Transport, TransportError};
use std::sync::atomic::Ordering;

impl<T: Transport> Publisher<T> {
    /// Keep a record in the outbox (or fail when there is none).
    pub(super) fn queue(&self, record: Record, reason: &str) -> Result<Delivery, PublishError> {
        let topic = record.topic.clone();
        let event_id = event_id(&record).to_owned();
        let Some(outbox) = &self.inner.outbox else {
            return Err(PublishError::Transport {
                topic,
                reason: format!("{reason}; no outbox configured, the event was not sent"),
            });
        };
        outbox.push(record).map_err(storage)?;
        metrics::counter!("carebus_outbox_queued_total").increment(1);
        self.start_draining();
        Err(PublishError::Queued { event_id, topic })
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
                reason: error.to_string(),
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
                    reason: error.to_string(),
                })
            }
            Err(dlq_error) => Err(PublishError::Transport {
                topic,
                reason: format!("{error}; the dead-letter topic {dlq} failed too: {dlq_error}"),
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

    async fn drain(self) {
        let inner = &self.inner;
        let Some(outbox) = &inner.outbox else { return };
        let pause = inner.config.outbox_retry_interval;
        loop {
            if inner.closed.load(Ordering::SeqCst) {
                inner.draining.store(false, Ordering::SeqCst);
                return;
            }
            let Some((id, record)) = outbox.peek() else {
                inner.draining.store(false, Ordering::SeqCst);
                // A push may have raced with the store above: take over again if so.
                if outbox.is_empty() || inner.draining.swap(true, Ordering::SeqCst) {
                    return;
                }
                continue;
            };
            if !inner.breaker.allow() {
                tokio::time::sleep(pause).await;
                continue;
            }
            let sent = match inner.transport.send_ref(&record).await {
                Ok(_) => {
                    inner.breaker.on_success();
                    metrics::counter!("carebus_published_total", "topic" => record.topic.clone())
                        .increment(1);
                    true
                }
                Err(e) if e.is_retriable() => {
                    inner.breaker.on_failure();
                    false
                }
                // Never dropped: refused records go to the dead-letter topic.
                Err(e) => {
                    inner.breaker.on_success();
                    self.dead_letter(record, e)
                        .await
                        .is_err_and(|e| matches!(e, PublishError::DeadLettered { .. }))
                }
            };
            if sent {
                if let Err(e) = outbox.mark_delivered(id) {
                    tracing::error!(error = %e, "outbox: cannot record a delivery");
                    tokio::time::sleep(pause).await;
                }
            } else {
                tokio::time::sleep(pause).await;
            }
        }
    }
}
