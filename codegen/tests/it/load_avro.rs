//! Avro files in, IR or diagnostics out: one test per diagnostic kind, plus canonical-form and fingerprint parity with apache-avro.

use carebus_codegen::DiagnosticKind;
use carebus_codegen::ir::{Classification, Compatibility, NamedType, Type};
use carebus_codegen::load::load_avro_sources;

const CODING: &str = r#"{
  "type": "record", "name": "Coding", "namespace": "healthcare.common",
  "doc": "A code from a terminology.",
  "fields": [
    {"name": "system", "type": "string"},
    {"name": "code", "type": "string"},
    {"name": "display", "type": ["null", "string"], "default": null}
  ]
}"#;

const EVENT: &str = r#"{
  "type": "record", "name": "DiagnosisAdded", "namespace": "healthcare.clinical",
  "doc": "A diagnosis was added.",
  "event_version": 2, "aggregate_type": "Patient", "aggregate_id": "patientId",
  "topic": "healthcare.clinical.events", "compatibility": "FULL",
  "fields": [
    {"name": "patientId", "type": "string", "doc": "Patient id."},
    {"name": "diagnosisId", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "code", "type": "healthcare.common.Coding", "classification": "phi", "examples": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
    {"name": "onset", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null},
    {"name": "recordedAt", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "severity", "type": {"type": "enum", "name": "Severity", "symbols": ["MILD", "MODERATE", "SEVERE", "UNKNOWN"], "default": "UNKNOWN"}},
    {"name": "score", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
    {"name": "notes", "type": {"type": "array", "items": "string"}, "default": [], "deprecated": "use annotations"},
    {"name": "tags", "type": {"type": "map", "values": "long"}, "default": {}}
  ]
}"#;

fn errors(sources: &[(&str, &str)]) -> Vec<carebus_codegen::Diagnostic> {
    load_avro_sources(sources)
        .expect_err("expected diagnostics")
        .0
}

fn one(sources: &[(&str, &str)], kind: DiagnosticKind) -> carebus_codegen::Diagnostic {
    let errs = errors(sources);
    errs.iter()
        .find(|d| d.kind == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} diagnostic in {errs:#?}"))
}

#[test]
fn loads_an_event_with_shared_types_logical_types_and_annotations() {
    let m = load_avro_sources(&[("c.avsc", CODING), ("e.avsc", EVENT)]).unwrap();
    assert_eq!(m.events.len(), 1);
    let e = &m.events[0];
    assert_eq!(
        (e.name.as_str(), e.version, e.domain.as_str()),
        ("DiagnosisAdded", 2, "clinical")
    );
    assert_eq!(e.aggregate_id, "patientId");
    assert_eq!(e.compatibility, Compatibility::Full);
    assert_eq!(e.record.fields.len(), 9);
    let code = e.record.field("code").unwrap();
    assert_eq!(code.classification, Classification::Phi);
    assert_eq!(
        code.ty,
        Type::Named {
            name: "healthcare.common.Coding".into()
        }
    );
    assert_eq!((code.source.file.as_str(), code.source.line), ("e.avsc", 9));
    assert_eq!(e.record.field("diagnosisId").unwrap().ty, Type::Uuid);
    assert_eq!(
        e.record.field("score").unwrap().ty,
        Type::Decimal {
            precision: 6,
            scale: 2
        }
    );
    assert_eq!(
        e.record.field("notes").unwrap().deprecated.as_deref(),
        Some("use annotations")
    );
    assert!(e.record.field("onset").unwrap().ty.optional_inner() == Some(&Type::Date));
    let names: Vec<String> = m.types.iter().map(NamedType::full_name).collect();
    assert_eq!(
        names,
        ["healthcare.clinical.Severity", "healthcare.common.Coding"]
    );
    assert!(
        e.schema_text.contains("\"name\": \"Coding\""),
        "named types are inlined: {}",
        e.schema_text
    );
}

#[test]
fn canonical_form_and_fingerprint_match_apache_avro() {
    // Without logical types, apache-avro and the specification agree byte for byte.
    let plain = CODING.replace("Coding", "PlainEvent").replace(
        r#""doc""#,
        r#""event_version": 1, "aggregate_type": "X", "aggregate_id": "code", "doc""#,
    );
    let m = load_avro_sources(&[("p.avsc", &plain)]).unwrap();
    let e = &m.events[0];
    let schema = apache_avro::Schema::parse_str(&e.schema_text)
        .expect("self-contained schema parses in apache-avro");
    assert_eq!(e.canonical_form, schema.canonical_form());
    let theirs = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    assert_eq!(e.fingerprint.to_le_bytes().to_vec(), theirs);
}

#[test]
fn canonical_form_strips_logical_types_as_the_specification_says() {
    // The spec's [STRIP] step keeps only name/type/fields/symbols/items/values/size, and
    // [PRIMITIVES] turns {"type":"string"} into "string" — as Java's SchemaNormalization does.
    // apache-avro (Rust) keeps `{"type":"string"}` and precision/scale; carebus follows the spec
    // so fingerprints agree with Java and Python consumers.
    let m = load_avro_sources(&[("c.avsc", CODING), ("e.avsc", EVENT)]).unwrap();
    let e = &m.events[0];
    let schema = apache_avro::Schema::parse_str(&e.schema_text)
        .expect("self-contained schema parses in apache-avro");
    let apache_normalized = schema
        .canonical_form()
        .replace(r#"{"type":"string"}"#, r#""string""#)
        .replace(r#"{"type":"int"}"#, r#""int""#)
        .replace(r#"{"type":"long"}"#, r#""long""#)
        .replace(r#"{"type":"bytes","precision":6,"scale":2}"#, r#""bytes""#);
    assert_eq!(e.canonical_form, apache_normalized);
    assert!(!e.canonical_form.contains("logicalType") && !e.canonical_form.contains(' '));
    assert_eq!(
        e.fingerprint,
        carebus_codegen::fingerprint::crc64_avro(e.canonical_form.as_bytes())
    );
}

#[test]
fn json_syntax_error_points_at_line_and_column() {
    let d = one(
        &[(
            "bad.avsc",
            "{\n  \"type\": \"record\",\n  \"name\": \"X\"\n  \"fields\": []\n}",
        )],
        DiagnosticKind::Syntax,
    );
    assert_eq!(
        (d.source.file.as_str(), d.source.line, d.source.column),
        ("bad.avsc", 4, 3)
    );
    assert!(d.help.is_some());
}

#[test]
fn misspelled_type_suggests_the_right_one() {
    let src = r#"{"type": "record", "name": "A", "fields": [{"name": "x", "type": "strnig"}]}"#;
    let d = one(&[("a.avsc", src)], DiagnosticKind::UnknownType);
    assert!(d.message.contains("strnig"));
    assert_eq!(d.help.as_deref(), Some("did you mean `string`?"));
    assert_eq!(d.source.column, 66);
    let src = r#"{"type": "record", "name": "A", "namespace": "x", "fields": [{"name": "c", "type": "Coding"}]}"#;
    let d = one(
        &[("c.avsc", CODING), ("a.avsc", src)],
        DiagnosticKind::UnknownType,
    );
    assert!(
        d.help.unwrap().contains("healthcare.common.Coding"),
        "suggests the full name"
    );
}

#[test]
fn default_that_does_not_match_its_type() {
    let cases = [
        (r#"{"name": "n", "type": "int", "default": "zero"}"#, "int"),
        (
            r#"{"name": "n", "type": ["string", "null"], "default": null}"#,
            "first branch",
        ),
        (
            r#"{"name": "n", "type": {"type": "enum", "name": "E", "symbols": ["A"]}, "default": "B"}"#,
            "symbols",
        ),
        (
            r#"{"name": "n", "type": "int", "default": 3000000000}"#,
            "range",
        ),
        (
            r#"{"name": "n", "type": {"type": "array", "items": "long"}, "default": [1, "x"]}"#,
            "whole number",
        ),
    ];
    for (field, why) in cases {
        let src = format!(r#"{{"type": "record", "name": "A", "fields": [{field}]}}"#);
        let d = one(&[("a.avsc", &src)], DiagnosticKind::BadDefault);
        assert!(
            d.message.contains(why) || d.help.as_deref().unwrap_or("").contains(why),
            "{field}: {d:?}"
        );
    }
}

#[test]
fn duplicate_names_are_reported() {
    let dup_field = r#"{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}, {"name": "x", "type": "long"}]}"#;
    assert!(
        one(&[("a.avsc", dup_field)], DiagnosticKind::DuplicateName)
            .message
            .contains("`x`")
    );
    let other =
        r#"{"type": "record", "name": "Coding", "namespace": "healthcare.common", "fields": []}"#;
    let d = one(
        &[("c.avsc", CODING), ("d.avsc", other)],
        DiagnosticKind::DuplicateName,
    );
    assert!(
        d.message.contains("healthcare.common.Coding") && d.message.contains("c.avsc"),
        "{d:?}"
    );
    let dup_symbol = r#"{"type": "enum", "name": "E", "symbols": ["A", "A"]}"#;
    one(&[("e.avsc", dup_symbol)], DiagnosticKind::DuplicateName);
    let twice = EVENT.to_string();
    one(
        &[("c.avsc", CODING), ("e1.avsc", EVENT), ("e2.avsc", &twice)],
        DiagnosticKind::DuplicateName,
    );
}

#[test]
fn missing_or_wrong_aggregate_id() {
    let no_id = EVENT.replace(r#""aggregate_id": "patientId","#, "");
    let d = one(
        &[("c.avsc", CODING), ("e.avsc", &no_id)],
        DiagnosticKind::MissingAggregateId,
    );
    assert!(d.help.unwrap().contains("aggregate_id"));
    let typo = EVENT.replace(
        r#""aggregate_id": "patientId""#,
        r#""aggregate_id": "patientID""#,
    );
    let d = one(
        &[("c.avsc", CODING), ("e.avsc", &typo)],
        DiagnosticKind::MissingAggregateId,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `patientId`?"));
}

#[test]
fn unknown_annotation_keys_are_rejected_with_a_suggestion() {
    let typo = EVENT.replace(r#""aggregate_type""#, r#""aggregateType""#);
    let errs = errors(&[("c.avsc", CODING), ("e.avsc", &typo)]);
    let d = errs
        .iter()
        .find(|d| d.kind == DiagnosticKind::UnknownAnnotation)
        .unwrap();
    assert!(d.message.contains("aggregateType"));
    assert_eq!(d.help.as_deref(), Some("did you mean `aggregate_type`?"));
    let field = EVENT.replace(r#""classification": "phi""#, r#""clasification": "phi""#);
    let d = one(
        &[("c.avsc", CODING), ("e.avsc", &field)],
        DiagnosticKind::UnknownAnnotation,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `classification`?"));
    let bad = EVENT.replace(
        r#""classification": "phi""#,
        r#""classification": "secret""#,
    );
    one(
        &[("c.avsc", CODING), ("e.avsc", &bad)],
        DiagnosticKind::BadAnnotation,
    );
    let mode = EVENT.replace(r#""FULL""#, r#""BACKWARDS""#);
    assert_eq!(
        one(
            &[("c.avsc", CODING), ("e.avsc", &mode)],
            DiagnosticKind::BadAnnotation
        )
        .help
        .as_deref(),
        Some("did you mean `BACKWARD`?")
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let src = r#"{"type": "record", "name": "A", "fields": [
        {"name": "a", "type": "strnig"},
        {"name": "b", "type": "int", "default": "x"},
        {"name": "c", "type": "long", "colour": "red"}
    ]}"#;
    let kinds: Vec<DiagnosticKind> = errors(&[("a.avsc", src)]).iter().map(|d| d.kind).collect();
    for k in [
        DiagnosticKind::UnknownType,
        DiagnosticKind::BadDefault,
        DiagnosticKind::UnknownAnnotation,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

#[test]
fn no_input_panics() {
    let inputs = [
        "",
        "null",
        "[]",
        "{}",
        "\"string\"",
        "{\"type\": 5}",
        "{\"type\": \"record\"}",
        "{\"type\": \"record\", \"name\": \"A\", \"fields\": 3}",
        "{\"type\": \"record\", \"name\": \"A\", \"fields\": [1, {}, {\"name\": 2}]}",
        "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [1]}",
        "{\"type\": \"fixed\", \"name\": \"F\", \"size\": -1}",
        "[[\"int\"]]",
        "{\"type\": \"bytes\", \"logicalType\": \"decimal\", \"precision\": 99}",
        "{\"type\": {\"type\": {\"type\": \"array\"}}}",
        "{\"type\": \"record\", \"name\": \"1A\", \"fields\": []}",
    ];
    for i in inputs {
        let _ = load_avro_sources(&[("x.avsc", i)]);
    }
    // Random bytes as text.
    let mut seed = 7u64;
    for _ in 0..300 {
        let len = (seed % 60) as usize;
        let s: String = (0..len)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let alphabet = b"{}[]\":,0123 abtrue-nul.e\\";
                alphabet[(seed >> 33) as usize % alphabet.len()] as char
            })
            .collect();
        let _ = load_avro_sources(&[("fuzz.avsc", &s)]);
    }
}
