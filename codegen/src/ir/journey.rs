//! Journey definitions (`schemas/journeys/*.toml`) as IR: a patient journey's states, the events that move it, the guards on their fields and the actions it takes, checked against the event schemas.
//!
//! The generated code embeds each journey as JSON of these types; the engine
//! (`carebus_core::journey::Definition`) reads the same JSON. Durations are milliseconds.

use super::Source;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One version of one journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// Kebab-case id, e.g. `new-patient-onboarding` (the `definitionId` of `JourneyStarted`).
    pub name: String,
    pub version: u32,
    /// Display name (the `name` of `JourneyStarted`).
    pub title: String,
    pub doc: Option<String>,
    /// The event that starts an instance, and the guard it must pass.
    pub start: Start,
    /// Per event type: the field (JSON path) holding the correlation key.
    pub correlate: Vec<Correlation>,
    /// In file order; exactly one is initial.
    pub states: Vec<State>,
    pub transitions: Vec<Transition>,
    /// Where instances of older versions in a state this version no longer has go.
    #[serde(default)]
    pub migrate: BTreeMap<String, String>,
    /// Whether this journey is a saga: a failing step compensates the steps before it.
    #[serde(default)]
    pub saga: bool,
    /// Names of the custom guards and actions the team implements in Rust.
    #[serde(default)]
    pub custom_guards: Vec<String>,
    #[serde(default)]
    pub custom_actions: Vec<String>,
    /// Fingerprint of the definition (CRC-64-AVRO of its JSON without docs and sources).
    pub fingerprint: String,
    pub source: Source,
}

/// How an instance starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub event: String,
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Actions taken when the instance starts (after `JourneyStarted`).
    #[serde(default)]
    pub actions: Vec<Action>,
    pub source: Source,
}

/// The field of an event that says which instance it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    pub event: String,
    /// As written (schema field names, dotted).
    pub field: String,
    /// JSON member names of the event's JSON form.
    pub path: Vec<String>,
    pub source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    Initial,
    Intermediate,
    Final,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub kind: StateKind,
    pub title: String,
    pub doc: Option<String>,
    /// Deadline from entering the state; passing it is an SLA breach.
    pub sla_ms: Option<u64>,
    /// Timers started on entering the state and cancelled on leaving it.
    #[serde(default)]
    pub timeouts: Vec<Timeout>,
    /// Events kept (not ignored) while in this state, and offered again in the next state.
    #[serde(default)]
    pub defer: Vec<String>,
    /// For final states: the `JourneyCompleted` outcome.
    pub outcome: Option<String>,
    /// For final states of a saga: whether it is where compensation ends.
    #[serde(default)]
    pub compensated: bool,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeout {
    pub timer: String,
    pub after_ms: u64,
    pub source: Source,
}

/// A move from one of `from` to `to` on an event or a timer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: Vec<String>,
    /// An event type, or `timer:<name>` for a timer firing.
    pub on: String,
    pub to: String,
    #[serde(default)]
    pub when: Vec<Condition>,
    /// A custom guard implemented in Rust, on top of `when`.
    pub guard: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
    /// For a saga step: what undoes it when a later step fails.
    #[serde(default)]
    pub compensate: Vec<Action>,
    /// For a saga: this transition is a step failing; the completed steps are compensated and
    /// the instance ends in `to` (a compensated final state).
    #[serde(default)]
    pub fails: bool,
    /// For a saga step: its name (causation of its actions, history); default the state it
    /// enters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// For a saga step: the event that confirms its compensation, and how it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    pub source: Source,
}

/// How a saga step's compensation is confirmed: without it, the compensating actions are done
/// once they are in the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compensation {
    /// The event (correlated like every event the journey reads) that confirms it.
    pub confirmed_by: String,
    /// How long to wait for it before sending the compensating actions again.
    pub retry_after_ms: u64,
    /// Attempts before the step is parked for a person.
    pub attempts: u32,
    pub source: Source,
}

/// One condition on a field of the event (all of a transition's conditions must hold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub field: String,
    pub path: Vec<String>,
    pub op: Op,
    /// A scalar, or an array for `in` / `not_in`.
    pub value: serde_json::Value,
    pub source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl Op {
    pub const ALL: [(&'static str, Op); 8] = [
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("in", Op::In),
        ("not_in", Op::NotIn),
        ("lt", Op::Lt),
        ("le", Op::Le),
        ("gt", Op::Gt),
        ("ge", Op::Ge),
    ];
    pub fn as_str(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("eq", |(s, _)| s)
    }
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

/// What a transition (or the start) does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Publish `ActionTriggered` with this action name (`stageId` is the current state).
    Publish {
        name: String,
        /// An `ActionType` symbol.
        action_type: String,
        template: Option<String>,
        #[serde(default)]
        params: BTreeMap<String, String>,
        source: Source,
    },
    /// Publish the AI service's `AnalysisRequested`.
    RequestAnalysis {
        /// An `AnalysisKind` symbol.
        analysis_kind: String,
        /// An `AnalysisPriority` symbol.
        priority: String,
        source: Source,
    },
    /// Start a journey-wide timer (handled by a `timer:<name>` transition).
    Schedule {
        timer: String,
        after_ms: u64,
        source: Source,
    },
    /// Cancel a timer started by `schedule`.
    Cancel { timer: String, source: Source },
    /// Publish `StageCompleted` for a stage (a state).
    CompleteStage {
        stage: String,
        /// A `StageOutcome` symbol.
        outcome: String,
        source: Source,
    },
    /// A custom action implemented in Rust.
    Custom { name: String, source: Source },
}

impl Action {
    pub fn source(&self) -> &Source {
        match self {
            Action::Publish { source, .. }
            | Action::RequestAnalysis { source, .. }
            | Action::Schedule { source, .. }
            | Action::Cancel { source, .. }
            | Action::CompleteStage { source, .. }
            | Action::Custom { source, .. } => source,
        }
    }
}

/// Timer triggers are written `timer:<name>`.
pub const TIMER_PREFIX: &str = "timer:";

impl Journey {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
    pub fn initial(&self) -> Option<&State> {
        self.states.iter().find(|s| s.kind == StateKind::Initial)
    }
    /// Every event type the journey reads (start, transitions, deferrals), sorted.
    pub fn events(&self) -> Vec<String> {
        let mut out: Vec<String> = std::iter::once(self.start.event.clone())
            .chain(
                self.transitions
                    .iter()
                    .filter(|t| !t.on.starts_with(TIMER_PREFIX))
                    .map(|t| t.on.clone()),
            )
            .chain(self.states.iter().flat_map(|s| s.defer.iter().cloned()))
            .chain(
                self.transitions
                    .iter()
                    .filter_map(|t| t.compensation.as_ref().map(|c| c.confirmed_by.clone())),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
