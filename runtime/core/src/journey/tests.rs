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
                rules.push(
                    e.data["trigger"]["rule"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                assert!(e.causation.ends_with(&format!("/{id}")), "{}", e.causation);
            }
        }
        if *event == "Failed" {
            let kinds: Vec<HistoryKind> = d.history.iter().map(|h| h.kind).collect();
            assert_eq!(
                kinds,
                [
                    HistoryKind::Transition,
                    HistoryKind::Compensated,
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
        ["reserve-slot", "notify", "retract-notice", "release-slot"]
    );
    let done = instance.expect("instance");
    assert!(done.finished);
    assert!(done.steps.is_empty());
    assert_eq!(done.state, "rolled-back");
}
