//! Broken flow files in, located diagnostics out: each step of `flows.toml` checked against the services manifest and the journeys, so a sequence diagram cannot drift from the code.

use carebus_codegen::diagnostic::{DiagnosticKind, Diagnostics};
use carebus_codegen::ir::Model;
use carebus_codegen::ir::flow::Flow;
use std::path::Path;
use std::sync::OnceLock;

const FILE: &str = "schemas/flows.toml";

/// The real domain model: events, services and journeys of `schemas/`.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        carebus_codegen::load::load_dir(&dir).unwrap_or_else(|d| panic!("{}", d.render()))
    })
}

const VALID: &str = r#"[[flow]]
name = "lab-result"
title = "Lab result → analysis → follow-up"
steps = [
  { event = "LabResultReceived", by = "fhir-service", to = ["workflow-engine"], note = "POST /Observation" },
  { event = "AnalysisRequested", by = "workflow-engine", journey = "chronic-care" },
  { event = "ActionTriggered", by = "workflow-engine", journey = "chronic-care", action = "diabetes-follow-up", to = ["prm-service"] },
]
"#;

fn load(text: &str) -> Result<Vec<Flow>, Diagnostics> {
    carebus_codegen::load::flows::load(FILE, text, model())
}

fn rendered(text: &str) -> (Vec<DiagnosticKind>, String) {
    match load(text) {
        Ok(_) => panic!("expected diagnostics for:\n{text}"),
        Err(d) => (
            d.0.iter().map(|x| x.kind).collect(),
            d.render_with(|_| Some(text.to_string())),
        ),
    }
}

fn broken(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from}");
    VALID.replacen(from, to, 1)
}

#[test]
fn the_valid_flow_loads_with_every_consumer_filled_in_where_to_is_omitted() {
    let flows = load(VALID).unwrap_or_else(|d| panic!("{}", d.render()));
    let steps = &flows[0].steps;
    assert_eq!(steps[0].to, ["workflow-engine"]);
    assert_eq!(
        steps[1].to,
        ["ai-service", "analytics-pipeline", "audit-log"]
    );
    assert_eq!(steps[2].action.as_deref(), Some("diabetes-follow-up"));
    assert_eq!(
        flows[0].participants(),
        [
            "fhir-service",
            "workflow-engine",
            "ai-service",
            "analytics-pipeline",
            "audit-log",
            "prm-service"
        ]
    );
    assert_eq!((steps[2].source.line, steps[2].source.column), (7, 3));
}

#[test]
fn the_platform_flows_load() {
    let names: Vec<&str> = model().flows.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["registration", "lab-result-analysis", "appointment-booking"]
    );
}

#[test]
fn a_sender_that_does_not_produce_the_event() {
    let (kinds, text) = rendered(&broken("by = \"fhir-service\"", "by = \"prm-service\""));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(text.contains("flows.toml:5:3"), "{text}");
    assert!(
        text.contains("`prm-service` does not produce `LabResultReceived`"),
        "{text}"
    );
    assert!(text.contains("produced by fhir-service"), "{text}");
}

#[test]
fn a_receiver_that_does_not_consume_the_event() {
    let (kinds, text) = rendered(&broken(
        "to = [\"workflow-engine\"]",
        "to = [\"workflow-engine\", \"prm-service\"]",
    ));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(
        text.contains("`prm-service` does not consume `LabResultReceived`"),
        "{text}"
    );
}

#[test]
fn unknown_names_are_located_with_a_suggestion() {
    let (kinds, text) = rendered(&broken("\"AnalysisRequested\"", "\"AnalysisRequestd\""));
    assert_eq!(kinds, [DiagnosticKind::UnknownType]);
    assert!(text.contains("did you mean `AnalysisRequested`?"), "{text}");
    let (_, text) = rendered(&broken("by = \"fhir-service\"", "by = \"fhir-servce\""));
    assert!(text.contains("did you mean `fhir-service`?"), "{text}");
    let (_, text) = rendered(&broken(
        "journey = \"chronic-care\" }",
        "journey = \"chronic-cares\" }",
    ));
    assert!(text.contains("unknown journey `chronic-cares`"), "{text}");
}

#[test]
fn an_action_the_journey_never_publishes() {
    let (kinds, text) = rendered(&broken(
        "action = \"diabetes-follow-up\"",
        "action = \"diabetes-followup\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(
        text.contains("journey `chronic-care` never publishes action `diabetes-followup`"),
        "{text}"
    );
    assert!(text.contains("chronic_care.toml"), "{text}");
}

#[test]
fn a_journey_step_for_an_event_journeys_do_not_send() {
    let (_, text) = rendered(&broken(
        "{ event = \"AnalysisRequested\", by = \"workflow-engine\", journey = \"chronic-care\" }",
        "{ event = \"AnalysisRequested\", by = \"workflow-engine\", journey = \"new-patient-onboarding\" }",
    ));
    assert!(
        text.contains("journey `new-patient-onboarding` never sends `AnalysisRequested`"),
        "{text}"
    );
    let (_, text) = rendered(&broken(
        "{ event = \"LabResultReceived\", by = \"fhir-service\",",
        "{ event = \"LabResultReceived\", journey = \"chronic-care\", by = \"fhir-service\",",
    ));
    assert!(
        text.contains("`LabResultReceived` is sent by a service"),
        "{text}"
    );
}

#[test]
fn malformed_files_and_names() {
    let (kinds, text) = rendered(&broken("name = \"lab-result\"", "name = \"Lab Result\""));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(text.contains("not kebab-case"), "{text}");
    let (kinds, text) = rendered(&broken("note = ", "note_ = "));
    assert_eq!(kinds, [DiagnosticKind::UnknownAnnotation]);
    assert!(text.contains("flows.toml:5"), "{text}");
}
