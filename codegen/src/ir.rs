//! The IR: schema files (Avro, Protobuf, topic and service manifests) turned into one plain data model that every emitter, the derive macros and the catalog site read.
//!
//! Everything here is owned, serde-serializable data. Every node that came from a file carries
//! a [`Source`] so that diagnostics and the catalog can point back at it.

use serde::{Deserialize, Serialize};

pub mod flow;
pub mod journey;
mod rust;
mod type_text;
pub use rust::{RustEvent, RustTopic, RustType};

/// Where a node was written: file path (as given to the loader), 1-based line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl Source {
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Self {
        Source {
            file: file.into(),
            line,
            column,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// `namespace.name`, or `name` alone in the null namespace (Avro full-name rules).
pub fn full_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

/// The whole domain: what one build of `schemas/` produces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Every event, every version, sorted by (name, version).
    pub events: Vec<Event>,
    /// Named types (records, enums, fixed) shared by events, by full name. Event records
    /// themselves are not listed here; their nested named types are.
    pub types: Vec<NamedType>,
    /// Kafka topics from the topics spec.
    pub topics: Vec<Topic>,
    /// Services from the services manifest (who produces and consumes what).
    pub services: Vec<Service>,
    /// The envelope record (eventId, eventType, ... data), when `schemas/` defines one.
    pub envelope: Option<Record>,
    /// Markdown guides kept beside the schemas (file stem, title, markdown text).
    pub guides: Vec<Guide>,
    /// Patient journeys (`journeys/*.toml`), checked against the events, by (name, version).
    #[serde(default)]
    pub journeys: Vec<journey::Journey>,
    /// The platform's main flows (`flows.toml`), drawn as sequence diagrams.
    #[serde(default)]
    pub flows: Vec<flow::Flow>,
}

/// Which schema language an event was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaFormat {
    Avro,
    Protobuf,
}

/// Schema-registry compatibility modes (Confluent names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    Backward,
    #[default]
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Compatibility {
    pub const ALL: [Compatibility; 7] = [
        Compatibility::Backward,
        Compatibility::BackwardTransitive,
        Compatibility::Forward,
        Compatibility::ForwardTransitive,
        Compatibility::Full,
        Compatibility::FullTransitive,
        Compatibility::None,
    ];

    /// The annotation spelling, e.g. `BACKWARD_TRANSITIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
            Compatibility::None => "NONE",
        }
    }

    pub fn parse(s: &str) -> Option<Compatibility> {
        Compatibility::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Data classification of a field (annotation `classification`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Protected health information: redacted in Debug/Display, logs, errors, DLQ headers;
    /// encrypted per subject in the event store.
    Phi,
    /// Personally identifiable information that is not health information.
    Pii,
    #[default]
    None,
}

impl Classification {
    pub fn parse(s: &str) -> Option<Classification> {
        match s {
            "phi" => Some(Classification::Phi),
            "pii" => Some(Classification::Pii),
            "none" => Some(Classification::None),
            _ => None,
        }
    }
    pub fn is_sensitive(self) -> bool {
        !matches!(self, Classification::None)
    }
}

/// One version of one domain event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unqualified name, e.g. `PatientCreated`. Same across versions.
    pub name: String,
    /// Avro namespace or Protobuf package, e.g. `healthcare.patient`.
    pub namespace: String,
    /// Event version (annotation `event_version`, default 1).
    pub version: u32,
    /// Domain the event belongs to (last segment of the namespace, e.g. `patient`).
    pub domain: String,
    pub format: SchemaFormat,
    pub doc: Option<String>,
    /// Annotation `aggregate_type`, e.g. `Patient`.
    pub aggregate_type: String,
    /// Annotation `aggregate_id`: name of the field holding the aggregate id.
    pub aggregate_id: String,
    /// Annotation `topic`, e.g. `healthcare.patients.events`.
    pub topic: String,
    /// Annotation `compatibility` (default BACKWARD_TRANSITIVE).
    pub compatibility: Compatibility,
    /// Annotation `deprecated`: a reason, when the whole event is deprecated.
    pub deprecated: Option<String>,
    /// The event's payload record.
    pub record: Record,
    /// Schema source text as written (the .avsc JSON, or the .proto file).
    pub schema_text: String,
    /// For Avro: the Parsing Canonical Form. For Protobuf: the canonical descriptor text the
    /// fingerprint is computed from.
    pub canonical_form: String,
    /// CRC-64-AVRO (Rabin) of `canonical_form`.
    pub fingerprint: u64,
    pub source: Source,
    /// The handler and publisher methods generated for this version (the type's names are
    /// on `record.rust`).
    #[serde(default)]
    pub rust: RustEvent,
}

impl Event {
    pub fn key(&self) -> (String, u32) {
        (self.name.clone(), self.version)
    }
    pub fn full_name(&self) -> String {
        full_name(&self.namespace, &self.name)
    }
}

/// A record (Avro record / Protobuf message).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub namespace: String,
    pub doc: Option<String>,
    pub aliases: Vec<String>,
    pub fields: Vec<Field>,
    pub source: Source,
    /// Annotation `deprecated` on a named record: the reason. An event's record leaves it
    /// empty (the event carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// The generated struct's module path and name.
    #[serde(default, skip_serializing_if = "RustType::is_unset")]
    pub rust: RustType,
    /// When the record can contain itself (a linked-list node, a tree, `A` → `B` → `A`): the
    /// full names of the records of its cycle, itself included, sorted; empty otherwise.
    /// Computed once by [`crate::load::recursion`]. A field holding a record of the same cycle
    /// outside an array or map is boxed in Rust, and decoding counts its nesting depth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<String>,
}

impl Record {
    /// Whether the record can contain itself (see [`Record::cycle`]).
    pub fn is_recursive(&self) -> bool {
        !self.cycle.is_empty()
    }
    pub fn full_name(&self) -> String {
        full_name(&self.namespace, &self.name)
    }
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A field of a record, in schema order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Name as written in the schema (camelCase by convention).
    pub name: String,
    pub doc: Option<String>,
    pub ty: Type,
    /// Avro default, as JSON. `None` = no default. In IR JSON a missing key is no default,
    /// and `"default": null` is a null default (kept apart from none by `present`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub default: Option<serde_json::Value>,
    pub aliases: Vec<String>,
    /// Annotation `classification`.
    pub classification: Classification,
    /// Whether the schema wrote `classification` (a default `none` is not a review: analytics
    /// takes only fields classified, or holding an `analytics` rule, or inside a sensitive one).
    #[serde(default, skip_serializing_if = "is_false")]
    pub classified: bool,
    /// Annotation `analytics`: what reaches analytics of this field; `None` = what its
    /// classification implies (`none` kept, `phi`/`pii` dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<Analytics>,
    /// Annotation `examples`: example values in the JSON form.
    pub examples: Vec<serde_json::Value>,
    /// Annotation `deprecated`: the reason.
    pub deprecated: Option<String>,
    /// Protobuf field number (None for Avro).
    pub proto_number: Option<u32>,
    pub source: Source,
    /// The generated struct field's identifier, as written in Rust (`patient_id`, `r#type`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rust: String,
}

impl Field {
    /// The member name in the JSON form: the Avro field name as written (camelCase by
    /// convention); for Protobuf fields the proto3 JSON name, lowerCamelCase
    /// (`analysis_id` → `analysisId`).
    pub fn json_name(&self) -> String {
        if self.proto_number.is_some() {
            heck::ToLowerCamelCase::to_lower_camel_case(self.name.as_str())
        } else {
            self.name.clone()
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Annotation `analytics` on a field: what the de-identified analytics document holds of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Analytics {
    /// The value as it is (only for fields classified `none`).
    Keep,
    /// The value as free text, indexed for full-text search (only for fields classified `none`).
    Text,
    /// Nothing: the field never reaches analytics.
    Drop,
    /// A record's fields, each as its own classification and rule say; those without either
    /// inherit this field's classification (so a `phi` address can keep its postal code's
    /// prefix and drop the rest).
    Fields,
    /// A keyed hash of the value (HMAC-SHA256 with the deployment's key): joins without the value.
    Pseudonymize,
    /// The calendar year of a date or timestamp.
    Year,
    /// A ten-year age band of a birth date at the event's time (`90+` above 89).
    AgeBand,
    /// The first `n` characters of a string (a postal code's region).
    Prefix(u8),
}

impl Analytics {
    /// The values the annotation accepts, for messages.
    pub const SPELLINGS: &'static str =
        "keep, text, drop, fields, pseudonymize, year, age-band, prefix-<n> (e.g. prefix-3)";

    /// Parse the annotation's value (`keep`, `age-band`, `prefix-3`, ...).
    pub fn parse(s: &str) -> Option<Analytics> {
        Some(match s {
            "keep" => Analytics::Keep,
            "text" => Analytics::Text,
            "drop" => Analytics::Drop,
            "fields" => Analytics::Fields,
            "pseudonymize" => Analytics::Pseudonymize,
            "year" => Analytics::Year,
            "age-band" => Analytics::AgeBand,
            _ => {
                let n: u8 = s.strip_prefix("prefix-")?.parse().ok()?;
                if n == 0 {
                    return None;
                }
                Analytics::Prefix(n)
            }
        })
    }

    /// The annotation's spelling.
    pub fn as_str(self) -> String {
        match self {
            Analytics::Keep => "keep".into(),
            Analytics::Text => "text".into(),
            Analytics::Drop => "drop".into(),
            Analytics::Fields => "fields".into(),
            Analytics::Pseudonymize => "pseudonymize".into(),
            Analytics::Year => "year".into(),
            Analytics::AgeBand => "age-band".into(),
            Analytics::Prefix(n) => format!("prefix-{n}"),
        }
    }
}

/// Deserialize a present JSON value, `null` included, as `Some`: an absent key is `None`
/// (through `#[serde(default)]`). Without this a null default would read back as no default.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A type as used by a field. Named types are referenced by full name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Type {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    /// logicalType uuid on string.
    Uuid,
    /// logicalType date on int (days since epoch).
    Date,
    /// logicalType timestamp-millis on long.
    TimestampMillis,
    /// logicalType timestamp-micros on long.
    TimestampMicros,
    /// logicalType timestamp-nanos on long.
    TimestampNanos,
    /// logicalType time-millis on int (milliseconds after midnight).
    TimeMillis,
    /// logicalType time-micros on long (microseconds after midnight).
    TimeMicros,
    /// logicalType local-timestamp-millis on long (no zone).
    LocalTimestampMillis,
    /// logicalType local-timestamp-micros on long (no zone).
    LocalTimestampMicros,
    /// logicalType local-timestamp-nanos on long (no zone).
    LocalTimestampNanos,
    /// logicalType decimal on bytes.
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// logicalType big-decimal on bytes: any number of digits, the scale carried by each
    /// value (Avro 1.12).
    BigDecimal,
    Array {
        items: Box<Type>,
    },
    Map {
        values: Box<Type>,
    },
    /// A union; `["null", T]` is the optional form.
    Union {
        branches: Vec<Type>,
    },
    /// A reference to a named type (record, enum, fixed) by full name.
    Named {
        name: String,
    },
    /// Protobuf-only scalar kinds that have no Avro equivalent keep their wire type here.
    Proto {
        scalar: ProtoScalar,
    },
}

impl Type {
    /// For `["null", T]` (either order) returns `T`.
    pub fn optional_inner(&self) -> Option<&Type> {
        match self {
            Type::Union { branches } if branches.len() == 2 => match (&branches[0], &branches[1]) {
                (Type::Null, t) | (t, Type::Null) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Protobuf scalar types that differ from Avro's on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoScalar {
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
}

impl ProtoScalar {
    /// The Protobuf spelling, e.g. `sint64`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtoScalar::Uint32 => "uint32",
            ProtoScalar::Uint64 => "uint64",
            ProtoScalar::Sint32 => "sint32",
            ProtoScalar::Sint64 => "sint64",
            ProtoScalar::Fixed32 => "fixed32",
            ProtoScalar::Fixed64 => "fixed64",
            ProtoScalar::Sfixed32 => "sfixed32",
            ProtoScalar::Sfixed64 => "sfixed64",
        }
    }
}

/// A named type: record, enum or fixed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NamedType {
    Record(Record),
    Enum(Enum),
    Fixed(Fixed),
}

impl NamedType {
    /// The generated type's names.
    pub fn rust(&self) -> &RustType {
        match self {
            NamedType::Record(r) => &r.rust,
            NamedType::Enum(e) => &e.rust,
            NamedType::Fixed(f) => &f.rust,
        }
    }
    pub fn full_name(&self) -> String {
        match self {
            NamedType::Record(r) => r.full_name(),
            NamedType::Enum(e) => e.full_name(),
            NamedType::Fixed(f) => f.full_name(),
        }
    }
    pub fn source(&self) -> &Source {
        match self {
            NamedType::Record(r) => &r.source,
            NamedType::Enum(e) => &e.source,
            NamedType::Fixed(f) => &f.source,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enum {
    pub name: String,
    pub namespace: String,
    pub doc: Option<String>,
    pub aliases: Vec<String>,
    pub symbols: Vec<EnumSymbol>,
    /// Avro enum `default` symbol (used by readers for unknown symbols).
    pub default: Option<String>,
    /// Open enums keep unknown values (Protobuf: the Rust enum gets an `Unknown(i32)`
    /// fallback); closed enums (Avro) reject them.
    pub open: bool,
    pub source: Source,
    /// Annotation `deprecated`: the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// The generated enum's module path and name.
    #[serde(default, skip_serializing_if = "RustType::is_unset")]
    pub rust: RustType,
}

impl Enum {
    pub fn full_name(&self) -> String {
        full_name(&self.namespace, &self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnumSymbol {
    pub name: String,
    /// Protobuf enum number; for Avro the ordinal.
    pub number: i32,
    pub doc: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fixed {
    pub name: String,
    pub namespace: String,
    pub doc: Option<String>,
    pub aliases: Vec<String>,
    pub size: u32,
    /// The logical type the fixed carries (`uuid`, `decimal`, `duration`), when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical: Option<FixedLogical>,
    pub source: Source,
    /// The generated struct's module path and name.
    #[serde(default, skip_serializing_if = "RustType::is_unset")]
    pub rust: RustType,
}

impl Fixed {
    pub fn full_name(&self) -> String {
        full_name(&self.namespace, &self.name)
    }
}

/// A logical type on a `fixed`: its bytes stay the value; the generated type converts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "logicalType", rename_all = "camelCase")]
pub enum FixedLogical {
    /// `uuid` on a fixed of 16: the UUID's 16 bytes.
    Uuid,
    /// `decimal` on a fixed: the unscaled value in big-endian two's complement, sign-extended.
    Decimal { precision: u32, scale: u32 },
    /// `duration` on a fixed of 12: months, days and milliseconds, little-endian u32s.
    Duration,
}

impl FixedLogical {
    /// The `logicalType` spelling.
    pub fn name(self) -> &'static str {
        match self {
            FixedLogical::Uuid => "uuid",
            FixedLogical::Decimal { .. } => "decimal",
            FixedLogical::Duration => "duration",
        }
    }
}

/// A Kafka topic from the topics spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub doc: Option<String>,
    pub partitions: u32,
    pub replication_factor: u16,
    /// `retention.ms`; None = broker default / infinite when compacted.
    pub retention_ms: Option<i64>,
    /// cleanup.policy compact (true) or delete (false).
    pub compacted: bool,
    pub min_insync_replicas: Option<u16>,
    /// Other topic configs passed through verbatim (e.g. `compression.type`).
    pub configs: Vec<(String, String)>,
    /// What the record key holds (e.g. `aggregate id (patientId)`).
    pub key: String,
    /// How many retry topics (`<name>.retry.1` …) consumers of it may use.
    #[serde(default)]
    pub retry_levels: u32,
    /// Whether it has a dead-letter topic (`<name>.dlq`).
    #[serde(default = "yes")]
    pub dead_letter: bool,
    pub source: Source,
    /// The generated per-topic items' names.
    #[serde(default)]
    pub rust: RustTopic,
}

fn yes() -> bool {
    true
}

/// The topics carebus writes on behalf of one topic, derived from its spec: its dead-letter
/// topic and its retry topics. The names follow the runtime's convention
/// (`carebus_core::dead_letter::{dlq_topic, retry_topic}`; a test holds the two together).
impl Topic {
    /// `<name>.dlq`, when the topic has one.
    pub fn dead_letter_topic(&self) -> Option<String> {
        self.dead_letter.then(|| format!("{}.dlq", self.name))
    }

    /// `<name>.retry.1` … `<name>.retry.<retry_levels>`.
    pub fn retry_topics(&self) -> Vec<String> {
        (1..=self.retry_levels)
            .map(|level| format!("{}.retry.{level}", self.name))
            .collect()
    }
}

/// The topic publishers send events to that the transport refused for good
/// (`PublisherConfig::dead_letter_topic`'s default).
pub const PUBLISH_DEAD_LETTER_TOPIC: &str = "carebus.publish.dlq";

/// A service from the services manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub doc: Option<String>,
    /// Event names this service publishes.
    pub produces: Vec<String>,
    /// Event names this service consumes.
    pub consumes: Vec<String>,
    /// The service's HTTP API, in the order the manifest lists it.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// The settings the service reads at start (environment variables).
    #[serde(default)]
    pub settings: Vec<Setting>,
    pub source: Source,
}

/// One route of a service's HTTP API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The route as the router declares it, parameters in braces: `/patients/{id}`.
    pub path: String,
    pub doc: String,
}

/// One setting of a service: an environment variable, its default and what it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub doc: String,
    /// `None` when the setting is required.
    #[serde(default)]
    pub default: Option<String>,
}

/// A Markdown guide kept beside the schemas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guide {
    pub slug: String,
    pub title: String,
    pub markdown: String,
}

impl Model {
    pub fn named_type(&self, full_name: &str) -> Option<&NamedType> {
        self.types.iter().find(|t| t.full_name() == full_name)
    }
    /// All versions of an event, oldest first.
    pub fn versions(&self, name: &str) -> Vec<&Event> {
        let mut v: Vec<&Event> = self.events.iter().filter(|e| e.name == name).collect();
        v.sort_by_key(|e| e.version);
        v
    }
    /// The newest version of each event, in name order.
    pub fn latest_events(&self) -> Vec<&Event> {
        let mut out: Vec<&Event> = Vec::new();
        for e in &self.events {
            match out.iter_mut().find(|o| o.name == e.name) {
                Some(o) if o.version < e.version => *o = e,
                Some(_) => {}
                None => out.push(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }
    /// The newest version of the event `name`.
    pub fn newest(&self, name: &str) -> Option<&Event> {
        self.events
            .iter()
            .filter(|e| e.name == name)
            .max_by_key(|e| e.version)
    }
}
