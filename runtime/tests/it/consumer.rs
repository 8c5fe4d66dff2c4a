//! The consumer on the in-process bus: round trip, redelivery, prefix commits, key order, retry topics, dead letters, poison pills, shutdown, dedupe.

use crate::common::handlers::{Overlap, Recorder, eventually, retriable};
use crate::common::scenarios::{self, SECS5, fast, publish_discharges, setup};
use crate::common::*;
use carebus::bus::Bus;
use carebus::consumer::RecentIds;
use carebus::dead_letter;
use carebus::envelope::headers as h;
use carebus::testing::{run_handler, run_handler_with};
use carebus::transport::{Record, Transport, header_str};
use carebus::{
    Consumer, ConsumerConfig, HandlerError, ProcessingMode, PublishOptions, Publisher,
    PublisherConfig, Shutdown, UnknownEvents,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test]
async fn published_events_reach_the_typed_handler_with_their_envelope() {
    let (bus, publisher) = setup(3);
    let recorder = Recorder::ok();
    let running = run_handler(&bus, "g", recorder.clone());
    let admitted = PatientAdmitted::new("patient-1", "icu");
    let discharged = PatientDischarged::new("patient-1", 1);
    let options = PublishOptions {
        tenant_id: Some("hospital-456".into()),
        correlation_id: Some("request-789".into()),
        ..PublishOptions::default()
    };
    let d1 = publisher
        .publish_event(admitted.clone(), options.clone())
        .await
        .unwrap();
    publisher
        .publish_event(discharged.clone(), options)
        .await
        .unwrap();
    assert!(eventually(SECS5, || recorder.count() == 2).await);
    let seen = recorder.seen();
    assert_eq!(seen[0].1, WardsEvent::PatientAdmitted(admitted));
    assert_eq!(seen[1].1, WardsEvent::PatientDischarged(discharged));
    let ctx = &seen[0].0;
    assert_eq!(ctx.event_id(), d1.event_id());
    assert_eq!(ctx.tenant_id(), Some("hospital-456"));
    assert_eq!(ctx.correlation_id(), Some("request-789"));
    assert_eq!(
        (ctx.partition, ctx.offset, ctx.attempt),
        (d1.partition().unwrap(), d1.offset().unwrap(), 1)
    );
    let report = running.stop().await.unwrap();
    assert_eq!(report.finished, 2);
    assert_eq!(
        bus.committed_offset("g", TOPIC, d1.partition().unwrap()),
        Some(2)
    );
}

#[tokio::test]
async fn each_handler_sees_its_own_records_envelope_not_one_left_from_the_record_before() {
    // The consumer refills one context per record; optional fields present on one record and
    // absent on the next must not carry over.
    let (bus, publisher) = setup(1);
    let with = |tenant: &str, user: &str| PublishOptions {
        tenant_id: Some(tenant.into()),
        user_id: Some(user.into()),
        ..PublishOptions::default()
    };
    let options = [
        with("hospital-456", "nurse-7"),
        PublishOptions::default(),
        with("hospital-9", "doctor-2"),
    ];
    let mut deliveries = Vec::new();
    for (seq, options) in options.iter().enumerate() {
        let event = PatientDischarged::new(&format!("patient-{seq}"), seq as i64);
        deliveries.push(
            publisher
                .publish_event(event, options.clone())
                .await
                .unwrap(),
        );
    }
    let recorder = Recorder::ok();
    let running = run_handler(&bus, "g", recorder.clone());
    assert!(eventually(SECS5, || recorder.count() == 3).await);
    let seen = recorder.seen();
    for (((ctx, _), options), delivery) in seen.iter().zip(&options).zip(&deliveries) {
        assert_eq!(ctx.event_id(), delivery.event_id());
        assert_eq!(ctx.offset, delivery.offset().unwrap());
        assert_eq!(ctx.tenant_id(), options.tenant_id.as_deref());
        assert_eq!(ctx.user_id(), options.user_id.as_deref());
    }
    assert_eq!(seen[1].0.aggregate_id(), "patient-1");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_handler_leaves_the_offset_uncommitted_and_the_group_redelivers() {
    let (bus, publisher) = setup(1);
    publish_discharges(&publisher, 3, 1).await;
    let mut config = fast("g");
    config.dead_letter = false;
    config.retry.attempts = 2;
    let failing = Recorder::failing(|_, e| match e {
        WardsEvent::PatientDischarged(d) if d.sequence == 1 => retriable("ward system down"),
        _ => Ok(()),
    });
    let consumer = Consumer::new(publisher.clone(), config.clone());
    let err = consumer
        .run(failing.clone(), Shutdown::never())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ward system down"), "{err}");
    assert_eq!(
        failing.count(),
        3,
        "event 0 once, event 1 twice (in-place retry)"
    );
    assert_eq!(
        bus.committed_offset("g", TOPIC, 0),
        Some(1),
        "only event 0 is committed"
    );

    // A new member of the group gets event 1 again.
    let healthy = Recorder::ok();
    let running = run_handler_with(&bus, config, healthy.clone());
    assert!(eventually(SECS5, || healthy.count() == 2).await);
    let seqs: Vec<i64> = healthy
        .seen()
        .iter()
        .map(|(_, e)| match e {
            WardsEvent::PatientDischarged(d) => d.sequence,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    running.stop().await.unwrap();
    assert_eq!(bus.committed_offset("g", TOPIC, 0), Some(3));
}

#[tokio::test]
async fn out_of_order_completion_commits_only_the_finished_prefix() {
    let (bus, publisher) = setup(1);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    struct Gated {
        gate: Arc<tokio::sync::Semaphore>,
        handled: Arc<AtomicUsize>,
    }
    impl carebus::TopicHandler for Gated {
        type Events = WardsEvent;
        async fn handle(
            &self,
            _: &carebus::HandlerContext,
            e: WardsEvent,
        ) -> carebus::HandlerResult {
            if e.aggregate_id_for_test() == "slow" {
                let _permit = self.gate.acquire().await.unwrap();
            }
            self.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    for key in ["slow", "a", "b", "c"] {
        publisher
            .publish_event(PatientDischarged::new(key, 0), PublishOptions::default())
            .await
            .unwrap();
    }
    let mut config = fast("g");
    config.mode = ProcessingMode::KeyOrdered { max_in_flight: 4 };
    let running = run_handler_with(
        &bus,
        config,
        Gated {
            gate: gate.clone(),
            handled: handled.clone(),
        },
    );
    assert!(eventually(SECS5, || handled.load(Ordering::SeqCst) == 3).await);
    tokio::time::sleep(Duration::from_millis(100)).await; // several commit intervals
    assert_eq!(
        bus.committed_offset("g", TOPIC, 0),
        None,
        "offsets 1..3 are done but offset 0 is not: nothing may be committed"
    );
    gate.add_permits(1);
    assert!(eventually(SECS5, || bus.committed_offset("g", TOPIC, 0) == Some(4)).await);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn key_ordered_mode_keeps_each_keys_order_and_runs_keys_concurrently() {
    let (bus, publisher) = setup(2);
    let keys: Vec<String> = (0..8).map(|k| format!("patient-{k}")).collect();
    for seq in 0..10 {
        for k in &keys {
            publisher
                .publish_event(PatientDischarged::new(k, seq), PublishOptions::default())
                .await
                .unwrap();
        }
    }
    let handler = Overlap::new(|_| Duration::from_millis(fastrand::u64(0..4)));
    let order = handler.order.clone();
    let mut config = fast("g");
    config.mode = ProcessingMode::KeyOrdered { max_in_flight: 8 };
    let running = run_handler_with(&bus, config, handler.clone());
    assert!(
        eventually(Duration::from_secs(10), || order.lock().unwrap().len()
            == 80)
        .await
    );
    running.stop().await.unwrap();
    for k in &keys {
        let seqs: Vec<i64> = order
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, e)| match e {
                WardsEvent::PatientDischarged(d) if &d.patient_id == k => Some(d.sequence),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "order of {k}");
    }
    assert!(handler.max_running() > 1, "different keys ran concurrently");
}

#[tokio::test]
async fn retriable_failures_go_through_the_retry_topics_then_the_dead_letter_topic() {
    let (bus, publisher) = setup(1);
    let mut config = fast("g");
    config.retry.attempts = 2;
    config.retry_topic_delays = vec![Duration::from_millis(30), Duration::from_millis(60)];
    let failing = Recorder::failing(|_, _| retriable("lab system timed out"));
    let running = run_handler_with(&bus, config, failing.clone());
    let d = publisher
        .publish_event(PatientDischarged::new("p", 1), PublishOptions::default())
        .await
        .unwrap();
    let dlq = dead_letter::dlq_topic(TOPIC);
    assert!(eventually(SECS5, || !bus.topic_records(&dlq).is_empty()).await);
    running.stop().await.unwrap();
    assert_eq!(
        failing.count(),
        6,
        "2 attempts on the topic and on each of 2 retry topics"
    );
    let attempts: Vec<u32> = failing.seen().iter().map(|(c, _)| c.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5, 6]);
    assert!(failing.seen().iter().all(|(c, _)| c.topic() == TOPIC));
    assert_eq!(
        bus.topic_records(&dead_letter::retry_topic(TOPIC, 1)).len(),
        1
    );
    assert_eq!(
        bus.topic_records(&dead_letter::retry_topic(TOPIC, 2)).len(),
        1
    );
    let letters = dead_letter::inspect(&bus, &dlq, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(l.reason.as_deref(), Some("handler-failed"));
    assert_eq!(l.error.as_deref(), Some("lab system timed out"));
    assert_eq!(l.original_topic.as_deref(), Some(TOPIC));
    assert_eq!(l.original_offset, Some(d.offset().unwrap()));
    assert_eq!(l.attempts, Some(6));
    assert_eq!(l.event_id.as_deref(), Some(d.event_id()));
    // Everything was finished, so everything is committed.
    assert_eq!(bus.committed_offset("g", TOPIC, 0), Some(1));
}

#[tokio::test]
async fn permanent_errors_skip_retries_and_dead_letters_can_be_redriven() {
    let (bus, publisher) = setup(1);
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = broken.clone();
    let handler = Recorder::failing(move |_, _| {
        if flag.load(Ordering::SeqCst) {
            Err(HandlerError::permanent("ward code not in the registry"))
        } else {
            Ok(())
        }
    });
    let running = run_handler(&bus, "g", handler.clone());
    publisher
        .publish_event(
            PatientAdmitted::new("p-9", "x-ray"),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    let dlq = dead_letter::dlq_topic(TOPIC);
    assert!(eventually(SECS5, || bus.topic_records(&dlq).len() == 1).await);
    assert_eq!(handler.count(), 1, "a permanent error is not retried");
    broken.store(false, Ordering::SeqCst);
    let report = dead_letter::redrive(&bus, &dlq, "redrive", Duration::from_millis(50), |l| {
        l.reason.as_deref() == Some("handler-failed")
    })
    .await
    .unwrap();
    assert_eq!(report.redriven, 1);
    assert!(eventually(SECS5, || handler.count() == 2).await);
    running.stop().await.unwrap();
    // Redriving again finds nothing new for that group.
    let again = dead_letter::redrive(&bus, &dlq, "redrive", Duration::from_millis(50), |_| true)
        .await
        .unwrap();
    assert_eq!(again.redriven, 0);
}

#[tokio::test]
async fn unknown_event_versions_are_skipped_and_committed_by_default() {
    let (bus, publisher) = setup(1);
    let handler = Recorder::ok();
    let running = run_handler(&bus, "g", handler.clone());
    let good = publisher
        .prepare(
            &PatientAdmitted::new("p-1", "icu"),
            PublishOptions::default(),
        )
        .unwrap();
    // A version this consumer does not know (a producer ahead of it), by header and fingerprint.
    let mut newer = good.clone();
    newer.headers.retain(|(n, _)| n != h::EVENT_VERSION);
    newer.headers.push((h::EVENT_VERSION.into(), b"7".to_vec()));
    newer.value.as_mut().unwrap()[2..10].copy_from_slice(&0xabcdu64.to_le_bytes());
    bus.send(newer).await.unwrap();
    bus.send(good.into_record()).await.unwrap();
    assert!(
        eventually(SECS5, || handler.count() == 1).await,
        "the known event after the unknown one is handled"
    );
    assert!(
        eventually(SECS5, || bus.committed_offset("g", TOPIC, 0) == Some(2)).await,
        "the unknown event is committed past, not left to block the partition"
    );
    running.stop().await.unwrap();
    assert!(
        bus.topic_records(&dead_letter::dlq_topic(TOPIC)).is_empty(),
        "skipped, not dead-lettered"
    );
    assert_eq!(handler.count(), 1);
}

#[tokio::test]
async fn poison_pills_go_to_the_dead_letter_topic_with_phi_free_headers() {
    let (bus, publisher) = setup(1);
    let handler = Recorder::ok();
    let config = ConsumerConfig {
        unknown_events: UnknownEvents::DeadLetter,
        ..fast("g")
    };
    let running = run_handler_with(&bus, config, handler.clone());
    let mut good = publisher
        .prepare(
            &PatientAdmitted::new("p-1", "icu"),
            PublishOptions::default(),
        )
        .unwrap();
    let good_id = header_str(&good.headers, h::ID).unwrap().to_owned();
    // Truncated payload: the notes string (PHI) is cut mid-way.
    let mut truncated = good.clone();
    truncated
        .value
        .as_mut()
        .unwrap()
        .truncate(good.payload().len() - 4);
    bus.send(truncated).await.unwrap();
    // Unknown version.
    let mut unknown = good.clone();
    unknown.headers.retain(|(n, _)| n != h::EVENT_VERSION);
    unknown
        .headers
        .push((h::EVENT_VERSION.into(), b"7".to_vec()));
    unknown.value.as_mut().unwrap()[2..10].copy_from_slice(&0xabcdu64.to_le_bytes());
    bus.send(unknown).await.unwrap();
    // Not a carebus record at all.
    bus.send(Record::new(
        TOPIC,
        "k",
        b"Jane Doe, DOB 1990-01-01".to_vec(),
    ))
    .await
    .unwrap();
    good.headers.push(("x-test".into(), b"good".to_vec()));
    bus.send(good.into_record()).await.unwrap();
    let dlq = dead_letter::dlq_topic(TOPIC);
    assert!(eventually(SECS5, || bus.topic_records(&dlq).len() == 3).await);
    assert!(
        eventually(SECS5, || handler.count() == 1).await,
        "the good record after the pills is handled"
    );
    running.stop().await.unwrap();
    let letters = dead_letter::inspect(&bus, &dlq, Duration::from_millis(50))
        .await
        .unwrap();
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l.reason.as_deref().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "poison-pill:undecodable-payload",
            "poison-pill:unknown-fingerprint",
            "poison-pill:bad-envelope"
        ]
    );
    assert_eq!(letters[0].event_id.as_deref(), Some(good_id.as_str()));
    let offsets: Vec<Option<i64>> = letters.iter().map(|l| l.original_offset).collect();
    assert_eq!(offsets, [Some(0), Some(1), Some(2)]);
    for l in &letters {
        for (name, value) in &l.record().headers {
            let text = String::from_utf8_lossy(value);
            assert!(
                !text.contains("Jane") && !text.contains("broken arm"),
                "{name}: {text}"
            );
        }
        assert!(!format!("{l:?}").contains("Jane"));
        assert_eq!(
            header_str(&l.record().headers, dead_letter::ORIGINAL_TOPIC),
            Some(TOPIC)
        );
    }
    assert_eq!(bus.committed_offset("g", TOPIC, 0), Some(4));
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_work_commits_and_leaves() {
    scenarios::graceful_shutdown_finishes_in_flight_work_commits_and_leaves(false).await;
}

#[tokio::test]
async fn duplicates_are_skipped_when_dedupe_is_on() {
    let (bus, publisher) = setup(1);
    let options = PublishOptions {
        event_id: Some("6f1c2a9e-0000-4000-8000-000000000001".into()),
        ..PublishOptions::default()
    };
    for _ in 0..2 {
        publisher
            .publish_event(PatientDischarged::new("p", 1), options.clone())
            .await
            .unwrap();
    }
    publisher
        .publish_event(PatientDischarged::new("p", 2), PublishOptions::default())
        .await
        .unwrap();
    let handler = Recorder::ok();
    let consumer =
        Consumer::new(publisher.clone(), fast("g")).with_dedupe(Arc::new(RecentIds::new(100)));
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn({
        let handler = handler.clone();
        async move { consumer.run(handler, shutdown).await }
    });
    assert!(eventually(SECS5, || bus.committed_offset("g", TOPIC, 0) == Some(3)).await);
    trigger.trigger();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.finished, 3);
    assert_eq!(handler.count(), 2, "the duplicate was skipped");
}

trait TestKey {
    fn aggregate_id_for_test(&self) -> String;
}
impl TestKey for WardsEvent {
    fn aggregate_id_for_test(&self) -> String {
        carebus::TopicEvents::aggregate_id(self)
    }
}

#[tokio::test]
async fn batch_mode_hands_over_batches_and_commits_them() {
    let (bus, publisher) = setup(1);
    for i in 0..7 {
        publisher
            .publish_event(PatientDischarged::new("p", i), PublishOptions::default())
            .await
            .unwrap();
    }
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let consumer = Consumer::new(publisher.clone(), fast("batch"));
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn({
        let sizes = sizes.clone();
        async move {
            consumer
                .run_batch::<WardsEvent, _, _>(
                    3,
                    Duration::from_millis(20),
                    move |batch| {
                        sizes.lock().unwrap().push(batch.len());
                        async { Ok(()) }
                    },
                    shutdown,
                )
                .await
        }
    });
    assert!(eventually(SECS5, || bus.committed_offset("batch", TOPIC, 0) == Some(7)).await);
    trigger.trigger();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.finished, 7);
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 7);
    assert!(sizes.iter().all(|s| *s <= 3), "{sizes:?}");
}

#[tokio::test]
async fn stream_mode_yields_decoded_events_and_commits_what_was_acknowledged() {
    use futures::StreamExt;
    let (bus, publisher) = setup(1);
    for i in 0..4 {
        publisher
            .publish_event(PatientDischarged::new("p", i), PublishOptions::default())
            .await
            .unwrap();
    }
    let consumer = Consumer::new(publisher.clone(), fast("stream"));
    let mut stream = consumer.stream::<WardsEvent>().await.unwrap();
    let mut items = Vec::new();
    while items.len() < 3 {
        items.push(stream.next().await.unwrap().unwrap());
    }
    let seqs: Vec<i64> = items.iter().map(|i| sequence(&i.event)).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    items[0].ack();
    items[1].ack();
    assert_eq!(stream.unacknowledged(), 1);
    stream.close().await.unwrap();
    assert_eq!(
        bus.committed_offset("stream", TOPIC, 0),
        Some(2),
        "the third item was handed out but never acknowledged: not committed"
    );
}

fn sequence(event: &WardsEvent) -> i64 {
    match event {
        WardsEvent::PatientDischarged(d) => d.sequence,
        other => panic!("unexpected {other:?}"),
    }
}

/// A buffering, reordering combinator (`buffer_unordered`) over the stream: items finish out
/// of order and some never finish before the stream is closed. No offset past an unprocessed
/// event is ever committed, and the group delivers exactly the unprocessed ones again.
#[tokio::test]
async fn stream_mode_under_a_reordering_combinator_commits_no_unprocessed_event() {
    use futures::StreamExt;
    use std::collections::BTreeSet;
    let (bus, publisher) = setup(1);
    publish_discharges(&publisher, 40, 1).await;
    let consumer = Consumer::new(publisher.clone(), fast("reorder"));
    let mut stream = consumer.stream::<WardsEvent>().await.unwrap();
    let processed: Arc<std::sync::Mutex<BTreeSet<i64>>> = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    {
        let processed = processed.clone();
        let mut stop_seen = stopped.clone();
        let work = stream
            .by_ref()
            .take(30)
            .map(|item| {
                let processed = processed.clone();
                let mut stopped = stopped.clone();
                async move {
                    let item = item.unwrap();
                    let seq = sequence(&item.event);
                    // Every fourth event is slow: it is still in flight when the stream stops.
                    let slow = seq % 4 == 1;
                    let wait =
                        Duration::from_millis(if slow { 10_000 } else { (seq % 3) as u64 * 5 });
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {
                            processed.lock().unwrap().insert(seq);
                            item.ack();
                        }
                        _ = stopped.wait_for(|s| *s) => {}
                    }
                }
            })
            .buffer_unordered(8)
            .for_each(|()| async {});
        tokio::select! {
            () = work => {}
            _ = async {
                eventually(SECS5, || processed.lock().unwrap().len() >= 20).await;
                let _ = stop.send(true);
                stop_seen.wait_for(|s| *s).await
            } => {}
        }
    }
    let done = processed.lock().unwrap().clone();
    let first_unprocessed = (0..40).find(|s| !done.contains(s)).unwrap();
    assert!(
        first_unprocessed < 30,
        "some of the 30 taken stayed in flight"
    );
    stream.commit().await.unwrap();
    let committed = bus.committed_offset("reorder", TOPIC, 0).unwrap_or(0);
    assert!(
        committed <= first_unprocessed,
        "committed {committed}, but event {first_unprocessed} was never processed"
    );
    assert_eq!(
        committed, first_unprocessed,
        "everything before the first unprocessed event is committed"
    );
    stream.close().await.unwrap();

    // The group delivers again everything from the first unprocessed event on.
    let again = Consumer::new(publisher.clone(), fast("reorder"));
    let mut again = again.stream::<WardsEvent>().await.unwrap();
    let mut seen = BTreeSet::new();
    while seen.len() < (40 - first_unprocessed) as usize {
        let item = tokio::time::timeout(SECS5, again.next())
            .await
            .expect("redelivery")
            .unwrap()
            .unwrap();
        seen.insert(sequence(&item.event));
        item.ack();
    }
    assert_eq!(seen, (first_unprocessed..40).collect::<BTreeSet<_>>());
    for lost in (0..40).filter(|s| !done.contains(s)) {
        assert!(
            seen.contains(&lost),
            "unprocessed event {lost} is delivered again"
        );
    }
    again.close().await.unwrap();
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted() {
    scenarios::a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted(
        false,
    )
    .await;
}

#[tokio::test]
async fn a_member_joining_mid_stream_takes_partitions_without_losing_events() {
    scenarios::a_member_joining_mid_stream_takes_partitions_without_losing_events(false).await;
}

#[tokio::test]
async fn events_published_by_a_handler_carry_the_handled_events_correlation_and_cause() {
    use carebus::testing::TestConsumer;
    let (bus, publisher) = setup(1);
    struct Discharger(Publisher<Bus>);
    impl carebus::TopicHandler for Discharger {
        type Events = WardsEvent;
        async fn handle(
            &self,
            _: &carebus::HandlerContext,
            e: WardsEvent,
        ) -> carebus::HandlerResult {
            if let WardsEvent::PatientAdmitted(a) = e {
                // No options: correlation and causation come from the handled event.
                self.0
                    .publish_event(
                        PatientDischarged::new(&a.patient_id, 1),
                        PublishOptions::default(),
                    )
                    .await
                    .map_err(|e| HandlerError::retriable(e.to_string()))?;
            }
            Ok(())
        }
    }
    let mut watch = TestConsumer::<Bus, WardsEvent>::new(&bus).await.unwrap();
    let running = run_handler(&bus, "discharger", Discharger(publisher.clone()));
    let options = PublishOptions {
        correlation_id: Some("request-789".into()),
        tenant_id: Some("hospital-456".into()),
        ..PublishOptions::default()
    };
    let admitted = publisher
        .publish_event(PatientAdmitted::new("p-3", "icu"), options)
        .await
        .unwrap();
    let (env, _) = watch
        .expect(|_, e| matches!(e, WardsEvent::PatientDischarged(_)), SECS5)
        .await
        .unwrap();
    running.stop().await.unwrap();
    assert_eq!(env.correlation_id.as_deref(), Some("request-789"));
    assert_eq!(env.causation_id.as_deref(), Some(admitted.event_id()));
    assert_eq!(env.tenant_id.as_deref(), Some("hospital-456"));
}

#[tokio::test]
async fn backpressure_pauses_and_resumes_without_losing_or_reordering_events() {
    scenarios::backpressure_pauses_and_resumes_without_losing_or_reordering_events(false).await;
}

#[tokio::test]
async fn sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not() {
    scenarios::sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not(false)
        .await;
}

#[tokio::test]
async fn a_panicking_handler_stops_the_consumer_with_an_error_and_commits_nothing_after_it() {
    let (bus, publisher) = setup(1);
    publish_discharges(&publisher, 3, 1).await;
    let panicking = Recorder::failing(|_, e| match e {
        WardsEvent::PatientDischarged(d) if d.sequence == 1 => panic!("bug in the handler"),
        _ => Ok(()),
    });
    let consumer = Consumer::new(publisher.clone(), fast("g"));
    let err = tokio::time::timeout(SECS5, consumer.run(panicking.clone(), Shutdown::never()))
        .await
        .expect("the consumer stops instead of hanging")
        .unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(
        bus.committed_offset("g", TOPIC, 0),
        Some(1),
        "event 0 is committed, the event whose handler panicked is not"
    );
}

#[tokio::test]
async fn events_in_every_framing_reach_the_handler_with_their_envelope() {
    use carebus::wire::{Framing, SchemaIds};
    let bus = Bus::default();
    bus.create_topic(TOPIC, 2);
    let recorder = Recorder::ok();
    let running = run_handler(&bus, "g", recorder.clone());
    let framings = [
        Framing::SingleObject,
        Framing::Confluent(SchemaIds::from_fn(|_, _| Some(7))),
        Framing::Json,
        Framing::StructuredJson,
    ];
    let mut sent = Vec::new();
    for (i, framing) in framings.into_iter().enumerate() {
        let config = PublisherConfig {
            framing,
            source: "Ward Service".into(),
            ..PublisherConfig::default()
        };
        let publisher = Publisher::new(bus.clone(), config).unwrap();
        let options = PublishOptions {
            tenant_id: Some("hospital-456".into()),
            correlation_id: Some(format!("request-{i}")),
            user_id: Some("nurse-7".into()),
            ..PublishOptions::default()
        };
        let event = PatientDischarged::new(&format!("patient-{i}"), i as i64);
        let delivery = publisher
            .publish_event(event.clone(), options)
            .await
            .unwrap();
        sent.push((delivery, event));
    }
    assert!(eventually(SECS5, || recorder.count() == sent.len()).await);
    running.stop().await.unwrap();
    let seen = recorder.seen();
    for (i, (delivery, event)) in sent.iter().enumerate() {
        let (ctx, handled) = seen
            .iter()
            .find(|(c, _)| c.event_id() == delivery.event_id())
            .unwrap_or_else(|| panic!("framing {i}: event not handled"));
        assert_eq!(
            handled,
            &WardsEvent::PatientDischarged(event.clone()),
            "{i}"
        );
        let expected = carebus::ContextFields {
            event_id: delivery.event_id(),
            event_type: "PatientDischarged",
            event_version: 1,
            aggregate_id: &event.patient_id,
            aggregate_type: ctx.aggregate_type(),
            tenant_id: Some("hospital-456"),
            correlation_id: Some(&format!("request-{i}")),
            causation_id: None,
            topic: TOPIC,
            partition: delivery.partition().unwrap(),
            offset: delivery.offset().unwrap(),
            attempt: 1,
            reply_to: None,
            traceparent: ctx.traceparent(),
            source: Some("Ward Service"),
            user_id: Some("nurse-7"),
        };
        assert_eq!(ctx.fields(), expected, "framing {i}");
        assert!(!ctx.aggregate_type().is_empty(), "{i}");
        assert!(ctx.traceparent().is_some_and(|t| t.len() == 55), "{i}");
    }
}
