//! Schema types and event names turned into what readers see: optionality, named-type references and the generated Rust names as the generator recorded them in the IR.

use carebus_codegen::ir::{Event, Model, Type};
use carebus_codegen::rust_names;

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

/// The generated Rust names of one event version, as the generator recorded them in the IR
/// (`rust` on the event, its record, its fields and its topic).
pub struct RustNames {
    /// The type's name: `PatientCreated`, `PatientCreatedV1`.
    pub type_name: String,
    /// What to import: the name at the crate root when it is re-exported there, else its
    /// module path (`healthcare::ai::Coding`).
    pub type_path: String,
    pub handler_trait: String,
    pub dispatcher: String,
    pub publisher_trait: String,
    pub topic_enum: String,
    /// The publisher method; newest version only.
    pub publish_method: Option<String>,
    /// The handler method that receives this version: its own (`on_patient_created`,
    /// `on_patient_created_v1`), or the newest version's when this one is upcast first.
    pub handle_method: String,
    /// Whether `handle_method` takes this version itself (not the upcast newest).
    pub own_handler: bool,
    /// The struct's field names as written in Rust (`patient_id`, `r#type`).
    pub fields: Vec<String>,
}

impl RustNames {
    pub fn of(model: &Model, event: &Event) -> RustNames {
        let topic = model
            .topic(&event.topic)
            .map_or_else(|| rust_names::topic(&event.topic), |t| t.rust.clone());
        let rust = &event.record.rust;
        let handle_method = event.rust.handler_method.clone().or_else(|| {
            model
                .newest(&event.name)
                .and_then(|n| n.rust.handler_method.clone())
        });
        RustNames {
            type_name: rust.name.clone(),
            type_path: if rust.flat {
                rust.name.clone()
            } else {
                rust.path()
            },
            handler_trait: topic.handler_trait,
            dispatcher: topic.dispatcher,
            publisher_trait: topic.publisher_trait,
            topic_enum: topic.events_enum,
            publish_method: event.rust.publish_method.clone(),
            handle_method: handle_method.unwrap_or_default(),
            own_handler: event.rust.handler_method.is_some(),
            fields: event.record.fields.iter().map(|f| f.rust.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
