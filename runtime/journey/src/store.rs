//! What the engine needs from where instances live: one input applied atomically (processed-id check, instance load, decision, new state + history + timers + outbox, commit), due timers claimed once, and reads for operators and tests.

use crate::EngineError;
use carebus_core::journey::{Decision, HistoryKind, Instance};
use carebus_store::NewEvent;
use std::future::Future;

/// What the engine decided for one input, with the outgoing events already encoded.
#[derive(Debug)]
pub struct Plan {
    /// The decision of the state machine.
    pub decision: Decision,
    /// The decision's events, encoded, in order: they go to the outbox.
    pub outgoing: Vec<NewEvent>,
}

/// The engine's decision function for one input: given the stored instance (if any), the
/// plan, or `None` when the journey is not concerned. Called again after a concurrency
/// conflict, with the instance as it is then.
pub type Decide<'a> =
    dyn Fn(Option<&Instance>) -> Result<Option<Plan>, EngineError> + Send + Sync + 'a;

/// The engine's decision function for a due timer: given the timer and its instance, the plan.
pub type DecideTimer<'a> =
    dyn Fn(&DueTimer, Option<&Instance>) -> Result<Option<Plan>, EngineError> + Send + Sync + 'a;

/// How one input ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processed {
    /// The input (event id or timer id) was processed before: nothing done.
    Duplicate,
    /// No instance and not a start event, or the instance is finished: nothing done.
    NotConcerned,
    /// Stored.
    Applied(Applied),
}

/// What an applied input did (for metrics and the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Journey name.
    pub journey: String,
    /// State before (`None` when the input started the instance).
    pub from: Option<String>,
    /// State after.
    pub to: String,
    /// History kinds recorded, in order.
    pub kinds: Vec<HistoryKind>,
    /// Outgoing events put in the outbox.
    pub emitted: usize,
    /// Whether the instance finished.
    pub finished: bool,
}

impl Applied {
    pub(crate) fn of(journey: &str, before: Option<&Instance>, plan: &Plan) -> Applied {
        Applied {
            journey: journey.to_owned(),
            from: before.map(|i| i.state.clone()),
            to: plan.decision.instance.state.clone(),
            kinds: plan.decision.history.iter().map(|h| h.kind).collect(),
            emitted: plan.outgoing.len(),
            finished: plan.decision.instance.finished,
        }
    }
}

/// A timer that came due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueTimer {
    /// Its id (also the processed id of its firing).
    pub timer_id: String,
    /// Journey name.
    pub journey: String,
    /// Correlation key of its instance.
    pub key: String,
    /// Timer name.
    pub name: String,
    /// When it was due (µs since the epoch).
    pub due_at: i64,
}

/// A timer the engine fired, with what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The timer.
    pub timer: DueTimer,
    /// What firing it did.
    pub processed: Processed,
}

/// A history row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHistory {
    /// What happened.
    pub kind: String,
    /// Event type or `timer:<name>`.
    pub trigger: String,
    /// Event or timer id.
    pub cause_id: String,
    /// State before.
    pub from: Option<String>,
    /// State after.
    pub to: Option<String>,
}

/// A saga instance waiting for a person: a compensation was not confirmed after its last
/// attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedInstance {
    /// Journey name.
    pub journey: String,
    /// Correlation key.
    pub key: String,
    /// Instance id.
    pub instance_id: carebus_core::Uuid,
    /// Its state (the compensated final state it will end in).
    pub state: String,
    /// Why it is parked and what to do.
    pub reason: String,
}

/// How many instances of a journey are in a state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateCount {
    /// Journey name.
    pub journey: String,
    /// State name.
    pub state: String,
    /// Instances in it.
    pub count: u64,
}

/// Where journey instances, their history, processed input ids, timers and the outbox live.
/// Every `process` and every timer firing is one atomic unit.
pub trait InstanceStore: Send + Sync + 'static {
    /// In one transaction: unless `(journey, cause_id)` was processed, load the instance
    /// `(journey, key)`, decide, and store the new state, history, processed id, timers and
    /// outgoing events. Retries the decision on a concurrent update of the same instance.
    fn process(
        &self,
        journey: &str,
        key: &str,
        cause_id: &str,
        decide: &Decide<'_>,
    ) -> impl Future<Output = Result<Processed, EngineError>> + Send;

    /// Claim one timer due at `now` (µs) that no other engine holds, and apply its firing with
    /// `decide` in the same transaction that deletes it. `None` when none is due.
    fn fire_next(
        &self,
        now: i64,
        decide: &DecideTimer<'_>,
    ) -> impl Future<Output = Result<Option<Fired>, EngineError>> + Send;

    /// The instance `(journey, key)`.
    fn instance(
        &self,
        journey: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Instance>, EngineError>> + Send;

    /// An instance's history, oldest first.
    fn history(
        &self,
        instance_id: carebus_core::Uuid,
    ) -> impl Future<Output = Result<Vec<StoredHistory>, EngineError>> + Send;

    /// The instances parked for a person, by journey and key.
    fn parked(&self) -> impl Future<Output = Result<Vec<ParkedInstance>, EngineError>> + Send;

    /// How many instances each (journey, state) holds, finished ones included, sorted.
    fn state_counts(&self) -> impl Future<Output = Result<Vec<StateCount>, EngineError>> + Send;

    /// The pending timers of an instance: (name, due µs), by due time.
    fn timers(
        &self,
        instance_id: carebus_core::Uuid,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, EngineError>> + Send;
}
