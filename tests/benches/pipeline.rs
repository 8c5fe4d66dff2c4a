//! `cargo bench -p carebus-tests --bench pipeline`: the CPU cost per event of each layer of the typed publisher and consumer, with a transport that does nothing, so no broker noise hides it.
//!
//! Publish: `wire::encode` of a ready envelope; `Publisher::prepare` (validate + envelope +
//! encode); `prepare` + `send_prepared` (breaker, metrics, span) over a transport that answers
//! at once. Consume: `wire::decode` of a record; the whole `Consumer` (poll loop, offsets,
//! decode, dispatch to the generated handler) over a transport whose poll hands out pre-built
//! records. What is left of the Kafka benchmark's typed/raw gap after these is librdkafka.

use carebus::{Consumer, ConsumerConfig, PublishOptions, Publisher, PublisherConfig, Shutdown};
use carebus_schemas::PatientsDispatcher;
use carebus_tests::{DeactivationProbe, RawEnvelope, bench_event};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use null_transport::{Lent, NullTransport, TOPIC, received};
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "support/null_transport.rs"]
mod null_transport;

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
                black_box(one.payload()),
            )
            .unwrap()
        })
    });
    // The whole consumer: `iters` records queued (owned, each dropped after handling), timed
    // from the run's start to the last one handled.
    g.bench_function("Consumer::run (sequential)", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let n = iters as usize;
            let mut queue = transport.records.lock().unwrap();
            queue.clear();
            queue.extend((0..n).map(|i| received(record.clone(), i as i64)));
            drop(queue);
            run_consumer(publisher.clone(), n)
        })
    });
    // The same, with one record lent `iters` times as the Kafka consumer lends librdkafka's
    // messages: the consumer's own cost per record.
    transport.lent.record.set(one.clone()).expect("set once");
    g.bench_function("Consumer::run (lent records)", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            transport
                .lent
                .remaining
                .store(iters as usize, Ordering::Relaxed);
            run_consumer(publisher.clone(), iters as usize)
        })
    });
    // What a hand-written consumer does with the same lent record to get the same event to the
    // same handler work: read the envelope, decode by type and version, call the probe. The
    // baseline of the Consumer's own cost (the Kafka benchmark's "raw reading envelope" row).
    let probe = DeactivationProbe::default();
    let lent = Lent::default();
    lent.record.set(one.clone()).expect("set once");
    g.bench_function("hand-written loop (lent records)", |b| {
        b.iter(|| {
            lent.remaining.store(1, Ordering::Relaxed);
            lent.lend(|view| {
                let env = RawEnvelope::read(view.headers.iter().copied());
                let event = env.handle(view.payload(), &probe);
                black_box((env, event));
            })
        })
    });
    g.finish();
}

/// Run a Consumer over the null transport until `n` deactivations were handled; the time from
/// its start to the last one.
async fn run_consumer(publisher: Publisher<NullTransport>, n: usize) -> Duration {
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

criterion_group!(benches, publish, consume);
criterion_main!(benches);
