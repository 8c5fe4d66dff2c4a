//! The real schemas' patients topic (four event types, five versions) in, a handler that implements one method out: the dispatcher gives it that event and passes every other one to the trait's `unhandled`, which acknowledges unless the handler implements it.

use carebus::{EventInfo, HandlerContext, HandlerResult, TopicEvents, TopicHandler};
use carebus_codegen::ir::Model;
use carebus_schemas::{PatientDeactivated, PatientsDispatcher, PatientsEvent, PatientsHandler};
use std::sync::Mutex;

/// One event of every version the topic carries, decoded from the catalog's example data.
fn one_of_each() -> Vec<PatientsEvent> {
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).unwrap();
    <PatientsEvent as TopicEvents>::EVENTS
        .iter()
        .map(|info| {
            let event = model
                .events
                .iter()
                .find(|e| e.name == info.event_type && e.version == info.version)
                .unwrap();
            let data = carebus_catalog::example::example_data(&model, event);
            PatientsEvent::decode_json(info.event_type, info.version, &data)
                .unwrap_or_else(|e| panic!("{} v{}: {e}", info.event_type, info.version))
        })
        .collect()
}

fn label(info: &EventInfo) -> String {
    format!("{} v{}", info.event_type, info.version)
}

/// Implements only `on_patient_deactivated`; the rest reaches `unhandled`, which it records.
#[derive(Default)]
struct DeactivationsOnly {
    handled: Mutex<Vec<String>>,
    unhandled: Mutex<Vec<String>>,
}

impl PatientsHandler for DeactivationsOnly {
    async fn on_patient_deactivated(
        &self,
        _ctx: &HandlerContext,
        event: PatientDeactivated,
    ) -> HandlerResult {
        self.handled
            .lock()
            .unwrap()
            .push(label(&PatientDeactivated::INFO));
        assert!(!event.patient_id.is_empty());
        Ok(())
    }

    async fn unhandled(&self, _ctx: &HandlerContext, event: PatientsEvent) -> HandlerResult {
        self.unhandled.lock().unwrap().push(label(event.info()));
        Ok(())
    }
}

/// Implements one method and nothing else: everything else is acknowledged by default.
struct OneMethod;

impl PatientsHandler for OneMethod {
    async fn on_patient_deactivated(
        &self,
        _ctx: &HandlerContext,
        _event: PatientDeactivated,
    ) -> HandlerResult {
        Ok(())
    }
}

#[test]
fn a_handler_of_one_event_sees_it_and_the_unhandled_hook_sees_the_others() {
    let events = one_of_each();
    let types: std::collections::BTreeSet<&str> = <PatientsEvent as TopicEvents>::EVENTS
        .iter()
        .map(|i| i.event_type)
        .collect();
    assert!(types.len() >= 4, "the topic carries {types:?}");

    let dispatcher = PatientsDispatcher(DeactivationsOnly::default());
    let ctx = HandlerContext::default();
    for event in events {
        futures::executor::block_on(dispatcher.handle(&ctx, event)).unwrap();
    }
    let handler = dispatcher.0;
    assert_eq!(
        handler.handled.into_inner().unwrap(),
        ["PatientDeactivated v1"]
    );
    let mut unhandled = handler.unhandled.into_inner().unwrap();
    unhandled.sort();
    // Version 1 of PatientCreated is upcast before its method (the default) is called, so the
    // hook sees the newest version twice.
    assert_eq!(
        unhandled,
        [
            "PatientCreated v2",
            "PatientCreated v2",
            "PatientMerged v1",
            "PatientUpdated v1"
        ]
    );
}

#[test]
fn the_default_unhandled_hook_acknowledges() {
    let dispatcher = PatientsDispatcher(OneMethod);
    let ctx = HandlerContext::default();
    for event in one_of_each() {
        let what = label(event.info());
        assert!(
            futures::executor::block_on(dispatcher.handle(&ctx, event)).is_ok(),
            "{what}"
        );
    }
}
