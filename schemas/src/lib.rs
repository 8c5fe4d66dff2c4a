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

/// The JSON form of an event's Avro payload, decoded with these schemas; `None` for an event
/// type or version they do not define. What `carebus-store verify` (and its tests) compare a
/// stored row's JSON form with.
pub fn payload_json(
    event_type: &str,
    version: u32,
    data: &[u8],
) -> Option<Result<carebus_core::__private::serde_json::Value, String>> {
    use carebus_core::TopicEvents;
    if !EVENTS
        .iter()
        .any(|i| i.event_type == event_type && i.version == version)
    {
        return None;
    }
    Some(
        decode(event_type, version, data)
            .map(|e| match e {
                AnyEvent::Ai(e) => e.to_json(),
                AnyEvent::Appointments(e) => e.to_json(),
                AnyEvent::Clinical(e) => e.to_json(),
                AnyEvent::Journeys(e) => e.to_json(),
                AnyEvent::Patients(e) => e.to_json(),
            })
            .map_err(|e| e.to_string()),
    )
}
