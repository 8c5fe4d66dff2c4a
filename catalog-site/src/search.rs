//! The model turned into the client-side search index: a JS file assigning one global, so search works from `file://` without fetch().

use crate::html::path;
use crate::pages::{field_anchor, reachable_types, type_anchor};
use carebus_codegen::ir::{Classification, Field, Model, NamedType};
use serde::Serialize;

/// One searchable thing. Short keys keep the index small.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// Kind: `event`, `field`, `type`, `topic`, `service`, `guide`.
    pub k: &'static str,
    /// Name shown and matched first (field name, event name, ...).
    pub n: String,
    /// Context: for fields `Event vN` (and the nested record), for events the topic.
    pub c: String,
    /// Type label (fields only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub t: String,
    /// Classification: `phi`, `pii` or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub s: String,
    /// Documentation text, matched after the name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub d: String,
    /// Site-relative URL.
    pub u: String,
}

fn class_key(c: Classification) -> String {
    match c {
        Classification::Phi => "phi".into(),
        Classification::Pii => "pii".into(),
        Classification::None => String::new(),
    }
}

fn field_entry(field: &Field, context: String, url: String) -> Entry {
    let mut doc = field.doc.clone().unwrap_or_default();
    if let Some(reason) = &field.deprecated {
        doc = format!("{doc} (deprecated: {reason})").trim().to_string();
    }
    Entry {
        k: "field",
        n: field.name.clone(),
        c: context,
        t: field.ty.to_string(),
        s: class_key(field.classification),
        d: doc,
        u: url,
    }
}

/// Every event, every field of every event version (nested records included), topics,
/// services and guides.
pub fn entries(model: &Model) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in model.latest_events() {
        out.push(Entry {
            k: "event",
            n: e.name.clone(),
            c: format!("{} · v{}", e.topic, e.version),
            t: String::new(),
            s: String::new(),
            d: e.doc.clone().unwrap_or_default(),
            u: path::event(&e.name),
        });
    }
    let mut events: Vec<_> = model.events.iter().collect();
    events.sort_by(|a, b| a.name.cmp(&b.name).then(b.version.cmp(&a.version)));
    for e in events {
        let newest = model.versions(&e.name).last().map(|v| v.version) == Some(e.version);
        let page = if newest {
            path::event(&e.name)
        } else {
            path::event_version(&e.name, e.version)
        };
        let context = format!("{} v{}", e.name, e.version);
        for f in &e.record.fields {
            out.push(field_entry(
                f,
                context.clone(),
                format!("{page}#{}", field_anchor(None, &f.name)),
            ));
        }
        for ty in reachable_types(model, &e.record.fields) {
            if let NamedType::Record(r) = ty {
                let full = r.full_name();
                for f in &r.fields {
                    out.push(field_entry(
                        f,
                        format!("{context} › {}", r.name),
                        format!("{page}#{}", field_anchor(Some(&full), &f.name)),
                    ));
                }
            }
        }
    }
    // Shared types, once per event that uses them (newest versions), so searching a type
    // name answers "which events carry an Identifier?".
    for e in model.latest_events() {
        for ty in reachable_types(model, &e.record.fields) {
            let full = ty.full_name();
            let kind = match ty {
                NamedType::Record(_) => "record",
                NamedType::Enum(_) => "enum",
                NamedType::Fixed(_) => "fixed",
            };
            out.push(Entry {
                k: "type",
                n: crate::names::short_name(&full).to_string(),
                c: format!("{} v{} · {kind} {full}", e.name, e.version),
                t: String::new(),
                s: String::new(),
                d: String::new(),
                u: format!("{}#{}", path::event(&e.name), type_anchor(&full)),
            });
        }
    }
    let mut topics: Vec<_> = model.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    for t in topics {
        out.push(Entry {
            k: "topic",
            n: t.name.clone(),
            c: format!("{} partitions", t.partitions),
            t: String::new(),
            s: String::new(),
            d: t.doc.clone().unwrap_or_default(),
            u: path::topic(&t.name),
        });
    }
    let mut services: Vec<_> = model.services.iter().collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in services {
        out.push(Entry {
            k: "service",
            n: s.name.clone(),
            c: "service".into(),
            t: String::new(),
            s: String::new(),
            d: s.doc.clone().unwrap_or_default(),
            u: path::service(&s.name),
        });
    }
    let mut guides: Vec<_> = model.guides.iter().collect();
    guides.sort_by(|a, b| a.slug.cmp(&b.slug));
    for g in guides {
        out.push(Entry {
            k: "guide",
            n: g.title.clone(),
            c: "guide".into(),
            t: String::new(),
            s: String::new(),
            d: g.markdown.clone(),
            u: path::guide(&g.slug),
        });
    }
    out
}

/// The `search-index.js` file: `window.CAREBUS_SEARCH_INDEX = [...];`.
pub fn index_js(model: &Model) -> String {
    let json = serde_json::to_string(&entries(model)).unwrap_or_else(|_| "[]".to_string());
    // `</script>` cannot end the script early since this is a separate file, but keep `<`
    // escaped anyway so the JSON is safe to inline.
    let json = json.replace('<', "\\u003c");
    format!("window.CAREBUS_SEARCH_INDEX = {json};\n")
}
