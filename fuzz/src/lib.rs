//! Fuzz input bytes turned into records (topic, headers, value) and the domain's topics, shared by the fuzz targets and the seed writer.
//!
//! A record input is: one byte choosing the topic ([`TOPIC_COUNT`] topics, taken modulo),
//! one byte with the number of headers, each header as a one-byte name length, the name, a
//! two-byte little-endian value length and the value; every byte after the headers is the
//! record value. A truncated input is read as far as it goes (missing parts are empty), so
//! every byte string is some record.

use carebus_core::{DecodeError, EventInfo, PayloadFormat, TopicEvents};
use carebus_schemas::{AiEvent, AppointmentsEvent, ClinicalEvent, JourneysEvent, PatientsEvent};

/// Number of topics a record input can choose from.
pub const TOPIC_COUNT: u8 = 5;

/// A record read from fuzz input bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuzzRecord {
    /// Topic index, below [`TOPIC_COUNT`].
    pub topic: u8,
    /// Headers in order (names read as lossy UTF-8, as a transport hands them over).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record value.
    pub value: Vec<u8>,
}

impl FuzzRecord {
    /// Read a record from any bytes (see the module documentation for the layout).
    pub fn parse(data: &[u8]) -> FuzzRecord {
        let mut rest = data;
        let mut take = |n: usize| -> &[u8] {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            head
        };
        let topic = take(1).first().map_or(0, |t| t % TOPIC_COUNT);
        let count = take(1).first().copied().unwrap_or(0);
        let mut headers = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name_len = take(1).first().copied().unwrap_or(0);
            let name = String::from_utf8_lossy(take(usize::from(name_len))).into_owned();
            let len = match take(2) {
                [lo, hi] => u16::from_le_bytes([*lo, *hi]),
                [lo] => u16::from(*lo),
                _ => 0,
            };
            headers.push((name, take(usize::from(len)).to_vec()));
        }
        let value = rest.to_vec();
        FuzzRecord {
            topic,
            headers,
            value,
        }
    }

    /// The input bytes that [`FuzzRecord::parse`] reads back as this record (names over 255
    /// bytes, values over 65535 bytes and more than 255 headers are cut).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.topic, self.headers.len().min(255) as u8];
        for (name, value) in self.headers.iter().take(255) {
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            let value = &value[..value.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&self.value);
        out
    }
}

/// The topic index of a topic name, as [`FuzzRecord::topic`] holds it.
pub fn topic_index(topic: &str) -> Option<u8> {
    [
        PatientsEvent::TOPIC,
        AppointmentsEvent::TOPIC,
        ClinicalEvent::TOPIC,
        JourneysEvent::TOPIC,
        AiEvent::TOPIC,
    ]
    .iter()
    .position(|t| *t == topic)
    .map(|i| i as u8)
}

/// Every event version of the domain in `format`, in the registry's order: an Avro or
/// Protobuf fuzz input's first byte picks one (modulo the count).
pub fn events_of(format: PayloadFormat) -> Vec<&'static EventInfo> {
    carebus_schemas::EVENTS
        .iter()
        .filter(|i| i.format == format)
        .collect()
}

/// A payload of `info`'s event decoded through the registry (by type and version), then
/// encoded again; the decode error when it does not decode.
pub fn decode_and_encode(info: &EventInfo, payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
    fn through<E: TopicEvents>(info: &EventInfo, payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let event = E::decode(info.event_type, info.version, payload)?;
        assert_eq!(event.info(), info, "decoded as another event");
        let mut out = Vec::new();
        event.encode_payload(&mut out);
        Ok(out)
    }
    match topic_index(info.topic) {
        Some(0) => through::<PatientsEvent>(info, payload),
        Some(1) => through::<AppointmentsEvent>(info, payload),
        Some(2) => through::<ClinicalEvent>(info, payload),
        Some(3) => through::<JourneysEvent>(info, payload),
        Some(4) => through::<AiEvent>(info, payload),
        _ => panic!("event {} of unknown topic {}", info.event_type, info.topic),
    }
}
