//! A consumer group's lag read from outside the group: its committed offsets (whatever language its members are written in) against each partition's high watermark, through a client that never joins the group.

use crate::blocking::blocking;
use crate::error::{is_retriable_code, transport_error};
use carebus_core::transport::TransportError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long each metadata, offset or watermark request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One partition of a group's lag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (the next record it will read); `None` when the group has
    /// committed nothing for this partition.
    pub committed: Option<i64>,
    /// The partition's high watermark (the offset the next record written gets).
    pub log_end: i64,
    /// Records the group has not committed: `log_end − committed`, or every record the
    /// partition still holds when nothing is committed.
    pub lag: i64,
}

/// The lag of consumer group `group` on every partition of `topics`, from the group's
/// committed offsets and the partitions' high watermarks. Works for any group, including
/// groups of other languages' clients, without joining it. `properties` are extra librdkafka
/// settings (security etc.).
pub async fn group_lag(
    bootstrap: &str,
    properties: &BTreeMap<String, String>,
    group: &str,
    topics: &[&str],
) -> Result<Vec<PartitionLag>, TransportError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    for (k, v) in properties {
        config.set(k, v);
    }
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    let group = group.to_string();
    blocking("read a group's lag", move || {
        let client: BaseConsumer = config
            .create()
            .map_err(|e| transport_error("create a client to read a group's lag", &e))?;
        let mut partitions = TopicPartitionList::new();
        for topic in &topics {
            let metadata = client
                .fetch_metadata(Some(topic), TIMEOUT)
                .map_err(|e| transport_error(&format!("read the metadata of {topic}"), &e))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    partitions.add_partition(t.name(), p.id());
                }
            }
        }
        // A fresh cluster answers NotCoordinator / CoordinatorLoadInProgress until the group's
        // coordinator is ready: retriable answers are retried for up to TIMEOUT.
        let deadline = std::time::Instant::now() + TIMEOUT;
        let committed = loop {
            match client.committed_offsets(partitions.clone(), TIMEOUT) {
                Ok(committed) => break committed,
                Err(e)
                    if e.rdkafka_error_code().is_some_and(is_retriable_code)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(transport_error(
                        &format!("read the offsets of group {group}"),
                        &e,
                    ));
                }
            }
        };
        committed
            .elements()
            .iter()
            .map(|e| {
                let (low, high) = client
                    .fetch_watermarks(e.topic(), e.partition(), TIMEOUT)
                    .map_err(|err| {
                        transport_error(
                            &format!("read the watermarks of {}[{}]", e.topic(), e.partition()),
                            &err,
                        )
                    })?;
                let committed = match e.offset() {
                    Offset::Offset(n) => Some(n),
                    _ => None,
                };
                Ok(PartitionLag {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    committed,
                    log_end: high,
                    lag: (high - committed.unwrap_or(low)).max(0),
                })
            })
            .collect()
    })
    .await?
}
