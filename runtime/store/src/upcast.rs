//! Stored rows into current generated events: registered upcasters lift old (event type, version) payloads step by step to the newest version, then the topic enum decodes them.
//!
//! Rows keep the type and version they were written with; nothing is rewritten. An upcaster
//! is one step `(event type, version) → (event type, version + k)` over the binary payload:
//! - [`Upcasters::register_from`] uses a `From<Old> for New` impl — the generator emits one
//!   for each pair of consecutive Avro versions (`From<PatientCreatedV1> for PatientCreated`,
//!   by schema resolution);
//! - [`Upcasters::register_json`] transforms the old JSON form into the new one (renames,
//!   computed fields);
//! - [`Upcasters::register_raw`] gets the bytes.

use super::error::StoreError;
use super::event::{Cursor, EventContext, StoredEvent};
use carebus_core::error::DecodeError;
use carebus_core::event::DomainEvent;
use carebus_core::topic::{EventInfo, TopicEvents};
use carebus_core::types::Timestamp;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

type StepFn = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, DecodeError> + Send + Sync>;

#[derive(Clone)]
struct Step {
    to_type: String,
    to_version: u32,
    lift: StepFn,
}

/// The registered upcasting steps, keyed by the (event type, version) they read.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), Step>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<_> = self.steps.keys().collect();
        keys.sort();
        f.debug_struct("Upcasters").field("steps", &keys).finish()
    }
}

/// Most steps one payload may take (a cycle of registrations would otherwise never end).
const MAX_STEPS: usize = 64;

impl Upcasters {
    /// No upcasters: events are decoded as written.
    pub fn new() -> Self {
        Upcasters::default()
    }

    /// Lift `Old` to `New` with `New: From<Old>` (the generated conversion between versions).
    pub fn register_from<Old, New>(&mut self) -> &mut Self
    where
        Old: DomainEvent,
        New: DomainEvent + From<Old>,
    {
        self.insert::<Old, New>(Arc::new(|bytes| {
            let old = Old::decode_payload(bytes)?;
            let mut out = Vec::with_capacity(bytes.len() + 16);
            New::from(old).encode_payload(&mut out);
            Ok(out)
        }))
    }

    /// Lift `Old` to `New` by rewriting the JSON form: `change` gets `Old`'s JSON and returns
    /// `New`'s, both in Avro's JSON encoding (an optional field is `null` or
    /// `{"<type>": value}`, e.g. `{"string": "Jo"}`; a date is its day number). Errors must not
    /// contain field values (they may be PHI).
    pub fn register_json<Old, New>(
        &mut self,
        change: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut Self
    where
        Old: DomainEvent,
        New: DomainEvent,
    {
        self.insert::<Old, New>(Arc::new(move |bytes| {
            let old = Old::decode_payload(bytes)?;
            let json = change(old.to_json()).map_err(|detail| DecodeError::Malformed {
                what: "upcast JSON",
                detail,
            })?;
            let new = New::from_json(&json)?;
            let mut out = Vec::with_capacity(bytes.len() + 16);
            new.encode_payload(&mut out);
            Ok(out)
        }))
    }

    /// Lift raw payloads of `(event_type, from_version)` to `(to_type, to_version)`.
    pub fn register_raw(
        &mut self,
        event_type: &str,
        from_version: u32,
        to_type: &str,
        to_version: u32,
        lift: impl Fn(&[u8]) -> Result<Vec<u8>, DecodeError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.steps.insert(
            (event_type.to_string(), from_version),
            Step {
                to_type: to_type.to_string(),
                to_version,
                lift: Arc::new(lift),
            },
        );
        self
    }

    fn insert<Old: DomainEvent, New: DomainEvent>(&mut self, lift: StepFn) -> &mut Self {
        self.steps.insert(
            (Old::EVENT_TYPE.to_string(), Old::EVENT_VERSION),
            Step {
                to_type: New::EVENT_TYPE.to_string(),
                to_version: New::EVENT_VERSION,
                lift,
            },
        );
        self
    }

    /// Whether any step reads `(event_type, version)`.
    pub fn has(&self, event_type: &str, version: u32) -> bool {
        self.steps.contains_key(&(event_type.to_string(), version))
    }

    /// Apply every step that applies, starting at `(event_type, version)`; returns the final
    /// type, version and payload (borrowed when no step applied).
    pub fn upcast<'p>(
        &self,
        event_type: &str,
        version: u32,
        payload: &'p [u8],
    ) -> Result<(String, u32, Cow<'p, [u8]>), StoreError> {
        let mut current = (event_type.to_string(), version);
        let mut bytes: Cow<'p, [u8]> = Cow::Borrowed(payload);
        for _ in 0..MAX_STEPS {
            let Some(step) = self.steps.get(&current) else {
                return Ok((current.0, current.1, bytes));
            };
            let lifted = (step.lift)(&bytes).map_err(|e| StoreError::Upcast {
                event_type: current.0.clone(),
                version: current.1,
                reason: e.to_string(),
            })?;
            bytes = Cow::Owned(lifted);
            current = (step.to_type.clone(), step.to_version);
        }
        Err(StoreError::Upcast {
            event_type: event_type.to_string(),
            version,
            reason: format!("more than {MAX_STEPS} steps; the registered upcasters form a cycle"),
        })
    }

    /// Old versions in `events` (a topic's or the registry's list) that upcasting does not
    /// lead to their type's newest version: the upcasters still to write.
    pub fn missing(&self, events: &[EventInfo]) -> Vec<(String, u32)> {
        let newest = |t: &str| {
            events
                .iter()
                .filter(|i| i.event_type == t)
                .map(|i| i.version)
                .max()
        };
        let mut out = Vec::new();
        for info in events {
            let mut at = (info.event_type.to_string(), info.version);
            for _ in 0..MAX_STEPS {
                match self.steps.get(&at) {
                    Some(step) => at = (step.to_type.clone(), step.to_version),
                    None => break,
                }
            }
            if newest(&at.0).is_some_and(|n| at.1 < n) {
                out.push((info.event_type.to_string(), info.version));
            }
        }
        out
    }
}

/// Decode a stored row into the topic's event enum after upcasting: replay and queries
/// yield current versions.
pub fn decode_stored<E: TopicEvents>(
    event: &StoredEvent,
    upcasters: &Upcasters,
) -> Result<E, StoreError> {
    let (event_type, version, bytes) =
        upcasters.upcast(&event.event_type, event.event_version, &event.data)?;
    E::decode(&event_type, version, &bytes).map_err(|source| StoreError::Decode {
        event_type,
        version,
        position: event.global_position,
        source,
    })
}

/// A typed event read from the store, with where and when it was stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded<E> {
    /// The event, upcast to the newest version the upcasters reach.
    pub event: E,
    /// The event's id.
    pub event_id: carebus_core::Uuid,
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its 1-based version in that stream.
    pub stream_version: u64,
    /// Its place in the store-wide order.
    pub cursor: Cursor,
    /// The envelope facts stored with it.
    pub context: EventContext,
    /// When the store committed it.
    pub recorded_at: Timestamp,
}

impl<E: TopicEvents> Recorded<E> {
    /// Decode (with upcasting) a stored event.
    pub fn decode(stored: &StoredEvent, upcasters: &Upcasters) -> Result<Self, StoreError> {
        Ok(Recorded {
            event: decode_stored(stored, upcasters)?,
            event_id: stored.event_id,
            stream_id: stored.stream_id.clone(),
            stream_version: stored.stream_version,
            cursor: stored.cursor(),
            context: stored.context.clone(),
            recorded_at: stored.recorded_at,
        })
    }
}
