//! Domains, services and Markdown guides turned into their pages.

use super::topic_link;
use crate::flow::{Flow, svg};
use crate::html::{
    Links, Page, Section, classification_badge, deprecated_badge, esc, path, table_wrap,
};
use carebus_codegen::ir::{Classification, Guide, Model, Service};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html::push_html};
use std::fmt::Write as _;

/// A domain's page: its events (newest versions) and aggregates.
pub fn domain(model: &Model, domain: &str) -> Page {
    let page_path = path::domain(domain);
    let links = Links::from_page(&page_path);
    let events: Vec<_> = model
        .latest_events()
        .into_iter()
        .filter(|e| e.domain == domain)
        .collect();
    let mut aggregates: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
    aggregates.sort();
    aggregates.dedup();
    let mut b = String::new();
    let _ = writeln!(b, "<h1>Domain <code>{}</code></h1>", esc(domain));
    let _ = writeln!(
        b,
        r#"<p class="lead">{} events about {}.</p>"#,
        events.len(),
        esc(&aggregates.join(", "))
    );
    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Versions</th><th scope=\"col\">Aggregate</th><th scope=\"col\">Topic</th><th scope=\"col\">Sensitive fields</th><th scope=\"col\">Description</th></tr></thead><tbody>\n",
    );
    for e in &events {
        let versions = model.versions(&e.name).len();
        let phi = e
            .record
            .fields
            .iter()
            .filter(|f| f.classification == Classification::Phi)
            .count();
        let pii = e
            .record
            .fields
            .iter()
            .filter(|f| f.classification == Classification::Pii)
            .count();
        let mut sensitive = String::new();
        if phi > 0 {
            let _ = write!(
                sensitive,
                "{} {phi} ",
                classification_badge(Classification::Phi)
            );
        }
        if pii > 0 {
            let _ = write!(
                sensitive,
                "{} {pii}",
                classification_badge(Classification::Pii)
            );
        }
        let deprecated = e
            .deprecated
            .as_ref()
            .map(|r| format!(" {}", deprecated_badge(r)))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}">{}</a>{deprecated}</th><td>{versions}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&links.to(&path::event(&e.name))),
            esc(&e.name),
            esc(&e.aggregate_type),
            topic_link(model, &links, &e.topic),
            sensitive.trim_end(),
            esc(e.doc.as_deref().unwrap_or("")),
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section aria-labelledby=\"events-h\"><h2 id=\"events-h\">Events</h2>\n{}\n</section>\n",
        table_wrap("Events", &t)
    );
    Page {
        path: page_path,
        title: format!("Domain {domain}"),
        section: Section::Domains,
        crumbs: vec![("Overview".to_string(), "index.html#domains".to_string())],
        body: b,
    }
}

/// A service's page: what it produces and consumes, its HTTP API and its configuration.
pub fn service(model: &Model, service: &Service) -> Page {
    let page_path = path::service(&service.name);
    let links = Links::from_page(&page_path);
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(&service.name));
    if let Some(doc) = &service.doc {
        let _ = writeln!(b, r#"<p class="lead">{}</p>"#, esc(doc));
    }
    for (heading, id, names) in [
        ("Produces", "produces", &service.produces),
        ("Consumes", "consumes", &service.consumes),
    ] {
        let _ = writeln!(
            b,
            "<section aria-labelledby=\"{id}-h\"><h2 id=\"{id}-h\">{heading}</h2>"
        );
        if names.is_empty() {
            b.push_str(r#"<p class="muted">Nothing.</p>"#);
        } else {
            let mut t = String::from(
                "<table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Topic</th></tr></thead><tbody>\n",
            );
            let mut sorted: Vec<&String> = names.iter().collect();
            sorted.sort();
            sorted.dedup();
            for name in sorted {
                let topic = model.versions(name).last().map(|e| e.topic.clone());
                let event_cell = if topic.is_some() {
                    format!(
                        r#"<a href="{}">{}</a>"#,
                        esc(&links.to(&path::event(name))),
                        esc(name)
                    )
                } else {
                    format!(r#"{} <span class="muted">(no schema)</span>"#, esc(name))
                };
                let topic_cell = match topic {
                    Some(t) => topic_link(model, &links, &t),
                    None => String::new(),
                };
                let _ = writeln!(
                    t,
                    r#"<tr><th scope="row">{event_cell}</th><td>{topic_cell}</td></tr>"#
                );
            }
            t.push_str("</tbody></table>");
            b.push_str(&table_wrap(heading, &t));
        }
        b.push_str("\n</section>\n");
    }
    b.push_str(&http_api(service));
    b.push_str(&configuration(service));
    let _ = write!(
        b,
        "<section aria-labelledby=\"flow-h\"><h2 id=\"flow-h\">Flow</h2>\n{}</section>\n",
        svg(
            &Flow::service(model, &service.name),
            &links,
            "flow-service",
            &format!("Topics {} publishes to and consumes from", service.name)
        )
    );
    let _ = writeln!(
        b,
        r#"<p class="muted">Declared in <code>{}</code>.</p>"#,
        esc(&service.source.file)
    );
    Page {
        path: page_path,
        title: service.name.clone(),
        section: Section::Services,
        crumbs: vec![("Overview".to_string(), "index.html#services".to_string())],
        body: b,
    }
}

/// The service page's "HTTP API" section: one row per endpoint of the manifest.
fn http_api(service: &Service) -> String {
    let mut b = String::from(
        "<section aria-labelledby=\"http-api-h\"><h2 id=\"http-api-h\">HTTP API</h2>\n",
    );
    if service.endpoints.is_empty() {
        b.push_str(r#"<p class="muted">No HTTP API besides the observability endpoint's <code>/metrics</code>, <code>/health</code> and <code>/ready</code>, if any.</p>"#);
    } else {
        let mut t = String::from(
            "<table><thead><tr><th scope=\"col\">Method</th><th scope=\"col\">Path</th><th scope=\"col\">What it does</th></tr></thead><tbody>\n",
        );
        for e in &service.endpoints {
            let _ = writeln!(
                t,
                r#"<tr><td><code>{}</code></td><th scope="row"><code>{}</code></th><td>{}</td></tr>"#,
                esc(&e.method),
                esc(&e.path),
                inline_code(&e.doc)
            );
        }
        t.push_str("</tbody></table>");
        b.push_str(&table_wrap("HTTP API", &t));
    }
    b.push_str("\n</section>\n");
    b
}

/// The service page's "Configuration" section: one row per setting of the manifest.
fn configuration(service: &Service) -> String {
    let mut b = String::from(
        "<section aria-labelledby=\"configuration-h\"><h2 id=\"configuration-h\">Configuration</h2>\n",
    );
    if service.settings.is_empty() {
        b.push_str(r#"<p class="muted">No settings listed.</p>"#);
    } else {
        let mut t = String::from(
            "<table><thead><tr><th scope=\"col\">Environment variable</th><th scope=\"col\">Default</th><th scope=\"col\">What it sets</th></tr></thead><tbody>\n",
        );
        for s in &service.settings {
            let default = match &s.default {
                Some(d) => format!("<code>{}</code>", esc(d)),
                None => "<strong>required</strong>".to_string(),
            };
            let _ = writeln!(
                t,
                r#"<tr><th scope="row"><code>{}</code></th><td>{default}</td><td>{}</td></tr>"#,
                esc(&s.name),
                inline_code(&s.doc)
            );
        }
        t.push_str("</tbody></table>");
        b.push_str(&table_wrap("Configuration", &t));
    }
    b.push_str("\n</section>\n");
    b
}

/// `text` escaped, with each `backquoted` span set as code.
fn inline_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

/// A guide's page: its Markdown as HTML.
pub fn guide(guide: &Guide) -> Page {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_HEADING_ATTRIBUTES);
    let mut html = String::new();
    let events = Parser::new_ext(&guide.markdown, options).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: guide_link(dest_url),
            title,
            id,
        }),
        other => other,
    });
    push_html(&mut html, events);
    // Markdown tables become scrollable regions like every other table on the site.
    let html = html
        .replace(
            "<table>",
            r#"<div class="table-wrap" role="region" aria-label="Table" tabindex="0"><table>"#,
        )
        .replace("</table>", "</table></div>");
    let starts_with_heading = guide.markdown.trim_start().starts_with("# ");
    let body = if starts_with_heading {
        format!("<article class=\"guide\">\n{html}</article>\n")
    } else {
        format!(
            "<article class=\"guide\">\n<h1>{}</h1>\n{html}</article>\n",
            esc(&guide.title)
        )
    };
    Page {
        path: path::guide(&guide.slug),
        title: guide.title.clone(),
        section: Section::Guides,
        crumbs: vec![("Overview".to_string(), "index.html#guides".to_string())],
        body,
    }
}

/// Links between guides are written to the Markdown files (`versioning.md#x`); on the site
/// they point at the rendered pages beside this one (`versioning.html#x`).
fn guide_link(dest: CowStr<'_>) -> CowStr<'_> {
    if dest.contains("://") || dest.contains('/') {
        return dest;
    }
    let (file, fragment) = match dest.split_once('#') {
        Some((f, frag)) => (f, Some(frag)),
        None => (dest.as_ref(), None),
    };
    match file.strip_suffix(".md") {
        Some(stem) if !stem.is_empty() => {
            let mut out = format!("{}.html", crate::html::slug(stem));
            if let Some(frag) = fragment {
                out.push('#');
                out.push_str(frag);
            }
            CowStr::from(out)
        }
        _ => dest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_links_between_guides_point_at_pages() {
        let page = guide(&Guide {
            slug: "integration".into(),
            title: "Integration".into(),
            markdown: "# I\n\nSee [versions](versioning.md#rules) and [spec](https://avro.apache.org/x.md).\n".into(),
        });
        assert!(
            page.body.contains(r#"href="versioning.html#rules""#),
            "{}",
            page.body
        );
        assert!(page.body.contains(r#"href="https://avro.apache.org/x.md""#));
    }
}
