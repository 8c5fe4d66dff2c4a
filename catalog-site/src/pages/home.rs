//! The whole model turned into the home page: domains, topics, event counts, services, the platform flow graph, guides and the search box.

use super::retention_label;
use crate::flow::{Flow, svg};
use crate::html::{Links, Page, Section, esc, path, table_wrap};
use carebus_codegen::ir::Model;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Events (newest versions) per domain, domains sorted.
pub fn domains(model: &Model) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in model.latest_events() {
        out.entry(e.domain.clone())
            .or_default()
            .push(e.name.clone());
    }
    out
}

pub fn render(model: &Model, title: &str) -> Page {
    let page_path = path::home();
    let links = Links::from_page(&page_path);
    let latest = model.latest_events();
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<div class="hero">
<h1>{title}</h1>
<p class="lead">{events} events ({versions} schema versions) on {topics} topics, produced and consumed by {services} services. Generated from the schemas, so it always matches the code.</p>
<form class="search search-hero" role="search" onsubmit="return false">
<label for="search-home">Search events, fields and docs</label>
<input id="search-home" type="search" placeholder="e.g. dateOfBirth" autocomplete="off" data-search-results="search-home-results">
<noscript><p class="muted">Search needs JavaScript; everything else works without it.</p></noscript>
<div id="search-home-results" class="search-results search-results-inline" aria-live="polite" hidden></div>
</form>
</div>
"#,
        title = esc(title),
        events = latest.len(),
        versions = model.events.len(),
        topics = model.topics.len(),
        services = model.services.len(),
    );

    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Domain</th><th scope=\"col\">Events</th><th scope=\"col\">Aggregates</th></tr></thead><tbody>\n",
    );
    for (domain, events) in domains(model) {
        let mut aggregates: Vec<&str> = latest
            .iter()
            .filter(|e| e.domain == domain)
            .map(|e| e.aggregate_type.as_str())
            .collect();
        aggregates.sort();
        aggregates.dedup();
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td></tr>"#,
            esc(&links.to(&path::domain(&domain))),
            esc(&domain),
            events.len(),
            esc(&aggregates.join(", "))
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section id=\"domains\" aria-labelledby=\"domains-h\"><h2 id=\"domains-h\">Domains</h2>\n{}\n</section>\n",
        table_wrap("Domains", &t)
    );

    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Topic</th><th scope=\"col\">Events</th><th scope=\"col\">Partitions</th><th scope=\"col\">Replication</th><th scope=\"col\">Retention</th></tr></thead><tbody>\n",
    );
    let mut topics: Vec<_> = model.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    for topic in topics {
        let count = latest.iter().filter(|e| e.topic == topic.name).count();
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}"><code>{}</code></a></th><td>{count}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&links.to(&path::topic(&topic.name))),
            esc(&topic.name),
            topic.partitions,
            topic.replication_factor,
            esc(&retention_label(topic.retention_ms, topic.compacted)),
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section id=\"topics\" aria-labelledby=\"topics-h\"><h2 id=\"topics-h\">Topics</h2>\n{}\n</section>\n",
        table_wrap("Topics", &t)
    );

    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Service</th><th scope=\"col\">Produces</th><th scope=\"col\">Consumes</th><th scope=\"col\">Description</th></tr></thead><tbody>\n",
    );
    let mut services: Vec<_> = model.services.iter().collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in services {
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&links.to(&path::service(&s.name))),
            esc(&s.name),
            s.produces.len(),
            s.consumes.len(),
            esc(s.doc.as_deref().unwrap_or(""))
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section id=\"services\" aria-labelledby=\"services-h\"><h2 id=\"services-h\">Services</h2>\n{}\n</section>\n",
        table_wrap("Services", &t)
    );

    let _ = write!(
        b,
        "<section id=\"flow\" aria-labelledby=\"flow-h\"><h2 id=\"flow-h\">Platform flow</h2>\n<p>Who publishes to which topic, and who consumes from it. Every box links to its page.</p>\n{}</section>\n",
        svg(
            &Flow::platform(model),
            &links,
            "flow-platform",
            "Platform event flow"
        )
    );

    let journeys = super::journey::newest(model);
    if !journeys.is_empty() {
        let mut t = String::from(
            "<table><thead><tr><th scope=\"col\">Journey</th><th scope=\"col\">Version</th><th scope=\"col\">Starts on</th><th scope=\"col\">States</th><th scope=\"col\">Description</th></tr></thead><tbody>\n",
        );
        for j in journeys.values() {
            let _ = writeln!(
                t,
                r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
                esc(&links.to(&path::journey(&j.name))),
                esc(&j.title),
                j.version,
                esc(&j.start.event),
                j.states.len(),
                esc(j.doc.as_deref().unwrap_or(""))
            );
        }
        t.push_str("</tbody></table>");
        let _ = write!(
            b,
            "<section id=\"journeys\" aria-labelledby=\"journeys-h\"><h2 id=\"journeys-h\">Patient journeys</h2>\n<p>State machines over the events, checked against their schemas at build time and run by the workflow engine.</p>\n{}\n</section>\n",
            table_wrap("Patient journeys", &t)
        );
    }
    b.push_str(&super::flows::index_section(model, &links));

    b.push_str("<section id=\"guides\" aria-labelledby=\"guides-h\"><h2 id=\"guides-h\">Guides</h2>\n<ul class=\"links\">");
    let mut guides: Vec<_> = model.guides.iter().collect();
    guides.sort_by(|a, b| a.slug.cmp(&b.slug));
    for g in guides {
        let _ = write!(
            b,
            r#"<li><a href="{}">{}</a></li>"#,
            esc(&links.to(&path::guide(&g.slug))),
            esc(&g.title)
        );
    }
    let _ = write!(
        b,
        r#"<li><a href="{}">AsyncAPI 3.0 document</a> <span class="muted">(all channels and messages, with Kafka bindings)</span></li></ul>
</section>
"#,
        links.to("asyncapi.json")
    );

    Page {
        path: page_path,
        title: "Overview".to_string(),
        section: Section::Overview,
        crumbs: Vec::new(),
        body: b,
    }
}
