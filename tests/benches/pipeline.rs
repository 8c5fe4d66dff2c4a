//! `cargo bench -p carebus-tests --bench pipeline`: the CPU cost per event of each layer of the typed publisher and consumer, with a transport that does nothing, so no broker noise hides it.
//!
//! Publish: `wire::encode` of a ready envelope; `Publisher::prepare` (validate + envelope +
//! encode); `prepare` + `send_prepared` (breaker, metrics, span) over a transport that answers
//! at once. Consume: `wire::decode` of a record; the whole `Consumer` (poll loop, offsets,
//! decode, dispatch to the generated handler) over a transport whose poll hands out pre-built
//! records. What is left of the Kafka benchmark's typed/raw gap after these is librdkafka.

use carebus::transport::{
    ConsumerEvent, ReceivedRecord, Record, RecordPosition, SubscribeConfig, TopicPartition,
    Transport, TransportConsumer, TransportError,
};
use carebus::{Consumer, ConsumerConfig, PublishOptions, Publisher, PublisherConfig, Shutdown};
use carebus_schemas::PatientsDispatcher;
use carebus_tests::{DeactivationProbe, bench_event};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "healthcare.patients.events";

/// Acknowledges every send at once; its consumers hand out a queue of pre-built records.
#[derive(Clone, Default)]
struct NullTransport {
    offset: Arc<AtomicI64>,
    records: Arc<Mutex<VecDeque<ReceivedRecord>>>,
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
        })
    }
}

struct NullConsumer {
    records: Arc<Mutex<VecDeque<ReceivedRecord>>>,
}

impl TransportConsumer for NullConsumer {
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

fn received(record: Record, offset: i64) -> ReceivedRecord {
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

fn publish(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let publisher = Publisher::new(NullTransport::default(), PublisherConfig::default()).unwrap();
    let e = bench_event(7);
    let prepared = publisher.prepare(&e, PublishOptions::default()).unwrap();
    let envelope = carebus::envelope::Envelope::from_headers(&prepared.headers).unwrap();
    let mut g = c.benchmark_group("publish");
    g.throughput(Throughput::Elements(1));
    g.bench_function("wire::encode", |b| {
        b.iter_batched(
            || envelope.clone(),
            |envelope| carebus::wire::encode(envelope, black_box(&e), &Default::default()).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("prepare", |b| {
        b.iter(|| {
            publisher
                .prepare(black_box(&e), PublishOptions::default())
                .unwrap()
        })
    });
    g.bench_function("prepare+send_prepared", |b| {
        b.to_async(&rt).iter(|| async {
            let record = publisher
                .prepare(black_box(&e), PublishOptions::default())
                .unwrap();
            publisher.send_prepared(record).await.unwrap()
        })
    });
    g.finish();
}

fn consume(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let transport = NullTransport::default();
    let publisher = {
        let _guard = rt.enter();
        Publisher::new(transport.clone(), PublisherConfig::default()).unwrap()
    };
    let record = publisher
        .prepare(&bench_event(7), PublishOptions::default())
        .unwrap();
    let one = received(record.clone(), 0);
    let mut g = c.benchmark_group("consume");
    g.throughput(Throughput::Elements(1));
    g.bench_function("wire::decode", |b| {
        b.iter(|| {
            carebus::wire::decode::<carebus_schemas::PatientsEvent>(
                black_box(&one.headers),
                black_box(&one.value),
            )
            .unwrap()
        })
    });
    // The whole consumer: `iters` records queued, timed from the run's start to the last one
    // handled.
    g.bench_function("Consumer::run (sequential)", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let transport = transport.clone();
            let publisher = publisher.clone();
            let record = record.clone();
            async move {
                let n = iters as usize;
                {
                    let mut queue = transport.records.lock().unwrap();
                    queue.clear();
                    queue.extend((0..n).map(|i| received(record.clone(), i as i64)));
                }
                let probe = DeactivationProbe::default();
                let mut config = ConsumerConfig::new("bench");
                config.topics = vec![TOPIC.to_string()];
                let consumer = Consumer::new(publisher, config);
                let (stop, shutdown) = Shutdown::channel();
                let started = Instant::now();
                let run = consumer.run(PatientsDispatcher(probe.clone()), shutdown);
                let watch = async {
                    while probe.seen() < n {
                        tokio::task::yield_now().await;
                    }
                    stop.trigger();
                    started.elapsed()
                };
                let (report, elapsed) = tokio::join!(run, watch);
                report.expect("consumer run");
                elapsed
            }
        })
    });
    g.finish();
}

criterion_group!(benches, publish, consume);
criterion_main!(benches);
