//! Journey definitions as the generator checked and embedded them (JSON) turned into data, plus the hooks a team implements for custom guards and actions; [`machine`] turns an instance and an event into the next state and what to emit.
//!
//! The definitions come from `schemas/journeys/*.toml` (format: `docs/journeys.md`); the
//! generated code embeds each as JSON and builds a [`Journey`] from it, with the team's
//! implementation of the journey's generated trait as [`Hooks`] when it has custom parts.
//! The engine (crate `carebus-journey`) runs them over Kafka and PostgreSQL or embedded.

pub mod diagram;
pub mod machine;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use machine::{
    Compensating, Decision, Deferred, Emit, HistoryEntry, HistoryKind, Input, Instance,
    InstanceView,
};

/// One version of a journey, as checked by the generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Kebab-case id (`new-patient-onboarding`).
    pub name: String,
    /// Definition version; instances keep the version they started on.
    pub version: u32,
    /// Display name.
    pub title: String,
    /// What the journey is for.
    #[serde(default)]
    pub doc: Option<String>,
    /// The event that starts an instance.
    pub start: Start,
    /// Per event type, where its correlation key is.
    pub correlate: Vec<Correlation>,
    /// States in definition order.
    pub states: Vec<State>,
    /// Transitions in definition order (the first whose guard holds wins).
    pub transitions: Vec<Transition>,
    /// Where instances in states this version no longer has go.
    #[serde(default)]
    pub migrate: BTreeMap<String, String>,
    /// A failing step compensates the completed steps, newest first.
    #[serde(default)]
    pub saga: bool,
    /// Custom guards the team implements.
    #[serde(default)]
    pub custom_guards: Vec<String>,
    /// Custom actions the team implements.
    #[serde(default)]
    pub custom_actions: Vec<String>,
    /// Fingerprint of what the engine runs (the journey lock records it).
    pub fingerprint: String,
}

/// How an instance starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// Event type that starts an instance.
    pub event: String,
    /// Conditions it must meet.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Actions taken on start.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// Where an event type's correlation key is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Event type.
    pub event: String,
    /// JSON path of the key in the event's JSON form.
    pub path: Vec<String>,
}

/// Initial, intermediate or final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    /// Where a new instance starts.
    Initial,
    /// On the way.
    Intermediate,
    /// Finished: entering it publishes `JourneyCompleted`.
    Final,
}

/// A state of the journey (a stage, for `StageCompleted`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Name, unique in the journey.
    pub name: String,
    /// Initial, intermediate or final.
    pub kind: StateKind,
    /// Display name (the stage name).
    pub title: String,
    /// Deadline from entering, in milliseconds.
    #[serde(default)]
    pub sla_ms: Option<u64>,
    /// Timers started on entering and cancelled on leaving.
    #[serde(default)]
    pub timeouts: Vec<Timeout>,
    /// Events kept while here and offered again after the next transition.
    #[serde(default)]
    pub defer: Vec<String>,
    /// For final states: the `JourneyOutcome` symbol.
    #[serde(default)]
    pub outcome: Option<String>,
    /// For a saga's final states: where compensation ends.
    #[serde(default)]
    pub compensated: bool,
}

/// A state's timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeout {
    /// Timer name (handled by `timer:<name>` transitions).
    pub timer: String,
    /// Delay from entering the state, in milliseconds.
    pub after_ms: u64,
}

/// A transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// States it leaves from.
    pub from: Vec<String>,
    /// Event type or `timer:<name>`.
    pub on: String,
    /// State it enters.
    pub to: String,
    /// Conditions on the event's fields, all of which must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// A custom guard, on top of `when`.
    #[serde(default)]
    pub guard: Option<String>,
    /// What it does.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// What undoes it (saga steps).
    #[serde(default)]
    pub compensate: Vec<Action>,
    /// A failing saga step: compensate the completed steps.
    #[serde(default)]
    pub fails: bool,
    /// A saga step's name; default the state it enters ([`Transition::step_name`]).
    #[serde(default)]
    pub step: Option<String>,
    /// How a saga step's compensation is confirmed and retried; without it the compensation is
    /// done once its actions are in the outbox.
    #[serde(default)]
    pub compensation: Option<Compensation>,
}

impl Transition {
    /// The saga step's name: `step`, else the state it enters.
    pub fn step_name(&self) -> &str {
        self.step.as_deref().unwrap_or(&self.to)
    }
}

/// How a saga step's compensation is confirmed: the engine sends the compensating actions,
/// waits `retry_after_ms` for `confirmed_by`, sends them again, and after `attempts` parks the
/// instance for a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compensation {
    /// Event type that confirms the compensation was carried out.
    pub confirmed_by: String,
    /// Wait before sending the compensating actions again, in milliseconds.
    pub retry_after_ms: u64,
    /// Attempts before parking.
    pub attempts: u32,
}

/// A condition on a field of the event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The field as written in the definition.
    pub field: String,
    /// JSON path in the event's JSON form.
    pub path: Vec<String>,
    /// Comparison.
    pub op: Op,
    /// Value (an array for `in` / `not_in`).
    pub value: Value,
}

/// A comparison of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An action of a transition or of the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Publish `ActionTriggered`.
    Publish {
        /// Action name (the `rule` of its trigger).
        name: String,
        /// `ActionType` symbol.
        action_type: String,
        /// Template id.
        #[serde(default)]
        template: Option<String>,
        /// Parameters.
        #[serde(default)]
        params: BTreeMap<String, String>,
    },
    /// Publish `AnalysisRequested`.
    RequestAnalysis {
        /// `AnalysisKind` symbol.
        analysis_kind: String,
        /// `AnalysisPriority` symbol.
        priority: String,
    },
    /// Start a journey-wide timer.
    Schedule {
        /// Timer name.
        timer: String,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Cancel a timer.
    Cancel {
        /// Timer name.
        timer: String,
    },
    /// Publish `StageCompleted`.
    CompleteStage {
        /// Stage (state) name.
        stage: String,
        /// `StageOutcome` symbol.
        outcome: String,
    },
    /// A custom action ([`Hooks::action`]).
    Custom {
        /// Method name.
        name: String,
    },
}

impl Definition {
    /// Parse an embedded definition.
    pub fn from_json(json: &str) -> Result<Definition, serde_json::Error> {
        serde_json::from_str(json)
    }
    /// The state named `name`.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
    /// The initial state.
    pub fn initial(&self) -> Option<&State> {
        self.states.iter().find(|s| s.kind == StateKind::Initial)
    }
    /// Where `event_type`'s correlation key is, when the journey reads it.
    pub fn correlation(&self, event_type: &str) -> Option<&[String]> {
        self.correlate
            .iter()
            .find(|c| c.event == event_type)
            .map(|c| c.path.as_slice())
    }
    /// The correlation key of an event (its JSON form), when the journey reads the event type
    /// and the event has one.
    pub fn key_of(&self, event_type: &str, data: &Value) -> Option<String> {
        let path = self.correlation(event_type)?;
        machine::at_path(data, path)?.as_str().map(str::to_owned)
    }
}

/// Custom guards and actions of a journey, implemented by a team in Rust; the generated code
/// adapts the journey's typed trait to this.
pub trait Hooks: Send + Sync + 'static {
    /// Evaluate the custom guard `name`; `None` when there is no such guard.
    fn guard(&self, name: &str, instance: &InstanceView<'_>, event: &Value) -> Option<bool> {
        let _ = (name, instance, event);
        None
    }
    /// Run the custom action `name`: the actions it amounts to; `None` when there is no such
    /// action.
    fn action(
        &self,
        name: &str,
        instance: &InstanceView<'_>,
        event: &Value,
    ) -> Option<Vec<Action>> {
        let _ = (name, instance, event);
        None
    }
}

/// Hooks of a journey without custom parts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;
impl Hooks for NoHooks {}

/// A journey ready to run: its definition and its hooks.
#[derive(Clone)]
pub struct Journey {
    /// The checked definition.
    pub definition: Arc<Definition>,
    /// Its custom guards and actions.
    pub hooks: Arc<dyn Hooks>,
}

impl std::fmt::Debug for Journey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journey")
            .field("name", &self.definition.name)
            .field("version", &self.definition.version)
            .finish_non_exhaustive()
    }
}

impl Journey {
    /// A journey from its embedded JSON and hooks. Fails only if the JSON is not a definition
    /// (generated code and this crate out of step: rebuild both).
    pub fn from_json(json: &str, hooks: impl Hooks) -> Result<Journey, serde_json::Error> {
        Ok(Journey {
            definition: Arc::new(Definition::from_json(json)?),
            hooks: Arc::new(hooks),
        })
    }
}
