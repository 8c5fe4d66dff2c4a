//! Avro binary primitives: Rust values turned into Avro binary bytes and back, used by the generated direct codecs.
//!
//! The encoding follows the Avro specification ("Binary Encoding"): zig-zag varints for
//! int/long, little-endian IEEE floats, length-prefixed bytes/strings, blocked arrays and maps,
//! union branch index as a long.

use crate::error::DecodeError;

/// Write an Avro `int` (zig-zag varint).
#[inline]
pub fn write_int(out: &mut Vec<u8>, v: i32) {
    write_long(out, v as i64)
}

/// Write an Avro `long` (zig-zag varint).
#[inline]
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Write an Avro `boolean` (one byte, 0 or 1).
#[inline]
pub fn write_boolean(out: &mut Vec<u8>, v: bool) {
    out.push(v as u8);
}

/// Write an Avro `float` (4 bytes, little-endian IEEE 754).
#[inline]
pub fn write_float(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Write an Avro `double` (8 bytes, little-endian IEEE 754).
#[inline]
pub fn write_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Write Avro `bytes`: the length as a `long`, then the bytes.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, v: &[u8]) {
    write_long(out, v.len() as i64);
    out.extend_from_slice(v);
}

/// Write an Avro `string`: the UTF-8 length as a `long`, then the bytes.
#[inline]
pub fn write_string(out: &mut Vec<u8>, v: &str) {
    write_bytes(out, v.as_bytes());
}

/// Write `fixed` bytes (no length prefix).
#[inline]
pub fn write_fixed(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(v);
}

/// Write an array: one block with the element count, the items, then the 0 terminator
/// (an empty array is the 0 terminator alone), as apache-avro writes it.
#[inline]
pub fn write_array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for it in items {
            item(out, it);
        }
    }
    out.push(0);
}

/// A cursor over Avro binary bytes. Every read checks bounds and returns a [`DecodeError`]
/// instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Largest length prefix accepted for bytes/strings/collections before allocation, to keep a
/// corrupt or hostile length from exhausting memory. Lengths are also checked against the
/// bytes actually left.
pub const MAX_LEN: usize = 64 * 1024 * 1024;

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was consumed (trailing garbage means a wrong schema).
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                remaining: self.remaining(),
            })
        }
    }

    #[inline]
    fn eof(&self, what: &'static str) -> DecodeError {
        DecodeError::UnexpectedEof {
            what,
            offset: self.pos,
        }
    }

    /// Read an Avro `long` (zig-zag varint of at most 10 bytes).
    #[inline]
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        let mut z: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.eof("long"))?;
            self.pos += 1;
            if shift >= 64 || (shift == 63 && b > 1) {
                return Err(DecodeError::Malformed {
                    what: "long",
                    detail: "varint longer than 10 bytes".into(),
                });
            }
            z |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// Read an Avro `int`; a varint that does not fit in 32 bits is [`DecodeError::Malformed`].
    #[inline]
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        let v = self.read_long()?;
        i32::try_from(v).map_err(|_| DecodeError::Malformed {
            what: "int",
            detail: format!("value {v} does not fit in 32 bits"),
        })
    }

    /// Read an Avro `boolean`; a byte other than 0 or 1 is [`DecodeError::Malformed`].
    #[inline]
    pub fn read_boolean(&mut self) -> Result<bool, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.eof("boolean"))?;
        self.pos += 1;
        match b {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::Malformed {
                what: "boolean",
                detail: format!("byte {other:#04x} is neither 0 nor 1"),
            }),
        }
    }

    #[inline]
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.eof(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Read an Avro `float` (4 bytes, little-endian).
    #[inline]
    pub fn read_float(&mut self) -> Result<f32, DecodeError> {
        let s = self.take(4, "float")?;
        Ok(f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Read an Avro `double` (8 bytes, little-endian).
    #[inline]
    pub fn read_double(&mut self) -> Result<f64, DecodeError> {
        let s = self.take(8, "double")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(f64::from_le_bytes(a))
    }

    /// Read a length prefix and check it against [`MAX_LEN`] and the bytes left.
    #[inline]
    pub fn read_len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.read_long()?;
        if n < 0 {
            return Err(DecodeError::Malformed {
                what,
                detail: format!("negative length {n}"),
            });
        }
        let n = n as usize;
        if n > MAX_LEN || n > self.remaining() {
            return Err(DecodeError::Malformed {
                what,
                detail: format!(
                    "length {n} exceeds the {} bytes left in the payload",
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// Read Avro `bytes` (length-prefixed, checked by [`Reader::read_len`]).
    #[inline]
    pub fn read_bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.read_len("bytes")?;
        Ok(self.take(n, "bytes")?.to_vec())
    }

    /// Read an Avro `string`; invalid UTF-8 is [`DecodeError::Malformed`].
    #[inline]
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        let n = self.read_len("string")?;
        let s = self.take(n, "string")?;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|e| DecodeError::Malformed {
                what: "string",
                detail: format!("invalid UTF-8: {e}"),
            })
    }

    /// Read an Avro `fixed` of `N` bytes (no length prefix).
    #[inline]
    pub fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, "fixed")?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Read a union branch index and check it is below `branches`.
    #[inline]
    pub fn read_union_index(&mut self, branches: usize) -> Result<usize, DecodeError> {
        let i = self.read_long()?;
        if i < 0 || i as usize >= branches {
            return Err(DecodeError::Malformed {
                what: "union",
                detail: format!("branch index {i} out of range 0..{branches}"),
            });
        }
        Ok(i as usize)
    }

    /// Read an enum symbol index.
    #[inline]
    pub fn read_enum_index(&mut self) -> Result<i32, DecodeError> {
        self.read_int()
    }

    /// Read an array or map: blocks of `count` items (a negative count is followed by the
    /// block's byte size), ending with a 0 count. `item` reads one element.
    pub fn read_blocks<T>(
        &mut self,
        what: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        loop {
            let mut count = self.read_long()?;
            if count == 0 {
                return Ok(out);
            }
            if count < 0 {
                count = count.checked_neg().ok_or_else(|| DecodeError::Malformed {
                    what,
                    detail: "block count overflow".into(),
                })?;
                let _byte_size = self.read_long()?;
            }
            // Each item takes at least one byte except zero-sized ones; cap the reservation.
            let count = count as usize;
            if count > MAX_LEN {
                return Err(DecodeError::Malformed {
                    what,
                    detail: format!("block of {count} items is larger than allowed"),
                });
            }
            out.reserve(count.min(self.remaining()));
            for _ in 0..count {
                out.push(item(self)?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_zigzag_round_trips_extremes() {
        for v in [0i64, -1, 1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            write_long(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.read_long().unwrap(), v);
            r.finish().unwrap();
        }
    }

    #[test]
    fn known_encodings_match_the_spec() {
        // From the Avro spec's table: 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 64 -> 80 01.
        let cases: [(i64, &[u8]); 5] = [
            (0, &[0]),
            (-1, &[1]),
            (1, &[2]),
            (-2, &[3]),
            (64, &[0x80, 0x01]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            write_long(&mut out, v);
            assert_eq!(out, bytes, "encoding of {v}");
        }
    }

    #[test]
    fn truncated_and_hostile_inputs_are_errors_not_panics() {
        assert!(Reader::new(&[0x80]).read_long().is_err());
        assert!(Reader::new(&[0xff; 11]).read_long().is_err());
        // Length 100 with two bytes left.
        let mut out = Vec::new();
        write_long(&mut out, 100);
        out.extend_from_slice(b"ab");
        assert!(Reader::new(&out).read_string().is_err());
        // Negative length.
        let mut out = Vec::new();
        write_long(&mut out, -5);
        assert!(Reader::new(&out).read_bytes().is_err());
        // Invalid UTF-8.
        let mut out = Vec::new();
        write_bytes(&mut out, &[0xff, 0xfe]);
        assert!(Reader::new(&out).read_string().is_err());
        assert!(Reader::new(&[2]).read_boolean().is_err());
        assert!(Reader::new(&[4]).read_union_index(2).is_err());
    }
}
