//! A journey of the IR turned into its catalog page: the state diagram (the engine dashboard's drawing), the states with their SLAs, and each transition's consumed event and produced events, linked to the event pages.

use crate::html::{Links, Page, Section, esc, path, table_wrap};
use carebus_codegen::ir::Model;
use carebus_codegen::ir::journey::Journey as IrJourney;
use carebus_core::journey::{Action, Definition, StateKind, diagram};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The newest version of each journey, by name.
pub fn newest(model: &Model) -> BTreeMap<&str, &IrJourney> {
    let mut out: BTreeMap<&str, &IrJourney> = BTreeMap::new();
    for j in &model.journeys {
        let keep = out
            .get(j.name.as_str())
            .is_none_or(|o| o.version < j.version);
        if keep {
            out.insert(&j.name, j);
        }
    }
    out
}

/// The definition the engine runs (the generated code embeds the IR's JSON the same way), or
/// `None` when the IR does not read as one.
pub fn definition(journey: &IrJourney) -> Option<Definition> {
    serde_json::to_string(journey)
        .ok()
        .and_then(|json| Definition::from_json(&json).ok())
}

/// The events a list of actions publishes, in order, each once.
fn produced(actions: &[Action], out: &mut Vec<String>) {
    for a in actions {
        let event = match a {
            Action::Publish { .. } => "ActionTriggered",
            Action::RequestAnalysis { .. } => "AnalysisRequested",
            Action::CompleteStage { .. } => "StageCompleted",
            Action::Custom { .. } => "(custom: any of the above)",
            Action::Schedule { .. } | Action::Cancel { .. } => continue,
        };
        if !out.iter().any(|e| e == event) {
            out.push(event.to_owned());
        }
    }
}

/// What a transition does, in words: published action names, timers, stages.
fn action_words(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Publish {
                name, action_type, ..
            } => format!("action <code>{}</code> ({})", esc(name), esc(action_type)),
            Action::RequestAnalysis { analysis_kind, .. } => {
                format!("analysis <code>{}</code>", esc(analysis_kind))
            }
            Action::Schedule { timer, .. } => format!("start timer <code>{}</code>", esc(timer)),
            Action::Cancel { timer } => format!("cancel timer <code>{}</code>", esc(timer)),
            Action::CompleteStage { stage, outcome } => {
                format!("stage <code>{}</code> {}", esc(stage), esc(outcome))
            }
            Action::Custom { name } => format!("custom <code>{}</code>", esc(name)),
        })
        .collect()
}

/// An event name linked to its page when the model has it.
fn event_link(model: &Model, links: &Links, event: &str) -> String {
    if event.starts_with("timer:") || model.versions(event).is_empty() {
        format!("<code>{}</code>", esc(event))
    } else {
        format!(
            r#"<a href="{}"><code>{}</code></a>"#,
            esc(&links.to(&path::event(event))),
            esc(event)
        )
    }
}

/// Journeys that read `event` (start, transitions, correlation) or publish it: (name, title,
/// reads, produces), by name.
pub fn of_event(model: &Model, event: &str) -> Vec<(String, String, bool, bool)> {
    newest(model)
        .values()
        .filter_map(|j| {
            let def = definition(j)?;
            let reads = def.correlate.iter().any(|c| c.event == event);
            let mut out = vec!["JourneyStarted".to_owned(), "JourneyCompleted".to_owned()];
            produced(&def.start.actions, &mut out);
            for t in &def.transitions {
                produced(&t.actions, &mut out);
                produced(&t.compensate, &mut out);
            }
            let produces = out.iter().any(|e| e == event);
            (reads || produces).then(|| (def.name.clone(), def.title.clone(), reads, produces))
        })
        .collect()
}

/// The page of one journey (its newest version).
pub fn render(model: &Model, journey: &IrJourney) -> Page {
    let page_path = path::journey(&journey.name);
    let links = Links::from_page(&page_path);
    let mut b = String::new();
    let _ = writeln!(
        b,
        r#"<h1>{} <span class="version-tag">v{}</span></h1>"#,
        esc(&journey.title),
        journey.version
    );
    let _ = writeln!(
        b,
        r#"<p class="muted">Journey <code>{}</code>{}. Defined in <code>{}</code>; format and engine: <code>docs/journeys.md</code>.</p>"#,
        esc(&journey.name),
        if journey.saga { ", a saga" } else { "" },
        esc(&journey.source.file)
    );
    if let Some(doc) = &journey.doc {
        let _ = writeln!(b, r#"<p class="lead">{}</p>"#, esc(doc));
    }
    let Some(def) = definition(journey) else {
        b.push_str(r#"<p class="notice">This journey's IR could not be read as an engine definition; rebuild the IR with this generator.</p>"#);
        return page(journey, page_path, b);
    };
    let _ = write!(
        b,
        "<section aria-labelledby=\"diagram-h\"><h2 id=\"diagram-h\">State diagram</h2>\n<div class=\"flow journey-flow\">{}</div>\n</section>\n",
        diagram::svg(&def)
    );
    let mut started = vec!["JourneyStarted".to_owned()];
    produced(&def.start.actions, &mut started);
    let _ = writeln!(
        b,
        "<section aria-labelledby=\"start-h\"><h2 id=\"start-h\">Start</h2><p>{} starts an instance{}; it publishes {}.</p></section>",
        event_link(model, &links, &def.start.event),
        if def.start.when.is_empty() {
            ""
        } else {
            " when its guard holds"
        },
        started
            .iter()
            .map(|e| event_link(model, &links, e))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">State</th><th scope=\"col\">Kind</th><th scope=\"col\">SLA</th><th scope=\"col\">Timeouts</th><th scope=\"col\">Description</th></tr></thead><tbody>\n",
    );
    for (s, ir) in def.states.iter().zip(&journey.states) {
        let kind = match s.kind {
            StateKind::Initial => "initial",
            StateKind::Intermediate => "intermediate",
            StateKind::Final if s.compensated => "final (compensated)",
            StateKind::Final => "final",
        };
        let timeouts: Vec<String> = s
            .timeouts
            .iter()
            .map(|t| format!("<code>{}</code> {}", esc(&t.timer), duration(t.after_ms)))
            .collect();
        let _ = writeln!(
            t,
            r#"<tr id="state-{anchor}"><th scope="row"><code>{name}</code></th><td>{kind}</td><td>{sla}</td><td>{timeouts}</td><td>{doc}</td></tr>"#,
            anchor = crate::html::slug(&s.name),
            name = esc(&s.name),
            sla = s.sla_ms.map(duration).unwrap_or_default(),
            timeouts = timeouts.join(", "),
            doc = esc(ir.doc.as_deref().unwrap_or(&s.title)),
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section aria-labelledby=\"states-h\"><h2 id=\"states-h\">States</h2>\n{}\n</section>\n",
        table_wrap("States", &t)
    );

    let mut t = String::from(
        "<table><thead><tr><th scope=\"col\">From</th><th scope=\"col\">Consumes</th><th scope=\"col\">To</th><th scope=\"col\">Produces</th><th scope=\"col\">Does</th></tr></thead><tbody>\n",
    );
    for tr in &def.transitions {
        let mut events = Vec::new();
        produced(&tr.actions, &mut events);
        if def
            .state(&tr.to)
            .is_some_and(|s| s.kind == StateKind::Final)
        {
            events.push("JourneyCompleted".to_owned());
        }
        let mut does = action_words(&tr.actions);
        if !tr.compensate.is_empty() {
            does.push(format!(
                "undone by: {}",
                action_words(&tr.compensate).join(", ")
            ));
        }
        if tr.fails {
            does.push("the step fails: compensate the completed steps".into());
        }
        let guard = if tr.when.is_empty() && tr.guard.is_none() {
            ""
        } else {
            " <span class=\"muted\">(guarded)</span>"
        };
        let _ = writeln!(
            t,
            r#"<tr><td>{from}</td><td>{on}{guard}</td><td><code>{to}</code></td><td>{produces}</td><td>{does}</td></tr>"#,
            from = tr
                .from
                .iter()
                .map(|f| format!("<code>{}</code>", esc(f)))
                .collect::<Vec<_>>()
                .join(", "),
            on = event_link(model, &links, &tr.on),
            to = esc(&tr.to),
            produces = events
                .iter()
                .map(|e| event_link(model, &links, e))
                .collect::<Vec<_>>()
                .join(", "),
            does = does.join("; "),
        );
    }
    t.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<section aria-labelledby=\"transitions-h\"><h2 id=\"transitions-h\">Transitions</h2>\n<p>In definition order: the first transition from the current state whose guard holds runs. A state's SLA passing publishes <code>ActionTriggered</code> <code>sla-breached</code>.</p>\n{}\n</section>\n",
        table_wrap("Transitions", &t)
    );
    page(journey, page_path, b)
}

fn page(journey: &IrJourney, path: String, body: String) -> Page {
    Page {
        path,
        title: journey.title.clone(),
        section: Section::Journeys,
        crumbs: vec![("Overview".to_string(), "index.html#journeys".to_string())],
        body,
    }
}

fn duration(ms: u64) -> String {
    match ms {
        ms if ms > 0 && ms.is_multiple_of(86_400_000) => format!("{} d", ms / 86_400_000),
        ms if ms > 0 && ms.is_multiple_of(3_600_000) => format!("{} h", ms / 3_600_000),
        ms if ms > 0 && ms.is_multiple_of(60_000) => format!("{} min", ms / 60_000),
        ms => format!("{} s", ms / 1000),
    }
}
