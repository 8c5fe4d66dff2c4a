//! The generator's fixture schemas (`codegen/tests/fixtures`) in, their generated Rust in `OUT_DIR` out, so the tests compile and run the code exactly as a user's build.rs produces it.
//!
//! - `clinic.rs`: the Avro fixture (`codegen/tests/fixtures/emit`), whose text the generator's
//!   snapshot test pins;
//! - `collision.rs`: two namespaces defining `Coding` (`codegen/tests/fixtures/collision`);
//! - `recursive.rs`: records that contain themselves (`codegen/tests/fixtures/recursive`);
//! - `logical.rs`: every logical type carebus generates a Rust type for
//!   (`codegen/tests/fixtures/logical`);
//! - `apache_<schema>.rs`: each of Apache Avro's test schemas that carebus generates
//!   (`codegen/tests/fixtures/apache`, each loaded alone; the others fail with diagnostics,
//!   pinned by codegen's `apache_schema_outcomes` snapshot);
//! - `proto_fixture.rs` (+ prost's `healthcare.ai.rs`): the Protobuf fixture
//!   (`codegen/tests/fixtures/proto`), the shapes the real AI events do not use.

use carebus_codegen::emit;
use carebus_codegen::ir::{Model, Source, Topic};
use carebus_codegen::load::{load_avro_sources, proto::load_proto};
use std::path::{Path, PathBuf};

fn avsc_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
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

/// The Avro fixture `fixtures/<name>`, loaded with the real loader.
fn load_avro_fixture(fixtures: &Path, name: &str) -> Model {
    let dir = fixtures.join(name);
    let mut files = Vec::new();
    avsc_files(&dir, &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let shown = p.strip_prefix(&dir).unwrap().display();
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
    load_avro_sources(&sources).unwrap_or_else(|d| panic!("{d}"))
}

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../codegen/tests/fixtures");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", fixtures.display());

    for (name, file) in [
        ("emit", "clinic.rs"),
        ("collision", "collision.rs"),
        ("recursive", "recursive.rs"),
        ("logical", "logical.rs"),
    ] {
        let model = load_avro_fixture(&fixtures, name);
        std::fs::write(out_dir.join(file), emit::generate(&model)).unwrap();
    }

    let mut apache = Vec::new();
    avsc_files(&fixtures.join("apache"), &mut apache);
    for p in apache {
        let text = std::fs::read_to_string(&p).unwrap();
        let shown = p.display().to_string();
        if let Ok(model) = load_avro_sources(&[(shown.as_str(), text.as_str())]) {
            let stem = p.file_stem().unwrap().to_string_lossy().replace('-', "_");
            let file = format!("apache_{}.rs", stem.to_lowercase());
            std::fs::write(out_dir.join(file), emit::generate(&model)).unwrap();
        }
    }

    let proto_dir = fixtures.join("proto");
    let loaded = load_proto(
        &[
            proto_dir.join("healthcare/ai/analysis.proto"),
            proto_dir.join("healthcare/ai/guideline.proto"),
        ],
        std::slice::from_ref(&proto_dir),
    )
    .unwrap_or_else(|d| panic!("{}", d.render()));
    emit::proto::compile_wire_types(&loaded.descriptors, &out_dir).unwrap();
    let model = Model {
        events: loaded.events,
        types: loaded.types,
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
            retry_levels: 0,
            dead_letter: true,
            source: Source::default(),
            rust: Default::default(),
        }],
        ..Model::default()
    };
    std::fs::write(out_dir.join("proto_fixture.rs"), emit::generate(&model)).unwrap();
}
