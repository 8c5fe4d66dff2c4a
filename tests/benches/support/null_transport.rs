//! A transport that does nothing, for the benchmarks that measure carebus's own CPU cost per event: sends are acknowledged at once; consumers hand out a queue of owned records, or lend one record over and over as the Kafka consumer lends librdkafka's messages.

use carebus::transport::{
    ConsumerEvent, Polled, ReceivedRecord, Record, RecordPosition, RecordView, SubscribeConfig,
    TopicPartition, Transport, TransportConsumer, TransportError,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOPIC: &str = "healthcare.patients.events";

/// Acknowledges every send at once; its consumers hand out a queue of pre-built records, or
/// lend one record over and over (see [`Lent`]).
#[derive(Clone, Default)]
pub struct NullTransport {
    offset: Arc<AtomicI64>,
    pub records: Arc<Mutex<VecDeque<ReceivedRecord>>>,
    pub lent: Arc<Lent>,
}

/// One record lent `remaining` more times with offsets counting up, without a copy, the way
/// the Kafka consumer lends librdkafka's messages.
#[derive(Default)]
pub struct Lent {
    pub record: std::sync::OnceLock<ReceivedRecord>,
    pub remaining: AtomicUsize,
    pub next: AtomicI64,
}

impl Lent {
    /// Lend the record to `visit` once more, if it has lends left.
    pub fn lend<R>(&self, visit: impl FnOnce(RecordView<'_>) -> R) -> Option<R> {
        let record = self.record.get()?;
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok()?;
        let offset = self.next.fetch_add(1, Ordering::Relaxed);
        Some(with_headers(record, |headers| {
            visit(RecordView {
                topic: &record.topic,
                partition: 0,
                offset,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers,
                timestamp_ms: 0,
            })
        }))
    }
}

/// A record's header list borrowed on the stack, as the Kafka consumer builds it.
fn with_headers<R>(record: &ReceivedRecord, f: impl FnOnce(&[(&str, &[u8])]) -> R) -> R {
    let mut on_stack: [(&str, &[u8]); 24] = [("", &[]); 24];
    for (slot, (name, value)) in on_stack.iter_mut().zip(&record.headers) {
        *slot = (&**name, value.as_slice());
    }
    f(&on_stack[..record.headers.len().min(24)])
}

impl Transport for NullTransport {
    type Consumer = NullConsumer;

    async fn send(&self, record: Record) -> Result<RecordPosition, TransportError> {
        self.send_ref(&record).await
    }

    /// Like Kafka's: the record is copied out of the borrow (here: only its topic).
    async fn send_ref(&self, record: &Record) -> Result<RecordPosition, TransportError> {
        Ok(RecordPosition {
            topic: record.topic.clone(),
            partition: 0,
            offset: self.offset.fetch_add(1, Ordering::Relaxed),
        })
    }

    async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        let mut positions = Vec::with_capacity(records.len());
        for r in records {
            positions.push(self.send(r).await?);
        }
        Ok(positions)
    }

    async fn flush(&self, _: Duration) -> Result<(), TransportError> {
        Ok(())
    }

    async fn partition_count(&self, _: &str) -> Result<i32, TransportError> {
        Ok(1)
    }

    async fn subscribe(&self, _: SubscribeConfig) -> Result<NullConsumer, TransportError> {
        Ok(NullConsumer {
            records: self.records.clone(),
            lent: self.lent.clone(),
        })
    }
}

pub struct NullConsumer {
    records: Arc<Mutex<VecDeque<ReceivedRecord>>>,
    lent: Arc<Lent>,
}

impl TransportConsumer for NullConsumer {
    async fn poll_view<R: Send>(
        &self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R + Send,
    ) -> Result<Option<Polled<R>>, TransportError> {
        let mut visit = Some(visit);
        if let Some(r) = self
            .lent
            .lend(|view| (visit.take().expect("lent once"))(view))
        {
            return Ok(Some(Polled::Record(r)));
        }
        Ok(match self.poll(timeout).await? {
            None => None,
            Some(ConsumerEvent::Record(record)) => Some(Polled::Record(carebus::transport::lend(
                &record,
                visit.take().expect("not lent"),
            ))),
            Some(notice) => Some(Polled::Notice(notice)),
        })
    }

    async fn poll(&self, timeout: Duration) -> Result<Option<ConsumerEvent>, TransportError> {
        let next = self.records.lock().unwrap().pop_front();
        match next {
            Some(r) => Ok(Some(ConsumerEvent::Record(r))),
            None => {
                tokio::time::sleep(timeout.min(Duration::from_millis(1))).await;
                Ok(None)
            }
        }
    }
    fn store_offset(&self, _: &TopicPartition, _: i64) -> Result<(), TransportError> {
        Ok(())
    }
    async fn commit(&self) -> Result<(), TransportError> {
        Ok(())
    }
    async fn committed(&self, _: &TopicPartition) -> Result<Option<i64>, TransportError> {
        Ok(None)
    }
    fn pause(&self, _: &[TopicPartition]) -> Result<(), TransportError> {
        Ok(())
    }
    fn resume(&self, _: &[TopicPartition]) -> Result<(), TransportError> {
        Ok(())
    }
    fn seek(&self, _: &TopicPartition, _: i64) -> Result<(), TransportError> {
        Ok(())
    }
    fn assignment(&self) -> Result<Vec<TopicPartition>, TransportError> {
        Ok(vec![TopicPartition::new(TOPIC, 0)])
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

pub fn received(record: Record, offset: i64) -> ReceivedRecord {
    ReceivedRecord {
        topic: record.topic,
        partition: 0,
        offset,
        key: record.key,
        value: record.value,
        headers: record.headers,
        timestamp_ms: 0,
    }
}
