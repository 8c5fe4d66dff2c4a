//! Value types for Avro's time-of-day and local-timestamp logical types (`time-millis`, `time-micros`, `local-timestamp-millis/micros/nanos`) in, their Avro binary and JSON codecs out (also those of `timestamp-nanos`, whose type `TimestampNanos` is made with the other instants in `types.rs`).
//!
//! Each is a newtype over the Avro value (an `int` or `long` count), so the serde form is that
//! number, as apache-avro's serde path expects. The JSON form is the underlying Avro type (a
//! number), as Avro's JSON encoding says; reading also accepts ISO-8601 text.

use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::event::{AvroCodec, JsonCodec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A time of day with millisecond precision, no date and no zone (Avro `time-millis` on `int`:
/// milliseconds after midnight, 0 to 86 399 999).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeMillis(pub i32);

/// A time of day with microsecond precision, no date and no zone (Avro `time-micros` on
/// `long`: microseconds after midnight, 0 to 86 399 999 999).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeMicros(pub i64);

macro_rules! time_of_day {
    ($name:ident, $int:ty, $per_sec:expr, $digits:expr, $unit:literal) => {
        impl $name {
            /// From hours (0-23), minutes, seconds and the fraction in this type's unit;
            /// `None` when not a time of day.
            pub fn from_hms(h: u32, m: u32, s: u32, fraction: u32) -> Option<Self> {
                if h > 23 || m > 59 || s > 59 || fraction as i64 >= $per_sec {
                    return None;
                }
                let secs = (h * 3600 + m * 60 + s) as i64;
                <$int>::try_from(secs * $per_sec + fraction as i64)
                    .ok()
                    .map($name)
            }
            #[doc = concat!("Count of ", $unit, " after midnight, the Avro value.")]
            pub fn value(self) -> $int {
                self.0
            }
            /// `HH:MM:SS.fff…` for a time of day; `None` for a count outside one day.
            pub fn iso_text(self) -> Option<String> {
                let v = self.0 as i64;
                if !(0..86_400 * $per_sec).contains(&v) {
                    return None;
                }
                let secs = v / $per_sec;
                Some(format!(
                    "{:02}:{:02}:{:02}.{:0w$}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60,
                    v % $per_sec,
                    w = $digits
                ))
            }
            /// Parse `HH:MM:SS` with an optional fraction of up to this type's precision.
            pub fn parse_iso(s: &str) -> Option<Self> {
                let t = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
                let nanos = chrono::Timelike::nanosecond(&t) as i64;
                if nanos % (1_000_000_000 / $per_sec) != 0 || nanos >= 1_000_000_000 {
                    return None;
                }
                let secs = chrono::Timelike::num_seconds_from_midnight(&t) as i64;
                <$int>::try_from(secs * $per_sec + nanos / (1_000_000_000 / $per_sec))
                    .ok()
                    .map($name)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.iso_text() {
                    Some(t) => f.write_str(&t),
                    None => write!(f, "{} {} after midnight", self.0, $unit),
                }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
        impl JsonCodec for $name {
            fn to_json(&self) -> Value {
                Value::from(self.0)
            }
            fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
                match v {
                    Value::Number(n) => {
                        n.as_i64().and_then(|n| <$int>::try_from(n).ok()).map($name)
                    }
                    _ => v.as_str().and_then($name::parse_iso),
                }
                .ok_or_else(|| DecodeError::WrongType {
                    field: field.to_string(),
                    expected: concat!("a count of ", $unit, " after midnight"),
                })
            }
        }
    };
}

time_of_day!(TimeMillis, i32, 1_000, 3, "milliseconds");
time_of_day!(TimeMicros, i64, 1_000_000, 6, "microseconds");

impl AvroCodec for TimeMillis {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_int(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_int().map(TimeMillis)
    }
}
impl AvroCodec for TimeMicros {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_long(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_long().map(TimeMicros)
    }
}

macro_rules! local_timestamp {
    ($name:ident, $per_sec:expr, $unit:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            #[doc = concat!("Count of ", $unit, " from 1970-01-01T00:00:00 on the same local clock, the Avro value.")]
            pub fn value(self) -> i64 {
                self.0
            }
            fn naive(self) -> Option<chrono::NaiveDateTime> {
                let secs = self.0.div_euclid($per_sec);
                let sub = self.0.rem_euclid($per_sec) * (1_000_000_000 / $per_sec);
                chrono::DateTime::from_timestamp(secs, sub as u32).map(|d| d.naive_utc())
            }
            /// ISO-8601 local date-time without a zone (`2024-11-24T10:30:00.123`) for years
            /// 0000-9999; `None` outside them.
            pub fn iso_text(self) -> Option<String> {
                use chrono::Datelike;
                self.naive()
                    .filter(|d| (0..=9999).contains(&d.year()))
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }
            /// Parse an ISO-8601 local date-time without a zone (`2024-11-24T10:30:00`, an
            /// optional fraction of up to this type's precision).
            pub fn parse_iso(s: &str) -> Option<Self> {
                let d = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
                let u = d.and_utc();
                let nanos = u.timestamp_subsec_nanos() as i64;
                let unit_nanos: i64 = 1_000_000_000 / $per_sec;
                if nanos.rem_euclid(unit_nanos) != 0 {
                    return None;
                }
                u.timestamp()
                    .checked_mul($per_sec)?
                    .checked_add(nanos / unit_nanos)
                    .map($name)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.iso_text() {
                    Some(t) => f.write_str(&t),
                    None => write!(f, "{} {} (local)", self.0, $unit),
                }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
        impl AvroCodec for $name {
            #[inline]
            fn encode_avro(&self, out: &mut Vec<u8>) {
                avro::write_long(out, self.0)
            }
            #[inline]
            fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.read_long().map($name)
            }
        }
        impl JsonCodec for $name {
            fn to_json(&self) -> Value {
                Value::from(self.0)
            }
            fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
                match v {
                    Value::Number(n) => n.as_i64().map($name),
                    _ => v.as_str().and_then($name::parse_iso),
                }
                .ok_or_else(|| DecodeError::WrongType {
                    field: field.to_string(),
                    expected: concat!("a count of local ", $unit, " since 1970-01-01T00:00:00"),
                })
            }
        }
    };
}

local_timestamp!(
    LocalTimestampMillis,
    1_000,
    "milliseconds",
    "A date and time of day on a local clock, no zone, millisecond precision (Avro `local-timestamp-millis` on `long`)."
);
local_timestamp!(
    LocalTimestampMicros,
    1_000_000,
    "microseconds",
    "A date and time of day on a local clock, no zone, microsecond precision (Avro `local-timestamp-micros` on `long`)."
);
local_timestamp!(
    LocalTimestampNanos,
    1_000_000_000,
    "nanoseconds",
    "A date and time of day on a local clock, no zone, nanosecond precision (Avro `local-timestamp-nanos` on `long`)."
);

impl AvroCodec for super::TimestampNanos {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_long(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_long().map(super::TimestampNanos)
    }
}
/// The JSON form is the `long` count, as Avro's JSON encoding writes `timestamp-nanos`;
/// RFC 3339 text is read too.
impl JsonCodec for super::TimestampNanos {
    fn to_json(&self) -> Value {
        Value::from(self.0)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        match v {
            Value::Number(n) => n.as_i64().map(super::TimestampNanos),
            _ => v.as_str().and_then(super::TimestampNanos::parse_rfc3339),
        }
        .ok_or_else(|| DecodeError::WrongType {
            field: field.to_string(),
            expected: "a count of nanoseconds since the Unix epoch (or RFC 3339 text)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro_round_trip<T: AvroCodec + PartialEq + fmt::Debug>(v: T, bytes: &[u8]) {
        let mut out = Vec::new();
        v.encode_avro(&mut out);
        assert_eq!(out, bytes, "{v:?}");
        let mut r = Reader::new(&out);
        assert_eq!(T::decode_avro(&mut r).unwrap(), v);
    }

    #[test]
    fn times_of_day_are_counts_after_midnight() {
        let t = TimeMillis::from_hms(10, 30, 5, 120).unwrap();
        assert_eq!(t.value(), 37_805_120);
        assert_eq!(t.to_string(), "10:30:05.120");
        assert_eq!(TimeMillis::parse_iso("10:30:05.12"), Some(t));
        assert_eq!(TimeMillis::from_hms(24, 0, 0, 0), None);
        assert_eq!(TimeMillis::from_hms(0, 0, 0, 1_000), None);
        assert_eq!(
            TimeMillis::parse_iso("10:30:05.1201"),
            None,
            "finer than ms"
        );
        let u = TimeMicros::from_hms(23, 59, 59, 999_999).unwrap();
        assert_eq!(u.value(), 86_399_999_999);
        assert_eq!(u.to_string(), "23:59:59.999999");
        assert_eq!(TimeMicros(-1).iso_text(), None);
        // Avro zig-zag varint of 37_805_120.
        avro_round_trip(t, &[0x80, 0xf1, 0x86, 0x24]);
        avro_round_trip(TimeMicros(1), &[0x02]);
    }

    #[test]
    fn local_timestamps_have_no_zone() {
        let t = LocalTimestampMillis::parse_iso("2024-11-24T10:30:00.123").unwrap();
        assert_eq!(t.value(), 1_732_444_200_123);
        assert_eq!(t.to_string(), "2024-11-24T10:30:00.123");
        assert_eq!(
            LocalTimestampMillis::parse_iso("2024-11-24T10:30:00.123Z"),
            None,
            "a zone is not a local time"
        );
        let n = LocalTimestampNanos::parse_iso("1969-12-31T23:59:59.999999999").unwrap();
        assert_eq!(n.value(), -1);
        assert_eq!(n.to_string(), "1969-12-31T23:59:59.999999999");
        assert_eq!(
            LocalTimestampMicros(1).to_string(),
            "1970-01-01T00:00:00.000001"
        );
        avro_round_trip(LocalTimestampMicros(-1), &[0x01]);
    }

    #[test]
    fn json_form_is_the_underlying_number_and_text_is_read() {
        let t = TimeMillis(37_805_120);
        assert_eq!(t.to_json(), Value::from(37_805_120));
        assert_eq!(TimeMillis::from_json(&t.to_json(), "t").unwrap(), t);
        assert_eq!(
            TimeMillis::from_json(&Value::from("10:30:05.120"), "t").unwrap(),
            t
        );
        assert!(TimeMillis::from_json(&Value::from(i64::MAX), "t").is_err());
        let l = LocalTimestampNanos(1_732_444_200_123_456_789);
        assert_eq!(
            LocalTimestampNanos::from_json(&l.to_json(), "l").unwrap(),
            l
        );
        assert!(LocalTimestampMicros::from_json(&Value::Bool(true), "l").is_err());
    }
}

/// An amount of time in calendar units (Avro `duration` on a `fixed` of size 12: three
/// little-endian unsigned 32-bit counts). Months and days are not fixed lengths of time, so
/// they are kept apart from the milliseconds, as the specification says. (Apache Avro's Java
/// library calls this type `TimePeriod` too.)
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TimePeriod {
    /// Whole months.
    pub months: u32,
    /// Whole days.
    pub days: u32,
    /// Milliseconds.
    pub millis: u32,
}

impl TimePeriod {
    /// The 12 bytes of Avro's encoding: months, days, milliseconds, each little-endian.
    pub fn to_avro_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.months.to_le_bytes());
        out[4..8].copy_from_slice(&self.days.to_le_bytes());
        out[8..].copy_from_slice(&self.millis.to_le_bytes());
        out
    }
    /// From the 12 bytes of Avro's encoding (every 12 bytes are a duration).
    pub fn from_avro_bytes(b: [u8; 12]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        TimePeriod {
            months: word(0),
            days: word(4),
            millis: word(8),
        }
    }
}

impl fmt::Display for TimePeriod {
    /// ISO 8601, e.g. `P1M2DT0.003S` (`P0D` when zero).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        if self.days > 0 || (self.months == 0 && self.millis == 0) {
            write!(f, "{}D", self.days)?;
        }
        if self.millis > 0 {
            write!(f, "T{}.{:03}S", self.millis / 1000, self.millis % 1000)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod duration_tests {
    use super::TimePeriod;

    #[test]
    fn the_twelve_bytes_are_three_little_endian_counts() {
        let d = TimePeriod {
            months: 1,
            days: 0x0203,
            millis: 0x0405_0607,
        };
        let b = d.to_avro_bytes();
        assert_eq!(b, [1, 0, 0, 0, 3, 2, 0, 0, 7, 6, 5, 4]);
        assert_eq!(TimePeriod::from_avro_bytes(b), d);
        assert_eq!(d.to_string(), "P1M515DT67438.087S");
        assert_eq!(TimePeriod::default().to_string(), "P0D");
    }
}
