//! Fuzz bytes turned into a record and fed to the envelope readers (binary-mode headers, the structured JSON form): Ok or Err, never a panic; an envelope read is written back and read again unchanged.
#![no_main]

use carebus_core::envelope::{Envelope, EnvelopeRef};
use carebus_fuzz::FuzzRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let record = FuzzRecord::parse(data);
    match EnvelopeRef::from_headers(&record.headers) {
        Ok(borrowed) => {
            let envelope = borrowed.into_owned();
            assert_eq!(
                Envelope::from_headers(&record.headers).as_ref(),
                Ok(&envelope)
            );
            let again = Envelope::from_headers(&envelope.to_headers());
            assert_eq!(
                again.as_ref(),
                Ok(&envelope),
                "headers written back read differently"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&record.value) else {
        return;
    };
    match Envelope::from_json(&json) {
        Ok((envelope, data)) => {
            let again = Envelope::from_json(&envelope.to_json(data.clone()));
            assert_eq!(
                again,
                Ok((envelope.clone(), data)),
                "JSON written back read differently"
            );
            let again = Envelope::from_headers(&envelope.to_headers());
            assert_eq!(
                again.as_ref(),
                Ok(&envelope),
                "JSON envelope as headers read differently"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
