//! The event envelope (id, type, version, time, aggregate, tenant, correlation, causation, metadata) turned into CloudEvents Kafka headers (binary mode) and back; the JSON event format of structured mode is [`crate::cloudevents`].
//!
//! # Headers (CloudEvents Kafka protocol binding, binary mode)
//!
//! Every value is UTF-8 text, as the binding says.
//!
//! | header | envelope field | example |
//! |---|---|---|
//! | `ce_specversion` | — | `1.0` |
//! | `ce_id` | `event_id` | `550e8400-e29b-41d4-a716-446655440000` |
//! | `ce_source` | `metadata.source`, as it is (no percent-encoding: the binding carries attribute values as UTF-8 strings, and the structured form and the CloudEvents SDKs read the same text) | `PRM Service` |
//! | `ce_type` | `event_type` — the plain type name, or `<prefix>.<dotted name>` when the publisher's `type_prefix` is set; the version is in `ce_eventversion` | `PatientCreated` |
//! | `ce_time` | `event_time`, RFC 3339 UTC | `2024-11-24T10:30:00Z` |
//! | `ce_subject` | `aggregate_id` | `patient-123` |
//! | `content-type` | payload encoding | `application/avro` |
//! | `ce_dataschema` | `data_schema` (optional) | |
//! | `ce_eventversion` | `event_version` (integer) | `2` |
//! | `ce_aggregatetype` | `aggregate_type` | `Patient` |
//! | `ce_tenantid`, `ce_correlationid`, `ce_causationid` | same | |
//! | `ce_userid`, `ce_ipaddress` | `metadata.user_id`, `metadata.ip_address` | |
//! | `ce_schemafingerprint` | CRC-64-AVRO of the schema, 16 lowercase hex digits | |
//! | `traceparent` | W3C trace context | `00-<32 hex>-<16 hex>-01` |
//!
//! Optional fields that are absent have no header. Headers never carry event data.
//!
//! Reading, only `ce_specversion`, `ce_id`, `ce_source` and `ce_type` are required (what any
//! conforming producer sends); the rest is optional ([`EnvelopeRef::from_known`]).

use crate::transport::Headers;
use crate::types::Timestamp;
use serde_json::{Value, json};
use std::borrow::Cow;

/// Envelope facts that are not the event's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventMetadata {
    /// The user who caused the event (header `ce_userid`); an identifier, never event data.
    pub user_id: Option<String>,
    /// The producing service (CloudEvents `source`), e.g. `PRM Service`.
    pub source: String,
    /// The client IP address of the request that caused the event (header `ce_ipaddress`).
    pub ip_address: Option<String>,
}

/// Everything about an event except its data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id of the event (`ce_id`); consumers and the store deduplicate by it.
    pub event_id: String,
    /// Plain event type name (`PatientCreated`, `ce_type`), without the version.
    pub event_type: String,
    /// Schema version of the event (`ce_eventversion`), 1 or more.
    pub event_version: u32,
    /// When the event happened (`ce_time`), UTC.
    pub event_time: Timestamp,
    /// Id of the aggregate the event is about (`ce_subject`); the record key, so it picks the
    /// partition.
    pub aggregate_id: String,
    /// Type of that aggregate (`Patient`, `ce_aggregatetype`).
    pub aggregate_type: String,
    /// The tenant the event belongs to (`ce_tenantid`).
    pub tenant_id: Option<String>,
    /// Id shared by every event of one business flow (`ce_correlationid`).
    pub correlation_id: Option<String>,
    /// Id of the event that caused this one (`ce_causationid`).
    pub causation_id: Option<String>,
    /// Who and what produced the event.
    pub metadata: EventMetadata,
    /// CRC-64-AVRO fingerprint of the event's schema.
    pub schema_fingerprint: Option<u64>,
    /// CloudEvents `dataschema` (a URI of the schema), when configured.
    pub data_schema: Option<String>,
    /// W3C `traceparent`.
    pub traceparent: Option<String>,
}

/// An [`Envelope`] read from a record, its text borrowed from the headers where it can be:
/// the consumer builds its handler context from it without copying every field first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvelopeRef<'a> {
    /// See [`Envelope::event_id`].
    pub event_id: Cow<'a, str>,
    /// See [`Envelope::event_type`].
    pub event_type: Cow<'a, str>,
    /// See [`Envelope::event_version`].
    pub event_version: u32,
    /// See [`Envelope::event_time`].
    pub event_time: Timestamp,
    /// See [`Envelope::aggregate_id`].
    pub aggregate_id: Cow<'a, str>,
    /// See [`Envelope::aggregate_type`]; empty when the header is absent.
    pub aggregate_type: Cow<'a, str>,
    /// See [`Envelope::tenant_id`].
    pub tenant_id: Option<Cow<'a, str>>,
    /// See [`Envelope::correlation_id`].
    pub correlation_id: Option<Cow<'a, str>>,
    /// See [`Envelope::causation_id`].
    pub causation_id: Option<Cow<'a, str>>,
    /// See [`EventMetadata::user_id`].
    pub user_id: Option<Cow<'a, str>>,
    /// See [`EventMetadata::source`]; the header's text as it is.
    pub source: Cow<'a, str>,
    /// See [`EventMetadata::ip_address`].
    pub ip_address: Option<Cow<'a, str>>,
    /// See [`Envelope::schema_fingerprint`].
    pub schema_fingerprint: Option<u64>,
    /// See [`Envelope::data_schema`].
    pub data_schema: Option<Cow<'a, str>>,
    /// See [`Envelope::traceparent`].
    pub traceparent: Option<Cow<'a, str>>,
}

impl EnvelopeRef<'_> {
    /// The envelope owning its text (borrowed fields are copied, owned ones moved).
    pub fn into_owned(self) -> Envelope {
        let own = |t: Option<Cow<'_, str>>| t.map(Cow::into_owned);
        Envelope {
            event_id: self.event_id.into_owned(),
            event_type: self.event_type.into_owned(),
            event_version: self.event_version,
            event_time: self.event_time,
            aggregate_id: self.aggregate_id.into_owned(),
            aggregate_type: self.aggregate_type.into_owned(),
            tenant_id: own(self.tenant_id),
            correlation_id: own(self.correlation_id),
            causation_id: own(self.causation_id),
            metadata: EventMetadata {
                user_id: own(self.user_id),
                source: self.source.into_owned(),
                ip_address: own(self.ip_address),
            },
            schema_fingerprint: self.schema_fingerprint,
            data_schema: own(self.data_schema),
            traceparent: own(self.traceparent),
        }
    }
}

impl From<Envelope> for EnvelopeRef<'static> {
    /// An owned envelope's text moved in, not copied.
    fn from(env: Envelope) -> Self {
        let own = |t: Option<String>| t.map(Cow::Owned);
        EnvelopeRef {
            event_id: Cow::Owned(env.event_id),
            event_type: Cow::Owned(env.event_type),
            event_version: env.event_version,
            event_time: env.event_time,
            aggregate_id: Cow::Owned(env.aggregate_id),
            aggregate_type: Cow::Owned(env.aggregate_type),
            tenant_id: own(env.tenant_id),
            correlation_id: own(env.correlation_id),
            causation_id: own(env.causation_id),
            user_id: own(env.metadata.user_id),
            source: Cow::Owned(env.metadata.source),
            ip_address: own(env.metadata.ip_address),
            schema_fingerprint: env.schema_fingerprint,
            data_schema: own(env.data_schema),
            traceparent: own(env.traceparent),
        }
    }
}

/// The first value of each CloudEvents and carebus header name of a record, found in one pass
/// over its headers, as the lookups of `header_str` would find them; and whether any of its
/// other headers is one of carebus's own bookkeeping headers (`carebus_…`).
#[doc(hidden)]
pub struct KnownHeaders<'a> {
    found: [Option<&'a [u8]>; headers::ALL.len()],
    carebus_own: bool,
}

impl<'a> KnownHeaders<'a> {
    #[inline]
    pub fn find<N: AsRef<str>, V: AsRef<[u8]>>(h: &'a [(N, V)]) -> Self {
        let mut found = [None; headers::ALL.len()];
        let mut carebus_own = false;
        for (name, value) in h {
            let name = name.as_ref();
            match known_index(name) {
                Some(i) => {
                    found[i].get_or_insert_with(|| value.as_ref());
                }
                None => carebus_own |= name.starts_with(CAREBUS_PREFIX),
            }
        }
        KnownHeaders { found, carebus_own }
    }

    /// Whether some header is carebus's own (claim check, retry and dead-letter bookkeeping,
    /// reply topic): most records have none, and their lookups can be skipped.
    pub fn any_carebus_own(&self) -> bool {
        self.carebus_own
    }

    /// The text of the header at `index` in [`headers::ALL`] (a value that is not UTF-8
    /// counts as absent).
    fn text(&self, index: usize) -> Option<&'a str> {
        self.found[index].and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The raw value of the header at `index` in [`headers::ALL`], for values compared or
    /// parsed as ASCII without being kept as text.
    fn bytes(&self, index: usize) -> Option<&'a [u8]> {
        self.found[index]
    }

    /// `content-type`, empty when absent.
    pub fn content_type(&self) -> &'a str {
        self.text(const { at(headers::CONTENT_TYPE) })
            .unwrap_or_default()
    }

    /// The W3C `traceparent` header, if present and UTF-8.
    pub fn traceparent(&self) -> Option<&'a str> {
        self.text(const { at(headers::TRACEPARENT) })
    }
}

impl<'a> EnvelopeRef<'a> {
    /// Read the envelope from binary-mode headers, borrowing their text.
    pub fn from_headers<N: AsRef<str>, V: AsRef<[u8]>>(
        h: &'a [(N, V)],
    ) -> Result<EnvelopeRef<'a>, EnvelopeError> {
        Self::from_known(&KnownHeaders::find(h))
    }

    /// Read the envelope from headers already looked up by `KnownHeaders::find` (the
    /// consumer looks them up once for the envelope and its own headers).
    ///
    /// Fails when `ce_specversion` is not `1.0`, when `ce_id`, `ce_type` or `ce_source` is
    /// missing, or when the time, version or fingerprint does not parse. The optional
    /// attributes of the CloudEvents spec may be absent: without `ce_time` the event time is
    /// the time of reading, without `ce_subject` the aggregate id is empty (the decoder takes
    /// it from the event), without `ce_eventversion` the version is 0 (the decoder resolves
    /// it, [`crate::cloudevents::resolve_version`]).
    pub fn from_known(found: &KnownHeaders<'a>) -> Result<EnvelopeRef<'a>, EnvelopeError> {
        use headers::*;
        // The header's index in `found` is worked out at compile time.
        // A header that is there must be text: one that is not is an error, never taken
        // for an absent one (a tenant or time silently dropped).
        macro_rules! optional {
            ($name:ident) => {
                match found.bytes(const { at($name) }) {
                    None => None,
                    Some(v) => {
                        Some(
                            std::str::from_utf8(v).map_err(|_| EnvelopeError::BadHeader {
                                name: $name,
                                reason: "not UTF-8 text".into(),
                            })?,
                        )
                    }
                }
            };
        }
        macro_rules! required {
            ($name:ident) => {
                optional!($name).ok_or(EnvelopeError::MissingHeader($name))
            };
        }
        macro_rules! borrowed {
            ($name:ident) => {
                optional!($name).map(Cow::Borrowed)
            };
        }
        let spec_version = found
            .bytes(const { at(SPECVERSION) })
            .ok_or(EnvelopeError::MissingHeader(SPECVERSION))?;
        if spec_version != SPEC_VERSION.as_bytes() {
            return Err(EnvelopeError::BadHeader {
                name: SPECVERSION,
                reason: format!("expected {SPEC_VERSION}"),
            });
        }
        let event_time = match optional!(TIME) {
            None => Timestamp::now(),
            Some(t) => Timestamp::parse_rfc3339(t).ok_or_else(|| EnvelopeError::BadHeader {
                name: TIME,
                reason: "not an RFC 3339 timestamp in the years 0000-9999".into(),
            })?,
        };
        let event_version = match optional!(EVENT_VERSION) {
            None => 0,
            Some(t) => {
                parse_version(t)
                    .filter(|v| *v > 0)
                    .ok_or_else(|| EnvelopeError::BadHeader {
                        name: EVENT_VERSION,
                        reason: "not a whole version number of 1 or more".into(),
                    })?
            }
        };
        let schema_fingerprint = match found.bytes(const { at(SCHEMA_FINGERPRINT) }) {
            None => None,
            Some(t) => Some(parse_hex_u64(t).ok_or_else(|| EnvelopeError::BadHeader {
                name: SCHEMA_FINGERPRINT,
                reason: "not 16 hex digits".into(),
            })?),
        };
        Ok(EnvelopeRef {
            event_id: Cow::Borrowed(required!(ID)?),
            event_type: Cow::Borrowed(required!(TYPE)?),
            event_version,
            event_time,
            aggregate_id: borrowed!(SUBJECT).unwrap_or_default(),
            aggregate_type: borrowed!(AGGREGATE_TYPE).unwrap_or_default(),
            tenant_id: borrowed!(TENANT_ID),
            correlation_id: borrowed!(CORRELATION_ID),
            causation_id: borrowed!(CAUSATION_ID),
            user_id: borrowed!(USER_ID),
            source: Cow::Borrowed(required!(SOURCE)?),
            ip_address: borrowed!(IP_ADDRESS),
            schema_fingerprint,
            data_schema: borrowed!(DATASCHEMA),
            traceparent: borrowed!(TRACEPARENT),
        })
    }
}

/// An envelope field or header is missing or malformed. Names the field, never its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required header (or member of carebus's former structured form) is absent; holds its name.
    #[error(
        "header `{0}` is missing; was the record produced by carebus or a CloudEvents binary-mode producer?"
    )]
    MissingHeader(&'static str),
    /// A required CloudEvents attribute of a structured-mode event is absent; holds its name.
    #[error(
        "CloudEvents attribute `{0}` is missing; a structured-mode event needs specversion, id, source, type and data (or data_base64)"
    )]
    MissingAttribute(&'static str),
    /// The record names no version of its event type and none could be worked out.
    #[error(
        "the version of {event_type} is unknown: no ce_eventversion, no schema fingerprint in the payload, no version in dataschema, and the topic has several versions of it; send ce_eventversion (or eventversion in structured mode)"
    )]
    UnresolvedVersion {
        /// The event type (a name from the topic's schemas).
        event_type: String,
    },
    /// A header or JSON member has a value that does not parse.
    #[error("header `{name}` is malformed: {reason}")]
    BadHeader {
        /// The header or JSON member.
        name: &'static str,
        /// What it should have been (`"not an RFC 3339 timestamp"`), never the value.
        reason: String,
    },
    /// A field a published event needs is empty or blank; holds its JSON name (`aggregateId`).
    #[error("envelope field `{0}` is required but empty")]
    EmptyField(&'static str),
}

/// The CloudEvents spec version carebus writes and accepts in `ce_specversion`.
pub const SPEC_VERSION: &str = "1.0";

/// CloudEvents and carebus header names (module `headers` of this crate).
pub use crate::headers;
use crate::headers::at;
pub use crate::headers::known_index;

/// The name prefix of carebus's own bookkeeping headers.
pub const CAREBUS_PREFIX: &str = "carebus_";

/// A new random W3C `traceparent` (version 00, sampled).
pub fn new_traceparent() -> String {
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    let trace_id = fastrand::u128(1..);
    push_hex((trace_id >> 64) as u64, &mut out);
    push_hex(trace_id as u64, &mut out);
    out.push('-');
    push_hex(fastrand::u64(1..), &mut out);
    out.push_str("-01");
    out
}

/// A `traceparent` in the same trace as `parent` with a new span id (a child span).
pub fn child_traceparent(parent: &str) -> String {
    let mut parts = parent.split('-');
    let (Some(_), Some(trace_id), Some(_), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return new_traceparent();
    };
    if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return new_traceparent();
    }
    let mut out = String::with_capacity(parent.len());
    out.push_str("00-");
    out.push_str(trace_id);
    out.push('-');
    push_hex(fastrand::u64(1..), &mut out);
    out.push('-');
    out.push_str(flags);
    out
}

/// Append `value` as 16 lower-case hex digits, zero-padded (what `{:016x}` writes, without
/// the formatting machinery: trace ids and fingerprints are written for every event).
fn push_hex(value: u64, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
}

/// Percent-encode every byte that may not appear in a URI-reference (RFC 3986):
/// `PRM Service` → `PRM%20Service`. carebus does not apply it to `ce_source` (the header
/// carries the configured source as it is); use it to configure a source that is a strict
/// URI-reference.
pub fn uri_reference(text: &str) -> String {
    into_uri_reference(text.to_owned())
}

/// [`uri_reference`] of an owned text, kept as it is (no copy) when nothing needs escaping.
fn into_uri_reference(text: String) -> String {
    const KEEP: &[u8] = b"-._~:/?#[]@!$&'()*+,;=";
    let keep = |b: u8| b.is_ascii_alphanumeric() || KEEP.contains(&b);
    if text.bytes().all(keep) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undo [`uri_reference`] (invalid escapes are kept as they are).
pub fn from_uri_reference(text: &str) -> String {
    uri_reference_text(text).into_owned()
}

/// [`from_uri_reference`], borrowing `text` when it has no escapes.
fn uri_reference_text(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Empty or only whitespace. Looks no further than the first character that is not, where
/// `trim` would look from both ends.
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// `1` → `"1.0"`, the brief's `eventVersion` style.
pub fn version_text(version: u32) -> String {
    format!("{version}.0")
}

/// A fingerprint's hex digits (1 to 16 of them, either case), as carebus writes them; no sign
/// (`from_str_radix` alone would take a leading `+`).
fn parse_hex_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    // A byte at a time through a table: `from_str_radix` checks for overflow at every digit,
    // which costs a consumer several times more per record (16 digits cannot overflow).
    const NOT_HEX: u8 = 0xff;
    const VALUE: [u8; 256] = {
        let mut table = [NOT_HEX; 256];
        let mut i = 0;
        while i < 16 {
            table[b"0123456789abcdef"[i] as usize] = i as u8;
            table[b"0123456789ABCDEF"[i] as usize] = i as u8;
            i += 1;
        }
        table
    };
    let mut n = 0u64;
    for &b in text {
        let digit = VALUE[b as usize];
        if digit == NOT_HEX {
            return None;
        }
        n = n << 4 | u64::from(digit);
    }
    Some(n)
}

/// A fingerprint written as hex digits (the `schemafingerprint` attribute).
pub(crate) fn parse_fingerprint(text: &str) -> Option<u64> {
    parse_hex_u64(text.as_bytes())
}

/// Read `"2"`, `"2.0"` (or a JSON number) as version 2.
pub fn parse_version(text: &str) -> Option<u32> {
    let major = text.strip_suffix(".0").unwrap_or(text);
    major.parse().ok()
}

impl Envelope {
    /// Check the fields every published event needs.
    pub fn check(&self) -> Result<(), EnvelopeError> {
        for (name, v) in [
            ("eventId", &self.event_id),
            ("eventType", &self.event_type),
            ("aggregateId", &self.aggregate_id),
            ("aggregateType", &self.aggregate_type),
            ("metadata.source", &self.metadata.source),
        ] {
            if is_blank(v) {
                return Err(EnvelopeError::EmptyField(name));
            }
        }
        for (name, v) in [
            ("tenantId", &self.tenant_id),
            ("correlationId", &self.correlation_id),
            ("causationId", &self.causation_id),
        ] {
            if v.as_deref().is_some_and(is_blank) {
                return Err(EnvelopeError::EmptyField(name));
            }
        }
        if self.event_version == 0 {
            return Err(EnvelopeError::EmptyField("eventVersion"));
        }
        Ok(())
    }

    /// The binary-mode headers (without `content-type`, which the wire format adds).
    pub fn to_headers(&self) -> Headers {
        self.clone().into_headers()
    }

    /// The binary-mode headers, moving the envelope's text into them (what the publisher
    /// does: one allocation per field, not two). Room is left for `content-type`.
    pub fn into_headers(self) -> Headers {
        use headers::*;
        let optional = [
            (TENANT_ID, self.tenant_id),
            (CORRELATION_ID, self.correlation_id),
            (CAUSATION_ID, self.causation_id),
            (USER_ID, self.metadata.user_id),
            (IP_ADDRESS, self.metadata.ip_address),
            (DATASCHEMA, self.data_schema),
            (TRACEPARENT, self.traceparent),
        ];
        let mut h =
            Headers::with_capacity(10 + optional.iter().filter(|(_, v)| v.is_some()).count());
        h.push((SPECVERSION.into(), SPEC_VERSION.into()));
        h.push((ID.into(), self.event_id.into_bytes()));
        h.push((SOURCE.into(), self.metadata.source.into_bytes()));
        h.push((TYPE.into(), self.event_type.into_bytes()));
        h.push((TIME.into(), self.event_time.to_string().into_bytes()));
        h.push((SUBJECT.into(), self.aggregate_id.into_bytes()));
        // Version 0 is "not known" (a record read without one): no header, as it came.
        if self.event_version != 0 {
            let version = self.event_version.to_string();
            h.push((EVENT_VERSION.into(), version.into_bytes()));
        }
        h.push((AGGREGATE_TYPE.into(), self.aggregate_type.into_bytes()));
        for (name, v) in optional {
            if let Some(v) = v {
                h.push((name.into(), v.into_bytes()));
            }
        }
        if let Some(fp) = self.schema_fingerprint {
            let mut hex = String::with_capacity(16);
            push_hex(fp, &mut hex);
            h.push((SCHEMA_FINGERPRINT.into(), hex.into_bytes()));
        }
        h
    }

    /// Read the envelope from binary-mode headers.
    pub fn from_headers<N: AsRef<str>, V: AsRef<[u8]>>(
        h: &[(N, V)],
    ) -> Result<Envelope, EnvelopeError> {
        EnvelopeRef::from_headers(h).map(EnvelopeRef::into_owned)
    }

    /// The brief's JSON envelope, field for field, with `data` as the event's JSON form.
    /// Absent optional fields are `null`.
    pub fn to_json(&self, data: Value) -> Value {
        json!({
            "eventId": self.event_id,
            "eventType": self.event_type,
            "eventVersion": version_text(self.event_version),
            "eventTime": self.event_time.to_string(),
            "aggregateId": self.aggregate_id,
            "aggregateType": self.aggregate_type,
            "tenantId": self.tenant_id,
            "correlationId": self.correlation_id,
            "causationId": self.causation_id,
            "metadata": {
                "userId": self.metadata.user_id,
                "source": self.metadata.source,
                "ipAddress": self.metadata.ip_address,
            },
            "data": data,
        })
    }

    /// Read the brief's JSON envelope; returns the envelope and its `data` member.
    pub fn from_json(v: &Value) -> Result<(Envelope, Value), EnvelopeError> {
        let obj = v.as_object().ok_or_else(|| EnvelopeError::BadHeader {
            name: "value",
            reason: "structured mode needs a JSON object".into(),
        })?;
        let text = |name: &'static str| -> Result<String, EnvelopeError> {
            obj.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(EnvelopeError::MissingHeader(name))
        };
        let opt = |o: &serde_json::Map<String, Value>, name: &str| {
            o.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        let version = match obj.get("eventVersion") {
            Some(Value::String(s)) => parse_version(s),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
        .ok_or_else(|| EnvelopeError::BadHeader {
            name: "eventVersion",
            reason: "expected a version like \"1.0\"".into(),
        })?;
        let event_time = Timestamp::parse_rfc3339(&text("eventTime")?).ok_or_else(|| {
            EnvelopeError::BadHeader {
                name: "eventTime",
                reason: "not an RFC 3339 timestamp in the years 0000-9999".into(),
            }
        })?;
        let empty = serde_json::Map::new();
        let meta = obj
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let env = Envelope {
            event_id: text("eventId")?,
            event_type: text("eventType")?,
            event_version: version,
            event_time,
            aggregate_id: text("aggregateId")?,
            aggregate_type: text("aggregateType")?,
            tenant_id: opt(obj, "tenantId"),
            correlation_id: opt(obj, "correlationId"),
            causation_id: opt(obj, "causationId"),
            metadata: EventMetadata {
                user_id: opt(meta, "userId"),
                source: opt(meta, "source").unwrap_or_default(),
                ip_address: opt(meta, "ipAddress"),
            },
            schema_fingerprint: None,
            data_schema: None,
            traceparent: None,
        };
        let data = obj
            .get("data")
            .cloned()
            .ok_or(EnvelopeError::MissingHeader("data"))?;
        Ok((env, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_hex() {
        for (text, expected) in [
            ("0", Some(0)),
            ("00000000000000ff", Some(255)),
            ("DEADbeef", Some(0xdead_beef)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("", None),
            ("+ff", None),
            ("-1", None),
            ("0x10", None),
            ("1ffffffffffffffff", None),
            ("12 34", None),
        ] {
            assert_eq!(parse_hex_u64(text.as_bytes()), expected, "{text:?}");
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut text = String::new();
            push_hex(x, &mut text);
            assert_eq!(parse_hex_u64(text.as_bytes()), Some(x), "{text}");
        }
    }

    #[test]
    fn an_optional_header_that_is_not_text_is_a_bad_header_not_an_absent_one() {
        // fuzz/regressions/envelope/ce-time-not-utf8 (the smoke run found it): a `ce_time`
        // of non-UTF-8 bytes was taken for a missing one, so the event got the time of
        // reading; a tenant id likewise would have been dropped.
        for header_name in [headers::TIME, headers::TENANT_ID, headers::SUBJECT] {
            let mut h = Envelope {
                event_id: "x".into(),
                event_type: "T".into(),
                event_version: 1,
                aggregate_id: "s".into(),
                tenant_id: Some("t".into()),
                ..Default::default()
            }
            .to_headers();
            for (name, value) in &mut h {
                if name == header_name {
                    *value = vec![0xff, 0xfe, b'x'];
                }
            }
            let err = Envelope::from_headers(&h).unwrap_err();
            assert!(
                matches!(err, EnvelopeError::BadHeader { name, .. } if name == header_name),
                "{header_name}: {err}"
            );
            assert!(EnvelopeRef::from_headers(&h).is_err(), "{header_name}");
        }
    }

    #[test]
    fn ce_time_outside_the_years_0000_to_9999_in_utc_is_a_bad_header() {
        // fuzz/regressions/envelope/ce-time-year-minus-1: read, this envelope's time was
        // written back as `-0001-12-31T23:30:00Z`, which no reader (carebus included) accepts.
        let mut h = Envelope {
            event_id: "x".into(),
            event_type: "T".into(),
            event_version: 1,
            aggregate_id: "s".into(),
            ..Default::default()
        }
        .to_headers();
        for (name, value) in &mut h {
            if name == headers::TIME {
                *value = b"0000-01-01T00:30:00+01:00".to_vec();
            }
        }
        let err = Envelope::from_headers(&h).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::BadHeader { name, .. } if name == headers::TIME),
            "{err}"
        );
        let mut json = Envelope::default().to_json(Value::Null);
        json["eventTime"] = json!("9999-12-31T23:30:00-01:00");
        json["eventVersion"] = json!("1.0");
        let err = Envelope::from_json(&json).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::BadHeader {
                    name: "eventTime",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn from_headers_reads_the_first_of_repeated_headers() {
        let mut h = Envelope {
            event_id: "first".into(),
            event_type: "PatientCreated".into(),
            event_version: 1,
            aggregate_id: "p-1".into(),
            metadata: EventMetadata {
                source: "PRM Service".into(),
                ..Default::default()
            },
            ..Default::default()
        }
        .to_headers();
        h.push((headers::ID.into(), b"second".to_vec()));
        let env = Envelope::from_headers(&h).unwrap();
        assert_eq!(env.event_id, "first");
        assert_eq!(env.metadata.source, "PRM Service");
    }

    fn is_traceparent(t: &str) -> bool {
        let parts: Vec<&str> = t.split('-').collect();
        parts.len() == 4
            && parts[0] == "00"
            && parts[1].len() == 32
            && parts[2].len() == 16
            && parts[3] == "01"
            && t.bytes()
                .all(|b| b == b'-' || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && parts[1] != "0".repeat(32)
            && parts[2] != "0".repeat(16)
    }

    #[test]
    fn hex_digits_are_what_format_writes() {
        for v in [
            0u128,
            1,
            0xabc,
            u128::from(u64::MAX),
            u128::MAX,
            0x0af7_6519_16cd_43dd,
        ] {
            let mut out = String::new();
            push_hex((v >> 64) as u64, &mut out);
            push_hex(v as u64, &mut out);
            assert_eq!(out, format!("{v:032x}"));
            let mut short = String::new();
            push_hex(v as u64, &mut short);
            assert_eq!(short, format!("{:016x}", v as u64));
        }
    }

    #[test]
    fn new_and_child_traceparents_are_w3c_and_children_keep_the_trace() {
        let parent = new_traceparent();
        assert!(is_traceparent(&parent), "{parent}");
        let child = child_traceparent(&parent);
        assert!(is_traceparent(&child), "{child}");
        assert_eq!(child[..35], parent[..35], "same version and trace id");
        assert_ne!(child[36..52], parent[36..52], "a new span id");
        // Not a traceparent: a new trace.
        for bad in [
            "",
            "00-xyz-1-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        ] {
            let fresh = child_traceparent(bad);
            assert!(is_traceparent(&fresh), "{bad} → {fresh}");
        }
    }
}
