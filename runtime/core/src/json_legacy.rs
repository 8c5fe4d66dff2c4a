//! carebus's JSON form from before Avro's JSON encoding (bare union values, hex bytes, ISO dates, decimals as text) turned into Avro's JSON encoding by walking the event's `.avsc`; and the text forms Protobuf events keep.
//!
//! Records written before carebus spoke Avro's JSON encoding (the event store's `data_json`
//! rows with `data_json_form = 'carebus-legacy'`, Kafka records of the JSON framing or
//! structured mode without the `carebus_jsonform` header) are read by [`upcast`]: it reads the
//! value exactly as the old generated readers did (a union value tried against its branches in
//! schema order, an absent optional field as null, hex bytes, ISO 8601 dates and RFC 3339
//! timestamps, decimals as text at the schema's scale) and writes the Avro JSON of the same
//! datum, which the generated `from_json` then reads. Nothing is guessed beyond what the old
//! reader did: a union value that read as a `float` before reads as that `float` now.
//!
//! [`LegacyJson`] keeps the text forms of bytes, dates and timestamps for Protobuf events,
//! whose JSON form did not change (see `docs/conventions.md`).

use crate::error::DecodeError;
use crate::event::{bytes_to_json_text, decimal_to_json};
use crate::types::{Date, Decimal, Timestamp, TimestampMillis};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Bytes, dates and timestamps as text: hex, `YYYY-MM-DD`, RFC 3339 (outside the years
/// 0000-9999 the raw number). The JSON form of these values inside Protobuf events, and
/// carebus's JSON form for Avro events before Avro's JSON encoding.
pub trait LegacyJson: Sized {
    /// The value as text.
    fn to_legacy_json(&self) -> Value;
    /// Read the text (or the raw number); `field` names the place for errors.
    fn from_legacy_json(v: &Value, field: &str) -> Result<Self, DecodeError>;
}

fn wrong(field: &str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType {
        field: field.to_owned(),
        expected,
    }
}

impl LegacyJson for Vec<u8> {
    fn to_legacy_json(&self) -> Value {
        Value::String(self.iter().map(|b| format!("{b:02x}")).collect())
    }
    fn from_legacy_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        let s = v.as_str().ok_or_else(|| wrong(field, "hex text"))?;
        if s.len() % 2 != 0 || !s.is_ascii() {
            return Err(wrong(field, "hex text"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| wrong(field, "hex text")))
            .collect()
    }
}
impl LegacyJson for Date {
    fn to_legacy_json(&self) -> Value {
        match self.iso_text() {
            Some(text) => Value::String(text),
            None => Value::from(self.0),
        }
    }
    fn from_legacy_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        match v {
            Value::Number(n) => n.as_i64().and_then(|d| i32::try_from(d).ok()).map(Date),
            _ => v.as_str().and_then(Date::parse_iso),
        }
        .ok_or_else(|| wrong(field, "a date YYYY-MM-DD (or days since 1970-01-01)"))
    }
}
macro_rules! legacy_timestamp {
    ($t:ty) => {
        impl LegacyJson for $t {
            fn to_legacy_json(&self) -> Value {
                match self.rfc3339_text() {
                    Some(text) => Value::String(text),
                    None => Value::from(self.0),
                }
            }
            fn from_legacy_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
                match v {
                    Value::Number(n) => n.as_i64().map(Self),
                    _ => v.as_str().and_then(Self::parse_rfc3339),
                }
                .ok_or_else(|| {
                    wrong(
                        field,
                        "an RFC 3339 timestamp (or a count since the Unix epoch)",
                    )
                })
            }
        }
    };
}
legacy_timestamp!(Timestamp);
legacy_timestamp!(TimestampMillis);

/// The legacy JSON value `legacy` of a datum of the Avro schema `schema` (the event's
/// self-contained `.avsc` text) in Avro's JSON encoding. Errors name the field, never a value.
pub fn upcast(schema: &str, legacy: &Value) -> Result<Value, DecodeError> {
    let schema: Value = serde_json::from_str(schema).map_err(|e| DecodeError::Malformed {
        what: "Avro schema",
        detail: e.to_string(),
    })?;
    let mut names = HashMap::new();
    collect_names(&schema, "", &mut names);
    Walk { names: &names }.value(&schema, "", legacy, "")
}

/// Named types by full name: their definition and the namespace their references resolve in.
type Names<'s> = HashMap<String, (&'s Value, String)>;

/// The full name of a definition `def` (a record, enum or fixed) inside namespace `ns`, and
/// the namespace its own members resolve in.
fn full_name(def: &Map<String, Value>, ns: &str) -> (String, String) {
    let name = def.get("name").and_then(Value::as_str).unwrap_or_default();
    let full = if name.contains('.') {
        name.to_owned()
    } else {
        let ns = def.get("namespace").and_then(Value::as_str).unwrap_or(ns);
        if ns.is_empty() {
            name.to_owned()
        } else {
            format!("{ns}.{name}")
        }
    };
    let inner_ns = full.rsplit_once('.').map_or("", |(n, _)| n).to_owned();
    (full, inner_ns)
}

fn collect_names<'s>(schema: &'s Value, ns: &str, names: &mut Names<'s>) {
    match schema {
        Value::Array(branches) => branches.iter().for_each(|b| collect_names(b, ns, names)),
        Value::Object(def) => match def.get("type").and_then(Value::as_str) {
            Some("record" | "error" | "enum" | "fixed") => {
                let (full, inner) = full_name(def, ns);
                for f in def
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = f.get("type") {
                        collect_names(t, &inner, names);
                    }
                }
                names.insert(full, (schema, inner));
            }
            Some("array") => {
                if let Some(items) = def.get("items") {
                    collect_names(items, ns, names);
                }
            }
            Some("map") => {
                if let Some(values) = def.get("values") {
                    collect_names(values, ns, names);
                }
            }
            _ => {}
        },
        _ => {}
    }
}

struct Walk<'n, 's> {
    names: &'n Names<'s>,
}

impl<'s> Walk<'_, 's> {
    /// Resolve a type name to a primitive (returned as is) or a named definition.
    fn resolve(&self, name: &'s str, ns: &str) -> Option<(&'s Value, String)> {
        let full = if name.contains('.') || ns.is_empty() {
            name.to_owned()
        } else {
            format!("{ns}.{name}")
        };
        self.names
            .get(&full)
            .or_else(|| self.names.get(name))
            .map(|(d, n)| (*d, n.clone()))
    }

    /// The branch key of a union branch in Avro's JSON encoding.
    fn branch_key(&self, schema: &'s Value, ns: &str) -> String {
        match schema {
            Value::String(name) => match self.resolve(name, ns) {
                Some((Value::Object(def), _)) => full_name(def, ns).0,
                _ => name.clone(),
            },
            Value::Object(def) => match def.get("type").and_then(Value::as_str) {
                Some("record" | "error" | "enum" | "fixed") => full_name(def, ns).0,
                Some(t) => t.to_owned(),
                None => String::new(),
            },
            _ => String::new(),
        }
    }

    fn value(
        &self,
        schema: &'s Value,
        ns: &str,
        v: &Value,
        field: &str,
    ) -> Result<Value, DecodeError> {
        match schema {
            Value::String(name) => match name.as_str() {
                "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string" => {
                    primitive(name, v, field)
                }
                _ => match self.resolve(name, ns) {
                    Some((def, inner)) => self.value(def, &inner, v, field),
                    None => Err(DecodeError::Malformed {
                        what: "Avro schema",
                        detail: format!("type `{name}` of field `{field}` is not defined"),
                    }),
                },
            },
            Value::Array(branches) => self.union(branches, ns, v, field),
            Value::Object(def) => self.complex(def, ns, v, field),
            _ => Err(DecodeError::Malformed {
                what: "Avro schema",
                detail: format!("field `{field}` has a type that is not a name, union or object"),
            }),
        }
    }

    fn complex(
        &self,
        def: &'s Map<String, Value>,
        ns: &str,
        v: &Value,
        field: &str,
    ) -> Result<Value, DecodeError> {
        let ty = def.get("type").and_then(Value::as_str).unwrap_or_default();
        let logical = def.get("logicalType").and_then(Value::as_str);
        match (ty, logical) {
            ("int", Some("date")) => Ok(Value::from(Date::from_legacy_json(v, field)?.0)),
            ("long", Some("timestamp-micros")) => {
                Ok(Value::from(Timestamp::from_legacy_json(v, field)?.0))
            }
            ("long", Some("timestamp-millis")) => {
                Ok(Value::from(TimestampMillis::from_legacy_json(v, field)?.0))
            }
            ("bytes", Some("decimal")) => {
                let number = |k: &str| def.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(wrong(field, "a decimal as text")),
                };
                let d = Decimal::parse_scaled(&text, number("scale"))
                    .ok_or_else(|| wrong(field, "a decimal within the schema's scale"))?;
                Ok(decimal_to_json(&d, number("precision")))
            }
            ("record" | "error", _) => {
                let (_, inner) = full_name(def, ns);
                let obj = v.as_object().ok_or_else(|| wrong(field, "an object"))?;
                let mut out = Map::new();
                for f in def
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                    let fty = f.get("type").unwrap_or(&Value::Null);
                    let path = crate::event::json_path(field, name);
                    let member = match obj.get(name) {
                        Some(m) => m,
                        // The old reader took an absent optional field (`["null", T]`) for null.
                        None if is_optional(fty) => &Value::Null,
                        None => return Err(DecodeError::MissingField { field: path }),
                    };
                    out.insert(name.to_owned(), self.value(fty, &inner, member, &path)?);
                }
                Ok(Value::Object(out))
            }
            ("enum", _) => match v {
                Value::String(_) | Value::Number(_) => Ok(v.clone()),
                _ => Err(wrong(field, "an enum symbol")),
            },
            ("fixed", _) => {
                let size = def.get("size").and_then(Value::as_u64).unwrap_or(0) as usize;
                let bytes = Vec::<u8>::from_legacy_json(v, field)?;
                if bytes.len() != size {
                    return Err(wrong(field, "fixed bytes of the schema's size as hex text"));
                }
                Ok(Value::String(bytes_to_json_text(&bytes)))
            }
            ("array", _) => {
                let items = def.get("items").unwrap_or(&Value::Null);
                let arr = v.as_array().ok_or_else(|| wrong(field, "an array"))?;
                arr.iter()
                    .enumerate()
                    .map(|(i, x)| self.value(items, ns, x, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()
                    .map(Value::Array)
            }
            ("map", _) => {
                let values = def.get("values").unwrap_or(&Value::Null);
                let obj = v.as_object().ok_or_else(|| wrong(field, "an object"))?;
                obj.iter()
                    .map(|(k, x)| {
                        Ok((
                            k.clone(),
                            self.value(values, ns, x, &crate::event::json_path(field, k))?,
                        ))
                    })
                    .collect::<Result<_, DecodeError>>()
                    .map(Value::Object)
            }
            // Any other logical type (uuid on string included) is its underlying type.
            _ => self.value(def.get("type").unwrap_or(&Value::Null), ns, v, field),
        }
    }

    /// The old reader: null for a null branch, else the first branch (in schema order) that
    /// reads the value.
    fn union(
        &self,
        branches: &'s [Value],
        ns: &str,
        v: &Value,
        field: &str,
    ) -> Result<Value, DecodeError> {
        let has_null = branches.iter().any(|b| b.as_str() == Some("null"));
        if v.is_null() && has_null {
            return Ok(Value::Null);
        }
        let mut first_error = None;
        for b in branches.iter().filter(|b| b.as_str() != Some("null")) {
            match self.value(b, ns, v, field) {
                Ok(value) => return Ok(crate::event::json_union(&self.branch_key(b, ns), value)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(match first_error {
            // An optional field's one branch: its own error says more than "no branch".
            Some(e) if branches.len() == 2 && has_null => e,
            _ => wrong(field, "a value of one of the union's branches"),
        })
    }
}

/// `["null", T]` or `[T, "null"]`: the old reader's optional field (absent reads as null).
fn is_optional(ty: &Value) -> bool {
    matches!(ty, Value::Array(b) if b.len() == 2 && b.iter().any(|x| x.as_str() == Some("null")))
}

/// A primitive, checked as the old reader checked it, in Avro's JSON encoding.
fn primitive(name: &str, v: &Value, field: &str) -> Result<Value, DecodeError> {
    use crate::JsonCodec;
    Ok(match name {
        "null" if v.is_null() => Value::Null,
        "null" => return Err(wrong(field, "null")),
        "boolean" => bool::from_json(v, field)?.to_json(),
        "int" => i32::from_json(v, field)?.to_json(),
        "long" => i64::from_json(v, field)?.to_json(),
        // The old and the new form of a float are the same (a number, or "NaN", ...); f64
        // keeps a float's value exactly.
        "float" | "double" => f64::from_json(v, field)?.to_json(),
        "bytes" => Value::String(bytes_to_json_text(&Vec::<u8>::from_legacy_json(v, field)?)),
        _ => String::from_json(v, field)?.to_json(),
    })
}

/// The readable view of an Avro event's JSON form, by walking its `.avsc`: what [`upcast`]
/// reads, written back — union values bare (null for null), bytes and fixed as hex, dates as
/// `YYYY-MM-DD`, timestamps as RFC 3339, decimals as text at the schema's scale; everything
/// else (numbers, strings, enum symbols, the newer logical types' numbers) as it is. For code
/// that reads event fields by name without the schema: the journey engine's guards and
/// correlation, the analytics de-identifier. `upcast(schema, &readable(schema, v)?)` is `v`.
pub fn readable(schema: &str, avro_json: &Value) -> Result<Value, DecodeError> {
    let schema: Value = serde_json::from_str(schema).map_err(|e| DecodeError::Malformed {
        what: "Avro schema",
        detail: e.to_string(),
    })?;
    let mut names = HashMap::new();
    collect_names(&schema, "", &mut names);
    Walk { names: &names }.readable(&schema, "", avro_json, "")
}

impl<'s> Walk<'_, 's> {
    fn readable(
        &self,
        schema: &'s Value,
        ns: &str,
        v: &Value,
        field: &str,
    ) -> Result<Value, DecodeError> {
        match schema {
            Value::String(name) => match name.as_str() {
                "bytes" => {
                    let bytes = Vec::<u8>::from_json_text(v, field)?;
                    Ok(bytes.to_legacy_json())
                }
                "null" | "boolean" | "int" | "long" | "float" | "double" | "string" => {
                    Ok(v.clone())
                }
                _ => match self.resolve(name, ns) {
                    Some((def, inner)) => self.readable(def, &inner, v, field),
                    None => Err(DecodeError::Malformed {
                        what: "Avro schema",
                        detail: format!("type `{name}` of field `{field}` is not defined"),
                    }),
                },
            },
            Value::Array(branches) => {
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let obj = v
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .ok_or_else(|| wrong(field, "a union value {\"<branch>\": value}"))?;
                let (key, inner) = obj.iter().next().expect("one member");
                let branch = branches
                    .iter()
                    .find(|b| self.branch_key(b, ns) == *key)
                    .ok_or_else(|| wrong(field, "a branch of the union"))?;
                self.readable(branch, ns, inner, field)
            }
            Value::Object(def) => self.readable_complex(def, ns, v, field),
            _ => Err(DecodeError::Malformed {
                what: "Avro schema",
                detail: format!("field `{field}` has a type that is not a name, union or object"),
            }),
        }
    }

    fn readable_complex(
        &self,
        def: &'s Map<String, Value>,
        ns: &str,
        v: &Value,
        field: &str,
    ) -> Result<Value, DecodeError> {
        use crate::JsonCodec;
        let ty = def.get("type").and_then(Value::as_str).unwrap_or_default();
        let logical = def.get("logicalType").and_then(Value::as_str);
        match (ty, logical) {
            ("int", Some("date")) => Ok(Date::from_json(v, field)?.to_legacy_json()),
            ("long", Some("timestamp-micros")) => {
                Ok(Timestamp::from_json(v, field)?.to_legacy_json())
            }
            ("long", Some("timestamp-millis")) => {
                Ok(TimestampMillis::from_json(v, field)?.to_legacy_json())
            }
            ("bytes", Some("decimal")) => {
                let scale = def.get("scale").and_then(Value::as_u64).unwrap_or(0) as u32;
                let d = crate::event::decimal_from_json(v, field)?;
                Ok(Value::String(d.to_string_scaled(scale)))
            }
            ("record" | "error", _) => {
                let (_, inner) = full_name(def, ns);
                let obj = v.as_object().ok_or_else(|| wrong(field, "an object"))?;
                let mut out = Map::new();
                for f in def
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                    let fty = f.get("type").unwrap_or(&Value::Null);
                    let path = crate::event::json_path(field, name);
                    let member = obj.get(name).unwrap_or(&Value::Null);
                    out.insert(name.to_owned(), self.readable(fty, &inner, member, &path)?);
                }
                Ok(Value::Object(out))
            }
            ("enum", _) => Ok(v.clone()),
            ("fixed", _) => {
                let bytes = Vec::<u8>::from_json_text(v, field)?;
                Ok(bytes.to_legacy_json())
            }
            ("array", _) => {
                let items = def.get("items").unwrap_or(&Value::Null);
                let arr = v.as_array().ok_or_else(|| wrong(field, "an array"))?;
                arr.iter()
                    .enumerate()
                    .map(|(i, x)| self.readable(items, ns, x, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()
                    .map(Value::Array)
            }
            ("map", _) => {
                let values = def.get("values").unwrap_or(&Value::Null);
                let obj = v.as_object().ok_or_else(|| wrong(field, "an object"))?;
                obj.iter()
                    .map(|(k, x)| {
                        Ok((
                            k.clone(),
                            self.readable(values, ns, x, &crate::event::json_path(field, k))?,
                        ))
                    })
                    .collect::<Result<_, DecodeError>>()
                    .map(Value::Object)
            }
            _ => self.readable(def.get("type").unwrap_or(&Value::Null), ns, v, field),
        }
    }
}

/// Bytes from their Avro JSON text (ISO-8859-1 code points).
trait FromJsonText: Sized {
    fn from_json_text(v: &Value, field: &str) -> Result<Self, DecodeError>;
}

impl FromJsonText for Vec<u8> {
    fn from_json_text(v: &Value, field: &str) -> Result<Self, DecodeError> {
        v.as_str()
            .and_then(crate::event::bytes_from_json_text)
            .ok_or_else(|| wrong(field, "bytes as ISO-8859-1 text"))
    }
}
