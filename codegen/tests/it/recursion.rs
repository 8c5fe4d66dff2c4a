//! Recursive Avro records in (`tests/fixtures/recursive`, and schemas without a way out), their IR cycles, their generated code (a snapshot) and the `infinite-record` diagnostic out.

use super::emit_fixture::fixture_model_of;
use carebus_codegen::DiagnosticKind;
use carebus_codegen::ir::{Model, NamedType, Record};
use carebus_codegen::load::load_avro_sources;

fn record<'m>(model: &'m Model, full_name: &str) -> &'m Record {
    match model.named_type(full_name) {
        Some(NamedType::Record(r)) => r,
        other => panic!("{full_name} is not a record: {other:?}"),
    }
}

#[test]
fn cycles_are_marked_once_in_the_ir() {
    let model = fixture_model_of("recursive");
    let cycle = |name: &str| {
        record(&model, &format!("healthcare.care.{name}"))
            .cycle
            .clone()
    };
    assert_eq!(cycle("Step"), ["healthcare.care.Step"]);
    assert_eq!(cycle("Condition"), ["healthcare.care.Condition"]);
    assert_eq!(cycle("OrderSet"), ["healthcare.care.OrderSet"]);
    assert_eq!(cycle("Criterion"), ["healthcare.care.Criterion"]);
    let both = ["healthcare.care.Clinician", "healthcare.care.Team"];
    assert_eq!(cycle("Clinician"), both);
    assert_eq!(cycle("Team"), both);
    assert!(
        cycle("Threshold").is_empty(),
        "a branch of a recursive union"
    );
    let event = &model.events[0].record;
    assert!(!event.is_recursive(), "an event holding recursive records");
    // The IR JSON (what the catalog reads) carries the cycle.
    let json = serde_json::to_value(&model).unwrap();
    let types = json["types"].as_array().unwrap();
    let team = types.iter().find(|t| t["name"] == "Team").unwrap();
    assert_eq!(team["cycle"], serde_json::json!(both));
    let threshold = types.iter().find(|t| t["name"] == "Threshold").unwrap();
    assert!(threshold.get("cycle").is_none(), "{threshold}");
}

#[test]
fn recursive_fixture_snapshot() {
    let code = carebus_codegen::emit::generate(&fixture_model_of("recursive"));
    insta::assert_snapshot!("recursive_fixture", code);
    // Boxed exactly where a struct would otherwise hold itself.
    for expected in [
        "pub next: ::std::option::Option<::std::boxed::Box<Step>>",
        "pub subconditions: ::std::vec::Vec<Condition>",
        "pub sections: ::std::collections::BTreeMap<::std::string::String, OrderSet>",
        "pub leads: ::std::option::Option<::std::boxed::Box<Team>>",
        "pub lead: ::std::boxed::Box<Clinician>",
        "pub members: ::std::vec::Vec<Clinician>",
        "Criterion(::std::boxed::Box<Criterion>)",
        "Threshold(Threshold)",
        "pub first_step: ::std::option::Option<Step>",
    ] {
        assert!(code.contains(expected), "missing `{expected}`");
    }
    // Every recursive record, and only those, counts its nesting in both decoders.
    let recursive = [
        "Clinician",
        "Condition",
        "Criterion",
        "OrderSet",
        "Step",
        "Team",
    ];
    assert_eq!(code.matches("r.nested(").count(), recursive.len());
    assert_eq!(code.matches("event::json_nested(").count(), recursive.len());
    for name in recursive {
        let label = format!("\"healthcare.care.{name}\",\n            |");
        assert_eq!(code.matches(&label).count(), 2, "{name}: {label}");
    }
    assert!(!code.contains("Unresolved"), "every name resolves");
}

const PREFIX: &str = r#"{"type": "record", "name": "Loop", "namespace": "t", "fields": ["#;

#[test]
fn recursion_without_a_way_out_is_rejected_at_the_field() {
    // Directly: a required field of the record's own type.
    let direct = format!(
        "{PREFIX}\n  {{\"name\": \"id\", \"type\": \"int\"}},\n  {{\"name\": \"next\", \"type\": \"Loop\"}}\n]}}"
    );
    let errs = load_avro_sources(&[("loop.avsc", &direct)]).expect_err("an endless record");
    let [d] = errs.0.as_slice() else {
        panic!("one diagnostic expected: {errs}");
    };
    assert_eq!(d.kind, DiagnosticKind::InfiniteRecord);
    assert_eq!((d.source.file.as_str(), d.source.line), ("loop.avsc", 3));
    let text = d.to_string();
    for part in [
        "error[infinite-record]",
        "record `t.Loop` has no finite value",
        "field `next`",
        "\"type\": [\"null\", \"Loop\"]",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }

    // Through another required record, and through a union with no way out.
    let a = r#"{"type": "record", "name": "A", "namespace": "t", "fields": [
  {"name": "b", "type": {"type": "record", "name": "B", "fields": [
    {"name": "a", "type": ["A", "B"]}
  ]}}
]}"#;
    let errs = load_avro_sources(&[("a.avsc", a)]).expect_err("an endless pair");
    let kinds: Vec<_> = errs.0.iter().map(|d| (d.kind, d.source.line)).collect();
    assert_eq!(
        kinds,
        [
            (DiagnosticKind::InfiniteRecord, 2),
            (DiagnosticKind::InfiniteRecord, 3)
        ],
        "{errs}"
    );

    // The same shapes with a way out load.
    let ok = format!(
        "{PREFIX}{{\"name\": \"next\", \"type\": [\"null\", \"Loop\"], \"default\": null}}]}}"
    );
    assert!(load_avro_sources(&[("loop.avsc", &ok)]).is_ok());
    let ok = a.replace(r#"["A", "B"]"#, r#"{"type": "array", "items": "A"}"#);
    assert!(load_avro_sources(&[("a.avsc", &ok)]).is_ok());
}

#[test]
fn a_field_holding_an_event_is_rejected() {
    let event = r#"{"type": "record", "name": "Moved", "namespace": "t",
  "event_version": 1, "aggregate_type": "X", "aggregate_id": "id", "topic": "t.events",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "previous", "type": ["null", "Moved"], "default": null}
  ]}"#;
    let errs = load_avro_sources(&[("moved.avsc", event)]).expect_err("event as a field type");
    let [d] = errs.0.as_slice() else {
        panic!("one diagnostic expected: {errs}");
    };
    assert_eq!(d.kind, DiagnosticKind::InvalidSchema);
    assert_eq!(d.source.line, 5);
    assert!(d.message.contains("holds the event `t.Moved`"), "{d}");
    assert!(
        d.help.as_deref().unwrap_or("").contains("named record"),
        "{d}"
    );
}
