//! One Kafka topic turned into its page: settings, key, the events on it, producers, consumers and its flow graph.

use super::{retention_label, service_list, services_of};
use crate::flow::{Flow, svg};
use crate::html::{Links, Page, Section, esc, path, table_wrap};
use carebus_codegen::ir::{Model, Topic};
use std::fmt::Write as _;

pub fn render(model: &Model, topic: &Topic) -> Page {
    let page_path = path::topic(&topic.name);
    let links = Links::from_page(&page_path);
    let mut b = String::new();
    let _ = writeln!(b, "<h1><code>{}</code></h1>", esc(&topic.name));
    if let Some(doc) = &topic.doc {
        let _ = writeln!(b, r#"<p class="lead">{}</p>"#, esc(doc));
    }
    let mut facts = vec![
        ("Partitions".to_string(), topic.partitions.to_string()),
        (
            "Replication factor".to_string(),
            topic.replication_factor.to_string(),
        ),
        (
            "Retention".to_string(),
            retention_label(topic.retention_ms, topic.compacted),
        ),
        (
            "Cleanup policy".to_string(),
            if topic.compacted {
                "compact".to_string()
            } else {
                "delete".to_string()
            },
        ),
        ("Key".to_string(), topic.key.clone()),
    ];
    if let Some(isr) = topic.min_insync_replicas {
        facts.push(("Min in-sync replicas".to_string(), isr.to_string()));
    }
    for (k, v) in &topic.configs {
        facts.push((k.clone(), v.clone()));
    }
    b.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(b, "<div><dt>{}</dt><dd>{}</dd></div>", esc(&k), esc(&v));
    }
    b.push_str("</dl>\n");

    let events: Vec<_> = model
        .latest_events()
        .into_iter()
        .filter(|e| e.topic == topic.name)
        .collect();
    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Version</th><th scope=\"col\">Aggregate</th><th scope=\"col\">Description</th></tr></thead><tbody>\n",
    );
    for e in &events {
        let _ = writeln!(
            t,
            r#"<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&links.to(&path::event(&e.name))),
            esc(&e.name),
            e.version,
            esc(&e.aggregate_type),
            esc(e.doc.as_deref().unwrap_or(""))
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section aria-labelledby=\"events-h\"><h2 id=\"events-h\">Events on this topic</h2>\n{}\n</section>\n",
        if events.is_empty() {
            r#"<p class="muted">No events are published to this topic yet.</p>"#.to_string()
        } else {
            table_wrap("Events on this topic", &t)
        }
    );

    let mut producers: Vec<String> = Vec::new();
    let mut consumers: Vec<String> = Vec::new();
    for e in &events {
        producers.extend(services_of(model, &e.name, true));
        consumers.extend(services_of(model, &e.name, false));
    }
    producers.sort();
    producers.dedup();
    consumers.sort();
    consumers.dedup();
    let _ = write!(
        b,
        r#"<section aria-labelledby="flow-h"><h2 id="flow-h">Producers and consumers</h2>
<div class="two-col"><div><h3>Producers</h3>{}</div><div><h3>Consumers</h3>{}</div></div>
{}</section>
"#,
        service_list(&links, &producers),
        service_list(&links, &consumers),
        svg(
            &Flow::topic(model, &topic.name),
            &links,
            "flow-topic",
            &format!("Flow through {}", topic.name)
        )
    );
    let _ = writeln!(
        b,
        r#"<p class="muted">Defined in <code>{}</code>.</p>"#,
        esc(&topic.source.file)
    );
    Page {
        path: page_path,
        title: topic.name.clone(),
        section: Section::Topics,
        crumbs: vec![("Overview".to_string(), "index.html#topics".to_string())],
        body: b,
    }
}
