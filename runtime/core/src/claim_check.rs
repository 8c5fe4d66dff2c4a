//! Claim checks: an oversized record value turned into a stored blob plus a small reference sent in its place, and the reference turned back into the value on the consumer side.
//!
//! The record keeps its headers (the envelope) and gets a `carebus_claimcheck` header holding
//! the reference; its value becomes the reference's UTF-8 bytes. A consumer configured with the
//! same store fetches the original value before decoding.

use crate::transport::{Record, header_str};
use std::path::PathBuf;
use std::sync::Arc;

/// Header naming the stored blob of a claim-checked record.
pub const CLAIM_CHECK_HEADER: &str = "carebus_claimcheck";

/// Where claim-checked payloads are kept. Implement it for S3, a database, ...
pub trait ClaimCheckStore: Send + Sync + 'static {
    /// Store `value` under a name derived from `event_id`; return the reference to send.
    fn put(&self, event_id: &str, value: &[u8]) -> std::io::Result<String>;
    /// Fetch the value a reference points to.
    fn get(&self, reference: &str) -> std::io::Result<Vec<u8>>;
}

/// A claim-check store in a local (or mounted shared) directory: one file per event.
#[derive(Clone, Debug)]
pub struct LocalDirStore {
    dir: PathBuf,
}

impl LocalDirStore {
    /// A store writing into `dir`, created (with its parents) if missing.
    ///
    /// Fails when the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(LocalDirStore { dir })
    }
}

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.')
}

impl ClaimCheckStore for LocalDirStore {
    fn put(&self, event_id: &str, value: &[u8]) -> std::io::Result<String> {
        if !safe_name(event_id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "event id is not usable as a claim-check name (letters, digits, - _ . only)",
            ));
        }
        let name = format!("{event_id}.bin");
        let path = self.dir.join(&name);
        std::fs::write(&path, value)?;
        std::fs::File::open(&path)?.sync_all()?;
        Ok(format!("file:{name}"))
    }

    fn get(&self, reference: &str) -> std::io::Result<Vec<u8>> {
        let name = reference
            .strip_prefix("file:")
            .filter(|n| safe_name(n))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "claim-check reference is not a file: reference of this store",
                )
            })?;
        std::fs::read(self.dir.join(name))
    }
}

/// A shared claim-check store.
pub type SharedClaimCheck = Arc<dyn ClaimCheckStore>;

/// Move the record's value into the store and send the reference instead.
pub fn check_in(
    store: &dyn ClaimCheckStore,
    event_id: &str,
    record: &mut Record,
) -> std::io::Result<()> {
    let reference = store.put(event_id, &record.value)?;
    record.value = reference.clone().into_bytes();
    record
        .headers
        .push((CLAIM_CHECK_HEADER.into(), reference.into_bytes()));
    Ok(())
}

/// If the record is claim-checked, fetch its original value.
pub fn check_out(
    store: Option<&dyn ClaimCheckStore>,
    headers: &[(crate::transport::HeaderName, Vec<u8>)],
    value: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    match header_str(headers, CLAIM_CHECK_HEADER) {
        None => Ok(value),
        Some(reference) => match store {
            Some(s) => s.get(reference),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "record is claim-checked but the consumer has no claim-check store configured",
            )),
        },
    }
}
