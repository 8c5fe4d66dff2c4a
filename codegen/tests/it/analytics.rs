//! Field classifications in, de-identification plans and review diagnostics out: what reaches analytics of each field, the review rule (`error[unclassified-field]` at the field) and rules that do not fit their field.

use carebus_codegen::DiagnosticKind;
use carebus_codegen::analytics::{PlanField, Rule, Scalar, Shape, check, plan};
use carebus_codegen::diagnostic::Diagnostics;
use carebus_codegen::load::load_avro_sources;

const ADDRESS: &str = r#"{
  "type": "record", "name": "Address", "namespace": "healthcare.common",
  "fields": [
    {"name": "line", "type": {"type": "array", "items": "string"}, "classification": "phi"},
    {"name": "state", "type": ["null", "string"], "default": null, "classification": "none"},
    {"name": "postalCode", "type": ["null", "string"], "default": null, "classification": "phi", "analytics": "prefix-3"},
    {"name": "city", "type": "string"}
  ]
}"#;

fn event(fields: &str) -> String {
    format!(
        r#"{{
  "type": "record", "name": "PatientRegistered", "namespace": "healthcare.patient",
  "event_version": 1, "aggregate_type": "Patient", "aggregate_id": "patientId",
  "topic": "healthcare.patients.events",
  "fields": [
    {{"name": "patientId", "type": "string", "analytics": "pseudonymize"}},
    {fields}
  ]
}}"#
    )
}

fn review(fields: &str) -> (Vec<PlanField>, Diagnostics) {
    let text = event(fields);
    let model = load_avro_sources(&[
        ("schemas/avro/common/address.avsc", ADDRESS),
        ("schemas/avro/patient/patient_registered.avsc", &text),
    ])
    .expect("the schemas load");
    let mut diags = Diagnostics::default();
    check(&model, &mut diags);
    (plan(&model, &model.events[0]), diags)
}

fn field(name: &str, shape: Shape, rule: Rule) -> PlanField {
    PlanField {
        name: name.into(),
        shape,
        rule,
    }
}

#[test]
fn each_field_reaches_analytics_as_its_classification_and_rule_say() {
    let (plan, diags) = review(
        r#"{"name": "firstName", "type": "string", "classification": "phi"},
    {"name": "birthDate", "type": {"type": "int", "logicalType": "date"}, "classification": "phi", "analytics": "age-band"},
    {"name": "registeredAt", "type": {"type": "long", "logicalType": "timestamp-micros"}, "classification": "none"},
    {"name": "note", "type": ["null", "string"], "default": null, "classification": "none", "analytics": "text"},
    {"name": "visits", "type": {"type": "array", "items": "int"}, "classification": "none"},
    {"name": "address", "type": "healthcare.common.Address", "classification": "phi", "analytics": "fields"}"#,
    );
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(
        plan,
        vec![
            field("patientId", Shape::One, Rule::Pseudonymize),
            field("birthDate", Shape::One, Rule::AgeBand),
            field("registeredAt", Shape::One, Rule::Keep(Scalar::Timestamp)),
            field("note", Shape::One, Rule::Keep(Scalar::Text)),
            field("visits", Shape::List, Rule::Keep(Scalar::Long)),
            // Inside a phi field: `line` (phi) and `city` (unclassified: inherits phi) are
            // dropped, `state` kept, the postal code cut to its prefix.
            field(
                "address",
                Shape::One,
                Rule::Record(vec![
                    field("state", Shape::One, Rule::Keep(Scalar::Keyword)),
                    field("postalCode", Shape::One, Rule::Prefix(3)),
                ])
            ),
        ]
    );
}

#[test]
fn an_unclassified_field_is_an_error_at_the_field_and_never_reaches_analytics() {
    let (plan, diags) = review(r#"{"name": "nickname", "type": "string"}"#);
    assert_eq!(
        plan,
        vec![field("patientId", Shape::One, Rule::Pseudonymize)]
    );
    let d = &diags.0[0];
    assert_eq!(d.kind, DiagnosticKind::UnclassifiedField);
    assert_eq!(d.kind.code(), "unclassified-field");
    assert_eq!(
        d.source.file,
        "schemas/avro/patient/patient_registered.avsc"
    );
    assert_eq!(d.source.line, 7);
    assert!(d.message.contains("`nickname`"), "{}", d.message);
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .contains("\"classification\": \"none\"")
    );
}

#[test]
fn a_shared_record_kept_whole_needs_its_own_fields_classified() {
    // Under a `none` field nothing is inherited: Address's unclassified `city` is an error, in
    // Address's file.
    let (_, diags) = review(
        r#"{"name": "address", "type": "healthcare.common.Address", "classification": "none"}"#,
    );
    assert_eq!(diags.0.len(), 1, "{diags:#?}");
    assert_eq!(diags.0[0].kind, DiagnosticKind::UnclassifiedField);
    assert_eq!(diags.0[0].source.file, "schemas/avro/common/address.avsc");
    assert!(diags.0[0].message.contains("`city`"));
}

#[test]
fn rules_that_do_not_fit_the_field_are_errors() {
    for (fields, says) in [
        (
            r#"{"name": "firstName", "type": "string", "classification": "phi", "analytics": "keep"}"#,
            "classified phi: analytics cannot keep it",
        ),
        (
            r#"{"name": "firstName", "type": "string", "classification": "phi", "analytics": "year"}"#,
            "needs a date or timestamp",
        ),
        (
            r#"{"name": "birthDate", "type": {"type": "int", "logicalType": "date"}, "classification": "phi", "analytics": "prefix-3"}"#,
            "needs a string",
        ),
        (
            r#"{"name": "visits", "type": "int", "classification": "none", "analytics": "fields"}"#,
            "needs a (non-recursive) record",
        ),
    ] {
        let (_, diags) = review(fields);
        assert_eq!(diags.0.len(), 1, "{fields}: {diags:#?}");
        assert_eq!(diags.0[0].kind, DiagnosticKind::BadAnnotation);
        assert!(diags.0[0].message.contains(says), "{}", diags.0[0].message);
    }
}

#[test]
fn an_unknown_rule_is_a_bad_annotation_naming_the_choices() {
    let text = event(r#"{"name": "x", "type": "string", "analytics": "hash"}"#);
    let errs = load_avro_sources(&[("e.avsc", &text)])
        .expect_err("a bad annotation")
        .0;
    assert_eq!(errs[0].kind, DiagnosticKind::BadAnnotation);
    assert!(
        errs[0].message.contains("pseudonymize"),
        "{}",
        errs[0].message
    );
}

#[test]
fn the_project_schemas_pass_the_review() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = carebus_codegen::load::load_dir(&dir).expect("the schemas load");
    let mut diags = Diagnostics::default();
    check(&model, &mut diags);
    assert!(diags.is_empty(), "{diags:#?}");
    // Every event pseudonymises its patient and keeps no PHI field as it is.
    for e in &model.events {
        let plan = plan(&model, e);
        assert!(
            !plan.is_empty(),
            "{} v{} sends something",
            e.name,
            e.version
        );
    }
}
