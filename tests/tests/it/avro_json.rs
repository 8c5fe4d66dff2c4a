//! carebus's JSON form checked against Avro's JSON encoding as fastavro (an independent implementation) reads and writes it, for every Avro event of the registry; and records and values in carebus's older JSON form read through the upcast.

use crate::kafka_every_event::example;
use carebus::transport::Record;
use carebus::wire::{self, Framing, JsonForm};
use carebus::{DomainEvent, PublishOptions, Publisher, PublisherConfig};
use carebus_codegen::ir::Model;
use carebus_schemas::*;
use serde_json::Value;

/// One value for fastavro: its schema, carebus's JSON text and binary datum of it.
pub(crate) struct Case {
    pub name: String,
    pub schema: &'static str,
    pub json: String,
    pub avro: Vec<u8>,
}

impl Case {
    pub(crate) fn of<E: DomainEvent>(name: impl Into<String>, event: &E) -> Case {
        let mut avro = Vec::new();
        event.encode_payload(&mut avro);
        Case {
            name: name.into(),
            schema: E::SCHEMA,
            json: event.to_json().to_string(),
            avro,
        }
    }
}

/// What fastavro made of one [`Case`] (`tests/python/avro_json.py`).
pub(crate) struct Verdict {
    /// fastavro's `json_reader` value of carebus's JSON equals its `schemaless_reader` value of
    /// carebus's binary datum.
    pub equal: bool,
    /// fastavro's values when they differ.
    pub detail: String,
    /// fastavro's `json_writer` text of the value it read from the binary datum.
    pub fastavro_json: String,
    /// fastavro's `schemaless_writer` bytes of that same value: the datum its JSON stands for
    /// (fastavro picks a union's branch from the Python value: a `float` branch's value may be
    /// written as `double`, alike in both writers).
    pub fastavro_json_binary: Vec<u8>,
    /// fastavro's `schemaless_writer` bytes of the value it read from carebus's JSON.
    pub reencoded: Vec<u8>,
}

/// Run fastavro over `cases`, one verdict per case in order.
pub(crate) fn fastavro(cases: &[Case]) -> Vec<Verdict> {
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "schema": c.schema,
                "json": c.json,
                "avro_hex": hex(&c.avro),
            })
            .to_string()
        })
        .collect();
    let dir = std::env::temp_dir().join(carebus_tests::unique_name("avro-json"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cases.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("write cases");
    let out = carebus_tests::run_python("avro_json.py", &[path.to_str().expect("UTF-8 path")]);
    let verdicts: Vec<Verdict> = out
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("the script prints JSON lines");
            Verdict {
                equal: v["equal"].as_bool().expect("equal"),
                detail: format!("json: {}\nbinary: {}", v["json_value"], v["binary_value"]),
                fastavro_json: v["fastavro_json"]
                    .as_str()
                    .expect("fastavro_json")
                    .to_owned(),
                fastavro_json_binary: unhex(
                    v["fastavro_json_binary_hex"]
                        .as_str()
                        .expect("fastavro_json_binary_hex"),
                ),
                reencoded: unhex(v["reencoded_hex"].as_str().expect("reencoded_hex")),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "one verdict per case");
    verdicts
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn payload<E: DomainEvent>(event: &E) -> Vec<u8> {
    let mut out = Vec::new();
    event.encode_payload(&mut out);
    out
}

/// fastavro agrees with carebus on one value: it reads carebus's JSON as the value of carebus's
/// binary datum; carebus reads fastavro's JSON of that value as the datum fastavro's binary
/// writer writes for it (for events without ambiguous unions: carebus's own datum); and
/// fastavro's binary of the value it read from carebus's JSON decodes to the same value.
pub(crate) fn assert_agrees<E: DomainEvent>(name: &str, verdict: &Verdict) {
    assert!(
        verdict.equal,
        "{name}: fastavro reads carebus's JSON as another value than its binary\n{}",
        verdict.detail
    );
    let theirs: Value = serde_json::from_str(&verdict.fastavro_json)
        .unwrap_or_else(|e| panic!("{name}: fastavro's JSON does not parse: {e}"));
    let read = E::from_json(&theirs)
        .unwrap_or_else(|e| panic!("{name}: carebus cannot read fastavro's JSON: {e}\n{theirs}"));
    // Compared as carebus writes them: fastavro writes a decimal's bytes at the value's own
    // width, carebus at its precision's.
    assert_eq!(
        payload(&read),
        payload(&fastavro_datum::<E>(name, &verdict.fastavro_json_binary)),
        "{name}: carebus reads fastavro's JSON as another datum than fastavro's binary of it"
    );
    let decoded: E = fastavro_datum(name, &verdict.reencoded);
    assert_eq!(
        decoded.to_json(),
        read.to_json(),
        "{name}: fastavro re-encodes carebus's JSON as another value than it writes as JSON"
    );
}

/// A datum fastavro wrote, decoded by carebus.
fn fastavro_datum<E: DomainEvent>(name: &str, bytes: &[u8]) -> E {
    E::decode_payload(bytes)
        .unwrap_or_else(|e| panic!("{name}: carebus cannot decode fastavro's binary: {e}"))
}

/// [`assert_agrees`], and fastavro's datums are carebus's own: no union branch was guessed.
pub(crate) fn assert_same_datum<E: DomainEvent>(name: &str, event: &E, verdict: &Verdict) {
    assert_agrees::<E>(name, verdict);
    for (what, bytes) in [
        ("fastavro's JSON stands for", &verdict.fastavro_json_binary),
        ("fastavro re-encodes carebus's JSON as", &verdict.reencoded),
    ] {
        assert_eq!(
            payload(&fastavro_datum::<E>(name, bytes)),
            payload(event),
            "{name}: {what} another datum"
        );
    }
}

macro_rules! every_avro_event {
    ($model:expr, $cases:expr, $checks:expr; $($event:ty),* $(,)?) => {$(
        let event: $event = example($model);
        let name = format!("{} v{}", <$event>::EVENT_TYPE, <$event>::EVENT_VERSION);
        $cases.push(Case::of(name.clone(), &event));
        $checks.push((name.clone(), Box::new(move |v: &Verdict| assert_same_datum(&name, &event, v))));
    )*};
}

type Check = Box<dyn Fn(&Verdict)>;

#[test]
fn fastavro_reads_every_events_json_and_carebus_reads_fastavros() {
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let mut cases = Vec::new();
    let mut checks: Vec<(String, Check)> = Vec::new();
    every_avro_event!(&model, cases, checks;
        PatientCreated, PatientCreatedV1, PatientUpdated, PatientMerged, PatientDeactivated,
        AppointmentScheduled, AppointmentConfirmed, AppointmentCancelled, AppointmentCompleted,
        VitalSignsRecorded, DiagnosisAdded, PrescriptionCreated, LabResultReceived,
        JourneyStarted, StageCompleted, JourneyCompleted, ActionTriggered,
    );
    // Every Avro event of the registry is here (the Protobuf ones have their own JSON form).
    for info in carebus_schemas::EVENTS
        .iter()
        .filter(|i| i.format == carebus::PayloadFormat::Avro)
    {
        let name = format!("{} v{}", info.event_type, info.version);
        assert!(
            checks.iter().any(|(n, _)| *n == name),
            "{name} is not checked here"
        );
    }
    let verdicts = fastavro(&cases);
    for ((_, check), verdict) in checks.iter().zip(&verdicts) {
        check(verdict);
    }
}

/// A JSON-framed record of `event` as carebus writes it, with `data` as its value.
fn json_record<E: DomainEvent>(event: &E, data: &Value) -> Record {
    let publisher = Publisher::new(
        carebus::bus::Bus::default(),
        PublisherConfig {
            framing: Framing::Json,
            ..PublisherConfig::default()
        },
    )
    .expect("publisher");
    let mut record = publisher
        .prepare(event, PublishOptions::default())
        .expect("valid event")
        .into_record();
    record.value = Some(serde_json::to_vec(data).expect("JSON"));
    record
}

#[test]
fn json_records_say_their_form_and_old_carebus_records_read_through_the_upcast() {
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let event: PatientCreated = example(&model);
    let avro_json = event.to_json();
    let mut record = json_record(&event, &avro_json);
    assert_eq!(
        carebus::transport::header_str(&record.headers, carebus::envelope::headers::JSON_FORM),
        Some("avro"),
        "carebus marks the form it writes"
    );
    let (_, read) =
        wire::decode::<PatientsEvent>(&record.headers, record.payload()).expect("Avro JSON");
    assert_eq!(read, PatientsEvent::PatientCreated(event.clone()));

    // The same record as carebus wrote it before Avro JSON: no header, the old form.
    let ir = model
        .events
        .iter()
        .find(|e| e.name == "PatientCreated" && e.version == PatientCreated::EVENT_VERSION)
        .expect("PatientCreated in the IR");
    let legacy = carebus_catalog::example::example_as_written(&model, ir);
    assert_ne!(
        legacy, avro_json,
        "the example has fields whose form changed"
    );
    record
        .headers
        .retain(|(n, _)| n != carebus::envelope::headers::JSON_FORM);
    record.value = Some(serde_json::to_vec(&legacy).expect("JSON"));
    assert_eq!(
        JsonForm::of_headers(&record.headers, true),
        JsonForm::Legacy
    );
    let (_, read) =
        wire::decode::<PatientsEvent>(&record.headers, record.payload()).expect("the old form");
    assert_eq!(read, PatientsEvent::PatientCreated(event.clone()));

    // Marked Avro JSON, the old form is an error naming a field (never a silent misreading).
    record.headers.push((
        carebus::envelope::headers::JSON_FORM.into(),
        b"avro".to_vec(),
    ));
    let err = wire::decode::<PatientsEvent>(&record.headers, record.payload()).unwrap_err();
    assert_eq!(err.reason(), "undecodable-payload", "{err}");

    // Another producer's record (no carebus extensions, no header) is Avro JSON.
    let mut foreign = json_record(&event, &avro_json);
    foreign.headers.retain(|(n, _)| {
        n != carebus::envelope::headers::JSON_FORM
            && n != carebus::envelope::headers::AGGREGATE_TYPE
    });
    let (_, read) =
        wire::decode::<PatientsEvent>(&foreign.headers, foreign.payload()).expect("foreign");
    assert_eq!(read, PatientsEvent::PatientCreated(event));
}
