//! Who produces and consumes what turned into a flow graph: producers → topics → consumers, laid out in three columns and drawn as inline SVG.

use crate::html::{Links, esc, path};
use carebus_codegen::ir::{Event, Model};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const NODE_W: u32 = 230;
const NODE_H: u32 = 34;
const GAP_Y: u32 = 14;
const COL_X: [u32; 3] = [8, 320, 632];
const WIDTH: u32 = 870;
const TOP: u32 = 30;

/// The edges of a flow graph: (producer service, topic) and (topic, consumer service).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub produces: BTreeSet<(String, String)>,
    pub consumes: BTreeSet<(String, String)>,
    /// Topics shown even when nobody produces or consumes them.
    pub topics: BTreeSet<String>,
    /// Topics events name that the topics spec does not list: drawn without a link.
    pub unlisted: BTreeSet<String>,
}

impl Flow {
    /// The flow of the whole platform.
    pub fn platform(model: &Model) -> Flow {
        Flow::of_events(model, |_| true, model.topics.iter().map(|t| t.name.clone()))
    }

    /// The flow of the events on one topic.
    pub fn topic(model: &Model, topic: &str) -> Flow {
        Flow::of_events(model, |e| e.topic == topic, [topic.to_string()])
    }

    /// The flow of one event (all its versions travel on its topic).
    pub fn event(model: &Model, event: &Event) -> Flow {
        Flow::of_events(model, |e| e.name == event.name, [event.topic.clone()])
    }

    /// The flow of one service: the topics it publishes to and consumes from.
    pub fn service(model: &Model, service: &str) -> Flow {
        let mut flow = Flow::of_events(model, |_| true, []);
        flow.produces.retain(|(s, _)| s == service);
        flow.consumes.retain(|(_, s)| s == service);
        flow.topics = flow
            .produces
            .iter()
            .map(|(_, t)| t.clone())
            .chain(flow.consumes.iter().map(|(t, _)| t.clone()))
            .collect();
        flow.unlisted.retain(|t| flow.topics.contains(t));
        flow
    }

    fn of_events(
        model: &Model,
        keep: impl Fn(&Event) -> bool,
        topics: impl IntoIterator<Item = String>,
    ) -> Flow {
        let mut flow = Flow {
            topics: topics.into_iter().collect(),
            ..Flow::default()
        };
        let topic_of: BTreeMap<&str, &str> = model
            .events
            .iter()
            .filter(|e| keep(e))
            .map(|e| (e.name.as_str(), e.topic.as_str()))
            .collect();
        for service in &model.services {
            for name in &service.produces {
                if let Some(topic) = topic_of.get(name.as_str()) {
                    flow.produces
                        .insert((service.name.clone(), topic.to_string()));
                }
            }
            for name in &service.consumes {
                if let Some(topic) = topic_of.get(name.as_str()) {
                    flow.consumes
                        .insert((topic.to_string(), service.name.clone()));
                }
            }
        }
        for (_, t) in &flow.produces {
            flow.topics.insert(t.clone());
        }
        for (t, _) in &flow.consumes {
            flow.topics.insert(t.clone());
        }
        flow.unlisted = flow
            .topics
            .iter()
            .filter(|t| model.topic(t).is_none())
            .cloned()
            .collect();
        flow
    }

    pub fn is_empty(&self) -> bool {
        self.produces.is_empty() && self.consumes.is_empty() && self.topics.is_empty()
    }
}

/// Orders the nodes of a side column by the mean position of the topics they connect to,
/// which keeps edges from crossing in the common cases.
fn by_barycenter(nodes: BTreeSet<String>, edges: &[(String, usize)]) -> Vec<String> {
    let mut keyed: Vec<(u64, String)> = nodes
        .into_iter()
        .map(|n| {
            let positions: Vec<usize> = edges
                .iter()
                .filter(|(m, _)| *m == n)
                .map(|(_, p)| *p)
                .collect();
            let mean = if positions.is_empty() {
                0
            } else {
                (positions.iter().sum::<usize>() * 1000 / positions.len()) as u64
            };
            (mean, n)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, n)| n).collect()
}

fn node_y(index: usize, count: usize, rows: usize) -> u32 {
    // Centre shorter columns against the tallest one.
    let offset = (rows - count) as u32 * (NODE_H + GAP_Y) / 2;
    TOP + offset + index as u32 * (NODE_H + GAP_Y)
}

/// Draws the flow as an accessible inline SVG whose nodes link to their pages.
/// `id` must be unique within the page.
pub fn svg(flow: &Flow, links: &Links, id: &str, title: &str) -> String {
    let topics: Vec<String> = flow.topics.iter().cloned().collect();
    let topic_pos = |t: &str| topics.iter().position(|x| x == t).unwrap_or(0);
    let producer_edges: Vec<(String, usize)> = flow
        .produces
        .iter()
        .map(|(s, t)| (s.clone(), topic_pos(t)))
        .collect();
    let consumer_edges: Vec<(String, usize)> = flow
        .consumes
        .iter()
        .map(|(t, s)| (s.clone(), topic_pos(t)))
        .collect();
    let producers = by_barycenter(
        flow.produces.iter().map(|(s, _)| s.clone()).collect(),
        &producer_edges,
    );
    let consumers = by_barycenter(
        flow.consumes.iter().map(|(_, s)| s.clone()).collect(),
        &consumer_edges,
    );
    let rows = producers
        .len()
        .max(topics.len())
        .max(consumers.len())
        .max(1);
    let height = TOP + rows as u32 * (NODE_H + GAP_Y) + 4;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<figure class="flow">
<svg id="{id}" class="flow-graph" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-labelledby="{id}-title {id}-desc">
<title id="{id}-title">{title}</title>
<desc id="{id}-desc">{desc}</desc>
<defs><marker id="{id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="flow-arrow"/></marker></defs>
<text x="{cx0}" y="16" class="flow-col">Producers</text><text x="{cx1}" y="16" class="flow-col">Topics</text><text x="{cx2}" y="16" class="flow-col">Consumers</text>
"#,
        title = esc(title),
        desc = esc(&describe(flow)),
        cx0 = COL_X[0] + NODE_W / 2,
        cx1 = COL_X[1] + NODE_W / 2,
        cx2 = COL_X[2] + NODE_W / 2,
    );
    let top_of = |list: &[String], name: &str| -> (usize, u32) {
        let i = list.iter().position(|x| x == name).unwrap_or(0);
        (i, node_y(i, list.len(), rows))
    };
    let left: Vec<PlacedEdge> = flow
        .produces
        .iter()
        .map(|(s, t)| (top_of(&producers, s), top_of(&topics, t)))
        .collect();
    let right: Vec<PlacedEdge> = flow
        .consumes
        .iter()
        .map(|(t, s)| (top_of(&topics, t), top_of(&consumers, s)))
        .collect();
    for (edges, x1, x2) in [
        (&left, COL_X[0] + NODE_W, COL_X[1]),
        (&right, COL_X[1] + NODE_W, COL_X[2]),
    ] {
        for (y1, y2) in spread_ports(edges) {
            edge(&mut out, id, x1, y1, x2, y2);
        }
    }
    for (col, list, kind) in [
        (0, &producers, "service"),
        (1, &topics, "topic"),
        (2, &consumers, "service"),
    ] {
        for (i, name) in list.iter().enumerate() {
            let href = if kind == "topic" {
                path::topic(name)
            } else {
                path::service(name)
            };
            let y = node_y(i, list.len(), rows);
            let node = format!(
                r#"<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/><text x="{tx}" y="{ty}">{label}</text>"#,
                x = COL_X[col],
                tx = COL_X[col] + NODE_W / 2,
                ty = y + NODE_H / 2 + 5,
                label = esc(name),
            );
            if kind == "topic" && flow.unlisted.contains(name) {
                let _ = writeln!(out, r#"<g class="flow-node flow-{kind}">{node}</g>"#);
            } else {
                let _ = writeln!(
                    out,
                    r#"<a href="{}" class="flow-node flow-{kind}">{node}</a>"#,
                    esc(&links.to(&href))
                );
            }
        }
    }
    out.push_str("</svg>\n</figure>\n");
    out
}

/// An edge between two placed nodes: (row, top y) of the source and of the target.
type PlacedEdge = ((usize, u32), (usize, u32));

/// Where each edge leaves and enters its nodes: edges sharing a node fan out along its
/// side, ordered by the other end's row, so they do not all meet in one point.
/// Input: ((row, top y) of the source, (row, top y) of the target) per edge.
fn spread_ports(edges: &[PlacedEdge]) -> Vec<(u32, u32)> {
    let port = |node: usize, other: usize, pick: &dyn Fn(&PlacedEdge) -> (usize, usize)| {
        let mut others: Vec<usize> = edges
            .iter()
            .map(pick)
            .filter(|(n, _)| *n == node)
            .map(|(_, o)| o)
            .collect();
        others.sort_unstable();
        let k = others.iter().position(|o| *o == other).unwrap_or(0) as u32;
        let n = others.len() as u32;
        NODE_H * (k + 1) / (n + 1)
    };
    edges
        .iter()
        .map(|&((s, sy), (t, ty))| {
            let from = sy + port(s, t, &|e| (e.0.0, e.1.0));
            let to = ty + port(t, s, &|e| (e.1.0, e.0.0));
            (from, to)
        })
        .collect()
}

fn edge(out: &mut String, id: &str, x1: u32, y1: u32, x2: u32, y2: u32) {
    let mid = (x1 + x2) / 2;
    let _ = writeln!(
        out,
        r#"<path class="flow-edge" d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" marker-end="url(#{id}-arrow)"/>"#
    );
}

/// A sentence per edge, for screen readers and the text fallback.
pub fn describe(flow: &Flow) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (service, topic) in &flow.produces {
        parts.push(format!("{service} publishes to {topic}."));
    }
    for (topic, service) in &flow.consumes {
        parts.push(format!("{service} consumes from {topic}."));
    }
    if parts.is_empty() {
        "No producers or consumers are recorded in the services manifest.".to_string()
    } else {
        parts.join(" ")
    }
}
