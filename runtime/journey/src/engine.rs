//! Consumed events and due timers in, journey transitions out: the engine finds the instances an input concerns (per journey, by its correlation field), lets the state machine decide, encodes the outgoing events with the generated codecs and has the [`InstanceStore`] apply it all atomically.

use crate::EngineError;
use crate::clock::{Clock, SystemClock};
use crate::store::{Decide, DueTimer, Fired, InstanceStore, Plan, Processed};
use carebus_core::journey::machine::{self, Input};
use carebus_core::journey::{Definition, HistoryKind, Instance, Journey};
use carebus_core::{DecodeError, TopicEvents};
use carebus_store::{EventContext, NewEvent};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The consumer group the engine's processes share.
pub const ENGINE_GROUP: &str = "workflow-engine";
/// The `source` of the events the engine emits.
pub const ENGINE_SOURCE: &str = "workflow-engine";

/// Counter (labels `journey`, `from`, `to`): transitions applied.
pub const TRANSITIONS_COUNTER: &str = "carebus_journey_transitions_total";
/// Counter (labels `journey`, `trigger`): inputs that fit no transition and were dropped.
pub const IGNORED_COUNTER: &str = "carebus_journey_ignored_total";
/// Counter (labels `journey`, `trigger`): events kept for a later state.
pub const DEFERRED_COUNTER: &str = "carebus_journey_deferred_total";
/// Counter (labels `journey`): instances started.
pub const STARTED_COUNTER: &str = "carebus_journey_started_total";
/// Counter (labels `journey`): instances finished.
pub const FINISHED_COUNTER: &str = "carebus_journey_finished_total";
/// Counter (labels `journey`, `state`): SLA deadlines passed.
pub const SLA_BREACHES_COUNTER: &str = "carebus_journey_sla_breaches_total";
/// Counter (labels `journey`): saga steps compensated.
pub const COMPENSATIONS_COUNTER: &str = "carebus_journey_compensations_total";
/// Counter (labels `journey`): saga instances parked for a person (a compensation never
/// confirmed).
pub const PARKED_COUNTER: &str = "carebus_journey_parked_total";
/// Counter (labels `journey`): inputs seen before (redeliveries), skipped.
pub const DUPLICATES_COUNTER: &str = "carebus_journey_duplicates_total";
/// Gauge (labels `journey`, `state`): instances in each state of each journey (final states
/// included), from the instance store; [`Engine::refresh_instance_gauges`] sets it.
pub const INSTANCES_GAUGE: &str = "carebus_journey_instances";
/// Histogram (labels `journey`): seconds between a timer's due time and its firing.
pub const TIMER_LAG_HISTOGRAM: &str = "carebus_journey_timer_lag_seconds";

/// Encodes an outgoing event's JSON form with the generated codec of its topic.
type Codec = fn(&str, u32, &Value, &EventContext) -> Result<NewEvent, DecodeError>;

fn encode<E: TopicEvents>(
    event_type: &str,
    version: u32,
    data: &Value,
    context: &EventContext,
) -> Result<NewEvent, DecodeError> {
    let event = carebus_core::topic::decode_legacy_json::<E>(event_type, version, data)?;
    Ok(NewEvent::from_topic_event(&event, context))
}

/// Runs journeys over an [`InstanceStore`]. Clones share everything.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    store: S,
    /// By journey name, oldest version first.
    journeys: BTreeMap<String, Vec<Journey>>,
    codecs: HashMap<(String, u32), Codec>,
    clock: Arc<dyn Clock>,
    routes: HashMap<String, String>,
}

/// Builds an [`Engine`]: the journeys to run, the topics whose events it emits, the clock.
pub struct EngineBuilder<S> {
    store: S,
    journeys: Vec<Journey>,
    codecs: HashMap<(String, u32), Codec>,
    clock: Arc<dyn Clock>,
    routes: HashMap<String, String>,
}

impl<S: InstanceStore> EngineBuilder<S> {
    /// Put the outgoing events of topic `from` on topic `to` instead (an environment's own
    /// topic names, a test's unique topics): the relay publishes each event to its topic.
    pub fn route_topic(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.routes.insert(from.into(), to.into());
        self
    }

    /// Run `journeys` (every version of each: the generated `journeys::<name>::journeys()`).
    pub fn journeys(mut self, journeys: impl IntoIterator<Item = Journey>) -> Self {
        self.journeys.extend(journeys);
        self
    }

    /// The engine emits events of topic `E` (the journeys topic, the AI topic): encode them
    /// with its generated codecs.
    pub fn emits<E: TopicEvents>(mut self) -> Self {
        for info in E::EVENTS {
            self.codecs
                .insert((info.event_type.to_owned(), info.version), encode::<E>);
        }
        self
    }

    /// Read time from `clock` (timers, SLA deadlines, event times); default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The engine; fails when a journey emits an event no registered topic encodes.
    pub fn build(self) -> Result<Engine<S>, EngineError> {
        let mut journeys: BTreeMap<String, Vec<Journey>> = BTreeMap::new();
        for j in self.journeys {
            journeys
                .entry(j.definition.name.clone())
                .or_default()
                .push(j);
        }
        for versions in journeys.values_mut() {
            versions.sort_by_key(|j| j.definition.version);
            versions.dedup_by_key(|j| j.definition.version);
        }
        let mut needed = vec![
            "JourneyStarted",
            "JourneyCompleted",
            "ActionTriggered",
            "StageCompleted",
        ];
        if journeys
            .values()
            .flatten()
            .any(|j| requests_analysis(&j.definition))
        {
            needed.push("AnalysisRequested");
        }
        for event in needed {
            if !self.codecs.contains_key(&(event.to_owned(), 1)) {
                return Err(EngineError::Config(format!(
                    "the engine emits {event} but no topic registered with `emits::<..>()` carries it; \
                     register the journeys topic's and the AI topic's event enums (e.g. `.emits::<JourneysEvent>()`)"
                )));
            }
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                store: self.store,
                journeys,
                codecs: self.codecs,
                clock: self.clock,
                routes: self.routes,
            }),
        })
    }
}

fn requests_analysis(d: &Definition) -> bool {
    use carebus_core::journey::Action;
    d.start
        .actions
        .iter()
        .chain(
            d.transitions
                .iter()
                .flat_map(|t| t.actions.iter().chain(&t.compensate)),
        )
        .any(|a| matches!(a, Action::RequestAnalysis { .. } | Action::Custom { .. }))
}

impl<S: InstanceStore> Engine<S> {
    /// A builder over `store`.
    pub fn builder(store: S) -> EngineBuilder<S> {
        EngineBuilder {
            store,
            journeys: Vec::new(),
            codecs: HashMap::new(),
            clock: Arc::new(SystemClock),
            routes: HashMap::new(),
        }
    }

    /// The instance store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Every event type some journey reads.
    pub fn event_types(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inner
            .journeys
            .values()
            .flatten()
            .flat_map(|j| j.definition.correlate.iter().map(|c| c.event.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The newest definition of each journey.
    pub fn definitions(&self) -> Vec<Arc<Definition>> {
        self.inner
            .journeys
            .values()
            .filter_map(|v| v.last().map(|j| j.definition.clone()))
            .collect()
    }

    /// Apply one consumed event (its id, type and JSON form) to every journey that reads it.
    /// Each journey's instance is updated in its own transaction; a redelivered event changes
    /// nothing (its id is recorded as processed with the first transition).
    pub async fn handle(
        &self,
        event_id: &str,
        event_type: &str,
        data: &Value,
        context: &EventContext,
    ) -> Result<Vec<Processed>, EngineError> {
        let mut out = Vec::new();
        for (name, versions) in &self.inner.journeys {
            let Some(newest) = versions.last() else {
                continue;
            };
            // Any version's correlation field will do: the generator checked it in all.
            let Some(key) = versions
                .iter()
                .rev()
                .find_map(|j| j.definition.key_of(event_type, data))
            else {
                continue;
            };
            let _ = newest;
            let now = self.inner.clock.now();
            let decide = |current: Option<&Instance>| -> Result<Option<Plan>, EngineError> {
                let input = Input::Event {
                    event_id,
                    event_type,
                    data,
                };
                self.plan(versions, current, &key, &input, now, context)
            };
            let processed = self
                .inner
                .store
                .process(name, &key, event_id, &decide as &Decide<'_>)
                .await?;
            record(&processed, event_type);
            out.push(processed);
        }
        Ok(out)
    }

    /// Fire the timers due now, at most `max`, each in its own transaction; each fires once
    /// across every engine sharing the store.
    pub async fn fire_due_timers(&self, max: usize) -> Result<Vec<Fired>, EngineError> {
        let mut fired = Vec::new();
        while fired.len() < max {
            let now = self.inner.clock.now();
            let context = EventContext::new(ENGINE_SOURCE);
            let decide = |timer: &DueTimer,
                          current: Option<&Instance>|
             -> Result<Option<Plan>, EngineError> {
                let Some(versions) = self.inner.journeys.get(&timer.journey) else {
                    return Ok(None);
                };
                let input = Input::Timer {
                    timer_id: &timer.timer_id,
                    name: &timer.name,
                };
                self.plan(versions, current, &timer.key, &input, now, &context)
            };
            let Some(f) = self.inner.store.fire_next(now.0, &decide).await? else {
                break;
            };
            let lag = (now.0 - f.timer.due_at).max(0) as f64 / 1e6;
            metrics::histogram!(TIMER_LAG_HISTOGRAM, "journey" => f.timer.journey.clone())
                .record(lag);
            record(&f.processed, &format!("timer:{}", f.timer.name));
            fired.push(f);
        }
        Ok(fired)
    }

    /// Set [`INSTANCES_GAUGE`] from the instance store: every state of every version of each
    /// journey (0 when empty), so a state that empties shows 0 rather than its last count.
    /// Labels are names from the definitions only. [`Engine::run_timers`] calls it every
    /// [`crate::GAUGE_REFRESH`].
    pub async fn refresh_instance_gauges(&self) -> Result<Vec<crate::StateCount>, EngineError> {
        let counts = self.inner.store.state_counts().await?;
        let mut by_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (name, versions) in &self.inner.journeys {
            for s in versions.iter().flat_map(|j| &j.definition.states) {
                by_state.insert((name.as_str(), s.name.as_str()), 0);
            }
        }
        for c in &counts {
            // States of versions this engine no longer has keep their label out.
            if let Some(n) = by_state.get_mut(&(c.journey.as_str(), c.state.as_str())) {
                *n = c.count;
            }
        }
        for ((journey, state), n) in by_state {
            metrics::gauge!(INSTANCES_GAUGE, "journey" => journey.to_owned(), "state" => state.to_owned())
                .set(n as f64);
        }
        Ok(counts)
    }

    /// The definition an instance runs on (its version, else the newest), decide, encode.
    fn plan(
        &self,
        versions: &[Journey],
        current: Option<&Instance>,
        key: &str,
        input: &Input<'_>,
        now: carebus_core::Timestamp,
        context: &EventContext,
    ) -> Result<Option<Plan>, EngineError> {
        let journey = match current {
            Some(i) => versions
                .iter()
                .find(|j| j.definition.version == i.definition_version)
                .or_else(|| versions.last()),
            None => versions.last(),
        };
        let Some(journey) = journey else {
            return Ok(None);
        };
        let Some(decision) = machine::decide(
            &journey.definition,
            journey.hooks.as_ref(),
            current,
            key,
            input,
            now,
        ) else {
            return Ok(None);
        };
        let mut outgoing = Vec::with_capacity(decision.emit.len());
        for e in &decision.emit {
            let codec = self
                .inner
                .codecs
                .get(&(e.event_type.to_owned(), e.version))
                .ok_or_else(|| {
                    EngineError::Config(format!(
                        "no codec registered for {} v{}",
                        e.event_type, e.version
                    ))
                })?;
            // The business flow's correlation id when the input has one, else the instance id;
            // the causation names the instance and the input (the step).
            let correlation = context
                .correlation_id
                .clone()
                .unwrap_or_else(|| decision.instance.id.to_string());
            let mut ctx = EventContext::new(ENGINE_SOURCE)
                .correlation(correlation)
                .causation(e.causation.clone())
                .at(now);
            ctx.tenant_id = context.tenant_id.clone();
            let mut event = codec(e.event_type, e.version, &e.data, &ctx).map_err(|source| {
                EngineError::Encode {
                    event_type: e.event_type.to_owned(),
                    source,
                }
            })?;
            if let Some(to) = self.inner.routes.get(&event.topic) {
                event.topic = to.clone();
            }
            outgoing.push(event);
        }
        Ok(Some(Plan { decision, outgoing }))
    }
}

/// Metrics of one processed input. Labels are names from the definitions, never event data.
fn record(p: &Processed, trigger: &str) {
    let a = match p {
        Processed::Applied(a) => a,
        Processed::Duplicate => {
            metrics::counter!(DUPLICATES_COUNTER).increment(1);
            return;
        }
        Processed::NotConcerned => return,
    };
    let journey = a.journey.clone();
    let mut from = a.from.clone().unwrap_or_default();
    for kind in &a.kinds {
        match kind {
            HistoryKind::Started => {
                metrics::counter!(STARTED_COUNTER, "journey" => journey.clone()).increment(1)
            }
            HistoryKind::Transition => metrics::counter!(TRANSITIONS_COUNTER, "journey" => journey.clone(), "from" => from.clone(), "to" => a.to.clone()).increment(1),
            HistoryKind::Ignored => metrics::counter!(IGNORED_COUNTER, "journey" => journey.clone(), "trigger" => trigger.to_owned()).increment(1),
            HistoryKind::Deferred => metrics::counter!(DEFERRED_COUNTER, "journey" => journey.clone(), "trigger" => trigger.to_owned()).increment(1),
            HistoryKind::SlaBreached => metrics::counter!(SLA_BREACHES_COUNTER, "journey" => journey.clone(), "state" => from.clone()).increment(1),
            HistoryKind::Compensated => metrics::counter!(COMPENSATIONS_COUNTER, "journey" => journey.clone()).increment(1),
            HistoryKind::Migrated | HistoryKind::Compensating => {}
            HistoryKind::Parked => metrics::counter!(PARKED_COUNTER, "journey" => journey.clone()).increment(1),
        }
        from = a.to.clone();
    }
    if a.finished && a.from.is_some() {
        metrics::counter!(FINISHED_COUNTER, "journey" => journey).increment(1);
    }
}
