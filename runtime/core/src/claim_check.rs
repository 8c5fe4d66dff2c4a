//! Claim checks: an oversized record value turned into a stored blob plus a small reference sent in its place, the reference turned back into the value on the consumer side, and blobs older than their topic's retention removed.
//!
//! The record keeps its headers (the envelope) and gets a `carebus_claimcheck` header holding
//! the reference; its value becomes the reference's UTF-8 bytes. A consumer configured with the
//! same store fetches the original value before decoding.
//!
//! A blob is the whole event payload, PHI included. [`LocalDirStore`] writes it as given: wrap
//! it in a store that seals each blob with its patient's key (carebus-postgres's
//! `SealedClaimCheck`) so that erasing the patient erases their blobs too. Each [`Blob`] says
//! whose it is ([`Blob::subject`], found by [`patient_subject`]) for that purpose.

use crate::topic::TopicSpec;
use crate::transport::{Record, header_str};
use futures::future::BoxFuture;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Header naming the stored blob of a claim-checked record.
pub const CLAIM_CHECK_HEADER: &str = "carebus_claimcheck";

/// One payload to check in, with what a store needs to file it.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// The event's id: blobs are named after it.
    pub event_id: String,
    /// The topic the record goes to: its retention is the blob's.
    pub topic: String,
    /// The event's type and schema version.
    pub event_type: String,
    /// Schema version of the event.
    pub event_version: u32,
    /// Whose data the payload is (the patient), when the event concerns one.
    pub subject: Option<String>,
    /// The record value: the encoded event (may hold PHI).
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No subject, no value: they identify or describe a patient.
        f.debug_struct("Blob")
            .field("event_id", &self.event_id)
            .field("topic", &self.topic)
            .field("event_type", &self.event_type)
            .field("event_version", &self.event_version)
            .field("bytes", &self.value.len())
            .finish_non_exhaustive()
    }
}

/// Where claim-checked payloads are kept. Implement it for S3, a database, ...
pub trait ClaimCheckStore: Send + Sync + 'static {
    /// Store the blob; return the reference to send in its place.
    fn put(&self, blob: Blob) -> BoxFuture<'_, std::io::Result<String>>;
    /// Fetch the value a reference points to.
    fn get<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>>;
}

/// Whose data an event is, for the per-patient keys of crypto-shredding: the `patientId`
/// field of its JSON form, else its aggregate id when the aggregate is a `Patient`.
pub fn patient_subject(
    aggregate_type: &str,
    aggregate_id: &str,
    json: Option<&Value>,
) -> Option<String> {
    json.and_then(|j| j.get("patientId"))
        // A string, or an optional one in Avro's JSON encoding (`{"string": "..."}`).
        .and_then(|v| {
            v.as_str()
                .or_else(|| v.get("string").and_then(Value::as_str))
        })
        .map(str::to_owned)
        .or_else(|| (aggregate_type == "Patient").then(|| aggregate_id.to_owned()))
}

/// A claim-check store in a local (or mounted shared) directory: one file per event, in a
/// folder per topic.
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

    /// The directory the blobs are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Delete the blobs older (by modification time) than their topic's retention in
    /// `topics`, as of `now`; returns how many were deleted. Blobs of topics that are not in
    /// `topics`, or whose retention is the broker's default or infinite, are kept: the record
    /// referring to a blob lives as long as its topic keeps it, and no longer.
    pub fn remove_expired(
        &self,
        topics: &[TopicSpec<'_>],
        now: SystemTime,
    ) -> std::io::Result<usize> {
        let mut removed = 0;
        for topic in topics {
            let Some(retention) = topic.retention_ms.filter(|ms| *ms > 0) else {
                continue;
            };
            let folder = self.dir.join(topic.name);
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let cutoff = now
                .checked_sub(Duration::from_millis(retention as u64))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            for entry in entries {
                let entry = entry?;
                if entry.metadata()?.modified()? < cutoff {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Remove expired blobs now and then every `every`, until the returned task is aborted
    /// (needs a tokio runtime). A failed sweep is logged and tried again next time.
    pub fn spawn_expiry(
        &self,
        topics: &'static [TopicSpec<'static>],
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        let every = every.max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                let sweep = store.clone();
                match tokio::task::spawn_blocking(move || {
                    sweep.remove_expired(topics, SystemTime::now())
                })
                .await
                {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(removed = n, "expired claim-check blobs removed"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "claim-check expiry failed"),
                    Err(e) => tracing::warn!(error = %e, "claim-check expiry task failed"),
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

/// Whether `s` is usable as a blob's file name: letters, digits, `-`, `_`, `.`, not leading `.`.
pub(crate) fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.')
}

fn invalid(message: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// The path of a `file:` reference under `dir`: `file:<topic>/<event id>.bin` (or
/// `file:<event id>.bin`, a blob written before blobs had a folder per topic).
fn reference_path(dir: &Path, reference: &str) -> std::io::Result<PathBuf> {
    let name = reference
        .strip_prefix("file:")
        .ok_or_else(|| invalid("claim-check reference is not a file: reference of this store"))?;
    let mut path = dir.to_path_buf();
    let mut parts = 0;
    for part in name.split('/') {
        if !safe_name(part) {
            return Err(invalid(
                "claim-check reference has a part that is not a safe file name",
            ));
        }
        path.push(part);
        parts += 1;
    }
    if parts > 2 {
        return Err(invalid("claim-check reference has more than topic/name"));
    }
    Ok(path)
}

impl ClaimCheckStore for LocalDirStore {
    fn put(&self, blob: Blob) -> BoxFuture<'_, std::io::Result<String>> {
        Box::pin(async move {
            if !safe_name(&blob.event_id) || !safe_name(&blob.topic) {
                return Err(invalid(
                    "event id or topic is not usable as a claim-check file name (letters, digits, - _ . only)",
                ));
            }
            let reference = format!("file:{}/{}.bin", blob.topic, blob.event_id);
            let folder = self.dir.join(&blob.topic);
            let path = folder.join(format!("{}.bin", blob.event_id));
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&folder)?;
                std::fs::write(&path, &blob.value)?;
                std::fs::File::open(&path)?.sync_all()
            })
            .await
            .map_err(std::io::Error::other)??;
            Ok(reference)
        })
    }

    fn get<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>> {
        Box::pin(async move {
            let path = reference_path(&self.dir, reference)?;
            tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(std::io::Error::other)?
        })
    }
}

/// A shared claim-check store.
pub type SharedClaimCheck = Arc<dyn ClaimCheckStore>;

/// Move the record's value into the store and send the reference instead. `blob` says whose
/// the value is; its `value` and `topic` are the record's. On an error the record has lost its
/// value: it must not be sent.
pub async fn check_in(
    store: &dyn ClaimCheckStore,
    mut blob: Blob,
    record: &mut Record,
) -> std::io::Result<()> {
    blob.value = record.value.take().unwrap_or_default();
    blob.topic.clone_from(&record.topic);
    let reference = store.put(blob).await?;
    record.value = Some(reference.clone().into_bytes());
    record
        .headers
        .push((CLAIM_CHECK_HEADER.into(), reference.into_bytes()));
    Ok(())
}

/// If the record is claim-checked, fetch its original value; otherwise `None`.
pub async fn check_out(
    store: Option<&dyn ClaimCheckStore>,
    headers: &[(crate::transport::HeaderName, Vec<u8>)],
) -> Option<std::io::Result<Vec<u8>>> {
    let reference = header_str(headers, CLAIM_CHECK_HEADER)?;
    Some(match store {
        Some(s) => s.get(reference).await,
        None => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "record is claim-checked but the consumer has no claim-check store configured",
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(topic: &str, id: &str, value: &[u8]) -> Blob {
        Blob {
            event_id: id.into(),
            topic: topic.into(),
            event_type: "PatientCreated".into(),
            event_version: 1,
            subject: Some("p-1".into()),
            value: value.to_vec(),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("carebus-claims-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        dir
    }

    #[tokio::test]
    async fn blobs_are_filed_per_topic_and_references_cannot_leave_the_directory() {
        let dir = temp("refs");
        let store = LocalDirStore::new(&dir).unwrap();
        let reference = store
            .put(blob("t.events", "e-1", b"payload"))
            .await
            .unwrap();
        assert_eq!(reference, "file:t.events/e-1.bin");
        assert_eq!(store.get(&reference).await.unwrap(), b"payload");
        // A blob written before blobs had a folder per topic still reads.
        std::fs::write(dir.join("old-1.bin"), b"old").unwrap();
        assert_eq!(store.get("file:old-1.bin").await.unwrap(), b"old");
        for hostile in [
            "file:../etc/passwd",
            "file:/etc/passwd",
            "file:a/b/c.bin",
            "s3:x",
            "file:",
        ] {
            let e = store.get(hostile).await.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{hostile}");
        }
        let e = store.put(blob("../up", "e-2", b"x")).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn check_in_and_out_round_trip_and_debug_shows_no_subject_or_value() {
        let dir = temp("roundtrip");
        let store = LocalDirStore::new(&dir).unwrap();
        let mut record = Record::new("t.events", "k", b"the whole event".to_vec());
        check_in(&store, blob("ignored", "e-9", b""), &mut record)
            .await
            .unwrap();
        assert_eq!(
            record.payload(),
            b"file:t.events/e-9.bin",
            "the record's topic files the blob"
        );
        let back = check_out(Some(&store), &record.headers)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, b"the whole event");
        assert!(check_out(None, &record.headers).await.unwrap().is_err());
        assert!(
            check_out(Some(&store), &[]).await.is_none(),
            "not claim-checked"
        );
        let shown = format!("{:?}", blob("t", "e", b"Jane Doe"));
        assert!(!shown.contains("p-1") && !shown.contains("Jane"), "{shown}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn blobs_older_than_their_topics_retention_are_removed() {
        let dir = temp("expiry");
        let store = LocalDirStore::new(&dir).unwrap();
        for (topic, id) in [
            ("short", "old"),
            ("short", "new"),
            ("forever", "old"),
            ("unknown", "old"),
        ] {
            store.put(blob(topic, id, b"x")).await.unwrap();
        }
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        for topic in ["short", "forever", "unknown"] {
            let f = std::fs::File::options()
                .write(true)
                .open(dir.join(topic).join("old.bin"))
                .unwrap();
            f.set_modified(two_hours_ago).unwrap();
        }
        let topics = [
            TopicSpec {
                retention_ms: Some(3_600_000),
                ..TopicSpec::new("short", 1, 1)
            },
            TopicSpec {
                retention_ms: Some(-1),
                ..TopicSpec::new("forever", 1, 1)
            },
            TopicSpec::new("absent", 1, 1),
        ];
        assert_eq!(store.remove_expired(&topics, SystemTime::now()).unwrap(), 1);
        assert!(!dir.join("short/old.bin").exists());
        for kept in ["short/new.bin", "forever/old.bin", "unknown/old.bin"] {
            assert!(dir.join(kept).exists(), "{kept}");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
