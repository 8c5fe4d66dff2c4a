//! The build-script entry point: a schemas folder in, generated files (or every diagnostic) out; unchanged output is not rewritten.

use carebus_codegen::{Config, DiagnosticKind};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carebus-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("schemas/avro")).unwrap();
    dir
}

const EVENT: &str = r#"{
  "type": "record", "name": "NoteAdded", "namespace": "healthcare.notes",
  "event_version": 1, "aggregate_type": "Patient", "aggregate_id": "patientId", "topic": "healthcare.notes.events",
  "fields": [
    {"name": "patientId", "type": "string"},
    {"name": "text", "type": "string", "classification": "phi"}
  ]
}"#;

const TOPICS: &str = r#"
[[topic]]
name = "healthcare.notes.events"
partitions = 3
replication_factor = 3
retention_days = 7
events = ["NoteAdded"]
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).unwrap();
}

#[test]
fn generates_code_ir_and_history_and_skips_unchanged_writes() {
    let root = scratch("ok");
    let schemas = root.join("schemas");
    write(&schemas, "avro/note_added.avsc", EVENT);
    write(&schemas, "topics.toml", TOPICS);
    let out = root.join("out");
    let mut config = Config::new();
    config
        .schemas_dir(&schemas)
        .out_dir(&out)
        .cargo_directives(false);
    let g = config
        .generate()
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let code = std::fs::read_to_string(&g.rust_file).unwrap();
    assert!(code.starts_with("// @generated"), "header: {}", &code[..80]);
    assert!(code.contains("pub struct NoteAdded"));
    assert!(
        code.contains("::carebus_core::Phi<::std::string::String>"),
        "PHI field is wrapped"
    );
    assert!(code.contains("pub static TOPICS"));
    let ir: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&g.ir_file).unwrap()).unwrap();
    assert_eq!(ir["events"][0]["name"], "NoteAdded");
    assert!(
        g.history_updated,
        "a first build records the event in the history"
    );
    assert!(schemas.join("schema-history.lock").exists());

    let before = std::fs::metadata(&g.rust_file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = config.generate().unwrap();
    assert!(!again.history_updated);
    assert_eq!(
        std::fs::metadata(&g.rust_file).unwrap().modified().unwrap(),
        before,
        "unchanged output keeps its mtime"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_bad_schema_fails_with_every_diagnostic_and_writes_nothing() {
    let root = scratch("bad");
    let schemas = root.join("schemas");
    write(
        &schemas,
        "avro/note_added.avsc",
        &EVENT.replace(
            r#""type": "string", "classification""#,
            r#""type": "strnig", "classification""#,
        ),
    );
    write(
        &schemas,
        "topics.toml",
        &TOPICS.replace(
            "healthcare.notes.events\"\npartitions",
            "healthcare.note.events\"\npartitions",
        ),
    );
    let out = root.join("out");
    let diags = Config::new()
        .schemas_dir(&schemas)
        .out_dir(&out)
        .cargo_directives(false)
        .generate()
        .unwrap_err();
    let kinds: Vec<DiagnosticKind> = diags.iter().map(|d| d.kind).collect();
    assert!(kinds.contains(&DiagnosticKind::UnknownType), "{kinds:?}");
    let rendered = diags.render_with(|f| std::fs::read_to_string(root.join(f)).ok());
    assert!(
        rendered.contains("schemas/avro/note_added.avsc:6:"),
        "{rendered}"
    );
    assert!(rendered.contains("did you mean `string`?"), "{rendered}");
    assert!(!out.join("carebus_generated.rs").exists());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_breaking_change_fails_the_gate_naming_event_and_field() {
    let root = scratch("gate");
    let schemas = root.join("schemas");
    write(&schemas, "avro/note_added.avsc", EVENT);
    write(&schemas, "topics.toml", TOPICS);
    let out = root.join("out");
    let mut config = Config::new();
    config
        .schemas_dir(&schemas)
        .out_dir(&out)
        .cargo_directives(false);
    config
        .generate()
        .unwrap_or_else(|d| panic!("{}", d.render()));
    // A new required field without a default: new readers cannot read old data.
    write(
        &schemas,
        "avro/note_added.avsc",
        &EVENT.replace(
            r#"{"name": "patientId", "type": "string"},"#,
            r#"{"name": "patientId", "type": "string"}, {"name": "author", "type": "string"},"#,
        ),
    );
    let diags = config.generate().unwrap_err();
    let d = diags
        .iter()
        .find(|d| d.kind == DiagnosticKind::Incompatible)
        .unwrap_or_else(|| panic!("{diags}"));
    assert!(
        d.message.contains("NoteAdded") && d.message.contains("author"),
        "{d}"
    );
    assert!(
        d.help.as_deref().unwrap_or("").contains("event_version"),
        "{d:?}"
    );
    let _ = std::fs::remove_dir_all(root);
}
