//! Typed events plus envelopes turned into transport records (key, framed value, CloudEvents headers) and records turned back into envelopes and topic events.
//!
//! - **Key**: the aggregate id's UTF-8 bytes (so one aggregate's events share a partition).
//! - **Value**, by [`Framing`]:
//!   - [`Framing::SingleObject`] (default): Avro single-object encoding — `0xC3 0x01`, the
//!     8-byte little-endian CRC-64-AVRO fingerprint, then the Avro datum. Needs no registry: a
//!     consumer in another language reads it with the `.avsc` alone. Protobuf events carry
//!     their plain protobuf bytes (single-object framing is Avro's).
//!   - [`Framing::Confluent`]: `0x00`, the 4-byte big-endian schema id from a user-supplied
//!     [`SchemaIds`] table, then the datum; Protobuf adds the message-index list `0x00`.
//!   - [`Framing::Json`]: the event's JSON form — Avro's JSON encoding for Avro events
//!     (`content-type: application/json`, `carebus_jsonform: avro`).
//!   - [`Framing::StructuredJson`]: CloudEvents structured mode — the CloudEvents JSON event
//!     format ([`crate::cloudevents`]) with the event's JSON form in `data`,
//!     `content-type: application/cloudevents+json`. Only `traceparent`, `ce_id` and
//!     `carebus_jsonform` stay in the headers (readers of structured mode ignore them).
//!
//! A JSON-framed or structured record carebus wrote before it spoke Avro's JSON encoding has
//! no `carebus_jsonform` header but carebus's aggregate type attribute: its data is read in
//! carebus's older JSON form ([`JsonForm::Legacy`], [`crate::json_legacy`]). A record without
//! either (any other producer: fastavro's `json_writer`, Java's `JsonEncoder`) is Avro JSON.
//! - **Headers**: CloudEvents binary mode, see [`crate::envelope`].
//!
//! Decoding ([`decode`]) needs no configuration: structured mode is recognised by its
//! content type; otherwise the headers give the envelope, and the framing is recognised by
//! its magic bytes. [`decode_ref_with`] adds a [`CeTypes`] mapping of CloudEvents `type`
//! values (reverse-DNS names) to the topic's event types. A record without an event version
//! gets one from [`crate::cloudevents::resolve_version`]; one without a subject gets the
//! event's aggregate id. Every failure is a typed [`WireError`] whose text holds no event data.

use crate::cloudevents::{CeTypes, StructuredData, resolve_version};
use crate::envelope::{Envelope, EnvelopeError, EnvelopeRef, KnownHeaders, headers};
use crate::error::DecodeError;
use crate::event::{DomainEvent, PayloadFormat};
use crate::topic::TopicEvents;
use crate::transport::Record;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Magic bytes of Avro single-object encoding.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
/// Room reserved for a framed value: most healthcare events fit, so the buffer grows rarely.
const VALUE_CAPACITY: usize = 256;
/// Magic byte of Confluent framing.
pub const CONFLUENT_MAGIC: u8 = 0x00;
/// `content-type` of [`Framing::Json`] values: the event's JSON form, envelope in the headers.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `content-type` of [`Framing::StructuredJson`] values: CloudEvents structured mode.
pub const CONTENT_TYPE_STRUCTURED: &str = "application/cloudevents+json";

/// Which JSON form the data of a JSON-framed or structured-mode record is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonForm {
    /// Avro's JSON encoding (spec, "JSON Encoding"); what carebus writes, and what a record
    /// from any other producer is taken to carry.
    Avro,
    /// carebus's JSON form before Avro's JSON encoding (bare union values, hex bytes, ISO
    /// dates, decimals as text): upcast with the event's schema when read.
    Legacy,
}

/// `carebus_jsonform` value of [`JsonForm::Avro`].
pub const JSON_FORM_AVRO: &str = "avro";
/// `carebus_jsonform` value of [`JsonForm::Legacy`] (carebus never writes it; tools marking
/// old records may).
pub const JSON_FORM_LEGACY: &str = "carebus-legacy";

impl JsonForm {
    /// The form of a record's JSON data from its `carebus_jsonform` header (`header`) and
    /// whether carebus wrote it (`written_by_carebus`: its aggregate type attribute is there):
    /// the header says; without it a carebus record predates Avro JSON, any other is Avro JSON.
    pub fn of(header: Option<&[u8]>, written_by_carebus: bool) -> JsonForm {
        match header {
            Some(v) if v == JSON_FORM_LEGACY.as_bytes() => JsonForm::Legacy,
            Some(_) => JsonForm::Avro,
            None if written_by_carebus => JsonForm::Legacy,
            None => JsonForm::Avro,
        }
    }

    /// The name of the form: the `carebus_jsonform` header's value, and the event store's
    /// `data_json_form` column (`avro`, `carebus-legacy`).
    pub fn as_str(self) -> &'static str {
        match self {
            JsonForm::Avro => JSON_FORM_AVRO,
            JsonForm::Legacy => JSON_FORM_LEGACY,
        }
    }

    /// The form named `name` ([`JsonForm::as_str`]); `None` for any other text.
    pub fn parse(name: &str) -> Option<JsonForm> {
        match name {
            JSON_FORM_AVRO => Some(JsonForm::Avro),
            JSON_FORM_LEGACY => Some(JsonForm::Legacy),
            _ => None,
        }
    }

    /// [`JsonForm::of`] over a record's headers.
    pub fn of_headers(
        headers: &[(impl AsRef<str>, impl AsRef<[u8]>)],
        written_by_carebus: bool,
    ) -> JsonForm {
        let header = headers
            .iter()
            .find(|(n, _)| n.as_ref() == headers::JSON_FORM)
            .map(|(_, v)| v.as_ref());
        JsonForm::of(header, written_by_carebus)
    }
}

/// Schema ids for Confluent framing: derived from each schema's fingerprint
/// ([`SchemaIds::derived`], what the catalog's static registry serves), or from a table.
#[derive(Clone)]
pub struct SchemaIds(Arc<SchemaIdFn>);

/// Looks up the schema id of an event type, version and fingerprint.
type SchemaIdFn = dyn Fn(&str, u32, u64) -> Option<u32> + Send + Sync;

/// The Confluent schema id carebus derives for a schema: the top 31 bits of its CRC-64-AVRO
/// fingerprint (Protobuf: of its canonical descriptor), 1 if those are all zero. A schema's
/// fingerprint never changes, so neither does its id; the event catalog's static registry
/// (`registry/schemas/ids/<id>`) serves the schema under it.
pub fn confluent_schema_id(fingerprint: u64) -> u32 {
    ((fingerprint >> 33) as u32).max(1)
}

impl SchemaIds {
    /// Ids derived from the schemas' fingerprints ([`confluent_schema_id`]): the ones the
    /// event catalog's static Schema Registry API serves, so a Confluent deserializer pointed
    /// at it reads carebus's records without a registry server.
    pub fn derived() -> Self {
        SchemaIds(Arc::new(|_, _, fingerprint| {
            Some(confluent_schema_id(fingerprint))
        }))
    }
    /// Ids from a table of `(event type, version) → id` (e.g. a registry's own ids).
    pub fn from_map(map: HashMap<(String, u32), u32>) -> Self {
        SchemaIds(Arc::new(move |t, v, _| {
            map.get(&(t.to_string(), v)).copied()
        }))
    }
    /// Ids from a function of event type and version.
    pub fn from_fn(f: impl Fn(&str, u32) -> Option<u32> + Send + Sync + 'static) -> Self {
        SchemaIds(Arc::new(move |t, v, _| f(t, v)))
    }
    /// The schema id of `event_type` at `version` (whose schema has `fingerprint`), if any.
    pub fn id(&self, event_type: &str, version: u32, fingerprint: u64) -> Option<u32> {
        (self.0)(event_type, version, fingerprint)
    }
}

impl std::fmt::Debug for SchemaIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaIds(..)")
    }
}

/// How the payload is framed in the record value.
#[derive(Clone, Debug, Default)]
pub enum Framing {
    /// Avro single-object encoding (`C3 01`, fingerprint, datum); Protobuf events as plain bytes.
    #[default]
    SingleObject,
    /// Confluent wire format (`00`, schema id, datum) with ids from this table.
    Confluent(SchemaIds),
    /// The event's JSON form in the value, the envelope in the headers.
    Json,
    /// CloudEvents structured mode: the whole JSON envelope, `data` included, in the value.
    StructuredJson,
}

/// A record could not be encoded or decoded. Texts name headers, types and sizes only.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The headers (or the structured envelope) are missing or malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The value's magic bytes or length fit no framing.
    #[error("bad framing: {0}")]
    Framing(String),
    /// The payload of a known event type and version did not decode.
    #[error("payload of {event_type} v{version} could not be decoded: {source}")]
    Payload {
        /// The event type the headers name.
        event_type: String,
        /// The event version the headers name.
        version: u32,
        /// What the decoder reported (no field values).
        source: DecodeError,
    },
    /// The topic has no event of this type and version, or of this fingerprint.
    #[error(transparent)]
    Unknown(DecodeError),
    /// The headers name one event, the payload's fingerprint another.
    #[error("headers say {header_type} but the payload's fingerprint is {payload_type}")]
    TypeMismatch {
        /// Type and version from the headers (`PatientCreated v2`).
        header_type: String,
        /// Type and version of the event the fingerprint belongs to.
        payload_type: String,
    },
    /// Confluent framing was asked for an event the [`SchemaIds`] table has no id for.
    #[error(
        "no Confluent schema id configured for {event_type} v{version}; add it to the SchemaIds table"
    )]
    NoSchemaId {
        /// The event type published.
        event_type: String,
        /// Its version.
        version: u32,
    },
    /// A JSON value (data or structured envelope) is not valid JSON, or could not be written.
    #[error("structured JSON is not valid: {0}")]
    Json(String),
}

impl WireError {
    /// A short machine-readable reason, used in dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::Envelope(_) => "bad-envelope",
            WireError::Framing(_) | WireError::Json(_) => "bad-framing",
            WireError::Payload { .. } => "undecodable-payload",
            WireError::Unknown(DecodeError::UnknownFingerprint { .. }) => "unknown-fingerprint",
            WireError::Unknown(_) => "unknown-event-type-or-version",
            WireError::TypeMismatch { .. } => "type-mismatch",
            WireError::NoSchemaId { .. } => "no-schema-id",
        }
    }
}

/// Turn an event and its envelope into a record, framing the value as `framing` says. The
/// envelope's text moves into the headers.
pub fn encode<E: DomainEvent>(
    envelope: Envelope,
    event: &E,
    framing: &Framing,
) -> Result<Record, WireError> {
    let key = envelope.aggregate_id.clone().into_bytes();
    let content_type = match framing {
        Framing::Json => CONTENT_TYPE_JSON,
        Framing::StructuredJson => CONTENT_TYPE_STRUCTURED,
        _ => E::FORMAT.content_type(),
    };
    let value = match framing {
        Framing::SingleObject => {
            let mut v = Vec::with_capacity(VALUE_CAPACITY);
            if E::FORMAT == PayloadFormat::Avro {
                v.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                v.extend_from_slice(&E::FINGERPRINT.to_le_bytes());
            }
            event.encode_payload(&mut v);
            v
        }
        Framing::Confluent(ids) => {
            let id = ids
                .id(E::EVENT_TYPE, E::EVENT_VERSION, E::FINGERPRINT)
                .ok_or_else(|| WireError::NoSchemaId {
                    event_type: E::EVENT_TYPE.to_string(),
                    version: E::EVENT_VERSION,
                })?;
            let mut v = Vec::with_capacity(VALUE_CAPACITY);
            v.push(CONFLUENT_MAGIC);
            v.extend_from_slice(&id.to_be_bytes());
            if E::FORMAT == PayloadFormat::Protobuf {
                v.push(0x00); // message indexes: the first message of the file
            }
            event.encode_payload(&mut v);
            v
        }
        Framing::Json => {
            serde_json::to_vec(&event.to_json()).map_err(|e| WireError::Json(e.to_string()))?
        }
        Framing::StructuredJson => serde_json::to_vec(&envelope.to_cloudevent(event.to_json()))
            .map_err(|e| WireError::Json(e.to_string()))?,
    };
    let mut headers = envelope.into_headers();
    if let Framing::StructuredJson = framing {
        // The envelope lives in the value. Headers keep the trace context, and the event id:
        // the publisher's outbox, claim check and delivery reports name a record by it.
        headers.retain(|(n, _)| n == headers::TRACEPARENT || n == headers::ID);
    }
    if let Framing::Json | Framing::StructuredJson = framing {
        headers.push((headers::JSON_FORM.into(), JSON_FORM_AVRO.into()));
    }
    headers.push((
        headers::CONTENT_TYPE.into(),
        content_type.as_bytes().to_vec(),
    ));
    Ok(Record {
        topic: E::TOPIC.to_string(),
        key: Some(key),
        value: Some(value),
        headers,
        partition: None,
    })
}

/// Turn a record's headers and value back into its envelope and typed event.
pub fn decode<E: TopicEvents>(
    headers: &[(impl AsRef<str>, impl AsRef<[u8]>)],
    value: &[u8],
) -> Result<(Envelope, E), WireError> {
    decode_ref(headers, value).map(|(env, event)| (env.into_owned(), event))
}

/// [`decode`] with CloudEvents `type` values mapped to event types by `types`.
pub fn decode_with<E: TopicEvents>(
    headers: &[(impl AsRef<str>, impl AsRef<[u8]>)],
    value: &[u8],
    types: &CeTypes,
) -> Result<(Envelope, E), WireError> {
    decode_ref_with(headers, value, types).map(|(env, event)| (env.into_owned(), event))
}

/// [`decode`] with the envelope's text borrowed from the headers (binary mode; a structured
/// JSON envelope is owned).
#[inline]
pub fn decode_ref<'a, E: TopicEvents>(
    headers: &'a [(impl AsRef<str>, impl AsRef<[u8]>)],
    value: &[u8],
) -> Result<(EnvelopeRef<'a>, E), WireError> {
    decode_ref_with(headers, value, &CeTypes::new())
}

/// [`decode_ref`] with CloudEvents `type` values mapped to event types by `types`.
#[inline]
pub fn decode_ref_with<'a, E: TopicEvents>(
    headers: &'a [(impl AsRef<str>, impl AsRef<[u8]>)],
    value: &[u8],
    types: &CeTypes,
) -> Result<(EnvelopeRef<'a>, E), WireError> {
    let found = KnownHeaders::find(headers);
    let content_type = found.content_type();
    if content_type.starts_with(CONTENT_TYPE_STRUCTURED) {
        let json: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| WireError::Json(e.to_string()))?;
        // carebus before CloudEvents structured mode wrote its own keys (`eventId`, ...):
        // records of that form still on a topic are read as they were.
        let old_shape = json.get("specversion").is_none() && json.get("eventId").is_some();
        let json_form =
            JsonForm::of_headers(headers, old_shape || json.get("aggregatetype").is_some());
        let (mut env, data) = if old_shape {
            let (env, data) = Envelope::from_json(&json)?;
            (env, StructuredData::Json(data))
        } else {
            Envelope::from_cloudevent(&json)?
        };
        if env.traceparent.is_none() {
            env.traceparent = found.traceparent().map(str::to_owned);
        }
        let mut env = EnvelopeRef::from(env);
        let event = match data {
            StructuredData::Json(data) => {
                resolve::<E>(&mut env, None, types)?;
                let event = decode_json::<E>(&env, &data, json_form)?;
                fill_aggregate(&mut env, &event);
                event
            }
            StructuredData::Bytes {
                payload,
                content_type,
            } => decode_binary(&mut env, &content_type, &payload, types, json_form)?,
        };
        return Ok((env, event));
    }
    let mut env = EnvelopeRef::from_known(&found)?;
    let json_form = if content_type.starts_with(CONTENT_TYPE_JSON) {
        JsonForm::of_headers(headers, !env.aggregate_type.is_empty())
    } else {
        JsonForm::Avro
    };
    let event = decode_binary(&mut env, content_type, value, types, json_form)?;
    Ok((env, event))
}

/// Map the envelope's CloudEvents `type` to the topic's event type, and work its version out
/// when the record named none.
fn resolve<E: TopicEvents>(
    env: &mut EnvelopeRef<'_>,
    fingerprint: Option<u64>,
    types: &CeTypes,
) -> Result<(), WireError> {
    if let Some(t) = types.resolve(&env.event_type, E::EVENTS)
        && t != env.event_type.as_ref()
    {
        env.event_type = Cow::Borrowed(t);
    }
    if !E::EVENTS.iter().any(|i| i.event_type == env.event_type) {
        // Not an event of this topic (an unmapped reverse-DNS type, a newer event): unknown,
        // whatever the payload's fingerprint says.
        return Err(classify(
            env,
            crate::topic::unknown_event(E::EVENTS, &env.event_type, env.event_version),
        ));
    }
    if env.event_version == 0 {
        env.event_version = resolve_version(
            &env.event_type,
            fingerprint.or(env.schema_fingerprint),
            env.data_schema.as_deref(),
            E::EVENTS,
        )?;
    }
    Ok(())
}

/// An envelope without a subject or aggregate type gets the event's.
fn fill_aggregate<E: TopicEvents>(env: &mut EnvelopeRef<'_>, event: &E) {
    if env.aggregate_id.is_empty() {
        env.aggregate_id = Cow::Owned(event.aggregate_id());
    }
    if env.aggregate_type.is_empty() {
        env.aggregate_type = Cow::Borrowed(event.info().aggregate_type);
    }
}

/// The event of a binary-mode record (envelope in headers) whose envelope is read: its
/// payload decoded by `content_type` and framing (JSON data in `json_form`, see
/// [`JsonForm::of`]), and checked against the envelope's type.
/// The envelope's type is mapped by `types`, and its version, subject and aggregate type
/// filled in when the record had none.
#[inline]
#[doc(hidden)]
pub fn decode_binary<E: TopicEvents>(
    env: &mut EnvelopeRef<'_>,
    content_type: &str,
    value: &[u8],
    types: &CeTypes,
    json_form: JsonForm,
) -> Result<E, WireError> {
    // The common case first, without looking the envelope's type up: an Avro single-object
    // value of that type. Anything else (or a failure) takes the full path below.
    if env.event_version != 0
        && let Some(fingerprint) = single_object_fingerprint(value)
        && let Ok(event) = E::decode_fingerprint(fingerprint, &value[10..])
    {
        let found = event.info();
        if found.event_type == env.event_type
            && found.version == env.event_version
            && found.format != PayloadFormat::Protobuf
        {
            fill_aggregate(env, &event);
            return Ok(event);
        }
    }
    resolve::<E>(env, single_object_fingerprint(value), types)?;
    let event = decode_payload(env, content_type, value, json_form)?;
    fill_aggregate(env, &event);
    Ok(event)
}

/// JSON data of a known event type and version, read in its form.
fn decode_json<E: TopicEvents>(
    env: &EnvelopeRef<'_>,
    data: &serde_json::Value,
    json_form: JsonForm,
) -> Result<E, WireError> {
    match json_form {
        JsonForm::Avro => E::decode_json(&env.event_type, env.event_version, data),
        JsonForm::Legacy => {
            crate::topic::decode_legacy_json::<E>(&env.event_type, env.event_version, data)
        }
    }
    .map_err(|e| classify(env, e))
}

/// The payload of a record whose envelope names a known type and version.
fn decode_payload<E: TopicEvents>(
    env: &EnvelopeRef<'_>,
    content_type: &str,
    value: &[u8],
    json_form: JsonForm,
) -> Result<E, WireError> {
    if content_type.starts_with(CONTENT_TYPE_JSON) {
        let data: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| WireError::Json(e.to_string()))?;
        return decode_json::<E>(env, &data, json_form);
    }
    let info = E::EVENTS
        .iter()
        .find(|i| i.event_type == env.event_type && i.version == env.event_version);
    let is_protobuf = info.is_some_and(|i| i.format == PayloadFormat::Protobuf);
    let event = if value.starts_with(&SINGLE_OBJECT_MAGIC) && !is_protobuf {
        if value.len() < 10 {
            return Err(WireError::Framing(format!(
                "single-object value of {} bytes is shorter than its 10-byte header",
                value.len()
            )));
        }
        let fingerprint = single_object_fingerprint(value).unwrap_or_default();
        let event =
            E::decode_fingerprint(fingerprint, &value[10..]).map_err(|e| classify(env, e))?;
        let found = event.info();
        if found.event_type != env.event_type || found.version != env.event_version {
            return Err(WireError::TypeMismatch {
                header_type: format!("{} v{}", env.event_type, env.event_version),
                payload_type: format!("{} v{}", found.event_type, found.version),
            });
        }
        event
    } else if value.first() == Some(&CONFLUENT_MAGIC) {
        let mut start = 5;
        if value.len() < start {
            return Err(WireError::Framing(format!(
                "Confluent-framed value of {} bytes is shorter than its 5-byte header",
                value.len()
            )));
        }
        if is_protobuf {
            start = skip_message_indexes(value, start)?;
        }
        E::decode(&env.event_type, env.event_version, &value[start..])
            .map_err(|e| classify(env, e))?
    } else if is_protobuf {
        E::decode(&env.event_type, env.event_version, value).map_err(|e| classify(env, e))?
    } else if info.is_none() {
        return Err(classify(
            env,
            crate::topic::unknown_event(E::EVENTS, &env.event_type, env.event_version),
        ));
    } else {
        return Err(WireError::Framing(
            "Avro value starts with neither single-object (C3 01) nor Confluent (00) magic".into(),
        ));
    };
    Ok(event)
}

/// The schema fingerprint of a single-object encoded value (magic `C3 01`, then 8 bytes
/// little-endian), if it is one.
#[inline]
#[doc(hidden)]
pub fn single_object_fingerprint(value: &[u8]) -> Option<u64> {
    let header = value.get(..10)?;
    let fingerprint = header.strip_prefix(&SINGLE_OBJECT_MAGIC)?;
    Some(u64::from_le_bytes(fingerprint.try_into().ok()?))
}

/// Skip Confluent's Protobuf message-index list: a zig-zag varint count, then that many
/// varint indexes (a lone `0x00` means "the first message").
fn skip_message_indexes(value: &[u8], mut pos: usize) -> Result<usize, WireError> {
    let read_varint = |pos: &mut usize| -> Result<i64, WireError> {
        let mut r = crate::avro::Reader::new(&value[*pos..]);
        let v = r
            .read_long()
            .map_err(|_| WireError::Framing("truncated Protobuf message-index list".into()))?;
        *pos += r.position();
        Ok(v)
    };
    let count = read_varint(&mut pos)?;
    for _ in 0..count.max(0) {
        read_varint(&mut pos)?;
    }
    Ok(pos)
}

fn classify(env: &EnvelopeRef<'_>, e: DecodeError) -> WireError {
    match e {
        DecodeError::UnknownEvent { .. } | DecodeError::UnknownFingerprint { .. } => {
            WireError::Unknown(e)
        }
        other => WireError::Payload {
            event_type: env.event_type.to_string(),
            version: env.event_version,
            source: other,
        },
    }
}
