//! The in-process bus: records in, records out of in-memory partitioned logs with Kafka's semantics (key partitioning, consumer groups, committed offsets, transactions).

mod partitioner;

pub use partitioner::{murmur2, partition_for_key, to_positive};
