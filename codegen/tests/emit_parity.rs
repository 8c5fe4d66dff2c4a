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
    if i.is_multiple_of(2) {
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
                display: (k.is_multiple_of(2)).then(|| "Heart rate".to_string()),
            })
            .collect(),
        charge: Decimal::new(if i.is_multiple_of(2) {
            1250
        } else {
            -99_999_999
        }),
        discount: (!i.is_multiple_of(3)).then(|| Decimal::new(-(i as i128) * 5)),
        measured_at: Timestamp(1_732_443_000_000_000 + i as i64),
        birth_date: (!i.is_multiple_of(2))
            .then(|| Phi::new(Date::from_ymd(1990, 1, 1 + i % 20).unwrap())),
        labels,
        reading: match i % 3 {
            0 => VisitRecordedReading::Null,
            1 => VisitRecordedReading::Double(98.6 + i as f64),
            _ => VisitRecordedReading::String("trace".into()),
        },
        r#type: "outpatient".into(),
        weight_kg: (!i.is_multiple_of(4)).then_some(70.5 + i as f32),
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
        assert_eq!(
            VisitRecorded::decode_payload(&ours).unwrap(),
            v,
            "value {i}"
        );
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
    let v = VisitRecorded {
        labels: bigger,
        ..visit(0)
    };
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
        assert!(
            VisitRecorded::decode_payload(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
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
        assert_eq!(
            VisitRecorded::from_json(&v.to_json()).unwrap(),
            v,
            "value {i}"
        );
    }
    // Optional members may be absent; required ones may not, and the error names the path.
    let mut obj = visit(3).to_json();
    obj.as_object_mut().unwrap().remove("discount");
    assert_eq!(VisitRecorded::from_json(&obj).unwrap().discount, None);
    obj.as_object_mut().unwrap().remove("charge");
    assert_eq!(
        VisitRecorded::from_json(&obj).unwrap_err(),
        DecodeError::MissingField {
            field: "charge".into()
        }
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
    let paid = InvoicePaid {
        invoice_id: String::new(),
        amount_cents: 1,
        payer: "x".into(),
    };
    assert_eq!(paid.validate().unwrap_err().field, "invoiceId");
}

#[test]
fn phi_is_listed_and_redacted() {
    assert_eq!(VisitRecorded::PHI_FIELDS, &["patientName", "birthDate"]);
    let debug = format!("{:?}", visit(1));
    assert!(!debug.contains("Jane"), "{debug}");
    assert!(!debug.contains("1990"), "{debug}");
    assert_eq!(
        visit(1).aggregate_id(),
        "55000000-0000-4000-8000-000000000001"
    );
}

mod topics {
    use super::*;
    use carebus::{HandlerContext, HandlerResult, TopicEvents, TopicHandler};
    use std::sync::Mutex;

    /// Poll a future that never waits (the handlers below complete immediately).
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("handler future was not ready"),
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ClinicHandler for Recorder {
        async fn on_invoice_paid(
            &self,
            _ctx: &HandlerContext,
            event: InvoicePaid,
        ) -> HandlerResult {
            self.0
                .lock()
                .unwrap()
                .push(format!("paid v2 by {}", event.payer));
            Ok(())
        }
        async fn on_invoice_paid_v1(
            &self,
            _ctx: &HandlerContext,
            event: InvoicePaidV1,
        ) -> HandlerResult {
            self.0
                .lock()
                .unwrap()
                .push(format!("paid v1 {}", event.amount_cents));
            Ok(())
        }
        async fn on_visit_recorded(
            &self,
            _ctx: &HandlerContext,
            event: VisitRecorded,
        ) -> HandlerResult {
            self.0.lock().unwrap().push(format!(
                "visit hr={} severity={:?}",
                event.heart_rate, event.severity
            ));
            Ok(())
        }
    }

    fn v1() -> VisitRecordedV1 {
        VisitRecordedV1 {
            visit_id: Uuid::from_u128(9),
            patient_name: Phi::new("Ann".into()),
            heart_rate: 72,
            notes: Some(Phi::new("dropped in v2".into())),
        }
    }

    #[test]
    fn old_versions_are_upcast_with_schema_defaults() {
        let up = VisitRecorded::from(v1());
        assert_eq!(up.heart_rate, 72i64);
        assert_eq!(up.patient_name.expose(), "Ann");
        assert_eq!(up.severity, Severity::Low);
        assert!(up.codes.is_empty());
        assert_eq!(up.charge, Decimal::new(0));
        assert_eq!(up.discount, None);
        assert_eq!(up.measured_at, Timestamp(0));
        assert_eq!(up.reading, VisitRecordedReading::Null);
        assert_eq!(up.r#type, "outpatient");
        assert_eq!(up.weight_kg, Some(0.0));
        assert!(up.labels.is_empty());
    }

    #[test]
    fn topic_enum_decodes_by_version_and_fingerprint() {
        let mut bytes = Vec::new();
        v1().encode_payload(&mut bytes);
        let by_version = ClinicEvent::decode("VisitRecorded", 1, &bytes).unwrap();
        assert_eq!(by_version, ClinicEvent::VisitRecordedV1(v1()));
        assert_eq!(by_version.info().version, 1);
        assert_eq!(by_version.aggregate_id(), Uuid::from_u128(9).to_string());
        let by_fp = ClinicEvent::decode_fingerprint(VisitRecordedV1::FINGERPRINT, &bytes).unwrap();
        assert_eq!(by_fp, by_version);
        let mut again = Vec::new();
        by_fp.encode_payload(&mut again);
        assert_eq!(again, bytes);

        match ClinicEvent::decode("VisitRecorded", 7, &bytes).unwrap_err() {
            DecodeError::UnknownEvent { known, .. } => assert_eq!(known, "v1, v2"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode("NoSuchEvent", 1, &bytes),
            Err(DecodeError::UnknownEvent { .. })
        ));
        assert!(matches!(
            decode_fingerprint(42, &bytes),
            Err(DecodeError::UnknownFingerprint { fingerprint: 42 })
        ));
        let any = decode("VisitRecorded", 1, &bytes).unwrap();
        assert_eq!(any, AnyEvent::Clinic(by_version));
        assert_eq!(EVENTS.len(), 5);
        assert_eq!(<ClinicEvent as TopicEvents>::EVENTS.len(), 4);
    }

    #[test]
    fn dispatcher_routes_each_version_to_its_method() {
        let dispatcher = ClinicDispatcher(Recorder::default());
        let ctx = HandlerContext::default();
        let events = [
            ClinicEvent::from(v1()),
            ClinicEvent::from(InvoicePaidV1 {
                invoice_id: "i-1".into(),
                amount_cents: 500,
            }),
            ClinicEvent::from(InvoicePaid {
                invoice_id: "i-2".into(),
                amount_cents: 1,
                payer: "acme".into(),
            }),
        ];
        for e in events {
            ready(dispatcher.handle(&ctx, e)).unwrap();
        }
        assert_eq!(
            *dispatcher.0.0.lock().unwrap(),
            ["visit hr=72 severity=Low", "paid v1 500", "paid v2 by acme"]
        );
    }

    struct Outbox(Mutex<Vec<(&'static str, u32, String)>>);

    impl carebus::Publish for Outbox {
        fn publish<E: DomainEvent>(
            &self,
            event: E,
            _options: carebus::PublishOptions,
        ) -> impl std::future::Future<Output = Result<carebus::Delivery, carebus::PublishError>> + Send
        {
            let result = event
                .validate()
                .map_err(carebus::PublishError::from)
                .map(|()| {
                    self.0.lock().unwrap().push((
                        E::EVENT_TYPE,
                        E::EVENT_VERSION,
                        event.aggregate_id(),
                    ));
                    carebus::Delivery {
                        event_id: "e-1".into(),
                        topic: E::TOPIC.into(),
                        partition: 0,
                        offset: 0,
                    }
                });
            std::future::ready(result)
        }
    }

    #[test]
    fn publisher_trait_is_available_on_every_publish() {
        let outbox = Outbox(Mutex::new(Vec::new()));
        let paid = InvoicePaid {
            invoice_id: "i-9".into(),
            amount_cents: 100,
            payer: "acme".into(),
        };
        let delivery = ready(outbox.publish_invoice_paid(paid, Default::default())).unwrap();
        assert_eq!(delivery.topic, "healthcare.clinic.events");
        let empty_id = InvoicePaid {
            invoice_id: String::new(),
            amount_cents: 1,
            payer: "x".into(),
        };
        assert!(ready(outbox.publish_invoice_paid(empty_id, Default::default())).is_err());
        assert_eq!(
            *outbox.0.lock().unwrap(),
            [("InvoicePaid", 2, "i-9".to_string())]
        );
    }
}

mod odd_shapes {
    use super::*;

    fn odd(i: u32) -> OddShapesRecorded {
        let mut limits = BTreeMap::new();
        let mut weights = BTreeMap::new();
        if i % 2 == 1 {
            limits.insert(
                "max".to_string(),
                Decimal::new(-(10i128.pow(19)) + i as i128),
            );
            weights.insert(
                "w".to_string(),
                (!i.is_multiple_of(3)).then_some(i as f32 / 3.0),
            );
        }
        OddShapesRecorded {
            self_: format!("edge-{i}"),
            r#match: -(i as i32),
            _1st_reading: f64::from(i) * 0.25,
            self_2: i.is_multiple_of(2),
            subject: match i % 3 {
                0 => OddShapesRecordedSubject::PatientRef(PatientRef { id: "p".into() }),
                1 => OddShapesRecordedSubject::DeviceRef(DeviceRef {
                    serial: i64::MAX - i as i64,
                    checksum: Md5([i as u8; 16]),
                }),
                _ => OddShapesRecordedSubject::Null,
            },
            doses: (0..i % 4)
                .map(|k| (k.is_multiple_of(2)).then(|| Decimal::new(123_456 - k as i128)))
                .collect(),
            limits,
            weights,
            nested: (0..i % 3)
                .map(|k| (0..k).map(|j| format!("{j}")).collect())
                .collect(),
            raw: (0..i as u8).collect(),
            choice: match i % 3 {
                0 => OddShapesRecordedChoice::Int(i as i32),
                1 => OddShapesRecordedChoice::String("x".into()),
                _ => OddShapesRecordedChoice::Array(vec![i as i64, -1]),
            },
            when_millis: carebus::TimestampMillis(1_700_000_000_000 + i as i64),
            adjustments: if i.is_multiple_of(2) {
                OddShapesRecordedAdjustments::String("none".into())
            } else {
                OddShapesRecordedAdjustments::Array(vec![
                    Decimal::new(-1234),
                    Decimal::new(i as i128),
                ])
            },
            flag: (i.is_multiple_of(2)).then_some(Md5([0xab; 16])),
        }
    }

    #[test]
    #[allow(deprecated)]
    fn keyword_fields_unions_fixed_and_nested_decimals_match_apache_avro() {
        let schema = Schema::parse_str(OddShapesRecorded::SCHEMA).unwrap();
        for i in 0..12 {
            let v = odd(i);
            let mut ours = Vec::new();
            v.encode_payload(&mut ours);
            assert_eq!(ours, apache_bytes(&schema, &v), "value {i}");
            assert_eq!(
                OddShapesRecorded::decode_payload(&ours).unwrap(),
                v,
                "value {i}"
            );
            let read = apache_avro::from_avro_datum(&schema, &mut &ours[..], None).unwrap();
            assert!(read.validate(&schema), "value {i}");
            assert_eq!(
                OddShapesRecorded::from_json(&v.to_json()).unwrap(),
                v,
                "json {i}"
            );
        }
    }

    #[test]
    fn json_of_odd_shapes() {
        let json = odd(1).to_json();
        assert_eq!(json["self"], "edge-1");
        assert_eq!(json["Self"], false);
        assert_eq!(json["_1stReading"], 0.25);
        assert_eq!(json["limits"]["max"], "-9999999999999999999");
        assert_eq!(json["doses"][0], "123.456");
        assert_eq!(
            json["subject"]["checksum"],
            "01010101010101010101010101010101"
        );
        assert_eq!(json["choice"], "x");
        assert_eq!(json["adjustments"], serde_json::json!(["-123.4", "0.1"]));
        let mut bad = json.clone();
        bad["doses"][0] = serde_json::json!("1.23456");
        let err = OddShapesRecorded::from_json(&bad).unwrap_err();
        assert!(err.to_string().contains("doses[0]"), "{err}");
    }

    #[test]
    fn nested_decimal_precision_is_validated_with_its_path() {
        let mut v = odd(3);
        assert_eq!(v.validate(), Ok(()));
        v.doses = vec![None, Some(Decimal::new(1_234_567))];
        assert_eq!(v.validate().unwrap_err().field, "doses[1]");
        let mut v = odd(3);
        v.limits.insert("huge".into(), Decimal::new(10i128.pow(21)));
        assert_eq!(v.validate().unwrap_err().field, "limits.huge");
    }
}

mod generated_values {
    //! Byte parity and round trips over generated values, not only hand-picked ones.
    use super::*;
    use proptest::prelude::*;

    fn decimal(precision: u32) -> impl Strategy<Value = Decimal> {
        let max = 10i128.pow(precision) - 1;
        (-max..=max).prop_map(Decimal::new)
    }

    fn coding() -> impl Strategy<Value = Coding> {
        (
            "[a-z:/.]{0,20}",
            "[0-9-]{1,8}",
            proptest::option::of("\\PC{0,12}"),
        )
            .prop_map(|(system, code, display)| Coding {
                system,
                code,
                display,
            })
    }

    fn reading() -> impl Strategy<Value = VisitRecordedReading> {
        prop_oneof![
            Just(VisitRecordedReading::Null),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(VisitRecordedReading::Double),
            "\\PC{0,16}".prop_map(VisitRecordedReading::String),
        ]
    }

    prop_compose! {
        fn visit()(
            id in any::<u128>(),
            name in "\\PC{0,24}",
            heart_rate in any::<i64>(),
            severity in 0usize..3,
            codes in proptest::collection::vec(coding(), 0..4),
            charge in decimal(10),
            discount in proptest::option::of(decimal(4)),
            // Years 1-9999: the JSON form is RFC 3339 text.
            measured_at in -62_135_596_800_000_000i64..253_402_300_799_999_999,
            birth in proptest::option::of(-100_000i32..100_000),
            label in proptest::option::of(("[a-z]{1,6}", "\\PC{0,6}")),
            reading in reading(),
            kind in "\\PC{0,10}",
            weight in proptest::option::of(any::<f32>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite())),
        ) -> VisitRecorded {
            VisitRecorded {
                visit_id: Uuid::from_u128(id),
                patient_name: Phi::new(name),
                heart_rate,
                severity: Severity::ALL[severity],
                codes,
                charge,
                discount,
                measured_at: Timestamp(measured_at),
                birth_date: birth.map(|d| Phi::new(Date(d))),
                labels: label.into_iter().collect(),
                reading,
                r#type: kind,
                weight_kg: weight,
            }
        }
    }

    proptest! {
        #[test]
        #[allow(deprecated)]
        fn bytes_match_apache_avro_and_round_trip(v in visit()) {
            let schema = Schema::parse_str(VisitRecorded::SCHEMA).unwrap();
            let mut ours = Vec::new();
            v.encode_payload(&mut ours);
            prop_assert_eq!(&ours, &apache_bytes(&schema, &v));
            prop_assert_eq!(VisitRecorded::decode_payload(&ours).unwrap(), v.clone());
            prop_assert_eq!(VisitRecorded::from_json(&v.to_json()).unwrap(), v);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = VisitRecorded::decode_payload(&bytes);
            let _ = OddShapesRecorded::decode_payload(&bytes);
        }
    }
}
