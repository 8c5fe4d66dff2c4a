//! The wire format: events and envelopes to records (single-object, Confluent, JSON, structured) and back, with typed, PHI-free errors.

use crate::common::*;
use carebus::envelope::{Envelope, EventMetadata, headers as h};
use carebus::transport::{Headers, header, header_str};
use carebus::wire::{Framing, SchemaIds, WireError, decode, encode};
use carebus::{DomainEvent, Timestamp};
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
    let rec = encode(env.clone(), &ev, &Framing::SingleObject).unwrap();
    assert_eq!(rec.key.as_deref(), Some(&b"patient-123"[..]));
    assert_eq!(rec.topic, TOPIC);
    assert_eq!(&rec.payload()[..2], &[0xC3, 0x01]);
    assert_eq!(
        &rec.payload()[2..10],
        &PatientAdmitted::FINGERPRINT.to_le_bytes()
    );
    let mut datum = Vec::new();
    ev.encode_payload(&mut datum);
    assert_eq!(&rec.payload()[10..], &datum[..]);
    let hs = &rec.headers;
    assert_eq!(header_str(hs, h::SPECVERSION), Some("1.0"));
    assert_eq!(header_str(hs, h::TYPE), Some("PatientAdmitted"));
    assert_eq!(header_str(hs, h::EVENT_VERSION), Some("2"));
    assert_eq!(header_str(hs, h::TIME), Some("2024-11-24T10:30:00Z"));
    assert_eq!(header_str(hs, h::SUBJECT), Some("patient-123"));
    assert_eq!(
        header_str(hs, h::SOURCE),
        Some("PRM Service"),
        "as configured: Kafka header values are UTF-8 text"
    );
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
    let (back_env, back): (Envelope, WardsEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back_env, env);
    assert_eq!(back, WardsEvent::PatientAdmitted(ev));
}

#[test]
fn confluent_framing_uses_the_supplied_schema_id() {
    let ev = PatientDischarged::new("p-1", 7);
    let env = envelope(&ev);
    let ids = SchemaIds::from_map(HashMap::from([(("PatientDischarged".to_string(), 1), 42)]));
    let rec = encode(env.clone(), &ev, &Framing::Confluent(ids)).unwrap();
    assert_eq!(&rec.payload()[..5], &[0, 0, 0, 0, 42]);
    let (_, back): (Envelope, WardsEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back, WardsEvent::PatientDischarged(ev.clone()));
    let none = SchemaIds::from_fn(|_, _| None);
    assert!(matches!(
        encode(env.clone(), &ev, &Framing::Confluent(none)),
        Err(WireError::NoSchemaId { .. })
    ));
}

#[test]
fn structured_mode_writes_the_cloudevents_json_event_format() {
    let ev = PatientAdmittedV1 {
        patient_id: "patient-123".into(),
        ward: "cardiology".into(),
    };
    let env = envelope(&ev);
    let rec = encode(env.clone(), &ev, &Framing::StructuredJson).unwrap();
    assert_eq!(
        header_str(&rec.headers, h::CONTENT_TYPE),
        Some("application/cloudevents+json")
    );
    let json: serde_json::Value = serde_json::from_slice(rec.payload()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "datacontenttype",
            "eventversion",
            "aggregatetype",
            "tenantid",
            "correlationid",
            "causationid",
            "userid",
            "ipaddress",
            "traceparent",
            "schemafingerprint",
            "data"
        ]
    );
    assert_eq!(json["specversion"], "1.0");
    assert_eq!(json["id"], "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(json["type"], "PatientAdmitted");
    assert_eq!(json["eventversion"], 1);
    assert_eq!(json["time"], "2024-11-24T10:30:00Z");
    assert_eq!(json["subject"], "patient-123");
    assert_eq!(json["source"], "PRM Service");
    assert_eq!(json["ipaddress"], "10.0.0.1");
    assert_eq!(json["datacontenttype"], "application/json");
    assert_eq!(json["data"]["patientId"], "patient-123");
    let (back_env, back): (Envelope, WardsEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back, WardsEvent::PatientAdmittedV1(ev));
    assert_eq!(back_env.metadata, env.metadata);
    assert_eq!(back_env.causation_id, env.causation_id);
}

#[test]
fn json_framing_round_trips() {
    let ev = PatientDischarged::new("p-2", 3);
    let rec = encode(envelope(&ev), &ev, &Framing::Json).unwrap();
    assert_eq!(
        header_str(&rec.headers, h::CONTENT_TYPE),
        Some("application/json")
    );
    let (_, back): (Envelope, WardsEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back, WardsEvent::PatientDischarged(ev));
}

fn set_header(hs: &mut Headers, name: &'static str, value: &str) {
    hs.retain(|(n, _)| n != name);
    hs.push((name.into(), value.as_bytes().to_vec()));
}

#[test]
fn decoding_failures_are_typed_and_free_of_phi() {
    let ev = PatientAdmitted::new("patient-123", "cardiology");
    let rec = encode(envelope(&ev), &ev, &Framing::SingleObject).unwrap();

    let mut missing = rec.headers.clone();
    missing.retain(|(n, _)| n != h::TYPE);
    let e = decode::<WardsEvent>(&missing, rec.payload()).unwrap_err();
    assert_eq!(e.reason(), "bad-envelope");

    let mut unknown_version = rec.headers.clone();
    set_header(&mut unknown_version, h::EVENT_VERSION, "9");
    let mut value = rec.payload().to_vec();
    value[2..10].copy_from_slice(&0xdead_beefu64.to_le_bytes());
    let e = decode::<WardsEvent>(&unknown_version, &value).unwrap_err();
    assert_eq!(e.reason(), "unknown-fingerprint");

    let mut bad_magic = rec.payload().to_vec();
    bad_magic[0] = 0x7f;
    let e = decode::<WardsEvent>(&rec.headers, &bad_magic).unwrap_err();
    assert_eq!(e.reason(), "bad-framing");

    let truncated = &rec.payload()[..rec.payload().len() - 5];
    let e = decode::<WardsEvent>(&rec.headers, truncated).unwrap_err();
    assert_eq!(e.reason(), "undecodable-payload");
    for err in [e.to_string(), format!("{e:?}")] {
        assert!(!err.contains("Jane"), "{err}");
    }

    let mut mismatch = rec.headers.clone();
    set_header(&mut mismatch, h::TYPE, "PatientDischarged");
    set_header(&mut mismatch, h::EVENT_VERSION, "1");
    let e = decode::<WardsEvent>(&mismatch, rec.payload()).unwrap_err();
    assert!(matches!(e, WireError::TypeMismatch { .. }));

    let mut unknown_type = rec.headers.clone();
    set_header(&mut unknown_type, h::TYPE, "PatientTeleported");
    let mut confluent = vec![0, 0, 0, 0, 1];
    confluent.extend_from_slice(&rec.payload()[10..]);
    let e = decode::<WardsEvent>(&unknown_type, &confluent).unwrap_err();
    assert_eq!(e.reason(), "unknown-event-type-or-version");
}

/// A Protobuf-format event: `message TriageScored { string patient_id = 1; int64 score = 2; }`,
/// encoded by hand as prost would.
#[derive(Clone, Debug, PartialEq)]
struct TriageScored {
    patient_id: String,
    score: i64,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl DomainEvent for TriageScored {
    const EVENT_TYPE: &'static str = "TriageScored";
    const EVENT_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const TOPIC: &'static str = "healthcare.triage.events";
    const SCHEMA: &'static str = "message TriageScored { string patient_id = 1; int64 score = 2; }";
    const FINGERPRINT: u64 = 0x7777;
    const FORMAT: carebus::PayloadFormat = carebus::PayloadFormat::Protobuf;
    const PHI_FIELDS: &'static [&'static str] = &[];
    fn aggregate_id(&self) -> String {
        self.patient_id.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.push(0x0A);
        varint(out, self.patient_id.len() as u64);
        out.extend_from_slice(self.patient_id.as_bytes());
        out.push(0x10);
        varint(out, self.score as u64);
    }
    fn decode_payload(b: &[u8]) -> Result<Self, carebus::DecodeError> {
        let bad = || carebus::DecodeError::Protobuf("not a TriageScored message".into());
        if b.len() < 2 || b[0] != 0x0A {
            return Err(bad());
        }
        let n = b[1] as usize;
        let id = b.get(2..2 + n).ok_or_else(bad)?;
        if b.get(2 + n) != Some(&0x10) {
            return Err(bad());
        }
        let score = *b.get(3 + n).ok_or_else(bad)? as i64;
        Ok(TriageScored {
            patient_id: String::from_utf8(id.to_vec()).map_err(|_| bad())?,
            score,
        })
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"patientId": self.patient_id, "score": self.score})
    }
    fn from_json(_: &serde_json::Value) -> Result<Self, carebus::DecodeError> {
        Err(carebus::DecodeError::Protobuf("unused".into()))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TriageEvent {
    TriageScored(TriageScored),
}

static TRIAGE_EVENTS: [carebus::EventInfo; 1] = [carebus::EventInfo {
    event_type: "TriageScored",
    version: 1,
    aggregate_type: "Patient",
    topic: "healthcare.triage.events",
    fingerprint: 0x7777,
    format: carebus::PayloadFormat::Protobuf,
    schema: "",
    phi_fields: &[],
}];

impl carebus::TopicEvents for TriageEvent {
    const TOPIC: &'static str = "healthcare.triage.events";
    const EVENTS: &'static [carebus::EventInfo] = &TRIAGE_EVENTS;
    fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, carebus::DecodeError> {
        match (t, v) {
            ("TriageScored", 1) => TriageScored::decode_payload(payload).map(Self::TriageScored),
            _ => Err(carebus::DecodeError::UnknownEvent {
                event_type: t.into(),
                version: v,
                known: "TriageScored v1".into(),
            }),
        }
    }
    fn decode_fingerprint(fingerprint: u64, _: &[u8]) -> Result<Self, carebus::DecodeError> {
        Err(carebus::DecodeError::UnknownFingerprint { fingerprint })
    }
    fn info(&self) -> &'static carebus::EventInfo {
        &TRIAGE_EVENTS[0]
    }
    fn aggregate_id(&self) -> String {
        let Self::TriageScored(e) = self;
        e.aggregate_id()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        let Self::TriageScored(e) = self;
        e.encode_payload(out)
    }
    fn to_json(&self) -> serde_json::Value {
        let Self::TriageScored(e) = self;
        e.to_json()
    }
}

#[test]
fn protobuf_events_carry_plain_bytes_or_confluent_framing_with_a_message_index() {
    let ev = TriageScored {
        patient_id: "patient-5".into(),
        score: 3,
    };
    let env = envelope(&ev);
    let mut plain = Vec::new();
    ev.encode_payload(&mut plain);

    let rec = encode(env.clone(), &ev, &Framing::SingleObject).unwrap();
    assert_eq!(rec.payload(), plain, "no Avro magic on Protobuf payloads");
    assert_eq!(
        header_str(&rec.headers, h::CONTENT_TYPE),
        Some("application/protobuf")
    );
    let (_, back): (Envelope, TriageEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back, TriageEvent::TriageScored(ev.clone()));

    let ids = SchemaIds::from_fn(|t, v| (t == "TriageScored" && v == 1).then_some(7));
    let rec = encode(env.clone(), &ev, &Framing::Confluent(ids)).unwrap();
    assert_eq!(
        &rec.payload()[..6],
        &[0, 0, 0, 0, 7, 0],
        "magic, id 7, message index [0]"
    );
    assert_eq!(&rec.payload()[6..], &plain[..]);
    let (_, back): (Envelope, TriageEvent) = decode(&rec.headers, rec.payload()).unwrap();
    assert_eq!(back, TriageEvent::TriageScored(ev));
}
