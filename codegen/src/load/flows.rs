//! `flows.toml` in, IR [`Flow`]s out, each step checked against the services manifest (the sender produces the event, every receiver consumes it) and the journeys (the journey sends that event or action) — or located diagnostics for what does not fit.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::flow::{Flow, FlowStep};
use crate::ir::journey::{Action, Journey, StateKind};
use crate::ir::{Model, Service, Source};
use crate::load::manifest::{line_col, toml_error};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowsFile {
    #[serde(default)]
    flow: Vec<Spanned<FlowSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowSpec {
    name: String,
    title: String,
    doc: Option<String>,
    #[serde(default)]
    steps: Vec<Spanned<StepSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    event: String,
    by: String,
    to: Option<Vec<String>>,
    journey: Option<String>,
    action: Option<String>,
    note: Option<String>,
}

/// The events a journey's own steps send, and what each needs from the definition.
const JOURNEY_EVENTS: [&str; 5] = [
    "JourneyStarted",
    "StageCompleted",
    "JourneyCompleted",
    "ActionTriggered",
    "AnalysisRequested",
];

/// Loads `flows.toml` (`path` as shown in diagnostics) against a model whose services and
/// journeys are loaded.
pub fn load(path: &str, text: &str, model: &Model) -> Result<Vec<Flow>, Diagnostics> {
    let file: FlowsFile = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![toml_error(path, text, &e, "flows file")]))?;
    let mut diags = Diagnostics::default();
    let mut out: Vec<Flow> = Vec::new();
    let at = |offset: usize| {
        let (line, col) = line_col(text, offset);
        Source::new(path, line, col)
    };
    for spanned in file.flow {
        let source = at(spanned.span().start);
        let spec = spanned.into_inner();
        let kebab = !spec.name.is_empty()
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !kebab {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    source.clone(),
                    format!("flow name `{}` is not kebab-case", spec.name),
                )
                .help("use lowercase letters, digits and dashes: it names the diagram's file"),
            );
        }
        if out.iter().any(|f| f.name == spec.name) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    source.clone(),
                    format!("flow `{}` is defined twice", spec.name),
                )
                .help("rename one of them or merge their steps"),
            );
        }
        if spec.steps.is_empty() {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    source.clone(),
                    format!("flow `{}` has no steps", spec.name),
                )
                .help("list its events: steps = [{ event = \"...\", by = \"<service>\" }, ...]"),
            );
        }
        let mut steps = Vec::new();
        for step in spec.steps {
            let source = at(step.span().start);
            if let Some(s) = check_step(step.into_inner(), source, model, &mut diags) {
                steps.push(s);
            }
        }
        out.push(Flow {
            name: spec.name,
            title: spec.title,
            doc: spec.doc,
            steps,
            source,
        });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn unknown(
    diags: &mut Diagnostics,
    source: &Source,
    what: &str,
    name: &str,
    known: Vec<&str>,
    where_: &str,
) {
    let help = match suggest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("name one defined in {where_}"),
    };
    diags.push(
        Diagnostic::new(
            DiagnosticKind::UnknownType,
            source.clone(),
            format!("unknown {what} `{name}`"),
        )
        .help(help),
    );
}

/// One step resolved: its receivers filled in from the manifest when omitted.
fn check_step(
    step: StepSpec,
    source: Source,
    model: &Model,
    diags: &mut Diagnostics,
) -> Option<FlowStep> {
    let before = diags.0.len();
    if !model.events.iter().any(|e| e.name == step.event) {
        let names = model.events.iter().map(|e| e.name.as_str()).collect();
        unknown(diags, &source, "event", &step.event, names, "schemas/");
        return None;
    }
    let service = |name: &str| model.services.iter().find(|s| s.name == name);
    let service_names = || model.services.iter().map(|s| s.name.as_str()).collect();
    let declaring = |list: fn(&Service) -> &Vec<String>| {
        model
            .services
            .iter()
            .filter(|s| list(s).contains(&step.event))
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    match service(&step.by) {
        None => unknown(
            diags,
            &source,
            "service",
            &step.by,
            service_names(),
            "services.toml",
        ),
        Some(s) if !s.produces.contains(&step.event) => {
            let producers = declaring(|s| &s.produces);
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    source.clone(),
                    format!("`{}` does not produce `{}`", step.by, step.event),
                )
                .help(match producers.as_slice() {
                    [] => format!(
                        "no service produces `{}`: add it to a service's `produces` in services.toml",
                        step.event
                    ),
                    some => format!(
                        "services.toml says it is produced by {}; name one of them, or add it to `{}`'s `produces`",
                        some.join(", "),
                        step.by
                    ),
                }),
            );
        }
        Some(_) => {}
    }
    let to = match step.to {
        Some(to) => {
            for name in &to {
                match service(name) {
                    None => unknown(
                        diags,
                        &source,
                        "service",
                        name,
                        service_names(),
                        "services.toml",
                    ),
                    Some(s) if !s.consumes.contains(&step.event) => diags.push(
                        Diagnostic::new(
                            DiagnosticKind::InvalidSchema,
                            source.clone(),
                            format!("`{name}` does not consume `{}`", step.event),
                        )
                        .help(format!(
                            "add `{}` to `{name}`'s `consumes` in services.toml, or leave `{name}` out of `to`",
                            step.event
                        )),
                    ),
                    Some(_) => {}
                }
            }
            to
        }
        None => declaring(|s| &s.consumes),
    };
    match (&step.journey, &step.action) {
        (None, Some(_)) => diags.push(
            Diagnostic::new(
                DiagnosticKind::InvalidSchema,
                source.clone(),
                "`action` without `journey`".to_string(),
            )
            .help("name the journey that publishes the action: journey = \"<name>\""),
        ),
        (Some(name), action) => match model.journeys.iter().find(|j| &j.name == name) {
            None => unknown(
                diags,
                &source,
                "journey",
                name,
                model.journeys.iter().map(|j| j.name.as_str()).collect(),
                "schemas/journeys/",
            ),
            Some(j) => {
                if let Some(problem) = journey_sends(j, &step.event, action.as_deref()) {
                    diags.push(
                        Diagnostic::new(DiagnosticKind::InvalidSchema, source.clone(), problem)
                            .help(format!(
                                "change the step, or the journey ({}) so it sends it",
                                j.source.file
                            )),
                    );
                }
            }
        },
        (None, None) => {}
    }
    (diags.0.len() == before).then_some(FlowStep {
        event: step.event,
        by: step.by,
        to,
        journey: step.journey,
        action: step.action,
        note: step.note,
        source,
    })
}

/// Why the journey never sends `event` (with `action`), or `None` when it does.
fn journey_sends(j: &Journey, event: &str, action: Option<&str>) -> Option<String> {
    let actions = || {
        j.start.actions.iter().chain(
            j.transitions
                .iter()
                .flat_map(|t| t.actions.iter().chain(&t.compensate)),
        )
    };
    let sends = match event {
        "JourneyStarted" => true,
        "JourneyCompleted" => j.states.iter().any(|s| s.kind == StateKind::Final),
        "StageCompleted" => actions().any(|a| matches!(a, Action::CompleteStage { .. })),
        "AnalysisRequested" => actions().any(|a| matches!(a, Action::RequestAnalysis { .. })),
        "ActionTriggered" => match action {
            Some(want) => {
                actions().any(|a| matches!(a, Action::Publish { name, .. } if name == want))
            }
            None => actions().any(|a| matches!(a, Action::Publish { .. })),
        },
        other => {
            return Some(format!(
                "a journey sends only {}; `{other}` is sent by a service",
                JOURNEY_EVENTS.join(", ")
            ));
        }
    };
    if action.is_some() && event != "ActionTriggered" {
        return Some(format!(
            "`action` belongs to ActionTriggered steps, not `{event}`"
        ));
    }
    (!sends).then(|| match action {
        Some(a) => format!("journey `{}` never publishes action `{a}`", j.name),
        None => format!("journey `{}` never sends `{event}`", j.name),
    })
}
