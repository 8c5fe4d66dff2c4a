//! Records in, Kafka delivery reports out: one shared idempotent producer per process (recreated after a fatal error) and a transactional producer for all-or-nothing batches.

use crate::blocking::blocking;
use crate::config::KafkaConfig;
use crate::consumer::KafkaConsumer;
use crate::error::{code_error, is_retriable_code, transport_error};
use crate::security::{SecurityContext, SecurityWatch, not_authorized};
use carebus_core::transport::{
    Record, RecordPosition, TopicPartition, TransportError, TransportErrorKind, Unsent, header_name,
};
use rdkafka::Message;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The rdkafka producer carebus uses: its context keeps authentication and TLS failures.
pub type RawProducer = FutureProducer<SecurityContext>;

/// How long transaction control calls (init, commit, abort) may take.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// The process's producer: idempotent, `acks=all` unless configured otherwise.
pub struct KafkaProducer {
    config: KafkaConfig,
    producer: RwLock<Arc<RawProducer>>,
    /// Authentication and TLS failures of every producer this one creates.
    watch: SecurityWatch,
    transactional: tokio::sync::Mutex<TxnSlot>,
}

/// The transactional producer, created on first use, and whether a transaction was left
/// open (a [`KafkaTransaction`] dropped without commit or abort).
#[derive(Default)]
struct TxnSlot {
    producer: Option<Arc<RawProducer>>,
    open: bool,
}

impl KafkaProducer {
    /// Create the producer. Nothing is sent yet; a wrong property fails here.
    pub fn new(config: KafkaConfig) -> Result<KafkaProducer, TransportError> {
        let watch = SecurityWatch::default();
        let producer = create(&config, None, &watch)?;
        Ok(KafkaProducer {
            config,
            watch,
            producer: RwLock::new(Arc::new(producer)),
            transactional: tokio::sync::Mutex::new(TxnSlot::default()),
        })
    }

    /// The settings the producer was created with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The rdkafka producer in use (for metrics or benchmarks against raw rdkafka).
    pub fn rdkafka(&self) -> Arc<RawProducer> {
        self.producer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// How many brokers the cluster's metadata names, read within `timeout` over the
    /// producer's connections (a health check: fails when no broker answers).
    pub async fn brokers(&self, timeout: Duration) -> Result<usize, TransportError> {
        brokers_of(self.rdkafka(), timeout).await
    }

    /// Send one record and wait for its delivery report.
    pub async fn send(&self, record: &Record) -> Result<RecordPosition, TransportError> {
        self.check_size(record)?;
        let producer = self.rdkafka();
        let result = send_with(&producer, record, &self.config, &self.watch).await;
        if result.is_err() {
            self.renew_if_fatal(&producer);
        }
        result
    }

    /// Send one record, free it as soon as librdkafka has its copy, and wait for the delivery
    /// report. A record that fails comes back, rebuilt from the message librdkafka returns
    /// with the error ([`Transport::send_owned`](carebus_core::transport::Transport::send_owned)).
    ///
    /// Not an `async fn`, which would keep the record twice in every send in flight.
    #[allow(clippy::manual_async_fn)]
    pub fn send_owned(
        &self,
        mut record: Record,
    ) -> impl Future<Output = Result<RecordPosition, Unsent>> + Send + '_ {
        async move {
            if let Err(error) = self.check_size(&record) {
                return Err(Unsent::Returned(error, record));
            }
            let producer = self.rdkafka();
            let delivery = match enqueue(&producer, &record, &self.config, &self.watch).await {
                Ok(delivery) => delivery,
                Err(error) => {
                    self.renew_if_fatal(&producer);
                    return Err(Unsent::Returned(error, record));
                }
            };
            let partition = record.partition;
            let topic = std::mem::take(&mut record.topic);
            drop(record);
            match delivery.await {
                Ok(Ok(d)) => {
                    self.watch.clear();
                    Ok(RecordPosition {
                        topic,
                        partition: d.partition,
                        offset: d.offset,
                    })
                }
                Ok(Err((e, message))) => {
                    let record = returned_record(&message, topic, partition);
                    let error = produce_error(&e, &record, &self.config, &self.watch);
                    self.renew_if_fatal(&producer);
                    Err(Unsent::Returned(error, record))
                }
                Err(_) => Err(Unsent::Unknown(closed_before_report(&topic), topic)),
            }
        }
    }

    /// Wait until every record sent so far is delivered or failed.
    pub async fn flush(&self, timeout: Duration) -> Result<(), TransportError> {
        let producer = self.rdkafka();
        blocking("flush the producer", move || producer.flush(timeout))
            .await?
            .map_err(|e| transport_error("flush the producer", &e))
    }

    /// Start a transaction. One runs at a time per process; the next `begin` waits.
    pub async fn begin(&self) -> Result<KafkaTransaction<'_>, TransportError> {
        let mut slot = self.transactional.lock().await;
        let producer = match slot.producer.clone() {
            Some(p) => p,
            None => {
                let id = self.config.transactional_id.clone().unwrap_or_else(|| {
                    format!(
                        "{}-tx-{}",
                        self.config.client_id,
                        carebus_core::Uuid::new_v4()
                    )
                });
                let p = Arc::new(create(&self.config, Some(&id), &self.watch)?);
                let init = p.clone();
                blocking("start the transactional producer", move || {
                    init.init_transactions(TXN_TIMEOUT)
                })
                .await?
                .map_err(|e| transport_error("initialise transactions", &e))?;
                slot.producer = Some(p.clone());
                p
            }
        };
        if slot.open {
            let abort = producer.clone();
            let aborted = blocking("abort the transaction", move || {
                abort.abort_transaction(TXN_TIMEOUT)
            })
            .await?;
            if let Err(e) = aborted {
                slot.producer = None;
                slot.open = false;
                return Err(transport_error("abort an abandoned transaction", &e));
            }
            slot.open = false;
        }
        if let Err(e) = producer.begin_transaction() {
            if is_fatal(&e) {
                slot.producer = None;
            }
            return Err(transport_error("begin a transaction", &e));
        }
        slot.open = true;
        Ok(KafkaTransaction {
            slot,
            producer,
            config: &self.config,
            watch: &self.watch,
        })
    }

    /// Send the records in one transaction: all become visible to read-committed consumers,
    /// or none does.
    pub async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        for r in &records {
            self.check_size(r)?;
        }
        let txn = self.begin().await?;
        let sent = futures::future::join_all(records.iter().map(|r| txn.send(r))).await;
        let mut positions = Vec::with_capacity(sent.len());
        for result in sent {
            match result {
                Ok(p) => positions.push(p),
                Err(e) => {
                    let reason = e.to_string();
                    txn.abort().await?;
                    return Err(TransportError::new(
                        TransportErrorKind::TransactionAborted,
                        "send records in a transaction",
                    )
                    .with_detail(reason));
                }
            }
        }
        txn.commit().await?;
        Ok(positions)
    }

    fn check_size(&self, record: &Record) -> Result<(), TransportError> {
        check_size(record, &self.config)
    }

    /// A fatal error (e.g. the idempotent producer lost its sequence) leaves the producer
    /// unusable: replace it, once, for everyone.
    fn renew_if_fatal(&self, failed: &Arc<RawProducer>) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        let mut current = self
            .producer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        tracing::warn!(%code, %reason, "fatal Kafka producer error; recreating the producer");
        match create(&self.config, None, &self.watch) {
            Ok(p) => *current = Arc::new(p),
            Err(e) => tracing::error!(error = %e, "recreating the Kafka producer failed"),
        }
    }
}

impl Drop for KafkaProducer {
    /// librdkafka purges whatever is still queued when its producer is dropped: flush first, so
    /// every record handed to `send` is delivered (within the delivery timeout).
    fn drop(&mut self) {
        let producer = self.rdkafka();
        if producer.in_flight_count() > 0
            && let Err(e) = producer.flush(self.config.delivery_timeout)
        {
            tracing::warn!(error = %e, pending = producer.in_flight_count(), "records still unacknowledged when the Kafka producer was dropped");
        }
    }
}

/// An open Kafka transaction; finish it with [`commit`](Self::commit) or
/// [`abort`](Self::abort). Dropping it leaves it to be aborted by the next `begin`.
pub struct KafkaTransaction<'a> {
    slot: tokio::sync::MutexGuard<'a, TxnSlot>,
    producer: Arc<RawProducer>,
    config: &'a KafkaConfig,
    watch: &'a SecurityWatch,
}

impl KafkaTransaction<'_> {
    /// Send a record inside the transaction; resolves when the broker has it (still invisible
    /// to read-committed consumers until commit).
    pub async fn send(&self, record: &Record) -> Result<RecordPosition, TransportError> {
        check_size(record, self.config)?;
        send_with(&self.producer, record, self.config, self.watch).await
    }

    /// Commit a consumer's offsets as part of the transaction (consume-transform-produce):
    /// `offsets` are next offsets to read, as for `store_offset`.
    pub async fn send_offsets(
        &self,
        consumer: &KafkaConsumer,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<(), TransportError> {
        let group = consumer.group_metadata()?;
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next))
                .map_err(|e| transport_error("list offsets for the transaction", &e))?;
        }
        let producer = self.producer.clone();
        blocking("send offsets to the transaction", move || {
            producer.send_offsets_to_transaction(&tpl, &group, TXN_TIMEOUT)
        })
        .await?
        .map_err(|e| transport_error("send offsets to the transaction", &e))
    }

    /// Make every record of the transaction visible. A failure that requires an abort aborts
    /// and reports [`TransactionAborted`](TransportErrorKind::TransactionAborted).
    pub async fn commit(mut self) -> Result<(), TransportError> {
        let producer = self.producer.clone();
        let result = blocking("commit the transaction", move || {
            producer.commit_transaction(TXN_TIMEOUT)
        })
        .await?;
        match result {
            Ok(()) => {
                self.slot.open = false;
                Ok(())
            }
            Err(e) => {
                let error = transport_error("commit the transaction", &e);
                if is_fatal(&e) {
                    self.slot.producer = None;
                    self.slot.open = false;
                    return Err(error);
                }
                self.abort_inner().await?;
                Err(match error.kind() {
                    TransportErrorKind::TransactionAborted => error,
                    _ => TransportError::new(
                        TransportErrorKind::TransactionAborted,
                        "commit the transaction",
                    )
                    .with_detail(error.to_string()),
                })
            }
        }
    }

    /// Discard every record of the transaction.
    pub async fn abort(mut self) -> Result<(), TransportError> {
        self.abort_inner().await
    }

    async fn abort_inner(&mut self) -> Result<(), TransportError> {
        let producer = self.producer.clone();
        let result = blocking("abort the transaction", move || {
            producer.abort_transaction(TXN_TIMEOUT)
        })
        .await?;
        self.slot.open = false;
        result.map_err(|e| {
            self.slot.producer = None;
            transport_error("abort the transaction", &e)
        })
    }
}

fn create(
    config: &KafkaConfig,
    transactional_id: Option<&str>,
    watch: &SecurityWatch,
) -> Result<RawProducer, TransportError> {
    let client = match transactional_id {
        Some(id) => config.transactional_config(id),
        None => config.producer_config(),
    };
    let context = SecurityContext {
        watch: watch.clone(),
    };
    client.create_with_context(context).map_err(|e| {
        let error = transport_error("create the Kafka producer", &e);
        error.with_detail("check the kafka properties")
    })
}

/// Records over `message.max.bytes` are rejected before sending, never truncated.
fn check_size(record: &Record, config: &KafkaConfig) -> Result<(), TransportError> {
    let size = record.size();
    if size > config.message_max_bytes {
        return Err(TransportError::new(
            TransportErrorKind::MessageTooLarge {
                size,
                max: config.message_max_bytes,
            },
            format!("produce to {}", record.topic),
        ));
    }
    Ok(())
}

/// Send `record` and wait for its delivery report.
///
/// The record is handed to librdkafka at once, without awaiting (`send_result`), so what the
/// caller awaits afterwards is only the small delivery future: with thousands of sends in
/// flight, rdkafka's own `send` future (which keeps a copy of the record for retrying while
/// the local queue is full) would be the largest part of each. Only a full queue takes the
/// slower path that waits for room, up to `KafkaConfig::queue_timeout`.
async fn send_with(
    producer: &RawProducer,
    record: &Record,
    config: &KafkaConfig,
    watch: &SecurityWatch,
) -> Result<RecordPosition, TransportError> {
    let delivery = enqueue(producer, record, config, watch).await?;
    match delivery.await {
        Ok(Ok(d)) => {
            watch.clear();
            Ok(RecordPosition {
                topic: record.topic.clone(),
                partition: d.partition,
                offset: d.offset,
            })
        }
        Ok(Err((e, _))) => Err(produce_error(&e, record, config, watch)),
        Err(_) => Err(closed_before_report(&record.topic)),
    }
}

/// Hand a record to librdkafka (which copies it), waiting for room while its queue is full.
async fn enqueue(
    producer: &RawProducer,
    record: &Record,
    config: &KafkaConfig,
    watch: &SecurityWatch,
) -> Result<DeliveryFuture, TransportError> {
    match producer.send_result(future_record(record)) {
        Ok(delivery) => return Ok(delivery),
        Err((e, _)) if is_queue_full(&e) => {}
        Err((e, _)) => return Err(produce_error(&e, record, config, watch)),
    }
    // Awaited after the match, so the refused message rdkafka hands back is not kept across
    // the wait (in every send future); boxed, as the rare path it is.
    Box::pin(send_when_room(producer, record, config, watch)).await
}

fn closed_before_report(topic: &str) -> TransportError {
    TransportError::other(
        format!("produce to {topic}"),
        "the Kafka producer was closed before the broker acknowledged the record",
        true,
    )
}

/// The record a failed delivery report gives back (librdkafka's copy), as it was sent: its
/// topic and explicit partition (if any) are the sender's, the rest is the message's.
fn returned_record(message: &OwnedMessage, topic: String, partition: Option<i32>) -> Record {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (header_name(h.key), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    Record {
        topic,
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        partition,
    }
}

/// The local queue (`queue.buffering.max.messages`) is full: try again every 100 ms, as
/// rdkafka's `send` does, until `queue_timeout` has passed.
async fn send_when_room(
    producer: &RawProducer,
    record: &Record,
    config: &KafkaConfig,
    watch: &SecurityWatch,
) -> Result<DeliveryFuture, TransportError> {
    let deadline = tokio::time::Instant::now() + config.queue_timeout;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match producer.send_result(future_record(record)) {
            Ok(delivery) => return Ok(delivery),
            Err((e, _)) if is_queue_full(&e) && tokio::time::Instant::now() < deadline => {}
            Err((e, _)) => return Err(produce_error(&e, record, config, watch)),
        }
    }
}

/// The record as rdkafka takes it, borrowing everything but the headers (which librdkafka
/// copies from a list it owns).
fn future_record(record: &Record) -> FutureRecord<'_, [u8], [u8]> {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_slice()),
        });
    }
    let mut out = FutureRecord::<[u8], [u8]>::to(&record.topic).headers(headers);
    if let Some(value) = &record.value {
        out = out.payload(value.as_slice());
    }
    if let Some(key) = &record.key {
        out = out.key(key.as_slice());
    }
    if let Some(p) = record.partition {
        out = out.partition(p);
    }
    out
}

fn is_queue_full(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

/// What a failed produce means for the caller, naming the topic (never the record's data).
fn produce_error(
    e: &KafkaError,
    record: &Record,
    config: &KafkaConfig,
    watch: &SecurityWatch,
) -> TransportError {
    let operation = format!("produce to {}", record.topic);
    let principal = config.security.principal();
    match e.rdkafka_error_code() {
        Some(code @ RDKafkaErrorCode::TopicAuthorizationFailed) => {
            let topic = format!("topic {}", record.topic);
            return not_authorized(&principal, &operation, "WRITE", topic, code);
        }
        Some(code @ RDKafkaErrorCode::ClusterAuthorizationFailed) => {
            let cluster = "the cluster (kafka-cluster)".to_string();
            return not_authorized(&principal, &operation, "IDEMPOTENT_WRITE", cluster, code);
        }
        // A record that timed out while the brokers rejected the client's credentials or TLS
        // handshake: say so, and do not let it pass for a broker outage.
        Some(code) if is_retriable_code(code) => {
            if let Some(error) = watch.error(&principal, &operation) {
                return error.with_code(crate::error::error_code(code));
            }
        }
        _ => {}
    }
    let kind = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownPartition) => TransportErrorKind::UnknownPartition {
            topic: record.topic.clone(),
            partition: record.partition.unwrap_or(-1),
        },
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            TransportErrorKind::MessageTooLarge {
                size: record.size(),
                max: config.message_max_bytes,
            }
        }
        Some(RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownTopicOrPartition) => {
            TransportErrorKind::UnknownTopic {
                topic: record.topic.clone(),
            }
        }
        Some(code) if !matches!(e, KafkaError::Transaction(_)) => {
            return code_error(&operation, code);
        }
        _ => return transport_error(&operation, e),
    };
    let code = e.rdkafka_error_code().map(crate::error::error_code);
    let error = TransportError::new(kind, operation);
    match code {
        Some(code) => error.with_code(code),
        None => error,
    }
}

fn is_fatal(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => t.is_fatal(),
        other => other.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal),
    }
}

/// How many brokers the cluster's metadata names, as `producer` reads it within `timeout`.
pub async fn brokers_of(
    producer: Arc<RawProducer>,
    timeout: Duration,
) -> Result<usize, TransportError> {
    blocking("read the cluster's metadata", move || {
        producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|m| m.brokers().len())
            .map_err(|e| transport_error("read the cluster's metadata (health check)", &e))
    })
    .await?
}
