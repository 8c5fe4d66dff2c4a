//! The AI service's Protobuf events in, prost bytes out and back: domain ↔ wire round trips, unknown enum numbers kept, missing required messages reported.

use carebus_core::{DecodeError, DomainEvent, Phi};
use carebus_schemas::wire::healthcare::ai as wire;
use carebus_schemas::{
    AnalysisCompleted, AnalysisKind, Finding, FindingCode, FindingSeverity, InputReference,
};
use prost::Message;

#[allow(deprecated)] // fills result_text, which the schema deprecates, to cover it on the wire
fn completed() -> AnalysisCompleted {
    AnalysisCompleted {
        analysis_id: "3c1f9a52-8d7e-4b0a-9f61-2e4d5c6b7a80".into(),
        patient_id: "patient-123".into(),
        kind: AnalysisKind::AnalysisKindLabTrend,
        model_name: "carebus-lab-trend".into(),
        model_version: "2024.11.2".into(),
        confidence: 0.91,
        findings: Phi::new(vec![Finding {
            code: Phi::new(FindingCode {
                system: "http://snomed.info/sct".into(),
                code: "38341003".into(),
                display: Some("Hypertensive disorder".into()),
            }),
            description: Phi::new("HbA1c rising over the last three results".into()),
            confidence: 0.87,
            severity: FindingSeverity::FindingSeverityHigh,
            evidence: vec![InputReference {
                r#type: "LabResultReceived".into(),
                id: "0b7c6a1e-52a4-4a8e-9a9e-3f5f8d2c1b44".into(),
            }],
        }]),
        summary: None,
        duration_ms: 1200,
        completed_at_micros: 1_732_444_200_000_000,
        result_text: Phi::new("Diabetes control is worsening.".into()),
    }
}

#[test]
fn event_round_trips_through_protobuf_bytes() {
    let event = completed();
    let mut bytes = Vec::new();
    event.encode_payload(&mut bytes);
    assert_eq!(AnalysisCompleted::decode_payload(&bytes).unwrap(), event);

    // The bytes are plain Protobuf: prost reads them as the wire struct.
    let w = wire::AnalysisCompleted::decode(bytes.as_slice()).unwrap();
    assert_eq!(w.kind, wire::AnalysisKind::LabTrend as i32);
    assert_eq!(w.findings[0].code.as_ref().unwrap().code, "38341003");
    assert_eq!(w.duration_ms, 1200);
}

#[test]
fn unknown_enum_numbers_are_kept_not_rejected() {
    let mut w = wire::AnalysisCompleted::from(&completed());
    w.kind = 42;
    w.findings[0].severity = 77;
    let event = AnalysisCompleted::try_from(w).unwrap();
    assert_eq!(event.kind, AnalysisKind::Unknown(42));
    assert_eq!(
        event.findings.expose()[0].severity,
        FindingSeverity::Unknown(77)
    );
    // ... and written back unchanged.
    assert_eq!(wire::AnalysisCompleted::from(&event).kind, 42);
}

#[test]
fn missing_required_message_is_a_missing_field_error() {
    let mut w = wire::AnalysisCompleted::from(&completed());
    w.findings[0].code = None;
    let bytes = w.encode_to_vec();
    let err = AnalysisCompleted::decode_payload(&bytes).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MissingField {
            field: "findings.code".into()
        }
    );
    // The error names the field, never a value (findings are PHI).
    assert!(!err.to_string().contains("38341003"));
}

#[test]
fn garbage_bytes_are_a_decode_error_not_a_panic() {
    for bytes in [&[0xff_u8, 0xff, 0xff][..], &[0x0a, 0x05, b'a'], &[0x08]] {
        assert!(
            AnalysisCompleted::decode_payload(bytes).is_err(),
            "{bytes:?}"
        );
    }
}

#[test]
fn json_form_uses_proto3_lower_camel_case_names() {
    let event = completed();
    let json = event.to_json();
    let obj = json.as_object().unwrap();
    assert!(obj.contains_key("analysisId"), "{json}");
    assert!(
        !obj.keys().any(|k| k.contains('_')),
        "no snake_case member names: {json}"
    );
    assert_eq!(AnalysisCompleted::from_json(&json).unwrap(), event);
}
