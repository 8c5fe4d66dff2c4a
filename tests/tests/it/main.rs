//! End-to-end tests, and the generator's fixtures compiled as a user's build.rs compiles them (`generated_*`),
//! against real Apache Kafka (single broker, 3-node cluster and the secured broker), PostgreSQL and OpenSearch started by scripts/services: the transport, consumer groups, topics as code, the event store and its operations, the journey engine, the analytics sink.
//!
//! Tests that stop a broker are in the `disruptive` binary: cargo runs test binaries one after
//! another, so no test here finds its broker stopped by another.

mod ai_service;
mod analytics_sink;
mod analytics_support;
mod avro_json;
mod cloudevents;
mod fhir_service;
mod generated_apache;
mod generated_avro;
mod generated_collision;
mod generated_handlers;
mod generated_logical;
mod generated_proto;
mod generated_recursive;
mod generated_topics;
mod journey_dashboard;
mod journeys;
mod kafka_acls;
mod kafka_consumer;
mod kafka_every_event;
mod kafka_mirror;
mod kafka_secure;
mod kafka_support;
mod kafka_topics;
mod kafka_transport;
mod monitoring;
mod platform;
mod prm_service;
mod realtime_service;
mod services;
mod store_core;
mod store_ops;
mod store_pitr;
mod store_support;
