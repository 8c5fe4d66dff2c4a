//! Batches: several typed events validated and framed up front, then sent independently or as one all-or-nothing transaction.

use super::{Prepared, Publisher, event_id};
use crate::event::DomainEvent;
use crate::publish::{Delivered, Delivery, PublishError, PublishOptions};
use crate::transport::Transport;

/// Events collected for one send. Every event is validated when added, so a batch that
/// reaches `send`/`send_transaction` holds only valid events.
pub struct Batch<'p, T: Transport> {
    publisher: &'p Publisher<T>,
    items: Vec<Prepared>,
}

impl<'p, T: Transport> Batch<'p, T> {
    pub(super) fn new(publisher: &'p Publisher<T>) -> Self {
        Batch {
            publisher,
            items: Vec::new(),
        }
    }

    /// Validate and frame an event and add it; on error nothing is added.
    pub fn add<E: DomainEvent>(
        &mut self,
        event: E,
        options: PublishOptions,
    ) -> Result<&mut Self, PublishError> {
        self.items.push(self.publisher.prepare(&event, options)?);
        Ok(self)
    }

    /// Number of events added.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no event was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Send every event concurrently, each with the publisher's retries, breaker and outbox;
    /// results in the order the events were added.
    pub async fn send(self) -> Vec<Result<Delivery, PublishError>> {
        let publisher = self.publisher;
        futures::future::join_all(
            self.items
                .into_iter()
                .map(|record| publisher.send_prepared(record)),
        )
        .await
    }

    /// Send every event in one transaction: all become visible or none does. Retriable
    /// failures retry the whole transaction; transactions never go to the outbox (their
    /// all-or-nothing promise could not be kept there), so a failure is returned.
    pub async fn send_transaction(self) -> Result<Vec<Delivery>, PublishError> {
        let inner = &self.publisher.inner;
        let mut records = Vec::with_capacity(self.items.len());
        for Prepared { mut record, claim } in self.items {
            if let Some(blob) = claim {
                self.publisher.check_in(*blob, &mut record).await?;
            }
            records.push(record);
        }
        let ids: Vec<String> = records.iter().map(|r| event_id(r).to_owned()).collect();
        let topic = records.first().map(|r| r.topic.clone()).unwrap_or_default();
        let attempts = inner.config.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            if !inner.breaker.allow() {
                return Err(PublishError::CircuitOpen { topic });
            }
            match inner.transport.send_transaction(records.clone()).await {
                Ok(positions) => {
                    inner.breaker.on_success();
                    metrics::counter!("carebus_published_total", "topic" => topic.clone())
                        .increment(positions.len() as u64);
                    return Ok(positions
                        .into_iter()
                        .zip(ids)
                        .map(|(p, event_id)| {
                            Delivery::Delivered(Delivered {
                                event_id,
                                topic: p.topic,
                                partition: p.partition,
                                offset: p.offset,
                            })
                        })
                        .collect());
                }
                Err(e) if e.is_retriable() && attempt < attempts => {
                    inner.breaker.on_failure();
                    metrics::counter!("carebus_publish_retries_total").increment(1);
                    tokio::time::sleep(inner.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    if e.is_retriable() {
                        inner.breaker.on_failure();
                    } else {
                        inner.breaker.on_success(); // reachable, it refused
                    }
                    metrics::counter!("carebus_publish_errors_total", "reason" => "transaction")
                        .increment(1);
                    return Err(PublishError::Transport { topic, source: e });
                }
            }
        }
    }
}
