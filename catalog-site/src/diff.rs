//! Two versions of an event turned into a readable HTML diff: a field-by-field change table and a line diff of the schema source.

use crate::html::{esc, table_wrap};
use crate::names::is_optional;
use carebus_codegen::ir::{Classification, Event, Field};
use similar::{ChangeTag, TextDiff};
use std::fmt::Write as _;

/// One change to one field between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// What changed, readable: e.g. `type string → string?`.
    pub what: String,
}

/// The field changes from `old` to `new`, in the new version's field order, removed fields last.
pub fn field_changes(old: &Event, new: &Event) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for field in &new.record.fields {
        match old.record.field(&field.name) {
            None => out.push(FieldChange {
                field: field.name.clone(),
                kind: "added",
                what: added_note(field),
            }),
            Some(before) => {
                let notes = changed_notes(before, field);
                if !notes.is_empty() {
                    out.push(FieldChange {
                        field: field.name.clone(),
                        kind: "changed",
                        what: notes.join("; "),
                    });
                }
            }
        }
    }
    for field in &old.record.fields {
        if new.record.field(&field.name).is_none() {
            let default = match &field.default {
                Some(d) => format!(", had default {d}"),
                None => ", had no default".to_string(),
            };
            out.push(FieldChange {
                field: field.name.clone(),
                kind: "removed",
                what: format!("{}{default}", field.ty),
            });
        }
    }
    out
}

fn added_note(field: &Field) -> String {
    let default = match &field.default {
        Some(d) => format!("default {d}"),
        None => "no default".to_string(),
    };
    let requirement = if is_optional(&field.ty) {
        "optional"
    } else {
        "required"
    };
    format!("{} ({requirement}, {default})", field.ty)
}

fn classification_name(c: Classification) -> &'static str {
    match c {
        Classification::Phi => "PHI",
        Classification::Pii => "PII",
        Classification::None => "none",
    }
}

fn changed_notes(before: &Field, after: &Field) -> Vec<String> {
    let mut notes = Vec::new();
    if before.ty != after.ty {
        notes.push(format!("type {} → {}", before.ty, after.ty));
    }
    if before.default != after.default {
        let show = |d: &Option<serde_json::Value>| match d {
            Some(v) => v.to_string(),
            None => "none".to_string(),
        };
        notes.push(format!(
            "default {} → {}",
            show(&before.default),
            show(&after.default)
        ));
    }
    if before.classification != after.classification {
        notes.push(format!(
            "classification {} → {}",
            classification_name(before.classification),
            classification_name(after.classification)
        ));
    }
    match (&before.deprecated, &after.deprecated) {
        (None, Some(reason)) => notes.push(format!("deprecated: {reason}")),
        (Some(_), None) => notes.push("no longer deprecated".to_string()),
        _ => {}
    }
    if before.aliases != after.aliases {
        notes.push(format!("aliases [{}]", after.aliases.join(", ")));
    }
    if before.doc != after.doc {
        notes.push("documentation reworded".to_string());
    }
    notes
}

/// The HTML id of the diff between two versions.
pub fn diff_id(from: u32, to: u32) -> String {
    format!("diff-v{from}-v{to}")
}

/// The diff between `old` and `new` as one HTML section.
pub fn diff_section(old: &Event, new: &Event) -> String {
    let id = diff_id(old.version, new.version);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<section class="diff" id="{id}" aria-labelledby="{id}-h" data-from="{from}" data-to="{to}">
<h3 id="{id}-h">Version {from} → version {to}</h3>
"#,
        from = old.version,
        to = new.version
    );
    let changes = field_changes(old, new);
    if changes.is_empty() {
        out.push_str("<p>No field changes.</p>\n");
    } else {
        let mut table = String::from(
            "<table><thead><tr><th scope=\"col\">Field</th><th scope=\"col\">Change</th><th scope=\"col\">Details</th></tr></thead><tbody>\n",
        );
        for c in &changes {
            let _ = writeln!(
                table,
                r#"<tr class="change-{kind}"><td><code>{field}</code></td><td><span class="change change-{kind}">{kind}</span></td><td>{what}</td></tr>"#,
                kind = c.kind,
                field = esc(&c.field),
                what = esc(&c.what)
            );
        }
        table.push_str("</tbody></table>");
        out.push_str(&table_wrap(
            &format!(
                "Field changes from version {} to {}",
                old.version, new.version
            ),
            &table,
        ));
        out.push('\n');
    }
    let _ = write!(
        out,
        "<details class=\"source-diff\"><summary>Schema source diff</summary>\n<pre class=\"code diff-lines\" tabindex=\"0\">{}</pre>\n</details>\n</section>\n",
        source_diff(&old.schema_text, &new.schema_text)
    );
    out
}

/// A unified line diff of two schema texts as escaped HTML lines with `+`/`-` markers.
pub fn source_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let (class, sign) = match change.tag() {
            ChangeTag::Delete => ("del", '-'),
            ChangeTag::Insert => ("ins", '+'),
            ChangeTag::Equal => ("same", ' '),
        };
        let line = change.value().trim_end_matches('\n');
        let _ = writeln!(
            out,
            r#"<span class="line-{class}">{sign} {}</span>"#,
            esc(line)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebus_codegen::ir::Model;

    fn patient_created() -> (Event, Event) {
        let model: Model =
            serde_json::from_str(include_str!("../tests/fixtures/model.json")).unwrap();
        let v = model.versions("PatientCreated");
        (v[0].clone(), v[1].clone())
    }

    #[test]
    fn added_changed_and_removed_fields_are_named_with_the_rule_that_matters() {
        let (v1, v2) = patient_created();
        let forward = field_changes(&v1, &v2);
        let summary: Vec<(&str, &str)> =
            forward.iter().map(|c| (c.field.as_str(), c.kind)).collect();
        assert_eq!(
            summary,
            [
                ("email", "changed"),
                ("contact", "added"),
                ("gender", "added")
            ]
        );
        assert_eq!(forward[0].what, "deprecated: Use contact.email instead.");
        assert_eq!(forward[2].what, "Gender (required, default \"UNKNOWN\")");
        let backward = field_changes(&v2, &v1);
        let removed: Vec<&FieldChange> = backward.iter().filter(|c| c.kind == "removed").collect();
        assert_eq!(removed.len(), 2);
        assert_eq!(removed[0].what, "ContactDetails?, had default null");
    }

    #[test]
    fn source_diff_marks_inserted_and_deleted_lines() {
        let html = source_diff("a\nb\n", "a\nc\n");
        assert!(html.contains(r#"<span class="line-same">  a</span>"#));
        assert!(html.contains(r#"<span class="line-del">- b</span>"#));
        assert!(html.contains(r#"<span class="line-ins">+ c</span>"#));
        assert!(source_diff("<x>", "<x>").contains("&lt;x&gt;"));
    }
}
