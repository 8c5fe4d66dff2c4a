//! Every pair of a list of Avro field types, as real `.avsc` text, through both our checker and apache-avro's `SchemaCompatibility`: the verdicts must agree (apache-avro's "partial" counts as incompatible).
//!
//! One known divergence, where we follow the specification: apache-avro 0.22's checker
//! ignores a reader record's `aliases` ("Aliases function by re-writing the writer's schema
//! using aliases from the reader's schema"; Java's `SchemaCompatibility` honours them too).

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use carebus_codegen::check::compat::can_read;
use carebus_codegen::history::Snapshot;
use carebus_codegen::load::load_avro_sources;

/// Field types written as Avro JSON; named types are defined inline.
const TYPES: &[&str] = &[
    r#""null""#,
    r#""boolean""#,
    r#""int""#,
    r#""long""#,
    r#""float""#,
    r#""double""#,
    r#""bytes""#,
    r#""string""#,
    r#"{"type": "array", "items": "int"}"#,
    r#"{"type": "array", "items": "long"}"#,
    r#"{"type": "array", "items": "string"}"#,
    r#"{"type": "map", "values": "string"}"#,
    r#"{"type": "map", "values": "bytes"}"#,
    r#"{"type": "map", "values": "double"}"#,
    r#"["null", "string"]"#,
    r#"["string", "null"]"#,
    r#"["null", "int"]"#,
    r#"["null", "long"]"#,
    r#"["null", "string", "int"]"#,
    r#"["int", "string"]"#,
    r#"{"type": "enum", "name": "Status", "symbols": ["ACTIVE", "INACTIVE"]}"#,
    r#"{"type": "enum", "name": "Status", "symbols": ["ACTIVE", "INACTIVE", "MERGED"]}"#,
    r#"{"type": "enum", "name": "Status", "symbols": ["ACTIVE", "UNKNOWN"], "default": "UNKNOWN"}"#,
    r#"{"type": "enum", "name": "State", "symbols": ["ACTIVE", "INACTIVE"]}"#,
    r#"{"type": "fixed", "name": "Hash", "size": 16}"#,
    r#"{"type": "fixed", "name": "Hash", "size": 32}"#,
    r#"{"type": "fixed", "name": "Digest", "size": 16}"#,
    r#"{"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}"#,
    r#"{"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}, {"name": "postalCode", "type": "string"}]}"#,
    r#"{"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}, {"name": "postalCode", "type": ["null", "string"], "default": null}]}"#,
    r#"{"type": "record", "name": "Address", "fields": [{"name": "town", "type": "string", "aliases": ["city"]}]}"#,
    r#"{"type": "record", "name": "PostalAddress", "aliases": ["Address"], "fields": [{"name": "city", "type": "bytes"}]}"#,
    r#"{"type": "record", "name": "Place", "fields": [{"name": "city", "type": "string"}]}"#,
    r#"["null", {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}]"#,
    r#"{"type": "array", "items": ["null", "string"]}"#,
    r#"{"type": "map", "values": ["null", "long"]}"#,
    r#"["null", {"type": "array", "items": "int"}]"#,
    r#"["long", "int"]"#,
    r#"["null", "float", "string"]"#,
    r#"{"type": "array", "items": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}, {"name": "use", "type": {"type": "enum", "name": "AddressUse", "symbols": ["HOME", "WORK"]}}]}}"#,
    r#"{"type": "array", "items": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}, {"name": "use", "type": {"type": "enum", "name": "AddressUse", "symbols": ["HOME"]}}]}}"#,
];

fn avsc(ty: &str) -> String {
    format!(
        r#"{{"type": "record", "name": "PatientCreated", "namespace": "healthcare.patient",
  "topic": "healthcare.patients.events", "aggregate_type": "Patient", "aggregate_id": "patientId",
  "fields": [{{"name": "patientId", "type": "string"}}, {{"name": "value", "type": {ty}}}]}}"#
    )
}

fn ours(text: &str) -> Snapshot {
    let model = load_avro_sources(&[("schemas/avro/patient/patient_created.avsc", text)])
        .unwrap_or_else(|d| panic!("{d}\n{text}"));
    let event = &model.events[0];
    Snapshot::of(event, &model)
}

#[test]
fn verdicts_agree_with_apache_avro_on_every_pair() {
    let schemas: Vec<(String, Snapshot, apache_avro::Schema)> = TYPES
        .iter()
        .map(|ty| {
            let text = avsc(ty);
            let theirs = apache_avro::Schema::parse_str(&text).unwrap();
            (ty.to_string(), ours(&text), theirs)
        })
        .collect();
    let mut disagreements = Vec::new();
    let mut compatible_pairs = 0;
    let mut alias_divergences = 0;
    for (wt, w, w_avro) in &schemas {
        for (rt, r, r_avro) in &schemas {
            let found = can_read(w.view(), r.view());
            let theirs = matches!(
                SchemaCompatibility::can_read(w_avro, r_avro),
                Ok(Compatibility::Full)
            );
            compatible_pairs += usize::from(found.is_empty());
            let reader_alias = rt.contains(r#""aliases": ["Address"]"#) && wt.contains("Address");
            if found.is_empty() != theirs && reader_alias && found.is_empty() {
                alias_divergences += 1;
            } else if found.is_empty() != theirs {
                disagreements.push(format!(
                    "writer {wt}\nreader {rt}\n  ours: {found:?}\n  apache-avro: {:?}",
                    SchemaCompatibility::can_read(w_avro, r_avro)
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree:\n{}",
        disagreements.len(),
        schemas.len() * schemas.len(),
        disagreements.join("\n")
    );
    assert!(
        alias_divergences > 0,
        "the alias rows no longer exercise the divergence"
    );
    // The list is not trivially one-sided.
    assert!(compatible_pairs > schemas.len() && compatible_pairs < schemas.len().pow(2) / 2);
}

const LOGICAL: &[&str] = &[
    r#""int""#,
    r#""long""#,
    r#""string""#,
    r#""bytes""#,
    r#"{"type": "int", "logicalType": "date"}"#,
    r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
    r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
    r#"{"type": "string", "logicalType": "uuid"}"#,
    r#"{"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}"#,
    r#"{"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}"#,
];

/// Logical types: the verdicts differ from apache-avro only where carebus is stricter on
/// purpose (a reader adding or changing a logical type), never the other way round.
#[test]
fn logical_types_differ_only_where_carebus_is_stricter() {
    let mut looser = Vec::new();
    let mut stricter = Vec::new();
    for wt in LOGICAL {
        for rt in LOGICAL {
            let (w, r) = (avsc(wt), avsc(rt));
            let found = can_read(ours(&w).view(), ours(&r).view());
            let theirs = matches!(
                SchemaCompatibility::can_read(
                    &apache_avro::Schema::parse_str(&w).unwrap(),
                    &apache_avro::Schema::parse_str(&r).unwrap()
                ),
                Ok(Compatibility::Full)
            );
            match (found.is_empty(), theirs) {
                (true, false) => looser.push(format!("{wt} → {rt}")),
                (false, true) => {
                    let codes: Vec<&str> = found.iter().map(|i| i.rule.code()).collect();
                    assert_eq!(codes, ["logical-type-changed"], "{wt} → {rt}");
                    stricter.push(format!("{wt} → {rt}"));
                }
                _ => {}
            }
        }
    }
    // e.g. long → timestamp-micros, timestamp-millis → timestamp-micros, string → uuid.
    assert!(stricter.len() >= 3, "{stricter:?}");
    assert!(
        looser.is_empty(),
        "looser than apache-avro:\n{}",
        looser.join("\n")
    );
}
