//! One journey instance (or none yet) and one input (an event or a timer firing) turned into a [`Decision`]: the instance's next state, its history entries, the timers to start and cancel, and the events to emit. Pure: no I/O, no clock (the caller passes `now`).

use super::{Action, Condition, Definition, Hooks, Op, StateKind, Transition};
use crate::Timestamp;
use crate::Uuid;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Timer name prefix of a state's SLA deadline (`sla:<state>`).
pub const SLA_TIMER_PREFIX: &str = "sla:";
/// Action name of the `ActionTriggered` published when an SLA deadline passes.
pub const SLA_BREACHED_ACTION: &str = "sla-breached";
/// Timer name prefix of a saga step's compensation retry (`compensate:<step>`).
pub const COMPENSATION_TIMER_PREFIX: &str = "compensate:";
/// `ActionTriggered` parameter naming the saga step an action belongs to.
pub const STEP_PARAM: &str = "journeyStep";
/// `ActionTriggered` parameter naming the saga step a compensating action undoes.
pub const COMPENSATES_PARAM: &str = "compensatesStep";
/// `ActionTriggered` parameter: the attempt (1, 2, ..) of a compensating action.
pub const ATTEMPT_PARAM: &str = "attempt";

/// A running (or finished) journey instance, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id (the `journeyId` of its events).
    pub id: Uuid,
    /// Journey name.
    pub journey: String,
    /// Definition version it runs on.
    pub definition_version: u32,
    /// Correlation key (the patient id for patient journeys).
    pub key: String,
    /// Current state.
    pub state: String,
    /// Whether it reached a final state.
    pub finished: bool,
    /// Optimistic-concurrency version of the stored row (0 before the first write).
    pub row_version: i64,
    /// Stages completed with outcome COMPLETED.
    pub stages_completed: u32,
    /// Events kept for a later state.
    pub deferred: Vec<Deferred>,
    /// Saga steps completed, oldest first: indices into the definition's transitions.
    pub steps: Vec<usize>,
    /// When it started (µs since the epoch).
    pub started_at: i64,
    /// When it entered its current state (µs since the epoch).
    pub entered_at: i64,
    /// A saga compensating its completed steps (or parked doing so).
    #[serde(default)]
    pub compensation: Option<Compensating>,
}

/// A saga instance undoing its completed steps after a step failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compensating {
    /// Steps still to compensate, the one in progress first: indices into the transitions.
    pub pending: Vec<usize>,
    /// Attempts made at the compensation in progress.
    pub attempt: u32,
    /// The compensated final state the instance ends in.
    pub to: String,
    /// Why the engine stopped retrying and a person must act; names only, no event data.
    #[serde(default)]
    pub parked: Option<String>,
}

impl Instance {
    /// Why the instance waits for a person, when it is parked.
    pub fn parked(&self) -> Option<&str> {
        self.compensation.as_ref()?.parked.as_deref()
    }
}

/// An event kept by a state's `defer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deferred {
    /// Its event id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Its JSON form.
    pub data: Value,
}

/// What custom guards and actions see of an instance.
#[derive(Clone, Copy, Debug)]
pub struct InstanceView<'a> {
    /// Instance id.
    pub id: Uuid,
    /// Correlation key.
    pub key: &'a str,
    /// Current state.
    pub state: &'a str,
    /// Definition version.
    pub definition_version: u32,
}

/// What moves an instance.
#[derive(Clone, Debug)]
pub enum Input<'a> {
    /// A consumed event.
    Event {
        /// Its id (`ce_id`).
        event_id: &'a str,
        /// Its type.
        event_type: &'a str,
        /// Its JSON form.
        data: &'a Value,
    },
    /// A timer firing.
    Timer {
        /// The timer's id (its row).
        timer_id: &'a str,
        /// Its name (`reminder`, `sla:<state>`).
        name: &'a str,
    },
}

impl Input<'_> {
    /// The trigger as transitions name it: the event type, or `timer:<name>`.
    pub fn trigger(&self) -> String {
        match self {
            Input::Event { event_type, .. } => (*event_type).to_owned(),
            Input::Timer { name, .. } => format!("timer:{name}"),
        }
    }
    fn id(&self) -> &str {
        match self {
            Input::Event { event_id, .. } => event_id,
            Input::Timer { timer_id, .. } => timer_id,
        }
    }
}

/// What happened to an instance, for its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistoryKind {
    /// The instance started.
    Started,
    /// A transition ran.
    Transition,
    /// The event fit no transition of the current state and was dropped.
    Ignored,
    /// The event was kept for a later state.
    Deferred,
    /// A state's SLA deadline passed.
    SlaBreached,
    /// A saga step was compensated.
    Compensated,
    /// The instance moved to another definition version.
    Migrated,
    /// A saga step's compensating actions were sent (again, on a retry).
    Compensating,
    /// A compensation was not confirmed after its last attempt: the instance waits for a person.
    Parked,
}

impl HistoryKind {
    /// The kebab-case name (stored, and a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Started => "started",
            HistoryKind::Transition => "transition",
            HistoryKind::Ignored => "ignored",
            HistoryKind::Deferred => "deferred",
            HistoryKind::SlaBreached => "sla-breached",
            HistoryKind::Compensated => "compensated",
            HistoryKind::Migrated => "migrated",
            HistoryKind::Compensating => "compensating",
            HistoryKind::Parked => "parked",
        }
    }
}

/// One entry of an instance's history. Holds names only, never event data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// What happened.
    pub kind: HistoryKind,
    /// The event type or `timer:<name>`.
    pub trigger: String,
    /// Id of the event or timer.
    pub cause_id: String,
    /// State before.
    pub from: Option<String>,
    /// State after.
    pub to: Option<String>,
}

/// An event to emit (through the outbox), as its type and JSON form.
#[derive(Clone, Debug, PartialEq)]
pub struct Emit {
    /// Event type (`ActionTriggered`, `StageCompleted`, ...).
    pub event_type: &'static str,
    /// Event version.
    pub version: u32,
    /// The event's JSON form.
    pub data: Value,
    /// Causation: `<instance id>/<cause id>` so services can act idempotently per step.
    pub causation: String,
}

/// What to do with an instance for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The instance after the input.
    pub instance: Instance,
    /// Whether this input created it.
    pub created: bool,
    /// History entries, in order.
    pub history: Vec<HistoryEntry>,
    /// Timers to start: name and due time (µs); a timer of the same name is replaced.
    pub start_timers: Vec<(String, i64)>,
    /// Timers to cancel, by name.
    pub cancel_timers: Vec<String>,
    /// Cancel every timer of the instance (it finished).
    pub cancel_all_timers: bool,
    /// Events to emit.
    pub emit: Vec<Emit>,
}

impl Decision {
    /// Whether the input was ignored (fit no transition and was not deferred).
    pub fn ignored(&self) -> bool {
        self.history.iter().all(|h| h.kind == HistoryKind::Ignored)
    }
}

/// The value at `path` in `data`.
pub fn at_path<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(data, |v, k| v.get(k))
}

/// The values at `path` in `data`, following every element of a list on the way.
fn values_at<'a>(data: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match (data, path.split_first()) {
        (Value::Array(items), Some(_)) => {
            for item in items {
                values_at(item, path, out);
            }
        }
        (_, None) => out.push(data),
        (_, Some((k, rest))) => {
            if let Some(v) = data.get(k) {
                values_at(v, rest, out);
            }
        }
    }
}

/// Whether `c` holds for the event: for a path through a list, for one of its elements.
fn holds(c: &Condition, data: &Value) -> bool {
    let mut values = Vec::new();
    values_at(data, &c.path, &mut values);
    values
        .into_iter()
        .filter(|v| !v.is_null())
        .any(|v| holds_for(c, v))
}

fn holds_for(c: &Condition, v: &Value) -> bool {
    let same = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    let order = || v.as_f64().zip(c.value.as_f64());
    match c.op {
        Op::Eq => same(v, &c.value),
        Op::Ne => !same(v, &c.value),
        Op::In => c
            .value
            .as_array()
            .is_some_and(|a| a.iter().any(|x| same(v, x))),
        Op::NotIn => c
            .value
            .as_array()
            .is_some_and(|a| !a.iter().any(|x| same(v, x))),
        Op::Lt => order().is_some_and(|(x, y)| x < y),
        Op::Le => order().is_some_and(|(x, y)| x <= y),
        Op::Gt => order().is_some_and(|(x, y)| x > y),
        Op::Ge => order().is_some_and(|(x, y)| x >= y),
    }
}

/// Decide what `input` does to `current` (or whether it starts an instance keyed `key`).
/// `None`: the journey is not concerned (no instance and not a start, or the instance is
/// finished).
pub fn decide(
    def: &Definition,
    hooks: &dyn Hooks,
    current: Option<&Instance>,
    key: &str,
    input: &Input<'_>,
    now: Timestamp,
) -> Option<Decision> {
    let mut run = Run {
        def,
        hooks,
        now: now.0,
        cause: input.id().to_owned(),
        step: None,
        decision: Decision {
            instance: match current {
                Some(i) => i.clone(),
                None => Instance {
                    id: Uuid::new_v4(),
                    journey: def.name.clone(),
                    definition_version: def.version,
                    key: key.to_owned(),
                    state: String::new(),
                    finished: false,
                    row_version: 0,
                    stages_completed: 0,
                    deferred: Vec::new(),
                    steps: Vec::new(),
                    started_at: now.0,
                    entered_at: now.0,
                    compensation: None,
                },
            },
            created: current.is_none(),
            history: Vec::new(),
            start_timers: Vec::new(),
            cancel_timers: Vec::new(),
            cancel_all_timers: false,
            emit: Vec::new(),
        },
    };
    match current {
        None => {
            let Input::Event {
                event_type, data, ..
            } = input
            else {
                return None;
            };
            if *event_type != def.start.event || !def.start.when.iter().all(|c| holds(c, data)) {
                return None;
            }
            run.start(event_type, data);
        }
        Some(i) if i.finished => return None,
        Some(i) => {
            if def.state(&i.state).is_none()
                && let Some(to) = def.migrate.get(&i.state)
            {
                run.decision.history.push(HistoryEntry {
                    kind: HistoryKind::Migrated,
                    trigger: input.trigger(),
                    cause_id: run.cause.clone(),
                    from: Some(i.state.clone()),
                    to: Some(to.clone()),
                });
                run.decision.instance.state = to.clone();
                run.decision.instance.definition_version = def.version;
            }
            run.input(input);
        }
    }
    Some(run.decision)
}

struct Run<'a> {
    def: &'a Definition,
    hooks: &'a dyn Hooks,
    now: i64,
    cause: String,
    /// The saga step whose actions run now: their causation and parameters name it.
    step: Option<StepTag>,
    decision: Decision,
}

/// What the actions of a saga step carry.
struct StepTag {
    step: String,
    compensating: bool,
    attempt: u32,
}

const NULL: Value = Value::Null;

impl Run<'_> {
    fn inst(&mut self) -> &mut Instance {
        &mut self.decision.instance
    }

    fn causation(&self) -> String {
        let id = self.decision.instance.id;
        match &self.step {
            Some(t) if t.compensating => format!("{id}/{COMPENSATION_TIMER_PREFIX}{}", t.step),
            Some(t) => format!("{id}/step:{}", t.step),
            None => format!("{id}/{}", self.cause),
        }
    }

    fn emit(&mut self, event_type: &'static str, data: Value) {
        let causation = self.causation();
        self.decision.emit.push(Emit {
            event_type,
            version: 1,
            data,
            causation,
        });
    }

    fn history(&mut self, kind: HistoryKind, trigger: &str, from: Option<&str>, to: Option<&str>) {
        let cause_id = self.cause.clone();
        self.decision.history.push(HistoryEntry {
            kind,
            trigger: trigger.to_owned(),
            cause_id,
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        });
    }

    fn start(&mut self, event_type: &str, data: &Value) {
        let def = self.def;
        let Some(initial) = def.initial() else { return };
        let stages: Vec<Value> = def
            .states
            .iter()
            .filter(|s| s.kind != StateKind::Final)
            .map(|s| {
                json!({
                    "stageId": s.name,
                    "name": s.title,
                    "dueInDays": s.sla_ms.map(|ms| ms.div_ceil(86_400_000)),
                })
            })
            .collect();
        let source_id = Uuid::parse(&self.cause).ok().map(|u| u.to_string());
        let i = &self.decision.instance;
        let started = json!({
            "journeyId": i.id.to_string(),
            "patientId": i.key,
            "definitionId": def.name,
            "definitionVersion": def.version,
            "name": def.title,
            "stages": stages,
            "trigger": {"kind": "DOMAIN_EVENT", "sourceEventType": event_type, "sourceEventId": source_id, "rule": null},
            "careTeam": null,
            "startedAt": Timestamp(self.now).rfc3339_text(),
        });
        self.emit("JourneyStarted", started);
        self.history(HistoryKind::Started, event_type, None, Some(&initial.name));
        let actions = def.start.actions.clone();
        self.inst().state = initial.name.clone();
        self.actions(&actions, data, event_type, &initial.name);
        self.enter(&initial.name.clone(), false);
    }

    fn input(&mut self, input: &Input<'_>) {
        let trigger = input.trigger();
        let data = match input {
            Input::Event { data, .. } => *data,
            Input::Timer { .. } => &NULL,
        };
        if self.decision.instance.compensation.is_some() {
            self.compensation_input(input, &trigger);
            return;
        }
        if let Input::Timer { name, .. } = input
            && let Some(state) = name.strip_prefix(SLA_TIMER_PREFIX)
        {
            if self.decision.instance.state == state {
                self.sla_breached(state);
            } else {
                self.history(HistoryKind::Ignored, &trigger, Some(state), None);
            }
            return;
        }
        if self.transition(&trigger, data) {
            self.replay_deferred();
            return;
        }
        let state = self.decision.instance.state.clone();
        let defers = self
            .def
            .state(&state)
            .is_some_and(|s| s.defer.contains(&trigger));
        match input {
            Input::Event {
                event_id,
                event_type,
                data,
            } if defers => {
                self.inst().deferred.push(Deferred {
                    event_id: (*event_id).to_owned(),
                    event_type: (*event_type).to_owned(),
                    data: (*data).clone(),
                });
                self.history(HistoryKind::Deferred, &trigger, Some(&state), None);
            }
            _ => self.history(HistoryKind::Ignored, &trigger, Some(&state), None),
        }
    }

    /// Run the first transition from the current state on `trigger` whose guard holds.
    fn transition(&mut self, trigger: &str, data: &Value) -> bool {
        let def = self.def;
        let state = self.decision.instance.state.clone();
        let view_id = self.decision.instance.id;
        let found = def.transitions.iter().enumerate().find(|(_, t)| {
            t.on == trigger
                && t.from.contains(&state)
                && t.when.iter().all(|c| holds(c, data))
                && t.guard.as_ref().is_none_or(|g| {
                    let view = InstanceView {
                        id: view_id,
                        key: &self.decision.instance.key,
                        state: &state,
                        definition_version: self.decision.instance.definition_version,
                    };
                    self.hooks.guard(g, &view, data).unwrap_or(false)
                })
        });
        let Some((index, t)) = found else {
            return false;
        };
        self.run_transition(index, t, trigger, data, &state);
        true
    }

    fn run_transition(
        &mut self,
        index: usize,
        t: &Transition,
        trigger: &str,
        data: &Value,
        from: &str,
    ) {
        self.history(HistoryKind::Transition, trigger, Some(from), Some(&t.to));
        // Back into the same state: its timeouts are re-armed, its SLA keeps counting from
        // the first entry.
        let again = t.to == from;
        self.leave(from, again);
        let is_step = self.def.saga && !t.compensate.is_empty();
        if is_step {
            self.step = Some(StepTag {
                step: t.step_name().to_owned(),
                compensating: false,
                attempt: 0,
            });
        }
        self.actions(&t.actions, data, trigger, from);
        self.step = None;
        if is_step {
            self.inst().steps.push(index);
        }
        if t.fails {
            // The completed steps are undone newest first; the instance is in its compensated
            // final state, finished once the last compensation is confirmed.
            let mut pending: Vec<usize> = std::mem::take(&mut self.inst().steps);
            pending.reverse();
            let now = self.now;
            let inst = self.inst();
            inst.state = t.to.clone();
            inst.entered_at = now;
            inst.compensation = Some(Compensating {
                pending,
                attempt: 0,
                to: t.to.clone(),
                parked: None,
            });
            self.compensate_next(trigger);
            return;
        }
        let now = self.now;
        let inst = self.inst();
        inst.state = t.to.clone();
        if !again {
            inst.entered_at = now;
        }
        self.enter(&t.to, again);
    }

    /// Send the compensating actions of the pending steps, newest first, until one waits for
    /// its confirmation; when none is left, enter the compensated final state.
    fn compensate_next(&mut self, trigger: &str) {
        loop {
            let Some(c) = self.decision.instance.compensation.as_ref() else {
                return;
            };
            let Some(&index) = c.pending.first() else {
                let to = c.to.clone();
                self.inst().compensation = None;
                self.enter(&to, false);
                return;
            };
            let def = self.def;
            let Some(step) = def.transitions.get(index) else {
                // A step of a definition this one does not have (migrated): nothing to undo.
                if let Some(c) = self.inst().compensation.as_mut() {
                    c.pending.remove(0);
                }
                continue;
            };
            if !self.send_compensation(step, trigger) {
                return;
            }
        }
    }

    /// One attempt at `step`'s compensation: its actions, tagged with the step and attempt.
    /// `true` when it needs no confirmation (it is done: the next step may go).
    fn send_compensation(&mut self, step: &Transition, trigger: &str) -> bool {
        let name = step.step_name().to_owned();
        let attempt = match self.inst().compensation.as_mut() {
            Some(c) => {
                c.attempt += 1;
                c.attempt
            }
            None => return false,
        };
        self.history(HistoryKind::Compensating, trigger, Some(&name), None);
        self.step = Some(StepTag {
            step: name.clone(),
            compensating: true,
            attempt,
        });
        self.actions(&step.compensate, &NULL, trigger, &step.to);
        self.step = None;
        match &step.compensation {
            None => {
                self.step_compensated(&name, trigger);
                true
            }
            Some(spec) => {
                let due = self.now.saturating_add(ms_to_us(spec.retry_after_ms));
                self.start_timer(format!("{COMPENSATION_TIMER_PREFIX}{name}"), due);
                false
            }
        }
    }

    fn step_compensated(&mut self, name: &str, trigger: &str) {
        self.history(HistoryKind::Compensated, trigger, Some(name), None);
        if let Some(c) = self.inst().compensation.as_mut() {
            c.pending.remove(0);
            c.attempt = 0;
            c.parked = None;
        }
    }

    /// An input while compensating: the confirmation of the step in progress moves on, its
    /// retry timer sends the actions again or parks the instance; anything else is ignored.
    fn compensation_input(&mut self, input: &Input<'_>, trigger: &str) {
        let def = self.def;
        let state = self.decision.instance.state.clone();
        let current = self.decision.instance.compensation.as_ref().and_then(|c| {
            Some((
                c.pending.first().and_then(|i| def.transitions.get(*i))?,
                c.attempt,
            ))
        });
        let Some((step, attempt)) = current else {
            self.history(HistoryKind::Ignored, trigger, Some(&state), None);
            return;
        };
        let name = step.step_name().to_owned();
        let Some(spec) = &step.compensation else {
            self.history(HistoryKind::Ignored, trigger, Some(&state), None);
            return;
        };
        match input {
            Input::Event { event_type, .. } if *event_type == spec.confirmed_by => {
                self.decision
                    .cancel_timers
                    .push(format!("{COMPENSATION_TIMER_PREFIX}{name}"));
                self.step_compensated(&name, trigger);
                self.compensate_next(trigger);
            }
            Input::Timer { name: timer, .. }
                if timer.strip_prefix(COMPENSATION_TIMER_PREFIX) == Some(name.as_str()) =>
            {
                if attempt >= spec.attempts {
                    let reason = format!(
                        "the compensation of step `{name}` was not confirmed by {} after {attempt} attempts; \
                         carry it out by hand, then publish {} for the instance (or resolve it in the store)",
                        spec.confirmed_by, spec.confirmed_by
                    );
                    if let Some(c) = self.inst().compensation.as_mut() {
                        c.parked = Some(reason);
                    }
                    self.history(HistoryKind::Parked, trigger, Some(&name), None);
                } else {
                    self.send_compensation(step, trigger);
                }
            }
            _ => self.history(HistoryKind::Ignored, trigger, Some(&state), None),
        }
    }

    fn replay_deferred(&mut self) {
        loop {
            if self.decision.instance.finished {
                return;
            }
            let state = self.decision.instance.state.clone();
            let accepts = |d: &Deferred| {
                self.def
                    .transitions
                    .iter()
                    .any(|t| t.on == d.event_type && t.from.contains(&state))
            };
            let Some(pos) = self.decision.instance.deferred.iter().position(accepts) else {
                return;
            };
            let d = self.inst().deferred.remove(pos);
            let cause = std::mem::replace(&mut self.cause, d.event_id.clone());
            let moved = self.transition(&d.event_type, &d.data);
            self.cause = cause;
            if !moved {
                self.history(HistoryKind::Ignored, &d.event_type, Some(&state), None);
            }
        }
    }

    fn leave(&mut self, state: &str, again: bool) {
        let Some(s) = self.def.state(state) else {
            return;
        };
        for t in &s.timeouts {
            self.decision.cancel_timers.push(t.timer.clone());
        }
        if s.sla_ms.is_some() && !again {
            self.decision
                .cancel_timers
                .push(format!("{SLA_TIMER_PREFIX}{state}"));
        }
    }

    fn enter(&mut self, state: &str, again: bool) {
        let Some(s) = self.def.state(state) else {
            return;
        };
        let now = self.now;
        if s.kind == StateKind::Final {
            let i = &self.decision.instance;
            let total = self
                .def
                .states
                .iter()
                .filter(|s| s.kind != StateKind::Final)
                .count();
            let completed = json!({
                "journeyId": i.id.to_string(),
                "patientId": i.key,
                "outcome": s.outcome.clone().unwrap_or_else(|| "UNKNOWN".into()),
                "stagesCompleted": i.stages_completed,
                "stagesTotal": total,
                "reason": null,
                "completedAt": Timestamp(now).rfc3339_text(),
            });
            self.emit("JourneyCompleted", completed);
            self.inst().finished = true;
            self.decision.cancel_all_timers = true;
            self.decision.start_timers.clear();
            return;
        }
        for t in &s.timeouts {
            let due = now.saturating_add(ms_to_us(t.after_ms));
            self.start_timer(t.timer.clone(), due);
        }
        if let Some(sla) = s.sla_ms.filter(|_| !again) {
            let due = now.saturating_add(ms_to_us(sla));
            self.start_timer(format!("{SLA_TIMER_PREFIX}{state}"), due);
        }
    }

    fn start_timer(&mut self, name: String, due: i64) {
        self.decision.cancel_timers.retain(|n| *n != name);
        self.decision.start_timers.retain(|(n, _)| *n != name);
        self.decision.start_timers.push((name, due));
    }

    fn sla_breached(&mut self, state: &str) {
        self.history(
            HistoryKind::SlaBreached,
            &format!("timer:{SLA_TIMER_PREFIX}{state}"),
            Some(state),
            None,
        );
        let mut params = std::collections::BTreeMap::new();
        params.insert("state".to_owned(), state.to_owned());
        let action = Action::Publish {
            name: SLA_BREACHED_ACTION.into(),
            action_type: "ESCALATE_TO_CARE_TEAM".into(),
            template: None,
            params,
        };
        self.actions(&[action], &NULL, "timer", state);
    }

    fn actions(&mut self, actions: &[Action], data: &Value, trigger: &str, stage: &str) {
        for a in actions {
            self.action(a, data, trigger, stage, 0);
        }
    }

    fn action(&mut self, a: &Action, data: &Value, trigger: &str, stage: &str, depth: u8) {
        let now = self.now;
        let i = self.decision.instance.clone();
        let source_id = Uuid::parse(&self.cause).ok().map(|u| u.to_string());
        let from_timer = trigger.starts_with("timer");
        match a {
            Action::Publish {
                name,
                action_type,
                template,
                params,
            } => {
                let trigger_json = if from_timer {
                    json!({"kind": "SCHEDULE", "sourceEventType": null, "sourceEventId": null, "rule": name})
                } else {
                    json!({"kind": "DOMAIN_EVENT", "sourceEventType": trigger, "sourceEventId": source_id, "rule": name})
                };
                let mut params = params.clone();
                if let Some(tag) = &self.step {
                    if tag.compensating {
                        params.insert(COMPENSATES_PARAM.into(), tag.step.clone());
                        params.insert(ATTEMPT_PARAM.into(), tag.attempt.to_string());
                    } else {
                        params.insert(STEP_PARAM.into(), tag.step.clone());
                    }
                }
                let data = json!({
                    "journeyId": i.id.to_string(),
                    "patientId": i.key,
                    "actionId": Uuid::new_v4().to_string(),
                    "stageId": stage,
                    "actionType": action_type,
                    "trigger": trigger_json,
                    "templateId": template,
                    "parameters": params,
                    "dueAt": null,
                    "triggeredAt": Timestamp(now).rfc3339_text(),
                });
                self.emit("ActionTriggered", data);
            }
            Action::RequestAnalysis {
                analysis_kind,
                priority,
            } => {
                let inputs: Vec<Value> = if from_timer {
                    Vec::new()
                } else {
                    vec![json!({"type": trigger, "id": self.cause})]
                };
                let data = json!({
                    "analysisId": Uuid::new_v4().to_string(),
                    "patientId": i.key,
                    "requestedBy": "workflow-engine",
                    "kind": analysis_kind,
                    "priority": priority,
                    "inputs": inputs,
                    "journeyId": i.id.to_string(),
                    "requestedAtMicros": now,
                });
                self.emit("AnalysisRequested", data);
            }
            Action::Schedule { timer, after_ms } => {
                self.start_timer(timer.clone(), now.saturating_add(ms_to_us(*after_ms)));
            }
            Action::Cancel { timer } => {
                self.decision.start_timers.retain(|(n, _)| n != timer);
                self.decision.cancel_timers.push(timer.clone());
            }
            Action::CompleteStage { stage, outcome } => {
                let def = self.def;
                let title = def
                    .state(stage)
                    .map_or(stage.as_str(), |s| s.title.as_str());
                if outcome == "COMPLETED" {
                    self.inst().stages_completed += 1;
                }
                let data = json!({
                    "journeyId": i.id.to_string(),
                    "patientId": i.key,
                    "stageId": stage,
                    "stageName": title,
                    "outcome": outcome,
                    "nextStageId": null,
                    "completedBy": null,
                    "completedAt": Timestamp(now).rfc3339_text(),
                });
                self.emit("StageCompleted", data);
            }
            Action::Custom { name } => {
                let view = InstanceView {
                    id: i.id,
                    key: &i.key,
                    state: &i.state,
                    definition_version: i.definition_version,
                };
                let more = self.hooks.action(name, &view, data).unwrap_or_default();
                if depth < 4 {
                    for m in &more {
                        self.action(m, data, trigger, stage, depth + 1);
                    }
                }
            }
        }
    }
}

fn ms_to_us(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}
