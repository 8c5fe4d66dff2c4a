//! An Avro schema in, a proptest strategy of arbitrary valid `apache_avro::types::Value`s of that schema out.
//!
//! The strategy walks the parsed schema tree, so it covers every event without a hand-written
//! generator per type: strings (empty, ASCII, any Unicode scalar), extreme ints and longs,
//! every enum symbol, every union branch, empty and non-empty arrays and maps, decimals up to
//! their precision (at the byte width apache-avro requires), big-decimals wider than 128 bits
//! at any scale, and dates, times of day and
//! timestamps (UTC and local, milli/micro/nanoseconds) over the whole `int`/`long` range
//! including negatives.

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, Name, ResolvedSchema, UuidSchema};
use apache_avro::types::Value;
use proptest::prelude::*;
use std::collections::HashMap;

/// Named types of a self-contained schema, by full name, for resolving `Ref`s.
pub struct NamedTypes(HashMap<Name, Schema>);

impl NamedTypes {
    pub fn of(schema: &Schema) -> NamedTypes {
        let resolved = ResolvedSchema::try_from(schema)
            .unwrap_or_else(|e| panic!("schema does not resolve its named types: {e}"));
        NamedTypes(
            resolved
                .get_names()
                .iter()
                .map(|(name, s)| (name.clone(), (*s).clone()))
                .collect(),
        )
    }
}

/// Longest arrays and maps generated: enough for the empty, one and several cases.
const MAX_ITEMS: usize = 3;

/// Strings: empty, plain ASCII, or any Unicode scalar values (controls, astral planes).
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        1 => Just(String::new()),
        3 => "[a-zA-Z0-9 .:@-]{1,16}",
        3 => proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
    .boxed()
}

fn int() -> BoxedStrategy<i32> {
    prop_oneof![
        Just(0),
        Just(i32::MIN),
        Just(i32::MAX),
        -200..200i32,
        any::<i32>()
    ]
    .boxed()
}

fn long() -> BoxedStrategy<i64> {
    prop_oneof![
        Just(0),
        Just(i64::MIN),
        Just(i64::MAX),
        -200..200i64,
        any::<i32>().prop_map(i64::from),
        any::<i64>()
    ]
    .boxed()
}

/// Bytes an Avro decimal of `precision` digits needs in apache-avro: the smallest `n` with
/// `floor(log10(2^(8n-1) - 1)) >= precision` (computed here independently of the runtime).
pub fn decimal_width(precision: usize) -> usize {
    (1..=16usize)
        .find(|&n| {
            let max = (1u128 << (8 * n - 1)) - 1;
            max.checked_ilog10().unwrap_or(0) as usize >= precision
        })
        .unwrap_or(16)
}

/// A decimal of at most `precision` digits, as apache-avro's big-endian two's complement bytes
/// sign-extended to [`decimal_width`].
fn decimal(precision: usize) -> BoxedStrategy<Value> {
    let max = 10i128
        .checked_pow(precision.min(38) as u32)
        .map_or(i128::MAX, |p| p - 1);
    let width = decimal_width(precision);
    prop_oneof![Just(0i128), Just(max), Just(-max), Just(-1i128), -max..=max]
        .prop_map(move |unscaled| {
            let bytes = unscaled.to_be_bytes();
            Value::Decimal(apache_avro::Decimal::from(bytes[16 - width..].to_vec()))
        })
        .boxed()
}

/// Named types a value nests before its arrays and maps are generated empty: a recursive
/// schema (a record holding an array of itself) has finite values.
const MAX_NAMED_DEPTH: usize = 4;

/// Arbitrary valid values of `schema`.
pub fn value_of(schema: &Schema, names: &NamedTypes) -> BoxedStrategy<Value> {
    value_at(schema, names, MAX_NAMED_DEPTH)
}

fn value_at(schema: &Schema, names: &NamedTypes, depth: usize) -> BoxedStrategy<Value> {
    let value_of = |s: &Schema, n: &NamedTypes| value_at(s, n, depth);
    match schema {
        Schema::Array(_) if depth == 0 => Just(Value::Array(Vec::new())).boxed(),
        Schema::Map(_) if depth == 0 => Just(Value::Map(HashMap::new())).boxed(),
        Schema::Null => Just(Value::Null).boxed(),
        Schema::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        Schema::Int => int().prop_map(Value::Int).boxed(),
        Schema::Long => long().prop_map(Value::Long).boxed(),
        // NaN-free: events compare with PartialEq, and the JSON form has no NaN or infinity.
        Schema::Float => {
            (proptest::num::f32::NORMAL | proptest::num::f32::ZERO | proptest::num::f32::SUBNORMAL)
                .prop_map(Value::Float)
                .boxed()
        }
        Schema::Double => {
            (proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL)
                .prop_map(Value::Double)
                .boxed()
        }
        Schema::Bytes => proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(Value::Bytes)
            .boxed(),
        Schema::String => text().prop_map(Value::String).boxed(),
        Schema::Fixed(f) => proptest::collection::vec(any::<u8>(), f.size)
            .prop_map(move |b| Value::Fixed(b.len(), b))
            .boxed(),
        Schema::Uuid(UuidSchema::String) => any::<u128>()
            .prop_map(|u| Value::Uuid(apache_avro::Uuid::from_u128(u)))
            .boxed(),
        // Mostly dates the JSON form can write (incl. before 1970), sometimes any int or long.
        Schema::Date => prop_oneof![4 => RFC3339_DAYS, 1 => int()]
            .prop_map(Value::Date)
            .boxed(),
        Schema::TimestampMicros => prop_oneof![4 => RFC3339_MICROS, 1 => long()]
            .prop_map(Value::TimestampMicros)
            .boxed(),
        Schema::TimestampMillis => prop_oneof![
            4 => (RFC3339_MICROS.start() / 1000)..=(RFC3339_MICROS.end() / 1000),
            1 => long()
        ]
        .prop_map(Value::TimestampMillis)
        .boxed(),
        Schema::TimestampNanos => long().prop_map(Value::TimestampNanos).boxed(),
        Schema::TimeMillis => prop_oneof![4 => 0..86_400_000i32, 1 => int()]
            .prop_map(Value::TimeMillis)
            .boxed(),
        Schema::TimeMicros => prop_oneof![4 => 0..86_400_000_000i64, 1 => long()]
            .prop_map(Value::TimeMicros)
            .boxed(),
        Schema::LocalTimestampMillis => long().prop_map(Value::LocalTimestampMillis).boxed(),
        Schema::LocalTimestampMicros => long().prop_map(Value::LocalTimestampMicros).boxed(),
        Schema::LocalTimestampNanos => long().prop_map(Value::LocalTimestampNanos).boxed(),
        Schema::Decimal(d) if matches!(d.inner, InnerDecimalSchema::Bytes) => decimal(d.precision),
        // A decimal on a fixed: apache-avro sign-extends the value's bytes to the fixed's size.
        Schema::Decimal(d) if matches!(d.inner, InnerDecimalSchema::Fixed(_)) => {
            decimal(d.precision)
        }
        Schema::BigDecimal => big_decimal(),
        Schema::Uuid(UuidSchema::Fixed(_)) => any::<u128>()
            .prop_map(|v| Value::Uuid(apache_avro::Uuid::from_u128(v)))
            .boxed(),
        Schema::Duration(_) => any::<(u32, u32, u32)>()
            .prop_map(|(m, d, ms)| {
                use apache_avro::{Days, Duration, Millis, Months};
                Value::Duration(Duration::new(Months::new(m), Days::new(d), Millis::new(ms)))
            })
            .boxed(),
        Schema::Enum(e) => {
            let symbols = e.symbols.clone();
            (0..symbols.len())
                .prop_map(move |i| Value::Enum(i as u32, symbols[i].clone()))
                .boxed()
        }
        Schema::Array(a) => proptest::collection::vec(value_of(&a.items, names), 0..=MAX_ITEMS)
            .prop_map(Value::Array)
            .boxed(),
        Schema::Map(m) => {
            proptest::collection::hash_map(text(), value_of(&m.types, names), 0..=MAX_ITEMS)
                .prop_map(Value::Map)
                .boxed()
        }
        Schema::Union(u) => {
            let branches: Vec<BoxedStrategy<Value>> = u
                .variants()
                .iter()
                .enumerate()
                .map(|(i, variant)| {
                    value_of(variant, names)
                        .prop_map(move |v| Value::Union(i as u32, Box::new(v)))
                        .boxed()
                })
                .collect();
            proptest::strategy::Union::new(branches).boxed()
        }
        Schema::Record(r) => {
            let field_names: Vec<String> = r.fields.iter().map(|f| f.name.clone()).collect();
            let fields: Vec<BoxedStrategy<Value>> = r
                .fields
                .iter()
                .map(|f| value_of(&f.schema, names))
                .collect();
            fields
                .prop_map(move |values| {
                    Value::Record(field_names.iter().cloned().zip(values).collect())
                })
                .boxed()
        }
        Schema::Ref { name } => {
            let named = names.0.get(name).unwrap_or_else(|| {
                panic!("schema refers to {name} but does not define it (not self-contained)")
            });
            value_at(named, names, depth.saturating_sub(1))
        }
        other => panic!(
            "the parity generator has no strategy for {other:?}; add one in tests/parity/values.rs"
        ),
    }
}

/// A `big-decimal`: an unscaled integer of up to 24 bytes (wider than 128 bits; sometimes
/// empty or with redundant sign bytes, which readers normalize) and a scale over the whole
/// `int` range, made by apache-avro itself from the Avro bytes laid out as the Java reference
/// writes them (`writeBytes(unscaled)`, `writeInt(scale)`).
fn big_decimal() -> BoxedStrategy<Value> {
    fn zigzag(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    (
        proptest::collection::vec(any::<u8>(), 0..24),
        prop_oneof![4 => -40i32..=40, 1 => any::<i32>()],
    )
        .prop_map(|(unscaled, scale)| {
            let mut content = Vec::new();
            zigzag(&mut content, unscaled.len() as i64);
            content.extend_from_slice(&unscaled);
            zigzag(&mut content, scale as i64);
            Value::Bytes(content)
                .resolve(&Schema::BigDecimal)
                .expect("apache-avro reads the big-decimal bytes it is given")
        })
        .boxed()
}

/// Whether a value holds a map of two or more entries: apache-avro writes map entries in
/// `HashMap` order, so only for such values may valid bytes differ from the generated codec's
/// (sorted) order; they are compared as values instead.
pub fn has_unordered_map(v: &Value) -> bool {
    match v {
        Value::Map(m) => m.len() > 1 || m.values().any(has_unordered_map),
        Value::Array(items) => items.iter().any(has_unordered_map),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_unordered_map(v)),
        Value::Union(_, v) => has_unordered_map(v),
        _ => false,
    }
}

/// Days from 1970-01-01 to 0000-01-01 and to 9999-12-31: the dates RFC 3339 (the JSON form)
/// can write.
pub const RFC3339_DAYS: std::ops::RangeInclusive<i32> = -719_528..=2_932_896;
/// Microseconds from the epoch to 0000-01-01T00:00:00Z and to 9999-12-31T23:59:59.999999Z.
pub const RFC3339_MICROS: std::ops::RangeInclusive<i64> =
    -62_167_219_200_000_000..=253_402_300_799_999_999;

/// Whether a value holds an Avro `duration` (a logical fixed apache-avro's `to_value` cannot
/// write: see its use in the apache schema tests).
#[allow(dead_code)] // used by carebus-tests' generated_apache, which includes this file
pub fn has_duration(v: &Value) -> bool {
    match v {
        Value::Duration(_) => true,
        Value::Map(m) => m.values().any(has_duration),
        Value::Array(items) => items.iter().any(has_duration),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_duration(v)),
        Value::Union(_, v) => has_duration(v),
        _ => false,
    }
}

/// Whether a value holds a NaN or infinite float or double, which JSON cannot write.
pub fn has_non_finite(v: &Value) -> bool {
    match v {
        Value::Float(f) => !f.is_finite(),
        Value::Double(d) => !d.is_finite(),
        Value::Map(m) => m.values().any(has_non_finite),
        Value::Array(items) => items.iter().any(has_non_finite),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_non_finite(v)),
        Value::Union(_, v) => has_non_finite(v),
        _ => false,
    }
}

/// Whether a value holds a float or double (where NaN and infinities are worth trying).
pub fn has_float(v: &Value) -> bool {
    match v {
        Value::Float(_) | Value::Double(_) => true,
        Value::Map(m) => m.values().any(has_float),
        Value::Array(items) => items.iter().any(has_float),
        Value::Record(fields) => fields.iter().any(|(_, v)| has_float(v)),
        Value::Union(_, v) => has_float(v),
        _ => false,
    }
}

/// The value with every float and double replaced by `x` (for NaN and infinity byte parity,
/// which `PartialEq` and JSON cannot check).
pub fn with_floats(v: &Value, x: f64) -> Value {
    match v {
        Value::Float(_) => Value::Float(x as f32),
        Value::Double(_) => Value::Double(x),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), with_floats(v, x)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| with_floats(v, x)).collect()),
        Value::Record(fields) => Value::Record(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), with_floats(v, x)))
                .collect(),
        ),
        Value::Union(i, v) => Value::Union(*i, Box::new(with_floats(v, x))),
        other => other.clone(),
    }
}
