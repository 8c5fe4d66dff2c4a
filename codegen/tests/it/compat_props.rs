//! Properties of the compatibility checks over generated schemas: a schema reads itself, a field added with a default is compatible both ways, a field added without one is backward-incompatible only; and no lock-file text makes the history parser panic.

use crate::compat_support::*;
use carebus_codegen::check::compat::can_read;
use carebus_codegen::history::History;
use carebus_codegen::ir::{Field, Type};
use proptest::prelude::*;
use serde_json::json;

fn leaf() -> impl Strategy<Value = Type> {
    prop_oneof![
        Just(Type::Boolean),
        Just(Type::Int),
        Just(Type::Long),
        Just(Type::Float),
        Just(Type::Double),
        Just(Type::Bytes),
        Just(Type::String),
        Just(Type::Uuid),
        Just(Type::Date),
        Just(Type::TimestampMicros),
        (1u32..20, 0u32..5).prop_map(|(precision, scale)| Type::Decimal { precision, scale }),
    ]
}

fn ty() -> impl Strategy<Value = Type> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(array),
            inner.clone().prop_map(map),
            // Avro unions may not immediately contain unions.
            inner.prop_map(|t| match t {
                Type::Union { .. } => t,
                t => optional(t),
            }),
        ]
    })
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec(ty(), 1..6).prop_map(|types| {
        types
            .into_iter()
            .enumerate()
            .map(|(i, t)| field(&format!("f{i}"), t))
            .collect()
    })
}

proptest! {
    #[test]
    fn a_schema_reads_itself(fields in fields()) {
        let s = snapshot(event_record("s.avsc", fields), vec![]);
        prop_assert!(can_read(s.view(), s.view()).is_empty());
    }

    #[test]
    fn a_field_added_with_a_default_is_compatible_both_ways(fields in fields(), extra in ty()) {
        let old = snapshot(event_record("old.avsc", fields.clone()), vec![]);
        let mut more = fields;
        let extra = match extra {
            Type::Union { .. } => extra,
            t => optional(t),
        };
        more.push(with_default(field("added", extra), json!(null)));
        let new = snapshot(event_record("new.avsc", more), vec![]);
        prop_assert!(can_read(old.view(), new.view()).is_empty());
        prop_assert!(can_read(new.view(), old.view()).is_empty());
    }

    #[test]
    fn a_field_added_without_a_default_breaks_only_backward(fields in fields(), extra in ty()) {
        let old = snapshot(event_record("old.avsc", fields.clone()), vec![]);
        let mut more = fields;
        more.push(field("added", extra));
        let new = snapshot(event_record("new.avsc", more), vec![]);
        let backward = can_read(old.view(), new.view());
        prop_assert_eq!(backward.len(), 1);
        prop_assert_eq!(backward[0].rule.code(), "field-without-default");
        prop_assert_eq!(backward[0].path.as_str(), "PatientCreated.added");
        prop_assert!(can_read(new.view(), old.view()).is_empty());
    }

    #[test]
    fn no_lock_text_panics(text in ".{0,200}") {
        let _ = History::parse("schema-history.lock", &text);
    }

    #[test]
    fn no_json_shaped_lock_panics(events in prop::collection::btree_map("[A-Z][a-z]{1,8}", any::<u8>(), 0..4)) {
        let body: serde_json::Map<String, serde_json::Value> = events
            .into_iter()
            .map(|(name, n)| (name, json!({"versions": [{"version": n, "revisions": []}]})))
            .collect();
        let text = json!({"lock_format": 1, "events": body}).to_string();
        let history = History::parse("schema-history.lock", &text).unwrap();
        // An empty version entry is tolerated by the gate (no panic, nothing to compare).
        let _ = carebus_codegen::check::gate(&carebus_codegen::Model::default(), &history);
    }
}
