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

fn holds(c: &Condition, data: &Value) -> bool {
    let Some(v) = at_path(data, &c.path).filter(|v| !v.is_null()) else {
        return false;
    };
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
    decision: Decision,
}

const NULL: Value = Value::Null;

impl Run<'_> {
    fn inst(&mut self) -> &mut Instance {
        &mut self.decision.instance
    }

    fn causation(&self) -> String {
        format!("{}/{}", self.decision.instance.id, self.cause)
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
        self.actions(&t.actions, data, trigger, from);
        if self.def.saga && !t.compensate.is_empty() {
            self.inst().steps.push(index);
        }
        if t.fails {
            let steps: Vec<usize> = std::mem::take(&mut self.inst().steps);
            for step in steps.into_iter().rev() {
                let Some(done) = self.def.transitions.get(step) else {
                    continue;
                };
                self.history(HistoryKind::Compensated, &done.on, Some(&done.to), None);
                self.actions(&done.compensate, data, trigger, &done.to);
            }
        }
        let now = self.now;
        let inst = self.inst();
        inst.state = t.to.clone();
        if !again {
            inst.entered_at = now;
        }
        self.enter(&t.to, again);
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
