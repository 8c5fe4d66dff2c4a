//! Apache Avro's own test schemas (`tests/fixtures/apache`) in, one outcome per schema out: generated (the types and any warnings) or the located diagnostics saying what is unsupported; the outcomes are an insta snapshot. Each schema is loaded alone, as its own project; carebus-tests compiles the generated ones (build.rs) and checks their bytes against apache-avro (`generated_apache`).

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "avsc") {
            out.push(p);
        }
    }
}

/// Every schema of the fixture, as (path shown in diagnostics, text).
pub fn apache_schemas() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apache");
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    paths
        .iter()
        .map(|p| {
            let shown = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            (
                format!("fixtures/apache/{shown}"),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect()
}

/// What carebus makes of one schema: `generated` with its types and warnings, or the
/// diagnostics (rendered with their source lines).
fn outcome(path: &str, text: &str) -> String {
    match carebus_codegen::load::load_avro_sources_with_warnings(&[(path, text)]) {
        Ok((model, warnings)) => {
            // Generating must not panic, and its output parses as Rust (compiled for real in
            // carebus-tests).
            let code = carebus_codegen::emit::generate(&model);
            syn::parse_file(&code).unwrap_or_else(|e| panic!("{path}: generated code: {e}"));
            let mut out = String::from("generated:");
            for t in &model.types {
                out.push_str(&format!(" {}", t.full_name()));
            }
            out.push('\n');
            for w in &warnings {
                out.push_str(&w.render(Some(text)));
            }
            out
        }
        Err(d) => {
            assert!(
                d.iter().all(|d| d.source.line > 0 && d.source.file == path),
                "{path}: every diagnostic is located: {d}"
            );
            format!(
                "not generated:\n{}",
                d.render_with(|_| Some(text.to_string()))
            )
        }
    }
}

#[test]
fn apache_avro_test_schemas_generate_or_say_what_is_unsupported() {
    let mut report = String::new();
    for (path, text) in apache_schemas() {
        report.push_str(&format!("== {path}\n{}\n", outcome(&path, &text)));
    }
    insta::assert_snapshot!("apache_schema_outcomes", report);
}

#[test]
fn apache_avro_itself_parses_every_fixture_schema() {
    // The fixture is valid Avro: what carebus refuses, it refuses as unsupported, not as
    // invalid input.
    for (path, text) in apache_schemas() {
        apache_avro::Schema::parse_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
