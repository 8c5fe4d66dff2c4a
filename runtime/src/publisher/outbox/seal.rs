//! Outbox records turned into sealed bytes and back: a compact binary form of the record (topic, key, value, headers, partition) encrypted with AES-256-GCM under the outbox key, a random 96-bit nonce per record and the record's id as associated data.
//!
//! Sealed form: `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The id as associated
//! data binds a record to its slot: a sealed value copied under another id does not open.

use crate::transport::{Record, header_name};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Bytes sealing adds to a record's encoded form (nonce and tag).
pub(super) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The AES-256 key the outbox encrypts its records with. `Debug` never shows it.
///
/// Configure it as `outbox_key` / `CAREBUS_OUTBOX_KEY` (standard base64 of 32 random bytes,
/// e.g. `openssl rand -base64 32`) or `outbox_key_file` (a file holding that text).
#[derive(Clone)]
pub struct OutboxKey(Key<Aes256Gcm>);

impl std::fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxKey([redacted])")
    }
}

impl PartialEq for OutboxKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// Why an outbox key text was refused; never holds the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the outbox key must be standard base64 of 32 random bytes (e.g. `openssl rand -base64 32`): {0}"
)]
pub struct BadOutboxKey(&'static str);

impl OutboxKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> OutboxKey {
        OutboxKey(bytes.into())
    }

    /// From standard base64 of 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<OutboxKey, BadOutboxKey> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| BadOutboxKey("it is not base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| BadOutboxKey("it does not decode to 32 bytes"))?;
        Ok(OutboxKey::from_bytes(bytes))
    }

    /// A new random key (tests, first setup: store its [`OutboxKey::to_base64`] as a secret).
    pub fn generate() -> OutboxKey {
        OutboxKey(Aes256Gcm::generate_key(OsRng))
    }

    /// The key as standard base64, the form `outbox_key` takes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0)
    }
}

/// Seal `plain` for the slot `id`.
pub(super) fn seal(cipher: &Aes256Gcm, id: u64, plain: &[u8]) -> Vec<u8> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let aad = id.to_be_bytes();
    // Encryption of an in-memory buffer far below GCM's length limit cannot fail.
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// The plaintext sealed for slot `id`; `None` for a wrong key, another slot or altered bytes.
pub(super) fn open(cipher: &Aes256Gcm, id: u64, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < OVERHEAD {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let aad = id.to_be_bytes();
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
        .ok()
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The record as bytes: topic, key (flag + bytes), value, partition (flag + i32), headers
/// (count, then name and value each); lengths are little-endian u32.
pub(super) fn encode(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.size() + r.topic.len() + 32 + 8 * r.headers.len());
    put(&mut out, r.topic.as_bytes());
    match &r.key {
        Some(k) => {
            out.push(1);
            put(&mut out, k);
        }
        None => out.push(0),
    }
    put(&mut out, r.payload());
    match r.partition {
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.to_le_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
    for (name, value) in &r.headers {
        put(&mut out, name.as_bytes());
        put(&mut out, value);
    }
    out
}

/// Reads [`encode`]'s output; every length is checked against what is left before use.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The record [`encode`] wrote; `None` when the bytes are not such a record.
pub(super) fn decode(bytes: &[u8]) -> Option<Record> {
    let mut r = Reader(bytes);
    let topic = std::str::from_utf8(r.bytes()?).ok()?.to_owned();
    let key = match r.u8()? {
        0 => None,
        1 => Some(r.bytes()?.to_vec()),
        _ => return None,
    };
    let value = r.bytes()?.to_vec();
    let partition = match r.u8()? {
        0 => None,
        1 => Some(i32::from_le_bytes(r.take(4)?.try_into().ok()?)),
        _ => return None,
    };
    let count = r.u32()? as usize;
    // Each header takes at least 8 bytes: a count beyond that is not a record.
    if count > r.0.len() / 8 {
        return None;
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = std::str::from_utf8(r.bytes()?).ok()?;
        headers.push((header_name(name), r.bytes()?.to_vec()));
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(Record {
        topic,
        key,
        value: Some(value),
        headers,
        partition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_opens_only_with_its_key_and_id() {
        let mut record = Record::new("t", "k1", b"Jane Doe".to_vec()).with_header("ce_id", "e1");
        record.partition = Some(2);
        let key = OutboxKey::generate();
        let sealed = seal(&key.cipher(), 7, &encode(&record));
        assert!(
            !sealed.windows(8).any(|w| w == b"Jane Doe"),
            "no plaintext in the sealed bytes"
        );
        let opened = open(&key.cipher(), 7, &sealed).unwrap();
        assert_eq!(decode(&opened).unwrap(), record);
        assert!(open(&key.cipher(), 8, &sealed).is_none(), "another id");
        assert!(
            open(&OutboxKey::generate().cipher(), 7, &sealed).is_none(),
            "another key"
        );
        assert!(open(&key.cipher(), 7, &sealed[..10]).is_none(), "too short");
        let keyless = Record {
            key: None,
            ..Record::new("t", "", vec![])
        };
        assert_eq!(decode(&encode(&keyless)).unwrap(), keyless);
    }

    #[test]
    fn truncated_or_garbage_bytes_decode_to_none_without_panicking() {
        let bytes = encode(&Record::new("topic", "key", vec![1, 2, 3]).with_header("h", "v"));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none(), "trailing bytes");
        assert!(decode(&[0xff; 64]).is_none());
    }

    #[test]
    fn key_texts_are_checked_and_never_echoed() {
        let key = OutboxKey::generate();
        assert_eq!(OutboxKey::from_base64(&key.to_base64()).unwrap(), key);
        assert_eq!(format!("{key:?}"), "OutboxKey([redacted])");
        let err = OutboxKey::from_base64("c2VjcmV0").unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        assert!(!err.to_string().contains("c2VjcmV0"));
        let err = OutboxKey::from_base64("not base64!").unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }
}
