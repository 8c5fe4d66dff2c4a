//! Protobuf wire rules, one table row per rule: old and new message (IR with field numbers) in, the wire break (or none) out.

use crate::compat_support::*;
use carebus_codegen::check::compat::{check_mode, wire_breaks};
use carebus_codegen::history::Snapshot;
use carebus_codegen::ir::{Compatibility, Field, NamedType, ProtoScalar, SchemaFormat, Type};

fn message(file: &str, fields: Vec<Field>, types: Vec<NamedType>) -> Snapshot {
    let record = record_in(file, "AnalysisCompleted", "healthcare.ai", fields);
    snapshot(record, types)
}

fn one(file: &str, name: &str, number: u32, ty: Type) -> Snapshot {
    message(file, vec![numbered(field(name, ty), number)], vec![])
}

/// (name, old type, new type, expected rule code) for field `score` = 3.
fn type_rows() -> Vec<(&'static str, Type, Type, Option<&'static str>)> {
    use ProtoScalar::*;
    use Type::*;
    let changed = Some("field-number-type-changed");
    vec![
        ("int32 → int64 (varint)", Int, Long, None),
        ("int64 → uint64 (varint)", Long, proto(Uint64), None),
        ("uint32 → bool (varint)", proto(Uint32), Boolean, None),
        (
            "sint32 → sint64 (zigzag)",
            proto(Sint32),
            proto(Sint64),
            None,
        ),
        ("fixed32 → sfixed32", proto(Fixed32), proto(Sfixed32), None),
        ("fixed64 → sfixed64", proto(Fixed64), proto(Sfixed64), None),
        ("string → bytes", String, Bytes, None),
        ("optional int32 → int32", optional(Int), Int, None),
        (
            "repeated int32 → repeated int64",
            array(Int),
            array(Long),
            None,
        ),
        ("int32 → string", Int, String, changed),
        (
            "int32 → sint32 (varint vs zigzag)",
            Int,
            proto(Sint32),
            changed,
        ),
        ("float → double", Float, Double, changed),
        ("fixed32 → fixed64", proto(Fixed32), proto(Fixed64), changed),
        ("fixed32 → float", proto(Fixed32), Float, changed),
        ("int32 → repeated int32", Int, array(Int), changed),
        ("map<string> → map<int32>", map(String), map(Int), changed),
    ]
}

#[test]
fn field_type_rows() {
    let mut failures = Vec::new();
    for (name, old, new, expect) in type_rows() {
        let found = wire_breaks(
            one("old.proto", "score", 3, old).view(),
            one("new.proto", "score", 3, new).view(),
        );
        let got: Vec<&str> = found.iter().map(|i| i.rule.code()).collect();
        if got != expect.into_iter().collect::<Vec<_>>() {
            failures.push(format!("{name}: expected {expect:?}, got {got:?}"));
        }
        if let Some(i) = found.first() {
            assert_eq!(i.path, "AnalysisCompleted.score");
            assert_eq!(i.reader_source.file, "new.proto");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_field_number_reused_for_another_field() {
    let old = one("old.proto", "confidence", 3, Type::Double);
    let new = one("new.proto", "modelVersion", 3, Type::String);
    let found = wire_breaks(old.view(), new.view());
    let got: Vec<&str> = found.iter().map(|i| i.rule.code()).collect();
    assert_eq!(got, ["field-number-reused", "field-number-type-changed"]);
    let text = found[0].rule.to_string();
    assert!(
        text.contains("field number 3 was `confidence` and is now `modelVersion`"),
        "{text}"
    );
    assert!(
        found[1]
            .rule
            .to_string()
            .contains("changed type from `double` to `string`"),
        "{}",
        found[1].rule
    );
}

#[test]
fn renumbered_or_added_or_removed_fields_are_not_reuse() {
    let old = message(
        "old.proto",
        vec![
            numbered(field("model", Type::String), 1),
            numbered(field("confidence", Type::Double), 2),
        ],
        vec![],
    );
    let new = message(
        "new.proto",
        vec![
            numbered(field("model", Type::String), 1),
            numbered(field("findings", array(Type::String)), 4),
        ],
        vec![],
    );
    assert!(wire_breaks(old.view(), new.view()).is_empty());
}

#[test]
fn nested_messages_are_compared_by_number() {
    let finding = |file: &str, ty: Type| {
        NamedType::Record(record_in(
            file,
            "Finding",
            NS,
            vec![numbered(field("severity", ty), 1)],
        ))
    };
    let old = message(
        "old.proto",
        vec![numbered(field("findings", array(named("Finding"))), 4)],
        vec![finding("old.proto", Type::Int)],
    );
    let new = message(
        "new.proto",
        vec![numbered(field("findings", array(named("Finding"))), 4)],
        vec![finding("new.proto", Type::Float)],
    );
    let found = wire_breaks(old.view(), new.view());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "AnalysisCompleted.findings.severity");
    assert_eq!(found[0].rule.code(), "field-number-type-changed");
}

#[test]
fn enum_value_numbers_are_stable() {
    let status = |file: &str, values: &[(&str, i32)]| {
        message(
            file,
            vec![numbered(field("status", named("Status")), 2)],
            vec![numbered_enum("Status", values, None)],
        )
    };
    let old = status("old.proto", &[("STATUS_UNSPECIFIED", 0), ("DONE", 1)]);
    let added = status(
        "new.proto",
        &[("STATUS_UNSPECIFIED", 0), ("DONE", 1), ("FAILED", 2)],
    );
    assert!(wire_breaks(old.view(), added.view()).is_empty());

    let renumbered = status("new.proto", &[("STATUS_UNSPECIFIED", 0), ("DONE", 2)]);
    let found = wire_breaks(old.view(), renumbered.view());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.code(), "enum-value-number-changed");
    assert!(
        found[0]
            .rule
            .to_string()
            .contains("`Status.DONE` changed number from 1 to 2")
    );

    let reused = status("new.proto", &[("STATUS_UNSPECIFIED", 0), ("FAILED", 1)]);
    let found = wire_breaks(old.view(), reused.view());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.code(), "enum-value-number-reused");

    // An enum and an int32 share the varint encoding.
    let as_int = one("new.proto", "status", 2, Type::Int);
    assert!(wire_breaks(old.view(), as_int.view()).is_empty());
}

/// A number used two revisions ago and reused now is caught even in a non-transitive mode:
/// wire rules are checked against every previous revision.
#[test]
fn number_reuse_is_checked_against_all_previous_revisions() {
    let r1 = message(
        "r1.proto",
        vec![
            numbered(field("model", Type::String), 1),
            numbered(field("confidence", Type::Double), 2),
        ],
        vec![],
    );
    let r2 = message(
        "r2.proto",
        vec![numbered(field("model", Type::String), 1)],
        vec![],
    );
    let r3 = message(
        "r3.proto",
        vec![
            numbered(field("model", Type::String), 1),
            numbered(field("summary", Type::String), 2),
        ],
        vec![],
    );
    for mode in [
        Compatibility::Backward,
        Compatibility::Forward,
        Compatibility::FullTransitive,
    ] {
        let found = check_mode(
            SchemaFormat::Protobuf,
            mode,
            r3.view(),
            &[r1.view(), r2.view()],
        );
        let got: Vec<(&str, usize)> = found
            .iter()
            .map(|f| (f.incompatibility.rule.code(), f.against))
            .collect();
        assert_eq!(
            got,
            [("field-number-reused", 0), ("field-number-type-changed", 0)],
            "{}",
            mode.as_str()
        );
        assert_eq!(found[0].source().file, "r3.proto");
    }
    assert!(
        check_mode(
            SchemaFormat::Protobuf,
            Compatibility::None,
            r3.view(),
            &[r1.view(), r2.view()]
        )
        .is_empty()
    );
}
