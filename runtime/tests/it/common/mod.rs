//! Hand-written test events (a ward topic with two event types, one in two versions) implementing the traits generated code implements.
#![allow(dead_code)]

use carebus::avro::Reader;
use carebus::{
    AvroCodec, DecodeError, DomainEvent, EventInfo, JsonCodec, PayloadFormat, Phi, TopicEvents,
    ValidationError,
};
use serde_json::{Value, json};

pub const TOPIC: &str = "healthcare.wards.events";

/// A patient admitted to a ward (v2: with notes, which are PHI).
#[derive(Clone, Debug, PartialEq)]
pub struct PatientAdmitted {
    pub patient_id: String,
    pub ward: String,
    pub notes: Phi<String>,
}

/// v1 of PatientAdmitted: no notes.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientAdmittedV1 {
    pub patient_id: String,
    pub ward: String,
}

/// A patient discharged.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientDischarged {
    pub patient_id: String,
    pub sequence: i64,
}

impl PatientAdmitted {
    pub fn new(patient_id: &str, ward: &str) -> Self {
        PatientAdmitted {
            patient_id: patient_id.into(),
            ward: ward.into(),
            notes: Phi::new("Jane Doe has a broken arm".into()),
        }
    }
}

impl PatientDischarged {
    pub fn new(patient_id: &str, sequence: i64) -> Self {
        PatientDischarged {
            patient_id: patient_id.into(),
            sequence,
        }
    }
}

fn field<'v>(v: &'v Value, name: &str) -> Result<&'v Value, DecodeError> {
    carebus::event::json_field(carebus::event::json_object(v, "")?, name, "")
}

impl DomainEvent for PatientAdmitted {
    const EVENT_TYPE: &'static str = "PatientAdmitted";
    const EVENT_VERSION: u32 = 2;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const TOPIC: &'static str = TOPIC;
    const SCHEMA: &'static str = r#"{"type":"record","name":"PatientAdmitted","fields":[{"name":"patientId","type":"string"},{"name":"ward","type":"string"},{"name":"notes","type":"string"}]}"#;
    const FINGERPRINT: u64 = 0x1111_2222_3333_4444;
    const FORMAT: PayloadFormat = PayloadFormat::Avro;
    const PHI_FIELDS: &'static [&'static str] = &["notes"];

    fn aggregate_id(&self) -> String {
        self.patient_id.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        self.patient_id.encode_avro(out);
        self.ward.encode_avro(out);
        self.notes.encode_avro(out);
    }
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = PatientAdmitted {
            patient_id: String::decode_avro(&mut r)?,
            ward: String::decode_avro(&mut r)?,
            notes: Phi::decode_avro(&mut r)?,
        };
        r.finish()?;
        Ok(v)
    }
    fn to_json(&self) -> Value {
        json!({"patientId": self.patient_id, "ward": self.ward, "notes": self.notes.to_json()})
    }
    fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(PatientAdmitted {
            patient_id: String::from_json(field(v, "patientId")?, "patientId")?,
            ward: String::from_json(field(v, "ward")?, "ward")?,
            notes: Phi::from_json(field(v, "notes")?, "notes")?,
        })
    }
    fn validate(&self) -> Result<(), ValidationError> {
        if self.patient_id.is_empty() {
            return Err(ValidationError {
                event_type: Self::EVENT_TYPE,
                field: "patientId".into(),
                rule: "must not be empty".into(),
            });
        }
        if self.ward.len() > 16 {
            return Err(ValidationError {
                event_type: Self::EVENT_TYPE,
                field: "ward".into(),
                rule: "must be at most 16 characters".into(),
            });
        }
        Ok(())
    }
}

impl DomainEvent for PatientAdmittedV1 {
    const EVENT_TYPE: &'static str = "PatientAdmitted";
    const EVENT_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const TOPIC: &'static str = TOPIC;
    const SCHEMA: &'static str = r#"{"type":"record","name":"PatientAdmitted","fields":[{"name":"patientId","type":"string"},{"name":"ward","type":"string"}]}"#;
    const FINGERPRINT: u64 = 0x1111_2222_3333_0001;
    const FORMAT: PayloadFormat = PayloadFormat::Avro;
    const PHI_FIELDS: &'static [&'static str] = &[];

    fn aggregate_id(&self) -> String {
        self.patient_id.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        self.patient_id.encode_avro(out);
        self.ward.encode_avro(out);
    }
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = PatientAdmittedV1 {
            patient_id: String::decode_avro(&mut r)?,
            ward: String::decode_avro(&mut r)?,
        };
        r.finish()?;
        Ok(v)
    }
    fn to_json(&self) -> Value {
        json!({"patientId": self.patient_id, "ward": self.ward})
    }
    fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(PatientAdmittedV1 {
            patient_id: String::from_json(field(v, "patientId")?, "patientId")?,
            ward: String::from_json(field(v, "ward")?, "ward")?,
        })
    }
}

impl DomainEvent for PatientDischarged {
    const EVENT_TYPE: &'static str = "PatientDischarged";
    const EVENT_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const TOPIC: &'static str = TOPIC;
    const SCHEMA: &'static str = r#"{"type":"record","name":"PatientDischarged","fields":[{"name":"patientId","type":"string"},{"name":"sequence","type":"long"}]}"#;
    const FINGERPRINT: u64 = 0x5555_6666_7777_8888;
    const FORMAT: PayloadFormat = PayloadFormat::Avro;
    const PHI_FIELDS: &'static [&'static str] = &[];

    fn aggregate_id(&self) -> String {
        self.patient_id.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        self.patient_id.encode_avro(out);
        self.sequence.encode_avro(out);
    }
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = PatientDischarged {
            patient_id: String::decode_avro(&mut r)?,
            sequence: i64::decode_avro(&mut r)?,
        };
        r.finish()?;
        Ok(v)
    }
    fn to_json(&self) -> Value {
        json!({"patientId": self.patient_id, "sequence": self.sequence})
    }
    fn from_json(v: &Value) -> Result<Self, DecodeError> {
        Ok(PatientDischarged {
            patient_id: String::from_json(field(v, "patientId")?, "patientId")?,
            sequence: i64::from_json(field(v, "sequence")?, "sequence")?,
        })
    }
}

/// The topic's event enum, as the generator emits it.
#[derive(Clone, Debug, PartialEq)]
pub enum WardsEvent {
    PatientAdmitted(PatientAdmitted),
    PatientAdmittedV1(PatientAdmittedV1),
    PatientDischarged(PatientDischarged),
}

const fn info<E: DomainEvent>() -> EventInfo {
    EventInfo {
        event_type: E::EVENT_TYPE,
        version: E::EVENT_VERSION,
        aggregate_type: E::AGGREGATE_TYPE,
        topic: E::TOPIC,
        fingerprint: E::FINGERPRINT,
        format: E::FORMAT,
        schema: E::SCHEMA,
        phi_fields: E::PHI_FIELDS,
    }
}

pub static WARDS_EVENTS: [EventInfo; 3] = [
    info::<PatientAdmitted>(),
    info::<PatientAdmittedV1>(),
    info::<PatientDischarged>(),
];

fn unknown_event(_events: &[EventInfo], event_type: &str, version: u32) -> DecodeError {
    DecodeError::UnknownEvent {
        event_type: event_type.to_string(),
        version,
        known: "PatientAdmitted v1, v2; PatientDischarged v1".into(),
    }
}

impl TopicEvents for WardsEvent {
    const TOPIC: &'static str = TOPIC;
    const EVENTS: &'static [EventInfo] = &WARDS_EVENTS;

    fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (event_type, version) {
            ("PatientAdmitted", 2) => {
                PatientAdmitted::decode_payload(payload).map(Self::PatientAdmitted)
            }
            ("PatientAdmitted", 1) => {
                PatientAdmittedV1::decode_payload(payload).map(Self::PatientAdmittedV1)
            }
            ("PatientDischarged", 1) => {
                PatientDischarged::decode_payload(payload).map(Self::PatientDischarged)
            }
            _ => Err(unknown_event(Self::EVENTS, event_type, version)),
        }
    }
    fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> Result<Self, DecodeError> {
        match fingerprint {
            PatientAdmitted::FINGERPRINT => {
                PatientAdmitted::decode_payload(payload).map(Self::PatientAdmitted)
            }
            PatientAdmittedV1::FINGERPRINT => {
                PatientAdmittedV1::decode_payload(payload).map(Self::PatientAdmittedV1)
            }
            PatientDischarged::FINGERPRINT => {
                PatientDischarged::decode_payload(payload).map(Self::PatientDischarged)
            }
            _ => Err(DecodeError::UnknownFingerprint { fingerprint }),
        }
    }
    fn decode_json(event_type: &str, version: u32, data: &Value) -> Result<Self, DecodeError> {
        match (event_type, version) {
            ("PatientAdmitted", 2) => PatientAdmitted::from_json(data).map(Self::PatientAdmitted),
            ("PatientAdmitted", 1) => {
                PatientAdmittedV1::from_json(data).map(Self::PatientAdmittedV1)
            }
            ("PatientDischarged", 1) => {
                PatientDischarged::from_json(data).map(Self::PatientDischarged)
            }
            _ => Err(unknown_event(Self::EVENTS, event_type, version)),
        }
    }
    fn info(&self) -> &'static EventInfo {
        match self {
            Self::PatientAdmitted(_) => &WARDS_EVENTS[0],
            Self::PatientAdmittedV1(_) => &WARDS_EVENTS[1],
            Self::PatientDischarged(_) => &WARDS_EVENTS[2],
        }
    }
    fn aggregate_id(&self) -> String {
        match self {
            Self::PatientAdmitted(e) => e.aggregate_id(),
            Self::PatientAdmittedV1(e) => e.aggregate_id(),
            Self::PatientDischarged(e) => e.aggregate_id(),
        }
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Self::PatientAdmitted(e) => e.encode_payload(out),
            Self::PatientAdmittedV1(e) => e.encode_payload(out),
            Self::PatientDischarged(e) => e.encode_payload(out),
        }
    }
    fn to_json(&self) -> Value {
        match self {
            Self::PatientAdmitted(e) => e.to_json(),
            Self::PatientAdmittedV1(e) => e.to_json(),
            Self::PatientDischarged(e) => e.to_json(),
        }
    }
}
/// Run one `#[ignore]`d test of this binary alone in a child process (for tests that install
/// process-wide state, such as the metrics recorder) and fail with its output if it fails.
pub fn in_own_process(test: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

pub mod handlers;
pub mod scenarios;
