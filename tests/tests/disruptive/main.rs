//! End-to-end tests that stop a Kafka broker on purpose (the single broker under a publishing service and under the outbox relay, a cluster node mid-stream), stop OpenSearch under the analytics sink, or crash the database under appenders: a binary of their own, run after or before the `it` binary, never beside its tests.

#[path = "../it/kafka_support/mod.rs"]
mod kafka_support;

#[path = "../it/analytics_support/mod.rs"]
mod analytics_support;

#[path = "../it/store_ops/common.rs"]
mod store_common;

mod analytics_outage;
mod kafka_cluster;
mod kafka_outage;
mod store_bridges;
mod store_faults;

/// One disruptive test at a time: each stops a broker the others use. Hold the guard for the
/// whole test.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static BROKERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    BROKERS.lock().await
}
