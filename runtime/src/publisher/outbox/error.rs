//! Failures of the outbox turned into errors that name the file, the id or the limit and say what to do; never a key or a record's contents.

use super::BadOutboxKey;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the outbox could not be opened, written or read. Texts name files, ids and limits,
/// never keys or record contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// An outbox directory is configured but no key to encrypt it with.
    #[error(
        "no key is configured for the outbox in {dir}: its records are encrypted at rest; set \
         outbox_key (CAREBUS_OUTBOX_KEY: standard base64 of 32 random bytes, e.g. `openssl rand \
         -base64 32`) or outbox_key_file (CAREBUS_OUTBOX_KEY_FILE: a file holding that text)"
    )]
    NoKey {
        /// The configured outbox directory.
        dir: PathBuf,
    },
    /// The key file could not be read.
    #[error("cannot read the outbox key file {path}: {source}")]
    KeyFileUnreadable {
        /// The configured `outbox_key_file`.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("the outbox key file {path} holds no usable key: {source}")]
    KeyFileInvalid {
        /// The configured `outbox_key_file`.
        path: PathBuf,
        /// What is wrong with its text.
        #[source]
        source: BadOutboxKey,
    },
    /// The outbox was written with another key.
    #[error(
        "the outbox {path} was written with another key; its records stay on disk untouched: \
         configure the key it was written with (outbox_key, CAREBUS_OUTBOX_KEY or \
         outbox_key_file)"
    )]
    WrongKey {
        /// The outbox file.
        path: PathBuf,
    },
    /// Another process (or another publisher in this one) has the outbox open.
    #[error(
        "the outbox {path} is open elsewhere: each publisher process needs an outbox directory \
         of its own"
    )]
    InUse {
        /// The outbox file.
        path: PathBuf,
    },
    /// The line-based outbox of an earlier carebus version in the directory could not be
    /// read or removed after its import.
    #[error(
        "cannot take over the outbox of an earlier carebus version in {dir} (outbox.log, \
         outbox.delivered): {source}; fix the files' permissions, or move them away to start \
         without their events"
    )]
    Legacy {
        /// The outbox directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record does not open with the key or is not a record (altered on disk).
    #[error(
        "outbox record {id} in {path} cannot be read (altered on disk?); it stays in the outbox \
         and delivery stops before it: move the file away to start with an empty outbox"
    )]
    Unreadable {
        /// The outbox file.
        path: PathBuf,
        /// The record's id.
        id: u64,
    },
    /// Keeping the record would take the outbox over `max_bytes`.
    #[error(
        "the outbox is full ({used_bytes} of {limit_bytes} bytes, outbox_max_bytes): restore \
         the transport so it drains, or raise outbox_max_bytes if the disk has room"
    )]
    Full {
        /// Bytes the records take now.
        used_bytes: u64,
        /// The configured limit.
        limit_bytes: u64,
    },
    /// The outbox directory or its file could not be created.
    #[error("cannot create the outbox in {dir}: {source}")]
    Dir {
        /// The configured outbox directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed (disk full, I/O error, a damaged file).
    #[error("outbox {path}: {step} failed: {source}")]
    Store {
        /// The outbox file.
        path: PathBuf,
        /// What was being done (`"open"`, `"commit"`, `"read"`, …).
        step: &'static str,
        /// redb's error (shared by the pushes of one commit).
        #[source]
        source: Arc<redb::Error>,
    },
}
