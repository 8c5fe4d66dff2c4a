//! `cargo bench -p carebus-tests --bench analytics`: the analytics sink's throughput into OpenSearch against a hand-written bulk loader of the same documents in the same run, and the cost of de-identification per event, printed as tables.
//!
//! Rows: de-identification per event (the generated plan applied to the event's JSON form and
//! the document serialised; decode + JSON form shown beside it) for a small and a large event;
//! sink throughput (Kafka records → decode → de-identify → `_bulk` → offsets committed, until
//! OpenSearch confirmed every document) vs a loader that sends the already de-identified
//! documents from memory with `_bulk` in batches of the same size, into indices of their own.
//! Needs Kafka and OpenSearch (`scripts/services up kafka`, `scripts/services up opensearch`).
//! `CAREBUS_BENCH_EVENTS` sets the events per throughput run (default 100000).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::{DomainEvent, PublishOptions, Publisher, PublisherConfig, TopicEvents};
use carebus_analytics::opensearch::Method;
use carebus_analytics::{
    AnalyticsSink, Deidentifier, IndexLayout, OpenSearch, OpenSearchConfig, SinkConfig, Source,
};
use carebus_schemas::{ANALYTICS, PatientsEvent};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const KEY: &[u8] = b"carebus analytics bench key, 32+ bytes";
const BATCH: usize = 2000;

fn transport(bootstrap: &str) -> KafkaTransport {
    let mut config = KafkaConfig::new(bootstrap);
    config.property("linger.ms", "5");
    KafkaTransport::new(config).expect("kafka transport")
}

fn opensearch() -> OpenSearch {
    OpenSearch::new(&OpenSearchConfig {
        url: carebus_tests::opensearch_url(),
        ..OpenSearchConfig::default()
    })
    .expect("OpenSearch URL")
}

/// Nanoseconds per call of `f`, best of 5 runs of `n` calls.
fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// De-identification of `event`: (decode + JSON form, plan applied + serialised), ns/event.
fn deidentify_cost<E: DomainEvent>(event: &E, publisher: &Publisher<KafkaTransport>) -> (f64, f64)
where
    PatientsEvent: TopicEvents,
{
    let prepared = publisher
        .prepare(event, PublishOptions::default())
        .expect("prepare");
    let (headers, value) = (prepared.headers.clone(), prepared.payload().to_vec());
    let plan = ANALYTICS
        .iter()
        .find(|p| p.event_type == E::EVENT_TYPE && p.version == E::EVENT_VERSION)
        .expect("a plan");
    let deid = Deidentifier::new(KEY).unwrap();
    let decode = per_call(20_000, || {
        let (env, e) = carebus::wire::decode::<PatientsEvent>(&headers, &value).unwrap();
        std::hint::black_box((env, e.to_json()));
    });
    let (env, e) = carebus::wire::decode::<PatientsEvent>(&headers, &value).unwrap();
    let data = e.to_json();
    let apply = per_call(20_000, || {
        std::hint::black_box(deid.document(plan, &env, &data).to_string());
    });
    (decode, apply)
}

async fn count(os: &OpenSearch, indices: &str) -> u64 {
    let _ = os
        .request(
            "refresh",
            Method::POST,
            &format!("/{indices}/_refresh"),
            None,
        )
        .await;
    os.expect_ok("count", Method::GET, &format!("/{indices}/_count"), None)
        .await
        .map_or(0, |b| b["count"].as_u64().unwrap_or(0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = std::env::var("CAREBUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| carebus_tests::bench_size(100_000, 2_000));
    let bootstrap = carebus_tests::kafka_bootstrap();
    let os = opensearch();
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();

    // De-identification per event.
    let model: carebus_codegen::ir::Model =
        serde_json::from_str(carebus_schemas::IR_JSON).expect("IR");
    let created = {
        let event = model
            .events
            .iter()
            .find(|e| e.name == "PatientCreated" && e.version == 2)
            .unwrap();
        let data = carebus_catalog::example::example_data(&model, event);
        carebus_schemas::PatientCreated::from_json(&data).unwrap()
    };
    let small = deidentify_cost(&carebus_tests::bench_event(1), &publisher);
    let large = deidentify_cost(&created, &publisher);

    // The events on a topic of their own.
    let topic = carebus_tests::unique_name("bench_analytics");
    TopicAdmin::connect(&bootstrap, &BTreeMap::new())
        .unwrap()
        .apply(&[carebus::TopicSpec::new(&topic, 6, 1)])
        .await
        .unwrap();
    let mut documents = Vec::with_capacity(events);
    let layout = IndexLayout {
        prefix: carebus_tests::unique_name("bench_loader"),
        ..IndexLayout::default()
    };
    let deid = Deidentifier::new(KEY).unwrap();
    let plan = ANALYTICS
        .iter()
        .find(|p| p.event_type == "PatientDeactivated")
        .unwrap();
    let mut sends = Vec::with_capacity(events);
    for i in 0..events {
        let mut record = publisher
            .prepare(&carebus_tests::bench_event(i), PublishOptions::default())
            .unwrap();
        record.topic = topic.clone();
        let (env, e) =
            carebus::wire::decode::<PatientsEvent>(&record.headers, record.payload()).unwrap();
        let action = serde_json::json!({"index": {"_index": layout.index(plan.topic, env.event_time.0), "_id": env.event_id}});
        documents.push(format!(
            "{action}\n{}\n",
            deid.document(plan, &env, &e.to_json())
        ));
        sends.push(publisher.send_prepared(record));
        if sends.len() == 5000 {
            for r in futures::future::join_all(sends.drain(..)).await {
                r.expect("published");
            }
        }
    }
    for r in futures::future::join_all(sends).await {
        r.expect("published");
    }

    // Hand-written bulk loader: the same documents from memory, same batch size.
    let template = layout.template(plan.topic, &ANALYTICS.iter().collect::<Vec<_>>());
    os.expect_ok(
        "template",
        Method::PUT,
        &format!("/_index_template/{}", layout.template_name(plan.topic)),
        Some(&template),
    )
    .await
    .unwrap();
    let started = Instant::now();
    for chunk in documents.chunks(BATCH) {
        let body = Bytes::from(chunk.concat());
        let answer = os.bulk(body).await.expect("bulk");
        assert_eq!(
            answer["errors"], false,
            "the loader's documents are accepted"
        );
    }
    let loader = started.elapsed();
    let loaded = count(&os, &format!("{}-*", layout.prefix)).await;
    assert_eq!(loaded, events as u64);

    // The sink, reading the same events from Kafka.
    let sink_layout = IndexLayout {
        prefix: carebus_tests::unique_name("bench_sink"),
        ..IndexLayout::default()
    };
    let sink = AnalyticsSink::new(
        transport(&bootstrap),
        opensearch(),
        Deidentifier::new(KEY).unwrap(),
        ANALYTICS,
        &[Source::of::<PatientsEvent>().reading(topic.clone())],
        SinkConfig {
            group_id: carebus_tests::unique_name("bench_sink"),
            layout: sink_layout.clone(),
            batch_events: BATCH,
            ..SinkConfig::default()
        },
    )
    .unwrap();
    sink.prepare().await.unwrap();
    let stats = sink.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        sink.run(async move {
            let _ = stopped.await;
        })
        .await
    });
    while stats.indexed.load(Ordering::Relaxed) < events as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sink finished"
        );
    }
    let sink_time = started.elapsed();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let indexed = count(&os, &format!("{}-*", sink_layout.prefix)).await;
    assert_eq!(indexed, events as u64);

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!("\nde-identification per event (ns/event, best of 5 x 20000)");
    println!("| event | decode + JSON form | plan applied + serialised |");
    println!("|---|---:|---:|");
    println!(
        "| PatientDeactivated (small) | {:.0} | {:.0} |",
        small.0, small.1
    );
    println!(
        "| PatientCreated v2 (PHI-heavy) | {:.0} | {:.0} |",
        large.0, large.1
    );
    println!("\nthroughput into OpenSearch ({events} events, bulk batches of {BATCH})");
    println!("| path | events/s | time |");
    println!("|---|---:|---:|");
    println!(
        "| hand-written bulk loader (documents from memory) | {:.0} | {:.2} s |",
        rate(loader),
        loader.as_secs_f64()
    );
    println!(
        "| analytics sink (Kafka → de-identify → bulk → commit) | {:.0} | {:.2} s |",
        rate(sink_time),
        sink_time.as_secs_f64()
    );
    println!(
        "| sink / loader | {:.2}x | |",
        loader.as_secs_f64() / sink_time.as_secs_f64()
    );
}
