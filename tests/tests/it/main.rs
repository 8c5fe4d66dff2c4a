//! End-to-end tests, and the generator's fixtures compiled as a user's build.rs compiles them (`generated_*`),
//! against real Apache Kafka (single broker and 3-node cluster) and PostgreSQL started by scripts/services: the transport, consumer groups, topics as code, the event store and its operations.
//!
//! Tests that stop a broker are in the `disruptive` binary: cargo runs test binaries one after
//! another, so no test here finds its broker stopped by another.

mod avro_json;
mod cloudevents;
mod generated_avro;
mod generated_collision;
mod generated_handlers;
mod generated_proto;
mod generated_recursive;
mod generated_topics;
mod kafka_consumer;
mod kafka_every_event;
mod kafka_support;
mod kafka_topics;
mod kafka_transport;
mod services;
mod store_core;
mod store_ops;
mod store_support;
