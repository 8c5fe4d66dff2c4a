//! Generated types in, serde's data model out and back: the JSON form for human-readable formats (serde_json), and for the others the shape apache-avro's serde path (`apache_avro::to_value` then `resolve`, `from_value`) expects — bytes and fixed as bytes, decimals as bytes at the schema precision's width, logical types as their Avro values, enums as symbols, unions as Avro unions, records as structs.
//!
//! Generated `Serialize`/`Deserialize` impls call [`serialize`] and [`deserialize`]; generated
//! records, enums, fixed types and unions implement [`AvroSerde`]. Not for hand-written code.

use crate::event::{DecimalSerde, JsonCodec};
use crate::types::{
    BigDecimal, Date, Decimal, LocalTimestampMicros, LocalTimestampMillis, LocalTimestampNanos,
    Phi, TimeMicros, TimeMillis, Timestamp, TimestampMillis, TimestampNanos, Uuid,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A value's serde form for formats that are not human-readable (apache-avro's serde path).
pub trait AvroSerde: Sized {
    /// Write the value in apache-avro's serde shape.
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
    /// Read the value from apache-avro's serde shape.
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// `Serialize` of a generated type: its JSON form when the format is human-readable, else its
/// [`AvroSerde`] form.
pub fn serialize<T: JsonCodec + AvroSerde, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        v.to_json().serialize(s)
    } else {
        v.avro_serialize(s)
    }
}

/// `Deserialize` of a generated type: from its JSON form when the format is human-readable,
/// else from its [`AvroSerde`] form.
pub fn deserialize<'de, T: JsonCodec + AvroSerde, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    if d.is_human_readable() {
        let value = serde_json::Value::deserialize(d)?;
        T::from_json(&value, "").map_err(de::Error::custom)
    } else {
        T::avro_deserialize(d)
    }
}

/// `&T` serialized in its [`AvroSerde`] form (a struct field, a sequence item).
pub struct Ser<'a, T>(pub &'a T);
impl<T: AvroSerde> Serialize for Ser<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.avro_serialize(s)
    }
}

/// A decimal (or a value holding decimals) serialized at the schema's precision `P`: the
/// bytes sign-extended to the width apache-avro requires of that precision.
pub struct DecimalAt<'a, const P: u32, T>(pub &'a T);
impl<const P: u32, T: DecimalSerde> Serialize for DecimalAt<'_, P, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_decimal(P, s)
    }
}

/// A `T` read in its [`AvroSerde`] form.
pub struct Owned<T>(pub T);
impl<'de, T: AvroSerde> Deserialize<'de> for Owned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::avro_deserialize(d).map(Owned)
    }
}

/// Reads a `T` in its [`AvroSerde`] form where serde wants a seed.
pub struct Seed<T>(pub PhantomData<T>);
impl<'de, T: AvroSerde> DeserializeSeed<'de> for Seed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::avro_deserialize(d)
    }
}

/// Types whose own serde impls already are apache-avro's shape.
macro_rules! as_serde {
    ($($t:ty),* $(,)?) => {$(
        impl AvroSerde for $t {
            fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                Serialize::serialize(self, s)
            }
            fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Deserialize::deserialize(d)
            }
        }
    )*};
}
as_serde!(
    (),
    bool,
    i32,
    i64,
    u32,
    u64,
    f32,
    f64,
    String,
    Uuid,
    Date,
    TimeMillis,
    TimeMicros,
    Timestamp,
    TimestampMillis,
    TimestampNanos,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
    Decimal,
    BigDecimal,
);

/// Bytes: apache-avro hands over bytes (Avro bytes or fixed), a byte sequence, or a string.
struct BytesVisitor;
impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::new();
        while let Some(b) = a.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}
impl AvroSerde for Vec<u8> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

/// The bytes of a fixed of `N` bytes, read in its [`AvroSerde`] form.
pub fn fixed<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<[u8; N], D::Error> {
    let bytes = Vec::<u8>::avro_deserialize(d)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        de::Error::invalid_length(bytes.len(), &format!("a fixed of {N} bytes").as_str())
    })
}

/// The bytes of a `decimal` on a fixed of `N` bytes: apache-avro hands a decimal over as its
/// own (possibly shorter) two's-complement bytes, which are sign-extended to `N`.
pub fn fixed_decimal<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<[u8; N], D::Error> {
    let bytes = Vec::<u8>::avro_deserialize(d)?;
    if bytes.len() > N {
        return Err(de::Error::invalid_length(
            bytes.len(),
            &format!("a decimal of at most {N} bytes").as_str(),
        ));
    }
    let fill = match bytes.first() {
        Some(b) if b & 0x80 != 0 => 0xff,
        _ => 0x00,
    };
    let mut out = [fill; N];
    out[N - bytes.len()..].copy_from_slice(&bytes);
    Ok(out)
}

/// A `uuid` on a fixed of 16, written so apache-avro's `to_value` makes the `Value::Fixed` its
/// `resolve` turns into a UUID: as a `u128` whose little-endian bytes are the fixed's (the only
/// serde call apache-avro's serializer answers with a fixed of 16 bytes).
pub fn serialize_fixed_uuid<S: Serializer>(bytes: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(u128::from_le_bytes(*bytes))
}

/// The 16 bytes of a `uuid` on a fixed: apache-avro's `from_value` gives the bytes; the form
/// [`serialize_fixed_uuid`] writes (a `u128`) and UUID text are read too.
pub fn fixed_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = [u8; 16];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a UUID as 16 bytes, a u128 or text")
        }
        fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<[u8; 16], E> {
            <[u8; 16]>::try_from(b).map_err(|_| E::invalid_length(b.len(), &self))
        }
        fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<[u8; 16], E> {
            self.visit_bytes(&b)
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<[u8; 16], E> {
            Ok(v.to_le_bytes())
        }
        fn visit_str<E: de::Error>(self, t: &str) -> Result<[u8; 16], E> {
            Uuid::parse(t).map(|u| *u.as_bytes()).map_err(|_| {
                E::invalid_value(de::Unexpected::Other("text that is not a UUID"), &self)
            })
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 16], A::Error> {
            let mut out = Vec::with_capacity(16);
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            self.visit_bytes(&out)
        }
    }
    d.deserialize_any(V)
}

impl<T: AvroSerde> AvroSerde for Option<T> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            None => s.serialize_none(),
            Some(v) => s.serialize_some(&Ser(v)),
        }
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: AvroSerde> Visitor<'de> for V<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an optional value")
            }
            fn visit_none<E>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                T::avro_deserialize(d).map(Some)
            }
        }
        d.deserialize_option(V(PhantomData))
    }
}

impl<T: AvroSerde> AvroSerde for Vec<T> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Ser))
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: AvroSerde> Visitor<'de> for V<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element_seed(Seed(PhantomData))? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

impl<T: AvroSerde> AvroSerde for BTreeMap<String, T> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(k, v)| (k, Ser(v))))
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: AvroSerde> Visitor<'de> for V<T> {
            type Value = BTreeMap<String, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = a.next_key::<String>()? {
                    let v = a.next_value_seed(Seed(PhantomData))?;
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

impl<T: AvroSerde> AvroSerde for Phi<T> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.expose().avro_serialize(s)
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::avro_deserialize(d).map(Phi::new)
    }
}

impl<T: AvroSerde> AvroSerde for Box<T> {
    fn avro_serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).avro_serialize(s)
    }
    fn avro_deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::avro_deserialize(d).map(Box::new)
    }
}

/// An enum read from its symbol (apache-avro hands over the symbol as a string).
pub fn symbol<'de, T: JsonCodec, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    T::from_json(&serde_json::Value::String(s), "").map_err(de::Error::custom)
}

/// An enum written as its symbol (its JSON form).
pub fn write_symbol<T: JsonCodec, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    match v.to_json() {
        serde_json::Value::String(sym) => s.serialize_str(&sym),
        _ => Err(serde::ser::Error::custom(
            "an enum value without a symbol has no Avro form",
        )),
    }
}
