//! End-to-end tests that stop a Kafka broker on purpose (the single broker under a publishing service, a cluster node mid-stream): a binary of their own, run after or before the `it` binary, never beside its tests.

#[path = "../it/kafka_support/mod.rs"]
mod kafka_support;

mod kafka_cluster;
mod kafka_outage;
