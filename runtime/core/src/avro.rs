//! Avro binary primitives: Rust values turned into Avro binary bytes and back, used by the generated direct codecs.
//!
//! The encoding follows the Avro specification ("Binary Encoding"): zig-zag varints for
//! int/long, little-endian IEEE floats, length-prefixed bytes/strings, blocked arrays and maps,
//! union branch index as a long.

use crate::error::DecodeError;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many recursive records (a record that can contain itself, e.g. a linked-list node or a
/// tree) a decoder lets be open at once, unless told otherwise: deep enough for real data,
/// shallow enough that a hostile payload of 100 000 levels is an error long before it could
/// exhaust the stack. Records that are not recursive do not count.
pub const DEFAULT_MAX_DEPTH: usize = 64;

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// The nesting limit new readers and the JSON form's decoders start with: [`DEFAULT_MAX_DEPTH`]
/// unless [`set_max_depth`] changed it.
pub fn max_depth() -> usize {
    MAX_DEPTH.load(Ordering::Relaxed)
}

/// Set, for the whole process, how deep recursive records may nest when decoded (Avro binary
/// and the JSON form). Each level costs stack: keep it in the hundreds, not the hundreds of
/// thousands. A value nested deeper than the limit decodes as [`DecodeError::TooDeep`].
pub fn set_max_depth(limit: usize) {
    MAX_DEPTH.store(limit, Ordering::Relaxed);
}

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
    /// Array and map items read so far, against [`Reader::item_budget`].
    items: usize,
    /// Recursive records open now, against `max_depth` ([`Reader::nested`]).
    depth: usize,
    max_depth: usize,
}

/// Largest length prefix accepted for bytes and strings before allocation, to keep a corrupt
/// or hostile length from exhausting memory. Lengths are also checked against the bytes
/// actually left.
pub const MAX_LEN: usize = 64 * 1024 * 1024;

/// Array and map items a datum may hold beyond one per byte of its payload: items of `null`
/// or of an empty record take no bytes, and without a bound a few block counts would loop
/// for minutes.
pub const MAX_ZERO_SIZED_ITEMS: usize = 1024 * 1024;

/// Most memory reserved for a collection before its items are read: a block count is a claim,
/// so it reserves no more than this and the bytes left could hold; the rest grows as items
/// decode.
const MAX_RESERVE_BYTES: usize = 64 * 1024;

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            items: 0,
            depth: 0,
            max_depth: max_depth(),
        }
    }

    /// The same reader with another nesting limit for recursive records (instead of
    /// [`max_depth`]).
    pub fn with_max_depth(mut self, limit: usize) -> Self {
        self.max_depth = limit;
        self
    }

    /// Read one level of the recursive record `record` (its full name) with `read`: fails
    /// with [`DecodeError::TooDeep`] instead of reading when the limit is reached, so that a
    /// deeply nested payload is an error and never a stack overflow. Generated decoders of
    /// recursive records call this.
    pub fn nested<T>(
        &mut self,
        record: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.depth >= self.max_depth {
            return Err(DecodeError::TooDeep {
                record,
                limit: self.max_depth,
            });
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
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

    /// Most array and map items (all collections together) a datum of this payload may hold:
    /// one per byte plus [`MAX_ZERO_SIZED_ITEMS`].
    pub fn item_budget(&self) -> usize {
        self.buf.len().saturating_add(MAX_ZERO_SIZED_ITEMS)
    }

    /// Read an array or map: blocks of `count` items (a negative count is followed by the
    /// block's byte size, which must fit in the bytes left), ending with a 0 count. `item`
    /// reads one element. More items than [`Reader::item_budget`] is
    /// [`DecodeError::Malformed`].
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
                let size = self.read_long()?;
                if usize::try_from(size).map_or(true, |size| size > self.remaining()) {
                    return Err(DecodeError::Malformed {
                        what,
                        detail: format!(
                            "block size {size} exceeds the {} bytes left in the payload",
                            self.remaining()
                        ),
                    });
                }
            }
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            self.items = self.items.saturating_add(count);
            if self.items > self.item_budget() {
                return Err(DecodeError::Malformed {
                    what,
                    detail: format!(
                        "block of {count} items takes the datum over its {} items \
                         (one per payload byte plus {MAX_ZERO_SIZED_ITEMS})",
                        self.item_budget()
                    ),
                });
            }
            let fits = MAX_RESERVE_BYTES / std::mem::size_of::<T>().max(1);
            out.reserve(count.min(self.remaining()).min(fits));
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

    #[test]
    fn nesting_is_counted_and_limited() {
        // A chain of `levels` nested reads, as a recursive record's decoder does.
        fn chain(r: &mut Reader<'_>, levels: usize) -> Result<usize, DecodeError> {
            r.nested("t.Node", |r| {
                if levels > 1 {
                    chain(r, levels - 1)
                } else {
                    Ok(r.depth)
                }
            })
        }
        let mut r = Reader::new(&[]).with_max_depth(3);
        assert_eq!(chain(&mut r, 3), Ok(3));
        assert_eq!(r.depth, 0, "every level is closed again");
        assert_eq!(
            chain(&mut r, 4),
            Err(DecodeError::TooDeep {
                record: "t.Node",
                limit: 3
            })
        );
        assert_eq!(r.depth, 0, "closed again after the error too");
        assert_eq!(Reader::new(&[]).max_depth, max_depth());
        assert_eq!(DEFAULT_MAX_DEPTH, 64);
    }

    fn blocks(counts: &[(i64, Option<i64>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (count, size) in counts {
            write_long(&mut out, *count);
            if let Some(size) = size {
                write_long(&mut out, *size);
            }
        }
        out.push(0);
        out
    }

    #[test]
    fn items_that_take_no_bytes_are_bounded_across_blocks() {
        // Ten nulls take no bytes: fine.
        let ten = blocks(&[(10, None)]);
        assert_eq!(
            Reader::new(&ten)
                .read_blocks("array", |_| Ok(()))
                .unwrap()
                .len(),
            10
        );
        // Two blocks of 600 000 nulls each: every block alone is below the bound, together
        // they are over it, and the reader stops before looping over them.
        let many = blocks(&[(600_000, None), (600_000, None)]);
        let err = Reader::new(&many)
            .read_blocks("array", |_| Ok(()))
            .unwrap_err();
        assert!(
            matches!(err, DecodeError::Malformed { what: "array", .. }),
            "{err}"
        );
        // The bound is shared by every collection of the datum (nested arrays of nulls).
        let mut nested = Vec::new();
        write_long(&mut nested, 3);
        for _ in 0..3 {
            nested.extend_from_slice(&blocks(&[(500_000, None)]));
        }
        nested.push(0);
        let err = Reader::new(&nested)
            .read_blocks("array", |r| r.read_blocks("array", |_| Ok(())))
            .unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    }

    #[test]
    fn block_sizes_are_checked_against_the_bytes_left() {
        // A negative count is followed by the block's byte size.
        let mut ok = Vec::new();
        write_long(&mut ok, -2);
        write_long(&mut ok, 2);
        write_long(&mut ok, 7);
        write_long(&mut ok, 8);
        ok.push(0);
        let items = Reader::new(&ok)
            .read_blocks("array", Reader::read_long)
            .unwrap();
        assert_eq!(items, vec![7, 8]);
        for size in [-1, 1 << 40, i64::MAX] {
            // One item (7) and the end of the array follow: only the size is wrong.
            let mut bad = Vec::new();
            write_long(&mut bad, -1);
            write_long(&mut bad, size);
            write_long(&mut bad, 7);
            bad.push(0);
            let err = Reader::new(&bad)
                .read_blocks("array", Reader::read_long)
                .unwrap_err();
            assert!(
                matches!(err, DecodeError::Malformed { .. }),
                "{size}: {err}"
            );
        }
        let min = blocks(&[(i64::MIN, Some(0))]);
        assert!(
            Reader::new(&min)
                .read_blocks("map", Reader::read_long)
                .is_err()
        );
    }
}
