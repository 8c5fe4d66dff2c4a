//! Fuzz bytes turned into a Protobuf message of one generated event (the first byte picks it) and decoded through the registry (prost, then carebus's conversion to the domain type): Ok or Err, never a panic; a decoded event encodes to bytes that decode to the same bytes again.
#![no_main]

use carebus_core::PayloadFormat;
use carebus_fuzz::{decode_and_encode, events_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let events = events_of(PayloadFormat::Protobuf);
    let info = events[usize::from(pick) % events.len()];
    if let Ok(bytes) = decode_and_encode(info, payload) {
        let again = decode_and_encode(info, &bytes).expect("an encoded event decodes");
        assert_eq!(again, bytes, "{} re-encodes differently", info.event_type);
    }
});
