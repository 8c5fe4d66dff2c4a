//! Fuzz bytes turned into a record and fed to the envelope readers (binary-mode headers, the CloudEvents JSON event format, carebus's former structured form): Ok or Err, never a panic; an envelope read is written back and read again unchanged.
#![no_main]

use carebus_core::cloudevents::StructuredData;
use carebus_core::envelope::{Envelope, EnvelopeRef, headers};
use carebus_core::transport::header;
use carebus_fuzz::FuzzRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let record = FuzzRecord::parse(data);
    match EnvelopeRef::from_headers(&record.headers) {
        Ok(borrowed) => {
            let envelope = borrowed.into_owned();
            let mut twice = Envelope::from_headers(&record.headers);
            if header(&record.headers, headers::TIME).is_none()
                && let Ok(t) = twice.as_mut()
            {
                // Without ce_time the event time is the time of reading: it differs.
                t.event_time = envelope.event_time;
            }
            assert_eq!(twice.as_ref(), Ok(&envelope));
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
    match Envelope::from_cloudevent(&json) {
        Ok((envelope, StructuredData::Json(data))) => {
            let again = Envelope::from_cloudevent(&envelope.to_cloudevent(data.clone()));
            assert_eq!(
                again,
                Ok((envelope, StructuredData::Json(data))),
                "CloudEvents JSON written back read differently"
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
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
