//! Realistic PatientCreated and LabResultReceived events in, encode/decode timings out: the
//! generated direct Avro codec vs apache-avro's serde path vs serde_json of the serde form.
//!
//! Run: `cargo bench -p carebus-schemas --bench codec -- --warm-up-time 1 --measurement-time 3`
//! (numbers and ratios are written down in `docs/benchmarks.md`, section "Codec").

// `to_avro_datum`/`from_avro_datum` are deprecated in apache-avro 0.22 in favour of the
// `GenericDatum*` builders; they are the serde path the comparison names.
#![allow(deprecated)]

use apache_avro::Schema;
use apache_avro::schema::{NamesRef, ResolvedSchema};
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
    PatientCreated::from_json(&json!({
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
    LabResultReceived::from_json(&json!({
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

/// apache-avro's serde path: `to_value`, `resolve` (without it a decimal, serialized as bytes,
/// is rejected: "Can only encode value type Bytes as one of [Bytes, Fixed, Uuid]") then
/// `to_avro_datum`.
fn apache_encode<E: Serialize>(schema: &Schema, event: &E) -> Vec<u8> {
    let value = apache_avro::to_value(event)
        .and_then(|v| v.resolve(schema))
        .expect("apache_avro::to_value + resolve");
    apache_avro::to_avro_datum(schema, value).expect("to_avro_datum")
}

/// apache-avro's schema-aware serializer, straight from serde to bytes (no `Value`): the
/// fastest apache-avro encoder, measured too so the comparison is not only against `Value`.
/// The schema's named types are resolved once, outside the timed loop.
fn apache_encode_direct<E: Serialize>(schema: &Schema, names: &NamesRef<'_>, event: &E) -> Vec<u8> {
    let mut out = Vec::new();
    apache_avro::write_avro_datum_ref(schema, names, event, &mut out)
        .expect("write_avro_datum_ref");
    out
}

/// apache-avro's serde path: `from_avro_datum` then `from_value`.
fn apache_decode<E: DeserializeOwned>(schema: &Schema, bytes: &[u8]) -> E {
    let value =
        apache_avro::from_avro_datum(schema, &mut &bytes[..], None).expect("from_avro_datum");
    apache_avro::from_value(&value).expect("from_value")
}

fn bench_event<E>(c: &mut Criterion, event: E)
where
    E: DomainEvent + Serialize + DeserializeOwned + PartialEq,
{
    let schema = Schema::parse_str(E::SCHEMA).expect("SCHEMA parses in apache-avro");
    let mut generated = Vec::new();
    event.encode_payload(&mut generated);
    let apache = apache_encode(&schema, &event);
    let resolved = ResolvedSchema::try_from(&schema).expect("named types resolve");
    let names = resolved.get_names();
    let direct = apache_encode_direct(&schema, names, &event);
    let json = serde_json::to_vec(&event).expect("serde_json::to_vec");
    // The three codecs agree before anything is timed.
    assert_eq!(
        generated,
        apache,
        "{}: generated and apache-avro bytes differ",
        E::EVENT_TYPE
    );
    assert_eq!(
        direct,
        apache,
        "{}: apache-avro's two encoders differ",
        E::EVENT_TYPE
    );
    assert!(E::decode_payload(&generated).expect("decode_payload") == event);
    assert!(apache_decode::<E>(&schema, &apache) == event);
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
        b.iter(|| apache_encode(&schema, black_box(&event)))
    });
    group.bench_function(BenchmarkId::new("apache-avro-direct", apache.len()), |b| {
        b.iter(|| apache_encode_direct(&schema, names, black_box(&event)))
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
        b.iter(|| apache_decode::<E>(&schema, black_box(&apache)))
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
