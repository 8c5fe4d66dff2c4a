//! A topic and a consumer group's committed offsets on the single broker in, the same records on the three-node cluster (MirrorMaker 2, `scripts/kafka/mirror.sh`) and the group resuming there from its translated offsets out: cross-cluster failover.
//!
//! MirrorMaker 2 runs in dedicated mode with the default replication policy (the replica of
//! `T` is `single.T`), offset syncs for every record (`offset.lag.max = 0`, so translation is
//! exact) and group offset sync every second; its Connect topics carry the test's unique name.
//! Needs `scripts/services up kafka cluster`, java and (first run) mvn. Slow: a Connect worker
//! starts in tens of seconds.

use carebus_tests::{kafka_bootstrap, kafka_cluster_bootstrap, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;

fn config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    c
}

fn mirror(args: &[&str]) {
    let script = carebus_tests::repo_root().join("scripts/kafka/mirror.sh");
    let out = Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "mirror.sh {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops the test's MirrorMaker however the test ends.
struct Mirror(PathBuf);

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = Command::new(carebus_tests::repo_root().join("scripts/kafka/mirror.sh"))
            .arg("stop")
            .arg(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn id_of(m: &rdkafka::message::BorrowedMessage<'_>) -> String {
    m.headers()
        .and_then(|h| h.iter().find(|h| h.key == "ce_id").and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("a ce_id header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_fails_over_to_the_mirrored_cluster_and_resumes_from_translated_offsets() {
    let (source, target) = (kafka_bootstrap(), kafka_cluster_bootstrap());
    let topic = unique_name("mirror");
    let group = unique_name("mirror-group");
    let remote = format!("single.{topic}");

    let admin: AdminClient<DefaultClientContext> = config(&source, "unused").create().unwrap();
    let created = admin
        .create_topics(
            [&NewTopic::new(
                &topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics request");
    assert!(created[0].is_ok(), "creating {topic}: {:?}", created[0]);
    let producer: FutureProducer = config(&source, "unused").create().unwrap();
    for i in 0..12 {
        let id = format!("{topic}-event-{i}");
        producer
            .send(
                FutureRecord::to(&topic)
                    .key(&format!("patient-{}", i % 4))
                    .payload("{}")
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "ce_id",
                        value: Some(&id),
                    })),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("producing to the single broker");
    }

    // The group processes the first half of each partition on the source and commits.
    let member: BaseConsumer = config(&source, &group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    member.assign(&tpl).unwrap();
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while by_partition.values().map(Vec::len).sum::<usize>() < 12 {
        assert!(Instant::now() < deadline, "read {by_partition:?} of 12");
        if let Some(m) = member.poll(Duration::from_millis(200)) {
            let m = m.expect("consuming the source");
            by_partition
                .entry(m.partition())
                .or_default()
                .push(id_of(&m));
        }
    }
    let (mut processed, mut unprocessed) = (BTreeSet::new(), BTreeSet::new());
    let mut commit = TopicPartitionList::new();
    let mut expected_offsets = BTreeMap::new();
    for (p, ids) in &by_partition {
        let half = ids.len().div_ceil(2);
        processed.extend(ids[..half].iter().cloned());
        unprocessed.extend(ids[half..].iter().cloned());
        commit
            .add_partition_offset(&topic, *p, Offset::Offset(half as i64))
            .unwrap();
        expected_offsets.insert(*p, half as i64);
    }
    member
        .commit(&commit, CommitMode::Sync)
        .expect("commit on the source");
    drop(member);

    let dir = carebus_tests::repo_root().join("target/tests").join(&group);
    std::fs::create_dir_all(&dir).unwrap();
    let _mirror = Mirror(dir.clone());
    let properties = dir.join("mm2.properties");
    std::fs::write(
        &properties,
        format!(
            "clusters = single, cluster\n\
             single.bootstrap.servers = {source}\n\
             cluster.bootstrap.servers = {target}\n\
             single->cluster.enabled = true\n\
             single->cluster.topics = {topic}\n\
             single->cluster.groups = {group}\n\
             cluster->single.enabled = false\n\
             replication.factor = 3\n\
             checkpoints.topic.replication.factor = 3\n\
             heartbeats.topic.replication.factor = 3\n\
             offset-syncs.topic.replication.factor = 1\n\
             cluster.offset.storage.topic = {group}.offsets\n\
             cluster.config.storage.topic = {group}.configs\n\
             cluster.status.storage.topic = {group}.status\n\
             cluster.group.id = {group}.worker\n\
             offset.storage.replication.factor = 3\n\
             config.storage.replication.factor = 3\n\
             status.storage.replication.factor = 3\n\
             emit.checkpoints.interval.seconds = 1\n\
             emit.heartbeats.interval.seconds = 1\n\
             sync.group.offsets.enabled = true\n\
             sync.group.offsets.interval.seconds = 1\n\
             refresh.topics.interval.seconds = 1\n\
             refresh.groups.interval.seconds = 1\n\
             offset.lag.max = 0\n\
             tasks.max = 1\n"
        ),
    )
    .unwrap();
    mirror(&["start", dir.to_str().unwrap(), properties.to_str().unwrap()]);

    // Wait (bounded) until MirrorMaker has committed the group's translated offsets on the target.
    let replica: BaseConsumer = config(&target, &group).create().unwrap();
    let mut wanted = TopicPartitionList::new();
    for p in expected_offsets.keys() {
        wanted.add_partition(&remote, *p);
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let synced: BTreeMap<i32, i64> = replica
            .committed_offsets(wanted.clone(), Duration::from_secs(10))
            .map(|c| {
                c.elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) => Some((e.partition(), o)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if synced == expected_offsets {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group's offsets on {remote} are {synced:?}, expected {expected_offsets:?}; see {}",
            dir.join("mirror.log").display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Failover: the same group on the replica gets exactly what it had not processed.
    replica.subscribe(&[&remote]).unwrap();
    let mut received = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < unprocessed.len() {
        assert!(
            Instant::now() < deadline,
            "the replica delivered {received:?}, expected {unprocessed:?}"
        );
        if let Some(m) = replica.poll(Duration::from_millis(200)) {
            let id = id_of(&m.expect("consuming the replica"));
            assert!(
                !processed.contains(&id),
                "{id} was processed on the source already"
            );
            received.insert(id);
        }
    }
    assert_eq!(received, unprocessed);
}
