//! Per-topic contracts the generated code implements: a topic's event enum (decode by type/version or fingerprint) and its handler dispatch.

use crate::error::DecodeError;
use crate::handler::{HandlerContext, HandlerResult};
use std::future::Future;

/// Static facts about one event version, listed by the generated registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventInfo {
    /// Event type name (`PatientCreated`), the same for every version.
    pub event_type: &'static str,
    /// Schema version of this event.
    pub version: u32,
    /// Aggregate type (`Patient`).
    pub aggregate_type: &'static str,
    /// Topic the event is published to.
    pub topic: &'static str,
    /// CRC-64-AVRO fingerprint of the schema (single-object framing finds the event by it).
    pub fingerprint: u64,
    /// Payload encoding (Avro or Protobuf).
    pub format: crate::event::PayloadFormat,
    /// Schema text: the Avro schema JSON or the Protobuf source.
    pub schema: &'static str,
    /// Paths of the fields classified PHI (`name.family`): never log, dead-letter or index their
    /// values.
    pub phi_fields: &'static [&'static str],
}

/// A Kafka topic as the topics spec (`schemas/topics.toml`) declares it: the generated
/// `TOPICS` table lists every one (`TopicSpec<'static>`), so services and `carebus-topics`
/// create and check topics from the code the build generated, never from a second reading of
/// the file. Tests and tools build their own with [`TopicSpec::new`] and struct update syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicSpec<'a> {
    /// Topic name, e.g. `healthcare.patients.events`.
    pub name: &'a str,
    /// What the topic carries, from the spec's `doc`; shown by the catalog.
    pub doc: Option<&'a str>,
    /// Number of partitions (Kafka's `i32`); more can be added later, never fewer.
    pub partitions: i32,
    /// Copies of each partition (Kafka's `i32`).
    pub replication_factor: i32,
    /// `retention.ms`; `None` = the broker's default.
    pub retention_ms: Option<i64>,
    /// `cleanup.policy`: delete old records, or keep the newest per key.
    pub cleanup_policy: CleanupPolicy,
    /// `min.insync.replicas`; `None` = the broker's default.
    pub min_insync_replicas: Option<i32>,
    /// What the record key holds, e.g. `aggregate id (patientId)`.
    pub key: &'a str,
    /// The events the topic carries (names, every version).
    pub events: &'a [&'a str],
    /// Further topic configs, passed through verbatim (e.g. `compression.type`).
    pub configs: &'a [(&'a str, &'a str)],
    /// The topic this one serves, for the topics carebus writes on another's behalf: its
    /// dead-letter topic (`<topic>.dlq`) and retry topics (`<topic>.retry.N`). `None` for a
    /// topic of the spec.
    pub derived_from: Option<&'a str>,
}

impl<'a> TopicSpec<'a> {
    /// A topic with `partitions` and `replication_factor`, deleting by the broker's default
    /// retention, with no further configs.
    pub const fn new(name: &'a str, partitions: i32, replication_factor: i32) -> TopicSpec<'a> {
        TopicSpec {
            name,
            doc: None,
            partitions,
            replication_factor,
            retention_ms: None,
            cleanup_policy: CleanupPolicy::Delete,
            min_insync_replicas: None,
            key: "",
            events: &[],
            configs: &[],
            derived_from: None,
        }
    }
}

/// `cleanup.policy` of a topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CleanupPolicy {
    /// Records older than the retention are deleted.
    #[default]
    Delete,
    /// The newest record per key is kept.
    Compact,
}

impl CleanupPolicy {
    /// The broker's `cleanup.policy` value.
    pub fn as_config(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
        }
    }
}

/// The generated enum of every event (every version) carried by one topic.
pub trait TopicEvents: Sized + Send + Sync + Clone + std::fmt::Debug + 'static {
    /// Topic name, e.g. `healthcare.patients.events`.
    const TOPIC: &'static str;
    /// Every event version on this topic.
    const EVENTS: &'static [EventInfo];
    /// Decode a payload given its event type and version (from the envelope headers).
    fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError>;
    /// Decode a payload given its schema fingerprint (from single-object framing).
    fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> Result<Self, DecodeError>;
    /// Facts about the variant held.
    fn info(&self) -> &'static EventInfo;
    /// The aggregate id of the event held (the record key).
    fn aggregate_id(&self) -> String;
    /// Append the held event's payload (Avro datum or Protobuf message) to `out`.
    fn encode_payload(&self, out: &mut Vec<u8>);
    /// The held event's data in its JSON form.
    fn to_json(&self) -> serde_json::Value;
    /// Decode the JSON form of an event's data given its type and version (the JSON wire
    /// format and the structured CloudEvents mode). Generated code overrides this; the default
    /// reports that no JSON decoder exists for the topic.
    fn decode_json(
        event_type: &str,
        version: u32,
        data: &serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let _ = data;
        Err(DecodeError::Framing(format!(
            "topic {} has no JSON decoder for {event_type} v{version}; \
             publish with Avro/Protobuf framing or regenerate the topic with JSON support",
            Self::TOPIC
        )))
    }
}

/// The readable view of an event's JSON form (union values bare, dates and timestamps as
/// text, decimals at their scale; [`crate::json_legacy::readable`]) for Avro events, the JSON
/// form itself for Protobuf ones: what code that reads fields by name without the schema
/// (journey guards, analytics rules) reads.
pub fn readable_json<E: TopicEvents>(event: &E) -> Result<serde_json::Value, DecodeError> {
    let info = event.info();
    let json = event.to_json();
    match info.format {
        crate::event::PayloadFormat::Avro => crate::json_legacy::readable(info.schema, &json),
        _ => Ok(json),
    }
}

/// Decode carebus's JSON form from before Avro's JSON encoding given the event's type and
/// version (records and rows that say they carry it): the event's `.avsc` upcasts it
/// ([`crate::json_legacy::upcast`]) and [`TopicEvents::decode_json`] reads the result.
pub fn decode_legacy_json<E: TopicEvents>(
    event_type: &str,
    version: u32,
    data: &serde_json::Value,
) -> Result<E, DecodeError> {
    match E::EVENTS
        .iter()
        .find(|i| i.event_type == event_type && i.version == version)
    {
        Some(info) if info.format == crate::event::PayloadFormat::Avro => E::decode_json(
            event_type,
            version,
            &crate::json_legacy::upcast(info.schema, data)?,
        ),
        _ => E::decode_json(event_type, version, data),
    }
}

/// Something that handles every event of one topic; generated per topic as an adapter over
/// the topic's typed handler trait (one async method per event type).
pub trait TopicHandler: Send + Sync + 'static {
    /// The topic's generated event enum.
    type Events: TopicEvents;
    /// Handle one event: `Ok` commits it, a retriable error retries it, a permanent one
    /// dead-letters it (as the consumer is configured).
    fn handle(
        &self,
        ctx: &HandlerContext,
        event: Self::Events,
    ) -> impl Future<Output = HandlerResult> + Send;
}

/// The [`EventInfo`] of an event type, from its `DomainEvent` constants (usable in consts,
/// as the generated registry does).
pub const fn event_info<E: crate::event::DomainEvent>() -> EventInfo {
    EventInfo {
        event_type: E::EVENT_TYPE,
        version: E::EVENT_VERSION,
        aggregate_type: E::AGGREGATE_TYPE,
        topic: E::TOPIC,
        fingerprint: E::FINGERPRINT,
        format: E::FORMAT,
        schema: E::SCHEMA,
        phi_fields: E::PHI_FIELDS,
    }
}

/// The error for an event type/version no generated type matches, listing what is known
/// (the versions of that event type, or every event type when the type is unknown).
pub fn unknown_event(events: &[EventInfo], event_type: &str, version: u32) -> DecodeError {
    let same_type: Vec<String> = events
        .iter()
        .filter(|i| i.event_type == event_type)
        .map(|i| format!("v{}", i.version))
        .collect();
    let known = if same_type.is_empty() {
        let mut all: Vec<String> = events
            .iter()
            .map(|i| format!("{} v{}", i.event_type, i.version))
            .collect();
        all.dedup();
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    } else {
        same_type.join(", ")
    };
    DecodeError::UnknownEvent {
        event_type: event_type.to_string(),
        version,
        known,
    }
}
