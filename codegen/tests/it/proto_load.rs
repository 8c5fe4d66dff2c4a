//! Protobuf fixtures in, IR events and named types checked field by field out.

use crate::proto_harness::*;

#[test]
fn loads_events_with_options_numbers_classification_docs_and_locations() {
    let out = load_fixture();
    let names: Vec<_> = out.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["AnalysisRequested", "AnalysisCompleted"]);

    let req = &out.events[0];
    assert_eq!(req.namespace, "healthcare.ai");
    assert_eq!(req.domain, "ai");
    assert_eq!(req.version, 2);
    assert_eq!(req.topic, "healthcare.ai.events");
    assert_eq!(req.aggregate_type, "Analysis");
    assert_eq!(req.aggregate_id, "analysis_id");
    assert_eq!(req.compatibility, Compatibility::Full);
    assert_eq!(req.format, SchemaFormat::Protobuf);
    assert_eq!(req.deprecated, None);
    assert_eq!(
        req.doc.as_deref(),
        Some("A clinician asked the AI service to analyse a study.")
    );
    assert!(
        req.source.file.ends_with("healthcare/ai/analysis.proto"),
        "{}",
        req.source
    );
    assert_eq!((req.source.line, req.source.column), (26, 1));
    assert!(req.schema_text.contains("message AnalysisRequested"));

    let f = |name: &str| {
        req.record
            .field(name)
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    assert_eq!(f("analysis_id").proto_number, Some(1));
    assert_eq!(f("analysis_id").ty, Type::String);
    assert_eq!(
        f("analysis_id").doc.as_deref(),
        Some("Id of this analysis.")
    );
    assert_eq!(
        f("analysis_id").examples,
        vec![serde_json::json!("4f1c2a8e-0000-4000-8000-000000000001")]
    );
    assert_eq!(
        (f("analysis_id").source.line, f("analysis_id").source.column),
        (34, 3)
    );
    assert_eq!(f("patient_id").classification, Classification::Phi);
    assert_eq!(f("analysis_id").classification, Classification::None);
    assert_eq!(f("kind").ty, named("healthcare.ai.AnalysisKind"));
    assert_eq!(f("requested_at").ty, Type::TimestampMicros);
    assert_eq!(f("note").ty, optional(Type::String));
    assert_eq!(f("note").deprecated.as_deref(), Some("use notes"));
    assert_eq!(
        f("notes").ty,
        Type::Array {
            items: Box::new(Type::String)
        }
    );
    assert_eq!(
        f("labels").ty,
        Type::Map {
            values: Box::new(Type::String)
        }
    );
    assert_eq!(
        f("priority").ty,
        Type::Proto {
            scalar: ProtoScalar::Uint32
        }
    );
    assert_eq!(
        f("offset").ty,
        Type::Proto {
            scalar: ProtoScalar::Sint64
        }
    );
    assert_eq!(
        f("checksum").ty,
        Type::Proto {
            scalar: ProtoScalar::Fixed64
        }
    );
    assert_eq!(f("study_size").ty, Type::Long);
    assert_eq!(f("attempt").ty, Type::Int);
    assert_eq!(f("thumbnail").ty, Type::Bytes);
    assert_eq!(f("urgent").ty, Type::Boolean);
    assert_eq!(f("score").ty, Type::Float);
    let numbers: Vec<_> = req
        .record
        .fields
        .iter()
        .map(|f| f.proto_number.unwrap())
        .collect();
    assert_eq!(numbers, (1..=15).collect::<Vec<u32>>());

    let done = &out.events[1];
    assert_eq!(done.version, 1, "event_version defaults to 1");
    assert_eq!(done.compatibility, Compatibility::BackwardTransitive);
    assert_eq!(done.deprecated.as_deref(), Some("use AnalysisFinished"));
    let g = |name: &str| done.record.field(name).unwrap();
    assert_eq!(
        g("findings").ty,
        Type::Array {
            items: Box::new(named("healthcare.ai.Finding"))
        }
    );
    assert_eq!(
        g("primary").ty,
        named("healthcare.ai.Finding"),
        "message fields are required"
    );
    assert_eq!(g("secondary").ty, optional(named("healthcare.ai.Finding")));
    assert_eq!(
        g("by_region").ty,
        Type::Map {
            values: Box::new(named("healthcare.ai.Finding"))
        }
    );
    assert_eq!(
        g("kinds").ty,
        Type::Array {
            items: Box::new(named("healthcare.ai.AnalysisKind"))
        }
    );
}

#[test]
fn other_messages_are_records_and_enums_are_open() {
    let out = load_fixture();
    let names: Vec<_> = out.types.iter().map(|t| t.full_name()).collect();
    assert_eq!(
        names,
        ["healthcare.ai.AnalysisKind", "healthcare.ai.Finding"]
    );
    let NamedType::Enum(kind) = &out.types[0] else {
        panic!("not an enum")
    };
    assert!(kind.open);
    assert_eq!(
        kind.doc.as_deref(),
        Some("What kind of analysis a model runs.")
    );
    let symbols: Vec<_> = kind
        .symbols
        .iter()
        .map(|s| (s.name.as_str(), s.number))
        .collect();
    assert_eq!(
        symbols,
        [
            ("ANALYSIS_KIND_UNSPECIFIED", 0),
            ("ANALYSIS_KIND_RADIOLOGY", 1),
            ("ANALYSIS_KIND_PATHOLOGY", 2)
        ]
    );
    assert_eq!(
        kind.symbols[1].doc.as_deref(),
        Some("Imaging: X-ray, CT, MRI.")
    );
    assert_eq!(kind.default.as_deref(), Some("ANALYSIS_KIND_UNSPECIFIED"));
    let NamedType::Record(finding) = &out.types[1] else {
        panic!("not a record")
    };
    assert_eq!(finding.namespace, "healthcare.ai");
    assert_eq!(
        finding.field("code").unwrap().doc.as_deref(),
        Some("SNOMED CT code of the finding.")
    );
    assert_eq!(finding.field("confidence").unwrap().ty, Type::Double);
}

#[test]
fn descriptor_set_holds_the_files_and_their_imports_dependencies_first() {
    let out = load_fixture();
    let names: Vec<_> = out.descriptors.file.iter().map(|f| f.name()).collect();
    assert_eq!(names.last(), Some(&"healthcare/ai/analysis.proto"));
    for import in [
        "carebus/options.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/descriptor.proto",
    ] {
        assert!(names.contains(&import), "{names:?}");
    }
    let analysis = out.descriptors.file.last().unwrap();
    assert!(
        analysis.source_code_info.is_some(),
        "docs reach prost-build"
    );
}

/// Load `text` as `healthcare/ai/scan.proto` and return the fingerprint and canonical form of
/// its event `Scanned`.
fn scanned(text: &str) -> (u64, String) {
    let dir = scratch_dir();
    let file = dir.join("healthcare/ai/scan.proto");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let out = load_proto(&[file], &[dir]).unwrap_or_else(|d| panic!("{}", d.render()));
    let e = out.events.iter().find(|e| e.name == "Scanned").unwrap();
    assert_eq!(
        e.fingerprint,
        carebus_codegen::fingerprint::crc64_avro(e.canonical_form.as_bytes())
    );
    (e.fingerprint, e.canonical_form.clone())
}

const SCANNED: &str = r#"syntax = "proto3";
package healthcare.ai;
import "carebus/options.proto";
// A study was scanned.
message Scanned {
  option (carebus.topic) = "healthcare.ai.events";
  option (carebus.aggregate_type) = "Scan";
  option (carebus.aggregate_id) = "scan_id";
  string scan_id = 1;
  Region region = 2;
  int32 slices = 3;
}
message Region { string code = 1; Side side = 2; }
enum Side { SIDE_UNSPECIFIED = 0; SIDE_LEFT = 1; }
"#;

#[test]
fn fingerprint_is_stable_and_follows_the_wire_format_only() {
    let (base, canonical) = scanned(SCANNED);
    assert_eq!(scanned(SCANNED).0, base, "same schema, same fingerprint");
    assert_eq!(
        canonical,
        "message healthcare.ai.Scanned{1 scan_id string;2 region message healthcare.ai.Region;3 slices int32}\n\
         message healthcare.ai.Region{1 code string;2 side enum healthcare.ai.Side}\n\
         enum healthcare.ai.Side{0 SIDE_UNSPECIFIED;1 SIDE_LEFT}"
    );

    let commented = SCANNED
        .replace(
            "// A study was scanned.",
            "// A study was scanned by the PACS.\n// Second line.",
        )
        .replace(
            "  int32 slices = 3;",
            "\n   int32   slices = 3;  // how many",
        );
    assert_eq!(
        scanned(&commented).0,
        base,
        "comments and whitespace do not count"
    );
    let options = SCANNED.replace("\"Scan\"", "\"Study\"");
    assert_eq!(
        scanned(&options).0,
        base,
        "carebus options are not wire format"
    );

    let retyped = SCANNED.replace("int32 slices = 3;", "int64 slices = 3;");
    assert_ne!(scanned(&retyped).0, base, "a field type change changes it");
    let renumbered = SCANNED.replace("int32 slices = 3;", "int32 slices = 4;");
    assert_ne!(
        scanned(&renumbered).0,
        base,
        "a field number change changes it"
    );
    let nested = SCANNED.replace("SIDE_LEFT = 1;", "SIDE_LEFT = 1; SIDE_RIGHT = 2;");
    assert_ne!(
        scanned(&nested).0,
        base,
        "a change in a referenced type changes it"
    );
}

#[test]
fn protobuf_deprecated_true_is_kept_and_a_carebus_reason_wins() {
    let text = SCANNED
        .replace(
            "  option (carebus.aggregate_id) = \"scan_id\";",
            "  option (carebus.aggregate_id) = \"scan_id\";\n  option deprecated = true;",
        )
        .replace("int32 slices = 3;", "int32 slices = 3 [deprecated = true];")
        .replace(
            "string code = 1;",
            "string code = 1 [deprecated = true, (carebus.field_deprecated) = \"use side\"];",
        );
    let dir = scratch_dir();
    let file = dir.join("healthcare/ai/scan.proto");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let out = load_proto(&[file], &[dir]).unwrap_or_else(|d| panic!("{}", d.render()));
    let scanned = &out.events[0];
    assert!(
        scanned
            .deprecated
            .as_deref()
            .unwrap()
            .contains("deprecated = true")
    );
    let slices = scanned.record.field("slices").unwrap();
    assert!(
        slices
            .deprecated
            .as_deref()
            .unwrap()
            .contains("deprecated = true")
    );
    let NamedType::Record(region) = out
        .types
        .iter()
        .find(|t| t.full_name() == "healthcare.ai.Region")
        .unwrap()
    else {
        panic!("Region is a record")
    };
    assert_eq!(
        region.field("code").unwrap().deprecated.as_deref(),
        Some("use side")
    );
}
