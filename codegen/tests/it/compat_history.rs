//! The schema-history lock file: a history in, deterministic pretty JSON out, and back; bad lock files in, diagnostics out.
//!
//! `fixtures/compat/schema-history.lock` is the golden lock of a small model; regenerate it
//! with `CAREBUS_UPDATE_FIXTURES=1 cargo test -p carebus-codegen --test compat_history`
//! and review the diff like code.

use crate::compat_support::*;
use carebus_codegen::check::gate;
use carebus_codegen::diagnostic::DiagnosticKind;
use carebus_codegen::history::{History, LOCK_FORMAT};
use carebus_codegen::ir::{Compatibility, Event, Model, SchemaFormat, Type};
use serde_json::json;
use std::path::PathBuf;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/compat/schema-history.lock"
);

fn patient_created(version: u32, file: &str, with_address: bool) -> Event {
    let mut fields = vec![
        field("patientId", Type::Uuid),
        field("status", named("Status")),
    ];
    if with_address {
        fields.push(with_default(
            field("address", optional(named("Address"))),
            json!(null),
        ));
    }
    let record = event_record(file, fields);
    event(
        version,
        SchemaFormat::Avro,
        Compatibility::BackwardTransitive,
        file,
        record,
    )
}

fn sample_model(reversed: bool) -> Model {
    let mut events = vec![
        patient_created(1, "schemas/avro/patient/patient_created.v1.avsc", false),
        patient_created(2, "schemas/avro/patient/patient_created.avsc", true),
    ];
    let mut types = vec![
        enumeration("Status", &["ACTIVE", "INACTIVE"], Some("ACTIVE")),
        shared_record(
            "schemas/avro/common/address.avsc",
            "Address",
            vec![field("city", Type::String)],
        ),
        // Not used by the event: must not be in its snapshot.
        fixed("Unused", 4),
    ];
    if reversed {
        events.reverse();
        types.reverse();
    }
    model(events, types)
}

fn sample_history(reversed: bool) -> History {
    let (history, diagnostics) = gate(&sample_model(reversed), &History::default());
    assert!(diagnostics.is_empty(), "{diagnostics}");
    history
}

fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compat_history");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn the_lock_matches_the_golden_file() {
    let text = sample_history(false).to_json();
    if std::env::var_os("CAREBUS_UPDATE_FIXTURES").is_some() {
        std::fs::write(FIXTURE, &text).unwrap();
    }
    let golden = std::fs::read_to_string(FIXTURE).unwrap();
    assert_eq!(
        text, golden,
        "the lock format changed; regenerate the fixture if intended"
    );
    assert_eq!(
        History::parse(FIXTURE, &golden).unwrap(),
        sample_history(false)
    );
}

#[test]
fn the_lock_does_not_depend_on_model_order() {
    assert_eq!(
        sample_history(false).to_json(),
        sample_history(true).to_json()
    );
}

#[test]
fn snapshots_hold_exactly_the_named_types_used() {
    let history = sample_history(false);
    let names = |v: u32| -> Vec<String> {
        history.version("PatientCreated", v).unwrap().revisions[0]
            .ir
            .types
            .iter()
            .map(|t| t.full_name())
            .collect()
    };
    assert_eq!(names(1), ["healthcare.common.Status"]);
    assert_eq!(
        names(2),
        ["healthcare.common.Address", "healthcare.common.Status"]
    );
}

#[test]
fn save_writes_only_when_changed_and_load_reads_it_back() {
    let path = temp_path("nested/schema-history.lock");
    let history = sample_history(false);
    assert!(history.save_if_changed(&path).unwrap());
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(!history.save_if_changed(&path).unwrap());
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(History::load(&path).unwrap(), history);

    let (grown, _) = gate(
        &model(
            vec![patient_created(
                3,
                "schemas/avro/patient/patient_created.avsc",
                true,
            )],
            vec![],
        ),
        &history,
    );
    assert!(grown.save_if_changed(&path).unwrap());
    assert_eq!(History::load(&path).unwrap(), grown);
}

#[test]
fn a_missing_lock_is_an_empty_history() {
    let history = History::load(temp_path("absent.lock")).unwrap();
    assert_eq!(history, History::default());
    assert_eq!(history.lock_format, LOCK_FORMAT);
}

#[test]
fn a_damaged_lock_is_a_syntax_diagnostic_with_its_line() {
    let text = "{\n  \"lock_format\": 1,\n  \"events\": {\n    \"PatientCreated\": [\n}\n";
    let d = History::parse("schemas/schema-history.lock", text).unwrap_err();
    assert_eq!(d.kind, DiagnosticKind::Syntax);
    assert_eq!(d.source.file, "schemas/schema-history.lock");
    assert!(d.source.line >= 4, "{d}");
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("git checkout -- schemas/schema-history.lock")
    );
}

#[test]
fn a_lock_from_another_format_version_is_refused() {
    let text = "{\"lock_format\": 99, \"events\": {}}";
    let d = History::parse("schemas/schema-history.lock", text).unwrap_err();
    assert!(d.message.contains("lock format 99"), "{d}");
}
