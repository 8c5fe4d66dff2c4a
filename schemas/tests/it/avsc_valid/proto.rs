//! The AI `.proto` in, its events and their carebus options out: compiled with protox (no protoc), options read with prost-reflect.

use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use std::borrow::Cow;

/// One Protobuf event: a message carrying `(carebus.topic)`.
pub struct ProtoEvent {
    pub name: String,
    pub topic: String,
    /// What is wrong with its options, fields or enums.
    pub problems: Vec<String>,
}

fn pool() -> DescriptorPool {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let mut compiler = protox::Compiler::new([&root]).unwrap_or_else(|e| panic!("protox: {e}"));
    compiler
        .open_files(["ai/ai_events.proto"])
        .unwrap_or_else(|e| panic!("ai/ai_events.proto does not compile: {e}"));
    compiler.descriptor_pool()
}

fn option<'a>(
    pool: &DescriptorPool,
    options: &'a DynamicMessage,
    name: &str,
) -> Option<Cow<'a, Value>> {
    let ext = pool
        .get_extension_by_name(&format!("carebus.{name}"))
        .unwrap_or_else(|| panic!("options.proto declares no carebus.{name}"));
    options
        .has_extension(&ext)
        .then(|| options.get_extension(&ext))
}

fn string_option(pool: &DescriptorPool, options: &DynamicMessage, name: &str) -> String {
    option(pool, options, name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Every event message of the AI domain, with its problems checked.
pub fn events() -> Vec<ProtoEvent> {
    let pool = pool();
    let mut out = Vec::new();
    let mut enum_problems = Vec::new();
    for e in pool
        .all_enums()
        .filter(|e| e.package_name() == "healthcare.ai")
    {
        let zero = e.values().find(|v| v.number() == 0);
        if !zero.is_some_and(|v| v.name().ends_with("_UNSPECIFIED")) {
            enum_problems.push(format!("enum {}: value 0 must be *_UNSPECIFIED", e.name()));
        }
    }
    for m in pool
        .all_messages()
        .filter(|m| m.package_name() == "healthcare.ai")
    {
        let opts = m.options();
        let mut problems = Vec::new();
        for f in m.fields() {
            let fopts = f.options();
            if let Some(list) = option(&pool, &fopts, "examples") {
                for ex in list.as_list().unwrap_or_default() {
                    if serde_json::from_str::<serde_json::Value>(ex.as_str().unwrap_or_default())
                        .is_err()
                    {
                        problems.push(format!(
                            "{}.{}: example {ex:?} is not JSON",
                            m.name(),
                            f.name()
                        ));
                    }
                }
            }
            let class = string_option(&pool, &fopts, "classification");
            if !["", "phi", "pii", "none"].contains(&class.as_str()) {
                problems.push(format!(
                    "{}.{}: classification {class:?}",
                    m.name(),
                    f.name()
                ));
            }
        }
        let topic = string_option(&pool, &opts, "topic");
        if topic.is_empty() {
            continue;
        }
        let aggregate_id = string_option(&pool, &opts, "aggregate_id");
        if !m
            .fields()
            .any(|f| f.name() == aggregate_id && f.kind() == prost_reflect::Kind::String)
        {
            problems.push(format!(
                "{}: aggregate_id {aggregate_id:?} names no string field (by its .proto name)",
                m.name()
            ));
        }
        if string_option(&pool, &opts, "aggregate_type").is_empty() {
            problems.push(format!("{}: aggregate_type missing", m.name()));
        }
        if option(&pool, &opts, "event_version")
            .and_then(|v| v.as_i32())
            .is_none_or(|v| v < 1)
        {
            problems.push(format!(
                "{}: event_version must be a positive integer",
                m.name()
            ));
        }
        let compat = string_option(&pool, &opts, "compatibility");
        if ![
            "BACKWARD",
            "BACKWARD_TRANSITIVE",
            "FORWARD",
            "FORWARD_TRANSITIVE",
            "FULL",
            "FULL_TRANSITIVE",
            "NONE",
        ]
        .contains(&compat.as_str())
        {
            problems.push(format!(
                "{}: compatibility {compat:?} is not a mode",
                m.name()
            ));
        }
        problems.append(&mut enum_problems);
        out.push(ProtoEvent {
            name: m.name().to_string(),
            topic,
            problems,
        });
    }
    out
}
