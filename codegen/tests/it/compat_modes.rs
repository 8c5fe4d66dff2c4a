//! Compatibility modes over a list of previous schemas: which checks run in which direction against which previous schema, and the wording each direction produces.

use crate::compat_support::*;
use carebus_codegen::check::compat::{Direction, Finding, check_mode};
use carebus_codegen::history::Snapshot;
use carebus_codegen::ir::{Compatibility, Field, SchemaFormat, Type};
use serde_json::json;

fn schema(file: &str, fields: Vec<Field>) -> Snapshot {
    snapshot(event_record(file, fields), vec![])
}

fn check(mode: Compatibility, new: &Snapshot, previous: &[&Snapshot]) -> Vec<Finding> {
    let previous: Vec<_> = previous.iter().map(|s| s.view()).collect();
    check_mode(SchemaFormat::Avro, mode, new.view(), &previous)
}

fn codes(findings: &[Finding]) -> Vec<(Direction, &str, &str, usize)> {
    findings
        .iter()
        .map(|f| {
            (
                f.direction,
                f.incompatibility.rule.code(),
                f.incompatibility.path.as_str(),
                f.against,
            )
        })
        .collect()
}

/// The anchors' example, checked against the specification: v1 has `f1`; v2 adds `f2` with a
/// default; v3 keeps `f2` but drops its default. v3 reading v2 data finds `f2` in the data,
/// so BACKWARD passes; v3 reading v1 data finds no `f2` and has no default, so
/// BACKWARD_TRANSITIVE fails, against v1.
#[test]
fn backward_transitive_catches_what_backward_misses() {
    let f1 = || field("f1", Type::String);
    let v1 = schema("v1.avsc", vec![f1()]);
    let v2 = schema(
        "v2.avsc",
        vec![f1(), with_default(field("f2", Type::Int), json!(0))],
    );
    let v3 = schema("v3.avsc", vec![f1(), field("f2", Type::Int)]);

    assert!(check(Compatibility::Backward, &v2, &[&v1]).is_empty());
    assert!(check(Compatibility::Backward, &v3, &[&v1, &v2]).is_empty());

    let found = check(Compatibility::BackwardTransitive, &v3, &[&v1, &v2]);
    assert_eq!(
        codes(&found),
        vec![(
            Direction::NewReadsOld,
            "field-without-default",
            "PatientCreated.f2",
            0
        )]
    );
    assert_eq!(
        found[0].explain(),
        "`PatientCreated.f2`: field `f2` was added without a default, so the new schema cannot read old data"
    );
    // The newer schema's field is where the problem is reported.
    assert_eq!(found[0].source().to_string(), "v3.avsc:3:5");
}

/// Forward mirror: v1 has `f2` without default, v2 gives it a default, v3 removes it.
/// v2 (old reader) reads v3 data using its default: FORWARD passes. v1 has no default:
/// FORWARD_TRANSITIVE fails against v1.
#[test]
fn forward_transitive_catches_what_forward_misses() {
    let f1 = || field("f1", Type::String);
    let v1 = schema("v1.avsc", vec![f1(), field("f2", Type::Int)]);
    let v2 = schema(
        "v2.avsc",
        vec![f1(), with_default(field("f2", Type::Int), json!(0))],
    );
    let v3 = schema("v3.avsc", vec![f1()]);

    assert!(check(Compatibility::Forward, &v3, &[&v1, &v2]).is_empty());
    let found = check(Compatibility::ForwardTransitive, &v3, &[&v1, &v2]);
    assert_eq!(
        codes(&found),
        vec![(
            Direction::OldReadsNew,
            "field-without-default",
            "PatientCreated.f2",
            0
        )]
    );
    assert!(
        found[0]
            .explain()
            .contains("field `f2` was removed and the old schema gives it no default, so readers of the old schema cannot read new data"),
        "{}",
        found[0].explain()
    );
    // f2 is absent from the newer schema: the newer record is the location.
    assert_eq!(found[0].source().to_string(), "v3.avsc:1:1");
}

#[test]
fn each_mode_checks_its_directions() {
    let old = schema("old.avsc", vec![field("a", Type::Int)]);
    // Adding a field without default: forward compatible only.
    let added = schema(
        "new.avsc",
        vec![field("a", Type::Int), field("b", Type::String)],
    );
    // Adding a field with a default: both.
    let added_default = schema(
        "new.avsc",
        vec![
            field("a", Type::Int),
            with_default(field("b", Type::String), json!("")),
        ],
    );
    // Removing a field without default in the old schema: backward only.
    let removed = schema("new.avsc", vec![]);

    use Compatibility::*;
    let table: [(Compatibility, &Snapshot, &[Direction]); 15] = [
        (Backward, &added, &[Direction::NewReadsOld]),
        (Forward, &added, &[]),
        (Full, &added, &[Direction::NewReadsOld]),
        (None, &added, &[]),
        (Backward, &added_default, &[]),
        (Forward, &added_default, &[]),
        (Full, &added_default, &[]),
        (FullTransitive, &added_default, &[]),
        (Backward, &removed, &[]),
        (BackwardTransitive, &removed, &[]),
        (Forward, &removed, &[Direction::OldReadsNew]),
        (ForwardTransitive, &removed, &[Direction::OldReadsNew]),
        (Full, &removed, &[Direction::OldReadsNew]),
        (FullTransitive, &removed, &[Direction::OldReadsNew]),
        (None, &removed, &[]),
    ];
    for (mode, new, directions) in table {
        let found: Vec<Direction> = check(mode, new, &[&old])
            .iter()
            .map(|f| f.direction)
            .collect();
        assert_eq!(
            found,
            directions,
            "{} on {:?}",
            mode.as_str(),
            new.record.fields
        );
    }
}

#[test]
fn full_reports_both_directions_of_a_type_change() {
    let old = schema("old.avsc", vec![field("a", Type::Int)]);
    let new = schema("new.avsc", vec![field("a", Type::Long)]);
    // int → long is a promotion (backward ok) but old readers cannot read long as int.
    let found = check(Compatibility::Full, &new, &[&old]);
    assert_eq!(
        codes(&found),
        vec![(
            Direction::OldReadsNew,
            "type-not-promotable",
            "PatientCreated.a",
            0
        )]
    );
    assert!(
        found[0]
            .explain()
            .starts_with("`PatientCreated.a`: type changed from `int` to `long`"),
        "{}",
        found[0].explain()
    );
}

#[test]
fn non_transitive_modes_check_only_the_latest_previous() {
    // v1 had `b` as string; v2 dropped it; v3 reintroduces `b` as int with a default.
    let v1 = schema(
        "v1.avsc",
        vec![field("a", Type::Int), field("b", Type::String)],
    );
    let v2 = schema("v2.avsc", vec![field("a", Type::Int)]);
    let v3 = schema(
        "v3.avsc",
        vec![
            field("a", Type::Int),
            with_default(field("b", Type::Int), json!(0)),
        ],
    );
    assert!(check(Compatibility::Backward, &v3, &[&v1, &v2]).is_empty());
    let found = check(Compatibility::BackwardTransitive, &v3, &[&v1, &v2]);
    assert_eq!(
        codes(&found),
        vec![(
            Direction::NewReadsOld,
            "type-not-promotable",
            "PatientCreated.b",
            0
        )]
    );
}

#[test]
fn a_problem_seen_against_several_previous_schemas_is_reported_once() {
    let v1 = schema("v1.avsc", vec![field("a", Type::Int)]);
    let v2 = schema("v2.avsc", vec![field("a", Type::Int)]);
    let v3 = schema(
        "v3.avsc",
        vec![field("a", Type::Int), field("b", Type::Int)],
    );
    let found = check(Compatibility::BackwardTransitive, &v3, &[&v1, &v2]);
    // Reported against the newest previous schema that shows it.
    assert_eq!(
        codes(&found),
        vec![(
            Direction::NewReadsOld,
            "field-without-default",
            "PatientCreated.b",
            1
        )]
    );
}

#[test]
fn nothing_to_check_without_previous_schemas() {
    let v1 = schema("v1.avsc", vec![field("a", Type::Int)]);
    for mode in Compatibility::ALL {
        assert!(check(mode, &v1, &[]).is_empty());
    }
}
