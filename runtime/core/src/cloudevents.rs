//! CloudEvents attributes turned into carebus events and back: the JSON event format (structured mode), `ce_type` values mapped to a topic's event types, and an event's version found when a producer does not send `eventversion`.
//!
//! # Structured mode (CloudEvents JSON event format)
//!
//! carebus writes one JSON object per record value, `content-type: application/cloudevents+json`:
//!
//! | attribute | from | example |
//! |---|---|---|
//! | `specversion` | — | `"1.0"` |
//! | `id`, `source`, `type`, `time`, `subject` | `event_id`, `metadata.source`, the emitted type, `event_time`, `aggregate_id` | |
//! | `datacontenttype` | — | `"application/json"` |
//! | `dataschema` | `data_schema`, when configured | |
//! | `data` | the event's JSON form | |
//! | `eventversion` | `event_version`, a JSON number | `2` |
//! | `aggregatetype`, `tenantid`, `correlationid`, `causationid`, `userid`, `ipaddress` | same (absent ones omitted) | |
//! | `schemafingerprint` | 16 lower-case hex digits | |
//! | `traceparent` | W3C trace context (the distributed-tracing extension) | |
//!
//! Reading accepts any event of the format: `specversion` (`1.0`), `id`, `source` and `type`
//! are required (a missing one is an error naming it); `time` is optional (the time of reading
//! when absent); `data` (JSON) or `data_base64` (the payload bytes, decoded by its
//! `datacontenttype` like a binary-mode value); extension names must be lower-case letters and
//! digits. The version is resolved as in binary mode ([`resolve_version`]).

use crate::envelope::{Envelope, EnvelopeError, EventMetadata, SPEC_VERSION, parse_version};
use crate::topic::EventInfo;
use crate::types::Timestamp;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The extension attributes carebus writes (structured mode; `ce_` + the name in binary mode).
pub const EXTENSIONS: [&str; 8] = [
    "eventversion",
    "aggregatetype",
    "tenantid",
    "correlationid",
    "causationid",
    "userid",
    "ipaddress",
    "schemafingerprint",
];

/// Which of a topic's event types a CloudEvents `type` names.
///
/// A `type` equal to an event type name (`PatientCreated`) always names it. Beyond that:
/// [`CeTypes::map`] names one `type` value explicitly, and [`CeTypes::prefix`] accepts every
/// `<prefix>.<name>` whose `<name>`, ignoring case and anything but letters and digits, is an
/// event type name: with prefix `org.example.healthcare`, both
/// `org.example.healthcare.patient.created` and `org.example.healthcare.PatientCreated` name
/// `PatientCreated`. The default accepts plain names only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CeTypes {
    exact: HashMap<String, String>,
    prefixes: Vec<String>,
}

impl CeTypes {
    /// Plain event type names only.
    pub fn new() -> Self {
        CeTypes::default()
    }

    /// `ce_type` (e.g. `com.acme.patient.registered`) names the event type `event_type`.
    pub fn map(mut self, ce_type: impl Into<String>, event_type: impl Into<String>) -> Self {
        self.exact.insert(ce_type.into(), event_type.into());
        self
    }

    /// Accept reverse-DNS types `<prefix>.<name>` (the prefix without its trailing dot).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        self.prefixes.push(prefix.trim_end_matches('.').to_owned());
        self
    }

    /// The event type among `events` that `ce_type` names, if any.
    pub fn resolve(&self, ce_type: &str, events: &'static [EventInfo]) -> Option<&'static str> {
        let known = |name: &str| {
            events
                .iter()
                .find(|i| i.event_type == name)
                .map(|i| i.event_type)
        };
        if let Some(t) = known(ce_type) {
            return Some(t);
        }
        if let Some(t) = self.exact.get(ce_type).and_then(|t| known(t)) {
            return Some(t);
        }
        self.prefixes.iter().find_map(|prefix| {
            let rest = ce_type.strip_prefix(prefix.as_str())?.strip_prefix('.')?;
            let wanted = squash(rest);
            events
                .iter()
                .find(|i| squash(i.event_type) == wanted)
                .map(|i| i.event_type)
        })
    }
}

/// Letters and digits only, lower-cased: `patient.created` and `PatientCreated` are equal.
fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The reverse-DNS `type` carebus emits for `event_type` under `prefix`:
/// `org.example.healthcare` + `PatientCreated` → `org.example.healthcare.patient.created`.
pub fn reverse_dns_type(prefix: &str, event_type: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + event_type.len() + 4);
    out.push_str(prefix.trim_end_matches('.'));
    let mut previous: Option<char> = None;
    for c in event_type.chars() {
        let boundary = c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
        if previous.is_none() || boundary {
            out.push('.');
        }
        out.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    out
}

/// A version named by a `dataschema` URI: the last `v<digits>` that stands alone
/// (`https://schemas.example/PatientCreated.v2`, `urn:x:patient_created:v3`, `…/v1.avsc`).
pub fn version_in_dataschema(uri: &str) -> Option<u32> {
    let bytes = uri.as_bytes();
    let mut found = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'v' && b != b'V' {
            continue;
        }
        if i > 0 && bytes[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        let end = i + 1 + digits;
        if digits == 0 || bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        if let Ok(v) = uri[i + 1..end].parse::<u32>() {
            found = Some(v);
        }
    }
    found.filter(|v| *v > 0)
}

/// The version of `event_type` (already resolved to a topic's name) when the producer sent no
/// `eventversion`: the version of the schema whose fingerprint the payload carries, else the
/// one `dataschema` names, else the only version of that type in `events`.
pub fn resolve_version(
    event_type: &str,
    fingerprint: Option<u64>,
    data_schema: Option<&str>,
    events: &[EventInfo],
) -> Result<u32, EnvelopeError> {
    let of_type = || events.iter().filter(|i| i.event_type == event_type);
    if let Some(fp) = fingerprint
        && let Some(info) = of_type().find(|i| i.fingerprint == fp)
    {
        return Ok(info.version);
    }
    if let Some(v) = data_schema.and_then(version_in_dataschema)
        && of_type().any(|i| i.version == v)
    {
        return Ok(v);
    }
    let mut versions = of_type().map(|i| i.version);
    match (versions.next(), versions.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(EnvelopeError::UnresolvedVersion {
            event_type: event_type.to_owned(),
        }),
    }
}

/// Whether `name` is a valid CloudEvents attribute name: lower-case ASCII letters and digits.
pub fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The data of a structured-mode event.
#[derive(Clone, Debug, PartialEq)]
pub enum StructuredData {
    /// `data`: JSON (`datacontenttype` absent, `application/json` or `…+json`).
    Json(Value),
    /// `data_base64`: the payload bytes and their `datacontenttype` (empty when absent).
    Bytes {
        /// The decoded bytes.
        payload: Vec<u8>,
        /// `datacontenttype`, e.g. `application/avro`.
        content_type: String,
    },
}

// `event_type` is the `type` carebus emits (a plain name, or a reverse-DNS one).
impl Envelope {
    /// The CloudEvents JSON event format of this envelope with `data` (the event's JSON form).
    pub fn to_cloudevent(&self, data: Value) -> Value {
        let mut o = Map::with_capacity(20);
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("specversion", SPEC_VERSION.into());
        put("id", self.event_id.clone().into());
        put("source", self.metadata.source.clone().into());
        put("type", self.event_type.clone().into());
        put("time", self.event_time.to_string().into());
        put("subject", self.aggregate_id.clone().into());
        put("datacontenttype", "application/json".into());
        if let Some(s) = &self.data_schema {
            put("dataschema", s.clone().into());
        }
        // Version 0 is "not known" (an event read without one): left out, as it came.
        if self.event_version != 0 {
            put("eventversion", self.event_version.into());
        }
        put("aggregatetype", self.aggregate_type.clone().into());
        for (k, v) in [
            ("tenantid", &self.tenant_id),
            ("correlationid", &self.correlation_id),
            ("causationid", &self.causation_id),
            ("userid", &self.metadata.user_id),
            ("ipaddress", &self.metadata.ip_address),
            ("traceparent", &self.traceparent),
        ] {
            if let Some(v) = v {
                put(k, v.clone().into());
            }
        }
        if let Some(fp) = self.schema_fingerprint {
            put("schemafingerprint", format!("{fp:016x}").into());
        }
        put("data", data);
        Value::Object(o)
    }

    /// Read a CloudEvents JSON event. The version is 0 when the event has no `eventversion`
    /// (the caller resolves it with [`resolve_version`]); the aggregate id is empty without
    /// `subject`, the aggregate type empty without `aggregatetype`.
    pub fn from_cloudevent(v: &Value) -> Result<(Envelope, StructuredData), EnvelopeError> {
        let obj = v.as_object().ok_or_else(|| EnvelopeError::BadHeader {
            name: "value",
            reason: "a structured-mode value is a JSON object".into(),
        })?;
        if !obj
            .keys()
            .all(|k| k == "data_base64" || is_attribute_name(k))
        {
            return Err(EnvelopeError::BadHeader {
                name: "attribute name",
                reason: "CloudEvents attribute names are lower-case letters and digits only".into(),
            });
        }
        let text = |name| attribute(obj, name);
        let required = |name| attribute(obj, name)?.ok_or(EnvelopeError::MissingAttribute(name));
        let opt = |name| Ok::<_, EnvelopeError>(attribute(obj, name)?.map(str::to_owned));
        if required("specversion")? != SPEC_VERSION {
            return Err(EnvelopeError::BadHeader {
                name: "specversion",
                reason: format!("expected {SPEC_VERSION}"),
            });
        }
        let event_time = match text("time")? {
            None => Timestamp::now(),
            Some(t) => Timestamp::parse_rfc3339(t).ok_or_else(|| EnvelopeError::BadHeader {
                name: "time",
                reason: "not an RFC 3339 timestamp in the years 0000-9999".into(),
            })?,
        };
        let event_version = match obj.get("eventversion") {
            None | Some(Value::Null) => Some(0),
            Some(Value::String(s)) => parse_version(s).filter(|v| *v > 0),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|v| *v > 0),
            Some(_) => None,
        }
        .ok_or_else(|| EnvelopeError::BadHeader {
            name: "eventversion",
            reason: "not a whole version number of 1 or more".into(),
        })?;
        let schema_fingerprint = match text("schemafingerprint")? {
            None => None,
            Some(t) => Some(crate::envelope::parse_fingerprint(t).ok_or_else(|| {
                EnvelopeError::BadHeader {
                    name: "schemafingerprint",
                    reason: "not 16 hex digits".into(),
                }
            })?),
        };
        let content_type = opt("datacontenttype")?.unwrap_or_default();
        let data = match (obj.get("data"), text("data_base64")?) {
            (Some(_), Some(_)) => {
                return Err(EnvelopeError::BadHeader {
                    name: "data_base64",
                    reason: "an event has `data` or `data_base64`, not both".into(),
                });
            }
            (None, Some(b64)) => {
                use base64::Engine as _;
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| EnvelopeError::BadHeader {
                        name: "data_base64",
                        reason: "not base64".into(),
                    })?;
                StructuredData::Bytes {
                    payload,
                    content_type,
                }
            }
            (Some(data), None) => {
                if !(content_type.is_empty()
                    || content_type.starts_with("application/json")
                    || content_type
                        .split(';')
                        .next()
                        .is_some_and(|t| t.ends_with("+json")))
                {
                    return Err(EnvelopeError::BadHeader {
                        name: "datacontenttype",
                        reason:
                            "`data` in a JSON event is JSON; send other payloads as `data_base64`"
                                .into(),
                    });
                }
                StructuredData::Json(data.clone())
            }
            (None, None) => return Err(EnvelopeError::MissingAttribute("data")),
        };
        let env = Envelope {
            event_id: required("id")?.to_owned(),
            event_type: required("type")?.to_owned(),
            event_version,
            event_time,
            aggregate_id: opt("subject")?.unwrap_or_default(),
            aggregate_type: opt("aggregatetype")?.unwrap_or_default(),
            tenant_id: opt("tenantid")?,
            correlation_id: opt("correlationid")?,
            causation_id: opt("causationid")?,
            metadata: EventMetadata {
                user_id: opt("userid")?,
                source: required("source")?.to_owned(),
                ip_address: opt("ipaddress")?,
            },
            schema_fingerprint,
            data_schema: opt("dataschema")?,
            traceparent: opt("traceparent")?,
        };
        Ok((env, data))
    }
}

/// The text of a string attribute; absent or `null` is `None`, another JSON type an error.
fn attribute<'v>(
    obj: &'v Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'v str>, EnvelopeError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EnvelopeError::BadHeader {
            name,
            reason: "expected a JSON string".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
