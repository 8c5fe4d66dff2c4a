//! AES-256-GCM primitives of crypto-shredding: a master key (from config or `CAREBUS_MASTER_KEY`) wraps per-subject data keys; data keys seal payloads and PHI values as `nonce || ciphertext`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Environment variable holding the master key (32 bytes, standard base64).
pub const MASTER_KEY_VAR: &str = "CAREBUS_MASTER_KEY";

const NONCE_LEN: usize = 12;

/// Why a key or ciphertext could not be used. Never holds key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The master key text is not standard base64 of 32 bytes; says which.
    #[error(
        "the master key must be 32 bytes in standard base64 (e.g. `openssl rand -base64 32`); {0}"
    )]
    BadMasterKey(&'static str),
    /// `CAREBUS_MASTER_KEY` is not set.
    #[error("{MASTER_KEY_VAR} is not set; set it to 32 random bytes in base64")]
    MissingMasterKey,
    /// A sealed value did not open: wrong key, wrong subject or event, or altered bytes.
    #[error("a sealed value could not be opened: wrong key or altered ciphertext ({what})")]
    Open {
        /// What was being opened (`"PHI value"`, `"wrapped data key"`).
        what: &'static str,
    },
}

/// The key that wraps every subject's data key. Debug never shows it.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes.into())
    }
    /// From standard base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<MasterKey, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::BadMasterKey("it is not base64"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadMasterKey("it does not decode to 32 bytes"))?;
        Ok(MasterKey::from_bytes(arr))
    }
    /// From [`MASTER_KEY_VAR`].
    pub fn from_env() -> Result<MasterKey, CryptoError> {
        let text = std::env::var(MASTER_KEY_VAR).map_err(|_| CryptoError::MissingMasterKey)?;
        MasterKey::from_base64(&text)
    }
    /// A new random key (tests, first setup).
    pub fn generate() -> MasterKey {
        MasterKey(Aes256Gcm::generate_key(OsRng))
    }

    /// Wrap a data key for storage, bound to its subject.
    pub(crate) fn wrap(&self, key: &DataKey, subject: &str) -> Vec<u8> {
        seal_with(&self.0, subject.as_bytes(), &key.0[..])
    }
    /// Unwrap a stored data key of `subject`.
    pub(crate) fn unwrap_key(&self, wrapped: &[u8], subject: &str) -> Result<DataKey, CryptoError> {
        let bytes = open_with(&self.0, subject.as_bytes(), wrapped, "wrapped data key")?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open {
            what: "wrapped data key",
        })?;
        Ok(DataKey(arr.into()))
    }
}

/// One subject's data key. Debug never shows it.
#[derive(Clone)]
pub struct DataKey(Key<Aes256Gcm>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A new random data key.
    pub fn generate() -> DataKey {
        DataKey(Aes256Gcm::generate_key(OsRng))
    }
    /// `nonce || AES-256-GCM(plaintext)`, authenticated with `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.0, aad, plaintext)
    }
    /// The plaintext of [`DataKey::seal`]'s output.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.0, aad, sealed, "PHI value")
    }
}

fn seal_with(key: &Key<Aes256Gcm>, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key);
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    // Encryption with a fresh nonce and in-memory buffers cannot fail.
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(
    key: &Key<Aes256Gcm>,
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Open { what });
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Open { what })?;
    Aes256Gcm::new(key)
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Open { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_aad() {
        let k = DataKey::generate();
        let sealed = k.seal(b"event-1", b"Jordan");
        assert_ne!(&sealed[12..], b"Jordan");
        assert_eq!(k.open(b"event-1", &sealed).unwrap(), b"Jordan");
        assert!(k.open(b"event-2", &sealed).is_err());
        assert!(DataKey::generate().open(b"event-1", &sealed).is_err());
        assert!(k.open(b"event-1", &sealed[..5]).is_err());
    }

    #[test]
    fn wrapped_keys_unwrap_for_their_subject_only() {
        let m = MasterKey::generate();
        let k = DataKey::generate();
        let w = m.wrap(&k, "p-1");
        let back = m.unwrap_key(&w, "p-1").unwrap();
        assert_eq!(back.open(b"", &k.seal(b"", b"x")).unwrap(), b"x");
        assert!(m.unwrap_key(&w, "p-2").is_err());
        assert!(MasterKey::generate().unwrap_key(&w, "p-1").is_err());
    }

    #[test]
    fn master_key_text_is_checked() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert_eq!(
            format!("{:?}", MasterKey::generate()),
            "MasterKey([redacted])"
        );
    }
}
