//! The Kafka transport against the real single broker: records in, the same records (keys, headers, partitions, offsets) out; transactions all-or-nothing; at-least-once across a killed consumer.

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::Settings;
use carebus::bus::partition_for_key;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus::transport::{
    ConsumerEvent, Record, SubscribeConfig, TopicPartition, Transport, TransportErrorKind, Unsent,
};
use carebus_tests::{kafka_bootstrap, unique_name};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_with_keys_headers_and_kafkas_key_partitioning() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_round_trip");
    create_topic(&bootstrap, &topic, 4, 1).await;
    let kafka = transport(&bootstrap);
    assert_eq!(kafka.partition_count(&topic).await.unwrap(), 4);

    let mut sent = Vec::new();
    for i in 0..40u32 {
        let key = format!("patient-{}", i % 7);
        let record = Record::new(&topic, key.clone(), format!("payload-{i}").into_bytes())
            .with_header("ce_id", format!("id-{i}"))
            .with_header("ce_type", "PatientCreated");
        let position = kafka.send(record).await.unwrap();
        // Kafka's murmur2 partitioner, the same the in-process bus uses.
        assert_eq!(
            position.partition,
            partition_for_key(key.as_bytes(), 4),
            "{key}"
        );
        sent.push((key, i, position));
    }
    kafka.flush(Duration::from_secs(10)).await.unwrap();

    let consumer = subscribe(&kafka, &unique_name("round_trip_group"), &topic).await;
    let got = consume(&consumer, 40, true, WAIT).await;
    assert_eq!(got.len(), 40);
    for (key, i, position) in &sent {
        let r = got
            .iter()
            .find(|r| r.partition == position.partition && r.offset == position.offset)
            .unwrap_or_else(|| panic!("record {i} at {position:?} not consumed"));
        assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(r.payload(), format!("payload-{i}").into_bytes());
        assert_eq!(
            carebus::transport::header_str(&r.headers, "ce_id"),
            Some(format!("id-{i}").as_str())
        );
        assert_eq!(
            carebus::transport::header_str(&r.headers, "ce_type"),
            Some("PatientCreated")
        );
        assert!(r.timestamp_ms > 0);
    }
    consumer.commit().await.unwrap();
    for p in 0..4 {
        let tp = TopicPartition::new(&topic, p);
        let last = sent
            .iter()
            .filter(|s| s.2.partition == p)
            .map(|s| s.2.offset)
            .max();
        assert_eq!(consumer.committed(&tp).await.unwrap(), last.map(|o| o + 1));
    }
    consumer.close().await.unwrap();
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(e) if e.kind() == &TransportErrorKind::Closed
    ));
}

/// The consumer lends headers from a list on the stack and spills longer lists to the heap:
/// every header arrives, in order and with repeats, either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_with_many_headers_arrive_with_all_of_them_in_order() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_many_headers");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let kafka = transport(&bootstrap);
    let counts = [0usize, 1, 24, 25, 60];
    for &count in &counts {
        let mut record = Record::new(&topic, "patient-1", format!("{count}").into_bytes());
        for h in 0..count {
            // Every fifth name repeats the one before: Kafka keeps repeated headers.
            let name = format!("x-header-{}", h - usize::from(h % 5 == 4));
            record = record.with_header(name, format!("value-{count}-{h}"));
        }
        kafka.send(record).await.unwrap();
    }
    let consumer = subscribe(&kafka, &unique_name("many_headers_group"), &topic).await;
    let got = consume(&consumer, counts.len(), true, WAIT).await;
    assert_eq!(got.len(), counts.len());
    for (r, &count) in got.iter().zip(&counts) {
        assert_eq!(r.payload(), format!("{count}").into_bytes());
        let expected: Vec<(String, Vec<u8>)> = (0..count)
            .map(|h| {
                (
                    format!("x-header-{}", h - usize::from(h % 5 == 4)),
                    format!("value-{count}-{h}").into_bytes(),
                )
            })
            .collect();
        let headers: Vec<(String, Vec<u8>)> = r
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        assert_eq!(headers, expected, "record with {count} headers");
    }
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_records_are_rejected_not_truncated() {
    let bootstrap = kafka_bootstrap();
    let mut config = KafkaConfig::new(&bootstrap);
    config.message_max_bytes = 1_000;
    let kafka = KafkaTransport::new(config).unwrap();
    let error = kafka
        .send(Record::new("any_topic", "k", vec![0u8; 2_000]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            TransportErrorKind::MessageTooLarge { max: 1_000, .. }
        ),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_delivered_comes_back_as_it_was_sent() {
    // Nothing listens on this port: librdkafka takes (copies) the record, the transport frees
    // its own, and the delivery report fails once the message times out.
    let mut config = KafkaConfig::new("127.0.0.1:1");
    config.property("message.timeout.ms", "1000");
    let kafka = KafkaTransport::new(config).unwrap();
    for partition in [None, Some(2)] {
        let mut record = Record::new("healthcare.unreachable", "patient-1", b"payload".to_vec());
        record.headers = vec![
            ("ce_id".into(), b"id-1".to_vec()),
            ("x-custom".into(), b"yes".to_vec()),
            ("ce_id".into(), b"id-2".to_vec()),
        ];
        record.partition = partition;
        match kafka.send_owned(record.clone()).await {
            Err(Unsent::Returned(error, returned)) => {
                assert_eq!(returned, record, "partition {partition:?}");
                assert!(error.is_retriable(), "{error}");
            }
            other => panic!("partition {partition:?}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_transaction_is_invisible_to_read_committed_consumers() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_txn");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let kafka = transport(&bootstrap);

    let txn = kafka.producer().begin().await.unwrap();
    for i in 0..3 {
        txn.send(&Record::new(
            &topic,
            "a-1",
            format!("aborted-{i}").into_bytes(),
        ))
        .await
        .unwrap();
    }
    txn.abort().await.unwrap();
    let committed: Vec<Record> = (0..2)
        .map(|i| Record::new(&topic, "a-1", format!("committed-{i}").into_bytes()))
        .collect();
    let positions = kafka.send_transaction(committed).await.unwrap();
    assert_eq!(positions.len(), 2);

    let reader = subscribe(&kafka, &unique_name("txn_committed"), &topic).await;
    let got = consume(&reader, 3, false, Duration::from_secs(15)).await;
    let values: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload()).into_owned())
        .collect();
    assert_eq!(values, ["committed-0", "committed-1"]);
    reader.close().await.unwrap();

    // The aborted records are in the log: a read_uncommitted consumer sees them.
    let mut sub = SubscribeConfig::new(unique_name("txn_uncommitted"), &[&topic]);
    sub.properties
        .insert("isolation.level".into(), "read_uncommitted".into());
    let dirty = kafka.subscribe(sub).await.unwrap();
    let got = consume(&dirty, 5, false, WAIT).await;
    let aborted = got
        .iter()
        .filter(|r| r.payload().starts_with(b"aborted-"))
        .count();
    assert_eq!(
        aborted, 3,
        "the uncommitted reader should see the aborted records"
    );
    dirty.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_before_storing_offsets_gets_its_records_redelivered() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_redelivery");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let kafka = transport(&bootstrap);
    let sent = kafka
        .send_batch(
            (0..20)
                .map(|i| Record::new(&topic, "p-1", format!("{i}").into_bytes()))
                .collect(),
        )
        .await;
    assert!(sent.iter().all(Result::is_ok));
    let group = unique_name("redelivery_group");
    let tp = TopicPartition::new(&topic, 0);

    // First member: handles 15 records but its handler finished (stored) only the first 10,
    // then it dies without committing.
    let first = subscribe(&kafka, &group, &topic).await;
    let got = consume(&first, 15, false, WAIT).await;
    assert_eq!(got.len(), 15);
    first.store_offset(&tp, got[9].offset + 1).unwrap();
    first.commit().await.unwrap();
    drop(first);

    // A new member of the group resumes right after the last stored offset: records 10..
    // come again (at-least-once), nothing before is repeated, nothing is skipped.
    let second = subscribe(&kafka, &group, &topic).await;
    assert_eq!(second.committed(&tp).await.unwrap(), Some(10));
    let again = consume(&second, 10, true, WAIT).await;
    let values: Vec<String> = again
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload()).into_owned())
        .collect();
    let expected: Vec<String> = (10..20).map(|i| i.to_string()).collect();
    assert_eq!(values, expected);
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_is_reported_and_finished_work_committed_before_revoke() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_rebalance");
    create_topic(&bootstrap, &topic, 2, 1).await;
    let kafka = transport(&bootstrap);
    for i in 0..10 {
        kafka
            .send(Record {
                partition: Some(i % 2),
                ..Record::new(&topic, format!("k{i}"), vec![i as u8])
            })
            .await
            .unwrap();
    }
    let group = unique_name("rebalance_group");
    let first = subscribe(&kafka, &group, &topic).await;
    let mut assigned = BTreeSet::new();
    let mut seen = 0;
    while seen < 10 {
        match first.poll(Duration::from_secs(1)).await.unwrap() {
            Some(ConsumerEvent::Assigned(tps)) => assigned.extend(tps),
            Some(ConsumerEvent::Record(r)) => {
                assert!(
                    assigned.contains(&r.topic_partition()),
                    "record before its assignment notice"
                );
                first
                    .store_offset(&r.topic_partition(), r.offset + 1)
                    .unwrap();
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(assigned.len(), 2);
    // A second member joins: the first is told which partitions it loses, and the offsets it
    // stored are committed before that (no explicit commit here).
    let second = subscribe(&kafka, &group, &topic).await;
    // Both members keep polling until the second has its assignment: the rebalance finishes
    // only when every member has rejoined, which the first does from its poll.
    let second_assigned = std::sync::atomic::AtomicBool::new(false);
    let poll_second = async {
        for _ in 0..100 {
            if let Ok(Some(ConsumerEvent::Assigned(_))) =
                second.poll(Duration::from_millis(300)).await
            {
                second_assigned.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
        }
    };
    let watch_first = async {
        let mut revoked = Vec::new();
        for _ in 0..100 {
            if let Ok(Some(ConsumerEvent::Revoked(tps))) =
                first.poll(Duration::from_millis(300)).await
                && revoked.is_empty()
            {
                revoked = tps;
            }
            if !revoked.is_empty() && second_assigned.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
        }
        revoked
    };
    let (revoked, ()) = tokio::join!(watch_first, poll_second);
    assert!(
        !revoked.is_empty(),
        "the first member was never told of a revoke"
    );
    assert!(
        second_assigned.into_inner(),
        "the joining member was never assigned partitions"
    );
    for p in 0..2 {
        assert_eq!(
            second
                .committed(&TopicPartition::new(&topic, p))
                .await
                .unwrap(),
            Some(5),
            "partition {p}"
        );
    }
    first.close().await.unwrap();
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_partition_yields_nothing_until_resumed_then_continues_without_gaps() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_pause");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let kafka = transport(&bootstrap);
    let sent = kafka
        .send_batch(
            (0..30)
                .map(|i| Record::new(&topic, "k", vec![i as u8]))
                .collect(),
        )
        .await;
    assert!(sent.iter().all(Result::is_ok));
    let consumer = subscribe(&kafka, &unique_name("pause_group"), &topic).await;
    let first = consume(&consumer, 5, true, WAIT).await;
    assert_eq!(first.len(), 5);
    let tp = TopicPartition::new(&topic, 0);
    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    let while_paused = consume(&consumer, 1, true, Duration::from_secs(2)).await;
    assert!(
        while_paused.is_empty(),
        "got {} records while paused",
        while_paused.len()
    );
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    let rest = consume(&consumer, 25, true, WAIT).await;
    let offsets: Vec<i64> = first.iter().chain(&rest).map(|r| r.offset).collect();
    assert_eq!(offsets, (0..30).collect::<Vec<i64>>());
    // A seek back while paused drops what was held and rereads from there.
    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, 10).unwrap();
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    let again = consume(&consumer, 20, true, WAIT).await;
    assert_eq!(
        again.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (10..30).collect::<Vec<i64>>()
    );
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_commits_output_and_input_offsets_together() {
    let bootstrap = kafka_bootstrap();
    let input = unique_name("ctp_in");
    let output = unique_name("ctp_out");
    create_topic(&bootstrap, &input, 1, 1).await;
    create_topic(&bootstrap, &output, 1, 1).await;
    let kafka = transport(&bootstrap);
    for i in 0..6 {
        kafka
            .send(Record::new(&input, "k", format!("{i}").into_bytes()))
            .await
            .unwrap();
    }
    let group = unique_name("ctp_group");
    let consumer = subscribe(&kafka, &group, &input).await;
    let got = consume(&consumer, 6, false, WAIT).await;
    assert_eq!(got.len(), 6);
    let tp = TopicPartition::new(&input, 0);

    // First three: transformed, then aborted — neither output nor offsets survive.
    let txn = kafka.producer().begin().await.unwrap();
    for r in &got[..3] {
        txn.send(&Record::new(&output, "k", [b"x", r.payload()].concat()))
            .await
            .unwrap();
    }
    txn.send_offsets(&consumer, &[(tp.clone(), got[2].offset + 1)])
        .await
        .unwrap();
    txn.abort().await.unwrap();
    assert_eq!(consumer.committed(&tp).await.unwrap(), None);

    // All six in one committed transaction: output visible, input offset committed with it.
    let txn = kafka.producer().begin().await.unwrap();
    for r in &got {
        txn.send(&Record::new(&output, "k", [b"y", r.payload()].concat()))
            .await
            .unwrap();
    }
    txn.send_offsets(&consumer, &[(tp.clone(), got[5].offset + 1)])
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(consumer.committed(&tp).await.unwrap(), Some(6));
    consumer.close().await.unwrap();

    let reader = subscribe(&kafka, &unique_name("ctp_reader"), &output).await;
    let out = consume(&reader, 7, false, Duration::from_secs(10)).await;
    let values: Vec<String> = out
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload()).into_owned())
        .collect();
    assert_eq!(values, ["y0", "y1", "y2", "y3", "y4", "y5"]);
    reader.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_transport_delivers_what_is_still_queued() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_drop_flush");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let mut config = KafkaConfig::new(&bootstrap);
    config.property("linger.ms", "200");
    let kafka = KafkaTransport::new(config).unwrap();
    let raw = kafka.producer().rdkafka();
    for i in 0..100u8 {
        let record = rdkafka::producer::FutureRecord::<[u8], [u8]>::to(&topic)
            .key(b"k")
            .payload(std::slice::from_ref(&i));
        // Enqueued, not awaited: still in librdkafka's queue when the transport goes.
        drop(raw.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    drop(raw);
    drop(kafka);

    let reader_transport = transport(&bootstrap);
    let reader = subscribe(&reader_transport, &unique_name("drop_flush_reader"), &topic).await;
    let got = consume(&reader, 100, false, WAIT).await;
    assert_eq!(got.len(), 100, "records queued at drop were lost");
    reader.close().await.unwrap();
}

/// The test brokers run with `auto.create.topics.enable=false`, as production should: a record
/// for a topic nobody declared fails (it is not silently given a topic with broker defaults).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_for_an_undeclared_topic_fails_and_creates_no_topic() {
    let bootstrap = kafka_bootstrap();
    let mut config = carebus::kafka::KafkaConfig::new(&bootstrap);
    config.delivery_timeout = Duration::from_secs(5);
    let kafka = carebus::kafka::KafkaTransport::new(config).unwrap();
    let topic = unique_name("undeclared");
    let error = kafka
        .send(Record::new(&topic, "k", b"v".to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            TransportErrorKind::UnknownTopic { .. } | TransportErrorKind::Timeout
        ),
        "{error}"
    );
    let admin = carebus::kafka::TopicAdmin::connect(&bootstrap, &Default::default()).unwrap();
    let seen = admin
        .observe(&[carebus::TopicSpec::new(&topic, 1, 1)])
        .await
        .unwrap();
    assert!(
        !seen.topics.contains_key(&topic),
        "the broker created {topic}"
    );
}

/// Lag per partition on the real broker, from librdkafka's statistics: the log end minus the
/// offset stored after handling, for each partition the member fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_lag_per_partition_is_the_log_end_minus_what_was_handled() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("transport_lag");
    create_topic(&bootstrap, &topic, 2, 1).await;
    let kafka = transport(&bootstrap);
    for i in 0..40 {
        let mut record = Record::new(&topic, format!("k{i}"), b"v".to_vec());
        record.partition = Some(i % 2);
        kafka.send(record).await.unwrap();
    }
    let group = unique_name("lag_group");
    let mut subscribe = SubscribeConfig::new(&group, &[topic.as_str()]);
    subscribe
        .properties
        .insert("statistics.interval.ms".into(), "100".into());
    let consumer = kafka.subscribe(subscribe).await.unwrap();
    assert!(
        consumer.lag().is_empty(),
        "nothing known before the first statistics"
    );
    // Handle (store) 5 records of partition 0 and 12 of partition 1; read the rest unhandled.
    let mut handled = [0i64; 2];
    let want = [5i64, 12];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let expected = vec![
        (TopicPartition::new(&topic, 0), 20 - want[0]),
        (TopicPartition::new(&topic, 1), 20 - want[1]),
    ];
    loop {
        if let Ok(Some(ConsumerEvent::Record(r))) = consumer.poll(Duration::from_millis(50)).await {
            let p = r.partition as usize;
            if handled[p] < want[p] && r.offset == handled[p] {
                consumer
                    .store_offset(&r.topic_partition(), r.offset + 1)
                    .unwrap();
                handled[p] += 1;
            }
        }
        if handled == want && consumer.lag() == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lag {:?}, expected {expected:?} (handled {handled:?})",
            consumer.lag()
        );
    }
    consumer.commit().await.unwrap();
    // From outside the group (as for a group of another language's clients): its committed
    // offsets against the high watermarks; a group that committed nothing lags by everything.
    let none = std::collections::BTreeMap::new();
    let outside = carebus::kafka::group_lag(&bootstrap, &none, &group, &[topic.as_str()])
        .await
        .unwrap();
    let seen: Vec<(i32, Option<i64>, i64, i64)> = outside
        .iter()
        .map(|p| (p.partition, p.committed, p.log_end, p.lag))
        .collect();
    assert_eq!(seen, [(0, Some(5), 20, 15), (1, Some(12), 20, 8)]);
    let idle =
        carebus::kafka::group_lag(&bootstrap, &none, &unique_name("idle"), &[topic.as_str()])
            .await
            .unwrap();
    assert!(
        idle.iter().all(|p| p.committed.is_none() && p.lag == 20),
        "{idle:?}"
    );
    consumer.close().await.unwrap();
}
