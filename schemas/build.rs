//! Build script: the schema files in this folder in, typed Rust events (plus prost wire types and the IR JSON) in `OUT_DIR` out, via carebus-codegen.
//!
//! A problem in a schema fails the build with file:line:column, what is wrong and how to fix
//! it. The compatibility gate records new versions in `schema-history.lock`.
fn main() {
    carebus_codegen::Config::new().generate_or_exit();
}
