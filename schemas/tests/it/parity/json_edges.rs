//! Edge values of the JSON form in, round-trip verdicts out: dates and timestamps at and beyond
//! the years RFC 3339 can write, and doubles through JSON text.
//!
//! The JSON form (Avro's JSON encoding) writes dates and timestamps as their Avro number (days
//! or time units since the epoch) at any year; doubles use serde_json's exact `float_roundtrip`
//! parsing.

use super::values::{RFC3339_DAYS, RFC3339_MICROS};
use carebus_core::{Date, JsonCodec, Timestamp};
use proptest::prelude::*;

fn through_text<T: JsonCodec>(v: &T) -> Result<T, String> {
    let text = v.to_json().to_string();
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON text {text}: {e}"))?;
    T::from_json(&parsed, "edge").map_err(|e| format!("{text}: {e}"))
}

#[test]
fn dates_and_timestamps_at_years_0000_and_9999_round_trip() {
    for days in [*RFC3339_DAYS.start(), -1, 0, *RFC3339_DAYS.end()] {
        assert_eq!(through_text(&Date(days)), Ok(Date(days)), "date {days}");
    }
    for micros in [*RFC3339_MICROS.start(), -1, 0, 1, *RFC3339_MICROS.end()] {
        assert_eq!(
            through_text(&Timestamp(micros)),
            Ok(Timestamp(micros)),
            "timestamp {micros}"
        );
    }
}

#[test]
fn json_round_trips_dates_and_timestamps_outside_years_0000_to_9999() {
    for days in [
        i32::MIN,
        *RFC3339_DAYS.start() - 1,
        *RFC3339_DAYS.end() + 1,
        i32::MAX,
    ] {
        assert_eq!(through_text(&Date(days)), Ok(Date(days)), "date {days}");
    }
    for micros in [
        i64::MIN,
        *RFC3339_MICROS.start() - 1,
        *RFC3339_MICROS.end() + 1,
        i64::MAX,
    ] {
        assert_eq!(
            through_text(&Timestamp(micros)),
            Ok(Timestamp(micros)),
            "timestamp {micros}"
        );
    }
}

proptest! {
    #[test]
    fn json_text_round_trips_doubles_exactly(
        v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO
    ) {
        prop_assert_eq!(through_text(&v).map(f64::to_bits), Ok(v.to_bits()));
    }
}
