//! Kafka side of carebus: topics spec and transport settings in, rdkafka admin, producer and consumer out.
//!
//! Enabled with the `kafka` feature. Thin over rdkafka: every librdkafka property can be passed
//! through as a string.

pub mod admin;
pub mod plan;
pub mod spec;

pub use admin::{AdminError, ApplyReport, TopicAdmin};
pub use plan::{Change, Drift, ObservedCluster, ObservedTopic, Plan};
pub use spec::{CleanupPolicy, SpecError, TopicSpec, TopicsSpec};
