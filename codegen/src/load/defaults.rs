//! A field's default value and type in, whether the default is valid for the type out (Avro specification rules, including "a union's default matches its first branch").

use crate::ir::{NamedType, Type};
use serde_json::Value;

/// Check `default` against `ty`; `Err` explains the mismatch without echoing large values.
pub fn check(ty: &Type, default: &Value, types: &[NamedType]) -> Result<(), String> {
    check_depth(ty, default, types, 0)
}

fn check_depth(ty: &Type, v: &Value, types: &[NamedType], depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("the default nests too deeply".into());
    }
    let int_in = |lo: i64, hi: i64, what: &str| -> Result<(), String> {
        match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(()),
            Some(_) => Err(format!("out of range for {what}")),
            None => Err(format!("{what} needs a whole number")),
        }
    };
    match ty {
        Type::Null => v
            .is_null()
            .then_some(())
            .ok_or_else(|| "null needs the default null".into()),
        Type::Boolean => v
            .is_boolean()
            .then_some(())
            .ok_or_else(|| "boolean needs true or false".into()),
        Type::Int | Type::Date | Type::TimeMillis => {
            int_in(i32::MIN as i64, i32::MAX as i64, "int")
        }
        Type::Long
        | Type::TimestampMicros
        | Type::TimestampMillis
        | Type::TimestampNanos
        | Type::TimeMicros
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => int_in(i64::MIN, i64::MAX, "long"),
        Type::Float | Type::Double => v
            .is_number()
            .then_some(())
            .ok_or_else(|| "a floating-point type needs a number".into()),
        Type::String => v
            .is_string()
            .then_some(())
            .ok_or_else(|| "string needs a string".into()),
        Type::Uuid => match v.as_str() {
            Some(s) if is_uuid(s) => Ok(()),
            _ => {
                Err("uuid needs a UUID string like \"550e8400-e29b-41d4-a716-446655440000\"".into())
            }
        },
        Type::BigDecimal => match v.as_str().and_then(|s| {
            s.chars()
                .map(|c| u8::try_from(c).ok())
                .collect::<Option<Vec<u8>>>()
        }) {
            Some(b) if big_decimal_parts(&b).is_some() => Ok(()),
            _ => Err("big-decimal needs its bytes (unscaled integer as Avro bytes, then the scale as an Avro int) as a string of \\u0000-\\u00ff characters, e.g. \"\\u0002\\u0000\\u0000\" for 0".into()),
        },
        Type::Bytes | Type::Decimal { .. } => match v.as_str() {
            Some(s) if s.chars().all(|c| (c as u32) < 256) => Ok(()),
            _ => Err("bytes need a string of \\u0000-\\u00ff characters".into()),
        },
        Type::Array { items } => match v.as_array() {
            Some(a) => a
                .iter()
                .try_for_each(|x| check_depth(items, x, types, depth + 1)),
            None => Err("an array needs a JSON array".into()),
        },
        Type::Map { values } => match v.as_object() {
            Some(m) => m
                .values()
                .try_for_each(|x| check_depth(values, x, types, depth + 1)),
            None => Err("a map needs a JSON object".into()),
        },
        Type::Union { branches } => match branches.first() {
            Some(first) => check_depth(first, v, types, depth + 1)
                .map_err(|e| format!("a union's default must match its first branch ({e})")),
            None => Err("empty union".into()),
        },
        Type::Proto { .. } => Ok(()),
        Type::Named { name } => match types.iter().find(|t| &t.full_name() == name) {
            None => Ok(()), // unknown names are reported elsewhere
            Some(NamedType::Enum(e)) => match v.as_str() {
                Some(s) if e.symbols.iter().any(|x| x.name == s) => Ok(()),
                _ => Err(format!(
                    "enum `{}` needs one of its symbols as a string",
                    e.name
                )),
            },
            Some(NamedType::Fixed(f)) => match v.as_str() {
                Some(s) if s.chars().count() == f.size as usize => Ok(()),
                _ => Err(format!(
                    "fixed `{}` needs a string of exactly {} characters",
                    f.name, f.size
                )),
            },
            Some(NamedType::Record(r)) => {
                let Some(obj) = v.as_object() else {
                    return Err(format!("record `{}` needs a JSON object", r.name));
                };
                for f in &r.fields {
                    match (obj.get(&f.name), &f.default) {
                        (Some(x), _) => check_depth(&f.ty, x, types, depth + 1)
                            .map_err(|e| format!("field `{}`: {e}", f.name))?,
                        (None, Some(_)) => {}
                        (None, None) => {
                            return Err(format!(
                                "record `{}` default lacks field `{}`, which has no default",
                                r.name, f.name
                            ));
                        }
                    }
                }
                Ok(())
            }
        },
    }
}

/// A big-decimal's bytes split into the unscaled integer's bytes and the scale: a zig-zag
/// varint length, that many bytes, then the scale as a zig-zag varint that fits 32 bits, and
/// nothing after. `None` when `b` is not laid out so.
pub fn big_decimal_parts(b: &[u8]) -> Option<(&[u8], i32)> {
    fn varint(b: &[u8]) -> Option<(i64, &[u8])> {
        let mut z: u64 = 0;
        for (i, &x) in b.iter().enumerate().take(10) {
            z |= ((x & 0x7f) as u64) << (7 * i);
            if x & 0x80 == 0 {
                return Some((((z >> 1) as i64) ^ -((z & 1) as i64), &b[i + 1..]));
            }
        }
        None
    }
    let (len, rest) = varint(b)?;
    let n = usize::try_from(len).ok()?;
    let (unscaled, rest) = (rest.get(..n)?, rest.get(n..)?);
    match varint(rest)? {
        (scale, []) => Some((unscaled, i32::try_from(scale).ok()?)),
        _ => None,
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A hint of what a valid default for `ty` looks like.
pub fn help(ty: &Type) -> String {
    match ty {
        Type::Union { branches } => match branches.first() {
            Some(Type::Null) => "an optional field [\"null\", T] takes the default null".into(),
            Some(_) => "a union's default must match its FIRST branch: put the default's type first (e.g. [\"string\", \"null\"] for a string default)".into(),
            None => "fix the union".into(),
        },
        Type::Int | Type::Long => "write a whole number, e.g. 0".into(),
        Type::Boolean => "write true or false".into(),
        Type::String => "write a string in double quotes, e.g. \"\"".into(),
        Type::Array { .. } => "write an array, e.g. []".into(),
        Type::Map { .. } => "write an object, e.g. {}".into(),
        Type::Named { .. } => "for an enum write one of its symbols; for a record write an object with its fields".into(),
        _ => "write a value of the field's type, or remove the default".into(),
    }
}
