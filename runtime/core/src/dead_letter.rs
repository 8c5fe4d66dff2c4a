//! Dead letters and retry topics: a failed record turned into a forwarded record (`<topic>.retry.<n>` or `<topic>.dlq`) whose headers say why and where it came from, and dead letters read back for inspection and redrive.
//!
//! Headers added (never event data; error texts are the PHI-free handler or decoder messages):
//!
//! | header | meaning |
//! |---|---|
//! | `carebus_original_topic` / `_partition` / `_offset` | where the record was first read |
//! | `carebus_dlq_reason` | `handler-failed`, `poison-pill:<kind>` (e.g. `poison-pill:unknown-fingerprint`), `publish-refused` |
//! | `carebus_dlq_error` | the error text |
//! | `carebus_dlq_time` | when it was dead-lettered, RFC 3339 |
//! | `carebus_attempts` | handler attempts so far |
//! | `carebus_retry_level` | which retry topic the record is in (1, 2, ...) |
//! | `carebus_not_before` | retry topics: milliseconds since the epoch before which it is not handled |
//! | `carebus_dlq_payload` | only on a forward that was too large with these headers: `claim-check` (the value is a claim-check reference, header `carebus_claimcheck`) or `at-source:<bytes>` (the value is empty; the payload is the record at the original topic, partition and offset, for as long as that topic keeps it) |

use crate::transport::{
    ConsumerEvent, Headers, OffsetReset, ReceivedRecord, Record, SubscribeConfig, Transport,
    TransportConsumer, TransportError, header_str,
};
use std::time::Duration;

/// Header: the topic the record was first read from.
pub const ORIGINAL_TOPIC: &str = "carebus_original_topic";
/// Header: the partition it was first read from (decimal text).
pub const ORIGINAL_PARTITION: &str = "carebus_original_partition";
/// Header: its offset in that partition (decimal text).
pub const ORIGINAL_OFFSET: &str = "carebus_original_offset";
/// Header: why it was dead-lettered (`handler-failed`, `poison-pill:<kind>`, `publish-refused`).
pub const REASON: &str = "carebus_dlq_reason";
/// Header: the PHI-free error text of the handler, decoder or transport.
pub const ERROR: &str = "carebus_dlq_error";
/// Header: when it was dead-lettered, RFC 3339.
pub const TIME: &str = "carebus_dlq_time";
/// Header: handler attempts so far (decimal text).
pub const ATTEMPTS: &str = "carebus_attempts";
/// Header: which retry topic the record is in (1, 2, ...).
pub const RETRY_LEVEL: &str = "carebus_retry_level";
/// Header: on retry topics, milliseconds since the Unix epoch before which the record is not
/// handled.
pub const NOT_BEFORE: &str = "carebus_not_before";

/// Header: set when a forward went without its payload (see [`without_payload`]):
/// `claim-check` or `at-source:<bytes>`.
pub const PAYLOAD: &str = "carebus_dlq_payload";

const TRANSIENT: [&str; 6] = [REASON, ERROR, TIME, ATTEMPTS, RETRY_LEVEL, NOT_BEFORE];

/// `<topic>.retry.<level>` (level from 1).
pub fn retry_topic(topic: &str, level: usize) -> String {
    format!("{topic}.retry.{level}")
}

/// `<topic>.dlq`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// The topic a record was first read from (its own topic unless forwarded).
pub fn original_topic(record: &ReceivedRecord) -> String {
    original_topic_in(&record.headers, &record.topic).to_owned()
}

/// [`original_topic`] of a record with these headers, read from `topic`.
pub fn original_topic_in<'a>(
    headers: &'a [(impl AsRef<str>, impl AsRef<[u8]>)],
    topic: &'a str,
) -> &'a str {
    header_str(headers, ORIGINAL_TOPIC).unwrap_or(topic)
}

/// The record to send to `target` for a failed `record`: same key, value and envelope
/// headers, its origin (kept from an earlier forward), and `extra` headers.
pub fn forward(record: &ReceivedRecord, target: String, extra: Headers) -> Record {
    let mut headers: Headers = record
        .headers
        .iter()
        .filter(|(n, _)| !TRANSIENT.contains(&&**n))
        .cloned()
        .collect();
    if header_str(&headers, ORIGINAL_TOPIC).is_none() {
        headers.push((ORIGINAL_TOPIC.into(), record.topic.clone().into_bytes()));
        headers.push((
            ORIGINAL_PARTITION.into(),
            record.partition.to_string().into_bytes(),
        ));
        headers.push((
            ORIGINAL_OFFSET.into(),
            record.offset.to_string().into_bytes(),
        ));
    }
    headers.extend(extra);
    Record {
        topic: target,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
        partition: None,
    }
}

/// A forward the broker refused as too large (a record at the size limit, pushed over it by
/// the dead-letter headers) made small enough to go: its value moved to the claim-check
/// `store` when one is configured and takes it (header [`PAYLOAD`] `claim-check`), else
/// dropped from the forward (`at-source:<bytes>`: the payload stays readable at the original
/// topic, partition and offset in the headers, for that topic's retention). Either way the
/// consumer moves on instead of wedging its partition on a record it can never forward.
pub async fn without_payload(
    mut record: Record,
    store: Option<&dyn crate::claim_check::ClaimCheckStore>,
) -> Record {
    let size = record.payload().len();
    let checked = header_str(&record.headers, crate::claim_check::CLAIM_CHECK_HEADER).is_some();
    if let Some(store) = store.filter(|_| !checked) {
        let original = record.value.clone();
        let blob = crate::claim_check::Blob {
            event_id: blob_name(&record),
            topic: record.topic.clone(),
            event_type: header_str(&record.headers, crate::headers::TYPE)
                .unwrap_or_default()
                .to_owned(),
            event_version: header_str(&record.headers, crate::headers::EVENT_VERSION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            subject: None,
            value: Vec::new(),
        };
        match crate::claim_check::check_in(store, blob, &mut record).await {
            Ok(()) => {
                record
                    .headers
                    .push((PAYLOAD.into(), b"claim-check".to_vec()));
                return record;
            }
            Err(e) => {
                record.value = original;
                tracing::warn!(topic = %record.topic, error = %e,
                    "an oversized forward could not be claim-checked; it goes without its payload");
            }
        }
    }
    record.value = Some(Vec::new());
    record
        .headers
        .push((PAYLOAD.into(), format!("at-source:{size}").into_bytes()));
    record
}

/// A file-name-safe blob name for a forwarded record: its event id, else where it was read.
fn blob_name(record: &Record) -> String {
    let safe = crate::claim_check::safe_name;
    match header_str(&record.headers, crate::headers::ID) {
        Some(id) if safe(id) => id.to_owned(),
        _ => {
            let origin = |name| header_str(&record.headers, name).unwrap_or("");
            let name = format!(
                "{}-{}-{}",
                origin(ORIGINAL_TOPIC),
                origin(ORIGINAL_PARTITION),
                origin(ORIGINAL_OFFSET)
            );
            if safe(&name) {
                name
            } else {
                format!("forward-{}", crate::types::Uuid::new_v4().to_text())
            }
        }
    }
}

/// Headers describing a dead letter.
pub fn dead_letter_headers(reason: &str, error: &str, attempts: u32) -> Headers {
    vec![
        (REASON.into(), reason.as_bytes().to_vec()),
        (ERROR.into(), error.as_bytes().to_vec()),
        (TIME.into(), chrono::Utc::now().to_rfc3339().into_bytes()),
        (ATTEMPTS.into(), attempts.to_string().into_bytes()),
    ]
}

/// One record of a dead-letter topic, described without its payload.
#[derive(Clone)]
pub struct DeadLetter {
    /// The dead-letter topic the record is in.
    pub dlq_topic: String,
    /// Its partition in that topic.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Topic the record was first read from (`carebus_original_topic`); where a redrive sends it.
    pub original_topic: Option<String>,
    /// Partition it was first read from.
    pub original_partition: Option<i32>,
    /// Its offset there.
    pub original_offset: Option<i64>,
    /// Why it was dead-lettered (`handler-failed`, `poison-pill:<kind>`, `publish-refused`).
    pub reason: Option<String>,
    /// The PHI-free error text.
    pub error: Option<String>,
    /// The event's type (`ce_type`), when the headers have one.
    pub event_type: Option<String>,
    /// The event's id (`ce_id`), when the headers have one.
    pub event_id: Option<String>,
    /// Handler attempts before it was dead-lettered.
    pub attempts: Option<u32>,
    record: ReceivedRecord,
}

impl std::fmt::Debug for DeadLetter {
    // The payload may be PHI: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("dlq_topic", &self.dlq_topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("original_topic", &self.original_topic)
            .field("original_offset", &self.original_offset)
            .field("reason", &self.reason)
            .field("error", &self.error)
            .field("event_type", &self.event_type)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

impl DeadLetter {
    fn from_record(record: ReceivedRecord) -> Self {
        let h = |n| header_str(&record.headers, n).map(str::to_owned);
        DeadLetter {
            dlq_topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            original_topic: h(ORIGINAL_TOPIC),
            original_partition: h(ORIGINAL_PARTITION).and_then(|s| s.parse().ok()),
            original_offset: h(ORIGINAL_OFFSET).and_then(|s| s.parse().ok()),
            reason: h(REASON),
            error: h(ERROR),
            event_type: h(crate::headers::TYPE),
            event_id: h(crate::headers::ID),
            attempts: h(ATTEMPTS).and_then(|s| s.parse().ok()),
            record,
        }
    }

    /// The dead-lettered record (its value may be PHI).
    pub fn record(&self) -> &ReceivedRecord {
        &self.record
    }
}

async fn read_all<C: TransportConsumer>(
    consumer: &C,
    idle: Duration,
    mut each: impl FnMut(ReceivedRecord),
) -> Result<(), TransportError> {
    while let Some(ev) = consumer.poll(idle).await? {
        if let ConsumerEvent::Record(r) = ev {
            each(r);
        }
    }
    Ok(())
}

/// Every dead letter currently in `dlq_topic` (read until nothing arrives for `idle`),
/// without consuming them.
pub async fn inspect<T: Transport>(
    transport: &T,
    dlq_topic: &str,
    idle: Duration,
) -> Result<Vec<DeadLetter>, TransportError> {
    let consumer = transport
        .subscribe(SubscribeConfig {
            group_id: format!("carebus-dlq-inspect-{}", crate::types::Uuid::new_v4()),
            topics: vec![dlq_topic.to_string()],
            offset_reset: OffsetReset::Earliest,
            ..SubscribeConfig::default()
        })
        .await?;
    let mut out = Vec::new();
    read_all(&consumer, idle, |r| out.push(DeadLetter::from_record(r))).await?;
    consumer.close().await?;
    out.sort_by_key(|d| (d.partition, d.offset));
    Ok(out)
}

/// What a redrive did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Dead letters republished to their original topic.
    pub redriven: usize,
    /// Dead letters the selector rejected (passed over for good by the redrive group).
    pub skipped: usize,
    /// Dead letters forwarded without their payload (`carebus_dlq_payload: at-source:…`): not
    /// republished (an empty record would only fail again); their payload is at the original
    /// topic, partition and offset while that topic keeps it.
    pub without_payload: usize,
}

/// Republish the dead letters of `dlq_topic` that `select` accepts to their original topic
/// (headers of the failure removed), reading in consumer group `group`, so a dead letter is
/// redriven once. Records `select` rejects are passed over for good by that group: look with
/// [`inspect`] first, or use another group. A null value (a tombstone) stays null, in the
/// dead-letter copy and when redriven, so it is still a delete marker on a compacted topic.
pub async fn redrive<T: Transport>(
    transport: &T,
    dlq_topic: &str,
    group: &str,
    idle: Duration,
    select: impl Fn(&DeadLetter) -> bool,
) -> Result<RedriveReport, TransportError> {
    let consumer = transport
        .subscribe(SubscribeConfig {
            group_id: group.to_string(),
            topics: vec![dlq_topic.to_string()],
            offset_reset: OffsetReset::Earliest,
            ..SubscribeConfig::default()
        })
        .await?;
    let mut report = RedriveReport::default();
    while let Some(ev) = consumer.poll(idle).await? {
        let ConsumerEvent::Record(r) = ev else {
            continue;
        };
        let tp = r.topic_partition();
        let next = r.offset + 1;
        let letter = DeadLetter::from_record(r);
        let at_source =
            header_str(&letter.record.headers, PAYLOAD).is_some_and(|p| p.starts_with("at-source"));
        if at_source {
            tracing::warn!(dlq = %dlq_topic, partition = letter.partition, offset = letter.offset,
                "a dead letter without its payload is not redriven; its payload is at its original offset");
            report.without_payload += 1;
        } else if select(&letter) {
            let target = letter.original_topic.clone().unwrap_or_else(|| {
                dlq_topic
                    .strip_suffix(".dlq")
                    .unwrap_or(dlq_topic)
                    .to_string()
            });
            let mut record = forward(&letter.record, target, Vec::new());
            record.headers.retain(|(n, _)| {
                n != ORIGINAL_TOPIC && n != ORIGINAL_PARTITION && n != ORIGINAL_OFFSET
            });
            record.headers.push((
                "carebus_redriven_from".into(),
                dlq_topic.as_bytes().to_vec(),
            ));
            transport.send(record).await?;
            report.redriven += 1;
            metrics::counter!("carebus_redriven_total").increment(1);
        } else {
            report.skipped += 1;
        }
        consumer.store_offset(&tp, next)?;
    }
    consumer.commit().await?;
    consumer.close().await?;
    Ok(report)
}
