//! Smoke tests turning `scripts/services up` into proof: the single broker round-trips a message, the
//! cluster replicates a topic three ways with min.insync.replicas=2, and PostgreSQL answers queries.

use std::time::Duration;

use carebus_tests::{
    database_url, kafka_bootstrap, kafka_cluster_bootstrap, services, unique_name,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const WAIT: Duration = Duration::from_secs(30);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client config is valid")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32, replication: i32) {
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let results = admin(bootstrap)
        .create_topics(
            &[NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(replication),
            )],
            &options,
        )
        .await
        .expect("create_topics request answered");
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating topic {topic} failed: {code}"));
    }
}

#[tokio::test]
async fn single_broker_round_trips_a_message() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("smoke_round_trip");
    create_topic(&bootstrap, &topic, 1, 1).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .create()
        .expect("producer config is valid");
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key("patient-1")
                .payload("appointment booked"),
            WAIT,
        )
        .await
        .unwrap_or_else(|(error, _)| panic!("delivery to {topic} failed: {error}"));
    assert_eq!(delivery.partition, 0);

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", unique_name("smoke_group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config is valid");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(WAIT, consumer.recv())
        .await
        .unwrap_or_else(|_| panic!("no message from {topic} within {WAIT:?}"))
        .expect("consume");
    assert_eq!(message.key(), Some(&b"patient-1"[..]));
    assert_eq!(message.payload(), Some(&b"appointment booked"[..]));
    assert_eq!(message.offset(), delivery.offset);
}

#[tokio::test]
async fn cluster_replicates_a_topic_on_three_brokers() {
    let bootstrap = kafka_cluster_bootstrap();
    let topic = unique_name("smoke_replicated");
    create_topic(&bootstrap, &topic, 3, 3).await;

    let admin = admin(&bootstrap);
    // Metadata reaches every broker shortly after creation; poll until it shows the topic fully.
    let deadline = tokio::time::Instant::now() + WAIT;
    let replicas = loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .expect("metadata request answered");
        assert_eq!(
            metadata.brokers().len(),
            3,
            "the cluster should have 3 live brokers"
        );
        let found: Vec<(usize, usize)> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .map(|p| (p.replicas().len(), p.isr().len()))
            .collect();
        if found.len() == 3 && found.iter().all(|&(r, isr)| r == 3 && isr == 3) {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "topic {topic} not fully replicated within {WAIT:?}: (replicas, isr) per partition {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replicas, vec![(3, 3); 3]);

    let configs = admin
        .describe_configs(&[ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .expect("describe_configs request answered");
    let config = configs[0].as_ref().expect("topic config described");
    let min_isr = config
        .get("min.insync.replicas")
        .and_then(|e| e.value.clone());
    assert_eq!(min_isr.as_deref(), Some("2"));
}

#[tokio::test]
async fn postgres_answers_queries() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(WAIT)
        .connect(&database_url())
        .await
        .expect("connect to the test database");
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&pool)
        .await
        .expect("SELECT version()");
    assert!(version.starts_with("PostgreSQL "), "{version}");
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("SELECT current_database()");
    assert!(!database.is_empty());
}

#[test]
fn status_reports_every_service() {
    let status = services(&["status"]).unwrap_or_else(|error| panic!("{error}"));
    for service in ["kafka", "cluster", "postgres"] {
        assert!(
            status.lines().any(|line| line.starts_with(service)),
            "no `{service}` line in:\n{status}"
        );
    }
}
