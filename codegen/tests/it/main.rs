//! The generator's integration tests in one binary: loading Avro and Protobuf, diagnostics, the compatibility gates, the journey checks, the emitters (snapshots and the compiled fixture), recursive records, the build configuration.

mod analytics;
mod apache_schemas;
mod compat_avro;
mod compat_gate;
mod compat_history;
mod compat_modes;
mod compat_parity;
mod compat_props;
mod compat_proto;
mod compat_schemas;
mod compat_support;
mod config;
mod emit_fixture;
mod flow_diagnostics;
mod journey_diagnostics;
mod load_avro;
mod load_domain;
mod load_logical;
mod proto_diagnostics;
mod proto_harness;
mod proto_load;
mod proto_wire;
mod recursion;
