//! Crypto-shredding: a decorator around any [`EventStore`] that encrypts each event's PHI (the binary payload and the PHI paths of its JSON form) with its subject's data key on append and decrypts on read; destroying the key erases the PHI while the events stay readable.
//!
//! # Where encryption happens
//!
//! In [`ShreddingStore::append`], before the core store sees the batch, so no plaintext PHI
//! reaches PostgreSQL (nor its WAL, backups or replicas). For an event whose type has PHI
//! fields ([`PhiPolicy`], from the generated `EventInfo::phi_fields`):
//! - `data` (the Avro/Protobuf payload, which holds the PHI) becomes
//!   `MAGIC || subject length (u16 BE) || subject || nonce || AES-256-GCM(data)`;
//! - each PHI path of `data_json` becomes `{"$phi": base64(nonce || ciphertext)}`; the other
//!   fields stay plain, so the query API can still filter and show them.
//!
//! The subject (whose key) is the event's `patientId` JSON field, else its aggregate id when
//! the aggregate type is `Patient`; [`PhiPolicy::with_subject`] replaces that rule. An event
//! with PHI but no subject is refused. Events without PHI fields are stored as given.
//!
//! Reads through the decorator decrypt. After [`ShreddingStore::erase`] the subject's key is
//! gone: its events still read, with `data` replaced by [`ERASED_DATA`] and every PHI path of
//! `data_json` set to `"[erased]"`; [`decode_erasable`] turns that into [`Erasable::Erased`].
//! Snapshots of a stream holding sealed events are sealed whole with the same subject's key
//! (`{"$sealed": …}`); erasure also deletes them, and an erased subject's sealed snapshot reads
//! as absent. Claim-checked blobs are sealed per subject too ([`SealedClaimCheck`]).

mod claim_check;
mod crypto;
mod keys;

pub use claim_check::{SealedBlobError, SealedClaimCheck};
pub use crypto::{CryptoError, DataKey, MASTER_KEY_VAR, MasterKey};
pub use keys::{KeyState, SubjectKeys};

use super::query::rows::backend;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use carebus_core::topic::{EventInfo, TopicEvents};
use carebus_store::EventFilter;
use carebus_store::EventStore;
use carebus_store::StoreError;
use carebus_store::{
    AppendResult, Cursor, ExpectedVersion, NewEvent, ParkedEvent, Snapshot, StoredEvent,
};
use carebus_store::{Upcasters, decode_stored};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// First bytes of an encrypted payload.
pub const MAGIC: &[u8; 8] = b"\0cbshr1\0";
/// The `data` of an event whose subject was erased.
pub const ERASED_DATA: &[u8] = b"\0cbshr1:erased";
/// The key of a sealed snapshot's data: `{"$sealed": base64(...)}`.
pub const SEALED_SNAPSHOT: &str = "$sealed";
/// What an erased PHI path shows in the JSON form.
pub const ERASED: &str = "[erased]";

type SubjectFn = dyn Fn(&NewEvent) -> Option<String> + Send + Sync;

/// Which fields of which events are PHI, and whose they are.
#[derive(Clone)]
pub struct PhiPolicy {
    paths: HashMap<(String, u32), Vec<String>>,
    /// Every event type and version the policy was built from (with or without PHI).
    known: HashMap<(String, u32), EventInfo>,
    subject: Arc<SubjectFn>,
}

impl std::fmt::Debug for PhiPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhiPolicy")
            .field("event_types", &self.paths.len())
            .finish_non_exhaustive()
    }
}

/// `patientId` of the JSON form, else the aggregate id of a `Patient` event (the rule of
/// [`carebus_core::claim_check::patient_subject`], which claim-checked blobs follow too).
pub fn default_subject(e: &NewEvent) -> Option<String> {
    carebus_core::claim_check::patient_subject(
        &e.aggregate_type,
        &e.aggregate_id,
        e.data_json.as_ref(),
    )
}

impl PhiPolicy {
    /// The PHI fields of `events` (e.g. `carebus_schemas::EVENTS`), with [`default_subject`].
    pub fn from_events(events: &[EventInfo]) -> PhiPolicy {
        PhiPolicy {
            paths: events
                .iter()
                .filter(|i| !i.phi_fields.is_empty())
                .map(|i| {
                    (
                        (i.event_type.to_string(), i.version),
                        i.phi_fields.iter().map(|p| p.to_string()).collect(),
                    )
                })
                .collect(),
            known: events
                .iter()
                .map(|i| ((i.event_type.to_string(), i.version), *i))
                .collect(),
            subject: Arc::new(default_subject),
        }
    }
    /// Decide the subject of each event another way.
    pub fn with_subject(
        mut self,
        subject: impl Fn(&NewEvent) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.subject = Arc::new(subject);
        self
    }
    /// Whether the policy was built with this event type and version (so its PHI paths, maybe
    /// none, are known).
    pub fn knows(&self, event_type: &str, version: u32) -> bool {
        self.known.contains_key(&(event_type.to_string(), version))
    }
    /// The generated facts (schema included) of an event type and version the policy knows.
    pub fn info(&self, event_type: &str, version: u32) -> Option<&EventInfo> {
        self.known.get(&(event_type.to_string(), version))
    }
    /// The PHI paths of an event type and version (empty: none, or an unknown type).
    pub fn phi_paths(&self, event_type: &str, version: u32) -> &[String] {
        self.paths
            .get(&(event_type.to_string(), version))
            .map_or(&[], Vec::as_slice)
    }
}

/// A typed event that may have been erased.
#[derive(Clone, Debug, PartialEq)]
pub enum Erasable<E> {
    /// The event, decrypted and decoded (it holds PHI: keep it out of logs).
    Intact(E),
    /// The subject's key was destroyed: only the non-PHI fields remain (JSON form, PHI paths
    /// set to `"[erased]"`).
    Erased {
        /// The stored event's type.
        event_type: String,
        /// The JSON form with every PHI path set to `"[erased]"`, if it was stored.
        json: Option<Value>,
    },
}

/// Decode a stored event read through a [`ShreddingStore`]: the current typed event, or the
/// erased marker.
pub fn decode_erasable<E: TopicEvents>(
    event: &StoredEvent,
    upcasters: &Upcasters,
) -> Result<Erasable<E>, StoreError> {
    if event.data == ERASED_DATA {
        return Ok(Erasable::Erased {
            event_type: event.event_type.clone(),
            json: event.data_json.clone(),
        });
    }
    decode_stored(event, upcasters).map(Erasable::Intact)
}

/// An [`EventStore`] whose PHI is encrypted per subject. Reads decrypt; see the module docs.
#[derive(Clone, Debug)]
pub struct ShreddingStore<S> {
    inner: S,
    keys: SubjectKeys,
    policy: Arc<PhiPolicy>,
    pool: sqlx::PgPool,
}

fn header(subject: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(MAGIC.len() + 2 + subject.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&(subject.len() as u16).to_be_bytes());
    h.extend_from_slice(subject.as_bytes());
    h
}

/// The subject and the sealed bytes of an encrypted payload.
fn parse_sealed(data: &[u8]) -> Option<(&str, &[u8])> {
    let rest = data.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_at_checked(2)?;
    let len = u16::from_be_bytes([len[0], len[1]]) as usize;
    let (subject, sealed) = rest.split_at_checked(len)?;
    Some((std::str::from_utf8(subject).ok()?, sealed))
}

fn json_aad(event_id: &carebus_core::Uuid, path: &str) -> Vec<u8> {
    let mut a = event_id.as_bytes().to_vec();
    a.extend_from_slice(path.as_bytes());
    a
}

/// The value at a dotted path, mutably; through the `{"<branch>": ...}` of a union holding a
/// nested record (Avro's JSON encoding of an optional record).
fn at_path<'v>(json: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.')
        .try_fold(json, |v, k| carebus_core::event::json_member_mut(v, k))
}

fn crypto_error(operation: &'static str) -> impl Fn(CryptoError) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: e.to_string(),
        retriable: false,
        source: None,
    }
}

impl<S: EventStore> ShreddingStore<S> {
    /// Wrap `inner`; keys live in `pool`'s `subject_keys` table (same database as the events).
    pub fn new(inner: S, pool: sqlx::PgPool, master: MasterKey, policy: PhiPolicy) -> Self {
        ShreddingStore {
            inner,
            keys: SubjectKeys::new(pool.clone(), master),
            policy: Arc::new(policy),
            pool,
        }
    }

    /// The wrapped store (reads there return ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }
    /// The subjects' data keys (to look a key's state up, or erase one without the snapshot cleanup
    /// of [`ShreddingStore::erase`]).
    pub fn keys(&self) -> &SubjectKeys {
        &self.keys
    }

    /// A claim-check store over `inner` whose blobs are sealed with this store's subject keys,
    /// so [`ShreddingStore::erase`] reaches them too.
    pub fn seal_claim_checks<C: carebus_core::claim_check::ClaimCheckStore>(
        &self,
        inner: C,
    ) -> SealedClaimCheck<C> {
        SealedClaimCheck::new(inner, self.keys.clone(), self.policy.clone())
    }

    /// Erase a subject: destroy its data key and delete the snapshots of the streams holding
    /// its events (compaction's archive included). Returns whether a live key was destroyed.
    pub async fn erase(&self, subject: &str) -> Result<bool, StoreError> {
        let destroyed = self.keys.destroy(subject).await?;
        let prefix = header(subject);
        sqlx::query(
            "DELETE FROM snapshots WHERE stream_id IN (SELECT stream_id FROM events \
             WHERE substring(data FROM 1 FOR $2) = $1 UNION SELECT stream_id FROM events_archive \
             WHERE substring(data FROM 1 FOR $2) = $1)",
        )
        .bind(&prefix)
        .bind(prefix.len() as i32)
        .execute(&self.pool)
        .await
        .map_err(backend("erase subject snapshots"))?;
        Ok(destroyed)
    }

    /// The subject whose sealed events the stream holds, if any (compaction's archive too).
    async fn stream_subject(&self, stream: &str) -> Result<Option<String>, StoreError> {
        let data: Option<Vec<u8>> = sqlx::query_scalar(
            "(SELECT data FROM events WHERE stream_id = $1 AND substring(data FROM 1 FOR $3) = $2 \
              LIMIT 1) UNION ALL (SELECT data FROM events_archive WHERE stream_id = $1 \
              AND substring(data FROM 1 FOR $3) = $2 LIMIT 1) LIMIT 1",
        )
        .bind(stream)
        .bind(MAGIC.as_slice())
        .bind(MAGIC.len() as i32)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("find the stream's subject"))?;
        Ok(data.and_then(|d| parse_sealed(&d).map(|(subject, _)| subject.to_owned())))
    }

    /// A snapshot of a stream with sealed events is sealed whole with the same subject's key
    /// (aggregate state holds PHI): its data becomes `{"$sealed": base64(header || sealed)}`.
    /// An erased subject's stream gets no new snapshot.
    async fn seal_snapshot(&self, mut snapshot: Snapshot) -> Result<Snapshot, StoreError> {
        let Some(subject) = self.stream_subject(&snapshot.stream_id).await? else {
            return Ok(snapshot);
        };
        let KeyState::Active(key) = self.keys.get(&subject).await? else {
            return Err(StoreError::InvalidAppend {
                stream: snapshot.stream_id,
                reason: "the stream's subject was erased (crypto-shredding): no snapshot is kept"
                    .into(),
            });
        };
        let plain = serde_json::to_vec(&snapshot.data).map_err(|e| StoreError::Backend {
            operation: "seal snapshot",
            message: e.to_string(),
            retriable: false,
            source: None,
        })?;
        let mut sealed = header(&subject);
        sealed.extend_from_slice(&key.seal(snapshot.stream_id.as_bytes(), &plain));
        snapshot.data = serde_json::json!({ SEALED_SNAPSHOT: STANDARD.encode(sealed) });
        Ok(snapshot)
    }

    /// The snapshot as saved: opened when sealed; `None` when its subject was erased (the
    /// aggregate is then rebuilt from its events).
    async fn open_snapshot(&self, mut snapshot: Snapshot) -> Result<Option<Snapshot>, StoreError> {
        let Some(text) = snapshot.data.get(SEALED_SNAPSHOT).and_then(Value::as_str) else {
            return Ok(Some(snapshot));
        };
        let bytes = STANDARD.decode(text).map_err(|_| StoreError::Backend {
            operation: "open snapshot",
            message: "a sealed snapshot is not base64".into(),
            retriable: false,
            source: None,
        })?;
        let Some((subject, sealed)) = parse_sealed(&bytes) else {
            return Err(StoreError::Backend {
                operation: "open snapshot",
                message: "a sealed snapshot has no subject header".into(),
                retriable: false,
                source: None,
            });
        };
        let KeyState::Active(key) = self.keys.get(subject).await? else {
            return Ok(None);
        };
        let plain = key
            .open(snapshot.stream_id.as_bytes(), sealed)
            .map_err(crypto_error("open snapshot"))?;
        snapshot.data = serde_json::from_slice(&plain).map_err(|e| StoreError::Backend {
            operation: "open snapshot",
            message: e.to_string(),
            retriable: false,
            source: None,
        })?;
        Ok(Some(snapshot))
    }

    async fn encrypt(&self, mut e: NewEvent) -> Result<NewEvent, StoreError> {
        let paths = self.policy.phi_paths(&e.event_type, e.event_version);
        if paths.is_empty() {
            return Ok(e);
        }
        let Some(subject) = (self.policy.subject)(&e) else {
            return Err(StoreError::InvalidAppend {
                stream: e.aggregate_id.clone(),
                reason: format!(
                    "{} has PHI fields but no subject to encrypt them for; \
                     give the PhiPolicy a subject rule",
                    e.event_type
                ),
            });
        };
        if subject.len() > u16::MAX as usize {
            return Err(StoreError::InvalidAppend {
                stream: e.aggregate_id.clone(),
                reason: "the PHI subject id is longer than 65535 bytes".into(),
            });
        }
        let key = match self
            .keys
            .get_or_create(&subject, e.context.tenant_id.as_deref())
            .await?
        {
            KeyState::Active(k) => k,
            KeyState::Destroyed | KeyState::Missing => {
                return Err(StoreError::InvalidAppend {
                    stream: e.aggregate_id.clone(),
                    reason: "the subject of this event was erased; its PHI cannot be stored".into(),
                });
            }
        };
        let mut data = header(&subject);
        data.extend_from_slice(&key.seal(e.event_id.as_bytes(), &e.data));
        e.data = data;
        if let Some(json) = e.data_json.as_mut() {
            for path in paths {
                if let Some(v) = at_path(json, path).filter(|v| !v.is_null()) {
                    let plain = serde_json::to_vec(v).unwrap_or_default();
                    let sealed = key.seal(&json_aad(&e.event_id, path), &plain);
                    *v = serde_json::json!({ "$phi": STANDARD.encode(sealed) });
                }
            }
        }
        Ok(e)
    }

    async fn decrypt(
        &self,
        mut e: StoredEvent,
        cache: &mut HashMap<String, KeyState>,
    ) -> Result<StoredEvent, StoreError> {
        let Some((subject, sealed)) = parse_sealed(&e.data) else {
            return Ok(e);
        };
        let subject = subject.to_string();
        if !cache.contains_key(&subject) {
            let state = self.keys.get(&subject).await?;
            cache.insert(subject.clone(), state);
        }
        let paths = self
            .policy
            .phi_paths(&e.event_type, e.event_version)
            .to_vec();
        match &cache[&subject] {
            KeyState::Active(key) => {
                e.data = key
                    .open(e.event_id.as_bytes(), sealed)
                    .map_err(crypto_error("decrypt event"))?;
                if let Some(json) = e.data_json.as_mut() {
                    for path in &paths {
                        let Some(v) = at_path(json, path) else {
                            continue;
                        };
                        let Some(text) = v.get("$phi").and_then(Value::as_str) else {
                            continue;
                        };
                        let sealed = STANDARD.decode(text).map_err(|_| {
                            crypto_error("decrypt event")(CryptoError::Open { what: "PHI value" })
                        })?;
                        let plain = key
                            .open(&json_aad(&e.event_id, path), &sealed)
                            .map_err(crypto_error("decrypt event"))?;
                        *v = serde_json::from_slice(&plain).unwrap_or(Value::Null);
                    }
                }
            }
            KeyState::Destroyed | KeyState::Missing => {
                e.data = ERASED_DATA.to_vec();
                if let Some(json) = e.data_json.as_mut() {
                    for path in &paths {
                        if let Some(v) = at_path(json, path).filter(|v| v.get("$phi").is_some()) {
                            *v = Value::String(ERASED.to_string());
                        }
                    }
                }
            }
        }
        Ok(e)
    }

    async fn decrypt_all(&self, events: Vec<StoredEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        let mut cache = HashMap::new();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(self.decrypt(e, &mut cache).await?);
        }
        Ok(out)
    }
}

impl<S: EventStore + Clone> EventStore for ShreddingStore<S> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let mut sealed = Vec::with_capacity(events.len());
        for e in events {
            sealed.push(self.encrypt(e).await?);
        }
        self.inner.append(stream, expected, sealed).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.inner.read_stream(stream, from_version, limit).await?;
        self.decrypt_all(events).await
    }
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn read(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.inner.read(filter, after, limit).await?;
        self.decrypt_all(events).await
    }
    async fn count(&self, filter: &EventFilter, after: Cursor) -> Result<u64, StoreError> {
        self.inner.count(filter, after).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let sealed = self.seal_snapshot(snapshot).await?;
        self.inner.save_snapshot(sealed).await
    }
    async fn latest_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        match self.inner.latest_snapshot(stream).await? {
            Some(snapshot) => self.open_snapshot(snapshot).await,
            None => Ok(None),
        }
    }
    async fn prune_snapshots(&self, stream: &str, keep: usize) -> Result<u64, StoreError> {
        self.inner.prune_snapshots(stream, keep).await
    }
    async fn checkpoint(&self, subscription: &str) -> Result<Option<Cursor>, StoreError> {
        self.inner.checkpoint(subscription).await
    }
    async fn save_checkpoint(&self, subscription: &str, cursor: Cursor) -> Result<(), StoreError> {
        self.inner.save_checkpoint(subscription, cursor).await
    }
    async fn delete_checkpoint(&self, subscription: &str) -> Result<(), StoreError> {
        self.inner.delete_checkpoint(subscription).await
    }

    async fn park(&self, parked: ParkedEvent) -> Result<(), StoreError> {
        self.inner.park(parked).await
    }

    async fn parked(&self, relay: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        self.inner.parked(relay).await
    }

    async fn unpark(&self, relay: &str, event_id: carebus_core::Uuid) -> Result<(), StoreError> {
        self.inner.unpark(relay, event_id).await
    }
}
