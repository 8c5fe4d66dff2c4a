//! `carebus-store` against the shared PostgreSQL and single Kafka broker: migrate and verify a store, replay it onto a topic, delete the topic, rebuild it in two resumed runs, and move a consumer group that had committed offsets onto the rebuilt topic by event id, where it resumes with exactly the events it had not processed.

use carebus::postgres::PgEventStore;
use carebus::store::{EventContext, EventStore, ExpectedVersion, NewEvent};
use carebus_tests::{database_url, kafka_bootstrap, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;

fn store_cli(schema: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carebus-store"))
        .env("CAREBUS_DATABASE_URL", database_url())
        .args(["--schema", schema, "--bootstrap", &kafka_bootstrap()])
        .args(args)
        .output()
        .expect("carebus-store runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(schema: &str, args: &[&str]) -> String {
    let out = store_cli(schema, args);
    assert!(
        out.status.success(),
        "carebus-store {}: {}",
        args.join(" "),
        text(&out)
    );
    text(&out)
}

fn client_config(group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka_bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    c
}

fn admin() -> AdminClient<DefaultClientContext> {
    client_config("unused").create().expect("admin client")
}

async fn create_topic(topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
        let result = admin()
            .create_topics([&new], &AdminOptions::new())
            .await
            .expect("create topics request");
        match &result[0] {
            Ok(_) => return,
            // Still being deleted: try again.
            Err((_, e)) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err((_, e)) => panic!("creating {topic}: {e:?}"),
        }
    }
}

async fn delete_topic(topic: &str) {
    let result = admin()
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .expect("delete topics request");
    assert!(result[0].is_ok(), "deleting {topic}: {:?}", result[0]);
}

fn event_id(m: &rdkafka::message::BorrowedMessage<'_>) -> String {
    m.headers()
        .and_then(|h| h.iter().find(|h| h.key == "ce_id").and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("every replayed record has a ce_id header")
}

/// Every record of `topic` by partition, read by an assigned (group-less) consumer.
fn read_all(topic: &str, expected: usize) -> BTreeMap<i32, Vec<String>> {
    let c: BaseConsumer = client_config(&unique_name("store-read")).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.values().map(Vec::len).sum::<usize>() < expected {
        assert!(
            Instant::now() < deadline,
            "only {out:?} of {expected} records in {topic}"
        );
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("reading the topic");
            out.entry(m.partition()).or_default().push(event_id(&m));
        }
    }
    out
}

fn high_watermarks(topic: &str) -> i64 {
    let c: BaseConsumer = client_config("unused").create().unwrap();
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_is_rebuilt_from_the_store_and_its_consumer_group_resumes_by_event_id() {
    let schema = unique_name("store_cli");
    let topic = unique_name("store-rebuild");
    let group = unique_name("store-rebuild-group");
    let store = PgEventStore::connect_in_schema(&database_url(), Some(&schema), 2)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .expect("creating carebus_tenant");
    assert!(ok(&schema, &["migrate"]).contains("migrations applied"));

    // 4 patients x 3 events, all on the test's topic.
    let ctx = EventContext::new("PRM Service").tenant("hospital-a");
    let mut by_position = Vec::new();
    for k in 0..4 {
        let events: Vec<NewEvent> = (0..3)
            .map(|i| {
                let mut e = NewEvent::from_event(&carebus_tests::bench_event(k + 10 * i), &ctx)
                    .expect("a bench event encodes");
                e.topic = topic.clone();
                e
            })
            .collect();
        let done = store
            .append(&format!("Patient-{k}"), ExpectedVersion::Any, events)
            .await
            .expect("append");
        by_position.extend(done.events.iter().map(|e| e.cursor.position));
    }
    let verified = ok(&schema, &["verify", "--contiguous"]);
    assert!(
        verified.contains("12 match their payload, 0 differ"),
        "{verified}"
    );
    assert!(verified.contains("the store is sound"), "{verified}");

    create_topic(&topic).await;
    let first = ok(
        &schema,
        &[
            "replay",
            "--to-kafka",
            "--topic",
            &topic,
            "--checkpoint",
            "first",
        ],
    );
    assert!(first.contains("replayed 12 of 12 events"), "{first}");

    // The group processed the first half of each partition and committed.
    let before = read_all(&topic, 12);
    let (mut processed, mut unprocessed) = (BTreeSet::new(), BTreeSet::new());
    let mut commit = TopicPartitionList::new();
    for (p, ids) in &before {
        let half = ids.len().div_ceil(2);
        processed.extend(ids[..half].iter().cloned());
        unprocessed.extend(ids[half..].iter().cloned());
        commit
            .add_partition_offset(&topic, *p, Offset::Offset(half as i64))
            .unwrap();
    }
    let member: BaseConsumer = client_config(&group).create().unwrap();
    member
        .commit(&commit, CommitMode::Sync)
        .expect("committing the group's offsets");
    drop(member);

    let saved = std::env::temp_dir().join(format!("{group}.offsets"));
    let out = ok(
        &schema,
        &[
            "offsets",
            "save",
            "--group",
            &group,
            "--topic",
            &topic,
            "--file",
            saved.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains(&format!("of {} partitions", before.len())),
        "{out}"
    );

    delete_topic(&topic).await;
    create_topic(&topic).await;
    assert_eq!(high_watermarks(&topic), 0, "the rebuilt topic starts empty");

    // Rebuilt in two runs: the second resumes from the checkpoint the first left.
    let sixth = by_position[5].to_string();
    let part = ok(
        &schema,
        &[
            "replay",
            "--to-kafka",
            "--topic",
            &topic,
            "--checkpoint",
            "rebuild",
            "--until",
            &sixth,
        ],
    );
    assert!(part.contains("replayed 6 of 6 events"), "{part}");
    let rest = ok(
        &schema,
        &[
            "replay",
            "--to-kafka",
            "--topic",
            &topic,
            "--checkpoint",
            "rebuild",
        ],
    );
    assert!(rest.contains("replayed 6 of 6 events"), "{rest}");
    assert_eq!(high_watermarks(&topic), 12, "each event once");
    assert_eq!(read_all(&topic, 12), before, "same partitions, same order");

    let restored = ok(
        &schema,
        &[
            "offsets",
            "restore",
            "--group",
            &group,
            "--topic",
            &topic,
            "--file",
            saved.to_str().unwrap(),
        ],
    );
    assert!(restored.contains("committed group"), "{restored}");
    let _ = std::fs::remove_file(&saved);

    // The group resumes: exactly the events it had not processed.
    let member: BaseConsumer = client_config(&group).create().unwrap();
    member.subscribe(&[&topic]).unwrap();
    let mut received = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.len() < unprocessed.len() {
        assert!(
            Instant::now() < deadline,
            "the group received {received:?}, expected {unprocessed:?}"
        );
        if let Some(m) = member.poll(Duration::from_millis(200)) {
            let id = event_id(&m.expect("consuming"));
            assert!(
                !processed.contains(&id),
                "event {id} was processed before the rebuild"
            );
            received.insert(id);
        }
    }
    assert_eq!(received, unprocessed);
}
