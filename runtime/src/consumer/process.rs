//! One received record turned into a handled event: claim check, decode (poison pills to the dead-letter topic), dedupe, the handler with in-place retries, then a retry topic or the dead-letter topic when it keeps failing.

use super::ConsumerConfig;
use super::config::UnknownEvents;
use super::dedupe::DedupeStore;
use super::shutdown::Shutdown;
use crate::claim_check::{self, SharedClaimCheck};
use crate::dead_letter::{self as dl, ATTEMPTS, NOT_BEFORE, RETRY_LEVEL};
use crate::envelope::{EnvelopeRef, KnownHeaders};
use crate::handler::HandlerResult;
use crate::handler::{ContextFields, HandlerContext, HandlerErrorKind};
use crate::publisher::Publisher;
use crate::topic::TopicHandler;
use crate::transport::{
    ReceivedRecord, Record, RecordView, Transport, TransportErrorKind, header, header_str,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// A record's processing, left running by [`Processor::start`] for a lane worker.
pub(crate) type Job = std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// How [`Processor::start`] left a borrowed record.
pub(crate) enum Start {
    /// Finished during the poll.
    Finished(Outcome),
    /// Goes on in a lane worker.
    Running(Job),
    /// The handler panicked; the record stays unfinished.
    Panicked,
}

/// What a record finished in the poll leaves for the next one: its handler context (refilled
/// instead of allocated when nothing else holds it) and its permit (held across the rest of
/// the poll loop's burst instead of taken and given back per record; the loop lets it go
/// before it waits for anything).
#[derive(Default)]
pub(crate) struct Spare {
    pub context: Option<Arc<HandlerContext>>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// How processing a record ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Handled, skipped as a duplicate, or forwarded to a retry or dead-letter topic: the
    /// offset may advance.
    Done,
    /// Shutdown came first: the offset must not advance (the record is read again later).
    Interrupted,
    /// It failed and could not be forwarded (dead-letter topic disabled or unreachable):
    /// the consumer stops without committing it. The text is free of PHI.
    Failed(String),
}

/// Everything needed to process records of one consumer; shared by its tasks.
pub(crate) struct Processor<T: Transport, H> {
    pub publisher: Publisher<T>,
    pub handler: H,
    pub config: ConsumerConfig,
    pub dedupe: Option<Arc<dyn DedupeStore>>,
    pub claim_check: Option<SharedClaimCheck>,
    pub metrics: HandledMetrics,
}

/// Handles to the per-topic metrics of handled records.
pub(crate) type HandledMetrics = crate::observe::PerTopic<(metrics::Histogram, metrics::Counter)>;

fn parse_header<N: std::str::FromStr>(
    h: &[(impl AsRef<str>, impl AsRef<[u8]>)],
    name: &str,
) -> Option<N> {
    header_str(h, name).and_then(|s| s.parse().ok())
}

/// Whether a record with these headers may be handled now: not held back by a retry topic's
/// `carebus_not_before` time.
pub(crate) fn due(headers: &[(impl AsRef<str>, impl AsRef<[u8]>)]) -> bool {
    still_held_back(headers).is_none()
}

/// How long a retry topic's `carebus_not_before` time still holds the record back.
fn still_held_back(headers: &[(impl AsRef<str>, impl AsRef<[u8]>)]) -> Option<Duration> {
    let not_before = parse_header::<i64>(headers, NOT_BEFORE)?;
    let wait = not_before - chrono::Utc::now().timestamp_millis();
    (wait > 0).then(|| Duration::from_millis(wait as u64))
}

/// Retry topics: wait until the record's `carebus_not_before` time. `false` when shutdown
/// came first.
pub(crate) async fn wait_not_before(rec: &ReceivedRecord, shutdown: &Shutdown) -> bool {
    let Some(wait) = still_held_back(&rec.headers) else {
        return true;
    };
    let mut sd = shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = sd.wait() => false,
    }
}

/// Why a record could not be decoded: the dead-letter reason and error text, and whether its
/// event type or version is one the consumer does not know (see [`UnknownEvents`]).
pub(crate) struct Undecoded {
    unknown: bool,
    reason: String,
    error: String,
}

/// The handler context of a decoded record.
pub(crate) fn context(env: &EnvelopeRef<'_>, rec: &ReceivedRecord, attempt: u32) -> HandlerContext {
    let topic = dl::original_topic_in(&rec.headers, &rec.topic);
    context_of(env, &rec.headers, topic, rec.partition, rec.offset, attempt).into()
}

/// The fields of [`context`] of a record with these headers; `topic` is its original topic.
fn context_of<'a>(
    env: &'a EnvelopeRef<'_>,
    headers: &'a [(impl AsRef<str>, impl AsRef<[u8]>)],
    topic: &'a str,
    partition: i32,
    offset: i64,
    attempt: u32,
) -> ContextFields<'a> {
    ContextFields {
        event_id: &env.event_id,
        event_type: &env.event_type,
        event_version: env.event_version,
        aggregate_id: &env.aggregate_id,
        aggregate_type: &env.aggregate_type,
        tenant_id: env.tenant_id.as_deref(),
        correlation_id: env.correlation_id.as_deref(),
        causation_id: env.causation_id.as_deref(),
        topic,
        partition,
        offset,
        attempt,
        reply_to: header_str(headers, crate::publisher::REPLY_TO_HEADER),
        traceparent: env.traceparent.as_deref(),
        source: Some(&*env.source).filter(|s| !s.is_empty()),
        user_id: env.user_id.as_deref(),
    }
}

impl<T: Transport, H: TopicHandler> Processor<T, H> {
    /// Decode a record (after the claim check), or say why it is a poison pill.
    pub(crate) async fn decode<'r>(
        &self,
        rec: &'r ReceivedRecord,
    ) -> Result<(EnvelopeRef<'r>, H::Events), Undecoded> {
        let poison = |e: crate::wire::WireError| Undecoded {
            unknown: matches!(e, crate::wire::WireError::Unknown(_)),
            reason: format!("poison-pill:{}", e.reason()),
            error: e.to_string(),
        };
        let value = match claim_check::check_out(self.claim_check.as_deref(), &rec.headers).await {
            None => {
                return crate::wire::decode_ref_with::<H::Events>(
                    &rec.headers,
                    rec.payload(),
                    &self.config.ce_types,
                )
                .map_err(poison);
            }
            Some(fetched) => fetched.map_err(|e| Undecoded {
                unknown: false,
                reason: "claim-check-failed".to_string(),
                error: e.to_string(),
            })?,
        };
        crate::wire::decode_ref_with::<H::Events>(&rec.headers, &value, &self.config.ce_types)
            .map_err(poison)
    }

    /// A record that did not decode: an unknown event type or version is skipped and counted
    /// when the configuration says so; anything else is a poison pill for the dead-letter topic.
    pub(crate) async fn undecodable(
        &self,
        rec: &ReceivedRecord,
        topic: &str,
        u: Undecoded,
        shutdown: &Shutdown,
    ) -> Outcome {
        if u.unknown && self.config.unknown_events == UnknownEvents::Skip {
            // A producer is ahead of this consumer: the event is not for this version of it.
            metrics::counter!("carebus_unknown_events_skipped_total", "topic" => topic.to_owned())
                .increment(1);
            tracing::debug!(%topic, partition = rec.partition, offset = rec.offset, reason = %u.reason, "unknown event skipped");
            return Outcome::Done;
        }
        metrics::counter!("carebus_poison_pills_total", "topic" => topic.to_owned()).increment(1);
        tracing::warn!(%topic, partition = rec.partition, offset = rec.offset, reason = %u.reason, "poison pill");
        self.dead_letter(rec, topic, &u.reason, &u.error, 0, shutdown)
            .await
    }

    /// Process an owned record: decode (a poison pill goes to the dead-letter topic), skip a
    /// duplicate, run the handler, retry or forward it when it fails.
    pub(crate) async fn process(
        self: &Arc<Self>,
        rec: ReceivedRecord,
        shutdown: &Shutdown,
    ) -> Outcome {
        let topic = dl::original_topic(&rec);
        let (env, event) = match self.decode(&rec).await {
            Ok(decoded) => decoded,
            Err(u) => return self.undecodable(&rec, &topic, u, shutdown).await,
        };
        let Some((ctx, previous)) = self.admit(
            &env,
            &rec.headers,
            &topic,
            rec.partition,
            rec.offset,
            &mut None,
        ) else {
            return Outcome::Done;
        };
        let first = self.attempt(&ctx, event).await;
        self.conclude(rec, ctx, first, previous, shutdown).await
    }

    /// Start a borrowed record in the poll loop: decode it and poll its handler once. A record
    /// finished there is never copied; one that is not (its handler waits or failed, or it
    /// needs the owned path: claim check, poison pill) is copied into the job that goes on.
    /// `permit` is held while the handler runs (here, then in the job that goes on), so the
    /// processing mode's bound on handlers running at once holds for both.
    /// `found` is its headers' index; `own` is its headers if some are carebus's own, else
    /// empty. A record finished here leaves its context and permit in `spare` for the next.
    pub(crate) fn start(
        self: &Arc<Self>,
        view: RecordView<'_>,
        found: &KnownHeaders<'_>,
        own: &[(&str, &[u8])],
        permit: OwnedSemaphorePermit,
        shutdown: &Shutdown,
        spare: &mut Spare,
    ) -> Start {
        let owned = |rec: ReceivedRecord, permit: OwnedSemaphorePermit| {
            let (this, shutdown) = (self.clone(), shutdown.clone());
            Start::Running(Box::pin(async move {
                let _permit = permit;
                this.process(rec, &shutdown).await
            }))
        };
        if header(own, claim_check::CLAIM_CHECK_HEADER).is_some() {
            return owned(view.to_received(), permit);
        }
        // What `wire::decode_ref` does (the caller found the headers), in steps whose results
        // are not moved around: the envelope (binary mode; structured mode takes the owned
        // path), then the event.
        let content_type = found.content_type();
        if content_type.starts_with(crate::wire::CONTENT_TYPE_STRUCTURED) {
            return owned(view.to_received(), permit);
        }
        let Ok(mut env) = EnvelopeRef::from_known(found) else {
            return owned(view.to_received(), permit);
        };
        let json_form = crate::wire::JsonForm::of(
            header(own, crate::envelope::headers::JSON_FORM),
            !env.aggregate_type.is_empty(),
        );
        let Ok(event) = crate::wire::decode_binary::<H::Events>(
            &mut env,
            content_type,
            view.payload(),
            &self.config.ce_types,
            json_form,
        ) else {
            return owned(view.to_received(), permit);
        };
        let topic = dl::original_topic_in(own, view.topic);
        let Some((ctx, previous)) = self.admit(
            &env,
            own,
            topic,
            view.partition,
            view.offset,
            &mut spare.context,
        ) else {
            spare.permit = Some(permit);
            return Start::Finished(Outcome::Done);
        };
        let mut first: std::pin::Pin<Box<dyn Future<Output = HandlerResult> + Send>> =
            Box::pin(self.attempt(&ctx, event));
        // A waker that does nothing: a handler that waits is polled again by the lane worker
        // it moves to, which registers the worker's waker.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            first.as_mut().poll(&mut cx)
        }));
        let first = match polled {
            Err(_) => return Start::Panicked,
            Ok(std::task::Poll::Ready(Ok(()))) => {
                drop(first);
                spare.context = Some(ctx);
                spare.permit = Some(permit);
                return Start::Finished(Outcome::Done);
            }
            Ok(std::task::Poll::Ready(Err(e))) => Err(e),
            Ok(std::task::Poll::Pending) => Ok(first),
        };
        let rec = view.to_received();
        let (this, shutdown) = (self.clone(), shutdown.clone());
        Start::Running(Box::pin(async move {
            let _permit = permit;
            let result = match first {
                Ok(running) => running.await,
                Err(error) => Err(error),
            };
            this.conclude(rec, ctx, result, previous, &shutdown).await
        }))
    }

    /// A decoded record's handler context, or `None` for a duplicate (skipped); with the
    /// attempts it already had before (retry topics). The context refills `spare` when
    /// nothing else holds that one any more.
    fn admit(
        &self,
        env: &EnvelopeRef<'_>,
        headers: &[(impl AsRef<str>, impl AsRef<[u8]>)],
        topic: &str,
        partition: i32,
        offset: i64,
        spare: &mut Option<Arc<HandlerContext>>,
    ) -> Option<(Arc<HandlerContext>, u32)> {
        if let Some(d) = &self.dedupe
            && d.seen(&env.event_id)
        {
            metrics::counter!("carebus_duplicates_skipped_total", "topic" => topic.to_owned())
                .increment(1);
            return None;
        }
        let previous: u32 = parse_header(headers, ATTEMPTS).unwrap_or(0);
        let fields = context_of(env, headers, topic, partition, offset, previous + 1);
        let ctx = match spare.take() {
            Some(mut ctx) => match Arc::get_mut(&mut ctx) {
                Some(unshared) => {
                    unshared.refill(fields);
                    ctx
                }
                None => Arc::new(fields.into()),
            },
            None => Arc::new(fields.into()),
        };
        Some((ctx, previous))
    }

    /// One call of the handler, in its span, timed and counted. The context is the current one
    /// while the handler is polled (events it publishes inherit correlation and cause). The
    /// handler's future is wrapped once, not nested in one future per layer: a record's event
    /// is moved fewer times on its way to the handler.
    fn attempt(
        self: &Arc<Self>,
        ctx: &Arc<HandlerContext>,
        event: H::Events,
    ) -> crate::context::Handling<impl Future<Output = HandlerResult> + Send + 'static> {
        let span = if crate::context::spans_seen() {
            tracing::info_span!(
                "handle",
                topic = ctx.topic(),
                event_type = ctx.event_type(),
                event_id = ctx.event_id(),
                correlation_id = ctx.correlation_id().unwrap_or(""),
                attempt = ctx.attempt,
            )
        } else {
            tracing::Span::none()
        };
        let (this, shared) = (self.clone(), ctx.clone());
        crate::context::Handling::new(ctx.clone(), span, async move {
            let started = crate::observe::started();
            let result = this.handler.handle(&shared, event).await;
            this.handled(&shared, started, &result);
            result
        })
    }

    /// Metrics (and the dedupe store) after a handler call that started at `started`.
    fn handled(&self, ctx: &HandlerContext, started: quanta::Instant, result: &HandlerResult) {
        let register = |topic: &str| {
            (
                metrics::histogram!("carebus_handle_duration_seconds", "topic" => topic.to_string()),
                metrics::counter!("carebus_consumed_total", "topic" => topic.to_string()),
            )
        };
        let elapsed = started.elapsed().as_secs_f64();
        self.metrics
            .with(ctx.topic(), register, |(duration, consumed)| {
                duration.record(elapsed);
                if result.is_ok() {
                    consumed.increment(1);
                }
            });
        if result.is_ok()
            && let Some(d) = &self.dedupe
        {
            d.remember(ctx.event_id());
        }
    }

    /// After the first attempt: done, or in-place retries with backoff, then a retry topic or
    /// the dead-letter topic. A retry decodes the record again (it decoded once, so it does
    /// again), which spares a copy of every event for the rare retry.
    async fn conclude(
        self: &Arc<Self>,
        rec: ReceivedRecord,
        mut ctx: Arc<HandlerContext>,
        first: HandlerResult,
        previous: u32,
        shutdown: &Shutdown,
    ) -> Outcome {
        let mut error = match first {
            Ok(()) => return Outcome::Done,
            Err(e) => e,
        };
        let policy = &self.config.retry;
        let topic = ctx.topic().to_owned();
        let mut attempt = 1;
        loop {
            metrics::counter!("carebus_handler_errors_total", "topic" => topic.clone())
                .increment(1);
            tracing::warn!(error = %error, attempt, "handler failed");
            let total = previous + attempt;
            if error.kind == HandlerErrorKind::Permanent {
                return self
                    .dead_letter(
                        &rec,
                        &topic,
                        "handler-failed",
                        &error.message,
                        total,
                        shutdown,
                    )
                    .await;
            }
            if attempt >= policy.attempts.max(1) {
                return self
                    .give_up(&rec, &topic, &error.message, total, shutdown)
                    .await;
            }
            metrics::counter!("carebus_consume_retries_total", "topic" => topic.clone())
                .increment(1);
            let mut sd = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(policy.backoff(attempt)) => {}
                _ = sd.wait() => return Outcome::Interrupted,
            }
            attempt += 1;
            let event = match self.decode(&rec).await {
                Ok((_, event)) => event,
                Err(Undecoded { reason, error, .. }) => {
                    return self
                        .dead_letter(&rec, &topic, &reason, &error, 0, shutdown)
                        .await;
                }
            };
            Arc::make_mut(&mut ctx).attempt = previous + attempt;
            match self.attempt(&ctx, event).await {
                Ok(()) => return Outcome::Done,
                Err(e) => error = e,
            }
        }
    }

    /// In-place retries are used up: next retry topic, else the dead-letter topic.
    async fn give_up(
        &self,
        rec: &ReceivedRecord,
        topic: &str,
        error: &str,
        attempts: u32,
        shutdown: &Shutdown,
    ) -> Outcome {
        let level: usize = parse_header(&rec.headers, RETRY_LEVEL).unwrap_or(0);
        let Some(delay) = self.config.retry_topic_delays.get(level) else {
            return self
                .dead_letter(rec, topic, "handler-failed", error, attempts, shutdown)
                .await;
        };
        let not_before = chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64;
        let mut extra = vec![
            (RETRY_LEVEL.into(), (level + 1).to_string().into_bytes()),
            (NOT_BEFORE.into(), not_before.to_string().into_bytes()),
            (ATTEMPTS.into(), attempts.to_string().into_bytes()),
        ];
        extra.push((dl::ERROR.into(), error.as_bytes().to_vec()));
        let record = dl::forward(rec, dl::retry_topic(topic, level + 1), extra);
        metrics::counter!("carebus_retry_topic_forwards_total", "topic" => topic.to_string())
            .increment(1);
        self.send_until_done(record, shutdown).await
    }

    pub(crate) async fn dead_letter(
        &self,
        rec: &ReceivedRecord,
        topic: &str,
        reason: &str,
        error: &str,
        attempts: u32,
        shutdown: &Shutdown,
    ) -> Outcome {
        if !self.config.dead_letter {
            return Outcome::Failed(format!(
                "{topic}[{}] offset {}: {reason}: {error}",
                rec.partition, rec.offset
            ));
        }
        let record = dl::forward(
            rec,
            dl::dlq_topic(topic),
            dl::dead_letter_headers(reason, error, attempts),
        );
        let outcome = self.send_until_done(record, shutdown).await;
        if outcome == Outcome::Done {
            metrics::counter!("carebus_dead_lettered_total", "topic" => topic.to_string())
                .increment(1);
        }
        outcome
    }

    /// Send a forwarded record, retrying transport errors until it is accepted or shutdown. A
    /// forward refused as too large goes once more without its payload
    /// ([`dl::without_payload`]), so a record at the size limit cannot wedge the partition.
    async fn send_until_done(&self, mut record: Record, shutdown: &Shutdown) -> Outcome {
        let mut attempt = 1;
        let mut slimmed = false;
        loop {
            match self.publisher.transport().send_ref(&record).await {
                Ok(_) => return Outcome::Done,
                Err(e)
                    if !slimmed
                        && matches!(e.kind(), TransportErrorKind::MessageTooLarge { .. }) =>
                {
                    tracing::warn!(topic = %record.topic, error = %e,
                        "forward too large with its headers; sending it without its payload");
                    metrics::counter!("carebus_forwards_without_payload_total",
                        "topic" => record.topic.clone())
                    .increment(1);
                    record = dl::without_payload(record, self.claim_check.as_deref()).await;
                    slimmed = true;
                }
                Err(e) if !e.is_retriable() => {
                    return Outcome::Failed(format!("cannot forward to {}: {e}", record.topic));
                }
                Err(e) => {
                    tracing::warn!(error = %e, topic = %record.topic, "forwarding failed; retrying");
                    let mut sd = shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.retry.backoff(attempt)) => {}
                        _ = sd.wait() => return Outcome::Interrupted,
                    }
                    attempt += 1;
                }
            }
        }
    }
}
