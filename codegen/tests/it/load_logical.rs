//! Avro `logicalType` annotations in, IR types and `ignored-logical-type` warnings out: every logical type of the specification, invalid and unknown ones ignored (the underlying type used, a located warning) as the specification says and as apache-avro reads them, field-level `logicalType` accepted when harmless and reported when it would change meaning.

use apache_avro::Schema;
use carebus_codegen::Diagnostic;
use carebus_codegen::DiagnosticKind;
use carebus_codegen::ir::{FixedLogical, NamedType, Type};
use carebus_codegen::load::load_avro_sources_with_warnings;

/// A record `R` with one field `f` of type `ty` (JSON text) plus `extra` members on the field.
fn record(ty: &str, extra: &str) -> String {
    format!(
        "{{\"type\": \"record\", \"name\": \"R\", \"namespace\": \"t\",\n  \"fields\": [{{\"name\": \"f\", \"type\": {ty}{extra}}}]}}"
    )
}

/// The field's IR type and the warnings, for a schema that must load.
fn load(src: &str) -> (Type, Vec<Diagnostic>) {
    let (model, warnings) = load_avro_sources_with_warnings(&[("r.avsc", src)])
        .unwrap_or_else(|d| panic!("{src} does not load:\n{d}"));
    let Some(NamedType::Record(r)) = model.types.iter().find(|t| t.full_name() == "t.R") else {
        panic!("no record in {src}");
    };
    (r.fields[0].ty.clone(), warnings)
}

/// apache-avro's schema of field `f`.
fn apache_field(src: &str) -> Schema {
    match Schema::parse_str(src).unwrap_or_else(|e| panic!("apache-avro rejects {src}: {e}")) {
        Schema::Record(r) => r.fields[0].schema.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_logical_type_of_the_specification_is_its_own_type_as_apache_avro_reads_it() {
    let cases = [
        (
            r#"{"type": "string", "logicalType": "uuid"}"#,
            Type::Uuid,
            Schema::Uuid(apache_avro::schema::UuidSchema::String),
        ),
        (
            r#"{"type": "int", "logicalType": "date"}"#,
            Type::Date,
            Schema::Date,
        ),
        (
            r#"{"type": "int", "logicalType": "time-millis"}"#,
            Type::TimeMillis,
            Schema::TimeMillis,
        ),
        (
            r#"{"type": "long", "logicalType": "time-micros"}"#,
            Type::TimeMicros,
            Schema::TimeMicros,
        ),
        (
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            Type::TimestampMillis,
            Schema::TimestampMillis,
        ),
        (
            r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
            Type::TimestampMicros,
            Schema::TimestampMicros,
        ),
        (
            r#"{"type": "long", "logicalType": "timestamp-nanos"}"#,
            Type::TimestampNanos,
            Schema::TimestampNanos,
        ),
        (
            r#"{"type": "long", "logicalType": "local-timestamp-millis"}"#,
            Type::LocalTimestampMillis,
            Schema::LocalTimestampMillis,
        ),
        (
            r#"{"type": "long", "logicalType": "local-timestamp-micros"}"#,
            Type::LocalTimestampMicros,
            Schema::LocalTimestampMicros,
        ),
        (
            r#"{"type": "long", "logicalType": "local-timestamp-nanos"}"#,
            Type::LocalTimestampNanos,
            Schema::LocalTimestampNanos,
        ),
        (
            r#"{"type": "bytes", "logicalType": "big-decimal"}"#,
            Type::BigDecimal,
            Schema::BigDecimal,
        ),
    ];
    for (ty, want, theirs) in cases {
        let src = record(ty, "");
        let (got, warnings) = load(&src);
        assert_eq!(got, want, "{ty}");
        assert!(warnings.is_empty(), "{ty}: {warnings:?}");
        assert_eq!(apache_field(&src), theirs, "{ty}");
    }
    let (got, warnings) = load(&record(
        r#"{"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 38}"#,
        "",
    ));
    assert_eq!(
        got,
        Type::Decimal {
            precision: 38,
            scale: 38
        }
    );
    assert!(warnings.is_empty());
    let (got, _) = load(&record(
        r#"{"type": "bytes", "logicalType": "decimal", "precision": 5}"#,
        "",
    ));
    assert_eq!(
        got,
        Type::Decimal {
            precision: 5,
            scale: 0
        },
        "scale defaults to 0"
    );
}

/// One warning, of kind `ignored-logical-type`, at `line:column` of `r.avsc`, whose message
/// contains `says`.
fn warned(warnings: &[Diagnostic], line: u32, column: u32, says: &str) {
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let w = &warnings[0];
    assert_eq!(w.kind, DiagnosticKind::IgnoredLogicalType);
    assert!(w.kind.is_warning());
    assert_eq!(
        (w.source.file.as_str(), w.source.line, w.source.column),
        ("r.avsc", line, column),
        "{w}"
    );
    assert!(w.message.contains(says), "{w}");
    assert!(w.help.is_some(), "{w}");
}

#[test]
fn invalid_and_unknown_logical_types_are_ignored_with_a_located_warning_as_apache_avro_ignores_them()
 {
    // (type, the underlying type carebus uses, apache-avro's reading, what the warning says)
    let cases = [
        (
            r#"{"type": "string", "logicalType": "date"}"#,
            Type::String,
            Some(Schema::String),
            "annotates int, not `string`",
        ),
        (
            r#"{"type": "long", "logicalType": "time-millis"}"#,
            Type::Long,
            Some(Schema::Long),
            "annotates int, not `long`",
        ),
        (
            r#"{"type": "int", "logicalType": "timestamp-millis"}"#,
            Type::Int,
            Some(Schema::Int),
            "annotates long, not `int`",
        ),
        (
            r#"{"type": "string", "logicalType": "wallclock"}"#,
            Type::String,
            Some(Schema::String),
            "unknown logical type `wallclock`",
        ),
        (
            r#"{"type": "int", "logicalType": "dat"}"#,
            Type::Int,
            Some(Schema::Int),
            "unknown logical type `dat`",
        ),
        (
            r#"{"type": "long", "logicalType": 7}"#,
            Type::Long,
            None,
            "must be a string",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 0}"#,
            Type::Bytes,
            None,
            "precision 0 is invalid",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": -3}"#,
            Type::Bytes,
            None,
            "precision -3 is invalid",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 6}"#,
            Type::Bytes,
            None,
            "from 0 to the precision (4)",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": -1}"#,
            Type::Bytes,
            None,
            "from 0 to the precision (4)",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": "4"}"#,
            Type::Bytes,
            None,
            "must be a whole number",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal"}"#,
            Type::Bytes,
            None,
            "without `precision`",
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 39}"#,
            Type::Bytes,
            None,
            "more than the 38 digits",
        ),
        (
            r#"{"type": "string", "logicalType": "big-decimal"}"#,
            Type::String,
            Some(Schema::String),
            "logical type `big-decimal` annotates bytes, not `string`",
        ),
        (
            r#"{"type": "bytes", "logicalType": "big-decimal", "scale": 2}"#,
            Type::BigDecimal,
            None,
            "`scale` has no meaning on a `big-decimal`",
        ),
        (
            r#"{"type": "string", "logicalType": "uuid", "precision": 3}"#,
            Type::Uuid,
            None,
            "`precision` has no meaning",
        ),
    ];
    for (ty, want, theirs, says) in cases {
        let src = record(ty, "");
        let (got, warnings) = load(&src);
        assert_eq!(got, want, "{ty}");
        // The warning points at the value of `logicalType` (or the offending member), on line 2.
        assert_eq!(warnings.len(), 1, "{ty}: {warnings:#?}");
        let col = warnings[0].source.column;
        warned(&warnings, 2, col, says);
        let at = &src.lines().nth(1).unwrap()[col as usize - 1..];
        assert!(
            at.starts_with('"') || at.starts_with(|c: char| c.is_ascii_digit() || c == '-'),
            "{ty}: points at {at}"
        );
        if let Some(theirs) = theirs {
            assert_eq!(apache_field(&src), theirs, "apache-avro also ignores {ty}");
        }
    }
}

#[test]
fn an_invalid_decimal_warning_renders_with_its_line_and_caret() {
    let src = record(
        r#"{"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 6}"#,
        "",
    );
    let (_, warnings) = load(&src);
    let text = warnings[0].render(Some(&src));
    assert!(
        text.starts_with("warning[ignored-logical-type]: decimal `scale` must be a whole number from 0 to the precision (4); the logical type is ignored, the type is `bytes`\n --> r.avsc:2:"),
        "{text}"
    );
    assert!(text.contains("^\n"), "{text}");
}

/// The logical type a fixed named `name` was loaded with, and the warnings.
fn load_fixed(ty: &str) -> (Option<FixedLogical>, Vec<Diagnostic>) {
    let src = record(ty, "");
    let (model, warnings) = load_avro_sources_with_warnings(&[("r.avsc", &src)])
        .unwrap_or_else(|d| panic!("{src} does not load:\n{d}"));
    let fixed = model.types.iter().find_map(|t| match t {
        NamedType::Fixed(f) => Some(f.logical),
        _ => None,
    });
    (fixed.expect("a fixed"), warnings)
}

#[test]
fn logical_types_on_fixed_are_kept_when_valid() {
    let cases = [
        (
            r#"{"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"}"#,
            FixedLogical::Duration,
        ),
        (
            r#"{"type": "fixed", "name": "U", "size": 16, "logicalType": "uuid"}"#,
            FixedLogical::Uuid,
        ),
        (
            r#"{"type": "fixed", "name": "M", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 2}"#,
            FixedLogical::Decimal {
                precision: 18,
                scale: 2,
            },
        ),
        // 20 bytes hold 47 digits; carebus's Decimal holds 38, which is the limit here.
        (
            r#"{"type": "fixed", "name": "W", "size": 20, "logicalType": "decimal", "precision": 38}"#,
            FixedLogical::Decimal {
                precision: 38,
                scale: 0,
            },
        ),
    ];
    for (ty, want) in cases {
        let (got, warnings) = load_fixed(ty);
        assert_eq!(got, Some(want), "{ty}");
        assert!(warnings.is_empty(), "{ty}: {warnings:#?}");
    }
}

#[test]
fn invalid_logical_types_on_fixed_are_the_plain_fixed_with_a_warning() {
    let cases = [
        (
            r#"{"type": "fixed", "name": "D", "size": 10, "logicalType": "duration"}"#,
            "needs a fixed of size 12, not 10",
        ),
        (
            r#"{"type": "fixed", "name": "U", "size": 15, "logicalType": "uuid"}"#,
            "needs a fixed of size 16, not 15",
        ),
        (
            r#"{"type": "fixed", "name": "D", "size": 4, "logicalType": "date"}"#,
            "annotates int, not `fixed`",
        ),
        // floor(log10(2^31 - 1)) = 9 digits in 4 bytes.
        (
            r#"{"type": "fixed", "name": "M", "size": 4, "logicalType": "decimal", "precision": 10}"#,
            "does not fit a fixed of 4 bytes (at most 9 digits)",
        ),
        (
            r#"{"type": "fixed", "name": "M", "size": 32, "logicalType": "decimal", "precision": 40}"#,
            "more than the 38 digits",
        ),
    ];
    for (ty, says) in cases {
        let (got, warnings) = load_fixed(ty);
        assert_eq!(got, None, "{ty}");
        assert_eq!(warnings.len(), 1, "{ty}: {warnings:#?}");
        assert_eq!(warnings[0].kind, DiagnosticKind::IgnoredLogicalType);
        assert!(warnings[0].message.contains(says), "{ty}: {}", warnings[0]);
    }
}

#[test]
fn field_level_logical_type_is_accepted_when_harmless_and_reported_when_it_changes_meaning() {
    // The same logical type as the field's type (or its optional inner type): harmless.
    for (ty, extra) in [
        (
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            r#", "logicalType": "timestamp-millis""#,
        ),
        (
            r#"["null", {"type": "int", "logicalType": "date"}]"#,
            r#", "logicalType": "date", "default": null"#,
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}"#,
            r#", "logicalType": "decimal", "precision": 6, "scale": 2"#,
        ),
    ] {
        let (_, warnings) = load(&record(ty, extra));
        assert!(warnings.is_empty(), "{ty} {extra}: {warnings:#?}");
    }
    // On a plain type: Avro ignores it, the field stays a `long`; reported.
    let src = record(r#""long""#, r#", "logicalType": "timestamp-millis""#);
    let (got, warnings) = load(&src);
    assert_eq!(got, Type::Long);
    warned(
        &warnings,
        2,
        59,
        "`logicalType` `timestamp-millis` on field `f` is ignored (the field's type is `long`)",
    );
    assert!(
        warnings[0]
            .help
            .as_deref()
            .unwrap()
            .contains("{\"type\": {\"type\": <long>, \"logicalType\": \"timestamp-millis\"}}")
    );
    assert_eq!(
        apache_field(&src),
        Schema::Long,
        "apache-avro reads the field as a long too"
    );
    // A different logical type than the type's, or different decimal parameters: reported.
    for (ty, extra) in [
        (
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            r#", "logicalType": "timestamp-micros""#,
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}"#,
            r#", "logicalType": "decimal", "precision": 6, "scale": 3"#,
        ),
        (r#""string""#, r#", "logicalType": "tz""#),
        (r#""bytes""#, r#", "precision": 4"#),
    ] {
        let (_, warnings) = load(&record(ty, extra));
        assert_eq!(warnings.len(), 1, "{ty} {extra}: {warnings:#?}");
        assert_eq!(warnings[0].kind, DiagnosticKind::IgnoredLogicalType);
    }
}

#[test]
fn a_union_holds_a_logical_type_and_its_underlying_type_only_once() {
    // The specification: a union may not contain two schemas of the same type; `date` is an
    // `int`, and Avro's JSON encoding would name both branches "int".
    for branches in [
        r#"["int", {"type": "int", "logicalType": "date"}]"#,
        r#"[{"type": "long", "logicalType": "timestamp-nanos"}, {"type": "long", "logicalType": "local-timestamp-nanos"}]"#,
    ] {
        let src = record(branches, "");
        let d = load_avro_sources_with_warnings(&[("r.avsc", &src)]).unwrap_err();
        let kinds: Vec<DiagnosticKind> = d.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [DiagnosticKind::DuplicateName], "{branches}");
    }
    let (ty, _) = load(&record(
        r#"["null", "int", {"type": "long", "logicalType": "time-micros"}]"#,
        "",
    ));
    assert!(matches!(ty, Type::Union { branches } if branches.len() == 3));
}

#[test]
fn warnings_do_not_stop_the_load_but_errors_still_do() {
    let src = r#"{"type": "record", "name": "R", "namespace": "t", "fields": [
        {"name": "a", "type": {"type": "string", "logicalType": "date"}},
        {"name": "b", "type": "strnig"}
    ]}"#;
    let d = load_avro_sources_with_warnings(&[("r.avsc", src)]).unwrap_err();
    let kinds: Vec<DiagnosticKind> = d.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DiagnosticKind::IgnoredLogicalType,
            DiagnosticKind::UnknownType
        ]
    );
}

#[test]
fn the_logical_fixture_loads_without_warnings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logical");
    let text = std::fs::read_to_string(dir.join("device_reading.avsc")).unwrap();
    let (model, warnings) =
        load_avro_sources_with_warnings(&[("device_reading.avsc", &text)]).unwrap();
    assert!(warnings.is_empty(), "{warnings:#?}");
    let Some(NamedType::Record(r)) = model.types.first() else {
        panic!()
    };
    let ty = |n: &str| {
        r.fields
            .iter()
            .find(|f| f.name == n)
            .unwrap()
            .ty
            .to_string()
    };
    assert_eq!(ty("doseTime"), "time-millis");
    assert_eq!(ty("wardClockNanos"), "local-timestamp-nanos");
    assert_eq!(ty("syncedAt"), "timestamp-nanos");
    // apache-avro parses the fixture too (the generated code is cross-checked against it in
    // carebus-tests' generated_logical).
    Schema::parse_str(&text).unwrap();
}

#[test]
fn a_big_decimal_default_must_be_its_bytes() {
    // 0 at scale 0: the unscaled integer [0x00] as bytes (length 1, zig-zag 2), then scale 0.
    let (got, warnings) = load(&record(
        r#"{"type": "bytes", "logicalType": "big-decimal"}"#,
        r#", "default": "\u0002\u0000\u0000""#,
    ));
    assert_eq!(got, Type::BigDecimal);
    assert!(warnings.is_empty(), "{warnings:#?}");
    // Decimal text, or bytes with something after the scale, are not a big-decimal's bytes.
    for default in [r#""0.5""#, r#""\u0002\u0000\u0000\u0000""#, "0"] {
        let src = record(
            r#"{"type": "bytes", "logicalType": "big-decimal"}"#,
            &format!(r#", "default": {default}"#),
        );
        let errors = load_avro_sources_with_warnings(&[("r.avsc", src.as_str())])
            .err()
            .unwrap_or_else(|| panic!("{default} loads"));
        assert!(
            errors.to_string().contains("big-decimal needs its bytes"),
            "{errors}"
        );
    }
}
