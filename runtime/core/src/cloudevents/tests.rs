//! Records from CloudEvents producers (structured JSON, binary headers) turned into carebus envelopes and events: the parsing rules, checked attribute by attribute.

use super::*;
use crate::envelope::{EnvelopeRef, headers};
use crate::error::DecodeError;
use crate::event::PayloadFormat;
use crate::topic::TopicEvents;
use crate::wire::{self, WireError};
use serde_json::json;

const fn info(event_type: &'static str, version: u32, fingerprint: u64) -> EventInfo {
    EventInfo {
        event_type,
        version,
        aggregate_type: "Patient",
        topic: "t",
        fingerprint,
        format: PayloadFormat::Avro,
        schema: "{}",
        phi_fields: &[],
    }
}

/// A topic with two versions of `PatientCreated` and one of `PatientDischarged`.
static EVENTS: [EventInfo; 3] = [
    info("PatientCreated", 1, 0x11),
    info("PatientCreated", 2, 0x22),
    info("PatientDischarged", 1, 0x33),
];

/// The topic's event: which schema, and the payload (its JSON form is `{"id": ...}`).
#[derive(Clone, Debug, PartialEq)]
struct Ev {
    info: &'static EventInfo,
    id: String,
}

impl TopicEvents for Ev {
    const TOPIC: &'static str = "t";
    const EVENTS: &'static [EventInfo] = &EVENTS;
    fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let info = EVENTS
            .iter()
            .find(|i| i.event_type == event_type && i.version == version)
            .ok_or_else(|| crate::topic::unknown_event(&EVENTS, event_type, version))?;
        Ok(Ev {
            info,
            id: String::from_utf8_lossy(payload).into_owned(),
        })
    }
    fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> Result<Self, DecodeError> {
        let info = EVENTS
            .iter()
            .find(|i| i.fingerprint == fingerprint)
            .ok_or(DecodeError::UnknownFingerprint { fingerprint })?;
        Self::decode(info.event_type, info.version, payload)
    }
    fn info(&self) -> &'static EventInfo {
        self.info
    }
    fn aggregate_id(&self) -> String {
        self.id.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
    }
    fn to_json(&self) -> Value {
        json!({ "id": self.id })
    }
    fn decode_json(event_type: &str, version: u32, data: &Value) -> Result<Self, DecodeError> {
        let id = data["id"].as_str().unwrap_or_default();
        Self::decode(event_type, version, id.as_bytes())
    }
}

fn single_object(fingerprint: u64, payload: &str) -> Vec<u8> {
    let mut v = wire::SINGLE_OBJECT_MAGIC.to_vec();
    v.extend_from_slice(&fingerprint.to_le_bytes());
    v.extend_from_slice(payload.as_bytes());
    v
}

/// Headers of a plain CloudEvents producer: the spec's required attributes and `content-type`.
fn conforming_headers(ce_type: &str, content_type: &str) -> Vec<(String, Vec<u8>)> {
    [
        (headers::SPECVERSION, "1.0"),
        (headers::ID, "evt-1"),
        (headers::SOURCE, "/python producer"),
        (headers::TYPE, ce_type),
        (headers::CONTENT_TYPE, content_type),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

fn structured(event: Value) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let h = vec![(
        headers::CONTENT_TYPE.to_owned(),
        wire::CONTENT_TYPE_STRUCTURED.as_bytes().to_vec(),
    )];
    (h, serde_json::to_vec(&event).unwrap())
}

fn minimal_structured() -> Value {
    json!({
        "specversion": "1.0",
        "id": "evt-1",
        "source": "https://prm.example/front desk",
        "type": "PatientDischarged",
        "data": {"id": "p-9"},
    })
}

#[test]
fn a_missing_required_attribute_is_an_error_naming_it() {
    for name in ["specversion", "id", "source", "type", "data"] {
        let mut event = minimal_structured();
        event.as_object_mut().unwrap().remove(name);
        let err = Envelope::from_cloudevent(&event).unwrap_err();
        assert_eq!(err, EnvelopeError::MissingAttribute(name), "{name}");
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
    }
}

#[test]
fn a_minimal_structured_event_decodes_with_version_subject_and_aggregate_filled_in() {
    let (h, value) = structured(minimal_structured());
    let (env, event) = wire::decode::<Ev>(&h, &value).unwrap();
    assert_eq!(event.info.event_type, "PatientDischarged");
    assert_eq!(env.event_version, 1, "the only version of the type");
    assert_eq!(
        env.aggregate_id, "p-9",
        "the event's aggregate id without `subject`"
    );
    assert_eq!(env.aggregate_type, "Patient");
    assert_eq!(env.metadata.source, "https://prm.example/front desk");
}

#[test]
fn extension_names_must_be_lower_case_letters_and_digits() {
    for good in ["eventversion", "tenantid", "x1", "traceparent"] {
        assert!(is_attribute_name(good), "{good}");
    }
    for bad in ["", "tenantId", "tenant_id", "tenant-id", "é"] {
        assert!(!is_attribute_name(bad), "{bad}");
        let mut event = minimal_structured();
        event[bad] = json!("x");
        let err = Envelope::from_cloudevent(&event).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::BadHeader {
                    name: "attribute name",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    for name in EXTENSIONS {
        assert!(is_attribute_name(name), "carebus writes {name}");
    }
}

#[test]
fn structured_events_round_trip_with_every_extension_and_no_carebus_only_keys() {
    let env = Envelope {
        event_id: "e-1".into(),
        event_type: "org.example.healthcare.patient.created".into(),
        event_version: 2,
        event_time: Timestamp::parse_rfc3339("2024-11-24T10:30:00Z").unwrap(),
        aggregate_id: "p-1".into(),
        aggregate_type: "Patient".into(),
        tenant_id: Some("t-1".into()),
        correlation_id: Some("c-1".into()),
        causation_id: Some("k-1".into()),
        metadata: EventMetadata {
            user_id: Some("u-1".into()),
            source: "PRM Service".into(),
            ip_address: Some("10.0.0.1".into()),
        },
        schema_fingerprint: Some(0x22),
        data_schema: Some("https://schemas.example/PatientCreated.v2".into()),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    };
    let value = env.to_cloudevent(json!({"id": "p-1"}));
    let obj = value.as_object().unwrap();
    assert!(obj.keys().all(|k| is_attribute_name(k)), "{:?}", obj.keys());
    assert_eq!(value["specversion"], "1.0");
    assert_eq!(value["type"], "org.example.healthcare.patient.created");
    assert_eq!(value["eventversion"], 2);
    assert_eq!(value["schemafingerprint"], "0000000000000022");
    assert_eq!(value["datacontenttype"], "application/json");
    let (back, data) = Envelope::from_cloudevent(&value).unwrap();
    assert_eq!(back, env);
    assert_eq!(data, StructuredData::Json(json!({"id": "p-1"})));
}

#[test]
fn data_base64_is_decoded_by_its_content_type_and_fingerprint() {
    use base64::Engine as _;
    let payload = single_object(0x22, "p-5");
    let mut event = minimal_structured();
    let obj = event.as_object_mut().unwrap();
    obj.remove("data");
    obj.insert("type".into(), json!("PatientCreated"));
    obj.insert("datacontenttype".into(), json!("application/avro"));
    obj.insert(
        "data_base64".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(&payload)),
    );
    let (h, value) = structured(event.clone());
    let (env, ev) = wire::decode::<Ev>(&h, &value).unwrap();
    assert_eq!((env.event_version, ev.id.as_str()), (2, "p-5"));
    event["data"] = json!({"id": "p-5"});
    let err = Envelope::from_cloudevent(&event).unwrap_err();
    assert!(
        matches!(
            err,
            EnvelopeError::BadHeader {
                name: "data_base64",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn binary_mode_needs_only_the_specs_required_headers() {
    let h = conforming_headers("PatientDischarged", "application/json");
    let (env, event) = wire::decode::<Ev>(&h, br#"{"id":"p-2"}"#).unwrap();
    assert_eq!(event.info.version, 1);
    assert_eq!(env.event_type, "PatientDischarged");
    assert_eq!(env.aggregate_id, "p-2");
    assert_eq!(env.metadata.source, "/python producer", "read as sent");
    for required in [
        headers::SPECVERSION,
        headers::ID,
        headers::SOURCE,
        headers::TYPE,
    ] {
        let without: Vec<_> = h.iter().filter(|(n, _)| n != required).cloned().collect();
        let err = EnvelopeRef::from_headers(&without).unwrap_err();
        assert_eq!(err, EnvelopeError::MissingHeader(required));
    }
}

#[test]
fn the_version_comes_from_the_header_then_the_fingerprint_then_dataschema_then_the_only_one() {
    let decode = |extra: &[(&str, &str)], value: &[u8]| {
        let mut h = conforming_headers("PatientCreated", "application/avro");
        h.extend(
            extra
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
        );
        wire::decode::<Ev>(&h, value).map(|(env, _)| env.event_version)
    };
    let v1 = single_object(0x11, "p");
    let v2 = single_object(0x22, "p");
    // ce_eventversion first: it must agree with the payload.
    assert_eq!(decode(&[(headers::EVENT_VERSION, "2")], &v2), Ok(2));
    assert!(matches!(
        decode(&[(headers::EVENT_VERSION, "2")], &v1),
        Err(WireError::TypeMismatch { .. })
    ));
    // Then the payload's fingerprint, over dataschema.
    let schema_v2 = [(headers::DATASCHEMA, "https://s.example/PatientCreated.v2")];
    assert_eq!(decode(&schema_v2, &v1), Ok(1));
    // Then ce_schemafingerprint, then dataschema (Confluent framing carries no fingerprint).
    let confluent = [0u8, 0, 0, 0, 7, b'p'];
    assert_eq!(
        decode(
            &[(headers::SCHEMA_FINGERPRINT, "0000000000000011")],
            &confluent
        ),
        Ok(1)
    );
    assert_eq!(decode(&schema_v2, &confluent), Ok(2));
    // Two versions and nothing to choose: an error that says what to send.
    let err = decode(&[], &confluent).unwrap_err();
    assert!(err.to_string().contains("send ce_eventversion"), "{err}");
    assert!(matches!(
        err,
        WireError::Envelope(EnvelopeError::UnresolvedVersion { .. })
    ));
}

#[test]
fn version_in_dataschema_reads_a_standalone_v_number() {
    for (uri, v) in [
        ("https://schemas.example/PatientCreated.v2", Some(2)),
        ("urn:x:patient_created:v3", Some(3)),
        ("https://s.example/patient/v12/schema.avsc", Some(12)),
        ("https://s.example/v1/PatientCreated.v4.avsc", Some(4)),
        ("https://dev.example/PatientCreated", None),
        ("https://s.example/v2x", None),
        ("https://s.example/av2", None),
        ("https://s.example/v0", None),
        ("", None),
    ] {
        assert_eq!(version_in_dataschema(uri), v, "{uri}");
    }
}

#[test]
fn ce_types_map_plain_explicit_and_prefixed_names() {
    let types = CeTypes::new()
        .prefix("org.example.healthcare.")
        .map("com.acme.discharge", "PatientDischarged");
    for (ce_type, expected) in [
        ("PatientCreated", Some("PatientCreated")),
        (
            "org.example.healthcare.patient.created",
            Some("PatientCreated"),
        ),
        (
            "org.example.healthcare.PatientCreated",
            Some("PatientCreated"),
        ),
        (
            "org.example.healthcare.patient_discharged",
            Some("PatientDischarged"),
        ),
        ("com.acme.discharge", Some("PatientDischarged")),
        ("org.example.healthcare.patient.deleted", None),
        ("org.example.healthcarepatient.created", None),
        ("com.other.patient.created", None),
        ("patient.created", None),
    ] {
        assert_eq!(types.resolve(ce_type, &EVENTS), expected, "{ce_type}");
    }
    assert_eq!(
        CeTypes::new().resolve("org.example.healthcare.patient.created", &EVENTS),
        None
    );
}

#[test]
fn reverse_dns_types_are_read_back_by_the_same_prefix() {
    assert_eq!(
        reverse_dns_type("org.example.healthcare", "PatientCreated"),
        "org.example.healthcare.patient.created"
    );
    assert_eq!(
        reverse_dns_type("x.", "HL7MessageReceived"),
        "x.hl7.message.received"
    );
    let types = CeTypes::new().prefix("org.example.healthcare");
    for info in &EVENTS {
        let ce_type = reverse_dns_type("org.example.healthcare", info.event_type);
        assert_eq!(types.resolve(&ce_type, &EVENTS), Some(info.event_type));
    }
    let mut h = conforming_headers("org.example.healthcare.patient.created", "application/avro");
    h.push((headers::EVENT_VERSION.into(), b"1".to_vec()));
    let err = wire::decode::<Ev>(&h, &single_object(0x11, "p")).unwrap_err();
    assert!(matches!(err, WireError::Unknown(_)), "no mapping: {err}");
    let (env, _) = wire::decode_with::<Ev>(&h, &single_object(0x11, "p"), &types).unwrap();
    assert_eq!(env.event_type, "PatientCreated");
}

#[test]
fn bad_optional_attributes_are_errors_not_defaults() {
    for (name, value) in [
        ("time", json!("yesterday")),
        ("eventversion", json!(0)),
        ("eventversion", json!("two")),
        ("schemafingerprint", json!("xyz")),
        ("subject", json!(7)),
        ("data_base64", json!("***")),
    ] {
        let mut event = minimal_structured();
        event[name] = value;
        if name == "data_base64" {
            event.as_object_mut().unwrap().remove("data");
        }
        let err = Envelope::from_cloudevent(&event).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::BadHeader { name: n, .. } if n == name),
            "{name}: {err}"
        );
    }
    let mut h = conforming_headers("PatientCreated", "application/json");
    h.push((headers::EVENT_VERSION.into(), b"0".to_vec()));
    assert!(matches!(
        EnvelopeRef::from_headers(&h),
        Err(EnvelopeError::BadHeader {
            name: headers::EVENT_VERSION,
            ..
        })
    ));
}
