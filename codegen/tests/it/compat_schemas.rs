//! The gate over the real `schemas/` files: the committed history in, no diagnostics out; and a copy of a real schema edited in place, breaking and compatible, in, the expected verdicts out.
//!
//! `fixtures/compat/schemas/` is a copy of the patient events and shared types as committed,
//! so the edit tests do not depend on the working tree of `schemas/`.

use carebus_codegen::check::gate;
use carebus_codegen::diagnostic::DiagnosticKind;
use carebus_codegen::history::History;
use carebus_codegen::ir::Model;
use carebus_codegen::load::proto::load_proto;
use carebus_codegen::load::{load_avro_sources, load_dir};
use std::path::{Path, PathBuf};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat/schemas")
}

/// The fixture's `.avsc` files as (`schemas/avro/...`, text).
fn fixture_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    avro_files(&fixture_dir(), &fixture_dir().join("avro"), &mut files);
    files
}

fn avro_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            avro_files(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "avsc") {
            let relative = p.strip_prefix(root).unwrap().to_string_lossy();
            let shown = format!("schemas/{relative}");
            out.push((shown, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

fn load(files: &[(String, String)]) -> Model {
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    load_avro_sources(&refs).unwrap_or_else(|d| panic!("{d}"))
}

/// Edit `patient_created.avsc` (v2, the newest) by inserting `field` as the first field.
/// Returns the files and the 1-based line of the inserted field.
fn with_first_field(files: &[(String, String)], field: &str) -> (Vec<(String, String)>, u32) {
    let mut files = files.to_vec();
    let (_, text) = files
        .iter_mut()
        .find(|(p, _)| p.ends_with("avro/patient/patient_created.avsc"))
        .unwrap();
    let at = text.find("\"fields\": [").unwrap() + "\"fields\": [".len();
    let line = text[..at].lines().count() as u32 + 1;
    text.insert_str(at, &format!("\n    {field},"));
    (files, line)
}

#[test]
fn the_committed_history_accepts_the_committed_schemas() {
    let model = load_dir(&schemas_dir()).unwrap_or_else(|d| panic!("{d}"));
    let history = History::load(schemas_dir().join("schema-history.lock")).unwrap();
    let (_, diagnostics) = gate(&model, &history);
    assert!(diagnostics.is_empty(), "{diagnostics}");
}

#[test]
fn patient_created_v2_reads_v1_as_its_doc_promises() {
    let files = fixture_files();
    let (history, diagnostics) = gate(&load(&files), &History::default());
    assert!(diagnostics.is_empty(), "{diagnostics}");
    let v2 = history.version("PatientCreated", 2).unwrap();
    let previous = v2.previous.as_ref().unwrap();
    assert!(previous.compatible, "{:?}", previous.reasons);
}

#[test]
fn editing_a_real_schema_in_place() {
    let files = fixture_files();
    let (history, diagnostics) = gate(&load(&files), &History::default());
    assert!(diagnostics.is_empty(), "{diagnostics}");

    // A required field: new readers cannot read the recorded v2 data.
    let (broken, line) = with_first_field(&files, r#"{"name": "nhsNumber", "type": "string"}"#);
    let (after, diagnostics) = gate(&load(&broken), &history);
    assert_eq!(after, history);
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let d = &diagnostics.0[0];
    assert_eq!(d.kind, DiagnosticKind::Incompatible);
    assert!(
        d.source.file.ends_with("avro/patient/patient_created.avsc"),
        "{d}"
    );
    assert_eq!(d.source.line, line, "{d}");
    assert!(
        d.message.contains("`PatientCreated` v2")
            && d.message.contains("`PatientCreated.nhsNumber`")
            && d.message.contains("added without a default"),
        "{d}"
    );
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("patient_created.v2.avsc"),
        "{d}"
    );

    // Rendered like rustc: the offending line of the new schema under the message.
    let text = &broken.iter().find(|(p, _)| *p == d.source.file).unwrap().1;
    let rendered = d.render(Some(text));
    assert!(
        rendered.starts_with("error[incompatible]: `PatientCreated` v2"),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!(
            "{line} |     {{\"name\": \"nhsNumber\", \"type\": \"string\"}},"
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains("= help: declare a new version"),
        "{rendered}"
    );

    // The same field, optional with a default: recorded as a second revision of v2.
    let (compatible, _) = with_first_field(
        &files,
        r#"{"name": "nhsNumber", "type": ["null", "string"], "default": null}"#,
    );
    let (after, diagnostics) = gate(&load(&compatible), &history);
    assert!(diagnostics.is_empty(), "{diagnostics}");
    assert_eq!(
        after.version("PatientCreated", 2).unwrap().revisions.len(),
        2
    );
}

/// Load `ai/ai_events.proto` from the fixture copy, with `edit` applied, through a temp dir.
fn proto_model(name: &str, edit: impl Fn(String) -> String) -> Model {
    let fixture = fixture_dir().join("../proto");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("compat_schemas")
        .join(name);
    for file in ["ai/ai_events.proto", "carebus/options.proto"] {
        let text = std::fs::read_to_string(fixture.join(file)).unwrap();
        let text = if file.starts_with("ai/") {
            edit(text)
        } else {
            text
        };
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = load_proto(
        &[root.join("ai/ai_events.proto")],
        std::slice::from_ref(&root),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    Model {
        events: out.events,
        types: out.types,
        ..Model::default()
    }
}

#[test]
fn editing_a_real_protobuf_message_in_place() {
    let (history, diagnostics) = gate(&proto_model("orig", |t| t), &History::default());
    assert!(diagnostics.is_empty(), "{diagnostics}");
    assert!(history.version("AnalysisCompleted", 1).is_some());

    // Field 6 reused for another field of another type.
    let reused = proto_model("reused", |t| {
        t.replacen("double confidence = 6", "string confidence_band = 6", 1)
    });
    let (after, diagnostics) = gate(&reused, &history);
    assert_eq!(after, history);
    let rules: Vec<bool> = ["field-number-reused", "field-number-type-changed"]
        .iter()
        .map(|rule| {
            diagnostics
                .iter()
                .any(|d| d.message.contains(&format!("rule `{rule}`")))
        })
        .collect();
    assert_eq!(rules, [true, true], "{diagnostics}");
    let d = diagnostics.iter().next().unwrap();
    assert!(d.message.contains("`AnalysisCompleted` v1"), "{d}");
    assert!(d.source.file.ends_with("ai/ai_events.proto"), "{d}");

    // An enum field read as int32: same varint encoding, a compatible revision.
    let as_int = proto_model("as_int", |t| {
        t.replacen("AnalysisKind kind = 3", "int32 kind = 3", 1)
    });
    let (after, diagnostics) = gate(&as_int, &history);
    assert!(diagnostics.is_empty(), "{diagnostics}");
    assert_eq!(
        after
            .version("AnalysisCompleted", 1)
            .unwrap()
            .revisions
            .len(),
        2
    );
}
