//! A hand-written struct in, the same DomainEvent, schema and codecs as a generated event out — checked against apache-avro.

use apache_avro::types::Value;
use carebus_core::{Date, DomainEvent, Phi, Timestamp, Uuid};
use carebus_macros::DomainEvent;
use std::collections::BTreeMap;

/// A clinician wrote a note about a patient.
#[derive(Clone, Debug, PartialEq, DomainEvent)]
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
    patient_id: String,
    note_id: Uuid,
    #[carebus(classification = "phi", examples = r#"["Feels better today."]"#)]
    text: Phi<String>,
    written_on: Date,
    written_at: Timestamp,
    #[carebus(classification = "phi")]
    tags: Option<Phi<String>>,
    score: f64,
    urgent: bool,
    revisions: i32,
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

/// The apache-avro value of a note, built field by field from the struct (the reference for
/// byte parity; no serde involved).
fn avro_value(e: &NoteAdded) -> Value {
    let string = |s: &String| Value::String(s.clone());
    Value::Record(vec![
        ("patientId".into(), string(&e.patient_id)),
        (
            "noteId".into(),
            Value::Uuid(apache_avro::Uuid::from_u128(e.note_id.0.as_u128())),
        ),
        ("text".into(), string(e.text.expose())),
        ("writtenOn".into(), Value::Date(e.written_on.0)),
        ("writtenAt".into(), Value::TimestampMicros(e.written_at.0)),
        (
            "tags".into(),
            match &e.tags {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(t) => Value::Union(1, Box::new(string(t.expose()))),
            },
        ),
        ("score".into(), Value::Double(e.score)),
        ("urgent".into(), Value::Boolean(e.urgent)),
        ("revisions".into(), Value::Int(e.revisions)),
        (
            "seenBy".into(),
            Value::Array(e.seen_by.iter().map(string).collect()),
        ),
        (
            "counters".into(),
            Value::Map(
                e.counters
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::Long(*v)))
                    .collect(),
            ),
        ),
        ("attachment".into(), Value::Bytes(e.attachment.clone())),
    ])
}

#[test]
// to_avro_datum/from_avro_datum: deprecated in apache-avro 0.22 for the GenericDatum builders;
// the calls the parity requirement names.
#[allow(deprecated)]
fn derived_codec_matches_apache_avro_byte_for_byte() {
    let schema =
        apache_avro::Schema::parse_str(NoteAdded::SCHEMA).expect("derived schema is valid Avro");
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
        let reference = avro_value(&event);
        let theirs = apache_avro::to_avro_datum(&schema, reference.clone()).unwrap();
        assert_eq!(ours, theirs);
        let read = apache_avro::from_avro_datum(&schema, &mut &ours[..], None).unwrap();
        assert_eq!(
            read, reference,
            "apache-avro reads the derived bytes as the same value"
        );
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

/// A pump reported its clocks: every time-of-day and local-timestamp type a derived event takes.
#[derive(Clone, Debug, PartialEq, DomainEvent)]
#[carebus(
    namespace = "healthcare.devices",
    aggregate_type = "Device",
    aggregate_id = "device_id",
    topic = "healthcare.devices.events"
)]
struct PumpClockReported {
    device_id: String,
    dose_time: carebus_core::TimeMillis,
    pulse_time: carebus_core::TimeMicros,
    taken_at: carebus_core::TimestampNanos,
    ward_clock: carebus_core::LocalTimestampMillis,
    ward_clock_micros: Option<carebus_core::LocalTimestampMicros>,
    ward_clock_nanos: Vec<carebus_core::LocalTimestampNanos>,
}

#[test]
#[allow(deprecated)] // to_avro_datum/from_avro_datum: the calls the parity requirement names
fn derived_time_of_day_and_local_timestamps_match_apache_avro() {
    use carebus_core::{
        LocalTimestampMicros, LocalTimestampMillis, LocalTimestampNanos, TimeMicros, TimeMillis,
        TimestampNanos,
    };
    let schema = apache_avro::Schema::parse_str(PumpClockReported::SCHEMA)
        .expect("derived schema is valid Avro");
    let event = PumpClockReported {
        device_id: "pump-7".into(),
        dose_time: TimeMillis(37_805_120),
        pulse_time: TimeMicros(86_399_999_999),
        taken_at: TimestampNanos(1_732_444_200_123_456_789),
        ward_clock: LocalTimestampMillis(1_732_444_200_123),
        ward_clock_micros: Some(LocalTimestampMicros(-1)),
        ward_clock_nanos: vec![LocalTimestampNanos(5)],
    };
    let reference = Value::Record(vec![
        ("deviceId".into(), Value::String("pump-7".into())),
        ("doseTime".into(), Value::TimeMillis(37_805_120)),
        ("pulseTime".into(), Value::TimeMicros(86_399_999_999)),
        (
            "takenAt".into(),
            Value::TimestampNanos(1_732_444_200_123_456_789),
        ),
        (
            "wardClock".into(),
            Value::LocalTimestampMillis(1_732_444_200_123),
        ),
        (
            "wardClockMicros".into(),
            Value::Union(1, Box::new(Value::LocalTimestampMicros(-1))),
        ),
        (
            "wardClockNanos".into(),
            Value::Array(vec![Value::LocalTimestampNanos(5)]),
        ),
    ]);
    let mut ours = Vec::new();
    event.encode_payload(&mut ours);
    assert_eq!(
        ours,
        apache_avro::to_avro_datum(&schema, reference.clone()).unwrap()
    );
    assert_eq!(
        apache_avro::from_avro_datum(&schema, &mut &ours[..], None).unwrap(),
        reference
    );
    assert_eq!(PumpClockReported::decode_payload(&ours).unwrap(), event);
    assert_eq!(
        PumpClockReported::from_json(&event.to_json()).unwrap(),
        event
    );
}
