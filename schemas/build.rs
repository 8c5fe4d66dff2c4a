//! Build script: schema files in this crate in, generated Rust events out (via carebus-codegen).
fn main() {}
