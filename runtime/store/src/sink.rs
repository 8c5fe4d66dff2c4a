//! The Kafka → store sink: records of one topic into the event store (the audit trail), each decoded to its typed event and stored in its aggregate's stream, idempotently by event id; a record it cannot store goes to the topic's dead-letter topic with the reason, and no offset is committed before its record is stored or dead-lettered.
//!
//! Every framing a consumer reads is stored (through
//! [`wire::decode`](carebus_core::wire::decode)): Avro single-object, Confluent, Protobuf,
//! JSON, and CloudEvents structured mode; a claim-checked record is stored
//! with its payload fetched from the claim-check store, not the reference. The stored payload
//! is the event's binary form in its schema's format (Avro or Protobuf, the format column
//! says which), so it decodes later with [`decode_stored`](crate::decode_stored) whatever
//! framing it arrived in; its JSON form is stored beside it, so a crypto-shredding store finds
//! every event's patient and encrypts its PHI.
//!
//! Appends use [`ExpectedVersion::Any`] on `stream_name(aggregate_type, aggregate_id)`; an
//! event id already stored is a no-op, so redelivery after a crash or rebalance never
//! duplicates. A `ce_id` that is not a UUID (another producer's) is stored under a UUID derived
//! from the source and id, the same each time.

use super::EventStore;
use super::error::StoreError;
use super::event::{EventContext, ExpectedVersion, NewEvent, stream_name};
use carebus_core::claim_check::{self, SharedClaimCheck};
use carebus_core::dead_letter;
use carebus_core::envelope::Envelope;
use carebus_core::topic::TopicEvents;
use carebus_core::transport::{
    ConsumerEvent, ReceivedRecord, SubscribeConfig, Transport, TransportConsumer, TransportError,
};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Counter (label `topic`): records the sink could not store, sent to the dead-letter topic.
pub const DEAD_LETTERED_COUNTER: &str = "carebus_store_sink_dead_lettered_total";

/// What a sink run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records appended as new events.
    pub stored: u64,
    /// Records whose event id was already stored.
    pub duplicates: u64,
    /// Records it could not store, sent to the dead-letter topic with the reason.
    pub dead_lettered: u64,
}

/// Why a record cannot be stored: a short reason for the dead-letter header and an error
/// text, neither holding event data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unstorable {
    /// Short machine-readable reason for the `carebus_dlq_reason` header
    /// (`claim-check-failed`, `store-refused`, or the wire error's, e.g. `bad-envelope`).
    pub reason: &'static str,
    /// The error's text for the `carebus_dlq_error` header.
    pub error: String,
}

/// Archives the records of topic `E::TOPIC` into a store.
pub struct AuditSink<S, T, E> {
    store: S,
    transport: Arc<T>,
    subscribe: SubscribeConfig,
    claim_check: Option<SharedClaimCheck>,
    events: PhantomData<fn() -> E>,
}

/// The event a record carries, ready to append, or why it cannot be stored.
pub async fn record_to_event<E: TopicEvents>(
    record: &ReceivedRecord,
    claim_check: Option<&dyn claim_check::ClaimCheckStore>,
) -> Result<NewEvent, Unstorable> {
    let fetched = match claim_check::check_out(claim_check, &record.headers).await {
        None => None,
        Some(fetched) => Some(fetched.map_err(|e| Unstorable {
            reason: "claim-check-failed",
            error: e.to_string(),
        })?),
    };
    let value = fetched.as_deref().unwrap_or_else(|| record.payload());
    let (envelope, event) =
        carebus_core::wire::decode::<E>(&record.headers, value).map_err(|e| Unstorable {
            reason: e.reason(),
            error: e.to_string(),
        })?;
    let Envelope {
        event_id,
        event_time,
        tenant_id,
        correlation_id,
        causation_id,
        traceparent,
        metadata,
        ..
    } = envelope;
    let event_id = carebus_core::Uuid::parse(&event_id)
        .unwrap_or_else(|_| name_based_id(&metadata.source, &event_id));
    let context = EventContext {
        tenant_id,
        correlation_id,
        causation_id,
        user_id: metadata.user_id,
        source: metadata.source,
        ip_address: metadata.ip_address,
        traceparent,
        event_time: Some(event_time),
    };
    Ok(NewEvent::from_topic_event(&event, &context).with_event_id(event_id))
}

/// A stable UUID for a CloudEvents id that is not one: FNV-1a (128 bit) of source and id, as a
/// version 8 (custom) UUID. The same record always maps to the same id, so redelivery stays
/// idempotent.
fn name_based_id(source: &str, id: &str) -> carebus_core::Uuid {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut hash = OFFSET;
    for byte in source.bytes().chain([0]).chain(id.bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    // Version 8, RFC 4122 variant.
    hash = (hash & !(0xf << 76)) | (0x8 << 76);
    hash = (hash & !(0x3 << 62)) | (0x2 << 62);
    carebus_core::Uuid::from_u128(hash)
}

impl<S: EventStore, T: Transport, E: TopicEvents> AuditSink<S, T, E> {
    /// A sink of `E::TOPIC` (the subscription's topics default to it) in consumer group
    /// `subscribe.group_id`.
    pub fn new(store: S, transport: Arc<T>, mut subscribe: SubscribeConfig) -> Self {
        if subscribe.topics.is_empty() {
            subscribe.topics = vec![E::TOPIC.to_string()];
        }
        AuditSink {
            store,
            transport,
            subscribe,
            claim_check: None,
            events: PhantomData,
        }
    }

    /// Fetch claim-checked payloads from `store` (the publishers' claim-check store).
    pub fn with_claim_check(mut self, store: SharedClaimCheck) -> Self {
        self.claim_check = Some(store);
        self
    }

    /// Consume and store until `stop` resolves; offsets are committed on the way out.
    pub async fn run(
        &self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<SinkStats, StoreError> {
        let consumer = self
            .transport
            .subscribe(self.subscribe.clone())
            .await
            .map_err(transport_error("audit sink subscribe"))?;
        let mut stats = SinkStats::default();
        let mut stop = std::pin::pin!(stop);
        loop {
            let polled = tokio::select! {
                _ = stop.as_mut() => break,
                p = consumer.poll(Duration::from_millis(200)) => p,
            };
            let record = match polled {
                Ok(Some(ConsumerEvent::Record(r))) => r,
                Ok(_) => continue,
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, "audit sink poll failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(e) => return Err(transport_error("audit sink poll")(e)),
            };
            let outcome = match record_to_event::<E>(&record, self.claim_check.as_deref()).await {
                Ok(event) => self.append(event).await,
                Err(unstorable) => Err(unstorable),
            };
            match outcome {
                Ok(true) => stats.stored += 1,
                Ok(false) => stats.duplicates += 1,
                Err(unstorable) => {
                    self.dead_letter(&record, &unstorable).await?;
                    stats.dead_lettered += 1;
                }
            }
            consumer
                .store_offset(&record.topic_partition(), record.offset + 1)
                .map_err(transport_error("audit sink store offset"))?;
        }
        // Offsets are also auto-committed; a commit with nothing new stored is not an error.
        if let Err(e) = consumer.commit().await {
            tracing::debug!(error = %e, "audit sink final commit");
        }
        consumer
            .close()
            .await
            .map_err(transport_error("audit sink close"))?;
        Ok(stats)
    }

    /// Append one event, retrying while the store is unavailable (retriable errors); `true`
    /// when it was new, `false` for a duplicate. An event the store refuses for good (an
    /// invalid stream, a broken constraint) is unstorable.
    async fn append(&self, event: NewEvent) -> Result<bool, Unstorable> {
        let stream = stream_name(&event.aggregate_type, &event.aggregate_id);
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .store
                .append(&stream, ExpectedVersion::Any, vec![event.clone()])
                .await
            {
                Ok(done) => return Ok(done.duplicates == 0),
                Err(e) if e.is_retriable() => {
                    tracing::warn!(%stream, error = %e, "audit sink append failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    return Err(Unstorable {
                        reason: "store-refused",
                        error: e.to_string(),
                    });
                }
            }
        }
    }

    /// Send a record the sink cannot store to its topic's dead-letter topic, with the reason;
    /// an error when that fails too (the record's offset is then not committed).
    async fn dead_letter(
        &self,
        record: &ReceivedRecord,
        why: &Unstorable,
    ) -> Result<(), StoreError> {
        let topic = dead_letter::original_topic(record);
        let target = dead_letter::dlq_topic(&topic);
        tracing::warn!(
            %topic,
            partition = record.partition,
            offset = record.offset,
            reason = why.reason,
            error = %why.error,
            dead_letter_topic = %target,
            "audit sink could not store a record; dead-lettered"
        );
        metrics::counter!(DEAD_LETTERED_COUNTER, "topic" => topic).increment(1);
        let headers = dead_letter::dead_letter_headers(why.reason, &why.error, 1);
        self.transport
            .send(dead_letter::forward(record, target, headers))
            .await
            .map(|_| ())
            .map_err(transport_error("audit sink dead-letter"))
    }
}

fn transport_error(operation: &'static str) -> impl Fn(TransportError) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: e.to_string(),
        retriable: e.is_retriable(),
        source: Some(Box::new(e)),
    }
}
