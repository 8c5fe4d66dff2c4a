//! The publisher on the in-process bus: validation, envelope inheritance, size limit and claim check, transactions, breaker + outbox with a transport that fails on demand, dead letters, request-reply, configuration.

use crate::common::handlers::{Recorder, eventually};
use crate::common::*;
use carebus::Settings;
use carebus::bus::{Bus, BusConfig, BusConsumer};
use carebus::claim_check::LocalDirStore;
use carebus::envelope::headers as h;
use carebus::publisher::{BreakerState, Outbox, OutboxKey};
use carebus::testing::{RecordingPublisher, TestConsumer, run_handler};
use carebus::transport::{
    Record, RecordPosition, SubscribeConfig, Transport, TransportError, TransportErrorKind,
    header_str,
};
use carebus::{
    Consumer, ConsumerConfig, ContextFields, Delivery, HandlerContext, Publish, PublishError,
    PublishOptions, Publisher, PublisherConfig, Shutdown, context,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const SECS5: Duration = Duration::from_secs(5);

/// A transport that delegates to the bus but fails every send while `down` is set, as a
/// broker that cannot be reached would.
#[derive(Clone)]
pub(crate) struct Flaky {
    bus: Bus,
    pub(crate) down: Arc<AtomicBool>,
    sends: Arc<AtomicUsize>,
    /// The number of the one send that fails although the broker is up (0: none).
    fail_send: Arc<AtomicUsize>,
}

impl Flaky {
    fn new(bus: &Bus) -> Flaky {
        Flaky {
            bus: bus.clone(),
            down: Arc::new(AtomicBool::new(true)),
            sends: Arc::default(),
            fail_send: Arc::default(),
        }
    }

    fn check(&self) -> Result<(), TransportError> {
        let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
        if self.down.load(Ordering::SeqCst) || n == self.fail_send.load(Ordering::SeqCst) {
            Err(
                TransportError::new(TransportErrorKind::Unreachable, "produce")
                    .with_detail("broker 127.0.0.1:9092 refused the connection"),
            )
        } else {
            Ok(())
        }
    }
}

impl Transport for Flaky {
    type Consumer = BusConsumer;
    async fn send(&self, record: Record) -> Result<RecordPosition, TransportError> {
        self.check()?;
        self.bus.send(record).await
    }
    async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        self.check()?;
        self.bus.send_transaction(records).await
    }
    async fn flush(&self, timeout: Duration) -> Result<(), TransportError> {
        self.bus.flush(timeout).await
    }
    async fn partition_count(&self, topic: &str) -> Result<i32, TransportError> {
        self.bus.partition_count(topic).await
    }
    async fn subscribe(&self, config: SubscribeConfig) -> Result<BusConsumer, TransportError> {
        self.bus.subscribe(config).await
    }
}

pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("carebus-{name}-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn invalid_events_are_rejected_before_anything_is_sent() {
    let bus = Bus::default();
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let bad = PatientAdmitted::new("p-1", "a ward name that is far too long");
    let err = publisher
        .publish_event(bad, PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Invalid(_)));
    assert_eq!(
        err.to_string(),
        "event failed validation: PatientAdmitted: field `ward` must be at most 16 characters"
    );
    let empty_tenant = PublishOptions {
        tenant_id: Some(" ".into()),
        ..PublishOptions::default()
    };
    let err = publisher
        .publish_event(PatientDischarged::new("p", 1), empty_tenant)
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Envelope(_)), "{err}");
    assert!(bus.topic_records(TOPIC).is_empty());
}

#[tokio::test]
async fn events_published_while_handling_one_inherit_its_correlation_and_name_it_as_cause() {
    let recorder = RecordingPublisher::new();
    let handled: HandlerContext = ContextFields {
        event_id: "evt-1",
        correlation_id: Some("request-789"),
        tenant_id: Some("hospital-456"),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ..ContextFields::default()
    }
    .into();
    context::within(handled, async {
        recorder
            .publish(PatientDischarged::new("p", 1), PublishOptions::default())
            .await
            .unwrap();
    })
    .await;
    recorder
        .publish(PatientDischarged::new("p", 2), PublishOptions::default())
        .await
        .unwrap();
    let rec = recorder.recorded();
    let inside = &rec[0].envelope;
    assert_eq!(inside.correlation_id.as_deref(), Some("request-789"));
    assert_eq!(inside.causation_id.as_deref(), Some("evt-1"));
    assert_eq!(inside.tenant_id.as_deref(), Some("hospital-456"));
    assert!(
        inside
            .traceparent
            .as_deref()
            .unwrap()
            .starts_with("00-0af7651916cd43dd8448eb211c80319c-")
    );
    let outside = &rec[1].envelope;
    assert_eq!(outside.correlation_id, None);
    assert_eq!(outside.causation_id, None);
    assert_eq!(recorder.events::<PatientDischarged>().len(), 2);
    assert_eq!(rec[1].data["sequence"], 2);
}

#[tokio::test]
async fn oversized_events_are_rejected_naming_type_and_size_or_claim_checked() {
    let bus = Bus::default();
    let config = PublisherConfig {
        max_message_bytes: 300,
        ..PublisherConfig::default()
    };
    let mut big = PatientAdmitted::new("p-1", "icu");
    big.notes = carebus::Phi::new("Jane Doe ".repeat(100));
    let publisher = Publisher::new(bus.clone(), config.clone()).unwrap();
    let err = publisher
        .publish_event(big.clone(), PublishOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, PublishError::TooLarge { size, max: 300, .. } if size > 900),
        "{text}"
    );
    assert!(
        text.contains("PatientAdmitted") && !text.contains("Jane"),
        "{text}"
    );
    assert!(bus.topic_records(TOPIC).is_empty());

    let dir = temp_dir("claims");
    let checked = Publisher::new(
        bus.clone(),
        PublisherConfig {
            claim_check_dir: Some(dir.clone()),
            ..config
        },
    )
    .unwrap();
    checked
        .publish_event(big.clone(), PublishOptions::default())
        .await
        .unwrap();
    let sent = &bus.topic_records(TOPIC)[0];
    assert!(sent.payload().len() < 100, "only the reference travels");
    assert!(!String::from_utf8_lossy(sent.payload()).contains("Jane"));
    let handler = Recorder::ok();
    let consumer = Consumer::new(checked.clone(), ConsumerConfig::new("g"))
        .with_claim_check(Arc::new(LocalDirStore::new(&dir).unwrap()));
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn({
        let handler = handler.clone();
        async move { consumer.run(handler, shutdown).await }
    });
    assert!(eventually(SECS5, || handler.count() == 1).await);
    trigger.trigger();
    task.await.unwrap().unwrap();
    assert_eq!(handler.seen()[0].1, WardsEvent::PatientAdmitted(big));
    std::fs::remove_dir_all(dir).ok();
}

/// In structured mode the envelope travels in the value, yet the publisher still knows each
/// record's event id: deliveries report it, and oversized events are claim-checked under
/// their own ids (two of them must not share one stored value).
#[tokio::test]
async fn structured_mode_events_keep_their_ids_through_delivery_and_claim_check() {
    let bus = Bus::default();
    let dir = temp_dir("claims-structured");
    let publisher = Publisher::new(
        bus.clone(),
        PublisherConfig {
            max_message_bytes: 300,
            framing: carebus::wire::Framing::StructuredJson,
            claim_check_dir: Some(dir.clone()),
            ..PublisherConfig::default()
        },
    )
    .unwrap();
    let mut events = Vec::new();
    let mut ids = Vec::new();
    for (patient, notes) in [("p-1", "first note "), ("p-2", "second note ")] {
        let mut big = PatientAdmitted::new(patient, "icu");
        big.notes = carebus::Phi::new(notes.repeat(60));
        let delivery = publisher
            .publish_event(big.clone(), PublishOptions::default())
            .await
            .unwrap();
        assert!(
            !delivery.event_id().is_empty(),
            "the delivery names its event"
        );
        ids.push(delivery.event_id().to_owned());
        events.push(WardsEvent::PatientAdmitted(big));
    }
    assert_ne!(ids[0], ids[1]);
    let store = LocalDirStore::new(&dir).unwrap();
    for (record, (id, expected)) in bus.topic_records(TOPIC).iter().zip(ids.iter().zip(&events)) {
        let value = carebus::claim_check::check_out(Some(&store), &record.headers)
            .await
            .expect("the record is claim-checked")
            .unwrap();
        let (envelope, event) =
            carebus::wire::decode::<WardsEvent>(&record.headers, &value).unwrap();
        assert_eq!(&envelope.event_id, id);
        assert_eq!(&event, expected, "each record's own payload comes back");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_transaction_makes_all_events_visible_or_none() {
    let bus = Bus::new(BusConfig {
        max_record_bytes: 400,
        ..BusConfig::default()
    });
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let mut tx = publisher.batch();
    tx.add(
        PatientAdmitted::new("p-1", "icu"),
        PublishOptions::default(),
    )
    .unwrap();
    tx.add(PatientDischarged::new("p-1", 1), PublishOptions::default())
        .unwrap();
    assert!(
        tx.add(PatientAdmitted::new("", "icu"), PublishOptions::default())
            .is_err()
    );
    assert_eq!(tx.len(), 2, "the invalid event was not added");
    let deliveries = tx.send_transaction().await.unwrap();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(bus.topic_records(TOPIC).len(), 2);

    // The bus refuses the second record (too large for the broker): nothing becomes visible.
    let mut huge = PatientAdmitted::new("p-2", "icu");
    huge.notes = carebus::Phi::new("x".repeat(1000));
    let mut tx = publisher.batch();
    tx.add(PatientDischarged::new("p-2", 1), PublishOptions::default())
        .unwrap();
    tx.add(huge, PublishOptions::default()).unwrap();
    let err = tx.send_transaction().await.unwrap_err();
    assert!(err.to_string().contains("transaction aborted"), "{err}");
    assert_eq!(bus.topic_records(TOPIC).len(), 2);
}

/// A publisher config with an outbox in `dir`, quick retries and a breaker that opens after
/// three failures.
fn outbox_config(dir: &std::path::Path) -> PublisherConfig {
    let mut config = PublisherConfig {
        outbox_dir: Some(dir.to_path_buf()),
        outbox_key: Some(OutboxKey::generate()),
        outbox_retry_interval: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    config.retry.attempts = 3;
    config.retry.initial_backoff = Duration::from_millis(1);
    config.breaker.failure_threshold = 3;
    config.breaker.open_for = Duration::from_millis(300);
    config
}

/// A bus with the test topic behind a transport that is down, and an outbox config in a
/// fresh directory named after `name`.
pub(crate) fn outage(name: &str) -> (Bus, Flaky, std::path::PathBuf, PublisherConfig) {
    let bus = Bus::default();
    bus.create_topic(TOPIC, 3);
    let flaky = Flaky::new(&bus);
    let dir = temp_dir(name);
    let config = outbox_config(&dir);
    (bus, flaky, dir, config)
}

/// Publish `n` discharges over three patients while the transport is down; each must be
/// kept in the outbox. Their event ids, in publish order.
async fn publish_while_down(publisher: &Publisher<Flaky>, n: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let delivery = publisher
            .publish_event(
                PatientDischarged::new(&format!("p-{}", i % 3), i),
                PublishOptions::default(),
            )
            .await
            .unwrap();
        let Delivery::Queued { event_id, .. } = delivery else {
            panic!("expected Queued, got {delivery:?}");
        };
        ids.push(event_id);
    }
    ids
}

/// Each partition of the test topic holds its discharges in sequence order.
fn assert_partitions_in_publish_order(bus: &Bus) {
    for p in 0..3 {
        let seqs: Vec<i64> = bus
            .records(TOPIC, p, 0)
            .iter()
            .map(discharge_sequence)
            .collect();
        assert!(
            seqs.is_sorted(),
            "partition {p} keeps publish order: {seqs:?}"
        );
    }
}

/// The sequence number of a discharge record.
fn discharge_sequence(r: &carebus::transport::ReceivedRecord) -> i64 {
    sequence_of(&r.headers, r.payload())
}

/// The sequence number of the discharge in these headers and value.
fn sequence_of(headers: &[(impl AsRef<str>, impl AsRef<[u8]>)], value: &[u8]) -> i64 {
    match carebus::wire::decode::<WardsEvent>(headers, value)
        .unwrap()
        .1
    {
        WardsEvent::PatientDischarged(d) => d.sequence,
        other => panic!("unexpected {other:?}"),
    }
}

/// A backlog longer than one drain round: every round's records are in flight together, and
/// still every event arrives once, each partition in publish order.
#[tokio::test]
async fn a_long_outbox_backlog_drains_in_rounds_exactly_once_and_in_order() {
    let (bus, flaky, dir, config) = outage("outbox-long");
    let publisher = Publisher::new(flaky.clone(), config).unwrap();
    let ids = publish_while_down(&publisher, 1_100).await;
    assert_eq!(publisher.outbox_len(), 1_100);
    flaky.down.store(false, Ordering::SeqCst);
    // A publish now goes behind the backlog (and starts the drain).
    let last = publisher
        .publish_event(
            PatientDischarged::new("p-0", 1_100),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    assert!(last.is_queued(), "{last:?}");
    assert!(eventually(SECS5 * 4, || publisher.outbox_len() == 0).await);
    let records = bus.topic_records(TOPIC);
    assert_eq!(records.len(), 1_101, "each event once");
    let delivered: std::collections::BTreeSet<String> = records
        .iter()
        .map(|r| header_str(&r.headers, h::ID).unwrap().to_string())
        .collect();
    assert!(ids.iter().all(|id| delivered.contains(id)));
    assert_partitions_in_publish_order(&bus);
    std::fs::remove_dir_all(dir).ok();
}

/// Publishes from many tasks at once while the transport is down: their outbox writes share
/// fsyncs, and every one is on disk when its publish returns `Queued` (a new publisher on the
/// same directory finds them all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_during_an_outage_are_all_kept_on_disk() {
    let (_bus, flaky, dir, config) = outage("outbox-concurrent");
    let publisher = Publisher::new(flaky.clone(), config.clone()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8i64 {
        let publisher = publisher.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let discharge = PatientDischarged::new(&format!("p-{task}"), i);
                match publisher
                    .publish_event(discharge, PublishOptions::default())
                    .await
                {
                    Ok(Delivery::Queued { event_id, .. }) => ids.push(event_id),
                    other => panic!("expected Queued, got {other:?}"),
                }
            }
            ids
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        ids.extend(joined.unwrap());
    }
    assert_eq!(ids.len(), 400);
    publisher.close().await;
    drop(publisher);
    let key = config.outbox_key.clone().unwrap();
    let reopened = Outbox::open(&dir, &key, config.outbox_max_bytes).unwrap();
    let kept: std::collections::BTreeSet<String> = reopened
        .peek_many(1_000)
        .unwrap()
        .iter()
        .map(|(_, r)| header_str(&r.headers, h::ID).unwrap().to_string())
        .collect();
    assert_eq!(kept, ids, "every queued event is on disk");
    // Each patient's events kept in the order its task published them.
    for task in 0..8 {
        let key = format!("p-{task}");
        let seqs: Vec<i64> = reopened
            .peek_many(1_000)
            .unwrap()
            .iter()
            .filter(|(_, r)| r.key.as_deref() == Some(key.as_bytes()))
            .map(|(_, r)| sequence_of(&r.headers, r.payload()))
            .collect();
        assert_eq!(seqs, (0..50).collect::<Vec<i64>>(), "{key}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Keep `events` in the outbox while the transport is down, then bring it up with the
/// `failing`-th send of the drain failing once, under a restarted publisher; returns when the
/// outbox is empty, with the event ids in publish order.
async fn drain_with_a_failed_send(
    flaky: &Flaky,
    config: PublisherConfig,
    events: i64,
    failing: usize,
) -> Vec<String> {
    let publisher = Publisher::new(flaky.clone(), config.clone()).unwrap();
    let ids = publish_while_down(&publisher, events).await;
    publisher.close().await;
    drop(publisher);
    flaky.fail_send.store(
        flaky.sends.load(Ordering::SeqCst) + failing,
        Ordering::SeqCst,
    );
    flaky.down.store(false, Ordering::SeqCst);
    let publisher = Publisher::new(flaky.clone(), config).unwrap();
    assert!(eventually(SECS5 * 4, || publisher.outbox_len() == 0).await);
    ids
}

/// A send that fails in the middle of a drain round: that record and the rest of the round
/// stay queued and are sent again, so nothing is lost (later records of the round may arrive
/// twice: at-least-once).
#[tokio::test]
async fn a_send_failing_mid_round_loses_nothing() {
    let (bus, flaky, dir, config) = outage("outbox-mid-round");
    let config = PublisherConfig {
        outbox_retry_interval: Duration::from_millis(300),
        ..config
    };
    // The 200th send of the drain fails once.
    let ids = drain_with_a_failed_send(&flaky, config, 600, 200).await;
    let records = bus.topic_records(TOPIC);
    let delivered: Vec<String> = records
        .iter()
        .map(|r| header_str(&r.headers, h::ID).unwrap().to_string())
        .collect();
    let failed = &ids[199];
    assert_eq!(
        delivered.iter().filter(|id| *id == failed).count(),
        1,
        "the record whose send failed arrives once, on the next round"
    );
    assert!(ids.iter().all(|id| delivered.contains(id)), "none lost");
    // The rest of the first round (records 201..=512) arrived, and arrives again.
    assert_eq!(records.len(), 600 + (512 - 200));
    std::fs::remove_dir_all(dir).ok();
}

/// A drain window of 1 sends one record at a time: a failed send is the last of its round, so
/// nothing arrives twice and every partition keeps publish order.
#[tokio::test]
async fn a_drain_window_of_one_keeps_strict_order_through_a_failed_send() {
    let (bus, flaky, dir, config) = outage("outbox-window-one");
    let config = PublisherConfig {
        outbox_drain_window: 1,
        ..config
    };
    drain_with_a_failed_send(&flaky, config, 60, 20).await;
    assert_eq!(bus.topic_records(TOPIC).len(), 60, "each event once");
    assert_partitions_in_publish_order(&bus);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_breaker_opens_the_outbox_keeps_events_and_delivers_them_later_in_order() {
    let (bus, flaky, dir, config) = outage("outbox");
    let publisher = Publisher::new(flaky.clone(), config.clone()).unwrap();
    let ids = publish_while_down(&publisher, 10).await;
    // Open, or half-open when the open period ran out on a slow machine.
    assert_ne!(publisher.breaker_state(), BreakerState::Closed);
    let sends_when_open = flaky.sends.load(Ordering::SeqCst);
    assert!(
        sends_when_open < 10,
        "the open circuit fails fast ({sends_when_open} sends)"
    );
    assert_eq!(publisher.outbox_len(), 10);
    assert!(bus.topic_records(TOPIC).is_empty());

    // A restart while the broker is down: a new publisher finds the events on disk.
    publisher.close().await;
    drop(publisher);
    let publisher = Publisher::new(flaky.clone(), config).unwrap();
    assert_eq!(publisher.outbox_len(), 10);
    flaky.down.store(false, Ordering::SeqCst);
    assert!(eventually(SECS5, || publisher.outbox_len() == 0).await);
    let records = bus.topic_records(TOPIC);
    let mut delivered: Vec<String> = records
        .iter()
        .map(|r| header_str(&r.headers, h::ID).unwrap().to_string())
        .collect();
    delivered.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        delivered, expected,
        "every queued event was delivered exactly once"
    );
    // Order per key: offsets increase with the sequence number.
    assert_partitions_in_publish_order(&bus);

    assert_eq!(publisher.breaker_state(), BreakerState::Closed);
    // New events go straight through again.
    publisher
        .publish_event(PatientDischarged::new("p-0", 99), PublishOptions::default())
        .await
        .unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn events_the_transport_refuses_for_good_go_to_the_dead_letter_topic() {
    let bus = Bus::new(BusConfig {
        auto_create_topics: false,
        ..BusConfig::default()
    });
    bus.create_topic("carebus.publish.dlq", 1);
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let err = publisher
        .publish_event(PatientDischarged::new("p", 1), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::DeadLettered { .. }), "{err}");
    let dead = bus.topic_records("carebus.publish.dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        header_str(&dead[0].headers, "carebus_dlq_reason"),
        Some("publish-refused")
    );
    assert_eq!(
        header_str(&dead[0].headers, "carebus_original_topic"),
        Some(TOPIC)
    );
}

#[tokio::test]
async fn async_fire_and_forget_and_batch_publishing_deliver() {
    let bus = Bus::default();
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let handle = publisher
        .publish_async(PatientDischarged::new("p", 1), PublishOptions::default())
        .unwrap();
    let delivery = handle.await.unwrap();
    assert_eq!(delivery.topic(), TOPIC);
    publisher
        .publish_detached(PatientDischarged::new("p", 2), PublishOptions::default())
        .unwrap();
    let mut batch = publisher.batch();
    for i in 3..6 {
        batch
            .add(PatientDischarged::new("q", i), PublishOptions::default())
            .unwrap();
    }
    let results = batch.send().await;
    assert!(results.iter().all(Result::is_ok));
    assert!(eventually(SECS5, || bus.topic_records(TOPIC).len() == 5).await);
    let mut watch = TestConsumer::<Bus, WardsEvent>::new(&bus).await.unwrap();
    let (env, _) = watch
        .expect(
            |_, e| matches!(e, WardsEvent::PatientDischarged(d) if d.sequence == 4),
            SECS5,
        )
        .await
        .unwrap();
    assert_eq!(env.aggregate_id, "q");
}

#[tokio::test]
async fn request_reply_correlates_the_reply_by_causation() {
    let bus = Bus::default();
    let config = PublisherConfig {
        reply_topic: Some("healthcare.wards.replies".into()),
        ..PublisherConfig::default()
    };
    let requester = Publisher::new(bus.clone(), config).unwrap();
    let responder = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    struct Answer(Publisher<Bus>);
    impl carebus::TopicHandler for Answer {
        type Events = WardsEvent;
        async fn handle(&self, ctx: &HandlerContext, e: WardsEvent) -> carebus::HandlerResult {
            if let WardsEvent::PatientAdmitted(a) = e {
                let reply = PatientDischarged::new(&a.patient_id, 42);
                self.0
                    .reply(ctx, reply)
                    .await
                    .map_err(|e| carebus::HandlerError::retriable(e.to_string()))?;
            }
            Ok(())
        }
    }
    let running = run_handler(&bus, "responder", Answer(responder));
    let (env, reply): (_, WardsEvent) = requester
        .request(
            PatientAdmitted::new("p-7", "icu"),
            PublishOptions::default(),
            SECS5,
        )
        .await
        .unwrap();
    assert_eq!(
        reply,
        WardsEvent::PatientDischarged(PatientDischarged::new("p-7", 42))
    );
    assert!(env.causation_id.is_some());
    running.stop().await.unwrap();
    let timeout = requester
        .request::<_, WardsEvent>(
            PatientAdmitted::new("p-8", "icu"),
            PublishOptions::default(),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(timeout, PublishError::ReplyTimeout { .. }),
        "{timeout}"
    );
}

#[test]
fn configuration_comes_from_toml_then_environment_and_passes_properties_through() {
    let mut config = PublisherConfig::default();
    config
        .apply_toml(
            r#"
            [publisher]
            source = "PRM Service"
            max_message_bytes = 2048
            framing = "json"
            outbox_drain_window = 64
            [publisher.properties]
            "bootstrap.servers" = "127.0.0.1:9092"
            "compression.type" = "zstd"
            "#,
        )
        .unwrap();
    config
        .apply_env([
            ("CAREBUS_MAX_MESSAGE_BYTES".to_string(), "4096".to_string()),
            ("CAREBUS_OUTBOX_DRAIN_WINDOW".to_string(), "1".to_string()),
            (
                "CAREBUS_PROP_ENABLE_IDEMPOTENCE".to_string(),
                "true".to_string(),
            ),
            ("HOME".to_string(), "/root".to_string()),
        ])
        .unwrap();
    assert_eq!(config.source, "PRM Service");
    assert_eq!(
        config.max_message_bytes, 4096,
        "the environment wins over the file"
    );
    assert!(matches!(config.framing, carebus::wire::Framing::Json));
    assert_eq!(config.outbox_drain_window, 1);
    assert_eq!(config.properties["bootstrap.servers"], "127.0.0.1:9092");
    assert_eq!(config.properties["compression.type"], "zstd");
    assert_eq!(config.properties["enable.idempotence"], "true");
    let err = config
        .apply_toml("[publisher]\nmax_mesage_bytes = 1")
        .unwrap_err();
    assert!(err.to_string().contains("max_mesage_bytes"), "{err}");
    let err = config
        .apply_env([("CAREBUS_RETRY_ATTEMPTS".to_string(), "many".to_string())])
        .unwrap_err();
    assert!(err.to_string().contains("CAREBUS_RETRY_ATTEMPTS"), "{err}");
}

#[tokio::test]
async fn callers_cannot_set_the_envelope_or_bookkeeping_headers() {
    let bus = Bus::default();
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let options = PublishOptions {
        headers: vec![
            ("x-request".into(), "r-1".into()),
            ("ce_type".into(), "Forged".into()),
            ("traceparent".into(), "00-bogus".into()),
            (
                carebus::claim_check::CLAIM_CHECK_HEADER.into(),
                "blob".into(),
            ),
            (carebus::dead_letter::REASON.into(), "forged".into()),
        ],
        ..PublishOptions::default()
    };
    let record = publisher
        .prepare(&PatientDischarged::new("p-1", 1), options)
        .unwrap();
    let named = |n: &str| record.headers.iter().filter(|(h, _)| h == n).count();
    assert_eq!(header_str(&record.headers, "x-request"), Some("r-1"));
    assert_eq!(
        header_str(&record.headers, "ce_type"),
        Some("PatientDischarged")
    );
    assert_eq!(named("ce_type"), 1);
    assert_eq!(named("traceparent"), 1);
    assert_ne!(header_str(&record.headers, "traceparent"), Some("00-bogus"));
    assert_eq!(named(carebus::claim_check::CLAIM_CHECK_HEADER), 0);
    assert_eq!(named(carebus::dead_letter::REASON), 0);
}
