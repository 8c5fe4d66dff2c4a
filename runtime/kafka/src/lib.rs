//! Kafka side of carebus: topics spec and transport settings in, rdkafka admin, producer and consumer out.
//!
//! Enabled with the `kafka` feature. [`KafkaTransport`] implements the runtime's
//! [`Transport`] (so the same publisher and consumer logic runs on Kafka and on the in-process
//! bus); [`TopicAdmin`] applies `schemas/topics.toml`. Thin over rdkafka: every librdkafka
//! property can be passed through as a string ([`KafkaConfig`]).

#![warn(missing_docs)]

pub mod acl;
pub mod admin;
mod blocking;
pub mod config;
pub mod consumer;
pub mod error;
pub mod group_lag;
pub mod pause;
pub mod plan;
pub mod producer;
pub mod security;

pub use acl::{Acl, AclAdmin, AclError, AclPlan, AclScope, ServiceAccess, desired_acls};
pub use admin::{AdminError, ApplyReport, TopicAdmin};
pub use carebus_core::config::ConfigError;
pub use carebus_core::{CleanupPolicy, TopicSpec};
pub use config::{Compression, KafkaConfig, KafkaSecurity};
pub use consumer::KafkaConsumer;
pub use group_lag::{PartitionLag, group_lag};
pub use plan::{
    Change, Drift, ObservedCluster, ObservedTopic, Plan, PlanRules, Refusal, desired_configs,
};
pub use producer::{KafkaProducer, KafkaTransaction, brokers_of};

use crate::error::transport_error;
use carebus_core::transport::{
    ConsumerEvent, Polled, Record, RecordPosition, RecordView, SubscribeConfig, TopicPartition,
    Transport, TransportConsumer, TransportError, Unsent,
};
use rdkafka::producer::Producer;
use std::time::Duration;

/// The Kafka transport: one shared producer for the process, consumers created per group.
pub struct KafkaTransport {
    producer: KafkaProducer,
}

impl KafkaTransport {
    /// Create the transport's producer from `config`.
    pub fn new(config: KafkaConfig) -> Result<KafkaTransport, TransportError> {
        Ok(KafkaTransport {
            producer: KafkaProducer::new(config)?,
        })
    }

    /// The shared producer, for transactions with offsets (`begin`) or raw rdkafka access.
    pub fn producer(&self) -> &KafkaProducer {
        &self.producer
    }

    /// The settings the producer was created with (consumers subscribe with the same).
    pub fn config(&self) -> &KafkaConfig {
        self.producer.config()
    }
}

impl Transport for KafkaTransport {
    type Consumer = KafkaConsumer;

    async fn send(&self, record: Record) -> Result<RecordPosition, TransportError> {
        self.producer.send(&record).await
    }

    async fn send_ref(&self, record: &Record) -> Result<RecordPosition, TransportError> {
        self.producer.send(record).await
    }

    fn send_owned(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<RecordPosition, Unsent>> + Send {
        // The producer's future itself, not one wrapping it (which would hold the record again).
        self.producer.send_owned(record)
    }

    async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        self.producer.send_transaction(records).await
    }

    async fn flush(&self, timeout: Duration) -> Result<(), TransportError> {
        self.producer.flush(timeout).await
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, TransportError> {
        let producer = self.producer.rdkafka();
        let name = topic.to_string();
        let metadata = blocking::blocking("look up topic metadata", move || {
            producer
                .client()
                .fetch_metadata(Some(&name), Duration::from_secs(10))
        })
        .await?
        .map_err(|e| transport_error(&format!("read metadata of {topic}"), &e))?;
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().len() as i32)
            }
            _ => Err(TransportError::new(
                carebus_core::transport::TransportErrorKind::UnknownTopic {
                    topic: topic.to_string(),
                },
                format!("look up the partitions of {topic}"),
            )),
        }
    }

    async fn subscribe(&self, config: SubscribeConfig) -> Result<KafkaConsumer, TransportError> {
        KafkaConsumer::subscribe(self.producer.config(), &config)
    }
}

impl TransportConsumer for KafkaConsumer {
    async fn poll(&self, timeout: Duration) -> Result<Option<ConsumerEvent>, TransportError> {
        KafkaConsumer::poll(self, timeout).await
    }

    async fn poll_view<R: Send>(
        &self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R + Send,
    ) -> Result<Option<Polled<R>>, TransportError> {
        KafkaConsumer::poll_view(self, timeout, visit).await
    }

    fn store_offset(&self, tp: &TopicPartition, next_offset: i64) -> Result<(), TransportError> {
        KafkaConsumer::store_offset(self, tp, next_offset)
    }

    async fn commit(&self) -> Result<(), TransportError> {
        KafkaConsumer::commit(self).await
    }

    async fn committed(&self, tp: &TopicPartition) -> Result<Option<i64>, TransportError> {
        KafkaConsumer::committed(self, tp).await
    }

    fn pause(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        KafkaConsumer::pause(self, partitions)
    }

    fn resume(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        KafkaConsumer::resume(self, partitions)
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), TransportError> {
        KafkaConsumer::seek(self, tp, offset)
    }

    fn assignment(&self) -> Result<Vec<TopicPartition>, TransportError> {
        KafkaConsumer::assignment(self)
    }

    async fn close(&self) -> Result<(), TransportError> {
        KafkaConsumer::close(self).await
    }

    fn lag(&self) -> Vec<(TopicPartition, i64)> {
        KafkaConsumer::lag(self)
    }
}
