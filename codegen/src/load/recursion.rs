//! The records of a loaded model in, its recursion facts out: each record's cycle (`Record::cycle`), and a located diagnostic for every record no finite value can fill and for every field that names an event's record.
//!
//! A record is recursive when it can contain itself through its fields, directly
//! (`Node.next: ["null", "Node"]`) or through other records (`A` → `B` → `A`). Recursion needs
//! a way out: an optional field, a union with a branch that ends it, an array or a map (empty
//! ends it). A record whose every value would have to contain another value of it (a required
//! field of its own type, directly or through required records) has no finite value and is
//! rejected here, at the field, rather than generating a struct that cannot exist.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::ir::{Event, NamedType, Record, Type};
use std::collections::{BTreeMap, BTreeSet};

/// Set `cycle` on every record of `types` and report records without a finite value and
/// fields whose type is an event.
pub fn mark(events: &[Event], types: &mut [NamedType]) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let records: BTreeMap<String, &Record> = types
        .iter()
        .filter_map(|t| match t {
            NamedType::Record(r) => Some((r.full_name(), r)),
            _ => None,
        })
        .collect();
    let event_names: BTreeSet<String> = events
        .iter()
        .map(Event::full_name)
        .filter(|n| !records.contains_key(n))
        .collect();
    for r in events
        .iter()
        .map(|e| &e.record)
        .chain(records.values().copied())
    {
        for f in &r.fields {
            let mut named = Vec::new();
            named_in(&f.ty, &mut named);
            if let Some(event) = named.iter().find(|n| event_names.contains(**n)) {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        f.source.clone(),
                        format!(
                            "field `{}` of `{}` holds the event `{event}`: an event's record is not a type fields can hold",
                            f.name,
                            r.full_name()
                        ),
                    )
                    .help("move the fields both need into a named record (schemas/avro/common/) and use that record in both"),
                );
            }
        }
    }

    // Records each record reaches through one or more fields.
    let edges: BTreeMap<&str, BTreeSet<&str>> = records
        .iter()
        .map(|(name, r)| {
            let mut named = Vec::new();
            for f in &r.fields {
                named_in(&f.ty, &mut named);
            }
            let targets = named
                .into_iter()
                .filter(|n| records.contains_key(*n))
                .collect();
            (name.as_str(), targets)
        })
        .collect();
    let reach: BTreeMap<&str, BTreeSet<&str>> = edges
        .keys()
        .map(|&start| {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&str> = edges[start].iter().copied().collect();
            while let Some(n) = todo.pop() {
                if seen.insert(n) {
                    todo.extend(edges[n].iter().copied());
                }
            }
            (start, seen)
        })
        .collect();
    let cycles: BTreeMap<String, Vec<String>> = reach
        .iter()
        .filter(|(name, reached)| reached.contains(*name))
        .map(|(name, reached)| {
            let cycle = reached
                .iter()
                .filter(|other| reach[**other].contains(name))
                .map(|s| s.to_string())
                .collect();
            (name.to_string(), cycle)
        })
        .collect();

    // Records with a finite value: the least fixed point, starting from none.
    let mut finite: BTreeSet<&str> = BTreeSet::new();
    loop {
        let before = finite.len();
        for (name, r) in &records {
            if !finite.contains(name.as_str())
                && r.fields
                    .iter()
                    .all(|f| has_finite_value(&f.ty, &records, &finite))
            {
                finite.insert(name);
            }
        }
        if finite.len() == before {
            break;
        }
    }
    for (name, r) in &records {
        if finite.contains(name.as_str()) || !cycles.contains_key(name) {
            // A record that only holds an endless one is reported at the endless one.
            continue;
        }
        let Some(f) = r
            .fields
            .iter()
            .find(|f| !has_finite_value(&f.ty, &records, &finite))
        else {
            continue;
        };
        diags.push(
            Diagnostic::new(
                DiagnosticKind::InfiniteRecord,
                f.source.clone(),
                format!(
                    "record `{name}` has no finite value: its field `{}` ({}) is required, and every value of it contains another `{}`, without end",
                    f.name, f.ty, r.name
                ),
            )
            .help(if f.source.file.ends_with(".proto") {
                format!(
                    "give the recursion a way out: declare it `optional {} {} = ...;`, or `repeated`",
                    f.ty, f.name
                )
            } else {
                format!(
                    "give the recursion a way out: make the field optional, e.g. `{{\"name\": \"{}\", \"type\": [\"null\", \"{}\"], \"default\": null}}`, or hold the values in an array or map",
                    f.name, f.ty
                )
            }),
        );
    }

    for t in types.iter_mut() {
        if let NamedType::Record(r) = t {
            r.cycle = cycles.get(&r.full_name()).cloned().unwrap_or_default();
        }
    }
    diags
}

/// Every named type a type mentions, outside in.
fn named_in<'t>(ty: &'t Type, out: &mut Vec<&'t str>) {
    match ty {
        Type::Named { name } => out.push(name),
        Type::Array { items } => named_in(items, out),
        Type::Map { values } => named_in(values, out),
        Type::Union { branches } => branches.iter().for_each(|b| named_in(b, out)),
        _ => {}
    }
}

/// Whether a finite value of `ty` exists, given the records known to have one.
fn has_finite_value(
    ty: &Type,
    records: &BTreeMap<String, &Record>,
    finite: &BTreeSet<&str>,
) -> bool {
    match ty {
        // An empty array or map ends any recursion.
        Type::Array { .. } | Type::Map { .. } => true,
        Type::Union { branches } => branches
            .iter()
            .any(|b| has_finite_value(b, records, finite)),
        Type::Named { name } => !records.contains_key(name) || finite.contains(name.as_str()),
        _ => true,
    }
}
