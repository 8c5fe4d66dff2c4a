//! The Kafka → store sink: records of consumed topics into the event store, idempotently by event id (the audit trail), each in its aggregate's stream, committing offsets only after the append.
//!
//! A record needs the CloudEvents binary-mode headers carebus publishers write (the envelope:
//! `ce_id`, `ce_type`, version, aggregate, ...); its value is stored as the payload (Avro
//! single-object framing stripped, the fingerprint kept). Appends use
//! [`ExpectedVersion::Any`] on `stream_name(aggregate_type, aggregate_id)`; an event id
//! already stored is a no-op, so redelivery after a crash or rebalance never duplicates.
//! Records without a valid envelope are counted and logged (topic, partition, offset; never
//! the value) and skipped.

use super::EventStore;
use super::error::StoreError;
use super::event::{EventContext, ExpectedVersion, NewEvent, stream_name};
use carebus_core::envelope::Envelope;
use carebus_core::event::PayloadFormat;
use carebus_core::transport::{
    ConsumerEvent, ReceivedRecord, SubscribeConfig, Transport, TransportConsumer, header_str,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a sink run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records appended as new events.
    pub stored: u64,
    /// Records whose event id was already stored.
    pub duplicates: u64,
    /// Records without a valid envelope (skipped).
    pub rejected: u64,
}

/// Archives consumed records into a store.
pub struct AuditSink<S, T> {
    store: S,
    transport: Arc<T>,
    subscribe: SubscribeConfig,
}

/// The event a record carries, or why it carries none (no PHI in the reason).
pub fn record_to_event(record: &ReceivedRecord) -> Result<NewEvent, String> {
    let env = Envelope::from_headers(&record.headers).map_err(|e| e.to_string())?;
    let event_id = carebus_core::Uuid::parse(&env.event_id)
        .map_err(|_| "the ce_id header is not a UUID".to_string())?;
    let protobuf = header_str(
        &record.headers,
        carebus_core::envelope::headers::CONTENT_TYPE,
    )
    .is_some_and(|c| c.contains("protobuf"));
    let mut data = record.value.as_slice();
    let mut fingerprint = env.schema_fingerprint;
    if !protobuf && let Some(fp) = carebus_core::wire::single_object_fingerprint(data) {
        fingerprint = fingerprint.or(Some(fp));
        data = &data[10..];
    }
    Ok(NewEvent {
        event_id,
        event_type: env.event_type,
        event_version: env.event_version.max(1),
        aggregate_type: env.aggregate_type,
        aggregate_id: env.aggregate_id,
        topic: record.topic.clone(),
        format: if protobuf {
            PayloadFormat::Protobuf
        } else {
            PayloadFormat::Avro
        },
        fingerprint: fingerprint.unwrap_or(0),
        data: data.to_vec(),
        data_json: None,
        context: EventContext {
            tenant_id: env.tenant_id,
            correlation_id: env.correlation_id,
            causation_id: env.causation_id,
            user_id: env.metadata.user_id,
            source: env.metadata.source,
            ip_address: env.metadata.ip_address,
            traceparent: env.traceparent,
            event_time: Some(env.event_time),
        },
        event_time: env.event_time,
    })
}

impl<S: EventStore, T: Transport> AuditSink<S, T> {
    pub fn new(store: S, transport: Arc<T>, subscribe: SubscribeConfig) -> Self {
        AuditSink {
            store,
            transport,
            subscribe,
        }
    }

    /// Consume and store until `stop` resolves; offsets are committed on the way out.
    pub async fn run(
        &self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<SinkStats, StoreError> {
        let transport_error = |e: carebus_core::transport::TransportError| StoreError::Backend {
            operation: "audit sink consume",
            message: e.to_string(),
            retriable: e.is_retriable(),
            source: None,
        };
        let consumer = self
            .transport
            .subscribe(self.subscribe.clone())
            .await
            .map_err(transport_error)?;
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
                Err(e) => return Err(transport_error(e)),
            };
            match record_to_event(&record) {
                Ok(event) => {
                    let stream = stream_name(&event.aggregate_type, &event.aggregate_id);
                    let done = self
                        .store
                        .append(&stream, ExpectedVersion::Any, vec![event])
                        .await?;
                    if done.duplicates > 0 {
                        stats.duplicates += 1;
                    } else {
                        stats.stored += 1;
                    }
                }
                Err(reason) => {
                    stats.rejected += 1;
                    tracing::warn!(
                        topic = %record.topic,
                        partition = record.partition,
                        offset = record.offset,
                        reason = %reason,
                        "audit sink skipped a record without a valid event envelope"
                    );
                }
            }
            consumer
                .store_offset(&record.topic_partition(), record.offset + 1)
                .map_err(transport_error)?;
        }
        // Offsets are also auto-committed; a commit with nothing new stored is not an error.
        if let Err(e) = consumer.commit().await {
            tracing::debug!(error = %e, "audit sink final commit");
        }
        consumer.close().await.map_err(transport_error)?;
        Ok(stats)
    }
}
