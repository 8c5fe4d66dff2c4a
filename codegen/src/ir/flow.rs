//! The platform's main flows as the IR holds them: each a sequence of events, who sends each and who receives it, drawn by the catalog as sequence diagrams.

use super::Source;
use serde::{Deserialize, Serialize};

/// A flow from `flows.toml`, checked against the services manifest and the journeys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Kebab-case id, the file name of its diagram (`flows/<name>.svg`).
    pub name: String,
    pub title: String,
    pub doc: Option<String>,
    pub steps: Vec<FlowStep>,
    pub source: Source,
}

/// One message of a flow: an event sent by a service to the services that consume it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowStep {
    pub event: String,
    /// The producing service (declares the event under `produces`).
    pub by: String,
    /// The receiving services (each declares the event under `consumes`); written or, when
    /// omitted, every consumer in the services manifest.
    pub to: Vec<String>,
    /// The journey whose transition sends this event (the workflow engine's steps).
    pub journey: Option<String>,
    /// For `ActionTriggered`: the action name the journey publishes.
    pub action: Option<String>,
    /// What happens at the sender, e.g. the HTTP call that caused the event.
    pub note: Option<String>,
    pub source: Source,
}

impl Flow {
    /// Every service taking part, in order of first appearance (senders before receivers).
    pub fn participants(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.steps {
            for name in std::iter::once(&s.by).chain(&s.to) {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }
}
