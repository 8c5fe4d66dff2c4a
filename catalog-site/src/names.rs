//! Schema types and event names turned into what readers see: readable type strings and the generated Rust names (per docs/conventions.md).

use carebus_codegen::ir::{Event, Model, Type};
use heck::{ToSnakeCase, ToUpperCamelCase};

/// The last segment of a dotted full name.
pub fn short_name(full_name: &str) -> &str {
    full_name.rsplit('.').next().unwrap_or(full_name)
}

/// Whether a field may be absent: nullable unions are optional, everything else required.
pub fn is_optional(ty: &Type) -> bool {
    match ty {
        Type::Null => true,
        Type::Union { branches } => branches.iter().any(|b| matches!(b, Type::Null)),
        _ => false,
    }
}

/// Full names of the named types a type refers to, in order of appearance.
pub fn named_refs(ty: &Type, out: &mut Vec<String>) {
    match ty {
        Type::Named { name } if !out.contains(name) => out.push(name.clone()),
        Type::Array { items } => named_refs(items, out),
        Type::Map { values } => named_refs(values, out),
        Type::Union { branches } => branches.iter().for_each(|b| named_refs(b, out)),
        _ => {}
    }
}

/// The Rust stem of a topic: its middle segment(s) in UpperCamelCase
/// (`healthcare.patients.events` → `Patients`).
pub fn topic_stem(topic: &str) -> String {
    let parts: Vec<&str> = topic.split('.').collect();
    let middle = if parts.len() > 2 {
        &parts[1..parts.len() - 1]
    } else {
        &parts[..]
    };
    middle.iter().map(|p| p.to_upper_camel_case()).collect()
}

/// The generated Rust names for one event version.
pub struct RustNames {
    pub type_name: String,
    pub handler_trait: String,
    pub publisher_trait: String,
    pub topic_enum: String,
    pub publish_method: String,
    pub handle_method: String,
}

impl RustNames {
    pub fn of(model: &Model, event: &Event) -> RustNames {
        let stem = topic_stem(&event.topic);
        let snake = event.name.to_snake_case();
        RustNames {
            type_name: model.rust_type_name(event),
            handler_trait: format!("{stem}Handler"),
            publisher_trait: format!("{stem}Publisher"),
            topic_enum: format!("{stem}Event"),
            publish_method: format!("publish_{snake}"),
            handle_method: format!("on_{snake}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_stems_follow_the_conventions() {
        assert_eq!(topic_stem("healthcare.patients.events"), "Patients");
        assert_eq!(topic_stem("healthcare.ai.events"), "Ai");
        assert_eq!(topic_stem("healthcare.care_plans.events"), "CarePlans");
    }

    #[test]
    fn labels_read_naturally() {
        let opt = Type::Union {
            branches: vec![Type::Null, Type::Uuid],
        };
        assert_eq!(opt.to_string(), "uuid?");
        assert!(is_optional(&opt));
        let arr = Type::Array {
            items: Box::new(Type::Named {
                name: "healthcare.common.Code".into(),
            }),
        };
        assert_eq!(arr.to_string(), "array<Code>");
        assert!(!is_optional(&arr));
    }
}
