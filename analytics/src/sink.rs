//! Records of the event topics in, de-identified documents in OpenSearch out: one consumer group that decodes each event, applies its generated plan, writes batches with the bulk API and stores offsets only for what OpenSearch confirmed or the dead-letter topic took.
//!
//! Guarantees:
//! - **Nothing lost**: a record's offset is stored (and committed) only after the bulk answer
//!   confirms its document, or after its dead letter was acknowledged. A crash or a kill
//!   re-reads from the last commit.
//! - **No duplicates**: the event id is the document id and the event's time picks its daily
//!   index, so a redelivered event overwrites its own document.
//! - **Backpressure**: one batch (at most `batch_events` records / `batch_bytes`) is in memory.
//!   While OpenSearch is down or answers 429/5xx, the sink pauses its partitions, keeps the
//!   group membership alive, retries the same batch with exponential backoff, and resumes when
//!   the batch is through.
//! - **Rejections**: a document OpenSearch refuses for good (mapping conflicts) goes to the
//!   topic's dead-letter topic with reason `analytics-rejected` and OpenSearch's error type and
//!   the field names it quotes; an undecodable record with `poison-pill:<kind>`. No value is
//!   quoted.

use crate::deidentify::Deidentifier;
use crate::mapping::IndexLayout;
use crate::opensearch::{OpenSearch, OpenSearchError};
use bytes::Bytes;
use carebus_core::TopicEvents;
use carebus_core::dead_letter;
use carebus_core::deidentify::EventPlan;
use carebus_core::envelope::Envelope;
use carebus_core::transport::{
    ConsumerEvent, Headers, ReceivedRecord, SubscribeConfig, TopicPartition, Transport,
    TransportConsumer, TransportError,
};
use carebus_core::wire::WireError;
use hyper::Method;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Dead-letter reason of a document OpenSearch refused for good.
pub const REJECTED: &str = "analytics-rejected";

/// Decodes one record of a topic into its envelope and the event's JSON form.
pub type DecodeFn = fn(&Headers, &[u8]) -> Result<(Envelope, Value), WireError>;

/// A topic the sink reads, with its generated decoder.
#[derive(Clone, Debug)]
pub struct Source {
    /// The Kafka topic read.
    pub topic: String,
    /// The schemas' topic whose events it carries (names the indices and picks the plans).
    pub events_of: &'static str,
    /// Its decoder (see [`Source::of`]).
    pub decode: DecodeFn,
}

impl Source {
    /// The topic of a generated event enum (`Source::of::<PatientsEvent>()`).
    pub fn of<E: TopicEvents>() -> Source {
        Source {
            topic: E::TOPIC.to_owned(),
            events_of: E::TOPIC,
            decode: decode_json::<E>,
        }
    }

    /// The same events read from another topic (a copy, a test topic).
    pub fn reading(mut self, topic: impl Into<String>) -> Source {
        self.topic = topic.into();
        self
    }
}

fn decode_json<E: TopicEvents>(
    headers: &Headers,
    value: &[u8],
) -> Result<(Envelope, Value), WireError> {
    let (envelope, event) = carebus_core::wire::decode::<E>(headers, value)?;
    let data = carebus_core::topic::readable_json(&event).map_err(|source| WireError::Payload {
        event_type: envelope.event_type.clone(),
        version: envelope.event_version,
        source,
    })?;
    Ok((envelope, data))
}

/// How the sink reads, batches and retries.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Consumer group id (default `analytics-pipeline`, the service in `schemas/services.toml`).
    pub group_id: String,
    /// Index names, replicas and retention.
    pub layout: IndexLayout,
    /// Most records in one bulk request (default 2000).
    pub batch_events: usize,
    /// Most document bytes in one bulk request (default 8 MiB).
    pub batch_bytes: usize,
    /// How long a batch waits for more records once it has one (default 50 ms).
    pub linger: Duration,
    /// First wait after a failed bulk request; doubles up to `max_backoff` (default 100 ms).
    pub backoff: Duration,
    /// Longest wait between retries (default 5 s).
    pub max_backoff: Duration,
    /// Transport properties passed through (librdkafka properties for Kafka).
    pub properties: BTreeMap<String, String>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            group_id: "analytics-pipeline".into(),
            layout: IndexLayout::default(),
            batch_events: 2000,
            batch_bytes: 8 << 20,
            linger: Duration::from_millis(50),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            properties: BTreeMap::new(),
        }
    }
}

/// Why the sink stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A request to OpenSearch failed in a way retrying cannot fix (a refused template, a bad URL).
    #[error(transparent)]
    OpenSearch(#[from] OpenSearchError),
    /// The transport failed (joining the group, committing, dead-lettering for good).
    #[error("analytics sink: {0}")]
    Transport(#[from] TransportError),
    /// A source's topic has no generated plan.
    #[error(
        "analytics sink: no event of topic `{0}` has a de-identification plan; pass the generated `ANALYTICS` registry"
    )]
    NoPlan(String),
}

/// Counters of what the sink did, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Documents OpenSearch confirmed.
    pub indexed: AtomicU64,
    /// Records sent to a dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Bulk requests that failed as a whole or in part and were retried.
    pub retries: AtomicU64,
    /// Batches whose offsets were committed.
    pub batches: AtomicU64,
}

/// One record of a batch and what became of it.
enum Item {
    /// A document to index.
    Document {
        record: ReceivedRecord,
        action: String,
        document: String,
    },
    /// A record for the dead-letter topic: reason and PHI-free error text.
    DeadLetter {
        record: ReceivedRecord,
        reason: String,
        error: String,
    },
}

impl Item {
    fn record(&self) -> &ReceivedRecord {
        match self {
            Item::Document { record, .. } | Item::DeadLetter { record, .. } => record,
        }
    }
}

/// The analytics sink over one transport.
pub struct AnalyticsSink<T: Transport> {
    transport: T,
    opensearch: OpenSearch,
    deidentifier: Deidentifier,
    plans: HashMap<(&'static str, u32), &'static EventPlan>,
    registry: &'static [EventPlan],
    /// Topic read → (the schemas' topic, decoder).
    sources: HashMap<String, (&'static str, DecodeFn)>,
    config: SinkConfig,
    stats: Arc<SinkStats>,
}

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// Whether a delivery went through or was interrupted by shutdown.
enum Delivery {
    Done,
    Stopped,
}

impl<T: Transport> AnalyticsSink<T> {
    /// A sink reading `sources` over `transport`, de-identifying with `registry` (the generated
    /// `ANALYTICS`) and `deidentifier`, writing to `opensearch`.
    pub fn new(
        transport: T,
        opensearch: OpenSearch,
        deidentifier: Deidentifier,
        registry: &'static [EventPlan],
        sources: &[Source],
        config: SinkConfig,
    ) -> Result<AnalyticsSink<T>, SinkError> {
        for s in sources {
            if !registry.iter().any(|p| p.topic == s.events_of) {
                return Err(SinkError::NoPlan(s.events_of.to_owned()));
            }
        }
        Ok(AnalyticsSink {
            transport,
            opensearch,
            deidentifier,
            plans: registry
                .iter()
                .map(|p| ((p.event_type, p.version), p))
                .collect(),
            registry,
            sources: sources
                .iter()
                .map(|s| (s.topic.clone(), (s.events_of, s.decode)))
                .collect(),
            config,
            stats: Arc::default(),
        })
    }

    /// The sink's counters.
    pub fn stats(&self) -> Arc<SinkStats> {
        Arc::clone(&self.stats)
    }

    /// Put each topic's index template in place, and its retention: the ISM policy when the
    /// cluster has the plugin, else a sweep of expired daily indices now (and hourly while
    /// running).
    pub async fn prepare(&self) -> Result<(), SinkError> {
        let layout = &self.config.layout;
        let ism = self.opensearch.has_ism().await?;
        for topic in self.topics() {
            let plans: Vec<&EventPlan> =
                self.registry.iter().filter(|p| p.topic == topic).collect();
            let name = layout.template_name(topic);
            self.opensearch
                .expect_ok(
                    &format!("put index template {name}"),
                    Method::PUT,
                    &format!("/_index_template/{name}"),
                    Some(&layout.template(topic, &plans)),
                )
                .await?;
            if ism {
                let answer = self
                    .opensearch
                    .request(
                        &format!("put ISM policy {name}"),
                        Method::PUT,
                        &format!("/_plugins/_ism/policies/{name}"),
                        Some((
                            "application/json",
                            Bytes::from(layout.ism_policy(topic).to_string()),
                        )),
                    )
                    .await?;
                // 409: the policy exists (kept as it is; change it with the ISM API).
                if !answer.status.is_success() && answer.status.as_u16() != 409 {
                    tracing::warn!(status = answer.status.as_u16(), policy = %name, "the ISM policy was not accepted; retention falls back to the sink's sweep");
                }
            }
        }
        if !ism {
            self.sweep_retention().await?;
        }
        Ok(())
    }

    /// The schemas' topics the sink writes indices for.
    fn topics(&self) -> BTreeSet<&'static str> {
        self.sources.values().map(|(t, _)| *t).collect()
    }

    /// Delete the daily indices of every topic older than the retention; returns their names.
    pub async fn sweep_retention(&self) -> Result<Vec<String>, SinkError> {
        let layout = &self.config.layout;
        let today = chrono::Utc::now().date_naive();
        let mut deleted = Vec::new();
        for topic in self.topics() {
            let alias = layout.alias(topic);
            let listed = self
                .opensearch
                .expect_ok(
                    &format!("list the indices of {alias}"),
                    Method::GET,
                    &format!("/_cat/indices/{alias}-*?format=json&h=index&expand_wildcards=open"),
                    None,
                )
                .await?;
            for entry in listed.as_array().into_iter().flatten() {
                let Some(index) = entry["index"].as_str() else {
                    continue;
                };
                let Some(day) = layout.day_of(topic, index) else {
                    continue;
                };
                if (today - day).num_days() > i64::from(layout.retention_days) {
                    self.opensearch
                        .expect_ok(
                            &format!("delete expired index {index}"),
                            Method::DELETE,
                            &format!("/{index}"),
                            None,
                        )
                        .await?;
                    deleted.push(index.to_owned());
                }
            }
        }
        Ok(deleted)
    }

    /// Prepare, join the group and write until `shutdown` resolves; then leave the group
    /// (committing what was confirmed). Records read but not yet confirmed are read again by
    /// the next member.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<(), SinkError> {
        self.prepare().await?;
        let topics: Vec<&str> = self.sources.keys().map(String::as_str).collect();
        let mut subscribe = SubscribeConfig::new(self.config.group_id.clone(), &topics);
        subscribe.properties = self.config.properties.clone();
        let consumer = self.transport.subscribe(subscribe).await?;
        let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
        let mut last_sweep = Instant::now();
        let result = loop {
            let batch = tokio::select! {
                batch = self.fill(&consumer) => batch,
                () = &mut shutdown => break Ok(()),
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => break Err(e),
            };
            if batch.is_empty() {
                continue;
            }
            match self.deliver(&consumer, batch, shutdown.as_mut()).await {
                Ok(Delivery::Done) => {}
                Ok(Delivery::Stopped) => break Ok(()),
                Err(e) => break Err(e),
            }
            if last_sweep.elapsed() > Duration::from_secs(3600) {
                last_sweep = Instant::now();
                if let Err(e) = self.sweep_retention().await {
                    tracing::warn!(error = %e, "the retention sweep failed; it runs again in an hour");
                }
            }
        };
        let closed = consumer.close().await;
        result?;
        closed.map_err(SinkError::from)
    }

    /// Read records until the batch is full or has lingered; an empty batch after a quiet
    /// poll lets the caller look at shutdown.
    async fn fill(&self, consumer: &T::Consumer) -> Result<Vec<Item>, SinkError> {
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        let mut first: Option<Instant> = None;
        loop {
            let wait = match first {
                None => Duration::from_millis(200),
                Some(t) => self.config.linger.saturating_sub(t.elapsed()),
            };
            if batch.len() >= self.config.batch_events
                || bytes >= self.config.batch_bytes
                || (first.is_some() && wait.is_zero())
            {
                return Ok(batch);
            }
            match consumer.poll(wait).await? {
                None => {
                    if first.is_none() {
                        return Ok(batch);
                    }
                }
                Some(ConsumerEvent::Record(record)) => {
                    first.get_or_insert_with(Instant::now);
                    let item = self.item(record);
                    if let Item::Document {
                        action, document, ..
                    } = &item
                    {
                        bytes += action.len() + document.len() + 2;
                    }
                    batch.push(item);
                }
                Some(ConsumerEvent::Revoked(lost)) => {
                    // Not sent yet: the partitions' new owner reads them again.
                    batch.retain(|i| !lost.contains(&i.record().topic_partition()));
                }
                Some(ConsumerEvent::Assigned(_)) => {}
            }
        }
    }

    /// Decode, de-identify and serialise one record, or say why it goes to the dead letters.
    fn item(&self, record: ReceivedRecord) -> Item {
        let Some((_, decode)) = self.sources.get(record.topic.as_str()) else {
            return Item::DeadLetter {
                reason: "poison-pill:unknown-topic".into(),
                error: format!(
                    "the analytics sink has no decoder for topic {}",
                    record.topic
                ),
                record,
            };
        };
        let (envelope, data) = match decode(&record.headers, record.payload()) {
            Ok(decoded) => decoded,
            Err(e) => {
                return Item::DeadLetter {
                    reason: format!("poison-pill:{}", e.reason()),
                    error: e.to_string(),
                    record,
                };
            }
        };
        let Some(plan) = self
            .plans
            .get(&(envelope.event_type.as_str(), envelope.event_version))
        else {
            return Item::DeadLetter {
                reason: "poison-pill:no-analytics-plan".into(),
                error: format!(
                    "no de-identification plan for {} v{}",
                    envelope.event_type, envelope.event_version
                ),
                record,
            };
        };
        let document = self
            .deidentifier
            .document(plan, &envelope, &data)
            .to_string();
        let index = self.config.layout.index(plan.topic, envelope.event_time.0);
        let action =
            serde_json::json!({"index": {"_index": index, "_id": envelope.event_id}}).to_string();
        Item::Document {
            record,
            action,
            document,
        }
    }

    /// Index the batch's documents and dead-letter the rest, retrying what OpenSearch could not
    /// take yet, then store and commit the batch's offsets.
    async fn deliver(
        &self,
        consumer: &T::Consumer,
        mut batch: Vec<Item>,
        mut shutdown: Shutdown<'_>,
    ) -> Result<Delivery, SinkError> {
        let mut pending: Vec<usize> = (0..batch.len())
            .filter(|&i| matches!(batch[i], Item::Document { .. }))
            .collect();
        let mut backoff = self.config.backoff;
        let mut paused: Vec<TopicPartition> = Vec::new();
        let mut revoked: BTreeSet<TopicPartition> = BTreeSet::new();
        while !pending.is_empty() {
            let mut body = Vec::with_capacity(pending.len() * 512);
            for &i in &pending {
                if let Item::Document {
                    action, document, ..
                } = &batch[i]
                {
                    body.extend_from_slice(action.as_bytes());
                    body.push(b'\n');
                    body.extend_from_slice(document.as_bytes());
                    body.push(b'\n');
                }
            }
            let retry = match self.opensearch.bulk(Bytes::from(body)).await {
                Ok(answer) => self.settle(&mut batch, &pending, &answer),
                Err(e) if e.is_retriable() => {
                    tracing::warn!(error = %e, documents = pending.len(), "OpenSearch cannot take the batch; the sink pauses and retries it, nothing is committed");
                    pending.clone()
                }
                Err(e) => {
                    self.resume(consumer, &paused);
                    return Err(e.into());
                }
            };
            pending = retry;
            if pending.is_empty() {
                break;
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if paused.is_empty() {
                paused = consumer.assignment()?;
                consumer.pause(&paused)?;
            }
            if !self
                .wait(consumer, backoff, &mut shutdown, &mut paused, &mut revoked)
                .await?
            {
                self.resume(consumer, &paused);
                return Ok(Delivery::Stopped);
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
        for item in &batch {
            if let Item::DeadLetter {
                record,
                reason,
                error,
            } = item
            {
                let target = dead_letter::dlq_topic(&dead_letter::original_topic(record));
                let headers = dead_letter::dead_letter_headers(reason, error, 1);
                self.transport
                    .send(dead_letter::forward(record, target, headers))
                    .await?;
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("carebus_analytics_dead_lettered_total", "topic" => record.topic.clone(), "reason" => reason.clone()).increment(1);
            }
        }
        let mut next: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for item in &batch {
            let r = item.record();
            let tp = r.topic_partition();
            if revoked.contains(&tp) {
                continue;
            }
            let e = next.entry(tp).or_insert(0);
            *e = (*e).max(r.offset + 1);
        }
        for (tp, offset) in &next {
            consumer.store_offset(tp, *offset)?;
        }
        consumer.commit().await?;
        self.resume(consumer, &paused);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        Ok(Delivery::Done)
    }

    /// Read a bulk answer: confirmed documents are done, refused ones become dead letters,
    /// those OpenSearch could not take now (429, 5xx, no answer) are returned for a retry.
    fn settle(&self, batch: &mut [Item], pending: &[usize], answer: &Value) -> Vec<usize> {
        let items = answer["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut retry = Vec::new();
        let mut indexed = 0u64;
        for (n, &i) in pending.iter().enumerate() {
            let Some(result) = items.get(n).and_then(|it| it.get("index")) else {
                retry.push(i);
                continue;
            };
            let status = result["status"].as_u64().unwrap_or(0);
            if (200..300).contains(&status) {
                indexed += 1;
            } else if status == 429 || status >= 500 || status == 0 {
                retry.push(i);
            } else {
                let error = rejection_text(status, &result["error"]);
                let record = match &batch[i] {
                    Item::Document { record, .. } | Item::DeadLetter { record, .. } => {
                        record.clone()
                    }
                };
                batch[i] = Item::DeadLetter {
                    record,
                    reason: REJECTED.into(),
                    error,
                };
            }
        }
        self.stats.indexed.fetch_add(indexed, Ordering::Relaxed);
        metrics::counter!("carebus_analytics_indexed_total").increment(indexed);
        retry
    }

    /// Wait `backoff` while keeping the group membership alive (paused partitions return no
    /// records). `false` when shutdown came first.
    async fn wait(
        &self,
        consumer: &T::Consumer,
        backoff: Duration,
        shutdown: &mut Shutdown<'_>,
        paused: &mut Vec<TopicPartition>,
        revoked: &mut BTreeSet<TopicPartition>,
    ) -> Result<bool, SinkError> {
        let until = Instant::now() + backoff;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(true);
            }
            let polled = tokio::select! {
                polled = consumer.poll(left.min(Duration::from_millis(500))) => polled?,
                () = shutdown.as_mut() => return Ok(false),
            };
            match polled {
                None => {}
                Some(ConsumerEvent::Revoked(lost)) => {
                    paused.retain(|tp| !lost.contains(tp));
                    revoked.extend(lost);
                }
                Some(ConsumerEvent::Assigned(gained)) => {
                    consumer.pause(&gained)?;
                    paused.extend(gained);
                }
                Some(ConsumerEvent::Record(record)) => {
                    // A partition that was not paused yet: put the record back for later.
                    let tp = record.topic_partition();
                    consumer.seek(&tp, record.offset)?;
                    consumer.pause(std::slice::from_ref(&tp))?;
                    paused.push(tp);
                }
            }
        }
    }

    fn resume(&self, consumer: &T::Consumer, paused: &[TopicPartition]) {
        if !paused.is_empty()
            && let Err(e) = consumer.resume(paused)
        {
            tracing::warn!(error = %e, "resuming the sink's partitions failed");
        }
    }
}

/// The dead-letter text of a refused document: status, OpenSearch's error types and the field
/// names its reason quotes in brackets, never a value.
fn rejection_text(status: u64, error: &Value) -> String {
    let kind = error["type"].as_str().unwrap_or("unknown");
    let mut text = format!("OpenSearch refused the document ({status} {kind})");
    if let Some(cause) = error["caused_by"]["type"].as_str() {
        text.push_str(&format!(", caused by {cause}"));
    }
    let names: Vec<&str> = error["reason"]
        .as_str()
        .unwrap_or_default()
        .split('[')
        .skip(1)
        .filter_map(|s| s.split_once(']').map(|(name, _)| name))
        .filter(|n| !n.is_empty() && n.len() < 128 && !n.contains(char::is_whitespace))
        .collect();
    if !names.is_empty() {
        text.push_str(&format!("; names in its reason: {}", names.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rejection_names_types_and_fields_but_no_value() {
        let error = json!({
            "type": "mapper_parsing_exception",
            "reason": "failed to parse field [PatientCreated.refills] of type [long] in document with id 'e-1'. Preview of field's value: 'John Doe'",
            "caused_by": {"type": "illegal_argument_exception", "reason": "For input string: \"John Doe\""}
        });
        let text = rejection_text(400, &error);
        assert_eq!(
            text,
            "OpenSearch refused the document (400 mapper_parsing_exception), caused by illegal_argument_exception; names in its reason: PatientCreated.refills, long"
        );
        assert!(!text.contains("John"));
    }
}
