//! Shared helpers of the Protobuf tests: the fixture paths, writing throwaway schemas, and loading them.
#![allow(dead_code, unused_imports)]

pub use carebus_codegen::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
pub use carebus_codegen::ir::*;
pub use carebus_codegen::load::proto::{ProtoOutput, load_proto};
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proto")
}

pub fn load_fixture() -> ProtoOutput {
    let dir = fixtures();
    load_proto(&[dir.join("healthcare/ai/analysis.proto")], &[dir])
        .unwrap_or_else(|d| panic!("fixture does not load:\n{}", d.render()))
}

pub fn named(name: &str) -> Type {
    Type::Named { name: name.into() }
}

pub fn optional(t: Type) -> Type {
    Type::Union {
        branches: vec![Type::Null, t],
    }
}

/// A fresh directory holding a copy of the carebus options, for throwaway schemas.
pub fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "carebus-proto-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("carebus")).unwrap();
    std::fs::copy(
        fixtures().join("carebus/options.proto"),
        dir.join("carebus/options.proto"),
    )
    .unwrap();
    dir
}
