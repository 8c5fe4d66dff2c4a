//! The typed consumer on a real Kafka broker: generated handlers in, at-least-once handling, retries then dead letters, poison pills, per-key order in parallel mode and graceful shutdown out.

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::consumer::ShutdownTrigger;
use carebus::dead_letter::{self, ERROR, ORIGINAL_OFFSET, ORIGINAL_TOPIC, REASON};
use carebus::kafka::KafkaTransport;
use carebus::transport::{Record, Transport, header_str};
use carebus::{
    Consumer, ConsumerConfig, HandlerContext, HandlerError, HandlerResult, Phi, ProcessingMode,
    PublishOptions, Publisher, PublisherConfig, Shutdown, Timestamp,
};
use carebus_schemas::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn patient(id: &str, n: usize) -> PatientUpdated {
    PatientUpdated {
        patient_id: id.into(),
        changed_fields: vec![format!("change-{n}")],
        name: None,
        date_of_birth: None,
        gender: None,
        telecom: None,
        address: Some(Phi::new(Address {
            line: Phi::new(vec!["1 Secret Street".into()]),
            city: Phi::new("Springfield".into()),
            state: None,
            postal_code: None,
            country: "US".into(),
        })),
        preferred_language: None,
        updated_by: Reference {
            r#type: "Practitioner".into(),
            id: "pr-1".into(),
            display: None,
        },
        updated_at: Timestamp::now(),
    }
}

/// Publish through the typed publisher, redirected to the test's own topic.
async fn publish(publisher: &Publisher<KafkaTransport>, topic: &str, event: PatientUpdated) {
    let mut record = publisher
        .prepare(&event, PublishOptions::default())
        .expect("valid event");
    record.topic = topic.to_string();
    publisher.send_prepared(record).await.expect("published");
}

/// Records what it handled, per patient, in order; fails as told.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    fail_patient: Option<(String, bool)>,
    delay: Duration,
}

impl Recorder {
    fn total(&self) -> usize {
        self.seen.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl PatientsHandler for Recorder {
    async fn on_patient_created(&self, _: &HandlerContext, _: PatientCreated) -> HandlerResult {
        Ok(())
    }
    async fn on_patient_updated(&self, _ctx: &HandlerContext, e: PatientUpdated) -> HandlerResult {
        if let Some((id, permanent)) = &self.fail_patient
            && id == &e.patient_id
        {
            return Err(if *permanent {
                HandlerError::permanent("the chart is locked")
            } else {
                HandlerError::retriable("the FHIR server timed out")
            });
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.seen
            .lock()
            .unwrap()
            .entry(e.patient_id.clone())
            .or_default()
            .push(e.changed_fields[0].clone());
        Ok(())
    }
    async fn on_patient_merged(&self, _: &HandlerContext, _: PatientMerged) -> HandlerResult {
        Ok(())
    }
    async fn on_patient_deactivated(
        &self,
        _: &HandlerContext,
        _: PatientDeactivated,
    ) -> HandlerResult {
        Ok(())
    }
}

struct Running {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<
        Result<carebus::consumer::RunReport, carebus::consumer::ConsumerError>,
    >,
}

fn run(
    bootstrap: &str,
    topic: &str,
    group: &str,
    mode: ProcessingMode,
    handler: Recorder,
) -> Running {
    run_with(bootstrap, topic, group, mode, handler, |_| {})
}

fn run_with(
    bootstrap: &str,
    topic: &str,
    group: &str,
    mode: ProcessingMode,
    handler: Recorder,
    tweak: impl FnOnce(&mut ConsumerConfig),
) -> Running {
    let publisher =
        Publisher::new(transport(bootstrap), PublisherConfig::default()).expect("publisher");
    let mut config = ConsumerConfig::new(group);
    config.topics = vec![topic.to_string()];
    config.mode = mode;
    config.commit_interval = Duration::from_millis(200);
    config.retry.attempts = 2;
    config.retry.initial_backoff = Duration::from_millis(20);
    tweak(&mut config);
    let consumer = Consumer::new(publisher, config);
    let (trigger, shutdown): (ShutdownTrigger, Shutdown) = Shutdown::channel();
    let task =
        tokio::spawn(async move { consumer.run(PatientsDispatcher(handler), shutdown).await });
    Running { trigger, task }
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publish `changes` updates of each of `patients` patients, round-robin; their ids.
async fn publish_changes(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    patients: usize,
    changes: usize,
) -> Vec<String> {
    let ids: Vec<String> = (0..patients).map(|i| format!("patient-{i}")).collect();
    for n in 0..changes {
        for p in &ids {
            publish(publisher, topic, patient(p, n)).await;
        }
    }
    ids
}

/// Every patient's updates reached `handler` once each, in the order published.
fn each_patients_changes_in_order(
    handler: &Recorder,
    patients: &[String],
    changes: usize,
    run: &str,
) {
    let expected: Vec<String> = (0..changes).map(|n| format!("change-{n}")).collect();
    for p in patients {
        let order = handler.seen.lock().unwrap()[p].clone();
        assert_eq!(order, expected, "{run}: {p}'s events in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_mode_keeps_per_key_order_and_graceful_shutdown_commits() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-order");
    create_topic(&bootstrap, &topic, 6, 1).await;
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let patients = publish_changes(&publisher, &topic, 12, 10).await;
    let group = carebus_tests::unique_name("order-group");
    let handler = Recorder {
        delay: Duration::from_millis(2),
        ..Recorder::default()
    };
    let running = run(
        &bootstrap,
        &topic,
        &group,
        ProcessingMode::KeyOrdered { max_in_flight: 8 },
        handler.clone(),
    );
    wait_for("120 events handled", Duration::from_secs(60), || {
        handler.total() >= 120
    })
    .await;
    running.trigger.trigger();
    let report = running.task.await.unwrap().expect("graceful shutdown");
    assert_eq!(
        report.unfinished, 0,
        "in-flight work finished before leaving"
    );
    each_patients_changes_in_order(&handler, &patients, 10, "key-ordered");
    // Committed: a new member of the same group gets nothing to redo.
    let again = Recorder::default();
    let second = run(
        &bootstrap,
        &topic,
        &group,
        ProcessingMode::Sequential,
        again.clone(),
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    second.trigger.trigger();
    second.task.await.unwrap().unwrap();
    assert_eq!(again.total(), 0, "offsets were committed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_mode_reads_in_place_or_on_the_polling_thread_with_the_same_result() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-polling");
    create_topic(&bootstrap, &topic, 3, 1).await;
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let patients = publish_changes(&publisher, &topic, 6, 20).await;
    for polling_thread in [false, true] {
        let group = carebus_tests::unique_name("polling-group");
        let handler = Recorder::default();
        let running = run_with(
            &bootstrap,
            &topic,
            &group,
            ProcessingMode::Sequential,
            handler.clone(),
            |c| c.polling_thread = polling_thread,
        );
        wait_for("120 events handled", Duration::from_secs(60), || {
            handler.total() >= 120
        })
        .await;
        running.trigger.trigger();
        let report = running.task.await.unwrap().expect("graceful shutdown");
        assert_eq!(
            (report.finished, report.unfinished),
            (120, 0),
            "polling thread {polling_thread}: every event handled once, nothing left"
        );
        let run = format!("polling thread {polling_thread}");
        each_patients_changes_in_order(&handler, &patients, 20, &run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_retries_then_dead_letters_without_phi_and_others_go_on() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-dlq");
    create_topic(&bootstrap, &topic, 3, 1).await;
    create_topic(&bootstrap, &dead_letter::dlq_topic(&topic), 1, 1).await;
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    publish(&publisher, &topic, patient("patient-bad", 0)).await;
    publish(&publisher, &topic, patient("patient-good", 0)).await;
    let handler = Recorder {
        fail_patient: Some(("patient-bad".into(), false)),
        ..Recorder::default()
    };
    let running = run(
        &bootstrap,
        &topic,
        &carebus_tests::unique_name("dlq-group"),
        ProcessingMode::Sequential,
        handler.clone(),
    );
    wait_for("the good event", Duration::from_secs(60), || {
        handler.total() >= 1
    })
    .await;

    let dlq = subscribe(
        &transport(&bootstrap),
        &carebus_tests::unique_name("dlq-reader"),
        &dead_letter::dlq_topic(&topic),
    )
    .await;
    let letters = consume(&dlq, 1, false, Duration::from_secs(60)).await;
    running.trigger.trigger();
    running.task.await.unwrap().unwrap();
    assert_eq!(letters.len(), 1, "the failing event is dead-lettered");
    let header = |name: &str| {
        letters[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(REASON), "handler-failed");
    assert_eq!(header(ORIGINAL_TOPIC), topic);
    assert!(!header(ORIGINAL_OFFSET).is_empty());
    assert!(header(ERROR).contains("timed out"), "{}", header(ERROR));
    for (name, value) in &letters[0].headers {
        let text = String::from_utf8_lossy(value);
        assert!(
            !text.contains("Secret Street") && !text.contains("Springfield"),
            "header {name} carries PHI"
        );
    }
    assert_eq!(letters[0].key.as_deref(), Some(b"patient-bad".as_slice()));
    assert_eq!(
        handler
            .seen
            .lock()
            .unwrap()
            .get("patient-good")
            .map(Vec::len),
        Some(1)
    );

    // Inspect and redrive (what `carebus-dlq list` / `redrive` do): once fixed, the event is
    // handled from its original topic.
    let t = transport(&bootstrap);
    let dlq_name = dead_letter::dlq_topic(&topic);
    eprintln!("dead-letter topic: {dlq_name}");
    let listed = dead_letter::inspect(&t, &dlq_name, Duration::from_secs(3))
        .await
        .expect("inspect");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason.as_deref(), Some("handler-failed"));
    assert!(
        !format!("{:?}", listed[0]).contains("Secret Street"),
        "Debug of a dead letter holds no payload"
    );
    let fixed = Recorder::default();
    let rerun = run(
        &bootstrap,
        &topic,
        &carebus_tests::unique_name("after-fix"),
        ProcessingMode::Sequential,
        fixed.clone(),
    );
    let report = dead_letter::redrive(
        &t,
        &dlq_name,
        &carebus_tests::unique_name("redrive"),
        Duration::from_secs(3),
        |d| d.reason.as_deref() == Some("handler-failed"),
    )
    .await
    .expect("redrive");
    assert_eq!(report.redriven, 1);
    wait_for("the redriven event", Duration::from_secs(60), || {
        // The new group reads the original record too (from the earliest offset), then the
        // redriven copy.
        fixed
            .seen
            .lock()
            .unwrap()
            .get("patient-bad")
            .map_or(0, Vec::len)
            >= 2
    })
    .await;
    rerun.trigger.trigger();
    rerun.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pills_go_straight_to_the_dead_letter_topic() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-poison");
    create_topic(&bootstrap, &topic, 1, 1).await;
    create_topic(&bootstrap, &dead_letter::dlq_topic(&topic), 1, 1).await;
    let t = transport(&bootstrap);
    // Garbage framed as single-object Avro with an unknown fingerprint, a record with no
    // carebus headers at all, and a tombstone (a null value: a compacted topic's delete marker).
    let mut pill = Record::new(
        topic.clone(),
        b"patient-x".to_vec(),
        vec![0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xff],
    );
    pill.headers = vec![
        ("ce_specversion".into(), b"1.0".to_vec()),
        ("ce_type".into(), b"PatientUpdated".to_vec()),
    ];
    t.send(pill).await.expect("sent");
    t.send(Record::new(
        topic.clone(),
        b"patient-y".to_vec(),
        b"not avro".to_vec(),
    ))
    .await
    .expect("sent");
    t.send(Record {
        value: None,
        ..Record::new(topic.clone(), b"patient-z".to_vec(), Vec::new())
    })
    .await
    .expect("sent");
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    publish(&publisher, &topic, patient("patient-ok", 0)).await;

    let handler = Recorder::default();
    let running = run(
        &bootstrap,
        &topic,
        &carebus_tests::unique_name("poison-group"),
        ProcessingMode::Sequential,
        handler.clone(),
    );
    wait_for(
        "the valid event after two pills",
        Duration::from_secs(60),
        || handler.total() >= 1,
    )
    .await;
    let dlq = subscribe(
        &transport(&bootstrap),
        &carebus_tests::unique_name("poison-reader"),
        &dead_letter::dlq_topic(&topic),
    )
    .await;
    let letters = consume(&dlq, 3, false, Duration::from_secs(60)).await;
    running.trigger.trigger();
    running.task.await.unwrap().unwrap();
    assert_eq!(letters.len(), 3, "the three pills are dead-lettered");
    for l in &letters {
        let reason = l
            .headers
            .iter()
            .find(|(k, _)| k == REASON)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        assert!(reason.starts_with("poison-pill"), "reason {reason}");
    }
    let tombstone = |r: &carebus::transport::ReceivedRecord| r.key.as_deref() == Some(b"patient-z");
    let letter = letters
        .iter()
        .find(|r| tombstone(r))
        .expect("the tombstone's letter");
    assert_eq!(
        letter.value, None,
        "the dead-lettered tombstone is still null"
    );

    // Redriven, the tombstone goes back to its topic as a null value, not an empty one.
    let report = dead_letter::redrive(
        &t,
        &dead_letter::dlq_topic(&topic),
        &carebus_tests::unique_name("poison-redrive"),
        Duration::from_secs(3),
        |d| d.record().key.as_deref() == Some(b"patient-z"),
    )
    .await
    .expect("redrive");
    assert_eq!((report.redriven, report.skipped), (1, 2));
    let reader = subscribe(&t, &carebus_tests::unique_name("poison-after"), &topic).await;
    let all = consume(&reader, 5, false, Duration::from_secs(60)).await;
    let redriven: Vec<_> = all
        .iter()
        .filter(|r| header_str(&r.headers, "carebus_redriven_from").is_some())
        .collect();
    assert_eq!(redriven.len(), 1, "one redriven record");
    assert!(tombstone(redriven[0]));
    assert_eq!(
        redriven[0].value, None,
        "a redriven tombstone stays a tombstone"
    );
}

/// Records just under a topic's `max.message.bytes` that cannot be handled (one undecodable,
/// one whose handler fails for good): the dead-letter headers push the forward over the limit,
/// the broker refuses it, and the forward goes again without its payload — claim-checked when
/// the consumer has a store, else with the payload left at its source offset. The consumer
/// moves on either way; redrive republishes the claim-checked letters and leaves the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_at_the_size_limit_are_dead_lettered_without_their_payload_and_never_wedge() {
    const LIMIT: usize = 16_384;
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-at-limit");
    let dlq_topic = dead_letter::dlq_topic(&topic);
    let admin = carebus::kafka::TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let limited = [("max.message.bytes", "16384")];
    for name in [&topic, &dlq_topic] {
        admin
            .apply(&[carebus::TopicSpec {
                configs: &limited,
                ..carebus::TopicSpec::new(name, 1, 1)
            }])
            .await
            .unwrap();
    }
    let t = transport(&bootstrap);
    // Random, so compression (LZ4 by default) cannot shrink the batches under the limit.
    let noise = |n: usize| -> String { (0..n).map(|_| fastrand::alphanumeric()).collect() };
    // Undecodable: no carebus headers, a value just under the limit.
    let junk = noise(LIMIT - 250).into_bytes();
    t.send(Record::new(topic.clone(), b"junk".to_vec(), junk.clone()))
        .await
        .expect("a record under the limit is accepted");
    // Decodable, but its handler fails for good: padded to just under the limit.
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let mut big = patient("big-fail", 0);
    let base = publisher
        .prepare(&big, PublishOptions::default())
        .unwrap()
        .size();
    big.changed_fields[0].push_str(&noise(LIMIT - 250 - base));
    publish(&publisher, &topic, big).await;
    publish(&publisher, &topic, patient("after", 1)).await;

    let blobs = std::env::temp_dir().join(carebus_tests::unique_name("at-limit-blobs"));
    let store: carebus::claim_check::SharedClaimCheck =
        Arc::new(carebus::claim_check::LocalDirStore::new(&blobs).unwrap());
    // First a group without a claim-check store, then one with.
    for claim_check in [None, Some(store.clone())] {
        let handler = Recorder {
            fail_patient: Some(("big-fail".into(), true)),
            ..Recorder::default()
        };
        let mut config = ConsumerConfig::new(carebus_tests::unique_name("at-limit-group"));
        config.topics = vec![topic.clone()];
        config.commit_interval = Duration::from_millis(200);
        let mut consumer = Consumer::new(
            Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap(),
            config,
        );
        if let Some(store) = claim_check {
            consumer = consumer.with_claim_check(store);
        }
        let (trigger, shutdown) = Shutdown::channel();
        let recorder = handler.clone();
        let task =
            tokio::spawn(async move { consumer.run(PatientsDispatcher(recorder), shutdown).await });
        wait_for("the event after the two", Duration::from_secs(60), || {
            handler.total() >= 1
        })
        .await;
        trigger.trigger();
        let report = task
            .await
            .unwrap()
            .expect("the consumer did not stop with an error");
        assert_eq!(
            report.finished, 3,
            "two dead-lettered, one handled: {report:?}"
        );
    }
    let reader = subscribe(
        &t,
        &carebus_tests::unique_name("at-limit-reader"),
        &dlq_topic,
    )
    .await;
    let letters = consume(&reader, 4, false, Duration::from_secs(60)).await;
    assert_eq!(letters.len(), 4);
    let header = |r: &carebus::transport::ReceivedRecord, name: &str| {
        header_str(&r.headers, name).map(str::to_owned)
    };
    for (i, letter) in letters.iter().enumerate() {
        let payload = header(letter, dead_letter::PAYLOAD).expect("sent without its payload");
        assert!(header(letter, REASON).is_some(), "the reason is kept");
        assert_eq!(
            header(letter, ORIGINAL_TOPIC).as_deref(),
            Some(topic.as_str())
        );
        if i < 2 {
            assert!(payload.starts_with("at-source:"), "{payload}");
            assert!(letter.payload().is_empty());
        } else {
            assert_eq!(payload, "claim-check");
            let value = carebus::claim_check::check_out(Some(store.as_ref()), &letter.headers)
                .await
                .expect("claim-checked")
                .unwrap();
            if i == 2 {
                assert_eq!(value, junk, "the whole payload was kept");
            } else {
                let (_, event) =
                    carebus::wire::decode::<PatientsEvent>(&letter.headers, &value).unwrap();
                assert!(
                    matches!(event, PatientsEvent::PatientUpdated(u) if u.patient_id == "big-fail")
                );
            }
        }
    }
    let report = dead_letter::redrive(
        &t,
        &dlq_topic,
        &carebus_tests::unique_name("at-limit-redrive"),
        Duration::from_secs(5),
        |_| true,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.redriven, report.without_payload),
        (2, 2),
        "{report:?}"
    );
    std::fs::remove_dir_all(blobs).ok();
}
