//! A flow of `flows.toml` turned into a sequence diagram: one lifeline per service, one numbered arrow per event from its sender to each receiver, drawn as SVG that works inline and as a file of its own.

use crate::html::{Links, esc, path};
use carebus_codegen::ir::flow::{Flow, FlowStep};
use std::fmt::Write as _;

const LANE_W: u32 = 176;
const MARGIN_X: u32 = 16;
const HEAD_H: u32 = 38;
const TOP: u32 = 14;
const STEP_H: u32 = 62;
const FIRST_STEP: u32 = TOP + HEAD_H + 40;
const ARROW: u32 = 7;

fn lane_x(lane: usize) -> u32 {
    MARGIN_X + lane as u32 * LANE_W + LANE_W / 2
}

/// What the arrow of a step says: its number, the event and (for `ActionTriggered`) the action.
pub fn step_label(index: usize, step: &FlowStep) -> String {
    match &step.action {
        Some(action) => format!("{}. {} ({action})", index + 1, step.event),
        None => format!("{}. {}", index + 1, step.event),
    }
}

/// The diagram of `flow` with links as seen from `links`' page: the services' headers link to
/// their pages and every label to its event's page. Presentation attributes only (no CSS), so
/// the same text is valid as an `.svg` file.
pub fn svg(flow: &Flow, links: &Links) -> String {
    let lanes = flow.participants();
    let lane = |name: &str| lanes.iter().position(|l| *l == name).unwrap_or(0);
    let width = 2 * MARGIN_X + lanes.len() as u32 * LANE_W;
    let bottom = FIRST_STEP + flow.steps.len() as u32 * STEP_H;
    let height = bottom + 10;
    let id = format!("seq-{}", crate::html::slug(&flow.name));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="sequence" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="{id}-title {id}-desc" font-family="system-ui, sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">Sequence diagram: {} steps between {}.</desc>"#,
        esc(&flow.title),
        flow.steps.len(),
        esc(&lanes.join(", "))
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="{id}-head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{ARROW}" markerHeight="{ARROW}" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f4e79"/></marker></defs>"##
    );
    for (i, name) in lanes.iter().enumerate() {
        let x = lane_x(i);
        let left = x - LANE_W / 2 + 6;
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="#8a94a6" stroke-dasharray="4 4"/>"##,
            TOP + HEAD_H
        );
        let _ = writeln!(
            s,
            r##"<a href="{}"><rect x="{left}" y="{TOP}" width="{}" height="{HEAD_H}" rx="6" fill="#eef3f8" stroke="#1f4e79"/><text x="{x}" y="{}" text-anchor="middle" font-weight="600" fill="#102a43">{}</text></a>"##,
            esc(&links.to(&path::service(name))),
            LANE_W - 12,
            TOP + HEAD_H / 2 + 5,
            esc(name)
        );
    }
    for (i, step) in flow.steps.iter().enumerate() {
        let y = FIRST_STEP + i as u32 * STEP_H;
        let from = lane(&step.by);
        let fx = lane_x(from);
        let _ = writeln!(s, r##"<circle cx="{fx}" cy="{y}" r="4" fill="#1f4e79"/>"##);
        for to in &step.to {
            let tx = lane_x(lane(to));
            if tx == fx {
                continue;
            }
            // Stops short of the lifeline so the arrowhead touches it.
            let end = if tx > fx { tx - 2 } else { tx + 2 };
            let _ = writeln!(
                s,
                r##"<line x1="{fx}" y1="{y}" x2="{end}" y2="{y}" stroke="#1f4e79" stroke-width="1.5" marker-end="url(#{id}-head)"/>"##
            );
        }
        // The label sits above the arrow, starting at the sender, on the side it points to.
        let rightward = step.to.iter().any(|t| lane(t) > from) || step.to.is_empty();
        let (lx, anchor) = if rightward {
            (fx + 8, "start")
        } else {
            (fx - 8, "end")
        };
        let _ = writeln!(
            s,
            r##"<a href="{}"><text x="{lx}" y="{}" text-anchor="{anchor}" fill="#102a43">{}</text></a>"##,
            esc(&links.to(&path::event(&step.event))),
            y - 8,
            esc(&step_label(i, step))
        );
        if let Some(note) = &step.note {
            let _ = writeln!(
                s,
                r##"<text x="{lx}" y="{}" text-anchor="{anchor}" font-size="11" fill="#52606d">{}</text>"##,
                y + 17,
                esc(note)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
