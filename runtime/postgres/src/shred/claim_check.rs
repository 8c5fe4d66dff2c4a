//! Claim-check blobs sealed with their patient's data key: a [`ClaimCheckStore`] decorator that encrypts each blob before the wrapped store sees it and decrypts on fetch, so erasing the patient (destroying the key) erases their blobs too.
//!
//! A sealed blob is `MAGIC || subject length (u16 BE) || subject || nonce || AES-256-GCM(value)`,
//! the layout of an encrypted event payload, with the blob's subject (its patient, from
//! [`Blob::subject`]) as the data key's owner and `claim-check:` + subject as associated data.
//! A blob of an event type without PHI fields and without a subject is stored as given; a
//! blob with PHI fields but no subject is refused (it could never be erased).

use super::{KeyState, PhiPolicy, SubjectKeys, header, parse_sealed};
use carebus_core::claim_check::{Blob, ClaimCheckStore};
use futures::future::BoxFuture;
use std::sync::Arc;

/// A claim-check store whose blobs are sealed per patient. Build it with
/// [`super::ShreddingStore::seal_claim_checks`] to share the event store's keys and policy.
pub struct SealedClaimCheck<S> {
    inner: S,
    keys: SubjectKeys,
    policy: Arc<PhiPolicy>,
}

impl<S> std::fmt::Debug for SealedClaimCheck<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedClaimCheck").finish_non_exhaustive()
    }
}

/// Why a sealed blob could not be read. Never holds the subject or the payload.
#[derive(Debug, thiserror::Error)]
pub enum SealedBlobError {
    /// The patient was erased: the blob's key is destroyed and the payload is gone for good.
    #[error(
        "the claim-checked payload belongs to an erased subject (crypto-shredding): it cannot be read any more"
    )]
    Erased,
    /// The blob names a subject that has no key: it was not sealed by this key store.
    #[error("the claim-checked payload's key is missing: was it sealed against another database?")]
    MissingKey,
    /// The blob has PHI fields but no subject to seal it for.
    #[error(
        "{event_type} v{version} has PHI fields but no patient to seal its claim-checked payload for (no patientId and not a Patient event)"
    )]
    NoSubject {
        /// The event type.
        event_type: String,
        /// Its schema version.
        version: u32,
    },
    /// The key store or the decryption failed.
    #[error("{0}")]
    Keys(String),
}

fn io(e: SealedBlobError) -> std::io::Error {
    let kind = match e {
        SealedBlobError::Erased => std::io::ErrorKind::PermissionDenied,
        SealedBlobError::NoSubject { .. } => std::io::ErrorKind::InvalidInput,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, e)
}

fn aad(subject: &str) -> Vec<u8> {
    let mut a = b"claim-check:".to_vec();
    a.extend_from_slice(subject.as_bytes());
    a
}

impl<S: ClaimCheckStore> SealedClaimCheck<S> {
    /// Seal the blobs written to `inner` with the data keys of `keys`; `policy` says which
    /// event types hold PHI.
    pub fn new(inner: S, keys: SubjectKeys, policy: Arc<PhiPolicy>) -> Self {
        SealedClaimCheck {
            inner,
            keys,
            policy,
        }
    }

    /// The wrapped store (it holds ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: ClaimCheckStore> ClaimCheckStore for SealedClaimCheck<S> {
    fn put(&self, mut blob: Blob) -> BoxFuture<'_, std::io::Result<String>> {
        Box::pin(async move {
            let Some(subject) = blob.subject.clone() else {
                if self
                    .policy
                    .phi_paths(&blob.event_type, blob.event_version)
                    .is_empty()
                {
                    return self.inner.put(blob).await;
                }
                return Err(io(SealedBlobError::NoSubject {
                    event_type: blob.event_type,
                    version: blob.event_version,
                }));
            };
            let key = match self.keys.get_or_create(&subject, None).await {
                Ok(KeyState::Active(key)) => key,
                Ok(_) => return Err(io(SealedBlobError::Erased)),
                Err(e) => return Err(io(SealedBlobError::Keys(e.to_string()))),
            };
            let mut sealed = header(&subject);
            sealed.extend_from_slice(&key.seal(&aad(&subject), &blob.value));
            blob.value = sealed;
            self.inner.put(blob).await
        })
    }

    fn get<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>> {
        Box::pin(async move {
            let stored = self.inner.get(reference).await?;
            let Some((subject, sealed)) = parse_sealed(&stored) else {
                return Ok(stored);
            };
            match self.keys.get(subject).await {
                Ok(KeyState::Active(key)) => key
                    .open(&aad(subject), sealed)
                    .map_err(|e| io(SealedBlobError::Keys(e.to_string()))),
                Ok(KeyState::Destroyed) => Err(io(SealedBlobError::Erased)),
                Ok(KeyState::Missing) => Err(io(SealedBlobError::MissingKey)),
                Err(e) => Err(io(SealedBlobError::Keys(e.to_string()))),
            }
        })
    }
}
