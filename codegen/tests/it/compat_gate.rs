//! The compatibility gate: a model and the committed schema history in, the next history and the diagnostics for breaking in-place changes out.

use crate::compat_support::*;
use carebus_codegen::check::gate;
use carebus_codegen::diagnostic::DiagnosticKind;
use carebus_codegen::history::{History, fingerprint_hex};
use carebus_codegen::ir::{Compatibility, Event, Field, Model, SchemaFormat, Type};
use serde_json::json;

const NEWEST: &str = "schemas/avro/patient/patient_created.avsc";

fn file(version: u32, newest: u32) -> String {
    if version == newest {
        NEWEST.to_string()
    } else {
        format!("schemas/avro/patient/patient_created.v{version}.avsc")
    }
}

fn avro(version: u32, newest: u32, mode: Compatibility, fields: Vec<Field>) -> Event {
    let file = file(version, newest);
    event(
        version,
        SchemaFormat::Avro,
        mode,
        &file,
        event_record(&file, fields),
    )
}

fn base() -> Vec<Field> {
    vec![
        field("patientId", Type::Uuid),
        field("familyName", Type::String),
    ]
}

fn plus(extra: Field) -> Vec<Field> {
    let mut fields = base();
    fields.push(extra);
    fields
}

fn optional_mrn() -> Field {
    with_default(field("mrn", optional(Type::String)), json!(null))
}

/// The history a clean first build of `model` records.
fn recorded(model: &Model) -> History {
    let (history, diagnostics) = gate(model, &History::default());
    assert!(diagnostics.is_empty(), "{diagnostics}");
    history
}

const BT: Compatibility = Compatibility::BackwardTransitive;

#[test]
fn a_first_build_records_every_version() {
    let v1 = avro(1, 2, BT, base());
    let v2 = avro(2, 2, BT, plus(optional_mrn()));
    let model = model(vec![v1.clone(), v2.clone()], vec![]);
    let history = recorded(&model);

    let versions = &history.events["PatientCreated"].versions;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    for (v, e) in versions.iter().zip([&v1, &v2]) {
        assert_eq!(v.revisions.len(), 1);
        let r = &v.revisions[0];
        assert_eq!(r.fingerprint, fingerprint_hex(e.fingerprint));
        assert_eq!(r.fingerprint.len(), 16);
        assert_eq!(r.format, SchemaFormat::Avro);
        assert_eq!(r.compatibility, BT);
        assert_eq!(r.schema, e.canonical_form);
        let stripped = snapshot(e.record.clone(), vec![]).resolution_form();
        assert_eq!(r.ir.record, stripped.record);
        assert_eq!(r.ir.record.fields[0].source, Default::default());
    }
    assert!(versions[0].previous.is_none());
    let previous = versions[1].previous.as_ref().unwrap();
    assert_eq!((previous.version, previous.compatible), (1, true));
    assert!(previous.reasons.is_empty());

    // Unchanged schemas: nothing to record, nothing to report.
    let (again, diagnostics) = gate(&model, &history);
    assert!(diagnostics.is_empty());
    assert_eq!(again, history);
}

#[test]
fn a_new_incompatible_version_is_recorded_as_information() {
    let h1 = recorded(&model(vec![avro(1, 1, BT, base())], vec![]));
    let v1 = avro(1, 2, BT, base());
    let v2 = avro(2, 2, BT, plus(field("mrn", Type::String)));
    let (history, diagnostics) = gate(&model(vec![v1, v2], vec![]), &h1);
    assert!(diagnostics.is_empty(), "{diagnostics}");
    let previous = history.events["PatientCreated"].versions[1]
        .previous
        .clone()
        .unwrap();
    assert!(!previous.compatible);
    assert_eq!(
        previous.reasons,
        [
            "`PatientCreated.mrn`: field `mrn` was added without a default, so the new schema cannot read old data"
        ]
    );
}

#[test]
fn a_compatible_in_place_change_appends_a_revision() {
    let before = recorded(&model(vec![avro(1, 1, BT, base())], vec![]));
    let changed = avro(1, 1, BT, plus(optional_mrn()));
    let (after, diagnostics) = gate(&model(vec![changed.clone()], vec![]), &before);
    assert!(diagnostics.is_empty(), "{diagnostics}");
    let revisions = &after.version("PatientCreated", 1).unwrap().revisions;
    assert_eq!(revisions.len(), 2);
    assert_eq!(
        revisions[0],
        before.version("PatientCreated", 1).unwrap().revisions[0]
    );
    assert_eq!(
        revisions[1].fingerprint,
        fingerprint_hex(changed.fingerprint)
    );
}

#[test]
fn a_breaking_in_place_change_fails_naming_event_field_and_rule() {
    let before = recorded(&model(
        vec![avro(1, 2, BT, base()), avro(2, 2, BT, plus(optional_mrn()))],
        vec![],
    ));
    let mut fields = plus(optional_mrn());
    fields.push(field("postalCode", Type::String));
    let changed = model(vec![avro(1, 2, BT, base()), avro(2, 2, BT, fields)], vec![]);
    let (after, diagnostics) = gate(&changed, &before);

    assert_eq!(after, before, "a breaking change must not be recorded");
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let d = &diagnostics.0[0];
    assert_eq!(d.kind, DiagnosticKind::Incompatible);
    assert_eq!(
        d.message,
        "`PatientCreated` v2 was changed in place and breaks its BACKWARD_TRANSITIVE compatibility: \
         `PatientCreated.postalCode`: field `postalCode` was added without a default, so the new schema \
         cannot read old data (rule `field-without-default`, checked against revision 1 of v2 in \
         schemas/schema-history.lock)"
    );
    // Points at the new field: fourth field of the record.
    assert_eq!(d.source.to_string(), format!("{NEWEST}:5:5"));
    let help = d.help.as_deref().unwrap();
    assert!(
        help.contains("copying it to `schemas/avro/patient/patient_created.v2.avsc`"),
        "{help}"
    );
    assert!(
        help.contains("set \"event_version\": 3 in `schemas/avro/patient/patient_created.avsc`"),
        "{help}"
    );
    assert!(help.contains("or give `postalCode` a default"), "{help}");
}

/// The anchors' example, through the gate: revision 1 has `f1`, revision 2 adds `f2` with a
/// default, revision 3 drops the default.
#[test]
fn the_gate_applies_transitive_modes_to_all_revisions() {
    let f1 = || field("f1", Type::String);
    let rev = |mode, fields| model(vec![avro(1, 1, mode, fields)], vec![]);
    for (mode, passes) in [
        (Compatibility::Backward, true),
        (Compatibility::BackwardTransitive, false),
    ] {
        let h1 = recorded(&rev(mode, vec![f1()]));
        let with_default_f2 = vec![f1(), with_default(field("f2", Type::Int), json!(0))];
        let (h2, d2) = gate(&rev(mode, with_default_f2), &h1);
        assert!(d2.is_empty(), "{d2}");
        let (h3, d3) = gate(&rev(mode, vec![f1(), field("f2", Type::Int)]), &h2);
        let revisions = h3.version("PatientCreated", 1).unwrap().revisions.len();
        if passes {
            assert!(d3.is_empty(), "{}: {d3}", mode.as_str());
            assert_eq!(revisions, 3);
        } else {
            assert_eq!(d3.len(), 1, "{}", mode.as_str());
            assert!(
                d3.0[0].message.contains("checked against revision 1 of v1"),
                "{d3}"
            );
            assert_eq!(revisions, 2);
        }
    }
}

#[test]
fn mode_none_accepts_any_in_place_change() {
    let none = Compatibility::None;
    let before = recorded(&model(vec![avro(1, 1, none, base())], vec![]));
    let changed = model(
        vec![avro(1, 1, none, vec![field("patientId", Type::Int)])],
        vec![],
    );
    let (after, diagnostics) = gate(&changed, &before);
    assert!(diagnostics.is_empty());
    assert_eq!(
        after.version("PatientCreated", 1).unwrap().revisions.len(),
        2
    );
}

#[test]
fn removing_a_published_version_fails() {
    let before = recorded(&model(
        vec![avro(1, 2, BT, base()), avro(2, 2, BT, plus(optional_mrn()))],
        vec![],
    ));
    let (_, diagnostics) = gate(
        &model(vec![avro(2, 2, BT, plus(optional_mrn()))], vec![]),
        &before,
    );
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let d = &diagnostics.0[0];
    assert_eq!(d.kind, DiagnosticKind::Incompatible);
    assert!(d.message.starts_with("`PatientCreated` v1 is recorded in schemas/schema-history.lock but no schema defines it"), "{}", d.message);
    let help = d.help.as_deref().unwrap();
    assert!(
        help.contains("restore `patient_created.v1.avsc` (with \"event_version\": 1)"),
        "{help}"
    );

    // Removing the whole event is reported too.
    let (_, diagnostics) = gate(&Model::default(), &before);
    assert_eq!(diagnostics.len(), 2);
}

#[test]
fn editing_an_older_published_version_says_to_undo_it() {
    let before = recorded(&model(
        vec![avro(1, 2, BT, base()), avro(2, 2, BT, plus(optional_mrn()))],
        vec![],
    ));
    let edited_v1 = avro(1, 2, BT, plus(field("mrn", Type::String)));
    let (_, diagnostics) = gate(
        &model(
            vec![edited_v1, avro(2, 2, BT, plus(optional_mrn()))],
            vec![],
        ),
        &before,
    );
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let help = diagnostics.0[0].help.as_deref().unwrap();
    assert!(
        help.starts_with("v1 is published and `schemas/avro/patient/patient_created.v1.avsc` is not the newest version: undo the change"),
        "{help}"
    );
}

fn proto_event(fields: Vec<Field>) -> Event {
    let file = "schemas/proto/ai/analysis.proto";
    let record = record_in(file, "AnalysisCompleted", "healthcare.ai", fields);
    event(1, SchemaFormat::Protobuf, BT, file, record)
}

#[test]
fn a_reused_protobuf_field_number_fails() {
    let before = recorded(&model(
        vec![proto_event(vec![
            numbered(field("model", Type::String), 1),
            numbered(field("confidence", Type::Double), 2),
        ])],
        vec![],
    ));
    let changed = model(
        vec![proto_event(vec![
            numbered(field("model", Type::String), 1),
            numbered(field("summary", Type::String), 2),
        ])],
        vec![],
    );
    let (after, diagnostics) = gate(&changed, &before);
    assert_eq!(after, before);
    let rules: Vec<&str> = diagnostics
        .iter()
        .map(|d| {
            d.message
                .split("(rule `")
                .nth(1)
                .and_then(|s| s.split('`').next())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(rules, ["field-number-reused", "field-number-type-changed"]);
    let d = &diagnostics.0[0];
    assert!(
        d.message.contains("`AnalysisCompleted` v1"),
        "{}",
        d.message
    );
    assert!(
        d.message
            .contains("field number 2 was `confidence` and is now `summary`"),
        "{}",
        d.message
    );
    let help = d.help.as_deref().unwrap();
    assert!(
        help.contains("give `summary` a number never used before and add `reserved 2;` and `reserved \"confidence\";`"),
        "{help}"
    );
    assert!(
        help.contains("`option (carebus.event_version) = 2;`"),
        "{help}"
    );
    assert_eq!(d.source.to_string(), "schemas/proto/ai/analysis.proto:3:5");
}

#[test]
fn changing_the_schema_format_in_place_fails() {
    let before = recorded(&model(vec![avro(1, 1, BT, base())], vec![]));
    let mut as_proto = avro(1, 1, BT, plus(optional_mrn()));
    as_proto.format = SchemaFormat::Protobuf;
    let (_, diagnostics) = gate(&model(vec![as_proto], vec![]), &before);
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics.0[0].message.contains("rule `format-changed`"),
        "{diagnostics}"
    );
}

#[test]
fn a_change_in_a_shared_type_is_checked_through_the_snapshot() {
    let address = |fields| shared_record("schemas/avro/common/address.avsc", "Address", fields);
    let fields = || plus(field("address", named("Address")));
    let mut v1 = avro(1, 1, BT, fields());
    let before = recorded(&model(
        vec![v1.clone()],
        vec![address(vec![field("city", Type::String)])],
    ));
    // The fingerprint covers the inlined named types; simulate the change to it.
    v1.fingerprint ^= 1;
    let (_, diagnostics) = gate(
        &model(
            vec![v1],
            vec![address(vec![
                field("city", Type::String),
                field("postalCode", Type::String),
            ])],
        ),
        &before,
    );
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let d = &diagnostics.0[0];
    assert!(
        d.message.contains("`PatientCreated.address.postalCode`"),
        "{}",
        d.message
    );
    assert_eq!(d.source.file, "schemas/avro/common/address.avsc");
}

/// The Avro canonical form (hence the fingerprint) ignores defaults and aliases; the gate
/// must still see a removed default.
#[test]
fn a_removed_default_is_checked_even_with_an_unchanged_fingerprint() {
    let f2_default = with_default(field("f2", Type::Int), json!(0));
    let h = recorded(&model(
        vec![avro(1, 1, BT, vec![field("f1", Type::String)])],
        vec![],
    ));
    let r2 = avro(1, 1, BT, vec![field("f1", Type::String), f2_default]);
    let (h, d) = gate(&model(vec![r2.clone()], vec![]), &h);
    assert!(d.is_empty(), "{d}");
    let mut r3 = avro(
        1,
        1,
        BT,
        vec![field("f1", Type::String), field("f2", Type::Int)],
    );
    r3.fingerprint = r2.fingerprint;
    let (after, d) = gate(&model(vec![r3], vec![]), &h);
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.0[0].message.contains("`PatientCreated.f2`"), "{d}");
    assert_eq!(after, h);
}

#[test]
fn doc_and_position_changes_are_not_revisions() {
    let h = recorded(&model(vec![avro(1, 1, BT, base())], vec![]));
    let mut moved = avro(1, 1, BT, base());
    moved.record.doc = Some("A patient was registered.".into());
    moved.record.fields[0].source.line += 3;
    moved.record.fields[0].examples = vec![json!("3f2c…")];
    let (after, d) = gate(&model(vec![moved], vec![]), &h);
    assert!(d.is_empty());
    assert_eq!(after, h);
}
