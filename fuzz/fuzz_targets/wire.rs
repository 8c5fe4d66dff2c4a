//! Fuzz bytes turned into a record (topic, headers, value) and fed to `carebus_core::wire::decode`: Ok or Err, never a panic; a decoded event is the one its envelope names, and its JSON form reads back as the same event.
#![no_main]

use carebus_core::TopicEvents;
use carebus_core::envelope::Envelope;
use carebus_core::wire;
use carebus_fuzz::FuzzRecord;
use carebus_schemas::{AiEvent, AppointmentsEvent, ClinicalEvent, JourneysEvent, PatientsEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let record = FuzzRecord::parse(data);
    match record.topic {
        0 => decode::<PatientsEvent>(&record),
        1 => decode::<AppointmentsEvent>(&record),
        2 => decode::<ClinicalEvent>(&record),
        3 => decode::<JourneysEvent>(&record),
        _ => decode::<AiEvent>(&record),
    }
});

fn decode<E: TopicEvents + PartialEq>(record: &FuzzRecord) {
    match wire::decode::<E>(&record.headers, &record.value) {
        Ok((envelope, event)) => {
            let (envelope, info): (Envelope, _) = (envelope, event.info());
            assert_eq!(envelope.event_type, info.event_type);
            assert_eq!(envelope.event_version, info.version);
            // The JSON form (what the JSON and structured framings carry) reads back as the
            // same event, whichever framing it came in. A NaN is unequal to itself: an event
            // holding one is compared by its JSON form.
            let json = event.to_json();
            match E::decode_json(info.event_type, info.version, &json) {
                Ok(back) => assert!(
                    back == event || (holds_nan(&json) && back.to_json() == json),
                    "the JSON form reads back differently"
                ),
                Err(e) => panic!("the JSON form does not read back: {e}"),
            }
        }
        Err(e) => {
            // The error's text and reason are what a consumer logs and dead-letters.
            let _ = (e.to_string(), e.reason());
        }
    }
}

/// Whether a JSON form holds a NaN float (written as the string `"NaN"`).
fn holds_nan(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::String(s) => s == "NaN",
        serde_json::Value::Array(items) => items.iter().any(holds_nan),
        serde_json::Value::Object(members) => members.values().any(holds_nan),
        _ => false,
    }
}
