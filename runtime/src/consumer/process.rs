//! One received record turned into a handled event: claim check, decode (poison pills to the dead-letter topic), dedupe, the handler with in-place retries, then a retry topic or the dead-letter topic when it keeps failing.

use super::ConsumerConfig;
use super::dedupe::DedupeStore;
use super::shutdown::Shutdown;
use crate::claim_check::{self, SharedClaimCheck};
use crate::dead_letter::{self as dl, ATTEMPTS, NOT_BEFORE, RETRY_LEVEL};
use crate::envelope::Envelope;
use crate::handler::{HandlerContext, HandlerErrorKind};
use crate::publisher::Publisher;
use crate::topic::TopicHandler;
use crate::transport::{Headers, ReceivedRecord, Record, Transport, header_str};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

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
}

fn parse_header<N: std::str::FromStr>(h: &Headers, name: &str) -> Option<N> {
    header_str(h, name).and_then(|s| s.parse().ok())
}

/// Whether a record may be handled now: not held back by a retry topic's
/// `carebus_not_before` time.
pub(crate) fn due(rec: &ReceivedRecord) -> bool {
    parse_header::<i64>(&rec.headers, NOT_BEFORE)
        .is_none_or(|not_before| not_before <= chrono::Utc::now().timestamp_millis())
}

/// Retry topics: wait until the record's `carebus_not_before` time. `false` when shutdown
/// came first.
pub(crate) async fn wait_not_before(rec: &ReceivedRecord, shutdown: &Shutdown) -> bool {
    let Some(not_before) = parse_header::<i64>(&rec.headers, NOT_BEFORE) else {
        return true;
    };
    let wait = not_before - chrono::Utc::now().timestamp_millis();
    if wait <= 0 {
        return true;
    }
    let mut sd = shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => true,
        _ = sd.wait() => false,
    }
}

/// The handler context of a decoded record (its envelope moves into it).
pub(crate) fn context(env: Envelope, rec: &ReceivedRecord, attempt: u32) -> HandlerContext {
    HandlerContext {
        event_id: env.event_id,
        event_type: env.event_type,
        event_version: env.event_version,
        aggregate_id: env.aggregate_id,
        aggregate_type: env.aggregate_type,
        tenant_id: env.tenant_id,
        correlation_id: env.correlation_id,
        causation_id: env.causation_id,
        topic: dl::original_topic(rec),
        partition: rec.partition,
        offset: rec.offset,
        attempt,
        reply_to: header_str(&rec.headers, crate::publisher::REPLY_TO_HEADER).map(str::to_owned),
        traceparent: env.traceparent,
        source: Some(env.metadata.source).filter(|s| !s.is_empty()),
        user_id: env.metadata.user_id,
    }
}

impl<T: Transport, H: TopicHandler> Processor<T, H> {
    /// Decode a record (after the claim check), or say why it is a poison pill.
    pub(crate) fn decode(
        &self,
        rec: &ReceivedRecord,
    ) -> Result<(Envelope, H::Events), (String, String)> {
        let poison =
            |e: crate::wire::WireError| (format!("poison-pill:{}", e.reason()), e.to_string());
        if header_str(&rec.headers, claim_check::CLAIM_CHECK_HEADER).is_none() {
            return crate::wire::decode::<H::Events>(&rec.headers, &rec.value).map_err(poison);
        }
        let value =
            claim_check::check_out(self.claim_check.as_deref(), &rec.headers, rec.value.clone())
                .map_err(|e| ("claim-check-failed".to_string(), e.to_string()))?;
        crate::wire::decode::<H::Events>(&rec.headers, &value).map_err(poison)
    }

    pub(crate) async fn process(&self, rec: ReceivedRecord, shutdown: &Shutdown) -> Outcome {
        let topic = dl::original_topic(&rec);
        let (env, event) = match self.decode(&rec) {
            Ok(decoded) => decoded,
            Err((reason, error)) => {
                metrics::counter!("carebus_poison_pills_total", "topic" => topic.clone())
                    .increment(1);
                tracing::warn!(%topic, partition = rec.partition, offset = rec.offset, %reason, "poison pill");
                return self
                    .dead_letter(&rec, &topic, &reason, &error, 0, shutdown)
                    .await;
            }
        };
        if let Some(d) = &self.dedupe
            && d.seen(&env.event_id)
        {
            metrics::counter!("carebus_duplicates_skipped_total", "topic" => topic).increment(1);
            return Outcome::Done;
        }
        let previous: u32 = parse_header(&rec.headers, ATTEMPTS).unwrap_or(0);
        // Shared with the task-local of the handler; a retry changes only its attempt.
        let mut ctx = Arc::new(context(env, &rec, previous + 1));
        let policy = &self.config.retry;
        let mut attempt = 1;
        // The first attempt takes the decoded event; a retry decodes it again (it decoded
        // once, so it does again), which spares a copy of every event for the rare retry.
        let mut decoded = Some(event);
        loop {
            let event = match decoded.take() {
                Some(event) => event,
                None => match self.decode(&rec) {
                    Ok((_, event)) => event,
                    Err((reason, error)) => {
                        return self
                            .dead_letter(&rec, &topic, &reason, &error, 0, shutdown)
                            .await;
                    }
                },
            };
            Arc::make_mut(&mut ctx).attempt = previous + attempt;
            let span = tracing::info_span!(
                "handle",
                topic = %topic,
                event_type = %ctx.event_type,
                event_id = %ctx.event_id,
                correlation_id = ctx.correlation_id.as_deref().unwrap_or(""),
                attempt = ctx.attempt,
            );
            let started = std::time::Instant::now();
            let result =
                crate::context::within_shared(ctx.clone(), self.handler.handle(&ctx, event))
                    .instrument(span)
                    .await;
            metrics::histogram!("carebus_handle_duration_seconds", "topic" => topic.clone())
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(()) => {
                    metrics::counter!("carebus_consumed_total", "topic" => topic.clone())
                        .increment(1);
                    if let Some(d) = &self.dedupe {
                        d.remember(&ctx.event_id);
                    }
                    return Outcome::Done;
                }
                Err(e) => e,
            };
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

    /// Send a forwarded record, retrying transport errors until it is accepted or shutdown.
    async fn send_until_done(&self, record: Record, shutdown: &Shutdown) -> Outcome {
        let mut attempt = 1;
        loop {
            match self.publisher.transport().send_ref(&record).await {
                Ok(_) => return Outcome::Done,
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
