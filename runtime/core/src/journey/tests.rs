//! The state machine on small definitions: a saga's failing step compensates the completed steps newest first, and a deferred event is offered again after the next transition.

use super::machine::{HistoryKind, Input, decide};
use super::{Definition, NoHooks};
use crate::Timestamp;
use serde_json::json;

fn publish(name: &str) -> serde_json::Value {
    json!({"kind": "publish", "name": name, "action_type": "OTHER"})
}

fn saga() -> Definition {
    serde_json::from_value(json!({
        "name": "referral-booking", "version": 1, "title": "Referral", "saga": true,
        "start": {"event": "Start"},
        "correlate": [
            {"event": "Start", "path": ["patientId"]},
            {"event": "Booked", "path": ["patientId"]},
            {"event": "Notified", "path": ["patientId"]},
            {"event": "Failed", "path": ["patientId"]}
        ],
        "states": [
            {"name": "requested", "kind": "initial", "title": "Requested"},
            {"name": "booked", "kind": "intermediate", "title": "Booked"},
            {"name": "notified", "kind": "intermediate", "title": "Notified"},
            {"name": "done", "kind": "final", "title": "Done", "outcome": "COMPLETED"},
            {"name": "rolled-back", "kind": "final", "title": "Rolled back", "outcome": "FAILED", "compensated": true}
        ],
        "transitions": [
            {"from": ["requested"], "on": "Booked", "to": "booked", "actions": [publish("reserve-slot")], "compensate": [publish("release-slot")]},
            {"from": ["booked"], "on": "Notified", "to": "notified", "actions": [publish("notify")], "compensate": [publish("retract-notice")]},
            {"from": ["notified"], "on": "Failed", "to": "rolled-back", "fails": true}
        ],
        "fingerprint": "0"
    }))
    .expect("a definition")
}

#[test]
fn a_failing_step_compensates_the_completed_steps_newest_first() {
    let def = saga();
    let data = json!({"patientId": "p-1"});
    let mut instance = None;
    let mut rules = Vec::new();
    for (i, event) in ["Start", "Booked", "Notified", "Failed"].iter().enumerate() {
        let id = format!("e{i}");
        let input = Input::Event {
            event_id: &id,
            event_type: event,
            data: &data,
        };
        let d = decide(
            &def,
            &NoHooks,
            instance.as_ref(),
            "p-1",
            &input,
            Timestamp(i as i64),
        )
        .expect("the saga is concerned");
        for e in &d.emit {
            if e.event_type == "ActionTriggered" {
                let rule = e.data["trigger"]["rule"].as_str().unwrap_or_default();
                let cause = e
                    .causation
                    .split_once('/')
                    .map(|(_, c)| c)
                    .unwrap_or_default();
                rules.push(format!("{rule} {cause}"));
            }
        }
        if *event == "Failed" {
            let kinds: Vec<HistoryKind> = d.history.iter().map(|h| h.kind).collect();
            assert_eq!(
                kinds,
                [
                    HistoryKind::Transition,
                    HistoryKind::Compensating,
                    HistoryKind::Compensated,
                    HistoryKind::Compensating,
                    HistoryKind::Compensated
                ]
            );
            assert_eq!(
                d.emit.last().map(|e| e.data["outcome"].clone()),
                Some(json!("FAILED"))
            );
        }
        instance = Some(d.instance);
    }
    assert_eq!(
        rules,
        [
            "reserve-slot step:booked",
            "notify step:notified",
            "retract-notice compensate:notified",
            "release-slot compensate:booked"
        ]
    );
    let done = instance.expect("instance");
    assert!(done.finished);
    assert!(done.steps.is_empty());
    assert_eq!(done.state, "rolled-back");
}

/// Feed `events` (type, id) in order, from `instance`; the last decision.
fn run(
    def: &Definition,
    instance: &mut Option<super::Instance>,
    inputs: &[(&str, &str)],
    at: i64,
) -> super::Decision {
    let data = json!({"patientId": "p-1"});
    let mut last = None;
    for (kind, id) in inputs {
        let input = match kind.strip_prefix("timer:") {
            Some(name) => Input::Timer { timer_id: id, name },
            None => Input::Event {
                event_id: id,
                event_type: kind,
                data: &data,
            },
        };
        let d = decide(
            def,
            &NoHooks,
            instance.as_ref(),
            "p-1",
            &input,
            Timestamp(at),
        )
        .expect("the saga is concerned");
        *instance = Some(d.instance.clone());
        last = Some(d);
    }
    last.expect("an input")
}

#[test]
fn a_confirmed_compensation_is_retried_then_parked_until_its_confirmation() {
    let mut def = saga();
    def.transitions[0].compensation = Some(super::Compensation {
        confirmed_by: "Released".into(),
        retry_after_ms: 1_000,
        attempts: 2,
    });
    def.correlate
        .push(serde_json::from_value(json!({"event": "Released", "path": ["patientId"]})).unwrap());
    let mut instance = None;
    let d = run(
        &def,
        &mut instance,
        &[
            ("Start", "e0"),
            ("Booked", "e1"),
            ("Notified", "e2"),
            ("Failed", "e3"),
        ],
        0,
    );
    // The notice is retracted at once; the slot's release waits for its confirmation.
    assert_eq!(
        d.start_timers,
        [("compensate:booked".to_string(), 1_000_000)]
    );
    let i = d.instance.clone();
    assert!(!i.finished);
    assert_eq!(i.state, "rolled-back");
    assert_eq!(i.compensation.as_ref().map(|c| c.attempt), Some(1));
    // Not confirmed in time: sent again (attempt 2), then parked.
    let d = run(
        &def,
        &mut instance,
        &[("timer:compensate:booked", "t1")],
        1_000_000,
    );
    assert_eq!(d.history[0].kind, HistoryKind::Compensating);
    assert_eq!(d.emit[0].data["parameters"]["attempt"], "2");
    assert_eq!(d.emit[0].data["parameters"]["compensatesStep"], "booked");
    let d = run(
        &def,
        &mut instance,
        &[("timer:compensate:booked", "t2")],
        2_000_000,
    );
    assert_eq!(d.history[0].kind, HistoryKind::Parked);
    assert!(d.emit.is_empty() && d.start_timers.is_empty());
    let parked = d.instance.parked().expect("parked").to_owned();
    assert!(
        parked.contains("`booked`") && parked.contains("Released"),
        "{parked}"
    );
    // Other events are ignored; the confirmation, late, finishes the saga.
    let d = run(&def, &mut instance, &[("Notified", "e4")], 3_000_000);
    assert_eq!(d.history[0].kind, HistoryKind::Ignored);
    let d = run(&def, &mut instance, &[("Released", "e5")], 3_000_000);
    assert_eq!(d.history[0].kind, HistoryKind::Compensated);
    assert!(d.instance.finished);
    assert_eq!(d.instance.parked(), None);
    assert_eq!(
        d.emit.last().map(|e| e.event_type),
        Some("JourneyCompleted")
    );
}
