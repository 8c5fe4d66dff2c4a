//! Fixture descriptors in, prost wire files (no protoc), the `wire` module, wire paths and domain ↔ wire conversions out.

use crate::proto_harness::*;
use carebus_codegen::emit::proto::{
    compile_wire_types, conversions, wire_module, wire_packages, wire_packages_of, wire_path,
};
use std::process::Command;

/// Compile the fixture through protox and prost-build into a fresh directory.
fn wire_files() -> std::path::PathBuf {
    let out = load_fixture();
    let dir = scratch_dir().join("out");
    compile_wire_types(&out.descriptors, &dir).expect("prost-build writes the wire types");
    dir
}

#[test]
fn prost_build_writes_one_file_per_package_from_protox_descriptors() {
    let dir = wire_files();
    let code = std::fs::read_to_string(dir.join("healthcare.ai.rs")).unwrap();
    assert!(code.contains("pub struct AnalysisRequested"), "{code}");
    assert!(code.contains("pub struct Finding"), "{code}");
    assert!(code.contains("pub enum AnalysisKind"), "{code}");
    assert!(code.contains("::prost_types::Timestamp"), "{code}");
    // Doc comments travel from the .proto through the descriptors' source info.
    assert!(code.contains("A clinician asked the AI service to analyse a study."));
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        ["healthcare.ai.rs"],
        "no carebus.rs or google.protobuf.rs"
    );
}

/// protoc is not installed on the build machines (`which protoc` finds nothing here), and
/// nothing in the pipeline needs it. To prove that rather than trust it, the test re-runs
/// itself in a child process whose PATH is empty and whose PROTOC points nowhere: loading
/// and prost-build code generation must still succeed there.
#[test]
fn builds_with_no_protoc_anywhere() {
    if std::env::var_os("CAREBUS_NO_PROTOC_CHILD").is_some() {
        let dir = wire_files();
        assert!(dir.join("healthcare.ai.rs").is_file());
        return;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "builds_with_no_protoc_anywhere",
            "--test-threads=1",
        ])
        .env("CAREBUS_NO_PROTOC_CHILD", "1")
        .env("PATH", "")
        .env("PROTOC", "/nonexistent/protoc")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "loading and prost-build failed without protoc"
    );
}

#[test]
fn wire_paths_follow_prost_naming() {
    for (full_name, path) in [
        (
            "healthcare.ai.AnalysisRequested",
            "wire :: healthcare :: ai :: AnalysisRequested",
        ),
        (
            "healthcare.ai.AnalysisCompleted.Finding",
            "wire :: healthcare :: ai :: analysis_completed :: Finding",
        ),
        (
            "healthcare.ai.lab_panel",
            "wire :: healthcare :: ai :: LabPanel",
        ),
        ("x.type.Mod", "wire :: x :: r#type :: Mod"),
    ] {
        assert_eq!(wire_path(full_name).to_string(), path, "{full_name}");
    }
}

#[test]
fn wire_module_nests_packages_and_includes_prost_output() {
    let out = load_fixture();
    let packages = wire_packages(&out.descriptors);
    assert_eq!(packages, ["healthcare.ai"]);
    let model = Model {
        events: out.events,
        types: out.types,
        ..Model::default()
    };
    assert_eq!(wire_packages_of(&model), packages);

    let tokens = wire_module(&["healthcare.ai".into(), "healthcare.lab".into()]);
    let file = syn::parse2::<syn::File>(tokens).expect("valid Rust");
    let text = prettyplease::unparse(&file);
    assert!(text.contains("pub mod wire {"), "{text}");
    assert!(text.contains("pub mod healthcare {"), "{text}");
    assert!(text.contains("pub mod ai {"), "{text}");
    assert!(
        text.contains(r#"include!(concat!(env!("OUT_DIR"), "/healthcare.ai.rs"));"#),
        "{text}"
    );
    assert!(text.contains(r#""/healthcare.lab.rs""#), "{text}");
    assert_eq!(text.matches("pub mod healthcare").count(), 1, "{text}");
}

#[test]
fn conversions_cover_every_protobuf_record_both_ways() {
    let out = load_fixture();
    let model = Model {
        events: out.events,
        types: out.types,
        ..Model::default()
    };
    let file = syn::parse2::<syn::File>(conversions(&model)).expect("valid Rust");
    // Compare without whitespace: prettyplease wraps long impl headers.
    let text: String = prettyplease::unparse(&file)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for record in ["AnalysisRequested", "AnalysisCompleted", "Finding"] {
        let wire = format!("wire::healthcare::ai::{record}");
        assert!(
            text.contains(&format!(
                "impl::std::convert::From<&healthcare::ai::{record}>for{wire}"
            )),
            "{record}: {text}"
        );
        assert!(
            text.contains(&format!(
                "impl::std::convert::TryFrom<{wire}>forhealthcare::ai::{record}"
            )),
            "{record}: {text}"
        );
    }
    // A required message field missing on the wire is a MissingField error.
    assert!(
        text.contains("::carebus_core::DecodeError::MissingField"),
        "{text}"
    );
    assert!(text.contains("\"primary\""), "{text}");
    // Enums go through their numbers, keeping unknown ones.
    assert!(text.contains("AnalysisKind::from_number"), "{text}");
    assert!(text.contains("AnalysisKind::number"), "{text}");
    // PHI is unwrapped only to build the wire struct, and wrapped again on decode.
    assert!(text.contains(".expose()"), "{text}");
    assert!(text.contains("::carebus_core::Phi::new"), "{text}");
    assert!(!text.contains("compile_error"), "{text}");
    assert!(
        text.contains("wire::healthcare::ai::Finding::from(&v.primary)"),
        "{text}"
    );
}
