//! Fixture schemas (`tests/fixtures/emit/`) in, generated Rust out: an insta snapshot of the code (the fixture's one golden copy; crate `carebus-tests` compiles and runs the same output from its build.rs).
//!
//! After an intended change to the emitter: `cargo insta test -p carebus-codegen` then
//! `cargo insta review`.

use std::path::{Path, PathBuf};

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn avsc_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            avsc_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "avsc") {
            out.push(p);
        }
    }
}

/// The fixture model, loaded with the real Avro loader.
pub fn fixture_model() -> carebus_codegen::Model {
    fixture_model_of("emit")
}

/// The Avro fixture in `tests/fixtures/<name>`, loaded with the real Avro loader.
pub fn fixture_model_of(name: &str) -> carebus_codegen::Model {
    let dir = fixture_dir(name);
    let mut files = Vec::new();
    avsc_files(&dir, &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let shown = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            (
                format!("fixtures/{name}/{shown}"),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let sources: Vec<(&str, &str)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    match carebus_codegen::load::load_avro_sources(&sources) {
        Ok(m) => m,
        Err(d) => panic!("fixture schemas do not load:\n{d}"),
    }
}

#[test]
fn generated_code_snapshot() {
    let code = carebus_codegen::emit::generate(&fixture_model());
    insta::assert_snapshot!("clinic_fixture", code);
}

#[test]
fn write_if_changed_skips_identical_contents() {
    let dir = std::env::temp_dir().join(format!("carebus-emit-{}", std::process::id()));
    let path = dir.join("out.rs");
    assert!(carebus_codegen::emit::write_if_changed(&path, "a").unwrap());
    assert!(!carebus_codegen::emit::write_if_changed(&path, "a").unwrap());
    assert!(carebus_codegen::emit::write_if_changed(&path, "b").unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "b");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn schema_rebuilt_from_the_ir_equals_the_loaders_schema() {
    // `emit::schema` is the fallback for models without `schema_text` (hand-built, derive
    // macros); it must describe the same schema as the loader's text.
    let model = fixture_model();
    for e in &model.events {
        let ours =
            apache_avro::Schema::parse_str(&carebus_codegen::emit::schema::event_schema(&model, e))
                .unwrap();
        let loader = apache_avro::Schema::parse_str(&e.schema_text).unwrap();
        assert_eq!(
            ours.canonical_form(),
            loader.canonical_form(),
            "{} v{}",
            e.name,
            e.version
        );
    }
}

#[test]
fn the_domain_schemas_generate_code_that_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = match carebus_codegen::load::load_dir(&dir) {
        Ok(m) => m,
        Err(d) => panic!("schemas/ does not load:\n{d}"),
    };
    assert!(!model.events.is_empty());
    let code = carebus_codegen::emit::generate(&model);
    assert!(
        !code.contains("does not parse"),
        "{}",
        &code[..code.len().min(400)]
    );
    syn::parse_file(&code).unwrap();
    insta::assert_snapshot!("domain_schemas", code);
    for e in model.latest_events() {
        assert!(
            code.contains(&format!("pub struct {} {{", e.name)),
            "{}",
            e.name
        );
    }
    if let Ok(out) = std::env::var("CAREBUS_DOMAIN_OUT") {
        // For checking the whole domain by hand: write the Avro-only part (no prost wire types).
        let mut avro_only = model.clone();
        avro_only
            .events
            .retain(|e| e.format == carebus_codegen::ir::SchemaFormat::Avro);
        std::fs::write(out, carebus_codegen::emit::generate(&avro_only)).unwrap();
    }
}

/// The Protobuf emitter: the fixture `.proto` (every scalar shape, maps, optional and required
/// messages, Timestamp) as domain types, the `wire` module and the conversions.
#[test]
fn protobuf_fixture_snapshot() {
    let mut loaded = crate::proto_harness::load_fixture();
    // The loader names files as given (absolute here); the snapshot must not depend on where
    // the repository is checked out.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    for e in &mut loaded.events {
        e.source.file = e.source.file.replace(root, "codegen/");
    }
    let model = carebus_codegen::Model {
        events: loaded.events,
        types: loaded.types,
        ..carebus_codegen::Model::default()
    };
    insta::assert_snapshot!("protobuf_fixture", carebus_codegen::emit::generate(&model));
}

/// One derive-macro expansion, formatted as the generated files are.
#[test]
fn derive_expansion_snapshot() {
    let input: syn::DeriveInput = syn::parse_quote! {
        /// A clinician wrote a note about a patient.
        #[carebus(
            namespace = "healthcare.notes",
            version = 2,
            aggregate_type = "Patient",
            aggregate_id = "patient_id",
            topic = "healthcare.notes.events"
        )]
        struct NoteAdded {
            patient_id: String,
            #[carebus(classification = "phi")]
            text: Phi<String>,
            written_at: Timestamp,
            tags: Option<Vec<String>>,
        }
    };
    let tokens = carebus_codegen::derive::expand_domain_event(&input);
    insta::assert_snapshot!(
        "derive_note_added",
        carebus_codegen::emit::format_tokens(tokens)
    );
}

/// Two namespaces define `Coding` (`tests/fixtures/collision`): each keeps its name in its own
/// module, generated code names each by its path, neither is re-exported flat, and the
/// generator warns naming both namespaces and both paths.
#[test]
fn colliding_type_names_stay_in_their_modules() {
    let mut model = fixture_model_of("collision");
    let warnings = carebus_codegen::rust_names::assign(&mut model);
    let [warning] = warnings.as_slice() else {
        panic!("one warning expected: {warnings:?}");
    };
    assert_eq!(warning.kind, carebus_codegen::DiagnosticKind::AmbiguousName);
    assert!(warning.kind.is_warning());
    let text = warning.to_string();
    for part in [
        "warning[ambiguous-name]",
        "`Coding`",
        "`healthcare.ai`",
        "`healthcare.common`",
        "`healthcare::ai::Coding`",
        "`healthcare::common::Coding`",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(
        warning.source.file.starts_with("fixtures/collision/"),
        "{warning}"
    );

    let code = carebus_codegen::emit::generate(&model);
    insta::assert_snapshot!("collision_fixture", code);
    let file = syn::parse_file(&code).unwrap();
    let reexported: Vec<String> = file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Use(u) => Some(quote::ToTokens::to_token_stream(u).to_string()),
            _ => None,
        })
        .collect();
    assert!(!reexported.is_empty());
    assert!(
        reexported.iter().all(|u| !u.contains("Coding")),
        "{reexported:?}"
    );
    assert!(
        code.contains("pub labels: ::std::vec::Vec<Coding>,"),
        "ai's own Coding"
    );
    assert!(code.contains("pub source: super::common::Coding,"));
    assert!(code.contains("pub code: super::common::Coding,"));
    assert!(code.contains("impl ::carebus_core::AvroCodec for healthcare::ai::Coding"));
    assert!(code.contains("impl ::carebus_core::AvroCodec for healthcare::common::Coding"));
}
