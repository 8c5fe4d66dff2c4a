//! A value's JSON form and its Avro schema in, the `apache_avro::types::Value` it denotes out: the reference apache-avro encodes for the byte-parity checks, without going through serde.
//!
//! The JSON form is read as Avro's JSON encoding specifies it (schema field names, enum
//! symbols, logical types as their underlying type, bytes, fixed and decimals as ISO-8859-1
//! text, a union as `{"<branch>": value}` or null); scalars are read with the runtime's own
//! `JsonCodec` impls. A union's branch is the one its key names.

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, Name, ResolvedSchema, UuidSchema};
use apache_avro::types::Value;
use carebus::{Date, JsonCodec, Timestamp, TimestampMillis, Uuid};
use serde_json::Value as Json;
use std::collections::HashMap;

/// The Avro value `json` (a JSON form) denotes under `schema` (a self-contained schema).
pub fn avro_value(schema: &Schema, json: &Json) -> Value {
    let resolved = ResolvedSchema::try_from(schema).expect("the schema resolves its names");
    let names: HashMap<Name, Schema> = resolved
        .get_names()
        .iter()
        .map(|(name, s)| (name.clone(), (*s).clone()))
        .collect();
    value(schema, json, &names).unwrap_or_else(|| panic!("{json} is no value of {schema:?}"))
}

fn read<T: JsonCodec>(json: &Json) -> Option<T> {
    T::from_json(json, "").ok()
}

fn value(schema: &Schema, json: &Json, names: &HashMap<Name, Schema>) -> Option<Value> {
    Some(match schema {
        Schema::Null => json.is_null().then_some(Value::Null)?,
        Schema::Boolean => Value::Boolean(json.as_bool()?),
        Schema::Int => Value::Int(i32::try_from(json.as_i64()?).ok()?),
        Schema::Long => Value::Long(json.as_i64()?),
        Schema::Float => Value::Float(json.as_f64()? as f32),
        Schema::Double => Value::Double(json.as_f64()?),
        Schema::String => Value::String(json.as_str()?.to_owned()),
        Schema::Bytes => Value::Bytes(read::<Vec<u8>>(json)?),
        Schema::Fixed(f) => {
            let bytes = read::<Vec<u8>>(json)?;
            (bytes.len() == f.size).then_some(Value::Fixed(f.size, bytes))?
        }
        Schema::Uuid(UuidSchema::String) => Value::Uuid(apache_avro::Uuid::from_u128(
            read::<Uuid>(json)?.0.as_u128(),
        )),
        Schema::Date => Value::Date(read::<Date>(json)?.0),
        Schema::TimestampMicros => Value::TimestampMicros(read::<Timestamp>(json)?.0),
        Schema::TimestampMillis => Value::TimestampMillis(read::<TimestampMillis>(json)?.0),
        Schema::Decimal(d) if matches!(d.inner, InnerDecimalSchema::Bytes) => {
            let decimal = carebus_core::event::decimal_from_json(json, "").ok()?;
            let bytes = carebus_core::event::decimal_avro_bytes(&decimal, d.precision as u32);
            Value::Decimal(apache_avro::Decimal::from(bytes))
        }
        Schema::Array(a) => Value::Array(
            json.as_array()?
                .iter()
                .map(|item| value(&a.items, item, names))
                .collect::<Option<_>>()?,
        ),
        Schema::Map(m) => Value::Map(
            json.as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), value(&m.types, v, names)?)))
                .collect::<Option<_>>()?,
        ),
        Schema::Union(u) => {
            let (key, inner) = match json {
                Json::Null => ("null".to_owned(), json),
                Json::Object(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.clone(), v))?,
                _ => return None,
            };
            let (i, branch) = u
                .variants()
                .iter()
                .enumerate()
                .find(|(_, b)| branch_key(b) == key)?;
            Value::Union(i as u32, Box::new(value(branch, inner, names)?))
        }
        Schema::Record(r) => {
            let object = json.as_object()?;
            Value::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        // Avro's JSON encoding writes every field, null ones included.
                        let member = object.get(&f.name)?;
                        Some((f.name.clone(), value(&f.schema, member, names)?))
                    })
                    .collect::<Option<_>>()?,
            )
        }
        Schema::Enum(e) => {
            let symbol = json.as_str()?;
            let index = e.symbols.iter().position(|s| s == symbol)?;
            Value::Enum(index as u32, symbol.to_owned())
        }
        Schema::Ref { name } => value(names.get(name)?, json, names)?,
        other => panic!("the JSON form of {other:?} is not mapped here"),
    })
}

/// The key of a union branch in Avro's JSON encoding: a named type's full name, else the
/// (underlying) type's name.
fn branch_key(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date => "int",
        Schema::Long | Schema::TimestampMicros | Schema::TimestampMillis => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::Decimal(_) => "bytes",
        Schema::String | Schema::Uuid(_) => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Record(r) => return r.name.fullname(None),
        Schema::Enum(e) => return e.name.fullname(None),
        Schema::Fixed(f) => return f.name.fullname(None),
        Schema::Ref { name } => return name.fullname(None),
        other => panic!("no union branch key for {other:?}"),
    }
    .to_owned()
}
