//! carebus-codegen: schema files in (Avro `.avsc`, Protobuf `.proto`, topics and services manifests), one IR, then Rust code and IR JSON out.
//!
//! Pipeline: [`load`] → [`ir::Model`] → [`check`] (diagnostics, compatibility gate) → [`emit`].
//! Called from the `build.rs` of the schemas crate through [`Config`], and by the derive
//! macros through [`derive`].

pub mod analytics;
pub mod check;
pub mod config;
pub mod derive;
pub mod diagnostic;
pub mod emit;
pub mod fingerprint;
pub mod history;
pub mod ir;
pub mod journey_lock;
pub mod load;
pub mod rust_names;

pub use config::Config;
pub use diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
pub use ir::Model;
