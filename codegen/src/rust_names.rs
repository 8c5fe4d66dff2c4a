//! The IR in, the Rust names the generator gives it out, stored on the IR nodes: one module per namespace, type and field names, per-topic item names, handler and publisher methods.
//!
//! Computed once here; the emitters, the derive macro and the catalog read the `rust` fields.
//! A type lives in the module of its namespace (`healthcare.patient.PatientCreated` →
//! `healthcare::patient::PatientCreated`) and keeps its own name whatever else is defined, so
//! adding a type never changes an existing path. A name defined by one namespace only is also
//! re-exported at the root; a name defined by two is reachable by module path only, with a
//! warning that says so. The envelope and the records of its namespace stay at the root.

use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::emit::{self, ident};
use crate::ir::{Model, NamedType, Record, RustEvent, RustTopic, RustType, Source};
use heck::ToSnakeCase;
use std::collections::{BTreeMap, BTreeSet};

/// Items at the root of every generated file besides the per-topic ones: a type of the same
/// name is not re-exported there.
pub const ROOT_ITEMS: &[&str] = &[
    "AnyEvent",
    "EVENTS",
    "TOPICS",
    "decode",
    "decode_fingerprint",
];

/// Fill the `rust` fields of every event, record, enum, fixed, field and topic of `model`.
/// Returns warnings: one per type name defined in more than one namespace.
pub fn assign(model: &mut Model) -> Vec<Diagnostic> {
    for t in &mut model.topics {
        t.rust = topic(&t.name);
    }
    let newest: BTreeMap<String, u32> = model
        .events
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                model.newest(&e.name).map_or(e.version, |n| n.version),
            )
        })
        .collect();
    for e in &mut model.events {
        let name = if newest.get(&e.name) == Some(&e.version) {
            ident::camel(&e.name)
        } else {
            ident::camel(&format!("{}V{}", e.name, e.version))
        };
        name_record(&mut e.record, name);
    }
    for t in &mut model.types {
        match t {
            NamedType::Record(r) => {
                let name = ident::camel(&r.name);
                name_record(r, name);
            }
            NamedType::Enum(e) => e.rust = type_names(&e.namespace, ident::camel(&e.name)),
            NamedType::Fixed(f) => f.rust = type_names(&f.namespace, ident::camel(&f.name)),
        }
    }
    if let Some(r) = &mut model.envelope {
        let name = ident::camel(&r.name);
        name_record(r, name);
    }
    // The envelope and the records of its namespace are the framework's, not domain types:
    // they stay at the root, so their namespace (`carebus`) does not become a module named
    // like the `carebus` crate (a glob import of the schemas crate would shadow it).
    if let Some(envelope) = model.envelope.as_ref().map(|r| r.namespace.clone()) {
        for (rust, namespace, _) in all_types(model) {
            if namespace == envelope {
                rust.module.clear();
            }
        }
    }
    let warnings = mark_flat(model);
    assign_methods(model);
    warnings
}

/// The per-topic item names: the topic's middle segment(s) in UpperCamelCase as stem
/// (`healthcare.patients.events` → `PatientsEvent`, `PatientsHandler`, ...).
pub fn topic(name: &str) -> RustTopic {
    let segments: Vec<&str> = name.split('.').collect();
    let middle = if segments.len() >= 3 {
        segments[1..segments.len() - 1].join("_")
    } else {
        name.replace('.', "_")
    };
    let stem = ident::camel(&middle);
    RustTopic {
        events_enum: format!("{stem}Event"),
        handler_trait: format!("{stem}Handler"),
        dispatcher: format!("{stem}Dispatcher"),
        publisher_trait: format!("{stem}Publisher"),
        any_event_variant: stem,
    }
}

/// The module path of a namespace: one snake_case module per segment.
pub fn module_of(namespace: &str) -> Vec<String> {
    namespace
        .split('.')
        .filter(|s| !s.is_empty())
        .map(ident::snake)
        .collect()
}

fn type_names(namespace: &str, name: String) -> RustType {
    RustType {
        module: module_of(namespace),
        name,
        flat: false,
    }
}

fn name_record(r: &mut Record, name: String) {
    r.rust = type_names(&r.namespace, name);
    let idents: Vec<String> = r
        .fields
        .iter()
        .map(|f| ident::field_ident(&r.fields, &f.name).to_string())
        .collect();
    for (f, id) in r.fields.iter_mut().zip(idents) {
        f.rust = id;
    }
}

/// Every generated type's names with where it was written, records of events included.
fn all_types(model: &mut Model) -> Vec<(&mut RustType, String, Source)> {
    let mut out = Vec::new();
    for e in &mut model.events {
        out.push((&mut e.record.rust, e.namespace.clone(), e.source.clone()));
    }
    for t in &mut model.types {
        let (namespace, source) = match t {
            NamedType::Record(r) => (r.namespace.clone(), r.source.clone()),
            NamedType::Enum(e) => (e.namespace.clone(), e.source.clone()),
            NamedType::Fixed(f) => (f.namespace.clone(), f.source.clone()),
        };
        let rust = match t {
            NamedType::Record(r) => &mut r.rust,
            NamedType::Enum(e) => &mut e.rust,
            NamedType::Fixed(f) => &mut f.rust,
        };
        out.push((rust, namespace, source));
    }
    if let Some(r) = &mut model.envelope {
        out.push((&mut r.rust, r.namespace.clone(), r.source.clone()));
    }
    out
}

/// The names of the items at the root of the generated file (a type of the same name is not
/// re-exported there): [`ROOT_ITEMS`] and every topic's items.
pub fn root_names(model: &Model) -> BTreeSet<String> {
    let mut root: BTreeSet<String> = ROOT_ITEMS.iter().map(|s| s.to_string()).collect();
    let topics: BTreeSet<&str> = model.events.iter().map(|e| e.topic.as_str()).collect();
    for t in topics {
        let t = topic(t);
        root.extend([
            t.events_enum,
            t.handler_trait,
            t.dispatcher,
            t.publisher_trait,
        ]);
    }
    root
}

/// Set `flat` on every type whose name one namespace defines; warn about the others.
fn mark_flat(model: &mut Model) -> Vec<Diagnostic> {
    let root = root_names(model);
    let mut types = all_types(model);
    let mut namespaces: BTreeMap<String, BTreeMap<String, (Vec<String>, Source)>> = BTreeMap::new();
    for (rust, namespace, source) in &types {
        namespaces
            .entry(rust.name.clone())
            .or_default()
            .entry(namespace.clone())
            .or_insert_with(|| (rust.module.clone(), source.clone()));
    }
    for (rust, _, _) in &mut types {
        rust.flat = namespaces[&rust.name].len() == 1 && !root.contains(&rust.name);
    }
    namespaces
        .iter()
        .filter(|(_, defs)| defs.len() > 1)
        .map(|(name, defs)| ambiguous(name, defs))
        .collect()
}

fn ambiguous(name: &str, defs: &BTreeMap<String, (Vec<String>, Source)>) -> Diagnostic {
    let namespaces: Vec<String> = defs.keys().map(|ns| format!("`{ns}`")).collect();
    let paths: Vec<String> = defs
        .values()
        .map(|(module, _)| format!("`{}::{name}`", module.join("::")))
        .collect();
    let source = defs
        .values()
        .next()
        .map(|d| d.1.clone())
        .unwrap_or_default();
    Diagnostic::new(
        DiagnosticKind::AmbiguousName,
        source,
        format!(
            "type name `{name}` is defined in namespaces {}, so it is not re-exported at the crate root",
            namespaces.join(" and ")
        ),
    )
    .help(format!(
        "refer to it by module path: {} (or rename one of the types)",
        paths.join(" or ")
    ))
}

/// Handler and publisher method names. An older version has a handler method of its own
/// (`on_x_v1`) only when it cannot be upcast to the newest version.
fn assign_methods(model: &mut Model) {
    let upcastable: Vec<bool> = {
        let ctx = emit::Ctx::new(model);
        model
            .events
            .iter()
            .map(|e| {
                emit::upcast::newest_of(&ctx, e)
                    .is_some_and(|newest| emit::upcast::upcast(&ctx, e, newest).is_ok())
            })
            .collect()
    };
    let newest: Vec<bool> = model
        .events
        .iter()
        .map(|e| model.newest(&e.name).is_none_or(|n| n.version == e.version))
        .collect();
    for ((e, newest), upcastable) in model.events.iter_mut().zip(newest).zip(upcastable) {
        let snake = e.name.to_snake_case();
        e.rust = RustEvent {
            handler_method: match (newest, upcastable) {
                (true, _) => Some(ident::snake(&format!("on_{snake}"))),
                (false, true) => None,
                (false, false) => Some(ident::snake(&format!("on_{snake}_v{}", e.version))),
            },
            publish_method: newest.then(|| ident::snake(&format!("publish_{snake}"))),
        };
    }
}

/// Whether the names of `model` were assigned (a model built by hand has none yet).
pub fn is_named(model: &Model) -> bool {
    model.events.iter().all(|e| !e.record.rust.name.is_empty())
        && model.types.iter().all(|t| !t.rust().name.is_empty())
        && model.topics.iter().all(|t| !t.rust.events_enum.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_items_are_named_after_the_middle_segments() {
        let t = topic("healthcare.care_plans.events");
        assert_eq!(t.events_enum, "CarePlansEvent");
        assert_eq!(t.handler_trait, "CarePlansHandler");
        assert_eq!(t.dispatcher, "CarePlansDispatcher");
        assert_eq!(t.publisher_trait, "CarePlansPublisher");
        assert_eq!(topic("healthcare.ai.events").any_event_variant, "Ai");
        assert_eq!(topic("audit").any_event_variant, "Audit");
    }

    #[test]
    fn namespaces_become_snake_case_modules() {
        assert_eq!(module_of("healthcare.patient"), ["healthcare", "patient"]);
        assert_eq!(
            module_of("Healthcare.CarePlans"),
            ["healthcare", "care_plans"]
        );
        assert_eq!(module_of("x.type"), ["x", "r#type"]);
        assert!(module_of("").is_empty());
    }
}
