//! Fuzz bytes turned into an Avro datum of one generated event (the first byte picks it) and decoded through the registry (`carebus_schemas::decode`, by type and by fingerprint): Ok or Err, never a panic; a decoded event encodes to bytes that decode to the same bytes again.
#![no_main]

use carebus_core::PayloadFormat;
use carebus_fuzz::{decode_and_encode, events_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let events = events_of(PayloadFormat::Avro);
    let info = events[usize::from(pick) % events.len()];
    let by_type = carebus_schemas::decode(info.event_type, info.version, payload);
    let by_fingerprint = carebus_schemas::decode_fingerprint(info.fingerprint, payload);
    assert_eq!(
        by_type.is_ok(),
        by_fingerprint.is_ok(),
        "{}",
        info.event_type
    );
    if let Ok(bytes) = decode_and_encode(info, payload) {
        let again = decode_and_encode(info, &bytes).expect("an encoded event decodes");
        assert_eq!(again, bytes, "{} re-encodes differently", info.event_type);
    }
});
