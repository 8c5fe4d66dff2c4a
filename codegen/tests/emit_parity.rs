//! The generated code of the fixture schemas (`tests/fixtures/emit/generated.rs`) compiled and run: Avro bytes identical to apache-avro's, decoding back, the JSON form, validation and PHI redaction.

#[allow(dead_code)]
mod generated {
    include!("fixtures/emit/generated.rs");
}

use apache_avro::Schema;
use carebus::{Date, Decimal, DecodeError, DomainEvent, Phi, Timestamp, Uuid};
use generated::*;
use std::collections::BTreeMap;

fn visit(i: u32) -> VisitRecorded {
    // At most one entry: apache-avro writes map entries in HashMap order, so byte parity for
    // larger maps is not defined (both orders are valid Avro).
    let mut labels = BTreeMap::new();
    if i % 2 == 0 {
        labels.insert("ward".to_string(), format!("B{i}"));
    }
    VisitRecorded {
        visit_id: Uuid::from_u128(0x5500_0000_0000_4000_8000_0000_0000_0000 + i as u128),
        patient_name: Phi::new(format!("Jane Doe {i}")),
        heart_rate: 60 + i as i64 * 7 - 200,
        severity: Severity::ALL[i as usize % 3],
        codes: (0..i % 3)
            .map(|k| Coding {
                system: "http://loinc.org".into(),
                code: format!("8867-{k}"),
                display: (k % 2 == 0).then(|| "Heart rate".to_string()),
            })
            .collect(),
        charge: Decimal::new(if i % 2 == 0 { 1250 } else { -99_999_999 }),
        discount: (i % 3 != 0).then(|| Decimal::new(-(i as i128) * 5)),
        measured_at: Timestamp(1_732_443_000_000_000 + i as i64),
        birth_date: (i % 2 == 1).then(|| Phi::new(Date::from_ymd(1990, 1, 1 + i % 20).unwrap())),
        labels,
        reading: match i % 3 {
            0 => VisitRecordedReading::Null,
            1 => VisitRecordedReading::Double(98.6 + i as f64),
            _ => VisitRecordedReading::String("trace".into()),
        },
        r#type: "outpatient".into(),
        weight_kg: (i % 4 != 0).then_some(70.5 + i as f32),
    }
}

/// apache-avro's bytes for the same value, through its serde path.
#[allow(deprecated)] // the serde path the parity requirement names
fn apache_bytes<T: serde::Serialize>(schema: &Schema, v: &T) -> Vec<u8> {
    let value = apache_avro::to_value(v).unwrap().resolve(schema).unwrap();
    apache_avro::to_avro_datum(schema, value).unwrap()
}

#[test]
#[allow(deprecated)]
fn avro_bytes_are_identical_to_apache_avro_and_decode_back() {
    let schema = Schema::parse_str(VisitRecorded::SCHEMA).unwrap();
    for i in 0..12 {
        let v = visit(i);
        let mut ours = Vec::new();
        v.encode_payload(&mut ours);
        assert_eq!(ours, apache_bytes(&schema, &v), "value {i}");
        assert_eq!(VisitRecorded::decode_payload(&ours).unwrap(), v, "value {i}");
        // apache-avro reads our bytes with the same schema.
        let read = apache_avro::from_avro_datum(&schema, &mut &ours[..], None).unwrap();
        assert!(read.validate(&schema), "value {i}");
    }
}

#[test]
fn older_version_bytes_match_too() {
    let schema = Schema::parse_str(VisitRecordedV1::SCHEMA).unwrap();
    for notes in [None, Some(Phi::new("chest pain".to_string()))] {
        let v = VisitRecordedV1 {
            visit_id: Uuid::from_u128(7),
            patient_name: Phi::new("John".into()),
            heart_rate: i32::MIN,
            notes,
        };
        let mut ours = Vec::new();
        v.encode_payload(&mut ours);
        assert_eq!(ours, apache_bytes(&schema, &v));
        assert_eq!(VisitRecordedV1::decode_payload(&ours).unwrap(), v);
    }
}

#[test]
fn schema_constant_is_the_loaders_self_contained_schema_and_parses() {
    for (schema, fp) in [
        (VisitRecorded::SCHEMA, VisitRecorded::FINGERPRINT),
        (VisitRecordedV1::SCHEMA, VisitRecordedV1::FINGERPRINT),
        (InvoicePaid::SCHEMA, InvoicePaid::FINGERPRINT),
        (InvoicePaidV1::SCHEMA, InvoicePaidV1::FINGERPRINT),
    ] {
        assert!(Schema::parse_str(schema).is_ok(), "{schema}");
        assert_ne!(fp, 0);
    }
    let mut bigger = BTreeMap::new();
    bigger.insert("a".to_string(), "1".to_string());
    bigger.insert("b".to_string(), "2".to_string());
    let v = VisitRecorded { labels: bigger, ..visit(0) };
    let mut bytes = Vec::new();
    v.encode_payload(&mut bytes);
    assert_eq!(VisitRecorded::decode_payload(&bytes).unwrap(), v);
}

#[test]
fn trailing_and_truncated_payloads_are_errors() {
    let mut bytes = Vec::new();
    visit(1).encode_payload(&mut bytes);
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        VisitRecorded::decode_payload(&longer),
        Err(DecodeError::TrailingBytes { remaining: 1 })
    ));
    for cut in 0..bytes.len() {
        assert!(VisitRecorded::decode_payload(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn json_form_uses_schema_names_iso_dates_and_scaled_decimals() {
    let v = visit(1);
    let json = v.to_json();
    assert_eq!(json["visitId"], "55000000-0000-4000-8000-000000000001");
    assert_eq!(json["patientName"], "Jane Doe 1");
    assert_eq!(json["charge"], "-999999.99");
    assert_eq!(json["discount"], "-0.05");
    assert_eq!(json["birthDate"], "1990-01-02");
    assert_eq!(json["severity"], "HIGH");
    assert_eq!(json["type"], "outpatient");
    assert_eq!(json["measuredAt"], "2024-11-24T10:10:00.000001Z");
    assert_eq!(json["reading"], 99.6);
    for i in 0..12 {
        let v = visit(i);
        assert_eq!(VisitRecorded::from_json(&v.to_json()).unwrap(), v, "value {i}");
    }
    // Optional members may be absent; required ones may not, and the error names the path.
    let mut obj = visit(3).to_json();
    obj.as_object_mut().unwrap().remove("discount");
    assert_eq!(VisitRecorded::from_json(&obj).unwrap().discount, None);
    obj.as_object_mut().unwrap().remove("charge");
    assert_eq!(
        VisitRecorded::from_json(&obj).unwrap_err(),
        DecodeError::MissingField { field: "charge".into() }
    );
    let mut obj = visit(5).to_json();
    obj["codes"][1]["code"] = serde_json::json!(5);
    let err = VisitRecorded::from_json(&obj).unwrap_err();
    assert!(err.to_string().contains("codes[1].code"), "{err}");
}

#[test]
fn validation_checks_decimal_precision_and_the_aggregate_id() {
    let mut v = visit(2);
    assert_eq!(v.validate(), Ok(()));
    v.charge = Decimal::new(12_345_678_901); // 11 digits, precision 10
    let err = v.validate().unwrap_err();
    assert_eq!(err.field, "charge");
    assert!(!err.to_string().contains("12345678901"), "{err}");
    let paid = InvoicePaid { invoice_id: String::new(), amount_cents: 1, payer: "x".into() };
    assert_eq!(paid.validate().unwrap_err().field, "invoiceId");
}

#[test]
fn phi_is_listed_and_redacted() {
    assert_eq!(VisitRecorded::PHI_FIELDS, &["patientName", "birthDate"]);
    let debug = format!("{:?}", visit(1));
    assert!(!debug.contains("Jane"), "{debug}");
    assert!(!debug.contains("1990"), "{debug}");
    assert_eq!(visit(1).aggregate_id(), "55000000-0000-4000-8000-000000000001");
}
