//! The Protobuf fixture in, a real crate out: its generated domain types, prost wire types and conversions compile and round-trip (slow; run with `--ignored`).
//!
//! The schemas crate proves the same for the AI events on every `cargo test`; this test
//! covers the shapes those events do not use (Timestamp, maps, optional and required
//! messages, unsigned/zigzag/fixed scalars, bytes). It builds a throwaway crate with its own
//! target directory, so the first run compiles the dependencies (minutes), hence `#[ignore]`:
//! `cargo test -p carebus-codegen --test proto_compile -- --ignored`.

use std::path::Path;
use std::process::Command;

const BUILD_RS: &str = r#"
use carebus_codegen::emit;
use carebus_codegen::ir::{Model, Topic, Source};
use carebus_codegen::load::proto::load_proto;
use std::path::PathBuf;

fn main() {
    let fixtures = PathBuf::from(env!("FIXTURES"));
    let out = load_proto(&[fixtures.join("healthcare/ai/analysis.proto")], &[fixtures])
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    emit::proto::compile_wire_types(&out.descriptors, &out_dir).unwrap();
    let model = Model {
        events: out.events,
        types: out.types,
        topics: vec![Topic {
            name: "healthcare.ai.events".into(),
            doc: None,
            partitions: 6,
            replication_factor: 3,
            retention_ms: None,
            compacted: false,
            min_insync_replicas: None,
            configs: Vec::new(),
            key: "analysis id".into(),
            source: Source::default(),
        }],
        ..Model::default()
    };
    std::fs::write(out_dir.join("generated.rs"), emit::generate(&model)).unwrap();
}
"#;

const ROUND_TRIP: &str = r#"
use carebus::{DecodeError, DomainEvent, Phi, Timestamp};
use fixture::*;
use std::collections::BTreeMap;

fn finding(code: &str) -> Finding {
    Finding { code: code.into(), display: "Nodule".into(), confidence: 0.5 }
}

#[test]
fn every_scalar_shape_round_trips() {
    let event = AnalysisRequested {
        analysis_id: "a-1".into(),
        patient_id: Phi::new("p-1".into()),
        kind: AnalysisKind::AnalysisKindRadiology,
        requested_at: Timestamp::parse_rfc3339("2024-11-24T10:30:00.123456Z").unwrap(),
        note: Some(Phi::new("call back".into())),
        notes: vec!["x".into(), "y".into()],
        labels: BTreeMap::from([("ward".into(), "3B".into())]),
        priority: u32::MAX,
        offset: -5,
        study_size: i64::MIN,
        thumbnail: vec![0, 255, 7],
        urgent: true,
        score: 0.25,
        checksum: u64::MAX,
        attempt: -1,
    };
    let mut bytes = Vec::new();
    event.encode_payload(&mut bytes);
    assert_eq!(AnalysisRequested::decode_payload(&bytes).unwrap(), event);

    let before_epoch = AnalysisRequested { requested_at: Timestamp(-1_500_001), note: None, ..event };
    let mut bytes = Vec::new();
    before_epoch.encode_payload(&mut bytes);
    assert_eq!(AnalysisRequested::decode_payload(&bytes).unwrap(), before_epoch);
}

#[test]
fn messages_maps_and_missing_required_fields() {
    let event = AnalysisCompleted {
        analysis_id: "a-1".into(),
        model: "m".into(),
        confidence: 0.9,
        findings: vec![finding("1"), finding("2")],
        primary: finding("1"),
        secondary: Some(finding("2")),
        by_region: BTreeMap::from([("lung".into(), finding("3"))]),
        kinds: vec![AnalysisKind::AnalysisKindPathology, AnalysisKind::Unknown(9)],
    };
    let mut bytes = Vec::new();
    event.encode_payload(&mut bytes);
    assert_eq!(AnalysisCompleted::decode_payload(&bytes).unwrap(), event);

    let mut w = wire::healthcare::ai::AnalysisCompleted::from(&event);
    w.primary = None;
    assert_eq!(
        AnalysisCompleted::try_from(w).unwrap_err(),
        DecodeError::MissingField { field: "primary".into() }
    );
    // prost normalizes the Timestamp; instants before the epoch round down to the microsecond.
    let mut w = wire::healthcare::ai::AnalysisRequested::default();
    w.requested_at = Some(prost_types::Timestamp { seconds: 0, nanos: -5 });
    assert_eq!(AnalysisRequested::try_from(w).unwrap().requested_at, Timestamp(-1));
    // Beyond what i64 microseconds hold: an error, not a panic or a wrapped value.
    let mut w = wire::healthcare::ai::AnalysisRequested::default();
    w.requested_at = Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 });
    assert!(matches!(
        AnalysisRequested::try_from(w).unwrap_err(),
        DecodeError::Malformed { what: "timestamp", .. }
    ));
    // A missing Timestamp is a missing required field.
    let w = wire::healthcare::ai::AnalysisRequested::default();
    assert_eq!(
        AnalysisRequested::try_from(w).unwrap_err(),
        DecodeError::MissingField { field: "requested_at".into() }
    );
}
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
#[ignore = "builds a throwaway crate (minutes on first run)"]
fn fixture_compiles_and_round_trips() {
    let codegen = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime = codegen.join("../runtime");
    let crate_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proto-fixture-crate");
    write(
        &crate_dir.join("Cargo.toml"),
        &format!(
            r#"[package]
name = "fixture"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
carebus = {{ path = "{runtime}" }}
prost = "0.14"
prost-types = "0.14"

[build-dependencies]
carebus-codegen = {{ path = "{codegen}" }}
"#,
            runtime = runtime.display(),
            codegen = codegen.display()
        ),
    );
    write(&crate_dir.join("build.rs"), BUILD_RS);
    write(
        &crate_dir.join("src/lib.rs"),
        "include!(concat!(env!(\"OUT_DIR\"), \"/generated.rs\"));\n",
    );
    write(&crate_dir.join("tests/round_trip.rs"), ROUND_TRIP);
    let status = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", crate_dir.join("target"))
        .env("FIXTURES", codegen.join("tests/fixtures/proto"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the fixture crate failed to build or its tests failed"
    );
}
