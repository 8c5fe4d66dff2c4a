//! The healthcare domain events, generated at build time from `schemas/avro/**/*.avsc` and `schemas/proto/**/*.proto`.
//!
//! Every event is a plain Rust struct with a direct Avro (or Protobuf) codec, the JSON form,
//! and a [`carebus_core::DomainEvent`] impl. Per Kafka topic there is an event enum (e.g.
//! `PatientsEvent`), a handler trait (`PatientsHandler`), its dispatcher and a publisher trait.
//! To see what a schema turns into, read the generated file: `target/*/build/carebus-schemas-*/out/carebus_generated.rs`.

#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/carebus_generated.rs"));

/// The IR of the whole domain as JSON (what the catalog site renders).
pub const IR_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/carebus-ir.json"));
