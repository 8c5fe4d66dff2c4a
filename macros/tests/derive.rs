//! A hand-written struct in, the same DomainEvent, schema and codecs as a generated event out — checked against apache-avro.

use carebus::{Date, DomainEvent, Phi, Timestamp, Uuid};
use carebus_macros::DomainEvent;
use std::collections::BTreeMap;

/// A clinician wrote a note about a patient.
#[derive(Clone, Debug, PartialEq, DomainEvent, serde::Serialize, serde::Deserialize)]
#[carebus(
    namespace = "healthcare.notes",
    version = 2,
    aggregate_type = "Patient",
    aggregate_id = "patient_id",
    topic = "healthcare.notes.events",
    compatibility = "FULL"
)]
struct NoteAdded {
    /// The patient the note is about.
    #[serde(rename = "patientId")]
    patient_id: String,
    #[serde(rename = "noteId")]
    note_id: Uuid,
    #[carebus(classification = "phi", examples = r#"["Feels better today."]"#)]
    text: Phi<String>,
    #[serde(rename = "writtenOn")]
    written_on: Date,
    #[serde(rename = "writtenAt")]
    written_at: Timestamp,
    #[carebus(classification = "phi")]
    tags: Option<Phi<String>>,
    score: f64,
    urgent: bool,
    revisions: i32,
    #[serde(rename = "seenBy")]
    seen_by: Vec<String>,
    counters: BTreeMap<String, i64>,
    attachment: Vec<u8>,
}

fn sample() -> NoteAdded {
    NoteAdded {
        patient_id: "patient-123".into(),
        note_id: Uuid::from_u128(0x550e8400_e29b_41d4_a716_446655440000),
        text: Phi::new("Feels better today.".into()),
        written_on: Date::from_ymd(2024, 11, 24).unwrap(),
        written_at: Timestamp::parse_rfc3339("2024-11-24T10:30:00Z").unwrap(),
        tags: None,
        score: 0.75,
        urgent: true,
        revisions: -3,
        seen_by: vec!["dr-rivera".into(), "nurse-ana".into()],
        counters: BTreeMap::from([("views".into(), 12)]),
        attachment: vec![0, 1, 255],
    }
}

#[test]
fn derived_constants_describe_the_event() {
    assert_eq!(NoteAdded::EVENT_TYPE, "NoteAdded");
    assert_eq!(NoteAdded::EVENT_VERSION, 2);
    assert_eq!(NoteAdded::AGGREGATE_TYPE, "Patient");
    assert_eq!(NoteAdded::TOPIC, "healthcare.notes.events");
    assert!(NoteAdded::PHI_FIELDS.contains(&"text") && NoteAdded::PHI_FIELDS.contains(&"tags"));
    assert_eq!(sample().aggregate_id(), "patient-123");
    let schema: serde_json::Value = serde_json::from_str(NoteAdded::SCHEMA).unwrap();
    assert_eq!(schema["name"], "NoteAdded");
    assert_eq!(schema["namespace"], "healthcare.notes");
    assert_eq!(schema["doc"], "A clinician wrote a note about a patient.");
    assert_eq!(schema["fields"][0]["name"], "patientId");
    assert_eq!(schema["fields"][0]["doc"], "The patient the note is about.");
}

#[test]
fn derived_codec_matches_apache_avro_byte_for_byte() {
    let schema =
        apache_avro::Schema::parse_str(NoteAdded::SCHEMA).expect("derived schema is valid Avro");
    #[allow(deprecated)] // the documented serde path of apache-avro, kept as the reference
    let to_datum = apache_avro::to_avro_datum;
    for event in [
        sample(),
        NoteAdded {
            tags: Some(Phi::new("follow-up".into())),
            seen_by: vec![],
            counters: BTreeMap::new(),
            ..sample()
        },
    ] {
        let mut ours = Vec::new();
        event.encode_payload(&mut ours);
        let value = apache_avro::to_value(&event)
            .unwrap()
            .resolve(&schema)
            .unwrap();
        let theirs = to_datum(&schema, value).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(NoteAdded::decode_payload(&ours).unwrap(), event);
        assert_eq!(NoteAdded::from_json(&event.to_json()).unwrap(), event);
    }
}

#[test]
fn derived_fingerprint_is_the_rabin_of_the_canonical_form() {
    let model =
        carebus_codegen::load::load_avro_sources(&[("note.avsc", NoteAdded::SCHEMA)]).unwrap();
    assert_eq!(
        model.events[0].fingerprint,
        NoteAdded::FINGERPRINT,
        "the loader reading the derived schema agrees"
    );
}

#[test]
fn phi_is_redacted_in_debug() {
    let text = format!("{:?}", sample());
    assert!(!text.contains("Feels better"), "{text}");
    assert!(text.contains("[PHI redacted]"));
}

#[test]
fn bad_attributes_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
