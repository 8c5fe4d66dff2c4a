//! The page renderers (home, domain, topic, event, service, guide) and the pieces they share: field tables, type sections and human-readable topic settings.

pub mod event;
pub mod flows;
pub mod home;
pub mod journey;
pub mod other;
pub mod topic;

use crate::html::{Links, classification_badge, deprecated_badge, esc, path, table_wrap};
use crate::names::{is_optional, named_refs};
use carebus_codegen::ir::{Event, Field, Model, NamedType, Type};
use std::fmt::Write as _;

/// The HTML id of a field row: `field-<name>` for top-level fields, `type-<Type>-<name>` in nested records.
pub fn field_anchor(owner: Option<&str>, field: &str) -> String {
    match owner {
        None => format!("field-{}", crate::html::slug(field)),
        Some(t) => format!("type-{}-{}", crate::html::slug(t), crate::html::slug(field)),
    }
}

/// The HTML id of a nested named type's section (full name: short names may repeat).
pub fn type_anchor(full_name: &str) -> String {
    format!("type-{}", crate::html::slug(full_name))
}

/// A type label that links nested named types to their section on the same page.
fn type_cell(ty: &Type) -> String {
    let mut refs = Vec::new();
    named_refs(ty, &mut refs);
    let label = esc(&ty.to_string());
    match refs.as_slice() {
        [one] => format!(
            r##"<a href="#{}"><code>{label}</code></a>"##,
            type_anchor(one)
        ),
        _ => format!("<code>{label}</code>"),
    }
}

/// The fields table: name, type, required/optional, default, classification, documentation.
pub fn fields_table(fields: &[Field], owner: Option<&str>, caption: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "<table class=\"fields\"><caption>{}</caption><thead><tr><th scope=\"col\">Field</th><th scope=\"col\">Type</th><th scope=\"col\">Required</th><th scope=\"col\">Default</th><th scope=\"col\">Class</th><th scope=\"col\">Description</th></tr></thead><tbody>",
        esc(caption)
    );
    for f in fields {
        let required = if is_optional(&f.ty) {
            "optional"
        } else {
            "required"
        };
        let default = match &f.default {
            Some(d) => format!("<code>{}</code>", esc(&d.to_string())),
            None => r#"<span class="muted">—</span>"#.to_string(),
        };
        let mut doc = esc(f.doc.as_deref().unwrap_or(""));
        if let Some(reason) = &f.deprecated {
            let _ = write!(
                doc,
                r#" <span class="deprecation">{} {}</span>"#,
                deprecated_badge(reason),
                esc(reason)
            );
        }
        let number = f
            .proto_number
            .map(|n| format!(r#" <span class="muted">#{n}</span>"#))
            .unwrap_or_default();
        let row_class = if f.deprecated.is_some() {
            r#" class="is-deprecated""#
        } else {
            ""
        };
        let _ = writeln!(
            t,
            r#"<tr id="{anchor}"{row_class}><th scope="row"><code>{name}</code>{number}</th><td data-label="Type">{ty}</td><td data-label="Required">{required}</td><td data-label="Default">{default}</td><td data-label="Class">{badge}</td><td data-label="Description">{doc}</td></tr>"#,
            anchor = field_anchor(owner, &f.name),
            name = esc(&f.name),
            ty = type_cell(&f.ty),
            badge = classification_badge(f.classification),
        );
    }
    t.push_str("</tbody></table>");
    table_wrap(caption, &t)
}

/// Every named type reachable from `fields`, in order of first use, each once.
pub fn reachable_types<'m>(model: &'m Model, fields: &[Field]) -> Vec<&'m NamedType> {
    let mut names = Vec::new();
    for f in fields {
        named_refs(&f.ty, &mut names);
    }
    let mut i = 0;
    while i < names.len() {
        if let Some(NamedType::Record(r)) = model.named_type(&names[i]) {
            for f in &r.fields {
                named_refs(&f.ty, &mut names);
            }
        }
        i += 1;
    }
    names.iter().filter_map(|n| model.named_type(n)).collect()
}

/// Sections describing the nested records, enums and fixed types an event uses.
pub fn nested_types(model: &Model, event: &Event) -> String {
    let types = reachable_types(model, &event.record.fields);
    if types.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section aria-labelledby=\"nested-h\"><h2 id=\"nested-h\">Nested types</h2>\n",
    );
    for ty in types {
        let full = ty.full_name();
        let _ = write!(
            out,
            r#"<section class="nested" id="{}"><h3><code>{}</code></h3>"#,
            type_anchor(&full),
            esc(&full)
        );
        match ty {
            NamedType::Record(r) => {
                if let Some(doc) = &r.doc {
                    let _ = write!(out, "<p>{}</p>", esc(doc));
                }
                out.push_str(&fields_table(
                    &r.fields,
                    Some(&full),
                    &format!("Fields of {}", r.name),
                ));
            }
            NamedType::Enum(e) => {
                if let Some(doc) = &e.doc {
                    let _ = write!(out, "<p>{}</p>", esc(doc));
                }
                let symbols: Vec<String> = e
                    .symbols
                    .iter()
                    .map(|s| format!("<li><code>{}</code></li>", esc(&s.name)))
                    .collect();
                let _ = write!(
                    out,
                    r#"<p>Enum{}{}. Symbols:</p><ul class="symbols">{}</ul>"#,
                    if e.open {
                        " (open: unknown values are kept)"
                    } else {
                        ""
                    },
                    e.default
                        .as_ref()
                        .map(|d| format!(", default <code>{}</code>", esc(d)))
                        .unwrap_or_default(),
                    symbols.join("")
                );
            }
            NamedType::Fixed(f) => {
                let _ = write!(out, "<p>Fixed, {} bytes.</p>", f.size);
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
    out
}

/// A retention in words: `30 days`, `12 hours`, or the raw milliseconds.
pub fn retention_label(retention_ms: Option<i64>, compacted: bool) -> String {
    match retention_ms {
        None if compacted => "unlimited (compacted)".to_string(),
        None => "broker default".to_string(),
        Some(ms) if ms < 0 => "unlimited".to_string(),
        Some(ms) if ms > 0 && ms % 86_400_000 == 0 => plural(ms / 86_400_000, "day"),
        Some(ms) if ms > 0 && ms % 3_600_000 == 0 => plural(ms / 3_600_000, "hour"),
        Some(ms) => format!("{ms} ms"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A bulleted list of links to service pages, or a muted "none".
pub fn service_list(links: &Links, names: &[String]) -> String {
    if names.is_empty() {
        return r#"<p class="muted">None recorded in the services manifest.</p>"#.to_string();
    }
    let items: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                r#"<li><a href="{}">{}</a></li>"#,
                esc(&links.to(&path::service(n))),
                esc(n)
            )
        })
        .collect();
    format!("<ul class=\"links\">{}</ul>", items.join(""))
}

/// A link to the topic's page, or just its name when the topics spec does not list it.
pub fn topic_link(model: &Model, links: &Links, topic: &str) -> String {
    if model.topic(topic).is_some() {
        format!(
            r#"<a href="{}"><code>{}</code></a>"#,
            esc(&links.to(&path::topic(topic))),
            esc(topic)
        )
    } else {
        format!(
            r#"<code>{}</code> <span class="muted">(not in topics spec)</span>"#,
            esc(topic)
        )
    }
}

/// Names of services that produce (or consume) an event, sorted.
pub fn services_of(model: &Model, event: &str, producing: bool) -> Vec<String> {
    let mut out: Vec<String> = model
        .services
        .iter()
        .filter(|s| {
            let list = if producing { &s.produces } else { &s.consumes };
            list.iter().any(|e| e == event)
        })
        .map(|s| s.name.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_in_days_or_hours() {
        assert_eq!(retention_label(Some(2_592_000_000), false), "30 days");
        assert_eq!(retention_label(Some(3_600_000), false), "1 hour");
        assert_eq!(retention_label(Some(1500), false), "1500 ms");
        assert_eq!(retention_label(None, true), "unlimited (compacted)");
    }
}
