//! The single broker stopped and started again under a publishing service: events in while Kafka is down, the breaker open and every event kept, then all of them out once Kafka is back.

use crate::kafka_support::{consume, create_topic, subscribe};
use carebus::Settings;
use carebus::envelope::headers as h;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus::publisher::BreakerState;
use carebus::transport::{Record, Transport, TransportErrorKind, header_str};
use carebus::{Delivery, PublishError, PublishOptions, Publisher, PublisherConfig, Timestamp};
use carebus_schemas::{DeactivationReason, PatientDeactivated, Reference};
use carebus_tests::{kafka_bootstrap, services, unique_name};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Starts the broker again even when the test fails, so the tests after this one find it.
struct StartKafka;

impl Drop for StartKafka {
    fn drop(&mut self) {
        if let Err(e) = services(&["start", "kafka"]) {
            eprintln!("restarting the single Kafka broker failed: {e}");
        }
    }
}

fn deactivated(patient: &str) -> PatientDeactivated {
    PatientDeactivated {
        patient_id: patient.to_string(),
        reason: DeactivationReason::PatientRequest,
        deceased_at: None,
        note: None,
        deactivated_by: Reference {
            r#type: "Practitioner".into(),
            id: "pr-1".into(),
            display: None,
        },
        deactivated_at: Timestamp::now(),
    }
}

/// Publish one event to the test topic (the generated event names its own topic; the record
/// is redirected so the test owns its data).
async fn publish(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    patient: &str,
) -> (String, Result<Delivery, PublishError>) {
    let mut record = publisher
        .prepare(&deactivated(patient), PublishOptions::default())
        .expect("valid event");
    record.topic = topic.to_string();
    let id = header_str(&record.headers, h::ID)
        .expect("an event id")
        .to_owned();
    let result = publisher.send_prepared(record).await;
    (id, result)
}

/// Events published while the broker is down: more than one drain round of the outbox.
const QUEUED: usize = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_opens_the_breaker_keeps_events_and_delivers_them_when_it_returns() {
    let _exclusive = crate::exclusive().await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("outage");
    create_topic(&bootstrap, &topic, 3, 1).await;

    let mut kafka = KafkaConfig::new(&bootstrap);
    kafka.delivery_timeout = Duration::from_secs(3);
    kafka.property("reconnect.backoff.max.ms", "500");
    let outbox = std::env::temp_dir().join(unique_name("carebus_outbox"));
    let mut config = PublisherConfig {
        outbox_dir: Some(outbox.clone()),
        outbox_key: Some(carebus::publisher::OutboxKey::generate()),
        outbox_retry_interval: Duration::from_millis(500),
        ..PublisherConfig::default()
    };
    config.retry.attempts = 2;
    config.retry.initial_backoff = Duration::from_millis(10);
    config.breaker.failure_threshold = 2;
    config.breaker.open_for = Duration::from_secs(5);
    let publisher = Publisher::new(KafkaTransport::new(kafka).unwrap(), config).unwrap();

    let mut ids = BTreeSet::new();
    // Event ids per patient, in publish order.
    let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..5 {
        let patient = format!("p-{}", i % 3);
        let (id, result) = publish(&publisher, &topic, &patient).await;
        assert!(
            matches!(result, Ok(Delivery::Delivered(_))),
            "broker is up: {result:?}"
        );
        ids.insert(id.clone());
        published.entry(patient).or_default().push(id);
    }

    let start_again = StartKafka;
    services(&["stop", "kafka"]).expect("stop kafka");
    assert!(
        carebus_tests::check_reachable("Kafka", &bootstrap, "kafka", "CAREBUS_KAFKA_BOOTSTRAP")
            .is_err(),
        "Kafka at {bootstrap} still answers after `scripts/services stop kafka`: this test needs \
         the broker scripts/services runs (unset CAREBUS_KAFKA_BOOTSTRAP)"
    );

    // The transport reports the outage as retriable, so the publisher retries and counts it.
    let error = publisher
        .transport()
        .send(Record::new(&topic, "probe", b"probe".to_vec()))
        .await
        .unwrap_err();
    assert!(
        error.is_retriable()
            && matches!(
                error.kind(),
                TransportErrorKind::Timeout | TransportErrorKind::Unreachable
            ),
        "{error:?}"
    );

    // More than one drain round (512 records) waits in the outbox.
    let started = Instant::now();
    for i in 0..QUEUED {
        let patient = format!("p-{}", i % 3);
        let (id, result) = publish(&publisher, &topic, &patient).await;
        assert!(
            matches!(result, Ok(Delivery::Queued { .. })),
            "event {i} while Kafka is down: {result:?}"
        );
        ids.insert(id.clone());
        published.entry(patient).or_default().push(id);
    }
    assert_ne!(publisher.breaker_state(), BreakerState::Closed);
    assert_eq!(publisher.outbox_len(), QUEUED, "every event is kept");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the open breaker fails fast instead of waiting on every event"
    );

    drop(start_again);
    let deadline = Instant::now() + Duration::from_secs(60);
    while publisher.outbox_len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        publisher.outbox_len(),
        0,
        "the outbox drained after Kafka came back"
    );

    let reader = subscribe(publisher.transport(), &unique_name("outage_reader"), &topic).await;
    // Read until every event is in (a drain round cut short by the broker's restart sends
    // some records again: at-least-once).
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: BTreeSet<&str> = got
            .iter()
            .filter_map(|r: &carebus::transport::ReceivedRecord| header_str(&r.headers, h::ID))
            .collect();
        let missing = ids.len() - ids.iter().filter(|id| seen.contains(id.as_str())).count();
        if missing == 0 || Instant::now() >= deadline {
            break;
        }
        let more = consume(&reader, missing, true, deadline - Instant::now()).await;
        if more.is_empty() {
            break;
        }
        got.extend(more);
    }
    reader.close().await.unwrap();
    let delivered: BTreeSet<String> = got
        .iter()
        .filter_map(|r| header_str(&r.headers, h::ID).map(str::to_string))
        .collect();
    assert_eq!(delivered, ids, "every event delivered, none lost");
    // Each patient's events in publish order (one partition per key, read in offset order).
    let mut by_offset: Vec<_> = got.iter().collect();
    by_offset.sort_by_key(|r| (r.partition, r.offset));
    let mut read: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in by_offset {
        let patient = String::from_utf8(r.key.clone().expect("keyed")).unwrap();
        let id = header_str(&r.headers, h::ID)
            .expect("an event id")
            .to_owned();
        let ids_of_patient = read.entry(patient).or_default();
        if !ids_of_patient.contains(&id) {
            ids_of_patient.push(id);
        }
    }
    assert_eq!(read, published, "each patient's events in publish order");
    publisher.close().await;
    std::fs::remove_dir_all(outbox).ok();
}
