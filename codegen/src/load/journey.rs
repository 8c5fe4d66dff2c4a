//! A journey file (`schemas/journeys/*.toml`) in, an IR [`Journey`] out, every name in it resolved against the loaded events — or located diagnostics (file:line:column, a help line) for what does not fit.
//!
//! The format is documented in `docs/journeys.md`. What needs the whole state graph
//! (reachability, dead ends, timers) is checked afterwards by [`crate::check::journey`].

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::journey::*;
use crate::ir::{Event, Model, NamedType, Source, Type};
use crate::load::manifest::line_col;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JourneyFile {
    name: Spanned<String>,
    version: Spanned<u32>,
    title: Option<String>,
    doc: Option<String>,
    #[serde(default)]
    saga: bool,
    start: Spanned<StartSpec>,
    #[serde(default)]
    correlate: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    state: Vec<Spanned<StateSpec>>,
    #[serde(default)]
    transition: Vec<Spanned<TransitionSpec>>,
    #[serde(default)]
    migrate: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartSpec {
    event: Spanned<String>,
    #[serde(default)]
    when: Vec<Spanned<ConditionSpec>>,
    #[serde(default)]
    actions: Vec<Spanned<ActionSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSpec {
    name: Spanned<String>,
    kind: Option<Spanned<String>>,
    title: Option<String>,
    doc: Option<String>,
    sla: Option<Spanned<String>>,
    #[serde(default)]
    timeouts: Vec<Spanned<TimeoutSpec>>,
    #[serde(default)]
    defer: Vec<Spanned<String>>,
    outcome: Option<Spanned<String>>,
    #[serde(default)]
    compensated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutSpec {
    timer: Spanned<String>,
    after: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionSpec {
    from: Spanned<toml::Value>,
    on: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    when: Vec<Spanned<ConditionSpec>>,
    guard: Option<Spanned<String>>,
    #[serde(default)]
    actions: Vec<Spanned<ActionSpec>>,
    #[serde(default)]
    compensate: Vec<Spanned<ActionSpec>>,
    #[serde(default)]
    fails: bool,
    step: Option<Spanned<String>>,
    compensation: Option<Spanned<CompensationSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompensationSpec {
    confirmed_by: Spanned<String>,
    retry_after: Spanned<String>,
    attempts: Option<Spanned<u32>>,
}

/// Attempts at a confirmed compensation before it is parked, unless the file says otherwise.
const DEFAULT_COMPENSATION_ATTEMPTS: u32 = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionSpec {
    field: Spanned<String>,
    eq: Option<Spanned<toml::Value>>,
    ne: Option<Spanned<toml::Value>>,
    #[serde(rename = "in")]
    in_: Option<Spanned<toml::Value>>,
    not_in: Option<Spanned<toml::Value>>,
    lt: Option<Spanned<toml::Value>>,
    le: Option<Spanned<toml::Value>>,
    gt: Option<Spanned<toml::Value>>,
    ge: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionSpec {
    publish: Option<Spanned<String>>,
    #[serde(rename = "type")]
    action_type: Option<Spanned<String>>,
    template: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    request_analysis: Option<Spanned<String>>,
    priority: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    after: Option<Spanned<String>>,
    cancel: Option<Spanned<String>>,
    complete_stage: Option<Spanned<String>>,
    outcome: Option<Spanned<String>>,
    custom: Option<Spanned<String>>,
}

/// Where the engine's own events and the enums their actions name live.
const ACTION_TRIGGERED: &str = "ActionTriggered";
const ANALYSIS_REQUESTED: &str = "AnalysisRequested";

/// Reads one journey file against `model`'s events.
struct Loader<'a> {
    path: &'a str,
    text: &'a str,
    model: &'a Model,
    diags: Diagnostics,
    /// Whether the last resolved path went through a list.
    crossed_list: bool,
}

/// Load and check one journey file.
pub fn load(path: &str, text: &str, model: &Model) -> Result<Journey, Diagnostics> {
    let file: JourneyFile = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        let msg = e.message().trim().to_string();
        let kind = if msg.contains("unknown field") {
            DiagnosticKind::UnknownAnnotation
        } else {
            DiagnosticKind::Syntax
        };
        Diagnostics(vec![
            Diagnostic::new(
                kind,
                Source::new(path, line, col),
                format!("invalid journey definition: {msg}"),
            )
            .help("see docs/journeys.md for the keys of a journey file"),
        ])
    })?;
    let mut l = Loader {
        path,
        text,
        model,
        diags: Diagnostics::default(),
        crossed_list: false,
    };
    let journey = l.journey(file);
    if l.diags.is_empty() {
        crate::check::journey::check(&journey, model, &mut l.diags);
    }
    if l.diags.is_empty() {
        Ok(journey)
    } else {
        Err(l.diags)
    }
}

impl Loader<'_> {
    fn at<T>(&self, s: &Spanned<T>) -> Source {
        let (line, col) = line_col(self.text, s.span().start);
        Source::new(self.path, line, col)
    }

    fn error(&mut self, kind: DiagnosticKind, at: Source, msg: String, help: String) {
        self.diags.push(Diagnostic::new(kind, at, msg).help(help));
    }

    fn journey(&mut self, f: JourneyFile) -> Journey {
        let source = self.at(&f.name);
        let name = f.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.error(
                DiagnosticKind::InvalidSchema,
                source.clone(),
                format!("journey name `{name}` is not kebab-case"),
                "use lower-case letters, digits and `-`, e.g. `new-patient-onboarding`".into(),
            );
        }
        let version = *f.version.get_ref();
        if version == 0 {
            let at = self.at(&f.version);
            self.error(
                DiagnosticKind::InvalidSchema,
                at,
                "journey versions start at 1".into(),
                "set `version = 1`".into(),
            );
        }
        let start_src = self.at(&f.start);
        let start = f.start.into_inner();
        let start_event = self.event_name(&start.event);
        let correlate = f
            .correlate
            .into_iter()
            .filter_map(|(event, field)| {
                let at = self.at(&field);
                self.known_event(&event, at.clone())?;
                let path = self.correlation_path(&event, &field)?;
                Some(Correlation {
                    event,
                    field: field.into_inner(),
                    path,
                    source: at,
                })
            })
            .collect::<Vec<_>>();
        let when = self.conditions(start_event.as_deref(), start.when);
        let actions = self.actions(start.actions);
        let states = f.state.into_iter().map(|s| self.state(s)).collect();
        let transitions = f
            .transition
            .into_iter()
            .map(|t| self.transition(t))
            .collect();
        let migrate = f
            .migrate
            .into_iter()
            .map(|(k, v)| (k, v.into_inner()))
            .collect();
        let mut j = Journey {
            title: f.title.unwrap_or_else(|| name.clone()),
            name,
            version,
            doc: f.doc,
            start: Start {
                event: start_event.unwrap_or_default(),
                when,
                actions,
                source: start_src,
            },
            correlate,
            states,
            transitions,
            migrate,
            saga: f.saga,
            custom_guards: Vec::new(),
            custom_actions: Vec::new(),
            fingerprint: String::new(),
            source,
        };
        let mut guards: Vec<String> = j
            .transitions
            .iter()
            .filter_map(|t| t.guard.clone())
            .collect();
        guards.sort();
        guards.dedup();
        let mut customs: Vec<String> = all_actions(&j)
            .filter_map(|a| match a {
                Action::Custom { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        customs.sort();
        customs.dedup();
        j.custom_guards = guards;
        j.custom_actions = customs;
        j.fingerprint = fingerprint(&j);
        j
    }

    fn known_event(&mut self, name: &str, at: Source) -> Option<Vec<&Event>> {
        let model = self.model;
        let versions = model.versions(name);
        if versions.is_empty() {
            let names: Vec<&str> = model
                .latest_events()
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            let help = match suggest(name, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "name an event defined in schemas/ (see topics.toml for the list)".into(),
            };
            self.error(
                DiagnosticKind::UnknownType,
                at,
                format!("unknown event `{name}`"),
                help,
            );
            return None;
        }
        Some(versions)
    }

    fn event_name(&mut self, s: &Spanned<String>) -> Option<String> {
        let at = self.at(s);
        self.known_event(s.get_ref(), at)
            .map(|_| s.get_ref().clone())
    }

    fn correlation_path(&mut self, event: &str, field: &Spanned<String>) -> Option<Vec<String>> {
        let at = self.at(field);
        let mut path = None;
        for e in self.model.versions(event) {
            let (p, leaf) = self.resolve(e, field.get_ref(), at.clone())?;
            let ok = matches!(leaf, Type::String | Type::Uuid) && !self.crossed_list;
            if !ok {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at.clone(),
                    format!(
                        "correlation field `{}` of `{event}` version {} is {}, not a required string",
                        field.get_ref(),
                        e.version,
                        describe(&leaf)
                    ),
                    "correlate on a required string field that holds the same key in every version (e.g. `patientId`)".into(),
                );
                return None;
            }
            path = Some(p);
        }
        path
    }

    /// Resolve a dotted field path on an event version: the JSON path and the leaf type
    /// (an optional's inner type for guards; correlation callers reject optionals).
    fn resolve(&mut self, e: &Event, field: &str, at: Source) -> Option<(Vec<String>, Type)> {
        self.crossed_list = false;
        let mut record = &e.record;
        let mut path = Vec::new();
        let parts: Vec<&str> = field.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(f) = record
                .fields
                .iter()
                .find(|f| f.name == *part || f.json_name() == *part)
            else {
                let help = match suggest(part, record.fields.iter().map(|f| f.name.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the fields of `{}` are: {}",
                        record.name,
                        record
                            .fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.error(
                    DiagnosticKind::UnknownType,
                    at,
                    format!(
                        "`{}` version {} has no field `{}`",
                        e.name,
                        e.version,
                        parts[..=i].join(".")
                    ),
                    help,
                );
                return None;
            };
            path.push(f.json_name());
            let ty = match &f.ty {
                t @ Type::Union { .. } => match t.optional_inner() {
                    Some(inner) => Type::Union {
                        branches: vec![Type::Null, inner.clone()],
                    },
                    None => t.clone(),
                },
                t => t.clone(),
            };
            if i + 1 == parts.len() {
                return Some((path, ty));
            }
            let mut inner = ty.optional_inner().cloned().unwrap_or(ty);
            // A list of records: the rest of the path is followed into every element (a guard
            // holds when it holds for one of them).
            if let Type::Array { items } = &inner {
                self.crossed_list = true;
                inner = items
                    .optional_inner()
                    .cloned()
                    .unwrap_or_else(|| (**items).clone());
            }
            match &inner {
                Type::Named { name } => match self.model.named_type(name) {
                    Some(NamedType::Record(r)) => record = r,
                    _ => {
                        self.error(
                            DiagnosticKind::InvalidSchema,
                            at,
                            format!("`{}` of `{}` is not a record", f.name, e.name),
                            "only records have fields to follow with `.`".into(),
                        );
                        return None;
                    }
                },
                _ => {
                    self.error(
                        DiagnosticKind::InvalidSchema,
                        at,
                        format!("`{}` of `{}` is not a record", f.name, e.name),
                        "only records have fields to follow with `.`".into(),
                    );
                    return None;
                }
            }
        }
        None
    }

    fn conditions(
        &mut self,
        event: Option<&str>,
        specs: Vec<Spanned<ConditionSpec>>,
    ) -> Vec<Condition> {
        let mut out = Vec::new();
        for spec in specs {
            let at = self.at(&spec);
            let c = spec.into_inner();
            let ops = [
                (Op::Eq, c.eq),
                (Op::Ne, c.ne),
                (Op::In, c.in_),
                (Op::NotIn, c.not_in),
                (Op::Lt, c.lt),
                (Op::Le, c.le),
                (Op::Gt, c.gt),
                (Op::Ge, c.ge),
            ];
            let given: Vec<(Op, Spanned<toml::Value>)> = ops
                .into_iter()
                .filter_map(|(op, v)| v.map(|v| (op, v)))
                .collect();
            if given.len() != 1 {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    format!(
                        "a condition on `{}` needs exactly one operator, found {}",
                        c.field.get_ref(),
                        given.len()
                    ),
                    "write one of eq, ne, in, not_in, lt, le, gt, ge, e.g. `{ field = \"reason\", in = [\"DECEASED\"] }`".into(),
                );
                continue;
            }
            let Some((op, value)) = given.into_iter().next() else {
                continue;
            };
            let Some(event) = event else { continue };
            let field_at = self.at(&c.field);
            let value_at = self.at(&value);
            let value_json = toml_to_json(value.get_ref());
            let mut path = None;
            for e in self.model.versions(event) {
                let Some((p, ty)) = self.resolve(e, c.field.get_ref(), field_at.clone()) else {
                    break;
                };
                if !self.value_fits(e, c.field.get_ref(), &ty, op, &value_json, value_at.clone()) {
                    break;
                }
                path = Some(p);
            }
            if let Some(path) = path {
                out.push(Condition {
                    field: c.field.into_inner(),
                    path,
                    op,
                    value: value_json,
                    source: at,
                });
            }
        }
        out
    }

    /// Whether `value` is something the field can hold, for `op`; a diagnostic when not.
    fn value_fits(
        &mut self,
        e: &Event,
        field: &str,
        ty: &Type,
        op: Op,
        value: &serde_json::Value,
        at: Source,
    ) -> bool {
        let ty = ty.optional_inner().unwrap_or(ty);
        let values: Vec<&serde_json::Value> = match (op, value) {
            (Op::In | Op::NotIn, serde_json::Value::Array(items)) => items.iter().collect(),
            (Op::In | Op::NotIn, _) => {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    format!("`{}` takes a list of values", op.as_str()),
                    format!("write `{} = [..]`", op.as_str()),
                );
                return false;
            }
            (_, v) => vec![v],
        };
        let kind = describe(ty);
        let enum_symbols = match ty {
            Type::Named { name } => match self.model.named_type(name) {
                Some(NamedType::Enum(en)) => Some(
                    en.symbols
                        .iter()
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            },
            _ => None,
        };
        let numeric = matches!(
            ty,
            Type::Int | Type::Long | Type::Float | Type::Double | Type::Proto { .. }
        );
        if op.is_ordering() && !numeric {
            self.error(
                DiagnosticKind::InvalidSchema,
                at,
                format!(
                    "`{}` compares numbers, but `{field}` of `{}` is {kind}",
                    op.as_str(),
                    e.name
                ),
                "use eq, ne, in or not_in for text, enums and booleans".into(),
            );
            return false;
        }
        for v in values {
            let fits = match (&enum_symbols, ty) {
                (Some(symbols), _) => match v.as_str() {
                    Some(s) if symbols.iter().any(|x| x == s) => true,
                    Some(s) => {
                        let help = match suggest(s, symbols.iter().map(String::as_str)) {
                            Some(x) => format!("did you mean `{x}`?"),
                            None => format!("the symbols are: {}", symbols.join(", ")),
                        };
                        self.error(
                            DiagnosticKind::InvalidSchema,
                            at.clone(),
                            format!(
                                "`{field}` of `{}` version {} can never be `{s}`: it is not a symbol of its enum",
                                e.name, e.version
                            ),
                            help,
                        );
                        return false;
                    }
                    None => false,
                },
                (None, Type::String | Type::Uuid) => v.is_string(),
                (None, Type::Boolean) => v.is_boolean(),
                (None, _) if numeric => v.is_number(),
                _ => false,
            };
            if !fits {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    format!(
                        "`{field}` of `{}` version {} is {kind}; it can never equal {v}",
                        e.name, e.version
                    ),
                    format!("compare `{field}` with {kind} value"),
                );
                return false;
            }
        }
        true
    }

    fn state(&mut self, s: Spanned<StateSpec>) -> State {
        let source = self.at(&s.get_ref().name);
        let s = s.into_inner();
        let kind = match s.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("intermediate") => StateKind::Intermediate,
            Some("initial") => StateKind::Initial,
            Some("final") => StateKind::Final,
            Some(other) => {
                let at = s
                    .kind
                    .as_ref()
                    .map_or_else(|| source.clone(), |k| self.at(k));
                let help = match suggest(other, ["initial", "intermediate", "final"]) {
                    Some(x) => format!("did you mean `{x}`?"),
                    None => "use \"initial\", \"intermediate\" or \"final\"".into(),
                };
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    format!("unknown state kind `{other}`"),
                    help,
                );
                StateKind::Intermediate
            }
        };
        let sla_ms = s.sla.as_ref().and_then(|d| self.duration(d));
        let timeouts = s
            .timeouts
            .iter()
            .filter_map(|t| {
                Some(Timeout {
                    timer: t.get_ref().timer.get_ref().clone(),
                    after_ms: self.duration(&t.get_ref().after)?,
                    source: self.at(&t.get_ref().timer),
                })
            })
            .collect();
        let defer = s.defer.iter().filter_map(|d| self.event_name(d)).collect();
        let outcome = s.outcome.as_ref().map(|o| {
            self.symbol(o, "JourneyCompleted", "outcome");
            o.get_ref().clone()
        });
        State {
            title: s.title.unwrap_or_else(|| s.name.get_ref().clone()),
            name: s.name.into_inner(),
            kind,
            doc: s.doc,
            sla_ms,
            timeouts,
            defer,
            outcome,
            compensated: s.compensated,
            source,
        }
    }

    fn transition(&mut self, t: Spanned<TransitionSpec>) -> Transition {
        let source = self.at(&t);
        let t = t.into_inner();
        let from_at = self.at(&t.from);
        let from = match t.from.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    from_at,
                    "`from` is a state name or a list of state names".into(),
                    "write `from = \"registered\"` or `from = [\"a\", \"b\"]`".into(),
                );
                Vec::new()
            }
        };
        let on = t.on.get_ref().clone();
        let event = if on.starts_with(TIMER_PREFIX) {
            None
        } else {
            self.event_name(&t.on)
        };
        let when = if on.starts_with(TIMER_PREFIX) && !t.when.is_empty() {
            let at = self.at(&t.on);
            self.error(
                DiagnosticKind::InvalidSchema,
                at,
                "a timer carries no fields to guard on".into(),
                "remove `when`, or guard on the event that started the timer".into(),
            );
            Vec::new()
        } else {
            self.conditions(event.as_deref(), t.when)
        };
        let guard = t.guard.map(|g| {
            self.identifier(&g, "custom guard");
            g.into_inner()
        });
        let step = t.step.map(|s| {
            self.kebab(&s, "saga step");
            s.into_inner()
        });
        let compensation = t.compensation.and_then(|c| self.compensation(c));
        Transition {
            from,
            on,
            to: t.to.into_inner(),
            when,
            guard,
            actions: self.actions(t.actions),
            compensate: self.actions(t.compensate),
            fails: t.fails,
            step,
            compensation,
            source,
        }
    }

    fn compensation(&mut self, c: Spanned<CompensationSpec>) -> Option<Compensation> {
        let source = self.at(&c);
        let c = c.into_inner();
        let confirmed_by = self.event_name(&c.confirmed_by);
        let retry_after_ms = self.duration(&c.retry_after);
        let attempts = match &c.attempts {
            Some(a) if *a.get_ref() == 0 => {
                let at = self.at(a);
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    "a compensation needs at least one attempt".into(),
                    "write `attempts = 1` or more (default 3), or leave it out".into(),
                );
                return None;
            }
            Some(a) => *a.get_ref(),
            None => DEFAULT_COMPENSATION_ATTEMPTS,
        };
        Some(Compensation {
            confirmed_by: confirmed_by?,
            retry_after_ms: retry_after_ms?,
            attempts,
            source,
        })
    }

    fn kebab(&mut self, name: &Spanned<String>, what: &str) {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            let at = self.at(name);
            self.error(
                DiagnosticKind::InvalidSchema,
                at,
                format!("{what} `{n}` is not a kebab-case name"),
                "use lower-case letters, digits and `-`: it is part of the causation id of the step's actions".into(),
            );
        }
    }

    fn actions(&mut self, specs: Vec<Spanned<ActionSpec>>) -> Vec<Action> {
        specs.into_iter().filter_map(|a| self.action(a)).collect()
    }

    fn action(&mut self, spec: Spanned<ActionSpec>) -> Option<Action> {
        let source = self.at(&spec);
        let a = spec.into_inner();
        let kinds = [
            a.publish.is_some(),
            a.request_analysis.is_some(),
            a.schedule.is_some(),
            a.cancel.is_some(),
            a.complete_stage.is_some(),
            a.custom.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.error(
                DiagnosticKind::InvalidSchema,
                source,
                "an action needs exactly one of publish, request_analysis, schedule, cancel, complete_stage, custom".into(),
                "write one action per table, e.g. `{ publish = \"welcome\", type = \"SEND_EMAIL\" }`".into(),
            );
            return None;
        }
        if let Some(name) = a.publish {
            let action_type = match &a.action_type {
                Some(t) => {
                    self.symbol(t, ACTION_TRIGGERED, "actionType")?;
                    t.get_ref().clone()
                }
                None => "OTHER".into(),
            };
            return Some(Action::Publish {
                name: name.into_inner(),
                action_type,
                template: a.template,
                params: a.params,
                source,
            });
        }
        if let Some(kind) = a.request_analysis {
            self.symbol(&kind, ANALYSIS_REQUESTED, "kind")?;
            let priority = match &a.priority {
                Some(p) => {
                    self.symbol(p, ANALYSIS_REQUESTED, "priority")?;
                    p.get_ref().clone()
                }
                None => "ANALYSIS_PRIORITY_ROUTINE".into(),
            };
            return Some(Action::RequestAnalysis {
                analysis_kind: kind.into_inner(),
                priority,
                source,
            });
        }
        if let Some(timer) = a.schedule {
            let Some(after) = &a.after else {
                self.error(
                    DiagnosticKind::InvalidSchema,
                    source,
                    format!("timer `{}` needs `after`", timer.get_ref()),
                    "write `{ schedule = \"reminder\", after = \"3d\" }`".into(),
                );
                return None;
            };
            let after_ms = self.duration(after)?;
            return Some(Action::Schedule {
                timer: timer.into_inner(),
                after_ms,
                source,
            });
        }
        if let Some(timer) = a.cancel {
            return Some(Action::Cancel {
                timer: timer.into_inner(),
                source,
            });
        }
        if let Some(stage) = a.complete_stage {
            let outcome = match &a.outcome {
                Some(o) => {
                    self.symbol(o, "StageCompleted", "outcome")?;
                    o.get_ref().clone()
                }
                None => "COMPLETED".into(),
            };
            return Some(Action::CompleteStage {
                stage: stage.into_inner(),
                outcome,
                source,
            });
        }
        let name = a.custom?;
        self.identifier(&name, "custom action")?;
        Some(Action::Custom {
            name: name.into_inner(),
            source,
        })
    }

    /// Check that `value` is a symbol of the enum of `event`'s `field` (newest version).
    fn symbol(&mut self, value: &Spanned<String>, event: &str, field: &str) -> Option<()> {
        let at = self.at(value);
        let symbols: Vec<String> = self
            .model
            .newest(event)
            .and_then(|e| e.record.field(field))
            .and_then(|f| match &f.ty {
                Type::Named { name } => match self.model.named_type(name) {
                    Some(NamedType::Enum(en)) => {
                        Some(en.symbols.iter().map(|s| s.name.clone()).collect())
                    }
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_default();
        if symbols.is_empty() {
            self.error(
                DiagnosticKind::UnknownType,
                at,
                format!("the engine needs event `{event}` with an enum field `{field}`"),
                "keep the journey events (schemas/avro/journey) and the AI events (schemas/proto/ai) in schemas/".into(),
            );
            return None;
        }
        if symbols.iter().any(|s| s == value.get_ref()) {
            return Some(());
        }
        let help = match suggest(value.get_ref(), symbols.iter().map(String::as_str)) {
            Some(x) => format!("did you mean `{x}`?"),
            None => format!("the symbols are: {}", symbols.join(", ")),
        };
        self.error(
            DiagnosticKind::InvalidSchema,
            at,
            format!(
                "`{}` is not a symbol of `{field}` of `{event}`",
                value.get_ref()
            ),
            help,
        );
        None
    }

    fn identifier(&mut self, name: &Spanned<String>, what: &str) -> Option<()> {
        let n = name.get_ref();
        let ok = n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            return Some(());
        }
        let at = self.at(name);
        self.error(
            DiagnosticKind::InvalidSchema,
            at,
            format!("{what} `{n}` is not a snake_case name"),
            "it becomes a Rust method of the journey's trait: use lower-case letters, digits and `_`".into(),
        );
        None
    }

    fn duration(&mut self, d: &Spanned<String>) -> Option<u64> {
        match parse_duration(d.get_ref()) {
            Some(ms) => Some(ms),
            None => {
                let at = self.at(d);
                self.error(
                    DiagnosticKind::InvalidSchema,
                    at,
                    format!("`{}` is not a duration", d.get_ref()),
                    "write a number and a unit: ms, s, m, h or d, e.g. \"3d\" or \"90s\"".into(),
                );
                None
            }
        }
    }
}

/// Every action of a journey (start, transitions, compensations).
pub fn all_actions(j: &Journey) -> impl Iterator<Item = &Action> {
    j.start.actions.iter().chain(
        j.transitions
            .iter()
            .flat_map(|t| t.actions.iter().chain(&t.compensate)),
    )
}

/// `"3d"`, `"12h"`, `"30m"`, `"90s"`, `"500ms"` in milliseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn describe(ty: &Type) -> String {
    match ty {
        Type::String => "a string".into(),
        Type::Uuid => "a UUID string".into(),
        Type::Boolean => "a boolean".into(),
        Type::Int | Type::Long | Type::Float | Type::Double | Type::Proto { .. } => {
            "a number".into()
        }
        Type::Named { name } => format!("a `{name}`"),
        t if t.optional_inner().is_some() => "optional".into(),
        Type::TimestampMicros | Type::TimestampMillis => "a timestamp".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        other => serde_json::Value::String(other.to_string()),
    }
}

/// CRC-64-AVRO of the definition's JSON without docs, titles and source positions: what the
/// engine runs, not how it is described.
pub fn fingerprint(j: &Journey) -> String {
    let mut v = serde_json::to_value(j).unwrap_or_default();
    strip(&mut v);
    let text = serde_json::to_string(&v).unwrap_or_default();
    crate::history::fingerprint_hex(crate::fingerprint::crc64_avro(text.as_bytes()))
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in ["source", "doc", "title", "fingerprint"] {
                m.remove(k);
            }
            m.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}
