//! The traits generated events implement: `DomainEvent` (identity, topic, schema) plus the Avro binary and JSON codecs.

use crate::avro::{self, Reader};
use crate::error::{DecodeError, ValidationError};
use crate::types::{Date, Decimal, Phi, Timestamp, TimestampMillis, Uuid};
use serde_json::Value;
use std::collections::BTreeMap;

/// How an event's payload is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// Avro binary datum (the schema is the event's `.avsc`).
    Avro,
    /// Protobuf message (the schema is the event's `.proto`).
    Protobuf,
}

impl PayloadFormat {
    /// The MIME type used in the `content-type` header.
    pub fn content_type(self) -> &'static str {
        match self {
            PayloadFormat::Avro => "application/avro",
            PayloadFormat::Protobuf => "application/protobuf",
        }
    }
}

/// A versioned domain event generated from a schema (or derived from a hand-written struct).
pub trait DomainEvent: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Event type name, e.g. `PatientCreated` (same for every version).
    const EVENT_TYPE: &'static str;
    /// Schema version of this Rust type.
    const EVENT_VERSION: u32;
    /// Aggregate type, e.g. `Patient`.
    const AGGREGATE_TYPE: &'static str;
    /// Kafka topic the event is published to.
    const TOPIC: &'static str;
    /// Schema text: Avro schema JSON (self-contained) or the Protobuf source.
    const SCHEMA: &'static str;
    /// CRC-64-AVRO fingerprint of the Parsing Canonical Form (Protobuf: of the descriptor).
    const FINGERPRINT: u64;
    /// Payload encoding.
    const FORMAT: PayloadFormat;
    /// Paths of fields classified PHI (e.g. `name.family`), for redaction and encryption.
    const PHI_FIELDS: &'static [&'static str];
    /// The fields that reach analytics and how each is de-identified (generated from the
    /// field classifications; see [`crate::deidentify`]). Empty by default: an event without a
    /// plan contributes only its envelope to analytics.
    const ANALYTICS: &'static [crate::deidentify::FieldRule] = &[];

    /// The aggregate id (the partition key), from the field named by `aggregate_id`.
    fn aggregate_id(&self) -> String;
    /// Append the payload (Avro datum or Protobuf message) to `out`.
    fn encode_payload(&self, out: &mut Vec<u8>);
    /// Decode a payload written with exactly this version's schema.
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError>;
    /// The event's data in its JSON form: Avro's JSON encoding for Avro events (unions as
    /// `{"<branch>": value}`, bytes as ISO-8859-1 text, logical types as their underlying type);
    /// for Protobuf events carebus's JSON form (camelCase fields, RFC 3339 timestamps).
    fn to_json(&self) -> Value;
    /// Read the JSON form.
    fn from_json(value: &Value) -> Result<Self, DecodeError>;
    /// Read carebus's JSON form from before Avro's JSON encoding (see [`crate::json_legacy`]):
    /// an Avro event's value is upcast with its schema, a Protobuf event's form did not change.
    fn from_legacy_json(value: &Value) -> Result<Self, DecodeError> {
        match Self::FORMAT {
            PayloadFormat::Avro => {
                Self::from_json(&crate::json_legacy::upcast(Self::SCHEMA, value)?)
            }
            PayloadFormat::Protobuf => Self::from_json(value),
        }
    }
    /// Check schema constraints that the type system does not (decimal precision, non-empty
    /// aggregate id, ...). Called before anything is published or stored.
    fn validate(&self) -> Result<(), ValidationError> {
        if self.aggregate_id().is_empty() {
            return Err(ValidationError {
                event_type: Self::EVENT_TYPE,
                field: "aggregate id".into(),
                rule: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

/// Direct Avro binary encoding of one value (no `apache_avro::types::Value` in between).
pub trait AvroCodec: Sized {
    /// Append the value's Avro binary encoding to `out`.
    fn encode_avro(&self, out: &mut Vec<u8>);
    /// Read one value from `r`; fails on truncated or malformed bytes, never panics.
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// The JSON form of one value: Avro's JSON encoding of the value's schema type. The runtime's
/// impls cover values outside unions; `Option<T>` here is the bare value or null, and the
/// generated code writes a union (an optional field included) as `{"<branch>": value}` itself,
/// as it knows the branch's name.
pub trait JsonCodec: Sized {
    /// The value's JSON form (PHI included: this is data, not a log line).
    fn to_json(&self) -> Value;
    /// `field` names the value's place for error messages (never its content).
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError>;
}

fn wrong(field: &str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType {
        field: field.to_string(),
        expected,
    }
}

macro_rules! avro_prim {
    ($t:ty, $w:ident, $r:ident) => {
        impl AvroCodec for $t {
            #[inline]
            fn encode_avro(&self, out: &mut Vec<u8>) {
                avro::$w(out, *self)
            }
            #[inline]
            fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$r()
            }
        }
    };
}
avro_prim!(i32, write_int, read_int);
avro_prim!(i64, write_long, read_long);
avro_prim!(bool, write_boolean, read_boolean);
avro_prim!(f32, write_float, read_float);
avro_prim!(f64, write_double, read_double);

impl AvroCodec for String {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_string(out, self)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}
impl AvroCodec for Vec<u8> {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_bytes(out, self)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bytes()
    }
}
impl AvroCodec for Uuid {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 36];
        avro::write_string(out, self.0.hyphenated().encode_lower(&mut buf))
    }
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let s = r.read_string()?;
        Uuid::parse(&s).map_err(|e| DecodeError::Malformed {
            what: "uuid",
            detail: e.to_string(),
        })
    }
}
impl AvroCodec for Date {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_int(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_int().map(Date)
    }
}
impl AvroCodec for Timestamp {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_long(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_long().map(Timestamp)
    }
}
impl AvroCodec for TimestampMillis {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_long(out, self.0)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_long().map(TimestampMillis)
    }
}
impl AvroCodec for Decimal {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_bytes(out, &self.to_be_bytes())
    }
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.read_bytes()?;
        Decimal::from_be_bytes(&b).ok_or_else(|| DecodeError::Malformed {
            what: "decimal",
            detail: format!("{} bytes is wider than 128 bits", b.len()),
        })
    }
}
impl<T: AvroCodec> AvroCodec for Phi<T> {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        self.expose().encode_avro(out)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode_avro(r).map(Phi::new)
    }
}
/// A boxed value (a recursive record held by itself) is encoded as the value.
impl<T: AvroCodec> AvroCodec for Box<T> {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        (**self).encode_avro(out)
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode_avro(r).map(Box::new)
    }
}
/// `Option<T>` is the union `["null", T]` (null first, branch 0).
impl<T: AvroCodec> AvroCodec for Option<T> {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        match self {
            None => avro::write_long(out, 0),
            Some(v) => {
                avro::write_long(out, 1);
                v.encode_avro(out)
            }
        }
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_union_index(2)? {
            0 => Ok(None),
            _ => T::decode_avro(r).map(Some),
        }
    }
}
impl<T: AvroCodec> AvroCodec for Vec<T> {
    #[inline]
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_array(out, self, |o, v| v.encode_avro(o))
    }
    #[inline]
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_blocks("array", T::decode_avro)
    }
}
impl<T: AvroCodec> AvroCodec for BTreeMap<String, T> {
    fn encode_avro(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            avro::write_long(out, self.len() as i64);
            for (k, v) in self {
                avro::write_string(out, k);
                v.encode_avro(out);
            }
        }
        out.push(0);
    }
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pairs = r.read_blocks("map", |r| Ok((r.read_string()?, T::decode_avro(r)?)))?;
        Ok(pairs.into_iter().collect())
    }
}

impl JsonCodec for i32 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| wrong(field, "a 32-bit integer"))
    }
}
impl JsonCodec for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_i64().ok_or_else(|| wrong(field, "a 64-bit integer"))
    }
}
impl JsonCodec for bool {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_bool().ok_or_else(|| wrong(field, "true or false"))
    }
}
/// A float in the JSON form: a number, or for the values JSON has no number for the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"`, as Protobuf's JSON mapping writes them. (Written
/// as `null`, a NaN read from Avro or Protobuf turned an optional field into absent.)
fn float_to_json(v: f64) -> Value {
    match serde_json::Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => Value::String("NaN".into()),
        None if v > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Read what [`float_to_json`] writes.
fn float_from_json(v: &Value, field: &str) -> Result<f64, DecodeError> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| wrong(field, "a number, \"NaN\", \"Infinity\" or \"-Infinity\""))
}

impl JsonCodec for f32 {
    fn to_json(&self) -> Value {
        float_to_json(f64::from(*self))
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        float_from_json(v, field).map(|f| f as f32)
    }
}
impl JsonCodec for f64 {
    fn to_json(&self) -> Value {
        float_to_json(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        float_from_json(v, field)
    }
}
impl JsonCodec for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(field, "a string"))
    }
}
/// Bytes in JSON are a string whose code points U+0000–U+00FF are the bytes (ISO-8859-1), as
/// Avro's JSON encoding writes `bytes` and `fixed`.
impl JsonCodec for Vec<u8> {
    fn to_json(&self) -> Value {
        Value::String(bytes_to_json_text(self))
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_str()
            .and_then(bytes_from_json_text)
            .ok_or_else(|| wrong(field, "bytes as a string of code points U+0000-U+00FF"))
    }
}

/// The Avro JSON text of `bytes`/`fixed`: one code point per byte (ISO-8859-1).
pub fn bytes_to_json_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Read what [`bytes_to_json_text`] writes; `None` when a code point is above U+00FF.
pub fn bytes_from_json_text(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

impl JsonCodec for Uuid {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_str()
            .and_then(|s| Uuid::parse(s).ok())
            .ok_or_else(|| wrong(field, "a UUID string"))
    }
}
/// Logical types are their underlying type in Avro's JSON encoding: a `date` is the `int` of
/// days since 1970-01-01, a timestamp the `long` count since the Unix epoch.
impl JsonCodec for Date {
    fn to_json(&self) -> Value {
        Value::from(self.0)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        i32::from_json(v, field)
            .map(Date)
            .map_err(|_| wrong(field, "a date as days since 1970-01-01 (int)"))
    }
}
impl JsonCodec for Timestamp {
    fn to_json(&self) -> Value {
        Value::from(self.0)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_i64().map(Timestamp).ok_or_else(|| {
            wrong(
                field,
                "a timestamp as microseconds since the Unix epoch (long)",
            )
        })
    }
}
impl JsonCodec for TimestampMillis {
    fn to_json(&self) -> Value {
        Value::from(self.0)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_i64().map(TimestampMillis).ok_or_else(|| {
            wrong(
                field,
                "a timestamp as milliseconds since the Unix epoch (long)",
            )
        })
    }
}
impl<T: JsonCodec> JsonCodec for Phi<T> {
    fn to_json(&self) -> Value {
        self.expose().to_json()
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        T::from_json(v, field).map(Phi::new)
    }
}
impl<T: JsonCodec> JsonCodec for Box<T> {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        T::from_json(v, field).map(Box::new)
    }
}
impl<T: JsonCodec> JsonCodec for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        if v.is_null() {
            Ok(None)
        } else {
            T::from_json(v, field).map(Some)
        }
    }
}
impl<T: JsonCodec> JsonCodec for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_array()
            .ok_or_else(|| wrong(field, "an array"))?
            .iter()
            .enumerate()
            .map(|(i, x)| T::from_json(x, &format!("{field}[{i}]")))
            .collect()
    }
}
impl<T: JsonCodec> JsonCodec for BTreeMap<String, T> {
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_object()
            .ok_or_else(|| wrong(field, "an object"))?
            .iter()
            .map(|(k, x)| Ok((k.clone(), T::from_json(x, &format!("{field}.{k}"))?)))
            .collect()
    }
}

/// A `decimal` (on `bytes`) of `precision` digits in Avro's JSON encoding: its bytes
/// (big-endian two's complement, at the precision's width) as ISO-8859-1 text; the generated
/// code passes the precision, so `Decimal` has helpers instead of a `JsonCodec` impl.
pub fn decimal_to_json(d: &Decimal, precision: u32) -> Value {
    Value::String(bytes_to_json_text(&decimal_avro_bytes(d, precision)))
}

/// Read what [`decimal_to_json`] writes (any width up to 16 bytes).
pub fn decimal_from_json(v: &Value, field: &str) -> Result<Decimal, DecodeError> {
    let bytes = Vec::<u8>::from_json(v, field)?;
    Decimal::from_be_bytes(&bytes).ok_or_else(|| wrong(field, "a decimal of at most 16 bytes"))
}

/// A union value that is not null in Avro's JSON encoding: `{"<branch>": value}`, where the
/// branch is the type's full name (named types), primitive name, `array` or `map`.
pub fn json_union(branch: &str, value: Value) -> Value {
    let mut obj = serde_json::Map::with_capacity(1);
    obj.insert(branch.to_owned(), value);
    Value::Object(obj)
}

/// The value of a union written as `{"<branch>": value}` when its one key is `branch`;
/// `None` for any other key (another branch) or shape.
pub fn json_union_branch<'v>(v: &'v Value, branch: &str) -> Option<&'v Value> {
    match v.as_object() {
        Some(obj) if obj.len() == 1 => obj.get(branch),
        _ => None,
    }
}

/// An optional value (the union `["null", T]` or `[T, "null"]`) in Avro's JSON encoding:
/// `null`, or `{"<branch>": value}` with `branch` T's name (what the generated code passes).
pub fn option_to_json<T: JsonCodec>(v: &Option<T>, branch: &str) -> Value {
    match v {
        Some(v) => json_union(branch, v.to_json()),
        None => Value::Null,
    }
}

/// Read what [`option_to_json`] writes; `expected` names the form for the error
/// (`null or {"string": value} ...`).
pub fn option_from_json<T: JsonCodec>(
    v: &Value,
    branch: &str,
    expected: &'static str,
    field: &str,
) -> Result<Option<T>, DecodeError> {
    if v.is_null() {
        return Ok(None);
    }
    T::from_json(json_union_value(v, branch, expected, field)?, field).map(Some)
}

/// [`json_union_branch`] for a union whose only non-null branch is `branch` (an optional
/// field): anything else is an error naming the field and `expected` (the generated code
/// passes `null or {"<branch>": ...}`).
pub fn json_union_value<'v>(
    v: &'v Value,
    branch: &str,
    expected: &'static str,
    field: &str,
) -> Result<&'v Value, DecodeError> {
    json_union_branch(v, branch).ok_or_else(|| wrong(field, expected))
}

/// The member `name` of a record in Avro's JSON encoding, also where the record is a union's
/// value (`{"<branch>": {...}}`, an optional nested record): what a dotted field path (a PHI
/// path, `name.family`) walks through.
pub fn json_member_mut<'v>(v: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    let obj = v.as_object_mut()?;
    if obj.contains_key(name) {
        return obj.get_mut(name);
    }
    if obj.len() != 1 {
        return None;
    }
    match obj.values_mut().next() {
        Some(inner @ Value::Object(_)) => json_member_mut(inner, name),
        _ => None,
    }
}

/// [`json_member_mut`] without `mut`.
pub fn json_member<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    match obj.get(name) {
        Some(m) => Some(m),
        None if obj.len() == 1 => obj.values().next().and_then(|inner| {
            inner.is_object().then_some(())?;
            json_member(inner, name)
        }),
        None => None,
    }
}

/// Read a required member of a JSON object; a missing member is [`DecodeError::MissingField`].
pub fn json_field<'v>(
    obj: &'v serde_json::Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'v Value, DecodeError> {
    obj.get(name).ok_or_else(|| DecodeError::MissingField {
        field: if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        },
    })
}

/// View a JSON value as an object, or fail naming the field.
pub fn json_object<'v>(
    v: &'v Value,
    field: &str,
) -> Result<&'v serde_json::Map<String, Value>, DecodeError> {
    v.as_object().ok_or_else(|| wrong(field, "an object"))
}

/// `path.name`, or `name` at the top level: the place of a member, for error messages.
pub fn json_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A member of a JSON object that may be absent (optional fields): absent reads as `null`.
pub fn json_member_or_null<'v>(obj: &'v serde_json::Map<String, Value>, name: &str) -> &'v Value {
    static NULL: Value = Value::Null;
    obj.get(name).unwrap_or(&NULL)
}

/// View a JSON value as an array, or fail naming the field.
pub fn json_array<'v>(v: &'v Value, field: &str) -> Result<&'v Vec<Value>, DecodeError> {
    v.as_array().ok_or_else(|| wrong(field, "an array"))
}

thread_local! {
    /// Recursive records the JSON form's decoders of this thread have open ([`json_nested`]).
    static JSON_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Read one level of the recursive record `record` (its full name) from the JSON form with
/// `read`: fails with [`DecodeError::TooDeep`] once [`avro::max_depth`] levels are open on this
/// thread, so that a deeply nested `serde_json::Value` (built in memory: `serde_json`'s own
/// parser already stops at 128 levels of JSON nesting) is an error, never a stack overflow.
/// Generated JSON decoders of recursive records call this.
pub fn json_nested<T>(
    record: &'static str,
    read: impl FnOnce() -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    /// Closes the level again, also when `read` panics.
    struct Level(usize);
    impl Drop for Level {
        fn drop(&mut self) {
            JSON_DEPTH.with(|d| d.set(self.0));
        }
    }
    let depth = JSON_DEPTH.with(std::cell::Cell::get);
    let limit = avro::max_depth();
    if depth >= limit {
        return Err(DecodeError::TooDeep { record, limit });
    }
    JSON_DEPTH.with(|d| d.set(depth + 1));
    let _level = Level(depth);
    read()
}

/// The error for a union value that matched none of its branches.
pub fn json_no_branch(field: &str, expected: &'static str) -> DecodeError {
    wrong(field, expected)
}

impl JsonCodec for u32 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| wrong(field, "an unsigned 32-bit integer"))
    }
}
impl JsonCodec for u64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_u64()
            .ok_or_else(|| wrong(field, "an unsigned 64-bit integer"))
    }
}

/// Bytes an Avro `decimal` of `precision` digits takes: the smallest `n` with
/// `10^precision - 1 <= 2^(8n-1) - 1`. apache-avro only accepts decimal bytes at least this
/// long, so the generated codec writes every decimal sign-extended to this width.
pub const fn decimal_avro_len(precision: u32) -> usize {
    let mut n: u32 = 1;
    while n < 16 {
        // floor(log10(2^(8n-1) - 1)) >= precision  <=>  2^(8n-1) - 1 >= 10^precision - 1
        let max = (1u128 << (8 * n - 1)) - 1;
        let digits = {
            let mut d = 0;
            let mut m = max;
            while m >= 10 {
                m /= 10;
                d += 1;
            }
            d
        };
        if digits >= precision {
            return n as usize;
        }
        n += 1;
    }
    16
}

/// The Avro bytes of a decimal of `precision` digits: big-endian two's complement,
/// sign-extended to [`decimal_avro_len`] (longer only when the value overflows the precision).
pub fn decimal_avro_bytes(d: &Decimal, precision: u32) -> Vec<u8> {
    let minimal = d.to_be_bytes();
    let width = decimal_avro_len(precision);
    if minimal.len() >= width {
        return minimal;
    }
    let fill = if d.unscaled < 0 { 0xff } else { 0x00 };
    let mut out = vec![fill; width - minimal.len()];
    out.extend_from_slice(&minimal);
    out
}

/// Write an Avro `decimal` (on `bytes`) of `precision` digits.
pub fn write_decimal(out: &mut Vec<u8>, d: &Decimal, precision: u32) {
    // The 16 big-endian bytes are already sign-extended: write their last `width` bytes,
    // where `width` covers both the precision and the value (no allocation on this path).
    let full = d.unscaled.to_be_bytes();
    let sign = if d.unscaled < 0 { 0xff } else { 0x00 };
    let mut minimal = 16;
    while minimal > 1 && full[16 - minimal] == sign && (full[17 - minimal] & 0x80) == (sign & 0x80)
    {
        minimal -= 1;
    }
    let width = minimal.max(decimal_avro_len(precision)).min(16);
    avro::write_bytes(out, &full[16 - width..]);
}

/// Check a decimal against its schema precision (the type system cannot).
pub fn check_decimal(
    d: &Decimal,
    precision: u32,
    event_type: &'static str,
    field: &str,
) -> Result<(), ValidationError> {
    if d.digits() > precision {
        return Err(ValidationError {
            event_type,
            field: field.to_string(),
            rule: format!("has more digits than the schema's decimal precision {precision}"),
        });
    }
    Ok(())
}

/// Values holding decimals whose serde form must carry the schema's precision (see
/// [`serialize_decimal`]).
pub trait DecimalSerde {
    /// Serialize the decimal(s) as Avro bytes sign-extended to the width of `precision` digits.
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error>;
}
impl DecimalSerde for Decimal {
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&decimal_avro_bytes(self, precision))
    }
}
impl<T: DecimalSerde> DecimalSerde for Phi<T> {
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        self.expose().serialize_decimal(precision, s)
    }
}
struct WithPrecision<'a, T>(&'a T, u32);
impl<T: DecimalSerde> serde::Serialize for WithPrecision<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_decimal(self.1, s)
    }
}
impl<T: DecimalSerde> DecimalSerde for Option<T> {
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match self {
            None => s.serialize_none(),
            Some(v) => s.serialize_some(&WithPrecision(v, precision)),
        }
    }
}
impl<T: DecimalSerde> DecimalSerde for Vec<T> {
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|v| WithPrecision(v, precision)))
    }
}
impl<T: DecimalSerde> DecimalSerde for BTreeMap<String, T> {
    fn serialize_decimal<S: serde::Serializer>(
        &self,
        precision: u32,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(k, v)| (k, WithPrecision(v, precision))))
    }
}

/// `#[serde(serialize_with = "::carebus::event::serialize_decimal::<P, _, _>")]` on generated
/// decimal fields: the serde form (used by apache-avro's `to_value`) carries the bytes at the
/// schema precision's width, which apache-avro requires.
pub fn serialize_decimal<const PRECISION: u32, T: DecimalSerde, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.serialize_decimal(PRECISION, s)
}

#[cfg(test)]
mod float_json_tests {
    use super::*;

    #[test]
    fn floats_without_a_json_number_round_trip_as_strings() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.97,
            -0.0,
            f64::MAX,
        ] {
            let json = v.to_json();
            let back = f64::from_json(&json, "x").unwrap();
            assert!(
                back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()),
                "{v}"
            );
        }
        assert_eq!(f64::NAN.to_json(), Value::String("NaN".into()));
        assert_eq!(
            f32::NEG_INFINITY.to_json(),
            Value::String("-Infinity".into())
        );
        assert!(f32::from_json(&f32::NAN.to_json(), "x").unwrap().is_nan());
        // An optional float that is NaN stays present.
        let json = Some(f64::NAN).to_json();
        assert!(
            Option::<f64>::from_json(&json, "x")
                .unwrap()
                .unwrap()
                .is_nan()
        );
        for bad in [
            Value::String("nan".into()),
            Value::String("1.5".into()),
            Value::Null,
        ] {
            assert!(f64::from_json(&bad, "x").is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod decimal_width_tests {
    use super::*;

    #[test]
    fn width_matches_apache_avro_max_precision_per_length() {
        // apache-avro: max precision for n bytes = floor(log10(2^(8n-1) - 1)).
        assert_eq!(decimal_avro_len(1), 1);
        assert_eq!(decimal_avro_len(2), 1);
        assert_eq!(decimal_avro_len(3), 2);
        assert_eq!(decimal_avro_len(4), 2);
        assert_eq!(decimal_avro_len(5), 3);
        assert_eq!(decimal_avro_len(10), 5);
        assert_eq!(decimal_avro_len(38), 16);
        assert_eq!(decimal_avro_bytes(&Decimal::new(-1), 4), vec![0xff, 0xff]);
        assert_eq!(
            decimal_avro_bytes(&Decimal::new(1250), 10),
            vec![0, 0, 0, 0x04, 0xe2]
        );
        for v in [
            0i128,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            1250,
            -99_999_999,
            i128::MAX,
            i128::MIN,
            1 << 70,
        ] {
            for p in [1, 4, 10, 20, 38] {
                let mut fast = Vec::new();
                write_decimal(&mut fast, &Decimal::new(v), p);
                let mut slow = Vec::new();
                avro::write_bytes(&mut slow, &decimal_avro_bytes(&Decimal::new(v), p));
                assert_eq!(fast, slow, "{v} at precision {p}");
            }
        }
    }
}

/// `#[serde(with = "::carebus::event::fixed_bytes")]` on the `[u8; N]` of a generated Avro
/// `fixed` type: the serde form is a byte string (what apache-avro resolves to `fixed`), for
/// any size (serde's own array impls stop at 32).
pub mod fixed_bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    /// Serialize the array as a byte string.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Deserialize exactly `N` bytes from a byte string or a sequence; another length is an error.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        struct Fixed<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for Fixed<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<[u8; N], E> {
                v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<[u8; N], A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = a
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(Fixed::<N>)
    }
}
