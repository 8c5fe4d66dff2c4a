//! The build-script entry point and the lock command: a schemas folder in, generated files (or every diagnostic) out; unchanged output is not rewritten, a stale schema-history lock fails the build without touching the sources, `lock` records it.

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

/// Every file under `dir` with its contents, to show a build left the source tree alone.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                pending.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn config(schemas: &Path, out: &Path) -> Config {
    let mut config = Config::new();
    config
        .schemas_dir(schemas)
        .out_dir(out)
        .cargo_directives(false);
    config
}

/// A scratch project with the note event and its topic: (root, schemas folder, output folder).
fn note_project(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = scratch(name);
    let schemas = root.join("schemas");
    write(&schemas, "avro/note_added.avsc", EVENT);
    write(&schemas, "topics.toml", TOPICS);
    let out = root.join("out");
    (root, schemas, out)
}

#[test]
fn generates_code_and_ir_and_skips_unchanged_writes() {
    let (root, schemas, out) = note_project("ok");
    let config = config(&schemas, &out);
    assert!(config.lock().unwrap_or_else(|d| panic!("{}", d.render())));
    let g = config
        .generate()
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let code = std::fs::read_to_string(&g.rust_file).unwrap();
    assert!(code.starts_with("// @generated"), "header: {}", &code[..80]);
    assert!(code.contains("pub struct NoteAdded"));
    assert!(code.contains("pub use healthcare::notes::NoteAdded;"));
    assert!(
        code.contains("::carebus_core::Phi<::std::string::String>"),
        "PHI field is wrapped"
    );
    assert!(code.contains("pub static TOPICS"));
    let ir: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&g.ir_file).unwrap()).unwrap();
    assert_eq!(ir["events"][0]["name"], "NoteAdded");
    assert_eq!(
        ir["events"][0]["record"]["rust"]["module"],
        serde_json::json!(["healthcare", "notes"])
    );

    let before = std::fs::metadata(&g.rust_file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    config.generate().unwrap();
    assert_eq!(
        std::fs::metadata(&g.rust_file).unwrap().modified().unwrap(),
        before,
        "unchanged output keeps its mtime"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_stale_lock_fails_the_build_naming_the_command_and_leaves_the_sources_alone() {
    let (root, schemas, out) = note_project("stale");
    let config = config(&schemas, &out);
    let sources = tree(&schemas);

    // No lock yet: the event version is not recorded.
    let diags = config.generate().unwrap_err();
    let d = diags
        .iter()
        .find(|d| d.kind == DiagnosticKind::StaleLock)
        .unwrap_or_else(|| panic!("{diags}"));
    assert!(d.message.contains("`NoteAdded` version 1"), "{d}");
    assert_eq!(d.source.file, "schemas/avro/note_added.avsc", "{d}");
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("run `cargo run -p carebus-codegen -- lock`"),
        "{d:?}"
    );
    assert_eq!(
        tree(&schemas),
        sources,
        "the build wrote into the schemas folder"
    );
    assert!(!out.join("carebus_generated.rs").exists());
    assert!(config.check().is_err(), "check agrees with the build");

    // `lock` records it; then the build and `check` pass, and a second `lock` has nothing to do.
    assert!(config.lock().unwrap_or_else(|d| panic!("{}", d.render())));
    let lock = std::fs::read_to_string(schemas.join("schema-history.lock")).unwrap();
    assert!(lock.contains("\"NoteAdded\""), "{lock}");
    config.check().unwrap_or_else(|d| panic!("{}", d.render()));
    config
        .generate()
        .unwrap_or_else(|d| panic!("{}", d.render()));
    assert!(!config.lock().unwrap());

    // A compatible change (a new optional field) is a new revision the lock must record too.
    write(
        &schemas,
        "avro/note_added.avsc",
        &EVENT.replace(
            r#"{"name": "patientId", "type": "string"},"#,
            r#"{"name": "patientId", "type": "string"}, {"name": "author", "type": ["null", "string"], "default": null},"#,
        ),
    );
    let sources = tree(&schemas);
    let diags = config.generate().unwrap_err();
    assert!(
        diags.iter().any(
            |d| d.kind == DiagnosticKind::StaleLock && d.message.contains("changed compatibly")
        ),
        "{diags}"
    );
    assert_eq!(
        tree(&schemas),
        sources,
        "the build wrote into the schemas folder"
    );
    assert!(config.lock().unwrap());
    config.generate().unwrap();
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_failing_ir_write_is_an_error() {
    let (root, schemas, out) = note_project("ir-write");
    // A directory where the IR file goes: writing it fails.
    std::fs::create_dir_all(out.join(carebus_codegen::config::IR_FILE)).unwrap();
    let config = config(&schemas, &out);
    config.lock().unwrap();
    let diags = config.generate().unwrap_err();
    let d = diags
        .iter()
        .find(|d| d.kind == DiagnosticKind::Io)
        .unwrap_or_else(|| panic!("{diags}"));
    assert!(
        d.source.file.ends_with(carebus_codegen::config::IR_FILE),
        "{d}"
    );
    assert!(d.message.contains("cannot write generated output"), "{d}");
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
    let (root, schemas, out) = note_project("gate");
    let config = config(&schemas, &out);
    config.lock().unwrap_or_else(|d| panic!("{}", d.render()));
    // A new required field without a default: new readers cannot read old data.
    write(
        &schemas,
        "avro/note_added.avsc",
        &EVENT.replace(
            r#"{"name": "patientId", "type": "string"},"#,
            r#"{"name": "patientId", "type": "string"}, {"name": "author", "type": "string"},"#,
        ),
    );
    let lock = std::fs::read_to_string(schemas.join("schema-history.lock")).unwrap();
    let diags = config.generate().unwrap_err();
    assert_eq!(
        config.lock().unwrap_err(),
        diags,
        "`lock` refuses an incompatible change with the same diagnostics"
    );
    assert_eq!(
        std::fs::read_to_string(schemas.join("schema-history.lock")).unwrap(),
        lock
    );
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

#[test]
fn a_type_name_two_namespaces_define_is_a_warning_not_an_error() {
    let (root, schemas, out) = note_project("ambiguous");
    for ns in ["healthcare.common", "healthcare.ai"] {
        let file = format!("avro/{}_coding.avsc", ns.replace('.', "_"));
        let schema = format!(
            r#"{{"type": "record", "name": "Coding", "namespace": "{ns}",
               "fields": [{{"name": "code", "type": "string"}}]}}"#
        );
        write(&schemas, &file, &schema);
    }
    write(
        &schemas,
        "avro/note_added.avsc",
        &EVENT.replace(
            r#"{"name": "patientId", "type": "string"},"#,
            r#"{"name": "patientId", "type": "string"},
               {"name": "a", "type": ["null", "healthcare.common.Coding"], "default": null},
               {"name": "b", "type": ["null", "healthcare.ai.Coding"], "default": null},"#,
        ),
    );
    let config = config(&schemas, &out);
    config.lock().unwrap_or_else(|d| panic!("{}", d.render()));
    let g = config
        .generate()
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let [w] = g.warnings.as_slice() else {
        panic!("{:?}", g.warnings);
    };
    assert_eq!(w.kind, DiagnosticKind::AmbiguousName);
    assert!(w.source.file.starts_with("schemas/avro/"), "{w}");
    let code = std::fs::read_to_string(&g.rust_file).unwrap();
    assert!(code.contains("pub a: ::std::option::Option<super::common::Coding>"));
    assert!(code.contains("pub b: ::std::option::Option<super::ai::Coding>"));
    assert!(!code.contains("pub use healthcare::ai::Coding"));
    let _ = std::fs::remove_dir_all(root);
}
