//! Request-reply over a reply topic: a request event published with a `carebus_replyto` header turned into the typed reply whose causation id is the request's event id, or a timeout.
//!
//! The requester's publisher reads its reply topic in a consumer group of its own (one per
//! publisher, starting at the end of the topic), and routes each reply to the waiting request
//! by the reply's `ce_causationid`. The responder calls [`Publisher::reply`] from its handler:
//! the reply goes to the request's reply topic with the request as its cause.

use super::Publisher;
use crate::envelope::{Envelope, headers};
use crate::event::DomainEvent;
use crate::handler::HandlerContext;
use crate::publish::{Delivery, PublishError, PublishOptions};
use crate::topic::TopicEvents;
use crate::transport::{
    ConsumerEvent, OffsetReset, ReceivedRecord, SubscribeConfig, Transport, TransportConsumer,
    TransportError, header_str,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OnceCell, oneshot};

/// Header carrying the topic a reply should be published to.
pub const REPLY_TO_HEADER: &str = "carebus_replyto";

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<ReceivedRecord>>>>;

/// Requests waiting for their reply, and the reply listener (started on first use).
#[derive(Default)]
pub(crate) struct Replies {
    waiting: Waiting,
    listener: OnceCell<()>,
}

fn route(waiting: &Waiting, record: ReceivedRecord) {
    let Some(cause) = header_str(&record.headers, headers::CAUSATION_ID) else {
        return;
    };
    let sender = waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(cause);
    if let Some(tx) = sender {
        let _ = tx.send(record);
    }
}

impl<T: Transport> Publisher<T> {
    async fn ensure_reply_listener(
        &self,
        reply_topic: &str,
        timeout: Duration,
    ) -> Result<(), PublishError> {
        let replies = &self.inner.replies;
        let failed = |source: TransportError| PublishError::Transport {
            topic: reply_topic.to_string(),
            source,
        };
        replies
            .listener
            .get_or_try_init(|| async {
                let config = SubscribeConfig {
                    group_id: format!("carebus-replies-{}", crate::types::Uuid::new_v4()),
                    topics: vec![reply_topic.to_string()],
                    offset_reset: OffsetReset::Latest,
                    properties: self.inner.config.properties.clone(),
                };
                let consumer = self
                    .inner
                    .transport
                    .subscribe(config)
                    .await
                    .map_err(failed)?;
                // Wait for the assignment so no reply published after the request is missed.
                let deadline = tokio::time::Instant::now() + timeout;
                let waiting = replies.waiting.clone();
                loop {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(failed(
                            TransportError::new(
                                crate::transport::TransportErrorKind::Timeout,
                                format!("join the reply group of {reply_topic}"),
                            )
                            .with_detail("no partition of the reply topic was assigned in time"),
                        ));
                    }
                    match consumer.poll(left).await.map_err(failed)? {
                        Some(ConsumerEvent::Assigned(_)) => break,
                        Some(ConsumerEvent::Record(r)) => route(&waiting, r),
                        _ => {}
                    }
                }
                tokio::spawn(async move {
                    // Runs while a publisher (a holder of `waiting`) is alive.
                    while Arc::strong_count(&waiting) > 1 {
                        match consumer.poll(Duration::from_millis(200)).await {
                            Ok(Some(ConsumerEvent::Record(r))) => route(&waiting, r),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "reply listener: poll failed");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                    let _ = consumer.close().await;
                });
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Publish `event` as a request and wait up to `timeout` for its reply on the configured
    /// `reply_topic`; the reply is decoded as one of the events of topic `R`.
    pub async fn request<E: DomainEvent, R: TopicEvents>(
        &self,
        event: E,
        mut options: PublishOptions,
        timeout: Duration,
    ) -> Result<(Envelope, R), PublishError> {
        let reply_topic =
            self.inner
                .config
                .reply_topic
                .clone()
                .ok_or_else(|| PublishError::Misconfigured {
                    topic: E::TOPIC.into(),
                    reason: "request-reply needs `reply_topic` in the publisher config".into(),
                })?;
        self.ensure_reply_listener(&reply_topic, timeout).await?;
        options
            .headers
            .push((REPLY_TO_HEADER.into(), reply_topic.clone()));
        let record = self.prepare(&event, options)?;
        let event_id = super::event_id(&record).to_owned();
        let (tx, rx) = oneshot::channel();
        let waiting = self.inner.replies.waiting.clone();
        waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event_id.clone(), tx);
        let forget = || {
            waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&event_id);
        };
        if let Err(e) = self.send_prepared(record).await {
            forget();
            return Err(e);
        }
        let timed_out = || PublishError::ReplyTimeout {
            reply_topic: reply_topic.clone(),
            timeout_ms: timeout.as_millis() as u64,
        };
        let record = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(record)) => record,
            _ => {
                forget();
                return Err(timed_out());
            }
        };
        crate::wire::decode::<R>(&record.headers, record.payload()).map_err(PublishError::Encode)
    }

    /// Publish `event` as the reply to the request being handled (`ctx`): to the request's
    /// reply topic, caused by the request, in its correlation.
    pub async fn reply<E: DomainEvent>(
        &self,
        ctx: &HandlerContext,
        event: E,
    ) -> Result<Delivery, PublishError> {
        let reply_to = ctx.reply_to().ok_or_else(|| PublishError::Misconfigured {
            topic: ctx.topic().to_owned(),
            reason: format!(
                "event {} is not a request (no {REPLY_TO_HEADER} header); nothing to reply to",
                ctx.event_id()
            ),
        })?;
        let mut record = self.prepare(&event, PublishOptions::caused_by(ctx))?;
        record.topic = reply_to.to_owned();
        self.send_prepared(record).await
    }
}
