//! `cargo bench -p carebus-tests --bench kafka`: typed carebus publishing and consuming against raw rdkafka with the same bytes on the same broker, printed as a table.
//!
//! Rows: publish throughput (typed publisher: validate + envelope + encode + send, vs raw
//! FutureProducer sending the same pre-built records); publish latency p50/p99/p99.9 at a
//! steady 2,000 events/s with acks=all (measured from each event's scheduled send time, so a
//! stall is not hidden); consume throughput over the same records (typed Consumer + generated
//! dispatcher vs a raw StreamConsumer loop that only touches payloads, vs one that also
//! decodes them and stores offsets, and vs one that also reads the CloudEvents envelope as a
//! hand-written consumer must); event creation → typed handler while publishing at that steady rate (an
//! upper bound of the consumer lag). Needs the single broker (`scripts/services up kafka`).
//! `CAREBUS_BENCH_EVENTS` sets the events per throughput run (default 200000: shorter runs, a fraction of a second each, swing too much between runs on a shared machine).

// Both sides, typed and raw, run on mimalloc: with glibc's malloc the typed paths (which
// allocate more per event) lose about a third of their throughput; services that care pick
// their allocator, and so does this benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::transport::Record;
use carebus::{Consumer, ConsumerConfig, PublishOptions, Publisher, PublisherConfig, Shutdown};
use carebus_schemas::{PatientDeactivated, PatientsDispatcher};
use carebus_tests::{
    DeactivationProbe, RawEnvelope, bench_event, bench_size, kafka_bootstrap, unique_name,
};
use futures::StreamExt;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends in flight at once in the throughput runs.
const WINDOW: usize = 5_000;
/// Runs of each throughput measure, alternating with the others; each keeps its best.
fn rounds() -> usize {
    bench_size(5, 1)
}
const RATE_PER_SEC: u64 = 2_000;
/// How long each steady-rate latency run publishes.
fn latency_run() -> Duration {
    Duration::from_secs(bench_size(5, 1) as u64)
}

/// A pause between measured runs, so the broker has finished with the last one's burst.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn create_topic(admin: &TopicAdmin, name: &str) {
    admin
        .apply(&[carebus::TopicSpec::new(name, 6, 1)])
        .await
        .expect("create bench topic");
}

/// Run the sends, [`WINDOW`] in flight at once, and time them until the last is
/// acknowledged. A failed send fails the benchmark: one that loses events measures nothing.
async fn timed_sends<T, E: std::fmt::Debug>(
    what: &str,
    sends: impl futures::Stream<Item = impl Future<Output = Result<T, E>>>,
) -> Duration {
    let started = Instant::now();
    let first_error = std::pin::pin!(
        sends
            .buffer_unordered(WINDOW)
            .filter_map(|r| std::future::ready(r.err()))
    )
    .next()
    .await;
    if let Some(e) = first_error {
        panic!("{what}: a send failed: {e:?}");
    }
    started.elapsed()
}

/// Typed: every event validated, enveloped, encoded and sent through the publisher.
async fn publish_typed(publisher: &Publisher<KafkaTransport>, topic: &str, n: usize) -> Duration {
    let events: Vec<PatientDeactivated> = (0..n).map(bench_event).collect();
    timed_sends(
        "typed publish lost events",
        futures::stream::iter(events).map(|e| async move {
            let record = publisher.prepare(&e, PublishOptions::default())?;
            let record = Record {
                topic: topic.to_string(),
                ..record.into_record()
            };
            publisher.send_prepared(record).await
        }),
    )
    .await
}

/// Raw: the same records (key, value, headers) already built, straight into rdkafka.
async fn publish_raw(producer: &FutureProducer, records: &[Record], topic: &str) -> Duration {
    timed_sends(
        "raw publish lost events",
        futures::stream::iter(records).map(|r| async move {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (key, value) in &r.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                });
            }
            let mut out = FutureRecord::<[u8], [u8]>::to(topic)
                .payload(r.payload())
                .headers(headers);
            if let Some(k) = &r.key {
                out = out.key(k.as_slice());
            }
            producer
                .send(out, Timeout::After(Duration::from_secs(30)))
                .await
        }),
    )
    .await
}

/// Raw, building each record by hand as code without carebus must to send the same bytes:
/// a UUID, the time, the Avro payload (with the generated codec, the fastest there is) in
/// single-object framing, and the same CloudEvents headers.
async fn publish_raw_building(producer: &FutureProducer, topic: &str, n: usize) -> Duration {
    use carebus::DomainEvent;
    use carebus::envelope::{headers as ce, new_traceparent};
    let events: Vec<PatientDeactivated> = (0..n).map(bench_event).collect();
    timed_sends(
        "raw building publish lost events",
        futures::stream::iter(events).map(|e| async move {
            let mut value = Vec::with_capacity(128);
            value.extend_from_slice(&carebus::wire::SINGLE_OBJECT_MAGIC);
            value.extend_from_slice(&PatientDeactivated::FINGERPRINT.to_le_bytes());
            e.encode_payload(&mut value);
            let id = uuid::Uuid::new_v4().to_string();
            let time = carebus::Timestamp::now().to_string();
            let version = PatientDeactivated::EVENT_VERSION.to_string();
            let traceparent = new_traceparent();
            let fingerprint = format!("{:016x}", PatientDeactivated::FINGERPRINT);
            let text_headers: [(&str, &str); 11] = [
                (ce::SPECVERSION, "1.0"),
                (ce::ID, &id),
                (ce::SOURCE, "carebus-bench"),
                (ce::TYPE, PatientDeactivated::EVENT_TYPE),
                (ce::TIME, &time),
                (ce::SUBJECT, &e.patient_id),
                (ce::EVENT_VERSION, &version),
                (ce::AGGREGATE_TYPE, PatientDeactivated::AGGREGATE_TYPE),
                (ce::TRACEPARENT, &traceparent),
                (ce::SCHEMA_FINGERPRINT, &fingerprint),
                (ce::CONTENT_TYPE, "application/avro"),
            ];
            let mut headers = OwnedHeaders::new_with_capacity(text_headers.len());
            for (key, value) in text_headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let out = FutureRecord::to(topic)
                .key(e.patient_id.as_str())
                .payload(value.as_slice())
                .headers(headers);
            producer
                .send(out, Timeout::After(Duration::from_secs(30)))
                .await
        }),
    )
    .await
}

/// Transport level: the same pre-built records (addressed to their topic) through the Kafka
/// transport's send.
async fn publish_transport(kafka: &KafkaTransport, records: &[Record]) -> Duration {
    use carebus::transport::Transport;
    timed_sends(
        "transport publish lost events",
        futures::stream::iter(records).map(|r| kafka.send_ref(r)),
    )
    .await
}

/// Publish at a steady rate; latency of each event from its scheduled time to its ack.
async fn latency(publisher: &Publisher<KafkaTransport>, topic: &str) -> Vec<Duration> {
    // Warm up: connections and metadata of a fresh producer are not what is measured.
    for i in 0..200 {
        let record = publisher
            .prepare(&bench_event(i), PublishOptions::default())
            .unwrap();
        let record = Record {
            topic: topic.to_string(),
            ..record.into_record()
        };
        publisher.send_prepared(record).await.unwrap();
    }
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SEC));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (RATE_PER_SEC as u128 * latency_run().as_millis() / 1000) as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = ticks.tick().await;
        let publisher = publisher.clone();
        let topic = topic.to_string();
        let samples = samples.clone();
        tasks.spawn(async move {
            let record = publisher
                .prepare(&bench_event(i), PublishOptions::default())
                .unwrap();
            let record = Record {
                topic,
                ..record.into_record()
            };
            publisher.send_prepared(record).await.unwrap();
            samples.lock().unwrap().push(scheduled.elapsed());
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut v = std::mem::take(&mut *samples.lock().unwrap());
    v.sort();
    v
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Publish at the steady rate (as [`latency`]) to a fresh topic while a typed consumer reads
/// it; returns the publish latencies and each event's creation-to-handler time.
async fn latency_with_consumer(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut config = ConsumerConfig::new(unique_name("bench_lag"));
    config.topics = vec![topic.to_string()];
    let consumer = Consumer::new(publisher.clone(), config);
    let (stop, shutdown) = Shutdown::channel();
    let probe = DeactivationProbe::default();
    let handler = PatientsDispatcher(probe.clone());
    let run = async { consumer.run(handler, shutdown).await };
    let wait_for = |n: usize| {
        let probe = probe.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while probe.seen() < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            probe.take_lags()
        }
    };
    let publish = async {
        // Nothing is measured until the consumer has joined the group and read a first event.
        let record = publisher
            .prepare(&bench_event(0), PublishOptions::default())
            .unwrap();
        let record = Record {
            topic: topic.to_string(),
            ..record.into_record()
        };
        publisher.send_prepared(record).await.unwrap();
        assert_eq!(wait_for(1).await.len(), 1, "the lag consumer never started");
        // `latency` sends 200 warm-up events, then the measured ones.
        let publish_latency = latency(publisher, topic).await;
        let handled = wait_for(publish_latency.len() + 201).await;
        stop.trigger();
        (publish_latency, handled)
    };
    let (report, (publish_latency, mut lags)) = tokio::join!(run, publish);
    report.expect("lag consumer run");
    assert_eq!(
        lags.len(),
        publish_latency.len() + 200,
        "the consumer lost events"
    );
    lags.sort();
    (publish_latency, lags)
}

/// Typed consume: the carebus Consumer decoding into generated events and dispatching.
/// Timed from the first handled event to the n-th (group join excluded).
async fn consume_typed(publisher: &Publisher<KafkaTransport>, topic: &str, n: usize) -> Duration {
    let probe = DeactivationProbe::until(n);
    let mut config = ConsumerConfig::new(unique_name("bench_typed"));
    config.topics = vec![topic.to_string()];
    let consumer = Consumer::new(publisher.clone(), config);
    let (stop, shutdown) = Shutdown::channel();
    let handler = PatientsDispatcher(probe.clone());
    let run = async { consumer.run(handler, shutdown).await };
    let watch = async {
        while probe.seen() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.trigger();
    };
    let (report, ()) = tokio::join!(run, watch);
    report.expect("typed consumer run");
    probe.span().expect("events were handled")
}

/// Raw consume: a StreamConsumer loop touching every payload, same group settings.
async fn consume_raw(config: &KafkaConfig, topic: &str, n: usize) -> Duration {
    let sub = carebus::transport::SubscribeConfig::new(unique_name("bench_raw"), &[topic]);
    let consumer: StreamConsumer = config.consumer_config(&sub).create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut first = None;
    let mut bytes = 0usize;
    for _ in 0..n {
        let m = consumer.recv().await.unwrap();
        first.get_or_insert_with(Instant::now);
        bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
    }
    std::hint::black_box(bytes);
    first.unwrap().elapsed()
}

/// What a hand-written rdkafka consumer minimally does per record: skip the single-object
/// header, decode the payload with the generated codec, store the offset. The baseline the
/// typed consumer's own work (envelope, dispatch, at-least-once tracking) is added to.
async fn consume_raw_decoding(config: &KafkaConfig, topic: &str, n: usize) -> Duration {
    use carebus::DomainEvent;
    let sub = carebus::transport::SubscribeConfig::new(unique_name("bench_raw_decode"), &[topic]);
    let consumer: StreamConsumer = config.consumer_config(&sub).create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut first = None;
    for _ in 0..n {
        let m = consumer.recv().await.unwrap();
        first.get_or_insert_with(Instant::now);
        let payload = rdkafka::Message::payload(&m).unwrap_or_default();
        let event = PatientDeactivated::decode_payload(&payload[10..]).expect("decodes");
        std::hint::black_box(event);
        consumer.store_offset_from_message(&m).unwrap();
    }
    first.unwrap().elapsed()
}

/// What a hand-written rdkafka consumer does to get what a typed handler gets: read the
/// CloudEvents envelope from the headers, decode the payload by its type and version with the
/// generated codec, hand the event to the typed consumer's handler work, store the offset:
/// the typed consumer's work without carebus (no lanes, retries, dead letters or metrics).
async fn consume_raw_enveloped(config: &KafkaConfig, topic: &str, n: usize) -> Duration {
    use rdkafka::message::Headers;
    let sub = carebus::transport::SubscribeConfig::new(unique_name("bench_raw_env"), &[topic]);
    let consumer: StreamConsumer = config.consumer_config(&sub).create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut first = None;
    let mut handled = Vec::with_capacity(n);
    // The same handler work as the typed consumer's.
    let probe = DeactivationProbe::default();
    for _ in 0..n {
        let m = consumer.recv().await.unwrap();
        first.get_or_insert_with(Instant::now);
        let env = RawEnvelope::read(
            rdkafka::Message::headers(&m)
                .iter()
                .flat_map(|h| h.iter())
                .map(|h| (h.key, h.value.unwrap_or_default())),
        );
        let event = env.handle(rdkafka::Message::payload(&m).unwrap_or_default(), &probe);
        handled.push(std::hint::black_box((env, event)).0.time);
        consumer.store_offset_from_message(&m).unwrap();
    }
    let elapsed = first.unwrap().elapsed();
    assert!(handled.iter().all(Option::is_some), "every ce_time parses");
    assert_eq!(probe.seen(), n, "every event reached the handler");
    elapsed
}

/// Transport level: the Kafka transport's poll + store_offset, no decoding or dispatch.
async fn consume_transport(kafka: &KafkaTransport, topic: &str, n: usize) -> Duration {
    use carebus::transport::{ConsumerEvent, SubscribeConfig, Transport};
    let consumer = kafka
        .subscribe(SubscribeConfig::new(
            unique_name("bench_transport"),
            &[topic],
        ))
        .await
        .unwrap();
    let mut first = None;
    let mut seen = 0;
    while seen < n {
        if let Some(ConsumerEvent::Record(r)) = consumer.poll(Duration::from_secs(5)).await.unwrap()
        {
            first.get_or_insert_with(Instant::now);
            consumer
                .store_offset(&r.topic_partition(), r.offset + 1)
                .unwrap();
            seen += 1;
        }
    }
    let elapsed = first.unwrap().elapsed();
    consumer.close().await.unwrap();
    elapsed
}

fn row(what: &str, typed: f64, raw: f64, unit: &str) {
    println!(
        "| {what:<38} | {typed:>12.0} | {raw:>12.0} | {unit:<9} | {:>6.1}% |",
        (typed / raw) * 100.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("CAREBUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| carebus_tests::bench_size(200_000, 2_000));
    let bootstrap = kafka_bootstrap();
    let admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let typed_topic = unique_name("bench_typed");
    let raw_topic = unique_name("bench_raw");
    let latency_topic = unique_name("bench_latency");
    for t in [&typed_topic, &raw_topic, &latency_topic] {
        create_topic(&admin, t).await;
    }
    let config = KafkaConfig::new(&bootstrap);
    let publisher = Publisher::new(
        KafkaTransport::new(config.clone()).unwrap(),
        PublisherConfig::default(),
    )
    .unwrap();
    let raw: FutureProducer = config.producer_config().create().unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| {
            publisher
                .prepare(&bench_event(i), PublishOptions::default())
                .unwrap()
                .into_record()
        })
        .collect();
    let avg = records.iter().map(Record::size).sum::<usize>() / n.max(1);

    // Warm both paths (connections, metadata), then alternate and keep each one's best run.
    publish_raw(&raw, &records[..n.min(2_000)], &raw_topic).await;
    publish_typed(&publisher, &typed_topic, n.min(2_000)).await;
    let transport_records: Vec<Record> = records
        .iter()
        .map(|r| Record {
            topic: latency_topic.clone(),
            ..r.clone()
        })
        .collect();
    let mut best_raw = Duration::MAX;
    let mut best_typed = Duration::MAX;
    let mut best_transport = Duration::MAX;
    let mut best_raw_building = Duration::MAX;
    for round in 0..rounds() {
        // Each kind takes every place in the order in turn: the broker is still busy for a
        // moment after a burst, and whoever came right after one would pay for it.
        for kind in (0..4).map(|k| (k + round) % 4) {
            settle().await;
            match kind {
                0 => {
                    best_raw_building =
                        best_raw_building.min(publish_raw_building(&raw, &raw_topic, n).await)
                }
                1 => best_raw = best_raw.min(publish_raw(&raw, &records, &raw_topic).await),
                2 => best_typed = best_typed.min(publish_typed(&publisher, &typed_topic, n).await),
                _ => {
                    best_transport = best_transport
                        .min(publish_transport(publisher.transport(), &transport_records).await)
                }
            }
        }
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();

    let typed_latency = latency(&publisher, &latency_topic).await;
    // The same steady publishing again, now with a typed consumer reading along.
    let lag_topic = unique_name("bench_lag");
    create_topic(&admin, &lag_topic).await;
    let (_, end_to_end) = latency_with_consumer(&publisher, &lag_topic).await;
    let mut high_linger = config.clone();
    high_linger.property("linger.ms", "5");
    let high_linger_publisher = Publisher::new(
        KafkaTransport::new(high_linger).unwrap(),
        PublisherConfig::default(),
    )
    .unwrap();
    let high_linger_latency = latency(&high_linger_publisher, &latency_topic).await;

    // The typed topic now holds at least n events. Each consumer reads its first n, the same
    // records, in a fresh group; the kinds alternate and each keeps its best run (the broker
    // shares the 2 cores, so single runs swing).
    let mut best = [Duration::MAX; 5];
    for round in 0..rounds() {
        let kinds = best.len();
        for kind in (0..kinds).map(|k| (k + round) % kinds) {
            settle().await;
            let run = match kind {
                0 => consume_typed(&publisher, &typed_topic, n).await,
                1 => consume_raw(&config, &typed_topic, n).await,
                2 => consume_raw_decoding(&config, &typed_topic, n).await,
                3 => consume_raw_enveloped(&config, &typed_topic, n).await,
                _ => consume_transport(publisher.transport(), &typed_topic, n).await,
            };
            best[kind] = best[kind].min(run);
        }
    }
    let [
        typed_consume,
        raw_consume,
        raw_decoding_consume,
        raw_enveloped_consume,
        transport_consume,
    ] = best;

    println!();
    println!(
        "carebus Kafka benchmark: {n} events/run, ~{avg} bytes/record (key+value+headers), 6 partitions, 1 broker, acks=all, idempotent, {}, linger.ms={}",
        config.compression.as_config(),
        config.producer_config().get("linger.ms").unwrap_or("?"),
    );
    println!();
    println!(
        "| {:<38} | {:>12} | {:>12} | {:<9} | {:>7} |",
        "measure", "typed", "raw rdkafka", "unit", "typed/raw"
    );
    println!(
        "|{:-<40}|{:-<14}|{:-<14}|{:-<11}|{:-<9}|",
        "", "", "", "", ""
    );
    row(
        "publish throughput (best of 5)",
        rate(best_typed),
        rate(best_raw),
        "events/s",
    );
    row(
        "publish vs raw building each record",
        rate(best_typed),
        rate(best_raw_building),
        "events/s",
    );
    row(
        "publish, transport only (pre-built)",
        rate(best_transport),
        rate(best_raw),
        "events/s",
    );
    row(
        "consume throughput (best of 5)",
        rate(typed_consume),
        rate(raw_consume),
        "events/s",
    );
    row(
        "consume vs raw loop + decode + store",
        rate(typed_consume),
        rate(raw_decoding_consume),
        "events/s",
    );
    row(
        "consume vs raw reading envelope + event",
        rate(typed_consume),
        rate(raw_enveloped_consume),
        "events/s",
    );
    row(
        "consume, transport poll only (no decode)",
        rate(transport_consume),
        rate(raw_consume),
        "events/s",
    );
    println!();
    for (linger, samples) in [("1 (default)", &typed_latency), ("5", &high_linger_latency)] {
        println!(
            "publish latency, steady {RATE_PER_SEC} events/s for {}s, linger.ms={linger} ({} samples): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            latency_run().as_secs(),
            samples.len(),
            percentile(samples, 0.50),
            percentile(samples, 0.99),
            percentile(samples, 0.999),
            percentile(samples, 1.0),
        );
    }
    println!(
        "event created → typed handler, steady {RATE_PER_SEC} events/s, linger.ms=1 ({} samples): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (bounds the consumer lag)",
        end_to_end.len(),
        percentile(&end_to_end, 0.50),
        percentile(&end_to_end, 0.99),
        percentile(&end_to_end, 0.999),
        percentile(&end_to_end, 1.0),
    );
    println!(
        "floor from the brief: 100,000 events/minute (1,667/s), publish p99 < 10 ms, consumer lag < 1 s; goal: typed within 10% of raw"
    );
    publisher.close().await;
    drop_topics(
        &config,
        &[&typed_topic, &raw_topic, &latency_topic, &lag_topic],
    )
    .await;
}

/// Delete the benchmark's topics: each run writes a few gigabytes, and a broker that keeps
/// them from earlier runs measures slower (its page cache and disk are busy with them).
async fn drop_topics(config: &KafkaConfig, topics: &[&str]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = config
        .producer_config()
        .create()
        .expect("admin client for the benchmark's topics");
    match admin.delete_topics(topics, &AdminOptions::new()).await {
        Ok(results) => {
            for failed in results.iter().filter_map(|r| r.as_ref().err()) {
                eprintln!(
                    "could not delete benchmark topic {}: {:?}",
                    failed.0, failed.1
                );
            }
        }
        Err(e) => eprintln!("could not delete the benchmark topics: {e}"),
    }
}
