//! Helpers shared by the `kafka_*` tests: a topics spec for one test topic in, created topics, transports and consumed records out.

#![allow(dead_code)]

use carebus::Settings;
use carebus::TopicSpec;
use carebus::kafka::{KafkaConfig, KafkaConsumer, KafkaTransport, TopicAdmin};
use carebus::transport::{ConsumerEvent, ReceivedRecord, SubscribeConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A topics spec with one topic; set other fields with struct update syntax.
pub fn spec(name: &str, partitions: i32, replication_factor: i32) -> [TopicSpec<'_>; 1] {
    [TopicSpec::new(name, partitions, replication_factor)]
}

/// Create a topic through carebus's own topics-as-code path.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32, replication_factor: i32) {
    let admin = TopicAdmin::connect(bootstrap, &BTreeMap::new()).expect("admin client");
    admin
        .apply(&spec(name, partitions, replication_factor))
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
}

/// A transport with short timeouts so failures show within a test's time.
pub fn transport(bootstrap: &str) -> KafkaTransport {
    let mut config = KafkaConfig::new(bootstrap);
    config.delivery_timeout = Duration::from_secs(20);
    config.property("linger.ms", "1");
    KafkaTransport::new(config).expect("kafka transport")
}

/// Poll until `n` records arrived (storing each one's offset when `store` is set) or the
/// deadline passes; returns what arrived.
pub async fn consume(
    consumer: &KafkaConsumer,
    n: usize,
    store: bool,
    deadline: Duration,
) -> Vec<ReceivedRecord> {
    let until = Instant::now() + deadline;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < until {
        match consumer.poll(Duration::from_millis(500)).await {
            Ok(Some(ConsumerEvent::Record(r))) => {
                if store {
                    consumer
                        .store_offset(&r.topic_partition(), r.offset + 1)
                        .expect("store offset");
                }
                out.push(r);
            }
            Ok(_) => {}
            Err(e) => eprintln!("poll: {e}"),
        }
    }
    out
}

/// Subscribe a new member of `group` to `topic`, reading from the earliest offset.
pub async fn subscribe(transport: &KafkaTransport, group: &str, topic: &str) -> KafkaConsumer {
    use carebus::transport::Transport;
    transport
        .subscribe(SubscribeConfig::new(group, &[topic]))
        .await
        .expect("subscribe")
}
