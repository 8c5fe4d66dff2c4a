//! Generated values of the fixture's `UnionMixRecorded` (unions a bare JSON value cannot tell apart: float/double, int/long, bytes/string, two records, date/timestamp, in arrays and maps) through the JSON form and back, compared with the binary encoding; and checked against fastavro.

use super::generated::*;
use crate::avro_json::{Case, assert_agrees, fastavro};
use carebus::{Date, Decimal, DomainEvent, Timestamp, Uuid};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;

fn payload(v: &UnionMixRecorded) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode_payload(&mut out);
    out
}

/// Any `f64`, NaN and the infinities included, when `finite` is false (`finite`: the values
/// fastavro can take).
fn double(finite: bool) -> BoxedStrategy<f64> {
    if finite {
        prop_oneof![
            Just(0.1),
            Just(1e300),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        ]
        .boxed()
    } else {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            double(true),
        ]
        .boxed()
    }
}

fn float(finite: bool) -> BoxedStrategy<f32> {
    let finite_floats = prop_oneof![
        Just(0.1f32),
        Just(f32::MAX),
        Just(-0.0f32),
        prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO,
    ];
    if finite {
        finite_floats.boxed()
    } else {
        prop_oneof![Just(f32::NAN), Just(f32::NEG_INFINITY), finite_floats].boxed()
    }
}

fn remark() -> impl Strategy<Value = Remark> {
    (any::<String>(), proptest::option::of(any::<i64>()))
        .prop_map(|(text, code)| Remark { text, code })
}

fn value(finite: bool) -> impl Strategy<Value = UnionMixRecorded> {
    let reading = prop_oneof![
        Just(UnionMixRecordedReading::Null),
        float(finite).prop_map(UnionMixRecordedReading::Float),
        double(finite).prop_map(UnionMixRecordedReading::Double),
    ];
    let count = prop_oneof![
        any::<i32>().prop_map(UnionMixRecordedCount::Int),
        any::<i64>().prop_map(UnionMixRecordedCount::Long),
        // Values an `int` could hold, as a `long`: the branch is what tells them apart.
        any::<i32>().prop_map(|n| UnionMixRecordedCount::Long(i64::from(n))),
    ];
    let payload = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(UnionMixRecordedPayload::Bytes),
        any::<String>().prop_map(UnionMixRecordedPayload::String),
        // Text that is also valid bytes-as-ISO-8859-1.
        "[a-z0-9 ]{0,12}".prop_map(UnionMixRecordedPayload::String),
    ];
    let detail = prop_oneof![
        Just(UnionMixRecordedDetail::Null),
        (double(finite), any::<String>())
            .prop_map(|(amount, unit)| UnionMixRecordedDetail::Dose(Dose { amount, unit })),
        remark().prop_map(UnionMixRecordedDetail::Remark),
    ];
    let series_item = prop_oneof![
        Just(UnionMixRecordedSeriesItem::Null),
        double(finite).prop_map(UnionMixRecordedSeriesItem::Double),
        float(finite).prop_map(UnionMixRecordedSeriesItem::Float),
    ];
    let tag = prop_oneof![
        any::<i64>().prop_map(UnionMixRecordedTagsValue::Long),
        any::<i32>().prop_map(UnionMixRecordedTagsValue::Int),
        any::<String>().prop_map(UnionMixRecordedTagsValue::String),
    ];
    // fastavro turns dates and timestamps into Python's, which end at years 1 and 9999.
    let (days, micros) = if finite {
        (
            -719_162..=2_932_896,
            -62_135_596_800_000_000..=253_402_300_799_999_999,
        )
    } else {
        (i32::MIN..=i32::MAX, i64::MIN..=i64::MAX)
    };
    let when = prop_oneof![
        Just(UnionMixRecordedWhen::Null),
        days.prop_map(|d| UnionMixRecordedWhen::Date(Date(d))),
        micros.prop_map(|t| UnionMixRecordedWhen::Timestamp(Timestamp(t))),
    ];
    (
        "[a-z0-9-]{1,12}",
        reading,
        count,
        payload,
        detail,
        prop::collection::vec(series_item, 0..5),
        prop::collection::btree_map("[a-z]{0,6}", tag, 0..4),
        when,
        proptest::option::of(any::<[u8; 4]>().prop_map(Signature)),
        // Within the schema's precision 9.
        proptest::option::of((-999_999_999i128..=999_999_999).prop_map(Decimal::new)),
        proptest::option::of(any::<u128>().prop_map(Uuid::from_u128)),
        prop::collection::vec(proptest::option::of(remark()), 0..3),
    )
        .prop_map(
            |(
                id,
                reading,
                count,
                payload,
                detail,
                series,
                tags,
                when,
                signature,
                amount,
                r#ref,
                notes,
            )| {
                UnionMixRecorded {
                    id,
                    reading,
                    count,
                    payload,
                    detail,
                    series,
                    tags: tags.into_iter().collect::<BTreeMap<_, _>>(),
                    when,
                    signature,
                    amount,
                    r#ref,
                    notes,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// JSON text and back is the same datum, byte for byte: every union keeps its branch,
    /// every float its bits (NaN and the infinities as the strings carebus writes).
    #[test]
    fn json_text_round_trips_to_the_same_binary(v in value(false)) {
        let text = v.to_json().to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back = UnionMixRecorded::from_json(&parsed)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(payload(&back), payload(&v), "{}", text);
        // And from the binary, the same JSON.
        let decoded = UnionMixRecorded::decode_payload(&payload(&v)).unwrap();
        prop_assert_eq!(decoded.to_json().to_string(), text);
    }
}

#[test]
fn branches_a_bare_value_would_lose_keep_their_names() {
    let mut v = UnionMixRecorded {
        id: "u-1".into(),
        reading: UnionMixRecordedReading::Double(0.1),
        count: UnionMixRecordedCount::Long(5),
        payload: UnionMixRecordedPayload::Bytes(vec![0, 0x7f, 0x80, 0xff]),
        detail: UnionMixRecordedDetail::Remark(Remark {
            text: "x".into(),
            code: Some(7),
        }),
        series: vec![
            UnionMixRecordedSeriesItem::Float(0.5),
            UnionMixRecordedSeriesItem::Null,
        ],
        tags: BTreeMap::from([("n".to_string(), UnionMixRecordedTagsValue::Int(1))]),
        when: UnionMixRecordedWhen::Date(Date(19737)),
        signature: Some(Signature([1, 2, 0xfe, 0xff])),
        amount: Some(Decimal::new(1250)),
        r#ref: None,
        notes: vec![None],
    };
    let json = v.to_json();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "u-1",
            "reading": {"double": 0.1},
            "count": {"long": 5},
            "payload": {"bytes": "\u{0}\u{7f}\u{80}\u{ff}"},
            "detail": {"healthcare.edge.Remark": {"text": "x", "code": {"long": 7}}},
            "series": [{"float": 0.5}, null],
            "tags": {"n": {"int": 1}},
            "when": {"int": 19737},
            "signature": {"healthcare.edge.Signature": "\u{1}\u{2}\u{fe}\u{ff}"},
            "amount": {"bytes": "\u{0}\u{0}\u{4}\u{e2}"},
            "ref": null,
            "notes": [null],
        })
    );
    assert_eq!(UnionMixRecorded::from_json(&json).unwrap(), v);
    v.reading = UnionMixRecordedReading::Double(1e300);
    assert_eq!(
        UnionMixRecorded::from_json(&v.to_json()).unwrap().reading,
        UnionMixRecordedReading::Double(1e300)
    );
    // A bare value, or a key naming no branch, is an error naming the field.
    let mut bare = v.to_json();
    bare["count"] = serde_json::json!(5);
    let err = UnionMixRecorded::from_json(&bare).unwrap_err();
    assert!(err.to_string().contains("count"), "{err}");
    bare["count"] = serde_json::json!({"double": 5});
    assert!(UnionMixRecorded::from_json(&bare).is_err());
    let mut bytes = v.to_json();
    bytes["payload"] = serde_json::json!({"bytes": "\u{100}"});
    let err = UnionMixRecorded::from_json(&bytes).unwrap_err();
    assert!(err.to_string().contains("payload"), "{err}");
}

/// 200 generated values (finite floats: fastavro writes NaN as a bare `NaN`, which is not
/// JSON, and reads carebus's `"NaN"` as a string) through fastavro both ways.
#[test]
fn fastavro_agrees_on_generated_values() {
    let mut runner = TestRunner::deterministic();
    let strategy = value(true);
    let values: Vec<UnionMixRecorded> = (0..200)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect();
    let cases: Vec<Case> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Case::of(format!("UnionMixRecorded #{i}"), v))
        .collect();
    let mut same_branches = 0;
    for (i, (v, verdict)) in values.iter().zip(fastavro(&cases)).enumerate() {
        let name = format!("UnionMixRecorded #{i}");
        assert_agrees::<UnionMixRecorded>(&name, &verdict);
        let theirs = UnionMixRecorded::decode_payload(&verdict.fastavro_json_binary).unwrap();
        same_branches += usize::from(payload(&theirs) == payload(v));
    }
    // fastavro's writers choose a branch from the Python value (a `float` branch's value
    // may become `double`, a timestamp a `date`); carebus's JSON names the branch it had.
    println!(
        "fastavro kept every union branch in {same_branches} of {} values",
        values.len()
    );
}
