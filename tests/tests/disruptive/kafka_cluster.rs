//! The Kafka transport on the three-node cluster: a stream of keyed events in while one broker is killed, every event out exactly once and in per-key order.

use crate::kafka_support::{consume, subscribe};
use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::transport::{Record, Transport};
use carebus_tests::{kafka_cluster_bootstrap, services, unique_name};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const KEYS: usize = 12;
const PER_KEY: usize = 300;
const KILLED_NODE: &str = "2";

/// Restarts the killed node even when the test fails, so later tests find a whole cluster.
struct RestartNode;

impl Drop for RestartNode {
    fn drop(&mut self) {
        if let Err(e) = services(&["start-node", KILLED_NODE]) {
            eprintln!("restarting cluster node {KILLED_NODE} failed: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_broker_mid_stream_loses_nothing_and_keeps_per_key_order() {
    let _exclusive = crate::exclusive().await;
    let bootstrap = kafka_cluster_bootstrap();
    let topic = unique_name("cluster_failover");
    let admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let report = admin
        .apply(&[carebus::TopicSpec {
            min_insync_replicas: Some(2),
            ..carebus::TopicSpec::new(&topic, 6, 3)
        }])
        .await
        .unwrap();
    assert!(
        report.plan.drift.is_empty(),
        "RF 3 fits the 3-node cluster: {}",
        report.plan
    );

    let mut config = KafkaConfig::new(&bootstrap);
    // acks=all and idempotence are the defaults; allow time for leader election.
    config.delivery_timeout = Duration::from_secs(60);
    config.property("linger.ms", "2");
    let kafka = Arc::new(KafkaTransport::new(config).unwrap());

    // One producing task per key, each sending its events in order in pipelined batches.
    let acked = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for k in 0..KEYS {
        let kafka = kafka.clone();
        let topic = topic.clone();
        let acked = acked.clone();
        producers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for chunk in (0..PER_KEY).collect::<Vec<_>>().chunks(10) {
                let records = chunk
                    .iter()
                    .map(|seq| {
                        Record::new(
                            &topic,
                            format!("key-{k}"),
                            format!("{k}:{seq}").into_bytes(),
                        )
                    })
                    .collect();
                for result in kafka.send_batch(records).await {
                    match result {
                        Ok(_) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            failures
        }));
    }
    // Kill a broker (kill -9, no clean shutdown) once a quarter of the stream is acknowledged.
    let total = KEYS * PER_KEY;
    while acked.load(Ordering::Relaxed) < total / 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restart = RestartNode;
    tokio::task::spawn_blocking(|| services(&["stop-node", KILLED_NODE]))
        .await
        .unwrap()
        .expect("stop-node");
    let acked_at_kill = acked.load(Ordering::Relaxed);
    assert!(
        acked_at_kill < total,
        "the stream ended before the broker was killed; make it longer"
    );

    let mut failures = Vec::new();
    for p in producers {
        failures.extend(p.await.unwrap());
    }
    assert!(failures.is_empty(), "sends failed: {failures:?}");
    assert_eq!(acked.load(Ordering::Relaxed), total);
    eprintln!("{acked_at_kill} of {total} events acknowledged when node {KILLED_NODE} was killed");
    drop(restart);

    let consumer = subscribe(&kafka, &unique_name("cluster_reader"), &topic).await;
    let got = consume(&consumer, KEYS * PER_KEY, true, Duration::from_secs(50)).await;
    consumer.close().await.unwrap();

    let mut per_key: HashMap<String, Vec<(i32, i64, usize)>> = HashMap::new();
    for r in &got {
        let text = String::from_utf8(r.payload().to_vec()).unwrap();
        let (k, seq) = text.split_once(':').unwrap();
        per_key.entry(k.to_string()).or_default().push((
            r.partition,
            r.offset,
            seq.parse().unwrap(),
        ));
    }
    assert_eq!(per_key.len(), KEYS);
    for (k, mut events) in per_key {
        let partitions: std::collections::BTreeSet<i32> = events.iter().map(|e| e.0).collect();
        assert_eq!(
            partitions.len(),
            1,
            "key {k} spread over partitions {partitions:?}"
        );
        events.sort_by_key(|e| e.1);
        let seqs: Vec<usize> = events.iter().map(|e| e.2).collect();
        let expected: Vec<usize> = (0..PER_KEY).collect();
        assert_eq!(
            seqs, expected,
            "key {k}: events lost, duplicated or reordered"
        );
    }
}
