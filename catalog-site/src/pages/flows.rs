//! The flows of `flows.toml` turned into pages: an index of the platform's main flows and one page per flow with its sequence diagram and its steps as a table.

use crate::html::{Links, Page, Section, esc, path, table_wrap};
use crate::sequence::{step_label, svg};
use carebus_codegen::ir::Model;
use carebus_codegen::ir::flow::Flow;
use std::fmt::Write as _;

/// Site-relative path of a flow's page; its diagram is beside it as `flows/<name>.svg`.
pub fn page_path(flow: &Flow) -> String {
    format!("flows/{}.html", crate::html::slug(&flow.name))
}

/// Site-relative path of a flow's diagram file.
pub fn svg_path(flow: &Flow) -> String {
    format!("flows/{}.svg", crate::html::slug(&flow.name))
}

/// The list of flows for the home page (empty when the model has none).
pub fn index_section(model: &Model, links: &Links) -> String {
    if model.flows.is_empty() {
        return String::new();
    }
    let mut b = String::from(
        "<section id=\"flows\" aria-labelledby=\"flows-h\"><h2 id=\"flows-h\">Sequence diagrams</h2>\n<p>The platform's main flows, drawn from <code>flows.toml</code>, checked against the services manifest and the journeys at build time.</p>\n<ul class=\"links\">",
    );
    for f in &model.flows {
        let _ = write!(
            b,
            r#"<li><a href="{}">{}</a> <span class="muted">({} steps)</span></li>"#,
            esc(&links.to(&page_path(f))),
            esc(&f.title),
            f.steps.len()
        );
    }
    b.push_str("</ul>\n</section>\n");
    b
}

/// One flow's page: its diagram (also written as `flows/<name>.svg`) and the steps.
pub fn render(flow: &Flow) -> (Page, String) {
    let page = page_path(flow);
    let links = Links::from_page(&page);
    let diagram = svg(flow, &links);
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(&flow.title));
    if let Some(doc) = &flow.doc {
        let _ = writeln!(b, "<p class=\"lead\">{}</p>", esc(doc));
    }
    let _ = writeln!(
        b,
        r#"<figure class="diagram" role="region" aria-label="Sequence diagram" tabindex="0">{diagram}<figcaption><a href="{}">{}</a> as an SVG file.</figcaption></figure>"#,
        esc(&links.to(&svg_path(flow))),
        esc(&crate::html::slug(&flow.name))
    );
    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Sent by</th><th scope=\"col\">Received by</th><th scope=\"col\">Why</th></tr></thead><tbody>\n",
    );
    let service = |name: &str| {
        format!(
            r#"<a href="{}">{}</a>"#,
            esc(&links.to(&path::service(name))),
            esc(name)
        )
    };
    for (i, step) in flow.steps.iter().enumerate() {
        let mut why = String::new();
        if let Some(j) = &step.journey {
            let _ = write!(why, "journey <code>{}</code>", esc(j));
        }
        if let Some(note) = &step.note {
            if !why.is_empty() {
                why.push_str("; ");
            }
            why.push_str(&esc(note));
        }
        let receivers: Vec<String> = step.to.iter().map(|t| service(t)).collect();
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td><td>{why}</td></tr>"#,
            esc(&links.to(&path::event(&step.event))),
            esc(&step_label(i, step)),
            service(&step.by),
            receivers.join(", ")
        );
    }
    t.push_str("</tbody></table>");
    b.push_str(&table_wrap("Steps", &t));
    let _ = writeln!(
        b,
        r#"<p class="muted">Declared in <code>{}</code>.</p>"#,
        esc(&flow.source.file)
    );
    (
        Page {
            path: page,
            title: flow.title.clone(),
            section: Section::Services,
            crumbs: vec![("Overview".to_string(), "index.html#flows".to_string())],
            body: b,
        },
        diagram,
    )
}
