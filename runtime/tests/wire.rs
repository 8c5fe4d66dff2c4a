//! The wire format: events and envelopes to records (single-object, Confluent, JSON, structured) and back, with typed, PHI-free errors.

mod common;

use carebus::envelope::{Envelope, EventMetadata, headers as h};
use carebus::transport::{Headers, header, header_str};
use carebus::wire::{Framing, SchemaIds, WireError, decode, encode};
use carebus::{DomainEvent, Timestamp};
use common::*;
use std::collections::HashMap;

fn envelope<E: DomainEvent>(e: &E) -> Envelope {
    Envelope {
        event_id: "550e8400-e29b-41d4-a716-446655440000".into(),
        event_type: E::EVENT_TYPE.into(),
        event_version: E::EVENT_VERSION,
        event_time: Timestamp::parse_rfc3339("2024-11-24T10:30:00Z").unwrap(),
        aggregate_id: e.aggregate_id(),
        aggregate_type: E::AGGREGATE_TYPE.into(),
        tenant_id: Some("hospital-456".into()),
        correlation_id: Some("request-789".into()),
        causation_id: Some("command-012".into()),
        metadata: EventMetadata {
            user_id: Some("user-345".into()),
            source: "PRM Service".into(),
            ip_address: Some("10.0.0.1".into()),
        },
        schema_fingerprint: Some(E::FINGERPRINT),
        data_schema: None,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    }
}

#[test]
fn single_object_round_trip_with_cloudevents_headers() {
    let ev = PatientAdmitted::new("patient-123", "cardiology");
    let env = envelope(&ev);
    let rec = encode(&env, &ev, &Framing::SingleObject).unwrap();
    assert_eq!(rec.key.as_deref(), Some(&b"patient-123"[..]));
    assert_eq!(rec.topic, TOPIC);
    assert_eq!(&rec.value[..2], &[0xC3, 0x01]);
    assert_eq!(
        &rec.value[2..10],
        &PatientAdmitted::FINGERPRINT.to_le_bytes()
    );
    let mut datum = Vec::new();
    ev.encode_payload(&mut datum);
    assert_eq!(&rec.value[10..], &datum[..]);
    let hs = &rec.headers;
    assert_eq!(header_str(hs, h::SPECVERSION), Some("1.0"));
    assert_eq!(header_str(hs, h::TYPE), Some("PatientAdmitted"));
    assert_eq!(header_str(hs, h::EVENT_VERSION), Some("2"));
    assert_eq!(header_str(hs, h::TIME), Some("2024-11-24T10:30:00Z"));
    assert_eq!(header_str(hs, h::SUBJECT), Some("patient-123"));
    assert_eq!(header_str(hs, h::CONTENT_TYPE), Some("application/avro"));
    assert_eq!(
        header_str(hs, h::SCHEMA_FINGERPRINT),
        Some("1111222233334444")
    );
    assert_eq!(header_str(hs, h::TENANT_ID), Some("hospital-456"));
    assert!(header(hs, h::TRACEPARENT).is_some());
    // No header holds the PHI notes.
    for (_, v) in hs {
        assert!(!String::from_utf8_lossy(v).contains("Jane"));
    }
    let (back_env, back): (Envelope, WardsEvent) = decode(&rec.headers, &rec.value).unwrap();
    assert_eq!(back_env, env);
    assert_eq!(back, WardsEvent::PatientAdmitted(ev));
}

#[test]
fn confluent_framing_uses_the_supplied_schema_id() {
    let ev = PatientDischarged::new("p-1", 7);
    let env = envelope(&ev);
    let ids = SchemaIds::from_map(HashMap::from([(("PatientDischarged".to_string(), 1), 42)]));
    let rec = encode(&env, &ev, &Framing::Confluent(ids)).unwrap();
    assert_eq!(&rec.value[..5], &[0, 0, 0, 0, 42]);
    let (_, back): (Envelope, WardsEvent) = decode(&rec.headers, &rec.value).unwrap();
    assert_eq!(back, WardsEvent::PatientDischarged(ev.clone()));
    let none = SchemaIds::from_fn(|_, _| None);
    assert!(matches!(
        encode(&env, &ev, &Framing::Confluent(none)),
        Err(WireError::NoSchemaId { .. })
    ));
}

#[test]
fn structured_mode_reproduces_the_briefs_envelope_field_for_field() {
    let ev = PatientAdmittedV1 {
        patient_id: "patient-123".into(),
        ward: "cardiology".into(),
    };
    let env = envelope(&ev);
    let rec = encode(&env, &ev, &Framing::StructuredJson).unwrap();
    assert_eq!(
        header_str(&rec.headers, h::CONTENT_TYPE),
        Some("application/cloudevents+json")
    );
    let json: serde_json::Value = serde_json::from_slice(&rec.value).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "eventId",
            "eventType",
            "eventVersion",
            "eventTime",
            "aggregateId",
            "aggregateType",
            "tenantId",
            "correlationId",
            "causationId",
            "metadata",
            "data"
        ]
    );
    assert_eq!(json["eventVersion"], "1.0");
    assert_eq!(json["eventTime"], "2024-11-24T10:30:00Z");
    assert_eq!(json["metadata"]["source"], "PRM Service");
    assert_eq!(json["metadata"]["ipAddress"], "10.0.0.1");
    assert_eq!(json["data"]["patientId"], "patient-123");
    let (back_env, back): (Envelope, WardsEvent) = decode(&rec.headers, &rec.value).unwrap();
    assert_eq!(back, WardsEvent::PatientAdmittedV1(ev));
    assert_eq!(back_env.metadata, env.metadata);
    assert_eq!(back_env.causation_id, env.causation_id);
}

#[test]
fn json_framing_round_trips() {
    let ev = PatientDischarged::new("p-2", 3);
    let rec = encode(&envelope(&ev), &ev, &Framing::Json).unwrap();
    assert_eq!(
        header_str(&rec.headers, h::CONTENT_TYPE),
        Some("application/json")
    );
    let (_, back): (Envelope, WardsEvent) = decode(&rec.headers, &rec.value).unwrap();
    assert_eq!(back, WardsEvent::PatientDischarged(ev));
}

fn set_header(hs: &mut Headers, name: &str, value: &str) {
    hs.retain(|(n, _)| n != name);
    hs.push((name.into(), value.as_bytes().to_vec()));
}

#[test]
fn decoding_failures_are_typed_and_free_of_phi() {
    let ev = PatientAdmitted::new("patient-123", "cardiology");
    let rec = encode(&envelope(&ev), &ev, &Framing::SingleObject).unwrap();

    let mut missing = rec.headers.clone();
    missing.retain(|(n, _)| n != h::TYPE);
    let e = decode::<WardsEvent>(&missing, &rec.value).unwrap_err();
    assert_eq!(e.reason(), "bad-envelope");

    let mut unknown_version = rec.headers.clone();
    set_header(&mut unknown_version, h::EVENT_VERSION, "9");
    let mut value = rec.value.clone();
    value[2..10].copy_from_slice(&0xdead_beefu64.to_le_bytes());
    let e = decode::<WardsEvent>(&unknown_version, &value).unwrap_err();
    assert_eq!(e.reason(), "unknown-fingerprint");

    let mut bad_magic = rec.value.clone();
    bad_magic[0] = 0x7f;
    let e = decode::<WardsEvent>(&rec.headers, &bad_magic).unwrap_err();
    assert_eq!(e.reason(), "bad-framing");

    let truncated = &rec.value[..rec.value.len() - 5];
    let e = decode::<WardsEvent>(&rec.headers, truncated).unwrap_err();
    assert_eq!(e.reason(), "undecodable-payload");
    for err in [e.to_string(), format!("{e:?}")] {
        assert!(!err.contains("Jane"), "{err}");
    }

    let mut mismatch = rec.headers.clone();
    set_header(&mut mismatch, h::TYPE, "PatientDischarged");
    set_header(&mut mismatch, h::EVENT_VERSION, "1");
    let e = decode::<WardsEvent>(&mismatch, &rec.value).unwrap_err();
    assert!(matches!(e, WireError::TypeMismatch { .. }));

    let mut unknown_type = rec.headers.clone();
    set_header(&mut unknown_type, h::TYPE, "PatientTeleported");
    let mut confluent = vec![0, 0, 0, 0, 1];
    confluent.extend_from_slice(&rec.value[10..]);
    let e = decode::<WardsEvent>(&unknown_type, &confluent).unwrap_err();
    assert_eq!(e.reason(), "unknown-event-type-or-version");
}
