//! Avro schema-resolution rules, one table row per rule: writer and reader schemas in, the broken rule (or none) and its path out.

use crate::compat_support::*;
use carebus_codegen::check::compat::can_read;
use carebus_codegen::history::Snapshot;
use carebus_codegen::ir::{NamedType, Type};
use serde_json::json;

struct Row {
    name: &'static str,
    writer: Snapshot,
    reader: Snapshot,
    /// `None` = compatible; else (rule code, path).
    expect: Option<(&'static str, &'static str)>,
}

fn row(
    name: &'static str,
    writer: Snapshot,
    reader: Snapshot,
    expect: Option<(&'static str, &'static str)>,
) -> Row {
    Row {
        name,
        writer,
        reader,
        expect,
    }
}

/// A type change of the single field `value`, no named types.
fn change(name: &'static str, w: Type, r: Type, expect: Option<&'static str>) -> Row {
    change_with(name, w, vec![], r, vec![], expect)
}

fn change_with(
    name: &'static str,
    w: Type,
    wt: Vec<NamedType>,
    r: Type,
    rt: Vec<NamedType>,
    expect: Option<&'static str>,
) -> Row {
    let path = match (&w, &r) {
        (Type::Array { .. }, Type::Array { .. }) => "PatientCreated.value[]",
        (Type::Map { .. }, Type::Map { .. }) => "PatientCreated.value{}",
        _ => "PatientCreated.value",
    };
    row(
        name,
        one_field("old.avsc", w, wt),
        one_field("new.avsc", r, rt),
        expect.map(|code| (code, path)),
    )
}

const PROMOTE: Option<&str> = None;
const NOT_PROMOTABLE: Option<&str> = Some("type-not-promotable");
const LOGICAL: Option<&str> = Some("logical-type-changed");

fn promotion_rows() -> Vec<Row> {
    use Type::*;
    vec![
        change("int → long", Int, Long, PROMOTE),
        change("int → float", Int, Float, PROMOTE),
        change("int → double", Int, Double, PROMOTE),
        change("long → float", Long, Float, PROMOTE),
        change("long → double", Long, Double, PROMOTE),
        change("float → double", Float, Double, PROMOTE),
        change("string → bytes", String, Bytes, PROMOTE),
        change("bytes → string", Bytes, String, PROMOTE),
        change("same type", Boolean, Boolean, PROMOTE),
        change("long → int narrows", Long, Int, NOT_PROMOTABLE),
        change("double → float narrows", Double, Float, NOT_PROMOTABLE),
        change("float → long", Float, Long, NOT_PROMOTABLE),
        change("double → long", Double, Long, NOT_PROMOTABLE),
        change("int → string", Int, String, NOT_PROMOTABLE),
        change("string → int", String, Int, NOT_PROMOTABLE),
        change("boolean → int", Boolean, Int, NOT_PROMOTABLE),
        change("int → boolean", Int, Boolean, NOT_PROMOTABLE),
        change("null → string", Null, String, NOT_PROMOTABLE),
        change("string → array", String, array(String), NOT_PROMOTABLE),
        change("array → map", array(String), map(String), NOT_PROMOTABLE),
    ]
}

fn logical_rows() -> Vec<Row> {
    use Type::*;
    let dec = |precision, scale| Decimal { precision, scale };
    vec![
        change(
            "uuid → string drops the logical type",
            Uuid,
            String,
            PROMOTE,
        ),
        change("date → int drops the logical type", Date, Int, PROMOTE),
        change("date → long drops and promotes", Date, Long, PROMOTE),
        change("timestamp-micros → long", TimestampMicros, Long, PROMOTE),
        change("decimal → bytes", dec(10, 2), Bytes, PROMOTE),
        change("same decimal", dec(10, 2), dec(10, 2), PROMOTE),
        change("string → uuid adds one", String, Uuid, LOGICAL),
        change("int → date adds one", Int, Date, LOGICAL),
        change(
            "timestamp-millis → timestamp-micros",
            TimestampMillis,
            TimestampMicros,
            LOGICAL,
        ),
        change("date → timestamp-millis", Date, TimestampMillis, LOGICAL),
        change("decimal scale change", dec(10, 2), dec(10, 4), LOGICAL),
        change("uuid → int", Uuid, Int, NOT_PROMOTABLE),
        change("time-millis → int drops one", TimeMillis, Int, PROMOTE),
        change("int → time-millis adds one", Int, TimeMillis, LOGICAL),
        change("date → time-millis", Date, TimeMillis, LOGICAL),
        change("time-micros → long", TimeMicros, Long, PROMOTE),
        change(
            "timestamp-micros → local-timestamp-micros (zone dropped)",
            TimestampMicros,
            LocalTimestampMicros,
            LOGICAL,
        ),
        change(
            "timestamp-nanos → timestamp-millis",
            TimestampNanos,
            TimestampMillis,
            LOGICAL,
        ),
        change(
            "local-timestamp-nanos → long",
            LocalTimestampNanos,
            Long,
            PROMOTE,
        ),
        change(
            "time-millis → long promotes the int",
            TimeMillis,
            Long,
            PROMOTE,
        ),
    ]
}

fn field_rows() -> Vec<Row> {
    let base = || vec![field("patientId", Type::Uuid)];
    let plus = |f| {
        let mut v = base();
        v.push(f);
        v
    };
    let s = |file, fields| snapshot(event_record(file, fields), vec![]);
    vec![
        row(
            "field added with default",
            s("old.avsc", base()),
            s(
                "new.avsc",
                plus(with_default(
                    field("mrn", optional(Type::String)),
                    json!(null),
                )),
            ),
            None,
        ),
        row(
            "field added without default",
            s("old.avsc", base()),
            s("new.avsc", plus(field("mrn", Type::String))),
            Some(("field-without-default", "PatientCreated.mrn")),
        ),
        row(
            "field removed (writer field ignored)",
            s("old.avsc", plus(field("mrn", Type::String))),
            s("new.avsc", base()),
            None,
        ),
        row(
            "field order is irrelevant",
            s(
                "old.avsc",
                vec![field("a", Type::Int), field("b", Type::String)],
            ),
            s(
                "new.avsc",
                vec![field("b", Type::String), field("a", Type::Int)],
            ),
            None,
        ),
        row(
            "rename with a reader field alias",
            s("old.avsc", vec![field("zip", Type::String)]),
            s(
                "new.avsc",
                vec![with_aliases(field("postalCode", Type::String), &["zip"])],
            ),
            None,
        ),
        row(
            "rename without alias",
            s("old.avsc", vec![field("zip", Type::String)]),
            s("new.avsc", vec![field("postalCode", Type::String)]),
            Some(("field-without-default", "PatientCreated.postalCode")),
        ),
        row(
            "writer aliases are not used",
            s(
                "old.avsc",
                vec![with_aliases(field("zip", Type::String), &["postalCode"])],
            ),
            s("new.avsc", vec![field("postalCode", Type::String)]),
            Some(("field-without-default", "PatientCreated.postalCode")),
        ),
        row(
            "aliases are not transitive",
            s("old.avsc", vec![field("a", Type::String)]),
            s(
                "new.avsc",
                vec![with_aliases(field("c", Type::String), &["b"])],
            ),
            Some(("field-without-default", "PatientCreated.c")),
        ),
        row(
            "aliased field still type-checked",
            s("old.avsc", vec![field("zip", Type::Long)]),
            s(
                "new.avsc",
                vec![with_aliases(field("postalCode", Type::Int), &["zip"])],
            ),
            Some(("type-not-promotable", "PatientCreated.postalCode")),
        ),
    ]
}

fn named_rows() -> Vec<Row> {
    let status = |symbols: &[&str], default| enumeration("Status", symbols, default);
    let address = |file, fields| shared_record(file, "Address", fields);
    let postal = || vec![field("city", Type::String)];
    let with_postal = |default: bool| {
        let f = field("postalCode", Type::String);
        let f = if default {
            with_default(f, json!(""))
        } else {
            f
        };
        vec![field("city", Type::String), f]
    };
    let ty = named;
    vec![
        change_with(
            "enum symbol added",
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE"], None)],
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE", "MERGED"], None)],
            None,
        ),
        change_with(
            "enum symbol removed without enum default",
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE", "MERGED"], None)],
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE"], None)],
            Some("enum-symbol-missing"),
        ),
        change_with(
            "enum symbol removed with enum default",
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE", "MERGED"], None)],
            ty("Status"),
            vec![status(&["ACTIVE", "INACTIVE"], Some("INACTIVE"))],
            None,
        ),
        change_with(
            "enum renamed",
            ty("Status"),
            vec![status(&["ACTIVE"], None)],
            ty("State"),
            vec![enumeration("State", &["ACTIVE"], None)],
            Some("name-changed"),
        ),
        change_with(
            "fixed same size",
            ty("Hash"),
            vec![fixed("Hash", 16)],
            ty("Hash"),
            vec![fixed("Hash", 16)],
            None,
        ),
        change_with(
            "fixed size change",
            ty("Hash"),
            vec![fixed("Hash", 16)],
            ty("Hash"),
            vec![fixed("Hash", 32)],
            Some("fixed-size-changed"),
        ),
        change_with(
            "fixed renamed",
            ty("Hash"),
            vec![fixed("Hash", 16)],
            ty("Digest"),
            vec![fixed("Digest", 16)],
            Some("name-changed"),
        ),
        change_with(
            "record renamed without alias",
            ty("Address"),
            vec![address("old.avsc", postal())],
            ty("PostalAddress"),
            vec![shared_record("new.avsc", "PostalAddress", postal())],
            Some("name-changed"),
        ),
        change_with(
            "record renamed with alias",
            ty("Address"),
            vec![address("old.avsc", postal())],
            ty("PostalAddress"),
            vec![aliased(
                shared_record("new.avsc", "PostalAddress", postal()),
                &["Address"],
            )],
            None,
        ),
        change_with(
            "record renamed with a qualified alias",
            ty("Address"),
            vec![address("old.avsc", postal())],
            ty("PostalAddress"),
            vec![aliased(
                shared_record("new.avsc", "PostalAddress", postal()),
                &["healthcare.common.Address"],
            )],
            None,
        ),
        change_with(
            "record and enum are different types",
            ty("Status"),
            vec![status(&["ACTIVE"], None)],
            ty("Address"),
            vec![address("new.avsc", postal())],
            NOT_PROMOTABLE,
        ),
        change_with(
            "undefined named type",
            ty("Status"),
            vec![],
            ty("Status"),
            vec![status(&["ACTIVE"], None)],
            Some("unknown-named-type"),
        ),
        row(
            "nested record gains a field with a default",
            one_field(
                "old.avsc",
                ty("Address"),
                vec![address("old.avsc", postal())],
            ),
            one_field(
                "new.avsc",
                ty("Address"),
                vec![address("new.avsc", with_postal(true))],
            ),
            None,
        ),
        row(
            "nested record gains a field without default",
            one_field(
                "old.avsc",
                ty("Address"),
                vec![address("old.avsc", postal())],
            ),
            one_field(
                "new.avsc",
                ty("Address"),
                vec![address("new.avsc", with_postal(false))],
            ),
            Some(("field-without-default", "PatientCreated.value.postalCode")),
        ),
        row(
            "nested record inside an optional array",
            one_field(
                "old.avsc",
                optional(array(ty("Address"))),
                vec![address("old.avsc", postal())],
            ),
            one_field(
                "new.avsc",
                optional(array(ty("Address"))),
                vec![address("new.avsc", with_postal(false))],
            ),
            Some(("field-without-default", "PatientCreated.value[].postalCode")),
        ),
    ]
}

fn container_and_union_rows() -> Vec<Row> {
    use Type::*;
    vec![
        change("array item promoted", array(Int), array(Long), None),
        change(
            "array item narrowed",
            array(Long),
            array(Int),
            NOT_PROMOTABLE,
        ),
        change("map value promoted", map(String), map(Bytes), None),
        change("map value changed", map(String), map(Int), NOT_PROMOTABLE),
        change("T → [null, T]", String, optional(String), None),
        change("T → [T, null]", String, union(vec![String, Null]), None),
        change(
            "[null, T] → T",
            optional(String),
            String,
            Some("union-branch-unreadable"),
        ),
        change(
            "union branch added",
            optional(String),
            union(vec![Null, String, Int]),
            None,
        ),
        change(
            "union branch removed",
            union(vec![Null, String, Int]),
            optional(String),
            Some("union-branch-unreadable"),
        ),
        change(
            "union branch order irrelevant",
            union(vec![Int, String]),
            union(vec![String, Int]),
            None,
        ),
        change(
            "int into [null, long] by promotion",
            Int,
            optional(Long),
            None,
        ),
        change(
            "int into [null, string] has no branch",
            Int,
            optional(String),
            Some("no-matching-union-branch"),
        ),
        change(
            "union branch promoted",
            optional(Int),
            optional(Double),
            None,
        ),
        change(
            "union branch narrowed",
            optional(Double),
            optional(Int),
            Some("union-branch-unreadable"),
        ),
        row(
            "[null, record] → [null, record] with the record changed",
            one_field(
                "old.avsc",
                optional(named("Address")),
                vec![shared_record("old.avsc", "Address", vec![])],
            ),
            one_field(
                "new.avsc",
                optional(named("Address")),
                vec![shared_record(
                    "new.avsc",
                    "Address",
                    vec![field("city", String)],
                )],
            ),
            Some(("field-without-default", "PatientCreated.value.city")),
        ),
    ]
}

#[test]
fn every_rule_row() {
    let rows: Vec<Row> = [
        promotion_rows(),
        logical_rows(),
        field_rows(),
        named_rows(),
        container_and_union_rows(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut failures = Vec::new();
    for r in &rows {
        let found = can_read(r.writer.view(), r.reader.view());
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|i| (i.rule.code(), i.path.as_str()))
            .collect();
        let ok = match r.expect {
            None => got.is_empty(),
            Some(e) => got == vec![e],
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                r.name, r.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn reports_the_offending_field_in_each_schema() {
    let old = snapshot(
        event_record("old.avsc", vec![field("a", Type::Int)]),
        vec![],
    );
    let new = snapshot(
        event_record(
            "new.avsc",
            vec![field("a", Type::Int), field("mrn", Type::String)],
        ),
        vec![],
    );
    let found = can_read(old.view(), new.view());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].reader_source.to_string(), "new.avsc:3:5");
    // The writer lacks the field: its record is the nearest node.
    assert_eq!(found[0].writer_source.to_string(), "old.avsc:1:1");
    assert_eq!(found[0].field(), "mrn");
    assert_eq!(
        found[0].to_string(),
        "`PatientCreated.mrn`: the reader's field `mrn` has no default and the writer's schema lacks it"
    );
}

#[test]
fn renamed_event_record_is_reported_unless_aliased() {
    let old = one_field("old.avsc", Type::Int, vec![]);
    let mut new = one_field("new.avsc", Type::Int, vec![]);
    new.record.name = "PatientRegistered".into();
    let found = can_read(old.view(), new.view());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.code(), "name-changed");
    new.record.aliases = vec!["PatientCreated".into()];
    assert!(can_read(old.view(), new.view()).is_empty());
}

#[test]
fn recursive_records_terminate() {
    let node = |file| {
        shared_record(
            file,
            "Node",
            vec![
                field("label", Type::String),
                with_default(field("children", array(named("Node"))), json!([])),
            ],
        )
    };
    let old = one_field("old.avsc", named("Node"), vec![node("old.avsc")]);
    let new = one_field("new.avsc", named("Node"), vec![node("new.avsc")]);
    assert!(can_read(old.view(), new.view()).is_empty());
    assert!(can_read(new.view(), old.view()).is_empty());
}

#[test]
fn enum_default_must_be_one_of_the_symbols() {
    let old = one_field(
        "old.avsc",
        named("Status"),
        vec![enumeration("Status", &["ACTIVE", "MERGED"], None)],
    );
    let new = one_field(
        "new.avsc",
        named("Status"),
        vec![enumeration("Status", &["ACTIVE"], Some("UNKNOWN"))],
    );
    let found = can_read(old.view(), new.view());
    assert_eq!(found.len(), 1);
    assert!(found[0].to_string().contains("`MERGED`"), "{}", found[0]);
}
