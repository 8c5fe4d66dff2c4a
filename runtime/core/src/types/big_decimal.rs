//! Avro `big-decimal` values (each carrying its own scale) in, their Avro bytes, Avro JSON text and decimal text out: `carebus::BigDecimal`.
//!
//! The Avro `bytes` of a big-decimal hold, as Apache Avro's Java (`Conversions.BigDecimalConversion`)
//! and Rust (`apache_avro::bigdecimal`) implementations write them: the unscaled integer as Avro
//! `bytes` (a zig-zag varint length, then big-endian two's-complement bytes, minimal as Java's
//! `BigInteger.toByteArray`), then the scale as a zig-zag varint (Java reads it as an `int`, so
//! carebus keeps it to 32 bits).

use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::event::{AvroCodec, JsonCodec, bytes_from_json_text, bytes_to_json_text};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A decimal of any number of digits whose scale travels with the value (Avro `big-decimal`
/// on `bytes`): `unscaled × 10^-scale`. `12.50` is unscaled 1250 at scale 2; a negative scale
/// multiplies (`12E+3` is 12 at scale -3).
///
/// Two values are equal when both the unscaled integer and the scale are: `1.0` and `1.00`
/// differ, as they do in Java's `BigDecimal.equals` and on the wire.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigDecimal {
    /// Minimal big-endian two's-complement bytes; never empty (zero is `[0]`).
    unscaled: Vec<u8>,
    scale: i32,
}

impl Default for BigDecimal {
    fn default() -> Self {
        BigDecimal::new(0, 0)
    }
}

/// Decimal text that is not a number [`BigDecimal`] reads (the text is not repeated: it may be
/// PHI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseBigDecimalError {
    /// Not `[+-]digits[.digits][(e|E)[+-]digits]` (no digits, another character, a second point).
    Syntax,
    /// The scale the text implies (fraction digits minus exponent) does not fit 32 bits.
    ScaleOutOfRange,
}

impl fmt::Display for ParseBigDecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseBigDecimalError::Syntax => {
                "not a decimal number: write digits with an optional sign, decimal point and exponent, e.g. -12.50 or 1.2E+3"
            }
            ParseBigDecimalError::ScaleOutOfRange => {
                "the decimal's scale (fraction digits minus exponent) does not fit 32 bits, the range Avro's Java reader accepts"
            }
        })
    }
}

impl std::error::Error for ParseBigDecimalError {}

impl BigDecimal {
    /// `unscaled × 10^-scale`.
    pub fn new(unscaled: i128, scale: i32) -> Self {
        BigDecimal::from_unscaled_bytes(&unscaled.to_be_bytes(), scale)
    }

    /// From the unscaled integer as big-endian two's-complement bytes of any length (empty
    /// reads as zero, as apache-avro reads it) and the scale.
    pub fn from_unscaled_bytes(bytes: &[u8], scale: i32) -> Self {
        BigDecimal {
            unscaled: minimal(bytes),
            scale,
        }
    }

    /// The unscaled integer as minimal big-endian two's-complement bytes (Java's
    /// `BigInteger.toByteArray`).
    pub fn unscaled_bytes(&self) -> &[u8] {
        &self.unscaled
    }

    /// The scale: how many digits of the unscaled integer are after the decimal point
    /// (negative: how many zeros follow it).
    pub fn scale(&self) -> i32 {
        self.scale
    }

    /// The unscaled integer, when it fits 128 bits.
    pub fn unscaled_i128(&self) -> Option<i128> {
        if self.unscaled.len() > 16 {
            return None;
        }
        let fill = if self.is_negative() { 0xff } else { 0x00 };
        let mut full = [fill; 16];
        full[16 - self.unscaled.len()..].copy_from_slice(&self.unscaled);
        Some(i128::from_be_bytes(full))
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.unscaled[0] & 0x80 != 0
    }

    /// The content of the Avro `bytes` value (without the outer length): the unscaled integer
    /// as Avro `bytes`, then the scale as an Avro `int`.
    pub fn to_avro_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.unscaled.len() + 6);
        avro::write_bytes(&mut out, &self.unscaled);
        avro::write_int(&mut out, self.scale);
        out
    }

    /// Read the content of the Avro `bytes` value [`BigDecimal::to_avro_bytes`] writes; bytes
    /// after the scale are an error (another writer's layout, not a big-decimal).
    pub fn from_avro_bytes(content: &[u8]) -> Result<Self, DecodeError> {
        let malformed = |e: DecodeError| DecodeError::Malformed {
            what: "big-decimal",
            detail: format!("its bytes are not an unscaled integer and a scale: {e}"),
        };
        let mut r = Reader::new(content);
        let unscaled = r.read_bytes().map_err(malformed)?;
        let scale = r.read_int().map_err(malformed)?;
        if r.remaining() != 0 {
            return Err(DecodeError::Malformed {
                what: "big-decimal",
                detail: format!("{} bytes after the scale", r.remaining()),
            });
        }
        Ok(BigDecimal::from_unscaled_bytes(&unscaled, scale))
    }

    /// The decimal digits of the unscaled integer's absolute value (`"0"` for zero).
    fn coefficient(&self) -> String {
        let magnitude = if self.is_negative() {
            negate(&self.unscaled)
        } else {
            self.unscaled.clone()
        };
        to_decimal_digits(&magnitude)
    }
}

/// Text as Java's `BigDecimal.toString` and Python's `decimal.Decimal` write it (the General
/// Decimal Arithmetic "to-scientific-string"): plain (`-12.50`, `0.000125`) when the scale is
/// not negative and the value is not below 10^-6 in magnitude, else with an exponent
/// (`1.2E+4`, `1.25E-7`, `0E-10`).
impl fmt::Display for BigDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coefficient = self.coefficient();
        let digits = coefficient.len() as i64;
        let exponent = -(self.scale as i64);
        let adjusted = exponent + digits - 1;
        if self.is_negative() {
            f.write_str("-")?;
        }
        if exponent <= 0 && adjusted >= -6 {
            if exponent == 0 {
                return f.write_str(&coefficient);
            }
            let point = digits + exponent;
            if point > 0 {
                let (int, frac) = coefficient.split_at(point as usize);
                write!(f, "{int}.{frac}")
            } else {
                write!(f, "0.{}{coefficient}", "0".repeat((-point) as usize))
            }
        } else {
            let (first, rest) = coefficient.split_at(1);
            f.write_str(first)?;
            if !rest.is_empty() {
                write!(f, ".{rest}")?;
            }
            write!(f, "E{}{adjusted}", if adjusted > 0 { "+" } else { "" })
        }
    }
}

impl fmt::Debug for BigDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigDecimal({self})")
    }
}

/// Reads `[+-]digits[.digits][(e|E)[+-]digits]` (also `.5` and `5.`), keeping every digit:
/// `12.50` is unscaled 1250 at scale 2, `1.2E+3` is 12 at scale -2.
impl FromStr for BigDecimal {
    type Err = ParseBigDecimalError;
    fn from_str(text: &str) -> Result<Self, ParseBigDecimalError> {
        let (negative, t) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return Err(ParseBigDecimalError::Syntax);
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return Err(ParseBigDecimalError::Syntax);
                }
                e.parse()
                    .map_err(|_| ParseBigDecimalError::ScaleOutOfRange)?
            }
        };
        let scale = (frac.len() as i64)
            .checked_sub(exponent)
            .and_then(|s| i32::try_from(s).ok())
            .ok_or(ParseBigDecimalError::ScaleOutOfRange)?;
        let magnitude = from_decimal_digits(int.bytes().chain(frac.bytes()));
        let unscaled = if negative {
            negate(&magnitude)
        } else {
            magnitude
        };
        Ok(BigDecimal::from_unscaled_bytes(&unscaled, scale))
    }
}

/// Big-endian two's-complement bytes without redundant sign bytes (at least one byte).
fn minimal(bytes: &[u8]) -> Vec<u8> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        let (b, next_sign) = (bytes[i], bytes[i + 1] & 0x80);
        if (b == 0x00 && next_sign == 0) || (b == 0xff && next_sign != 0) {
            i += 1;
        } else {
            break;
        }
    }
    match &bytes[i..] {
        [] => vec![0],
        rest => rest.to_vec(),
    }
}

/// The two's-complement negation of big-endian `bytes` read as a non-negative magnitude when
/// its top bit is clear and as a negative number when set: one byte wider, so the result's
/// sign is right either way (e.g. the magnitude of -128 is 128, `[0x00, 0x80]`).
fn negate(bytes: &[u8]) -> Vec<u8> {
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0x00
    };
    let mut out: Vec<u8> = std::iter::once(fill)
        .chain(bytes.iter().copied())
        .map(|b| !b)
        .collect();
    for b in out.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    minimal(&out)
}

/// The decimal digits of a non-negative big-endian integer (two's complement with a clear top
/// bit), by repeated division by 10^9 over 32-bit limbs.
fn to_decimal_digits(magnitude: &[u8]) -> String {
    // Most significant limb first.
    let mut limbs: Vec<u32> = Vec::with_capacity(magnitude.len() / 4 + 1);
    let head = magnitude.len() % 4;
    if head > 0 {
        limbs.push(
            magnitude[..head]
                .iter()
                .fold(0, |a, &b| (a << 8) | b as u32),
        );
    }
    for chunk in magnitude[head..].chunks(4) {
        limbs.push(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    let mut groups: Vec<u32> = Vec::new(); // base 10^9, least significant first
    loop {
        while limbs.first() == Some(&0) {
            limbs.remove(0);
        }
        if limbs.is_empty() {
            break;
        }
        let mut rem: u64 = 0;
        for limb in limbs.iter_mut() {
            let cur = (rem << 32) | *limb as u64;
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        groups.push(rem as u32);
    }
    let mut text = match groups.pop() {
        Some(top) => top.to_string(),
        None => return "0".into(),
    };
    for g in groups.iter().rev() {
        text.push_str(&format!("{g:09}"));
    }
    text
}

/// The non-negative big-endian two's-complement integer of ASCII decimal `digits`.
fn from_decimal_digits(digits: impl Iterator<Item = u8>) -> Vec<u8> {
    // Base 2^32, least significant limb first.
    let mut limbs: Vec<u32> = Vec::new();
    let push = |limbs: &mut Vec<u32>, mul: u64, add: u64| {
        let mut carry = add;
        for limb in limbs.iter_mut() {
            let cur = *limb as u64 * mul + carry;
            *limb = cur as u32;
            carry = cur >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    };
    let (mut group, mut mul) = (0u64, 1u64);
    for d in digits {
        group = group * 10 + (d - b'0') as u64;
        mul *= 10;
        if mul == 1_000_000_000 {
            push(&mut limbs, mul, group);
            (group, mul) = (0, 1);
        }
    }
    if mul > 1 {
        push(&mut limbs, mul, group);
    }
    let mut bytes = vec![0u8];
    for limb in limbs.iter().rev() {
        bytes.extend_from_slice(&limb.to_be_bytes());
    }
    minimal(&bytes)
}

/// Avro binary: `bytes` whose content is [`BigDecimal::to_avro_bytes`].
impl AvroCodec for BigDecimal {
    fn encode_avro(&self, out: &mut Vec<u8>) {
        avro::write_bytes(out, &self.to_avro_bytes())
    }
    fn decode_avro(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        BigDecimal::from_avro_bytes(&r.read_bytes()?)
    }
}

/// Avro's JSON encoding: the `bytes` value as ISO-8859-1 text (one code point per byte of
/// [`BigDecimal::to_avro_bytes`]), as for every `bytes` logical type.
impl JsonCodec for BigDecimal {
    fn to_json(&self) -> Value {
        Value::String(bytes_to_json_text(&self.to_avro_bytes()))
    }
    fn from_json(v: &Value, field: &str) -> Result<Self, DecodeError> {
        let bytes =
            v.as_str()
                .and_then(bytes_from_json_text)
                .ok_or_else(|| DecodeError::WrongType {
                    field: field.to_string(),
                    expected: "a big-decimal's bytes as a string of code points U+0000-U+00FF",
                })?;
        BigDecimal::from_avro_bytes(&bytes)
    }
}

/// Human-readable formats (serde_json) get the decimal text (`"-12.50"`); the others the Avro
/// `bytes` content, the shape apache-avro's serde path gives and takes for a `big-decimal`.
impl Serialize for BigDecimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_bytes(&self.to_avro_bytes())
        }
    }
}

impl<'de> Deserialize<'de> for BigDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BigDecimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a big-decimal as decimal text or its Avro bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BigDecimal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<BigDecimal, E> {
                BigDecimal::from_avro_bytes(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<BigDecimal, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    bytes.push(b);
                }
                self.visit_bytes(&bytes)
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(V)
        } else {
            d.deserialize_byte_buf(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(unscaled: i128, scale: i32) -> BigDecimal {
        BigDecimal::new(unscaled, scale)
    }

    /// Bytes computed by hand from the Java reference (`BigInteger.toByteArray`, then
    /// `writeBytes` and `writeInt`).
    #[test]
    fn avro_bytes_follow_the_java_reference() {
        // 12.50: unscaled 1250 = 0x04e2, length 2 (zig-zag 4), scale 2 (zig-zag 4).
        assert_eq!(big(1250, 2).to_avro_bytes(), [0x04, 0x04, 0xe2, 0x04]);
        // Zero is one byte 0x00, as toByteArray writes it.
        assert_eq!(big(0, 0).to_avro_bytes(), [0x02, 0x00, 0x00]);
        // 128 needs a sign byte; -128 does not; -129 does.
        assert_eq!(big(128, 0).unscaled_bytes(), [0x00, 0x80]);
        assert_eq!(big(-128, 0).unscaled_bytes(), [0x80]);
        assert_eq!(big(-129, 0).unscaled_bytes(), [0xff, 0x7f]);
        // A negative scale: 12E+3 is 12 at scale -3 (zig-zag 5).
        assert_eq!(big(12, -3).to_avro_bytes(), [0x02, 0x0c, 0x05]);
        for v in [big(1250, 2), big(-129, -7), big(i128::MIN, i32::MAX)] {
            assert_eq!(BigDecimal::from_avro_bytes(&v.to_avro_bytes()).unwrap(), v);
        }
    }

    #[test]
    fn malformed_bytes_are_errors_without_the_value() {
        for bad in [
            &[][..],
            &[0x04, 0x01],
            &[0x02, 0x01],
            &[0x02, 0x01, 0x02, 0x00],
        ] {
            let err = BigDecimal::from_avro_bytes(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::Malformed {
                        what: "big-decimal",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
        // A scale beyond 32 bits (apache-avro's Rust writer could; Java's reader refuses it).
        let mut wide = vec![0x02, 0x01];
        avro::write_long(&mut wide, 1 << 40);
        assert!(BigDecimal::from_avro_bytes(&wide).is_err());
        // An empty unscaled integer reads as zero, as apache-avro reads it.
        assert_eq!(
            BigDecimal::from_avro_bytes(&[0x00, 0x04]).unwrap(),
            big(0, 2)
        );
    }

    #[test]
    fn text_is_the_general_decimal_arithmetic_scientific_string() {
        let cases = [
            (big(1250, 2), "12.50"),
            (big(-1250, 2), "-12.50"),
            (big(5, 1), "0.5"),
            (big(125, 6), "0.000125"),
            (big(125, 9), "1.25E-7"),
            (big(12, -3), "1.2E+4"),
            (big(0, 10), "0E-10"),
            (big(0, 0), "0"),
            (big(0, -2), "0E+2"),
            (big(1, 6), "0.000001"),
            (big(1, 7), "1E-7"),
            (
                big(i128::MIN, 0),
                "-170141183460469231731687303715884105728",
            ),
        ];
        for (v, text) in cases {
            assert_eq!(v.to_string(), text);
            assert_eq!(text.parse::<BigDecimal>().unwrap(), v, "{text}");
        }
    }

    #[test]
    fn digits_beyond_128_bits_survive_text_and_bytes() {
        let text = "-123456789012345678901234567890123456789012345678901234567890.000000001";
        let v: BigDecimal = text.parse().unwrap();
        assert_eq!(v.scale(), 9);
        assert_eq!(v.unscaled_i128(), None);
        assert_eq!(v.to_string(), text);
        assert_eq!(BigDecimal::from_avro_bytes(&v.to_avro_bytes()).unwrap(), v);
        assert_eq!(
            "1e-5".parse::<BigDecimal>().unwrap(),
            big(1, 5),
            "lower-case exponent"
        );
        assert_eq!(".5".parse::<BigDecimal>().unwrap(), big(5, 1));
        assert_eq!("+007.".parse::<BigDecimal>().unwrap(), big(7, 0));
    }

    #[test]
    fn bad_text_is_an_error() {
        for bad in [
            "", "-", ".", "1.2.3", "1e", "1e+", "12a", "NaN", "1 ", "--1",
        ] {
            assert_eq!(
                bad.parse::<BigDecimal>(),
                Err(ParseBigDecimalError::Syntax),
                "{bad:?}"
            );
        }
        assert_eq!(
            "1e-3000000000".parse::<BigDecimal>(),
            Err(ParseBigDecimalError::ScaleOutOfRange)
        );
        assert_eq!(
            "1e99999999999999999999".parse::<BigDecimal>(),
            Err(ParseBigDecimalError::ScaleOutOfRange)
        );
    }

    #[test]
    fn json_is_the_avro_bytes_as_iso_8859_1_text() {
        let v = big(1250, 2);
        assert_eq!(v.to_json(), Value::String("\u{4}\u{4}\u{e2}\u{4}".into()));
        assert_eq!(BigDecimal::from_json(&v.to_json(), "dose").unwrap(), v);
        assert!(BigDecimal::from_json(&Value::String("12.50".into()), "dose").is_err());
        assert_eq!(serde_json::to_value(&v).unwrap(), "12.50");
        assert_eq!(
            serde_json::from_value::<BigDecimal>("12.50".into()).unwrap(),
            v
        );
    }
}
