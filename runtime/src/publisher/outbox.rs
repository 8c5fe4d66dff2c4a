//! The durable outbox: records the transport could not take turned into encrypted rows of an embedded transactional store (redb) on local disk, read back in queue order until delivered.
//!
//! One file, `outbox.redb`, in the configured directory, with two tables:
//! - `records`: id → the record sealed with AES-256-GCM ([`OutboxKey`], a random nonce per
//!   record, the id as associated data): topic, key, value and headers are never on disk in
//!   plaintext;
//! - `meta`: the next id (a persistent counter: ids grow for the life of the file and never
//!   restart, also when the outbox empties) and a key check that makes a reopen with another
//!   key fail ([`OutboxError::WrongKey`]) instead of reading garbage.
//!
//! A push is a committed transaction (fsync'ed) before [`Outbox::push`] returns; pushes that
//! arrive while one commits share the next commit (group commit). A delivery is a
//! transaction that deletes the delivered rows: a record is pending until the commit that
//! deletes it, so a crash between a send and that commit sends it again (at-least-once), and
//! there is no separate step for emptying. redb's commits are atomic and checksummed; a file
//! left by a crash is repaired on open. The records' bytes (sealed) are limited to
//! `max_bytes`: a push over it fails with [`OutboxError::Full`], nothing is dropped.
//!
//! A directory holding the line-based outbox of earlier versions (`outbox.log`) has its
//! pending records imported on open, in one commit, and the old plaintext files removed
//! (see `legacy`).

mod error;
mod legacy;
mod seal;

pub use error::OutboxError;
pub use seal::{BadOutboxKey, OutboxKey};

use crate::transport::Record;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// The store's file in the outbox directory.
pub const FILE: &str = "outbox.redb";
/// The default of `outbox_max_bytes`: 1 GiB of sealed records.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const NEXT_ID: &str = "next_id";
const KEY_CHECK: &str = "key_check";
/// Records count from 1; the key check is sealed as slot 0.
const KEY_CHECK_SLOT: u64 = 0;
const KEY_CHECK_TEXT: &[u8] = b"carebus outbox key check v1";
/// The length of the old-format log imported last (`legacy`), to recognise it after a crash
/// between the import's commit and the removal of the old files.
const LEGACY_IMPORTED: &str = "legacy_imported";
/// redb's page cache: the outbox is read front to back once per drain round.
const CACHE_BYTES: usize = 16 << 20;

/// The outcome of a commit, handed to every push it carried.
type Outcome = Result<(), Arc<redb::Error>>;

/// A sealed record waiting for the next commit, with where to leave that commit's outcome.
struct Staged {
    id: u64,
    sealed: Vec<u8>,
    done: Arc<Mutex<Option<Outcome>>>,
}

struct State {
    /// The id of the next push.
    next_id: u64,
    /// Pushed, not committed yet, in id order.
    staged: Vec<Staged>,
    /// Records pending (committed or staged).
    count: usize,
    /// Their sealed bytes.
    bytes: u64,
}

/// A durable, encrypted queue of records on local disk.
pub struct Outbox {
    dir: PathBuf,
    path: PathBuf,
    db: Database,
    cipher: aes_gcm::Aes256Gcm,
    max_bytes: u64,
    state: Mutex<State>,
    /// Whether a commit of pushes runs: the pushes staged meanwhile wait for it
    /// ([`Outbox::committed`]) and then go into one commit together.
    committing: Mutex<bool>,
    /// Signalled when a commit of pushes ends.
    committed: Condvar,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("path", &self.path)
            .field("pending", &self.len())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

static CRASH_HOOK: OnceLock<fn(&'static str)> = OnceLock::new();

/// Install a function called at the named steps of pushing and delivering (the crash test
/// harness stops its process there to be killed). For tests only; set once per process.
#[doc(hidden)]
pub fn set_crash_hook(hook: fn(&'static str)) {
    let _ = CRASH_HOOK.set(hook);
}

/// A step where the crash test harness may kill the process.
pub(crate) fn crash_point(name: &'static str) {
    if let Some(hook) = CRASH_HOOK.get() {
        hook(name);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbox {
    /// Open (or create) the outbox in `dir` with `key`, its sealed records limited to
    /// `max_bytes`. Fails with [`OutboxError::WrongKey`] when the file was written with
    /// another key, [`OutboxError::InUse`] when it is open elsewhere.
    pub fn open(
        dir: impl Into<PathBuf>,
        key: &OutboxKey,
        max_bytes: u64,
    ) -> Result<Outbox, OutboxError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| OutboxError::Dir {
            dir: dir.clone(),
            source,
        })?;
        let legacy = legacy::read(&dir).map_err(|source| OutboxError::Legacy {
            dir: dir.clone(),
            source,
        })?;
        let path = dir.join(FILE);
        let cipher = key.cipher();
        if !path.exists() {
            Self::create(&dir, &path, &cipher)?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .open(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    OutboxError::InUse { path: path.clone() }
                }
                e => store_error(&path, "open", e),
            })?;
        let mut next_id = Self::init(&db, &cipher, &path)?;
        if let Some(old) = legacy {
            next_id = Self::import(&db, &cipher, &path, next_id, &old)?;
            legacy::remove(&dir).map_err(|source| OutboxError::Legacy {
                dir: dir.clone(),
                source,
            })?;
        }
        let (count, bytes) = Self::measure(&db, &path)?;
        if count > 0 {
            tracing::info!(pending = count, bytes, "outbox has undelivered events");
        }
        let outbox = Outbox {
            dir,
            db,
            cipher,
            max_bytes,
            state: Mutex::new(State {
                next_id,
                staged: Vec::new(),
                count,
                bytes,
            }),
            committing: Mutex::new(false),
            committed: Condvar::new(),
            path,
        };
        outbox.gauges(count, bytes);
        Ok(outbox)
    }

    /// Create the store under a temporary name and rename it into place once it is complete:
    /// a crash while redb initialises a file leaves one that is not a database, and would
    /// keep every later start from opening the outbox.
    fn create(dir: &Path, path: &Path, cipher: &aes_gcm::Aes256Gcm) -> Result<(), OutboxError> {
        let fresh = dir.join(format!("{FILE}.new"));
        let io = |source| OutboxError::Dir {
            dir: dir.to_path_buf(),
            source,
        };
        match std::fs::remove_file(&fresh) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        {
            let db = redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .create(&fresh)
                .map_err(|e| store_error(&fresh, "create", e))?;
            Self::init(&db, cipher, &fresh)?;
        }
        std::fs::File::open(&fresh)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&fresh, path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }

    /// Create the tables and the key check on first use, check the key otherwise; the next id.
    fn init(db: &Database, cipher: &aes_gcm::Aes256Gcm, path: &Path) -> Result<u64, OutboxError> {
        let tx = db.begin_write().at(path, "open")?;
        let next_id = {
            let mut meta = tx.open_table(META).at(path, "open")?;
            let records = tx.open_table(RECORDS).at(path, "open")?;
            let last = records.last().at(path, "open")?.map(|(k, _)| k.value());
            let check = meta
                .get(KEY_CHECK)
                .at(path, "open")?
                .map(|v| v.value().to_vec());
            match check {
                Some(sealed) => {
                    if seal::open(cipher, KEY_CHECK_SLOT, &sealed).as_deref()
                        != Some(KEY_CHECK_TEXT)
                    {
                        return Err(OutboxError::WrongKey {
                            path: path.to_path_buf(),
                        });
                    }
                }
                None if last.is_some() => {
                    // Records without a key check: not a file this outbox wrote.
                    return Err(OutboxError::WrongKey {
                        path: path.to_path_buf(),
                    });
                }
                None => {
                    let sealed = seal::seal(cipher, KEY_CHECK_SLOT, KEY_CHECK_TEXT);
                    meta.insert(KEY_CHECK, sealed.as_slice()).at(path, "open")?;
                }
            }
            let stored = meta
                .get(NEXT_ID)
                .at(path, "open")?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(1);
            let next_id = stored.max(last.map_or(1, |id| id + 1));
            meta.insert(NEXT_ID, next_id.to_le_bytes().as_slice())
                .at(path, "open")?;
            next_id
        };
        tx.commit().at(path, "open")?;
        Ok(next_id)
    }

    /// Take over the pending records of an old-format outbox (unless this file already did,
    /// before a crash kept the old files from being removed); the next id.
    fn import(
        db: &Database,
        cipher: &aes_gcm::Aes256Gcm,
        path: &Path,
        mut next_id: u64,
        old: &legacy::Legacy,
    ) -> Result<u64, OutboxError> {
        let tx = db.begin_write().at(path, "import")?;
        {
            let mut meta = tx.open_table(META).at(path, "import")?;
            let done = meta
                .get(LEGACY_IMPORTED)
                .at(path, "import")?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes));
            if done == Some(old.log_len) {
                return Ok(next_id);
            }
            let mut records = tx.open_table(RECORDS).at(path, "import")?;
            for record in &old.records {
                let sealed = seal::seal(cipher, next_id, &seal::encode(record));
                records
                    .insert(next_id, sealed.as_slice())
                    .at(path, "import")?;
                next_id += 1;
            }
            meta.insert(NEXT_ID, next_id.to_le_bytes().as_slice())
                .at(path, "import")?;
            meta.insert(LEGACY_IMPORTED, old.log_len.to_le_bytes().as_slice())
                .at(path, "import")?;
        }
        tx.commit().at(path, "import")?;
        tracing::warn!(
            imported = old.records.len(),
            unreadable_lines = old.unreadable,
            delivered_file_ignored = old.distrusted,
            "imported the outbox of an earlier carebus version and removed its plaintext files"
        );
        Ok(next_id)
    }

    /// Records pending and their sealed bytes.
    fn measure(db: &Database, path: &Path) -> Result<(usize, u64), OutboxError> {
        let tx = db.begin_read().at(path, "read")?;
        let records = tx.open_table(RECORDS).at(path, "read")?;
        let (mut count, mut bytes) = (0, 0);
        for entry in records.iter().at(path, "read")? {
            let (_, v) = entry.at(path, "read")?;
            count += 1;
            bytes += v.value().len() as u64;
        }
        Ok((count, bytes))
    }

    fn gauges(&self, count: usize, bytes: u64) {
        metrics::gauge!("carebus_outbox_pending").set(count as f64);
        metrics::gauge!("carebus_outbox_bytes").set(bytes as f64);
    }

    /// Keep a record; returns once the commit holding it is on disk. Blocks on the disk: from
    /// async code, call it on a blocking thread. Concurrent pushes share one commit.
    pub fn push(&self, record: Record) -> Result<(), OutboxError> {
        let plain = seal::encode(&record);
        drop(record);
        let done = Arc::new(Mutex::new(None));
        {
            let mut st = lock(&self.state);
            let size = (plain.len() + seal::OVERHEAD) as u64;
            if st.bytes + size > self.max_bytes {
                metrics::counter!("carebus_outbox_full_total").increment(1);
                return Err(OutboxError::Full {
                    used_bytes: st.bytes,
                    limit_bytes: self.max_bytes,
                });
            }
            // Sealed under the lock: ids are staged in order, so a commit never holds a record
            // without the ones before it.
            let id = st.next_id;
            let sealed = seal::seal(&self.cipher, id, &plain);
            st.next_id += 1;
            st.count += 1;
            st.bytes += size;
            st.staged.push(Staged {
                id,
                sealed,
                done: done.clone(),
            });
        }
        self.commit_staged(&done)
    }

    /// Wait for the commit that carries the push `done` belongs to; when no commit is under
    /// way and the push is still staged, commit everything staged so far (it leads the
    /// commit the pushes staged meanwhile share).
    fn commit_staged(&self, done: &Mutex<Option<Outcome>>) -> Result<(), OutboxError> {
        let mut committing = lock(&self.committing);
        loop {
            if let Some(outcome) = lock(done).take() {
                return outcome.map_err(|source| self.store_failed("commit", source));
            }
            if !*committing {
                break;
            }
            committing = self
                .committed
                .wait(committing)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *committing = true;
        drop(committing);
        let batch = std::mem::take(&mut lock(&self.state).staged);
        crash_point("outbox.push.staged");
        // A panic inside the store must not leave the batch's pushes waiting, or reported kept.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write(&batch)))
            .unwrap_or_else(|_| Err(not_committed("the commit panicked")))
            .map_err(Arc::new);
        if outcome.is_ok() {
            crash_point("outbox.push.committed");
        }
        {
            let mut st = lock(&self.state);
            if outcome.is_err() {
                st.count = st.count.saturating_sub(batch.len());
                let bytes = batch.iter().map(|s| s.sealed.len() as u64).sum::<u64>();
                st.bytes = st.bytes.saturating_sub(bytes);
            }
            self.gauges(st.count, st.bytes);
        }
        for staged in &batch {
            *lock(&staged.done) = Some(outcome.clone());
        }
        *lock(&self.committing) = false;
        // Every push of the batch returns; one of those still staged leads the next commit.
        self.committed.notify_all();
        lock(done)
            .take()
            .unwrap_or_else(|| Err(Arc::new(not_committed("the push missed its commit"))))
            .map_err(|source| self.store_failed("commit", source))
    }

    /// One transaction inserting `batch` and advancing the id counter past it.
    fn write(&self, batch: &[Staged]) -> Result<(), redb::Error> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let tx = self.db.begin_write()?;
        {
            let mut records = tx.open_table(RECORDS)?;
            for staged in batch {
                records.insert(staged.id, staged.sealed.as_slice())?;
            }
            let mut meta = tx.open_table(META)?;
            meta.insert(NEXT_ID, (last.id + 1).to_le_bytes().as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    fn store_failed(&self, step: &'static str, source: Arc<redb::Error>) -> OutboxError {
        OutboxError::Store {
            path: self.path.clone(),
            step,
            source,
        }
    }

    /// The oldest pending record.
    pub fn peek(&self) -> Result<Option<(u64, Record)>, OutboxError> {
        Ok(self.peek_many(1)?.into_iter().next())
    }

    /// The oldest pending records, up to `max`, in queue order (committed ones only).
    pub fn peek_many(&self, max: usize) -> Result<Vec<(u64, Record)>, OutboxError> {
        let tx = self.db.begin_read().at(&self.path, "read")?;
        let records = tx.open_table(RECORDS).at(&self.path, "read")?;
        let mut out = Vec::new();
        for entry in records.iter().at(&self.path, "read")?.take(max) {
            let (id, sealed) = entry.at(&self.path, "read")?;
            let id = id.value();
            let record = seal::open(&self.cipher, id, sealed.value())
                .and_then(|plain| seal::decode(&plain))
                .ok_or_else(|| OutboxError::Unreadable {
                    path: self.path.clone(),
                    id,
                })?;
            out.push((id, record));
        }
        Ok(out)
    }

    /// Record that `id` was delivered: one committed transaction deleting it.
    pub fn mark_delivered(&self, id: u64) -> Result<(), OutboxError> {
        self.mark_delivered_many(&[id])
    }

    /// Record that these ids were delivered: one committed transaction deleting them all.
    /// Ids not pending are ignored.
    pub fn mark_delivered_many(&self, ids: &[u64]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().at(&self.path, "delete")?;
        let (mut removed, mut bytes) = (0, 0);
        {
            let mut records = tx.open_table(RECORDS).at(&self.path, "delete")?;
            for &id in ids {
                if let Some(sealed) = records.remove(id).at(&self.path, "delete")? {
                    removed += 1;
                    bytes += sealed.value().len() as u64;
                }
            }
        }
        crash_point("outbox.delete.staged");
        tx.commit().at(&self.path, "delete")?;
        crash_point("outbox.delete.committed");
        let mut st = lock(&self.state);
        st.count = st.count.saturating_sub(removed);
        st.bytes = st.bytes.saturating_sub(bytes);
        self.gauges(st.count, st.bytes);
        Ok(())
    }

    /// Records waiting for delivery (including pushes whose commit is under way).
    pub fn len(&self) -> usize {
        lock(&self.state).count
    }

    /// Whether nothing waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the pending records take (sealed), counted against `max_bytes`.
    pub fn bytes(&self) -> u64 {
        lock(&self.state).bytes
    }

    /// The directory holding `outbox.redb`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A commit that did not happen, as the store's error type.
fn not_committed(why: &str) -> redb::Error {
    redb::Error::Io(std::io::Error::other(why.to_owned()))
}

fn store_error(path: &Path, step: &'static str, e: impl Into<redb::Error>) -> OutboxError {
    OutboxError::Store {
        path: path.to_path_buf(),
        step,
        source: Arc::new(e.into()),
    }
}

/// A redb result as an outbox result naming the file and the step.
trait At<T> {
    fn at(self, path: &Path, step: &'static str) -> Result<T, OutboxError>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path, step: &'static str) -> Result<T, OutboxError> {
        self.map_err(|e| store_error(path, step, e))
    }
}

#[cfg(test)]
mod tests;
