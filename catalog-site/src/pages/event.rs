//! One event version turned into its page: description, versions and diffs, compatibility, fields, example payload, flow, Rust usage and schema source.

use super::{fields_table, nested_types, service_list, services_of, topic_link};
use crate::diff::{diff_id, diff_section};
use crate::example::example_envelope;
use crate::flow::{Flow, svg};
use crate::history::History;
use crate::html::{Links, Page, Section, deprecated_badge, esc, path, table_wrap};
use crate::names::RustNames;
use carebus_codegen::ir::{Event, Model, SchemaFormat};
use std::fmt::Write as _;

/// The page of `event`. The newest version lives at `events/<Name>.html` and carries the
/// diffs between every pair of versions; older versions get `events/<Name>.v<N>.html`.
pub fn render(model: &Model, history: &History, event: &Event) -> Page {
    let versions = model.versions(&event.name);
    let newest = versions.last().map(|e| e.version) == Some(event.version);
    let page_path = if newest {
        path::event(&event.name)
    } else {
        path::event_version(&event.name, event.version)
    };
    let links = Links::from_page(&page_path);
    let names = RustNames::of(model, event);
    let mut b = String::new();

    let deprecated = event
        .deprecated
        .as_ref()
        .map(|r| format!(" {}", deprecated_badge(r)))
        .unwrap_or_default();
    let _ = writeln!(
        b,
        r#"<h1>{name} <span class="version-tag">v{version}</span>{deprecated}</h1>"#,
        name = esc(&event.name),
        version = event.version
    );
    if !newest {
        let _ = writeln!(
            b,
            r#"<p class="notice">This is an older version. The newest is <a href="{}">version {}</a>.</p>"#,
            esc(&links.to(&path::event(&event.name))),
            versions.last().map(|e| e.version).unwrap_or(event.version)
        );
    }
    if let Some(reason) = &event.deprecated {
        let _ = writeln!(
            b,
            r#"<p class="notice notice-warn">Deprecated: {}</p>"#,
            esc(reason)
        );
    }
    if let Some(doc) = &event.doc {
        let _ = writeln!(b, r#"<p class="lead">{}</p>"#, esc(doc));
    }
    let format = match event.format {
        SchemaFormat::Avro => "Avro",
        SchemaFormat::Protobuf => "Protobuf",
    };
    let facts = format!(
        r#"<dl class="facts">
<div><dt>Domain</dt><dd><a href="{domain_href}">{domain}</a></dd></div>
<div><dt>Topic</dt><dd>{topic}</dd></div>
<div><dt>Aggregate</dt><dd>{aggregate} <span class="muted">(id: <code>{aggregate_id}</code>)</span></dd></div>
<div><dt>{format} schema</dt><dd><code>{full_name}</code></dd></div>
<div><dt>Compatibility mode</dt><dd><code>{compat}</code></dd></div>
<div><dt>Fingerprint</dt><dd><code>{fingerprint:016x}</code></dd></div>
<div><dt>Confluent schema id</dt><dd><a href="{registry_href}"><code>{schema_id}</code></a> <span class="muted">(static registry)</span></dd></div>
<div><dt>Rust type</dt><dd><code>{rust}</code></dd></div>
</dl>
"#,
        domain_href = esc(&links.to(&path::domain(&event.domain))),
        domain = esc(&event.domain),
        topic = topic_link(model, &links, &event.topic),
        aggregate = esc(&event.aggregate_type),
        aggregate_id = esc(&event.aggregate_id),
        full_name = esc(&event.full_name()),
        compat = event.compatibility.as_str(),
        fingerprint = event.fingerprint,
        schema_id = carebus_core::wire::confluent_schema_id(event.fingerprint),
        registry_href = esc(&links.to(&format!(
            "registry/schemas/ids/{}",
            carebus_core::wire::confluent_schema_id(event.fingerprint)
        ))),
        rust = esc(&names.type_name),
    );
    b.push_str(&facts);

    b.push_str(&versions_section(model, history, event, &links));
    if newest && versions.len() > 1 {
        b.push_str(&diffs_section(&versions));
    }

    b.push_str("<section aria-labelledby=\"fields-h\"><h2 id=\"fields-h\">Fields</h2>\n");
    b.push_str(&fields_table(
        &event.record.fields,
        None,
        &format!("Fields of {} version {}", event.name, event.version),
    ));
    b.push_str("</section>\n");
    b.push_str(&nested_types(model, event));

    let example = serde_json::to_string_pretty(&example_envelope(model, event))
        .unwrap_or_else(|_| "{}".to_string());
    let _ = write!(
        b,
        r#"<section aria-labelledby="example-h"><h2 id="example-h">Example message</h2>
<p>The event in its envelope, in JSON form, built from the schema's <code>examples</code>.</p>
<pre class="code" tabindex="0"><code>{}</code></pre>
</section>
"#,
        esc(&example)
    );

    let producers = services_of(model, &event.name, true);
    let consumers = services_of(model, &event.name, false);
    let _ = write!(
        b,
        r#"<section aria-labelledby="flow-h"><h2 id="flow-h">Producers and consumers</h2>
<div class="two-col"><div><h3>Produced by</h3>{}</div><div><h3>Consumed by</h3>{}</div></div>
{}</section>
"#,
        service_list(&links, &producers),
        service_list(&links, &consumers),
        svg(
            &Flow::event(model, event),
            &links,
            "flow-event",
            &format!("Flow of {}", event.name)
        )
    );

    let journeys = super::journey::of_event(model, &event.name);
    if !journeys.is_empty() {
        b.push_str("<section aria-labelledby=\"journeys-h\"><h2 id=\"journeys-h\">Journeys</h2>\n<ul class=\"links\">");
        for (name, title, reads, produces) in journeys {
            let role = match (reads, produces) {
                (true, true) => "reads and publishes it",
                (true, false) => "reads it",
                _ => "publishes it",
            };
            let _ = write!(
                b,
                r#"<li><a href="{}">{}</a> <span class="muted">{role}</span></li>"#,
                esc(&links.to(&path::journey(&name))),
                esc(&title)
            );
        }
        b.push_str("</ul></section>\n");
    }

    b.push_str(&rust_section(event, &names, newest, model));

    let lang = match event.format {
        SchemaFormat::Avro => "Avro schema",
        SchemaFormat::Protobuf => "Protobuf definition",
    };
    let _ = write!(
        b,
        r#"<section aria-labelledby="source-h"><h2 id="source-h">Schema source</h2>
<p>{lang} from <code>{file}</code>.</p>
<pre class="code" tabindex="0"><code>{text}</code></pre>
<details><summary>Canonical form (fingerprint input)</summary><pre class="code" tabindex="0"><code>{canonical}</code></pre></details>
</section>
"#,
        file = esc(&event.source.file),
        text = esc(&event.schema_text),
        canonical = esc(&event.canonical_form),
    );

    let mut crumbs = vec![
        ("Overview".to_string(), path::home()),
        (event.domain.clone(), path::domain(&event.domain)),
    ];
    if !newest {
        crumbs.push((event.name.clone(), path::event(&event.name)));
    }
    Page {
        path: page_path,
        title: if newest {
            event.name.clone()
        } else {
            format!("{} v{}", event.name, event.version)
        },
        section: Section::Domains,
        crumbs,
        body: b,
    }
}

fn fingerprint_hex(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// What the history lock says about this exact schema: recorded (after how many
/// revisions), or not yet recorded.
fn recorded_note(history: &History, event: &Event) -> String {
    let revisions = history.revisions(&event.name, event.version);
    if history.is_empty() {
        return String::new();
    }
    let current = fingerprint_hex(event.fingerprint);
    let note = match revisions.iter().position(|f| *f == current) {
        Some(_) if revisions.len() == 1 => "recorded in the history".to_string(),
        Some(i) => format!("revision {} of {} in the history", i + 1, revisions.len()),
        None if revisions.is_empty() => "not yet in the history".to_string(),
        None => format!(
            "not yet in the history ({} earlier revision{})",
            revisions.len(),
            if revisions.len() == 1 { "" } else { "s" }
        ),
    };
    format!(r#"<br><span class="muted small">{note}</span>"#)
}

fn versions_section(model: &Model, history: &History, event: &Event, links: &Links) -> String {
    let versions = model.versions(&event.name);
    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Rust type</th><th scope=\"col\">Fingerprint</th><th scope=\"col\">Compatibility with the previous version</th></tr></thead><tbody>\n",
    );
    let mut previous: Option<&Event> = None;
    for v in &versions {
        let href = if Some(v.version) == versions.last().map(|e| e.version) {
            path::event(&v.name)
        } else {
            path::event_version(&v.name, v.version)
        };
        let label = if v.version == event.version {
            format!(
                r#"<span aria-current="page">v{} (this page)</span>"#,
                v.version
            )
        } else {
            format!(r#"<a href="{}">v{}</a>"#, esc(&links.to(&href)), v.version)
        };
        let step = match previous {
            None => r#"<span class="muted">first version</span>"#.to_string(),
            Some(p) => match history.step(&v.name, p.version, v.version) {
                None => format!(
                    r#"<span class="compat compat-unknown">not recorded</span> <span class="muted">(v{} → v{}, mode {})</span>"#,
                    p.version,
                    v.version,
                    v.compatibility.as_str()
                ),
                Some(verdict) => {
                    let mode = verdict
                        .mode
                        .clone()
                        .unwrap_or_else(|| v.compatibility.as_str().to_string());
                    let (class, word) = if verdict.compatible {
                        ("compat-ok", "compatible")
                    } else {
                        ("compat-broken", "incompatible")
                    };
                    let reasons = if verdict.reasons.is_empty() {
                        String::new()
                    } else {
                        let items: Vec<String> = verdict
                            .reasons
                            .iter()
                            .map(|r| format!("<li>{}</li>", esc(r)))
                            .collect();
                        format!("<ul class=\"reasons\">{}</ul>", items.join(""))
                    };
                    format!(
                        r#"<span class="compat {class}">{word}</span> <span class="muted">(v{} → v{}, {})</span>{reasons}"#,
                        p.version,
                        v.version,
                        esc(&mode)
                    )
                }
            },
        };
        let _ = writeln!(
            t,
            r#"<tr><th scope="row">{label}</th><td><code>{rust}</code></td><td><code>{fp}</code>{recorded}</td><td>{step}</td></tr>"#,
            rust = esc(&v.record.rust.name),
            fp = fingerprint_hex(v.fingerprint),
            recorded = recorded_note(history, v),
        );
        previous = Some(v);
    }
    t.push_str("</tbody></table>");
    format!(
        "<section aria-labelledby=\"versions-h\"><h2 id=\"versions-h\">Versions</h2>\n{}\n</section>\n",
        table_wrap("Versions", &t)
    )
}

/// Every pair of versions, precomputed; the picker (JS) shows one pair, without JS all are listed.
fn diffs_section(versions: &[&Event]) -> String {
    let mut out = String::from(
        "<section aria-labelledby=\"diffs-h\" class=\"diffs\"><h2 id=\"diffs-h\">Compare versions</h2>\n",
    );
    let options = |selected: u32| -> String {
        versions
            .iter()
            .map(|v| {
                let sel = if v.version == selected {
                    " selected"
                } else {
                    ""
                };
                format!(r#"<option value="{0}"{sel}>v{0}</option>"#, v.version)
            })
            .collect()
    };
    let last = versions.last().map(|e| e.version).unwrap_or(1);
    let before_last = versions
        .len()
        .checked_sub(2)
        .map(|i| versions[i].version)
        .unwrap_or(last);
    let _ = write!(
        out,
        r#"<form class="diff-picker" hidden>
<label for="diff-from">From</label> <select id="diff-from">{}</select>
<label for="diff-to">to</label> <select id="diff-to">{}</select>
<p class="diff-picker-note" aria-live="polite"></p>
</form>
"#,
        options(before_last),
        options(last)
    );
    let mut index = String::from("<ul class=\"diff-index links\">");
    let mut sections = String::new();
    for (i, old) in versions.iter().enumerate() {
        for new in &versions[i + 1..] {
            let _ = write!(
                index,
                r##"<li><a href="#{}">v{} → v{}</a></li>"##,
                diff_id(old.version, new.version),
                old.version,
                new.version
            );
            sections.push_str(&diff_section(old, new));
        }
    }
    index.push_str("</ul>\n");
    out.push_str(&index);
    out.push_str(&sections);
    out.push_str("</section>\n");
    out
}

fn rust_section(event: &Event, names: &RustNames, newest: bool, model: &Model) -> String {
    let handler = |ty: &str| {
        format!(
            r#"// Handle: wrap the handler in {dispatcher} to subscribe it to {topic}.
struct MyHandler;

impl {handler} for MyHandler {{
    async fn {on}(&self, ctx: &HandlerContext, event: {ty}) -> HandlerResult {{
        // ...
        Ok(())
    }}
}}"#,
            dispatcher = names.dispatcher,
            handler = names.handler_trait,
            on = names.handle_method,
            topic = event.topic,
        )
    };
    let fields = format!("// Fields: {}.", names.fields.join(", "));
    let snippet = if newest {
        format!(
            r#"use carebus::{{HandlerContext, HandlerResult, PublishOptions}};
use carebus_schemas::{{{path}, {handler_trait}, {publisher}}};

{fields}

// Publish: every carebus::Publish implements {publisher}.
publisher.{publish}(event, PublishOptions::default()).await?;

{handler}"#,
            path = names.type_path,
            handler_trait = names.handler_trait,
            publisher = names.publisher_trait,
            publish = names.publish_method.as_deref().unwrap_or_default(),
            handler = handler(&names.type_name),
        )
    } else if names.own_handler {
        format!(
            r#"// Version {v} cannot be upcast to the newest: handlers get it through its own method.
use carebus::{{HandlerContext, HandlerResult}};
use carebus_schemas::{{{path}, {handler_trait}}};

{fields}

{handler}"#,
            v = event.version,
            path = names.type_path,
            handler_trait = names.handler_trait,
            handler = handler(&names.type_name),
        )
    } else {
        let newest_name = model
            .newest(&event.name)
            .map(|e| e.record.rust.name.clone())
            .unwrap_or_default();
        format!(
            "// Data written with version {v} decodes as `{ty}`.\n// Publishers and handlers use the newest version, `{newest_name}`.\nuse carebus_schemas::{path};\n\n{fields}",
            v = event.version,
            ty = names.type_name,
            path = names.type_path,
        )
    };
    format!(
        r#"<section aria-labelledby="rust-h"><h2 id="rust-h">Rust</h2>
<p>Generated type <code>{ty}</code> on topic enum <code>{topic_enum}</code>.</p>
<pre class="code" tabindex="0"><code>{snippet}</code></pre>
</section>
"#,
        ty = esc(&names.type_name),
        topic_enum = esc(&names.topic_enum),
        snippet = esc(&snippet)
    )
}
