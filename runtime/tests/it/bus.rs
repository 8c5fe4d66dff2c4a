//! The in-process bus checked against Kafka's behaviour: murmur2 placement, consumer groups, redelivery, rebalance, transactions.

use carebus::bus::{Bus, BusConfig, murmur2, partition_for_key};
use carebus::transport::{
    ConsumerEvent, Record, SubscribeConfig, TopicPartition, Transport, TransportConsumer,
    TransportErrorKind,
};
use std::time::Duration;

#[test]
fn murmur2_matches_kafka_and_librdkafka_vectors() {
    // Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.testMurmur2.
    let kafka: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for (key, want) in kafka {
        assert_eq!(murmur2(key), want, "{}", String::from_utf8_lossy(key));
    }
    // librdkafka src/rdmurmur2.c unittest_murmur2 (java_murmur2_results).
    let rdkafka: [(&[u8], u32); 8] = [
        (b"kafka", 0xd067cf64),
        (b"giberish123456789", 0x8f552b0c),
        (b"1234", 0x9fc97b14),
        (b"234", 0xe7c009ca),
        (b"34", 0x873930da),
        (b"4", 0x5a4b5ca1),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c),
        (b"", 0x106e08d9),
    ];
    for (key, want) in rdkafka {
        assert_eq!(
            murmur2(key) as u32,
            want,
            "{}",
            String::from_utf8_lossy(key)
        );
    }
}

#[tokio::test]
async fn keyed_records_land_where_kafkas_default_partitioner_puts_them() {
    let bus = Bus::default();
    bus.create_topic("t", 6);
    for key in ["kafka", "patient-123", "21", "foobar"] {
        let pos = bus
            .send(Record::new("t", key, b"v".to_vec()))
            .await
            .unwrap();
        // toPositive(murmur2(key)) % 6, e.g. "kafka": 0x5067cf64 % 6.
        let expected = ((murmur2(key.as_bytes()) & 0x7fff_ffff) % 6) as i32;
        assert_eq!(pos.partition, expected, "{key}");
        assert_eq!(partition_for_key(key.as_bytes(), 6), expected);
    }
    assert_eq!(partition_for_key(b"kafka", 6), (0x5067_cf64u32 % 6) as i32);
    // Same key, same partition, increasing offsets.
    let a = bus.send(Record::new("t", "k", vec![1])).await.unwrap();
    let b = bus.send(Record::new("t", "k", vec![2])).await.unwrap();
    assert_eq!(a.partition, b.partition);
    assert_eq!(b.offset, a.offset + 1);
}

async fn next_record(c: &impl TransportConsumer) -> Option<carebus::transport::ReceivedRecord> {
    loop {
        match c.poll(Duration::from_millis(300)).await.unwrap() {
            Some(ConsumerEvent::Record(r)) => return Some(r),
            Some(_) => continue,
            None => return None,
        }
    }
}

#[tokio::test]
async fn a_crashed_member_redelivers_from_the_last_committed_offset() {
    let bus = Bus::default();
    bus.create_topic("t", 1);
    for i in 0..5u8 {
        bus.send(Record::new("t", "k", vec![i])).await.unwrap();
    }
    let cfg = SubscribeConfig::new("g", &["t"]);
    let c1 = bus.subscribe(cfg.clone()).await.unwrap();
    let tp = TopicPartition::new("t", 0);
    for _ in 0..3 {
        next_record(&c1).await.unwrap();
    }
    c1.store_offset(&tp, 2).unwrap();
    c1.commit().await.unwrap();
    c1.store_offset(&tp, 3).unwrap(); // stored, never committed
    drop(c1); // a crash: the stored offset 3 is lost
    assert_eq!(bus.committed_offset("g", "t", 0), Some(2));

    let c2 = bus.subscribe(cfg).await.unwrap();
    let r = next_record(&c2).await.unwrap();
    assert_eq!((r.offset, r.value.clone()), (2, Some(vec![2])));
    c2.store_offset(&tp, 5).unwrap();
    c2.close().await.unwrap(); // a clean close commits
    assert_eq!(bus.committed_offset("g", "t", 0), Some(5));
}

#[tokio::test]
async fn partitions_move_to_a_joining_member_after_committing_stored_work() {
    let bus = Bus::default();
    bus.create_topic("t", 4);
    let cfg = SubscribeConfig::new("g", &["t"]);
    let c1 = bus.subscribe(cfg.clone()).await.unwrap();
    assert_eq!(c1.assignment().unwrap().len(), 4);
    for p in 0..4 {
        c1.store_offset(&TopicPartition::new("t", p), 0).unwrap();
    }
    c1.store_offset(&TopicPartition::new("t", 3), 7).unwrap();
    let c2 = bus.subscribe(cfg).await.unwrap();
    let (a1, a2) = (c1.assignment().unwrap(), c2.assignment().unwrap());
    assert_eq!(a1.len() + a2.len(), 4);
    assert_eq!(a2.len(), 2);
    // The revoked partition's stored offset was committed before it moved.
    assert_eq!(bus.committed_offset("g", "t", 3), Some(7));
    // c1 hears about it: Assigned first, then Revoked.
    let mut saw_revoked = false;
    while let Some(ev) = c1.poll(Duration::from_millis(50)).await.unwrap() {
        if let ConsumerEvent::Revoked(parts) = ev {
            assert_eq!(parts.len(), 2);
            saw_revoked = true;
        }
    }
    assert!(saw_revoked);
    // A record stored for a partition no longer owned is refused.
    assert!(c1.store_offset(&a2[0], 1).is_err());
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing() {
    let bus = Bus::new(BusConfig {
        max_record_bytes: 100,
        ..BusConfig::default()
    });
    bus.create_topic("t", 2);
    let ok = bus
        .send_transaction(vec![
            Record::new("t", "a", vec![0; 10]),
            Record::new("t", "b", vec![0; 10]),
        ])
        .await
        .unwrap();
    assert_eq!(ok.len(), 2);
    let err = bus
        .send_transaction(vec![
            Record::new("t", "a", vec![0; 10]),
            Record::new("t", "b", vec![0; 1000]),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &TransportErrorKind::TransactionAborted);
    assert_eq!(
        bus.topic_records("t").len(),
        2,
        "nothing of the aborted transaction is visible"
    );
}

#[tokio::test]
async fn retention_moves_the_log_start_and_unreachable_fails_retriably() {
    let bus = Bus::new(BusConfig {
        retention_records: 3,
        ..BusConfig::default()
    });
    bus.create_topic("t", 1);
    for i in 0..5u8 {
        bus.send(Record::new("t", "k", vec![i])).await.unwrap();
    }
    let kept: Vec<i64> = bus.records("t", 0, 0).iter().map(|r| r.offset).collect();
    assert_eq!(kept, vec![2, 3, 4]);
    bus.set_unreachable(true);
    let err = bus.send(Record::new("t", "k", vec![9])).await.unwrap_err();
    assert!(err.is_retriable());
    bus.set_unreachable(false);
    assert_eq!(
        bus.send(Record::new("t", "k", vec![9]))
            .await
            .unwrap()
            .offset,
        5
    );
}

#[tokio::test]
async fn poll_wakes_up_when_a_record_arrives() {
    let bus = Bus::default();
    bus.create_topic("t", 1);
    let c = bus
        .subscribe(SubscribeConfig::new("g", &["t"]))
        .await
        .unwrap();
    let sender = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sender.send(Record::new("t", "k", vec![1])).await.unwrap();
    });
    let r = loop {
        match c.poll(Duration::from_secs(5)).await.unwrap() {
            Some(ConsumerEvent::Record(r)) => break r,
            Some(_) => continue,
            None => panic!("no record within 5 s"),
        }
    };
    assert_eq!(r.value, Some(vec![1]));
}
