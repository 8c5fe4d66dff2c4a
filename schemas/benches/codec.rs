//! Realistic PatientCreated and LabResultReceived events in, encode/decode timings out: the
//! generated direct Avro codec vs apache-avro's own `Value` codec vs serde_json of the JSON form.
//!
//! apache-avro cannot read or write the generated structs directly (their serde form is the
//! JSON form, not an Avro-shaped one), so its side is measured from and to its own
//! `apache_avro::types::Value`, built once from the event's JSON form: encoding is
//! `to_avro_datum(schema, value)`, decoding `from_avro_datum` to a `Value`. The generated side
//! goes from and to the typed struct, which is more work than apache-avro's side does.
//!
//! Run: `cargo bench -p carebus-schemas --bench codec -- --warm-up-time 1 --measurement-time 3`
//! (numbers and ratios are written down in `docs/benchmarks.md`, section "Codec").

// `to_avro_datum`/`from_avro_datum` are deprecated in apache-avro 0.22 in favour of the
// `GenericDatum*` builders; they are the `Value` path the comparison names.
#![allow(deprecated)]

// The JSON form → apache-avro `Value` mapping the byte-parity tests use (crate carebus-tests),
// which names the runtime `carebus`.
extern crate carebus_core as carebus;
#[path = "../../tests/tests/it/generated_avro/avro_value.rs"]
mod avro_value;

use apache_avro::Schema;
use apache_avro::types::Value;
use carebus_core::DomainEvent;
use carebus_schemas::{LabResultReceived, PatientCreated};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::hint::black_box;

/// A patient registered with an MRN, two contact points and a home address. Built from the
/// JSON form so the benchmark depends only on the schema, not on Rust type names.
fn patient_created() -> PatientCreated {
    PatientCreated::from_legacy_json(&json!({
        "patientId": "patient-0048291",
        "firstName": "María José",
        "lastName": "Hernández-O'Connor",
        "dateOfBirth": "1984-07-19",
        "email": "maria.hernandez@example.com",
        "gender": "FEMALE",
        "identifiers": [
            {"system": "urn:oid:2.16.840.1.113883.3.4567.1.1", "value": "MRN-00482913", "typeCode": "MR"},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-12-3456", "typeCode": "SS"}
        ],
        "telecom": [
            {"system": "EMAIL", "value": "maria.hernandez@example.com", "use": "HOME", "rank": 1},
            {"system": "SMS", "value": "+12175550123", "use": "MOBILE", "rank": 2}
        ],
        "address": {
            "line": ["221 Maple Avenue", "Apt 4B"],
            "city": "Springfield",
            "state": "IL",
            "postalCode": "62704",
            "country": "US"
        },
        "preferredLanguage": "es-MX"
    }))
    .expect("the PatientCreated benchmark value matches the schema's JSON form")
}

/// An HbA1c result of 8.4 % (HIGH) with its reference range, specimen and performing lab.
fn lab_result_received() -> LabResultReceived {
    LabResultReceived::from_legacy_json(&json!({
        "patientId": "patient-0048291",
        "resultId": "0b7c6a1e-52a4-4a8e-9a9e-3f5f8d2c1b44",
        "orderId": "ORD-2024-118734",
        "encounterId": "e5a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b",
        "code": {
            "system": "http://loinc.org",
            "code": "4548-4",
            "display": "Hemoglobin A1c/Hemoglobin.total in Blood"
        },
        "value": {"value": "8.4", "unit": "%"},
        "valueText": null,
        "referenceRange": {
            "low": {"value": "4.0", "unit": "%"},
            "high": {"value": "5.6", "unit": "%"},
            "text": "4.0-5.6 %"
        },
        "interpretation": "HIGH",
        "specimen": {
            "type": {"system": "http://snomed.info/sct", "code": "119297000", "display": "Blood specimen"},
            "accessionId": "ACC-24-0877341",
            "collectedAt": "2024-12-02T08:05:00Z"
        },
        "status": "FINAL",
        "performingLab": {"type": "Organization", "id": "org-central-lab", "display": "Central Clinical Laboratory"},
        "issuedAt": "2024-12-02T11:47:00Z"
    }))
    .expect("the LabResultReceived benchmark value matches the schema's JSON form")
}

/// apache-avro's encoder: its `Value` to bytes.
fn apache_encode(schema: &Schema, value: &Value) -> Vec<u8> {
    apache_avro::to_avro_datum(schema, value.clone()).expect("to_avro_datum")
}

/// apache-avro's decoder: bytes to its `Value`.
fn apache_decode(schema: &Schema, bytes: &[u8]) -> Value {
    apache_avro::from_avro_datum(schema, &mut &bytes[..], None).expect("from_avro_datum")
}

fn bench_event<E>(c: &mut Criterion, event: E)
where
    E: DomainEvent + Serialize + DeserializeOwned + PartialEq,
{
    let schema = Schema::parse_str(E::SCHEMA).expect("SCHEMA parses in apache-avro");
    let mut generated = Vec::new();
    event.encode_payload(&mut generated);
    let value = avro_value::avro_value(&schema, &event.to_json());
    let apache = apache_encode(&schema, &value);
    let json = serde_json::to_vec(&event).expect("serde_json::to_vec");
    // The three codecs agree before anything is timed.
    assert_eq!(
        generated,
        apache,
        "{}: generated and apache-avro bytes differ",
        E::EVENT_TYPE
    );
    assert!(E::decode_payload(&generated).expect("decode_payload") == event);
    assert!(apache_decode(&schema, &apache) == value);
    assert!(serde_json::from_slice::<E>(&json).expect("serde_json::from_slice") == event);

    let mut group = c.benchmark_group(format!("{}/encode", E::EVENT_TYPE));
    group.bench_function(BenchmarkId::new("generated", generated.len()), |b| {
        b.iter(|| {
            let mut out = Vec::new();
            black_box(&event).encode_payload(&mut out);
            out
        })
    });
    group.bench_function(BenchmarkId::new("apache-avro", apache.len()), |b| {
        b.iter(|| apache_encode(&schema, black_box(&value)))
    });
    group.bench_function(BenchmarkId::new("serde_json", json.len()), |b| {
        b.iter(|| serde_json::to_vec(black_box(&event)).expect("serde_json::to_vec"))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{}/decode", E::EVENT_TYPE));
    group.bench_function(BenchmarkId::new("generated", generated.len()), |b| {
        b.iter(|| E::decode_payload(black_box(&generated)).expect("decode_payload"))
    });
    group.bench_function(BenchmarkId::new("apache-avro", apache.len()), |b| {
        b.iter(|| apache_decode(&schema, black_box(&apache)))
    });
    group.bench_function(BenchmarkId::new("serde_json", json.len()), |b| {
        b.iter(|| serde_json::from_slice::<E>(black_box(&json)).expect("serde_json::from_slice"))
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    bench_event(c, patient_created());
    bench_event(c, lab_result_received());
}

criterion_group!(benches, codecs);
criterion_main!(benches);
