//! The publisher: typed events plus options turned into validated envelopes and framed records, sent through a transport with retries, a circuit breaker, a durable outbox and a dead-letter topic.
//!
//! One `Publisher` per process: it is cheap to clone (an `Arc` inside) and implements
//! [`Publish`], so every generated `XxxPublisher` trait works on it.
//!
//! What happens to one event ([`Publisher::publish_event`]):
//! 1. [`DomainEvent::validate`] and the envelope's required fields are checked; nothing is sent
//!    when either fails ([`PublishError::Invalid`], [`PublishError::Envelope`]).
//! 2. The envelope is filled: a new event id and time; correlation and causation from the
//!    options, else from the event being handled ([`crate::context`]); tenant likewise.
//! 3. The record is framed ([`crate::wire`]); over `max_message_bytes` it is claim-checked
//!    when a store is configured, else rejected with [`PublishError::TooLarge`].
//! 4. Sent: retriable failures are retried with exponential backoff and jitter and counted by
//!    the circuit breaker. While the circuit is open, or when retries run out, the record goes
//!    to the durable outbox (a success: [`Delivery::Queued`]) and a background task delivers
//!    it when the transport is back, in order, in rounds of many records in flight. A failure
//!    that can never succeed sends the record to the dead-letter topic
//!    ([`PublishError::DeadLettered`]).

mod batch;
mod breaker;
pub(crate) mod config;
mod fallback;
mod outbox;
mod request;

pub use crate::config::ConfigError;
pub use batch::Batch;
pub use breaker::{Breaker, BreakerState};
pub use config::{BreakerConfig, PublisherConfig, RetryPolicy};
#[doc(hidden)]
pub use outbox::set_crash_hook;
pub use outbox::{BadOutboxKey, Outbox, OutboxError, OutboxKey};
pub use request::REPLY_TO_HEADER;

use crate::claim_check::{self, Blob, LocalDirStore, SharedClaimCheck};
use crate::envelope::{Envelope, EventMetadata, child_traceparent, headers, new_traceparent};
use crate::event::DomainEvent;
use crate::publish::{Delivered, Delivery, Publish, PublishError, PublishOptions};
use crate::transport::{Record, Transport, Unsent, header_str};
use crate::types::{Timestamp, Uuid};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::Instrument;

pub(crate) struct Inner<T: Transport> {
    transport: T,
    config: PublisherConfig,
    breaker: Breaker,
    outbox: Option<Outbox>,
    claim_check: Option<SharedClaimCheck>,
    draining: AtomicBool,
    closed: AtomicBool,
    replies: request::Replies,
    /// `carebus_published_total` and `carebus_publish_duration_seconds` per topic.
    published: crate::observe::PerTopic<(metrics::Counter, metrics::Histogram)>,
}

/// Publishes typed events through a transport. Clone it freely; clones share everything.
pub struct Publisher<T: Transport> {
    inner: Arc<Inner<T>>,
}

impl<T: Transport> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Publisher {
            inner: self.inner.clone(),
        }
    }
}

/// A failure of the local store `what` (the outbox, the claim-check store).
fn storage(what: &'static str) -> impl FnOnce(std::io::Error) -> PublishError {
    move |source| PublishError::Storage { what, source }
}

impl<T: Transport> Publisher<T> {
    /// A publisher over `transport`. Opens the outbox and the claim-check directory when
    /// configured; undelivered outbox records from an earlier run are delivered in the
    /// background (when called inside a tokio runtime). An outbox directory without a key, a
    /// key other than the outbox was written with, or an outbox open in another process fail
    /// here ([`PublishError::Storage`] around an [`OutboxError`]).
    pub fn new(transport: T, config: PublisherConfig) -> Result<Self, PublishError> {
        let store = match &config.claim_check_dir {
            Some(dir) => Some(Arc::new(
                LocalDirStore::new(dir).map_err(storage("claim-check store"))?,
            ) as SharedClaimCheck),
            None => None,
        };
        Self::with_claim_check(transport, config, store)
    }

    /// Like [`Publisher::new`] with your own claim-check store.
    pub fn with_claim_check(
        transport: T,
        config: PublisherConfig,
        store: Option<SharedClaimCheck>,
    ) -> Result<Self, PublishError> {
        let outbox = match &config.outbox_dir {
            Some(dir) => {
                let open = |dir: &std::path::Path| {
                    let key = config.resolve_outbox_key(dir)?;
                    Outbox::open(dir, &key, config.outbox_max_bytes)
                };
                Some(open(dir).map_err(|e| PublishError::Storage {
                    what: "outbox",
                    source: std::io::Error::other(e),
                })?)
            }
            None => None,
        };
        let publisher = Publisher {
            inner: Arc::new(Inner {
                transport,
                breaker: Breaker::new(config.breaker.clone()),
                config,
                outbox,
                claim_check: store,
                draining: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                replies: request::Replies::default(),
                published: Default::default(),
            }),
        };
        if publisher.outbox_len() > 0 && tokio::runtime::Handle::try_current().is_ok() {
            publisher.start_draining();
        }
        Ok(publisher)
    }

    /// The transport records are sent through.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The settings the publisher was built with.
    pub fn config(&self) -> &PublisherConfig {
        &self.inner.config
    }

    /// The circuit breaker's state now (open while the transport is considered down).
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// Events waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.inner.outbox.as_ref().map_or(0, Outbox::len)
    }

    /// Validate an event, build its envelope and frame it, without sending. The envelope is in
    /// the record's headers (CloudEvents binary mode); read it back with
    /// [`Envelope::from_headers`] when you need it.
    pub fn prepare<E: DomainEvent>(
        &self,
        event: &E,
        options: PublishOptions,
    ) -> Result<Prepared, PublishError> {
        event.validate()?;
        let ctx = crate::context::current_shared();
        let inherited = ctx.as_deref().map(PublishOptions::caused_by);
        let pick = |own: Option<String>, f: fn(&PublishOptions) -> Option<String>| {
            own.or_else(|| inherited.as_ref().and_then(f))
        };
        let cfg = &self.inner.config;
        let envelope = Envelope {
            event_id: options.event_id.unwrap_or_else(|| Uuid::new_v4().to_text()),
            event_type: match &cfg.type_prefix {
                None => E::EVENT_TYPE.into(),
                Some(prefix) => crate::cloudevents::reverse_dns_type(prefix, E::EVENT_TYPE),
            },
            event_version: E::EVENT_VERSION,
            event_time: Timestamp::now(),
            aggregate_id: event.aggregate_id(),
            aggregate_type: E::AGGREGATE_TYPE.into(),
            tenant_id: pick(options.tenant_id, |o| o.tenant_id.clone()),
            correlation_id: pick(options.correlation_id, |o| o.correlation_id.clone()),
            causation_id: pick(options.causation_id, |o| o.causation_id.clone()),
            metadata: EventMetadata {
                user_id: options
                    .user_id
                    .or_else(|| ctx.as_ref().and_then(|c| c.user_id().map(str::to_owned))),
                source: options.source.unwrap_or_else(|| cfg.source.clone()),
                ip_address: options.ip_address,
            },
            schema_fingerprint: Some(E::FINGERPRINT),
            data_schema: cfg
                .data_schema_base
                .as_ref()
                .map(|b| format!("{b}/{}.v{}", E::EVENT_TYPE, E::EVENT_VERSION)),
            traceparent: Some(
                ctx.as_ref()
                    .and_then(|c| c.traceparent())
                    .map_or_else(new_traceparent, child_traceparent),
            ),
        };
        envelope.check()?;
        let mut record = crate::wire::encode(envelope, event, &cfg.framing)?;
        for (name, value) in options.headers {
            // The envelope's own headers and carebus's bookkeeping headers (claim check, dead
            // letters, retries) cannot be set by a caller; the reply topic of a request can.
            let reserved = name.starts_with("ce_")
                || name == headers::CONTENT_TYPE
                || name == headers::TRACEPARENT
                || (name.starts_with(crate::envelope::CAREBUS_PREFIX) && name != REPLY_TO_HEADER);
            if reserved {
                tracing::debug!(header = %name, "a reserved header in PublishOptions was ignored");
            } else {
                record.headers.push((name.into(), value.into_bytes()));
            }
        }
        let size = record.size();
        if size <= cfg.max_message_bytes {
            return Ok(Prepared::from(record));
        }
        if self.inner.claim_check.is_none() {
            return Err(PublishError::TooLarge {
                event_type: E::EVENT_TYPE.into(),
                size,
                max: cfg.max_message_bytes,
            });
        }
        // Whose payload it is decides the key a sealing store encrypts it with; worked out
        // here, where the typed event is at hand (claim checks are rare: the JSON form is
        // affordable).
        let aggregate_id = event.aggregate_id();
        let claim = Blob {
            event_id: event_id(&record).to_owned(),
            topic: record.topic.clone(),
            event_type: E::EVENT_TYPE.into(),
            event_version: E::EVENT_VERSION,
            subject: claim_check::patient_subject(
                E::AGGREGATE_TYPE,
                &aggregate_id,
                Some(&event.to_json()),
            ),
            value: Vec::new(),
        };
        Ok(Prepared {
            record,
            claim: Some(Box::new(claim)),
        })
    }

    /// Publish and wait for the delivery report (sync publishing). The event is validated,
    /// enveloped and encoded at the call (its time, and the handled event it is caused by, are
    /// the caller's at that moment); the returned future sends it and holds only the record,
    /// not the event and options as well.
    pub fn publish_event<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send + '_ {
        let prepared = self.prepare(&event, options).inspect_err(|_| {
            metrics::counter!("carebus_publish_errors_total", "reason" => "invalid").increment(1);
        });
        async move { self.send_prepared(prepared?).await }
    }

    /// Validate now, send in the background; await the returned handle for the delivery
    /// report (async publishing).
    pub fn publish_async<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> Result<DeliveryHandle, PublishError> {
        let record = self.prepare(&event, options)?;
        let me = self.clone();
        Ok(DeliveryHandle(tokio::spawn(async move {
            me.send_prepared(record).await
        })))
    }

    /// Validate now, send in the background, never wait (fire-and-forget). Failures are
    /// logged and counted; with an outbox configured, unreachable-transport failures are kept.
    pub fn publish_detached<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> Result<(), PublishError> {
        let handle = self.publish_async(event, options)?;
        tokio::spawn(async move {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "fire-and-forget publish failed");
            }
        });
        Ok(())
    }

    /// A batch of events sent together (independently, or as one transaction).
    pub fn batch(&self) -> Batch<'_, T> {
        Batch::new(self)
    }

    /// Wait until the transport acknowledged everything sent so far.
    pub async fn flush(&self, timeout: Duration) -> Result<(), PublishError> {
        self.inner
            .transport
            .flush(timeout)
            .await
            .map_err(PublishError::Flush)
    }

    /// Stop delivering from the outbox (what is left stays on disk for the next start) and
    /// flush the transport for up to five seconds. Call it before the process exits.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        while self.inner.draining.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Err(e) = self.flush(Duration::from_secs(5)).await {
            tracing::warn!(error = %e, "flush at close failed");
        }
    }

    /// Send a prepared record (from [`Publisher::prepare`]): breaker, retries, outbox, dead
    /// letter. Timed from this call to the delivery report.
    ///
    /// The send futures of this module are built so that each holds its record once: an
    /// `async fn` keeps its arguments twice (as arguments and as the body's locals), and a
    /// future wrapped in an `async` block once more; with thousands of sends in flight the
    /// copies were a tenth of the publishing thread's time and megabytes of memory.
    pub fn send_prepared(
        &self,
        prepared: impl Into<Prepared>,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send + '_ {
        let Prepared { record, claim } = prepared.into();
        let text = |name| header_str(&record.headers, name).unwrap_or("");
        let span = if crate::context::spans_seen() {
            tracing::info_span!(
                "publish",
                topic = %record.topic,
                event_type = text(headers::TYPE),
                event_id = text(headers::ID),
                correlation_id = text(headers::CORRELATION_ID),
            )
        } else {
            tracing::Span::none()
        };
        Counted {
            started: crate::observe::started(),
            publisher: self,
            sending: self.send_record(record, claim).instrument(span),
        }
    }

    /// Move an oversized record's value into the claim-check store.
    async fn check_in(&self, blob: Blob, record: &mut Record) -> Result<(), PublishError> {
        let Some(store) = &self.inner.claim_check else {
            return Err(PublishError::Misconfigured {
                topic: record.topic.clone(),
                reason: "the record needs a claim check but the publisher has no claim-check store"
                    .into(),
            });
        };
        claim_check::check_in(store.as_ref(), blob, record)
            .await
            .map_err(storage("claim-check store"))?;
        metrics::counter!("carebus_claim_checked_total").increment(1);
        Ok(())
    }

    /// Metrics of a send that started at `started` and ended with `result`.
    fn count(&self, result: &Result<Delivery, PublishError>, started: quanta::Instant) {
        let outcome = match result {
            // Counted as published when the outbox delivers it (carebus_outbox_queued_total
            // counts it now).
            Ok(Delivery::Queued { .. }) => return,
            Ok(_) => "ok",
            Err(PublishError::DeadLettered { .. }) => "dead_lettered",
            Err(_) => "error",
        };
        if let Ok(delivery) = result {
            let register = |topic: &str| {
                (
                    metrics::counter!("carebus_published_total", "topic" => topic.to_string()),
                    metrics::histogram!("carebus_publish_duration_seconds", "topic" => topic.to_string()),
                )
            };
            let elapsed = started.elapsed().as_secs_f64();
            self.inner
                .published
                .with(delivery.topic(), register, |(published, duration)| {
                    published.increment(1);
                    duration.record(elapsed);
                });
        } else {
            metrics::counter!("carebus_publish_errors_total", "reason" => outcome).increment(1);
        }
    }

    /// Send a record, giving it up to the transport: the publisher keeps no copy while the
    /// send is in flight; a record that fails comes back from the transport to be retried,
    /// kept in the outbox or dead-lettered.
    // An `async fn` would keep the record twice in the future (see `send_prepared`).
    #[allow(clippy::manual_async_fn)]
    fn send_record(
        &self,
        mut record: Record,
        claim: Option<Box<Blob>>,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send + '_ {
        async move {
            let inner = &self.inner;
            if let Some(blob) = claim {
                // Boxed, as the other rare paths: keeps every send future small.
                Box::pin(self.check_in(*blob, &mut record)).await?;
            }
            // Keep order behind anything already queued, and fail fast while the circuit is open.
            let queued_before = inner.outbox.as_ref().is_some_and(|o| !o.is_empty());
            if queued_before || !inner.breaker.allow() {
                // Boxed, as the other rare paths: keeps every send future small.
                return Box::pin(self.queue(record, None)).await;
            }
            let event_id = event_id(&record).to_owned();
            let attempts = inner.config.retry.attempts.max(1);
            let mut attempt = 1;
            loop {
                let e = match inner.transport.send_owned(record).await {
                    Ok(pos) => {
                        inner.breaker.on_success();
                        return Ok(Delivery::Delivered(Delivered {
                            event_id,
                            topic: pos.topic,
                            partition: pos.partition,
                            offset: pos.offset,
                        }));
                    }
                    Err(Unsent::Returned(e, returned)) => {
                        record = returned;
                        e
                    }
                    Err(Unsent::Unknown(e, topic)) => {
                        inner.breaker.on_failure();
                        return Err(PublishError::Transport { topic, source: e });
                    }
                };
                if !e.is_retriable() {
                    // The transport answered (it is reachable): a half-open probe succeeded.
                    inner.breaker.on_success();
                    // Boxed: the rare path would otherwise double the size of every send future.
                    return Box::pin(self.dead_letter(record, e)).await;
                }
                inner.breaker.on_failure();
                let open = inner.breaker.state() == BreakerState::Open;
                if attempt >= attempts || open {
                    tracing::warn!(error = %e, attempt, "publish failed; keeping the event");
                    return Box::pin(self.queue(record, Some(e))).await;
                }
                metrics::counter!("carebus_publish_retries_total").increment(1);
                // Boxed, as the dead letter: keeps every send future small.
                Box::pin(tokio::time::sleep(inner.config.retry.backoff(attempt))).await;
                attempt += 1;
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A send counted in the publisher's metrics when it ends ([`Publisher::send_prepared`]).
    struct Counted<'a, T: Transport, F> {
        #[pin]
        sending: F,
        publisher: &'a Publisher<T>,
        started: quanta::Instant,
    }
}

impl<T: Transport, F: Future<Output = Result<Delivery, PublishError>>> Future
    for Counted<'_, T, F>
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let result = std::task::ready!(this.sending.poll(cx));
        this.publisher.count(&result, *this.started);
        Poll::Ready(result)
    }
}

/// The CloudEvents id of a record the publisher prepared (empty when it has none).
pub(crate) fn event_id(record: &Record) -> &str {
    header_str(&record.headers, headers::ID).unwrap_or("")
}

impl<T: Transport> Publish for Publisher<T> {
    fn publish<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send {
        self.publish_event(event, options)
    }
}

/// The delivery report of an event published with [`Publisher::publish_async`].
pub struct DeliveryHandle(tokio::task::JoinHandle<Result<Delivery, PublishError>>);

impl Future for DeliveryHandle {
    type Output = Result<Delivery, PublishError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(PublishError::Aborted {
                    reason: e.to_string(),
                })
            })
        })
    }
}

/// An event validated, enveloped and framed by [`Publisher::prepare`], ready for
/// [`Publisher::send_prepared`]. It reads as its [`Record`]. A record over
/// `max_message_bytes` still holds its whole value here: `send_prepared` moves the value into
/// the claim-check store before sending.
pub struct Prepared {
    record: Record,
    claim: Option<Box<Blob>>,
}

impl Prepared {
    /// Whether the record will be claim-checked when sent.
    pub fn needs_claim_check(&self) -> bool {
        self.claim.is_some()
    }

    /// The record, to send some other way. A record that needs a claim check is over the
    /// size limit: send it with [`Publisher::send_prepared`] instead.
    pub fn into_record(self) -> Record {
        self.record
    }
}

impl From<Record> for Prepared {
    fn from(record: Record) -> Self {
        Prepared {
            record,
            claim: None,
        }
    }
}

impl std::ops::Deref for Prepared {
    type Target = Record;
    fn deref(&self) -> &Record {
        &self.record
    }
}

impl std::ops::DerefMut for Prepared {
    fn deref_mut(&mut self) -> &mut Record {
        &mut self.record
    }
}
