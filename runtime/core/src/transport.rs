//! The transport abstraction: records (topic, key, value, headers) in and out of a log with Kafka's semantics, implemented by the in-process bus and by Kafka.
//!
//! Everything above this module — the wire format, and the `Publisher` and `Consumer` of the
//! facade crate `carebus` — is written once against these two traits:
//!
//! - [`Transport`]: the producer side (send one record and get its `(partition, offset)`, send a
//!   batch, send several records as one all-or-nothing transaction, flush), partition-count
//!   lookup, and a factory for group consumers.
//! - [`TransportConsumer`]: one member of a consumer group (poll records and rebalance
//!   notices, store and commit offsets per partition, pause/resume/seek, close = leave the
//!   group).
//!
//! # Contract for implementors
//!
//! - **Offsets** are Kafka's: a record's `offset` is its position in its partition; a stored or
//!   committed offset is the *next* offset to read (last processed + 1). `rdkafka`'s
//!   `store_offset(topic, partition, offset)` takes that same number.
//! - **Partitioning**: a record with `partition: None` and a key goes to
//!   `(murmur2(key) & 0x7fffffff) % partitions`, Kafka's default partitioner
//!   (`carebus::bus::partition_for_key`); without a key to any partition.
//! - **Rebalance**: before partitions are taken away from a member, the transport commits the
//!   offsets that member has *stored* for them (rdkafka: commit in the pre-rebalance callback),
//!   then reports [`ConsumerEvent::Revoked`] from the next `poll`. Newly assigned partitions are
//!   reported as [`ConsumerEvent::Assigned`] before their first record. The consumer drops its
//!   in-flight bookkeeping for revoked partitions; their unfinished records are redelivered to
//!   the new owner (at-least-once).
//! - **Transactions** ([`Transport::send_transaction`]): either every record becomes visible
//!   to (read-committed) consumers or none does.
//! - **Errors**: [`TransportError::is_retriable`] decides whether the publisher retries (with
//!   backoff) and whether the circuit breaker counts the failure.
//! - **Properties**: [`SubscribeConfig::properties`] and the publisher's property map are
//!   passed through untouched; the Kafka transport forwards them to librdkafka, the bus
//!   ignores them.
//!
//! `poll` must be cancel-safe (the consumer races it against completions and shutdown in a
//! `select!`): a record is either returned or left for the next call, never lost.
//!
//! Methods return `impl Future + Send` (Rust 2024 return-position impl trait), so transports
//! are used as generic parameters (`Publisher<T: Transport>`), not as trait objects.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// Record headers in order; a name may repeat (Kafka allows it). Values are raw bytes.
pub type Headers = Vec<(HeaderName, Vec<u8>)>;

/// A header name: usually one of carebus's own constant names (borrowed, no allocation per
/// record), or any name a producer chose (owned). Build it with `.into()` from either.
pub type HeaderName = std::borrow::Cow<'static, str>;

/// A received header's name: borrowed when it is one of the CloudEvents or carebus names,
/// owned otherwise.
pub fn header_name(name: &str) -> HeaderName {
    match crate::headers::known_index(name) {
        Some(i) => HeaderName::Borrowed(crate::headers::ALL[i]),
        None => HeaderName::Owned(name.to_owned()),
    }
}

/// Look up the first header with `name` (exact, case-sensitive as Kafka's), in owned
/// [`Headers`] or in a [`RecordView`]'s borrowed ones.
pub fn header<'h, N: AsRef<str>, V: AsRef<[u8]>>(
    headers: &'h [(N, V)],
    name: &str,
) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.as_ref() == name)
        .map(|(_, v)| v.as_ref())
}

/// Look up the first header with `name` as UTF-8 text; `None` when absent or not UTF-8.
pub fn header_str<'h, N: AsRef<str>, V: AsRef<[u8]>>(
    headers: &'h [(N, V)],
    name: &str,
) -> Option<&'h str> {
    header(headers, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// A record to produce. Its `Debug` shows no key, value or header value ([`Redacted`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Topic to write to.
    pub topic: String,
    /// Partition key: the aggregate id's UTF-8 bytes for carebus events.
    pub key: Option<Vec<u8>>,
    /// The framed event (or any payload); may hold PHI, never log it. `None` is a null value
    /// (a tombstone: on a compacted topic, the key's delete marker).
    pub value: Option<Vec<u8>>,
    /// Headers in order: the CloudEvents envelope, `content-type` and carebus's own.
    pub headers: Headers,
    /// An explicit partition; `None` lets the key decide (Kafka's default partitioner).
    pub partition: Option<i32>,
}

impl Record {
    /// A record keyed by `key`, partition chosen by the key.
    pub fn new(topic: impl Into<String>, key: impl Into<Vec<u8>>, value: Vec<u8>) -> Record {
        Record {
            topic: topic.into(),
            key: Some(key.into()),
            value: Some(value),
            headers: Vec::new(),
            partition: None,
        }
    }

    /// The value's bytes; empty for a tombstone.
    pub fn payload(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    /// Add a header.
    pub fn with_header(mut self, name: impl Into<HeaderName>, value: impl Into<Vec<u8>>) -> Record {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Bytes the record takes on the wire, roughly as Kafka counts them against
    /// `message.max.bytes` (key + value + header names and values).
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.payload().len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
    }
}

/// A topic and partition number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Where a produced record landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPosition {
    /// Topic the record was written to.
    pub topic: String,
    /// Partition it was written to.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
}

/// Bytes a record's `Debug` shows by size only: keys (aggregate ids), values (event data) and
/// header values (subject, user...) may hold PHI, and a record or an [`Unsent`] printed with
/// `{:?}` into a log must not carry it there.
pub struct Redacted<'a>(pub &'a [u8]);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Header names as they are, values by size only.
fn redacted_headers(headers: &Headers) -> Vec<(&str, Redacted<'_>)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_ref(), Redacted(value)))
        .collect()
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("key", &self.key.as_deref().map(Redacted))
            .field("value", &self.value.as_deref().map(Redacted))
            .field("headers", &redacted_headers(&self.headers))
            .finish()
    }
}

impl std::fmt::Debug for RecordView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, Redacted<'_>)> = self
            .headers
            .iter()
            .map(|(name, value)| (*name, Redacted(value)))
            .collect();
        f.debug_struct("RecordView")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("key", &self.key.map(Redacted))
            .field("value", &self.value.map(Redacted))
            .field("headers", &headers)
            .finish()
    }
}

impl std::fmt::Debug for ReceivedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("key", &self.key.as_deref().map(Redacted))
            .field("value", &self.value.as_deref().map(Redacted))
            .field("headers", &redacted_headers(&self.headers))
            .field("timestamp_ms", &self.timestamp_ms)
            .finish()
    }
}

/// A record read by a consumer. Its `Debug` shows no key, value or header value
/// ([`Redacted`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedRecord {
    /// Topic the record was read from.
    pub topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Record key (the aggregate id for carebus events); may identify a patient.
    pub key: Option<Vec<u8>>,
    /// The record value (framed event); may hold PHI, never log it. `None` is a null value
    /// (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in the order they were written.
    pub headers: Headers,
    /// Milliseconds since the Unix epoch when the record was appended (or produced).
    pub timestamp_ms: i64,
}

impl ReceivedRecord {
    /// The value's bytes; empty for a tombstone.
    pub fn payload(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    /// The record's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}

/// A received record borrowed from the transport (for Kafka: from librdkafka's message),
/// read without copying; [`RecordView::to_received`] copies it when it must outlive the poll.
/// Its `Debug` shows no key, value or header value ([`Redacted`]).
#[derive(Clone, Copy)]
pub struct RecordView<'a> {
    /// Topic the record was read from.
    pub topic: &'a str,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Record key (the aggregate id for carebus events); may identify a patient.
    pub key: Option<&'a [u8]>,
    /// The record value (framed event); may hold PHI, never log it. `None` is a null value
    /// (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers in the order they were written.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Milliseconds since the Unix epoch when the record was appended (or produced).
    pub timestamp_ms: i64,
}

/// The header list a transport builds to lend a record: on the stack for a CloudEvents
/// envelope's worth of headers (a longer list spills to the heap).
#[doc(hidden)]
pub type LentHeaders<'a> = smallvec::SmallVec<[(&'a str, &'a [u8]); 24]>;

impl<'a> RecordView<'a> {
    /// The value's bytes; empty for a tombstone.
    pub fn payload(&self) -> &'a [u8] {
        self.value.unwrap_or_default()
    }

    /// The record's topic and partition (copied).
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic, self.partition)
    }

    /// A copy that owns its data, for a record that must outlive the poll.
    pub fn to_received(&self) -> ReceivedRecord {
        ReceivedRecord {
            topic: self.topic.to_owned(),
            partition: self.partition,
            offset: self.offset,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (header_name(name), value.to_vec()))
                .collect(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Lend an owned record to `visit` as a view (the default `poll_view`, and a transport's
/// records that were held back).
pub fn lend<R>(record: &ReceivedRecord, visit: impl FnOnce(RecordView<'_>) -> R) -> R {
    let mut headers = Vec::with_capacity(record.headers.len());
    visit(view_of(record, &mut headers))
}

/// Borrow `record` as a view; `headers` is filled with its borrowed header pairs.
pub fn view_of<'a>(
    record: &'a ReceivedRecord,
    headers: &'a mut Vec<(&'a str, &'a [u8])>,
) -> RecordView<'a> {
    headers.extend(record.headers.iter().map(|(n, v)| (&**n, v.as_slice())));
    RecordView {
        topic: &record.topic,
        partition: record.partition,
        offset: record.offset,
        key: record.key.as_deref(),
        value: record.value.as_deref(),
        headers,
        timestamp_ms: record.timestamp_ms,
    }
}

/// What [`TransportConsumer::poll_view`] yields: what the visitor made of a record, or a
/// rebalance notice.
#[derive(Debug)]
pub enum Polled<R> {
    /// What the visitor returned for the record it was lent.
    Record(R),
    /// `Assigned` or `Revoked` (never `Record`).
    Notice(ConsumerEvent),
}

/// What [`TransportConsumer::poll`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// The next record of an assigned partition.
    Record(ReceivedRecord),
    /// These partitions now belong to this member.
    Assigned(Vec<TopicPartition>),
    /// These partitions were taken away; stored offsets for them were committed first.
    Revoked(Vec<TopicPartition>),
}

/// Where a group starts reading a partition that has no committed offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// From the oldest retained record (Kafka `auto.offset.reset=earliest`).
    #[default]
    Earliest,
    /// Only records appended after the assignment (`latest`).
    Latest,
}

/// How to join a consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeConfig {
    /// Consumer group id (`group.id`).
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Where to start in partitions the group has no committed offset for (default earliest).
    pub offset_reset: OffsetReset,
    /// Transport properties passed through (librdkafka properties for Kafka).
    pub properties: BTreeMap<String, String>,
}

impl SubscribeConfig {
    /// Join `group_id` on `topics`, from the earliest offset, with no extra properties.
    pub fn new(group_id: impl Into<String>, topics: &[&str]) -> Self {
        SubscribeConfig {
            group_id: group_id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..SubscribeConfig::default()
        }
    }
}

/// Why a transport operation failed: what kind of failure, which operation (e.g. `produce to
/// healthcare.patients.events`), the transport's own error code and text when it gave one, and
/// whether a retry may succeed. Texts name topics, partitions and sizes, never payloads.
///
/// ```
/// use carebus_core::transport::{ErrorCode, TransportError, TransportErrorKind};
///
/// let e = TransportError::new(TransportErrorKind::Timeout, "produce to healthcare.patients.events")
///     .with_code(ErrorCode::new(-192, "MessageTimedOut"))
///     .with_detail("Local: Message timed out");
/// assert!(e.is_retriable());
/// assert_eq!(e.operation(), "produce to healthcare.patients.events");
/// assert_eq!(e.code().map(|c| c.code), Some(-192));
/// assert_eq!(
///     e.to_string(),
///     "produce to healthcare.patients.events: timed out: Local: Message timed out (MessageTimedOut, code -192)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError(Box<Failure>);

/// What a [`TransportError`] holds, boxed: errors are the rare path, and every result and
/// send future carrying one stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Failure {
    kind: TransportErrorKind,
    operation: String,
    detail: Option<String>,
    code: Option<ErrorCode>,
    retriable: Option<bool>,
}

/// The kind of a [`TransportError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The broker (or bus) cannot be reached right now; worth retrying.
    #[error("transport unreachable")]
    Unreachable,
    /// An operation timed out; worth retrying.
    #[error("timed out")]
    Timeout,
    /// The local send queue is full; worth retrying after a pause.
    #[error("producer queue is full; retry after a pause or raise the queue size")]
    QueueFull,
    /// The record is larger than the transport accepts.
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// Size of the record, in bytes.
        size: usize,
        /// The transport's limit, in bytes.
        max: usize,
    },
    /// The topic does not exist and will not be created.
    #[error(
        "unknown topic {topic}; create it first (`carebus-topics apply`, see schemas/topics.toml)"
    )]
    UnknownTopic {
        /// The topic named.
        topic: String,
    },
    /// The partition does not exist in the topic.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic named.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// A transaction was aborted; none of its records is visible.
    #[error("transaction aborted")]
    TransactionAborted,
    /// The consumer or producer was closed.
    #[error("transport handle is closed")]
    Closed,
    /// The broker's authorizer refused the operation: no ACL allows `principal` to do
    /// `operation` on `resource`. Not retriable: it fails again until an ACL is added.
    #[error(
        "{principal} is not authorized to {operation} {resource}; if the service should, declare it in schemas/services.toml and run `carebus-acls apply` as an admin"
    )]
    NotAuthorized {
        /// The client's principal, e.g. `User:prm-service`.
        principal: String,
        /// The Kafka operation refused, e.g. `WRITE`, `READ`, `IDEMPOTENT_WRITE`.
        operation: String,
        /// The resource, e.g. `topic healthcare.clinical.events`, `group fhir-service`.
        resource: String,
    },
    /// The client could not authenticate or set up TLS with the brokers (wrong password,
    /// unknown user, a broker certificate the configured CA did not sign). Not retriable: it
    /// fails again until the credentials or the CA are fixed. Never shows a secret.
    #[error("{principal} could not connect securely to the brokers: {reason}")]
    NotAuthenticated {
        /// The principal the client tried to be, e.g. `User:prm-service`.
        principal: String,
        /// What failed and what to check.
        reason: String,
    },
    /// The transport refused the operation (bad configuration, a broker error without a kind
    /// of its own); see the code and detail.
    #[error("failed")]
    Other,
}

impl TransportErrorKind {
    /// Whether a failure of this kind may succeed when retried.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TransportErrorKind::Unreachable
                | TransportErrorKind::Timeout
                | TransportErrorKind::QueueFull
        )
    }
}

/// A transport's own error code: for Kafka librdkafka's `rd_kafka_resp_err_t` (negative for
/// client-side errors, the Kafka protocol's error code otherwise) and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// The numeric code (librdkafka: negative for client-side errors).
    pub code: i32,
    /// The code's name (`MessageTimedOut`).
    pub name: String,
}

impl ErrorCode {
    /// A code and its name.
    pub fn new(code: i32, name: impl Into<String>) -> ErrorCode {
        ErrorCode {
            code,
            name: name.into(),
        }
    }
}

impl TransportError {
    /// A failure of `kind` while doing `operation`.
    pub fn new(kind: TransportErrorKind, operation: impl Into<String>) -> TransportError {
        TransportError(Box::new(Failure {
            kind,
            operation: operation.into(),
            detail: None,
            code: None,
            retriable: None,
        }))
    }

    /// A failure the transport describes only in text; `retriable` says whether a retry may
    /// succeed.
    pub fn other(
        operation: impl Into<String>,
        detail: impl Into<String>,
        retriable: bool,
    ) -> TransportError {
        TransportError::new(TransportErrorKind::Other, operation)
            .with_detail(detail)
            .with_retriable(retriable)
    }

    /// The transport's own text about the failure (never a payload).
    pub fn with_detail(mut self, detail: impl Into<String>) -> TransportError {
        self.0.detail = Some(detail.into());
        self
    }

    /// The transport's own error code.
    pub fn with_code(mut self, code: ErrorCode) -> TransportError {
        self.0.code = Some(code);
        self
    }

    /// Whether a retry may succeed, where the transport knows better than the kind.
    pub fn with_retriable(mut self, retriable: bool) -> TransportError {
        self.0.retriable = Some(retriable);
        self
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> &TransportErrorKind {
        &self.0.kind
    }

    /// What was being done, e.g. `produce to healthcare.patients.events`.
    pub fn operation(&self) -> &str {
        &self.0.operation
    }

    /// The transport's own text about the failure, if it gave one (never a payload).
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// The transport's own error code, if it gave one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.0.code.as_ref()
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        self.0
            .retriable
            .unwrap_or_else(|| self.0.kind.is_retriable())
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.operation, self.0.kind)?;
        if let Some(detail) = &self.0.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(code) = &self.0.code {
            write!(f, " ({}, code {})", code.name, code.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {}

/// The producer side of a transport, plus partition lookup and the consumer factory.
///
/// One value is shared by the whole process (it is `Send + Sync`; the publisher keeps it in an
/// `Arc`).
pub trait Transport: Send + Sync + 'static {
    /// A member of a consumer group on this transport.
    type Consumer: TransportConsumer;

    /// Send one record; resolves when the transport acknowledged it (Kafka: the delivery
    /// report, with `acks=all` by default).
    fn send(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<RecordPosition, TransportError>> + Send;

    /// Send a record the caller keeps (to retry it, or keep it when sending fails). The
    /// default clones it into [`Transport::send`]; a transport that copies the record anyway
    /// (Kafka hands the bytes to librdkafka) sends from the borrow.
    fn send_ref(
        &self,
        record: &Record,
    ) -> impl Future<Output = Result<RecordPosition, TransportError>> + Send {
        self.send(record.clone())
    }

    /// Send a record and give it up: resolves to its position, or gives it back with the
    /// error ([`Unsent`]) for the caller to retry, keep or dead-letter. The publisher sends
    /// this way. The default sends from a borrow and keeps the record until the outcome; a
    /// transport that copies the record when it takes it (Kafka: librdkafka) frees it at once
    /// and rebuilds it only when sending fails (librdkafka returns the message with the
    /// error), so thousands of sends in flight do not keep thousands of records.
    fn send_owned(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<RecordPosition, Unsent>> + Send {
        async move {
            match self.send_ref(&record).await {
                Ok(position) => Ok(position),
                Err(error) => Err(Unsent::Returned(error, record)),
            }
        }
    }

    /// Send several records, each independently (some may fail). The default sends them
    /// concurrently through [`Transport::send`]; results are in input order.
    fn send_batch(
        &self,
        records: Vec<Record>,
    ) -> impl Future<Output = Vec<Result<RecordPosition, TransportError>>> + Send {
        futures::future::join_all(records.into_iter().map(|r| self.send(r)))
    }

    /// Send several records as one transaction: all become visible or none does.
    fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<Vec<RecordPosition>, TransportError>> + Send;

    /// Wait until every record handed to `send` so far is acknowledged or failed.
    fn flush(&self, timeout: Duration) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Number of partitions of `topic`.
    fn partition_count(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<i32, TransportError>> + Send;

    /// Join a consumer group subscribed to `config.topics`.
    fn subscribe(
        &self,
        config: SubscribeConfig,
    ) -> impl Future<Output = Result<Self::Consumer, TransportError>> + Send;
}

/// One member of a consumer group. Methods take `&self` so the poll loop and the tasks that
/// finish handlers can share it (in an `Arc`).
pub trait TransportConsumer: Send + Sync + 'static {
    /// The next record or rebalance notice, waiting at most `timeout`; `Ok(None)` when nothing
    /// arrived in time. Must be called regularly (Kafka: `max.poll.interval.ms`).
    fn poll(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<ConsumerEvent>, TransportError>> + Send;

    /// Like [`TransportConsumer::poll`], but a record is handed to `visit` borrowed, so a
    /// consumer that is done with it during the visit never copies it. The default polls an
    /// owned record and lends it.
    fn poll_view<R: Send>(
        &self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R + Send,
    ) -> impl Future<Output = Result<Option<Polled<R>>, TransportError>> + Send {
        async move {
            Ok(match self.poll(timeout).await? {
                None => None,
                Some(ConsumerEvent::Record(record)) => Some(Polled::Record(lend(&record, visit))),
                Some(notice) => Some(Polled::Notice(notice)),
            })
        }
    }

    /// Mark everything before `next_offset` in the partition as processed. Not yet committed:
    /// [`TransportConsumer::commit`] (or the rebalance/close path) commits it.
    fn store_offset(&self, tp: &TopicPartition, next_offset: i64) -> Result<(), TransportError>;

    /// Commit the stored offsets of every assigned partition, waiting for the acknowledgement.
    fn commit(&self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The group's committed offset for a partition (next offset to read), if any.
    fn committed(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<Option<i64>, TransportError>> + Send;

    /// Stop returning records of these partitions until resumed (they stay assigned).
    fn pause(&self, partitions: &[TopicPartition]) -> Result<(), TransportError>;

    /// Resume paused partitions.
    fn resume(&self, partitions: &[TopicPartition]) -> Result<(), TransportError>;

    /// Make the next record returned for the partition the one at `offset`.
    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), TransportError>;

    /// Partitions currently assigned to this member.
    fn assignment(&self) -> Result<Vec<TopicPartition>, TransportError>;

    /// Commit stored offsets and leave the group (its partitions move to other members).
    fn close(&self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Records not yet read per assigned partition (log end − position), for the
    /// `carebus_consumer_lag` gauge. The default reports nothing.
    fn lag(&self) -> Vec<(TopicPartition, i64)> {
        Vec::new()
    }
}

/// A record [`Transport::send_owned`] did not deliver.
#[derive(Debug)]
pub enum Unsent {
    /// Not delivered: the error, and the record as it was handed over.
    Returned(TransportError, Record),
    /// Handed over, then the transport lost track of it before learning the outcome (Kafka:
    /// the producer closed before the delivery report, which carebus's producer does not do
    /// while a send waits): it may or may not be written. The error says so; the topic is the
    /// record's.
    Unknown(TransportError, String),
}

/// A shared transport is a transport (e.g. one `Arc<KafkaTransport>` for a publisher and a
/// consumer built separately).
impl<T: Transport> Transport for std::sync::Arc<T> {
    type Consumer = T::Consumer;

    fn send(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<RecordPosition, TransportError>> + Send {
        T::send(self, record)
    }

    fn send_ref(
        &self,
        record: &Record,
    ) -> impl Future<Output = Result<RecordPosition, TransportError>> + Send {
        T::send_ref(self, record)
    }

    fn send_owned(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<RecordPosition, Unsent>> + Send {
        T::send_owned(self, record)
    }

    fn send_batch(
        &self,
        records: Vec<Record>,
    ) -> impl Future<Output = Vec<Result<RecordPosition, TransportError>>> + Send {
        T::send_batch(self, records)
    }

    fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<Vec<RecordPosition>, TransportError>> + Send {
        T::send_transaction(self, records)
    }

    fn flush(&self, timeout: Duration) -> impl Future<Output = Result<(), TransportError>> + Send {
        T::flush(self, timeout)
    }

    fn partition_count(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<i32, TransportError>> + Send {
        T::partition_count(self, topic)
    }

    fn subscribe(
        &self,
        config: SubscribeConfig,
    ) -> impl Future<Output = Result<Self::Consumer, TransportError>> + Send {
        T::subscribe(self, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_lends_every_field_and_its_copy_equals_the_record() {
        let record = ReceivedRecord {
            topic: "healthcare.patients.events".into(),
            partition: 3,
            offset: 42,
            key: Some(b"patient-1".to_vec()),
            value: Some(vec![0xc3, 0x01, 7, 7]),
            headers: vec![
                ("ce_id".into(), b"id-1".to_vec()),
                ("x-custom".into(), b"yes".to_vec()),
                ("ce_id".into(), b"id-2".to_vec()),
            ],
            timestamp_ms: 1_700_000_000_000,
        };
        let mut headers = Vec::new();
        let view = view_of(&record, &mut headers);
        assert_eq!(view.topic_partition(), record.topic_partition());
        assert_eq!(header_str(view.headers, "ce_id"), Some("id-1"));
        assert_eq!(header_str(view.headers, "x-custom"), Some("yes"));
        let copy = view.to_received();
        assert_eq!(copy, record);
        assert!(
            matches!(copy.headers[0].0, HeaderName::Borrowed(_)),
            "known names cost no allocation"
        );
    }

    #[test]
    fn records_print_no_key_value_or_header_value() {
        let mut record = Record::new(
            "healthcare.patients.events",
            "patient-1",
            b"Jane Doe".to_vec(),
        );
        record.headers = vec![("ce_subject".into(), b"patient-1".to_vec())];
        let received = ReceivedRecord {
            topic: record.topic.clone(),
            partition: 0,
            offset: 7,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
            timestamp_ms: 0,
        };
        let headers: Vec<(&str, &[u8])> = vec![("ce_subject", b"patient-1")];
        let view = RecordView {
            topic: &record.topic,
            partition: 0,
            offset: 7,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &headers,
            timestamp_ms: 0,
        };
        for printed in [
            format!("{record:?}"),
            format!("{received:?}"),
            format!("{view:?}"),
        ] {
            assert!(!printed.contains("patient-1"), "{printed}");
            assert!(!printed.contains("74, 97, 110, 101"), "{printed}"); // "Jane"
            assert!(printed.contains("healthcare.patients.events"), "{printed}");
            assert!(printed.contains("ce_subject"), "{printed}");
            assert!(printed.contains("<8 bytes>"), "{printed}");
        }
    }
}
