//! Build script: the schema files in this folder in, typed Rust events (plus prost wire types and the IR JSON) in `OUT_DIR` out, via carebus-codegen.
//!
//! A problem in a schema fails the build with file:line:column, what is wrong and how to fix
//! it. The build never writes into this folder: a change `schema-history.lock` does not record
//! fails it, naming `cargo run -p carebus-codegen -- lock`.
fn main() {
    carebus_codegen::Config::new()
        .analytics_review(true)
        .generate_or_exit();
}
