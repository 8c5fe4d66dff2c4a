//! A loaded journey's state graph turned into diagnostics: states and timers named but not defined, events read without a correlation field, unreachable states, non-final states with no way out, timers nothing handles, saga rules.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::Model;
use crate::ir::journey::*;
use crate::load::journey::all_actions;
use std::collections::{BTreeSet, VecDeque};

/// Check `j`'s graph; `model` is where its events are defined.
pub fn check(j: &Journey, model: &Model, diags: &mut Diagnostics) {
    let _ = model;
    let names: Vec<&str> = j.states.iter().map(|s| s.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    for s in &j.states {
        if !seen.insert(s.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    s.source.clone(),
                    format!("state `{}` is defined twice", s.name),
                )
                .help("give each state its own name"),
            );
        }
        if s.kind == StateKind::Final && s.outcome.is_none() {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    s.source.clone(),
                    format!("final state `{}` has no outcome", s.name),
                )
                .help("add `outcome = \"COMPLETED\"` (a JourneyOutcome symbol): entering it publishes JourneyCompleted"),
            );
        }
        if s.kind == StateKind::Final && (!s.timeouts.is_empty() || s.sla_ms.is_some()) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    s.source.clone(),
                    format!("final state `{}` has timers or an SLA", s.name),
                )
                .help("a finished journey waits for nothing: move them to the state before"),
            );
        }
    }
    let initial: Vec<&State> = j
        .states
        .iter()
        .filter(|s| s.kind == StateKind::Initial)
        .collect();
    if initial.len() != 1 {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::InvalidSchema,
                initial
                    .get(1)
                    .map_or_else(|| j.source.clone(), |s| s.source.clone()),
                format!(
                    "journey `{}` needs exactly one initial state, found {}",
                    j.name,
                    initial.len()
                ),
            )
            .help("mark the state a new instance starts in with `kind = \"initial\"`"),
        );
    }
    let unknown_state = |name: &str, at: &crate::ir::Source, diags: &mut Diagnostics| {
        if names.contains(&name) {
            return false;
        }
        let help = match suggest(name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("the states are: {}", names.join(", ")),
        };
        diags.push(
            Diagnostic::new(
                DiagnosticKind::UnknownType,
                at.clone(),
                format!("unknown state `{name}`"),
            )
            .help(help),
        );
        true
    };
    for t in &j.transitions {
        for f in &t.from {
            if unknown_state(f, &t.source, diags) {
                continue;
            }
            if j.state(f).is_some_and(|s| s.kind == StateKind::Final) {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        t.source.clone(),
                        format!("transition leaves final state `{f}`"),
                    )
                    .help("a journey in a final state is finished; make the state intermediate"),
                );
            }
        }
        unknown_state(&t.to, &t.source, diags);
        if !t.compensate.is_empty() && !j.saga {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    t.source.clone(),
                    "`compensate` on a journey that is not a saga".to_string(),
                )
                .help("add `saga = true` at the top of the file"),
            );
        }
        if t.fails {
            let compensated = j.state(&t.to).is_some_and(|s| s.compensated);
            if !j.saga || !compensated {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        t.source.clone(),
                        format!("failing step goes to `{}`, which is not a compensated final state of a saga", t.to),
                    )
                    .help("set `saga = true` and mark the target `kind = \"final\"`, `compensated = true`"),
                );
            }
        }
    }
    saga_steps(j, diags);
    for (s, m) in &j.migrate {
        let _ = s;
        unknown_state(m, &j.source, diags);
    }
    // Every event read needs its correlation field.
    let correlated: Vec<&str> = j.correlate.iter().map(|c| c.event.as_str()).collect();
    for e in j.events() {
        if !correlated.contains(&e.as_str()) {
            let at = if j.start.event == e {
                j.start.source.clone()
            } else {
                j.transitions
                    .iter()
                    .find(|t| t.on == e)
                    .map(|t| t.source.clone())
                    .or_else(|| {
                        j.transitions
                            .iter()
                            .filter_map(|t| t.compensation.as_ref())
                            .find(|c| c.confirmed_by == e)
                            .map(|c| c.source.clone())
                    })
                    .unwrap_or_else(|| j.source.clone())
            };
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::MissingAggregateId,
                    at,
                    format!("journey `{}` reads `{e}` but does not say which of its fields correlates it to an instance", j.name),
                )
                .help(format!("add `{e} = \"patientId\"` (the field holding the instance's key) under [correlate]")),
            );
        }
    }
    if !diags.is_empty() {
        return;
    }
    // Reachability from the initial state.
    let Some(init) = initial.first() else { return };
    let mut reached: BTreeSet<&str> = BTreeSet::from([init.name.as_str()]);
    let mut queue = VecDeque::from([init.name.as_str()]);
    while let Some(s) = queue.pop_front() {
        for t in j
            .transitions
            .iter()
            .filter(|t| t.from.iter().any(|f| f == s))
        {
            if reached.insert(t.to.as_str()) {
                queue.push_back(t.to.as_str());
            }
        }
    }
    for s in &j.states {
        if !reached.contains(s.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::UnreachableState,
                    s.source.clone(),
                    format!(
                        "state `{}` is unreachable from the initial state `{}`",
                        s.name, init.name
                    ),
                )
                .help("add a transition into it, or remove it"),
            );
        } else if s.kind != StateKind::Final
            && !j.transitions.iter().any(|t| t.from.contains(&s.name))
        {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DeadEnd,
                    s.source.clone(),
                    format!("state `{}` is not final and has no transition out: instances would stay in it for ever", s.name),
                )
                .help("add a transition from it (an event or a timeout), or make it `kind = \"final\"`"),
            );
        }
    }
    // Timers: each is handled where it can fire, and a cancel names a known timer.
    let handled = |timer: &str, in_state: Option<&str>| {
        j.transitions.iter().any(|t| {
            t.on.strip_prefix(TIMER_PREFIX) == Some(timer)
                && in_state.is_none_or(|s| t.from.iter().any(|f| f == s))
        })
    };
    for s in &j.states {
        for to in &s.timeouts {
            if !handled(&to.timer, Some(&s.name)) {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::UnhandledTimer,
                        to.source.clone(),
                        format!("timeout `{}` of state `{}` is never handled: no transition from `{}` on `timer:{}`", to.timer, s.name, s.name, to.timer),
                    )
                    .help(format!("add a [[transition]] with from = \"{}\", on = \"timer:{}\"", s.name, to.timer)),
                );
            }
        }
    }
    let scheduled: BTreeSet<&str> = all_actions(j)
        .filter_map(|a| match a {
            Action::Schedule { timer, .. } => Some(timer.as_str()),
            _ => None,
        })
        .collect();
    let timeouts: BTreeSet<&str> = j
        .states
        .iter()
        .flat_map(|s| s.timeouts.iter().map(|t| t.timer.as_str()))
        .collect();
    for a in all_actions(j) {
        match a {
            Action::Schedule { timer, source, .. } if !handled(timer, None) => {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::UnhandledTimer,
                        source.clone(),
                        format!("timer `{timer}` is scheduled but never handled: no transition on `timer:{timer}`"),
                    )
                    .help(format!("add a [[transition]] on = \"timer:{timer}\", or remove the timer")),
                );
            }
            Action::Cancel { timer, source } if !scheduled.contains(timer.as_str()) => {
                let help = match suggest(timer, scheduled.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if timeouts.contains(timer.as_str()) => {
                        "state timeouts are cancelled when the state is left; remove this".into()
                    }
                    None => "cancel a timer some action schedules".into(),
                };
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::UnhandledTimer,
                        source.clone(),
                        format!("cancels timer `{timer}`, which nothing schedules"),
                    )
                    .help(help),
                );
            }
            Action::CompleteStage { stage, source, .. } if j.state(stage).is_none() => {
                let help = match suggest(stage, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "stages are the journey's states".into(),
                };
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::UnknownType,
                        source.clone(),
                        format!("unknown stage `{stage}`"),
                    )
                    .help(help),
                );
            }
            _ => {}
        }
    }
    for t in &j.transitions {
        if let Some(timer) = t.on.strip_prefix(TIMER_PREFIX)
            && !scheduled.contains(timer)
            && !timeouts.contains(timer)
        {
            let known: Vec<&str> = scheduled.iter().chain(&timeouts).copied().collect();
            let help = match suggest(timer, known.iter().copied()) {
                Some(s) => format!("did you mean `timer:{s}`?"),
                None => "start it with a state's `timeouts` or a `schedule` action".into(),
            };
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::UnhandledTimer,
                    t.source.clone(),
                    format!("transition on `timer:{timer}`, which nothing starts"),
                )
                .help(help),
            );
        }
    }
}

/// Saga steps: step names and compensation settings only where there is something to
/// compensate, step names unique, and a saga that can fail.
fn saga_steps(j: &Journey, diags: &mut Diagnostics) {
    let mut steps: Vec<&str> = Vec::new();
    for t in &j.transitions {
        if t.compensate.is_empty() {
            if t.step.is_some() || t.compensation.is_some() {
                let what = if t.step.is_some() {
                    "step"
                } else {
                    "compensation"
                };
                let at = t
                    .compensation
                    .as_ref()
                    .filter(|_| t.step.is_none())
                    .map_or_else(|| t.source.clone(), |c| c.source.clone());
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        at,
                        format!(
                            "`{what}` on the transition from {} on `{}`, which has nothing to compensate",
                            t.from.join(", "),
                            t.on
                        ),
                    )
                    .help("a saga step is a transition with `compensate = [..]`: add the actions that undo it, or remove the key"),
                );
            }
            continue;
        }
        let name = t.step.as_deref().unwrap_or(&t.to);
        if steps.contains(&name) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    t.source.clone(),
                    format!("two saga steps of journey `{}` are named `{name}`", j.name),
                )
                .help("name each step with `step = \"..\"` (default: the state it enters)"),
            );
        }
        steps.push(name);
    }
    if j.saga && !steps.is_empty() && !j.transitions.iter().any(|t| t.fails) {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::InvalidSchema,
                j.source.clone(),
                format!(
                    "saga `{}` has steps but no failing transition: nothing ever compensates them",
                    j.name
                ),
            )
            .help("mark the transitions on failure events or timeouts `fails = true`, going to a final state with `compensated = true`"),
        );
    }
}
