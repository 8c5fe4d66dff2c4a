//! A journey definition turned into its state diagram as inline SVG: states in columns by their distance from the initial state, transitions as labelled arrows — the one drawing the catalog and the engine's dashboard both show.

use super::{Definition, StateKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;

const NODE_W: i64 = 200;
const NODE_H: i64 = 44;
const COL_PITCH: i64 = 350;
const ROW_PITCH: i64 = 96;
const MARGIN: i64 = 24;
/// Room above the first row for self-loops and below the last for back edges.
const TOP: i64 = 56;

/// Where each state is drawn: (column, row), columns by distance from the initial state
/// (states no transition reaches go in a last column), rows in definition order.
fn layout(def: &Definition) -> HashMap<&str, (i64, i64)> {
    let mut depth: HashMap<&str, i64> = HashMap::new();
    let mut queue = VecDeque::new();
    if let Some(initial) = def.initial() {
        depth.insert(initial.name.as_str(), 0);
        queue.push_back(initial.name.as_str());
    }
    while let Some(state) = queue.pop_front() {
        let d = depth[state];
        for t in def
            .transitions
            .iter()
            .filter(|t| t.from.iter().any(|f| f == state))
        {
            if !depth.contains_key(t.to.as_str()) {
                depth.insert(t.to.as_str(), d + 1);
                queue.push_back(t.to.as_str());
            }
        }
    }
    let last = depth.values().copied().max().unwrap_or(0) + 1;
    let mut rows: BTreeMap<i64, i64> = BTreeMap::new();
    let mut at = HashMap::new();
    for s in &def.states {
        let col = depth.get(s.name.as_str()).copied().unwrap_or(last);
        let row = rows.entry(col).or_insert(0);
        at.insert(s.name.as_str(), (col, *row));
        *row += 1;
    }
    at
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (unit, name) in UNITS {
        if ms >= unit && ms.is_multiple_of(unit) {
            return format!("{}{name}", ms / unit);
        }
    }
    format!("{ms}ms")
}

/// The state diagram of `def` as a standalone `<svg>` element (inline styles, no script).
/// Deterministic: the same definition always gives the same text.
pub fn svg(def: &Definition) -> String {
    let at = layout(def);
    let cols = at.values().map(|p| p.0).max().unwrap_or(0) + 1;
    let rows = at.values().map(|p| p.1).max().unwrap_or(0) + 1;
    let width = MARGIN * 2 + (cols - 1) * COL_PITCH + NODE_W;
    let height = TOP * 2 + MARGIN + (rows - 1) * ROW_PITCH + NODE_H;
    let pos = |name: &str| {
        at.get(name)
            .map(|&(c, r)| (MARGIN + c * COL_PITCH, TOP + r * ROW_PITCH))
    };
    // One arrow per (from, to), labelled with every input that takes it.
    let mut edges: Vec<((&str, &str), Vec<String>)> = Vec::new();
    for t in &def.transitions {
        for from in &t.from {
            let mut label = t.on.clone();
            if !t.when.is_empty() || t.guard.is_some() {
                label.push_str(" [if]");
            }
            if t.fails {
                label.push_str(" (fails)");
            }
            match edges
                .iter_mut()
                .find(|(k, _)| *k == (from.as_str(), t.to.as_str()))
            {
                Some((_, labels)) if !labels.contains(&label) => labels.push(label),
                Some(_) => {}
                None => edges.push(((from.as_str(), t.to.as_str()), vec![label])),
            }
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="journey-diagram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="state diagram of {name}" font-family="sans-serif" font-size="12"><title>{name} v{version}</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##,
        name = esc(&def.name),
        version = def.version,
    );
    for ((from, to), labels) in &edges {
        let (Some((fx, fy)), Some((tx, ty))) = (pos(from), pos(to)) else {
            continue;
        };
        let label = esc(&labels.join(", "));
        let anchor = if from != to && at[from].0 == at[to].0 {
            "start"
        } else {
            "middle"
        };
        let (path, lx, ly) = if from == to {
            // A loop over the top of the state.
            let (x, y) = (fx + NODE_W / 2, fy);
            (
                format!(
                    "M{},{y} C{},{} {},{} {},{y}",
                    x - 30,
                    x - 40,
                    y - 38,
                    x + 40,
                    y - 38,
                    x + 30
                ),
                x,
                y - 34,
            )
        } else if tx > fx {
            // Forward: right side to left side, bowed when it skips rows.
            let (x1, y1, x2, y2) = (fx + NODE_W, fy + NODE_H / 2, tx, ty + NODE_H / 2);
            let (mx, my) = ((x1 + x2) / 2, (y1 + y2) / 2);
            (format!("M{x1},{y1} Q{mx},{my} {x2},{y2}"), mx, my - 6)
        } else if tx == fx {
            // Within a column: the nearer edges, straight, labelled beside the arrow.
            let x = fx + NODE_W / 2;
            let (y1, y2) = if ty > fy {
                (fy + NODE_H, ty)
            } else {
                (fy, ty + NODE_H)
            };
            (format!("M{x},{y1} L{x},{y2}"), x + 8, (y1 + y2) / 2)
        } else {
            // Back: bottom to bottom, bowed below.
            let (x1, y1, x2, y2) = (fx + NODE_W / 2, fy + NODE_H, tx + NODE_W / 2, ty + NODE_H);
            let (mx, my) = ((x1 + x2) / 2, y1.max(y2) + 36);
            (format!("M{x1},{y1} Q{mx},{my} {x2},{y2}"), mx, my - 8)
        };
        let _ = write!(
            out,
            r##"<g class="transition"><title>{from} → {to}: {label}</title><path d="{path}" fill="none" stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/><text x="{lx}" y="{ly}" text-anchor="{anchor}" fill="#333" font-size="10">{label}</text></g>"##,
            from = esc(from),
            to = esc(to),
        );
    }
    for s in &def.states {
        let Some((x, y)) = pos(&s.name) else { continue };
        let (fill, stroke) = match s.kind {
            StateKind::Initial => ("#e3f2fd", "#1565c0"),
            StateKind::Intermediate => ("#ffffff", "#555555"),
            StateKind::Final if s.compensated => ("#fdecea", "#b71c1c"),
            StateKind::Final => ("#e8f5e9", "#2e7d32"),
        };
        let width = if s.kind == StateKind::Final { 3 } else { 1 };
        let mut note = String::new();
        if let Some(sla) = s.sla_ms {
            let _ = write!(note, "SLA {}", duration(sla));
        }
        if let Some(outcome) = &s.outcome {
            note.push_str(&esc(outcome));
        }
        let _ = write!(
            out,
            r##"<g class="state state-{kind}" data-state="{name}"><title>{title}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="10" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/><text x="{cx}" y="{ty}" text-anchor="middle" fill="#111">{name}</text><text x="{cx}" y="{ny}" text-anchor="middle" fill="#666" font-size="10">{note}</text></g>"##,
            kind = match s.kind {
                StateKind::Initial => "initial",
                StateKind::Intermediate => "intermediate",
                StateKind::Final => "final",
            },
            name = esc(&s.name),
            title = esc(&s.title),
            cx = x + NODE_W / 2,
            ty = y + 19,
            ny = y + 35,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> Definition {
        Definition::from_json(
            r#"{"name":"j<x>","version":2,"title":"J","start":{"event":"A"},"correlate":[],
            "states":[{"name":"s1","kind":"initial","title":"One","sla_ms":86400000},
                      {"name":"s2","kind":"intermediate","title":"Two"},
                      {"name":"done","kind":"final","title":"Done","outcome":"COMPLETED"}],
            "transitions":[{"from":["s1"],"on":"B","to":"s2"},{"from":["s1"],"on":"timer:r","to":"s1"},
                           {"from":["s2"],"on":"C","to":"done"},{"from":["s2"],"on":"D","to":"s1"}],
            "fingerprint":"0"}"#,
        )
        .unwrap()
    }

    #[test]
    fn draws_every_state_and_transition_escaped() {
        let svg = svg(&def());
        for state in ["s1", "s2", "done"] {
            assert!(svg.contains(&format!(r#"data-state="{state}""#)), "{svg}");
        }
        assert_eq!(svg.matches(r#"<g class="transition">"#).count(), 4, "{svg}");
        assert!(svg.contains("timer:r") && svg.contains("SLA 1d"), "{svg}");
        assert!(svg.contains("j&lt;x&gt;") && !svg.contains("j<x>"), "{svg}");
        assert_eq!(svg, super::svg(&def()), "deterministic");
    }

    #[test]
    fn columns_follow_the_distance_from_the_initial_state() {
        let d = def();
        let at = layout(&d);
        assert_eq!(at["s1"], (0, 0));
        assert_eq!(at["s2"], (1, 0));
        assert_eq!(at["done"], (2, 0));
    }
}
