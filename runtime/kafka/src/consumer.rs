//! A Kafka consumer-group member: fetched messages and rebalances in, [`ConsumerEvent`]s out; offsets stored after processing, committed before partitions are revoked.
//!
//! Offsets: `enable.auto.offset.store=false` + `enable.auto.commit=true`, so only offsets the
//! consumer logic stored (after its handler succeeded) are ever committed. The rebalance
//! callback commits them synchronously before revoked partitions move to another member.

use crate::blocking::blocking;
use crate::config::KafkaConfig;
use crate::error::transport_error;
use crate::pause::{Arrival, PauseBuffer};
use crate::security::{SecurityWatch, not_authenticated, not_authorized};
use carebus_core::transport::{
    ConsumerEvent, LentHeaders, Polled, ReceivedRecord, RecordView, SubscribeConfig,
    TopicPartition, TransportError, lend,
};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata, Rebalance,
    StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Records held per locally paused partition before its fetching is paused in librdkafka.
const PAUSE_HOLD_CAP: usize = 5_000;

/// How long a blocking group call (committed offsets, seek) may take.
const GROUP_CALL_TIMEOUT: Duration = Duration::from_secs(10);

type Notices = Arc<NoticeQueue>;

/// Rebalance notices waiting to be handed out; whether any wait is readable without the lock
/// (the poll loop asks once per record).
#[derive(Default)]
struct NoticeQueue {
    queue: Mutex<VecDeque<ConsumerEvent>>,
    waiting: AtomicBool,
}

impl NoticeQueue {
    fn push(&self, notice: ConsumerEvent) {
        let mut queue = lock(&self.queue);
        queue.push_back(notice);
        self.waiting.store(true, Ordering::Release);
    }

    fn pop(&self) -> Option<ConsumerEvent> {
        if !self.any() {
            return None;
        }
        let mut queue = lock(&self.queue);
        let notice = queue.pop_front();
        self.waiting.store(!queue.is_empty(), Ordering::Release);
        notice
    }

    fn any(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    fn clear(&self) {
        let mut queue = lock(&self.queue);
        queue.clear();
        self.waiting.store(false, Ordering::Release);
    }
}

/// The rdkafka context: turns rebalances into notices, commits before a revoke, and keeps
/// each partition's lag from librdkafka's statistics.
pub struct GroupContext {
    notices: Notices,
    lag: Lag,
    watch: SecurityWatch,
}

/// Records not yet handled per assigned partition, as of the last statistics.
type Lag = Arc<Mutex<Vec<(TopicPartition, i64)>>>;

impl ClientContext for GroupContext {
    /// Logged as the default context does; authentication and TLS failures also kept, so a
    /// poll reports them instead of returning nothing forever.
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.record(&error, reason);
        tracing::error!(error = %error, "librdkafka: {reason}");
    }

    /// Every `statistics.interval.ms`: for each partition this member fetches, the log end
    /// (high watermark, or last stable offset under read_committed) minus the offset stored
    /// after handling (`consumer_lag_stored`), else minus the committed offset.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut lag: Vec<(TopicPartition, i64)> = statistics
            .topics
            .into_iter()
            .flat_map(|(topic, t)| {
                t.partitions.into_iter().filter_map(move |(partition, p)| {
                    let known = [p.consumer_lag_stored, p.consumer_lag]
                        .into_iter()
                        .find(|l| *l >= 0)?;
                    (partition >= 0 && p.fetch_state == "active").then(|| {
                        (
                            TopicPartition {
                                topic: topic.clone(),
                                partition,
                            },
                            known,
                        )
                    })
                })
            })
            .collect();
        lag.sort_by(|a, b| a.0.cmp(&b.0));
        *self.lag.lock().unwrap_or_else(PoisonError::into_inner) = lag;
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Commit what is done before another member takes these partitions over.
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync)
                && !is_no_offset(&e)
            {
                tracing::warn!(error = %e, "committing stored offsets before a revoke failed; the new owner will redeliver them");
            }
            let revoked = partitions(tpl);
            if !revoked.is_empty() {
                self.notices.push(ConsumerEvent::Revoked(revoked));
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let assigned = partitions(tpl);
                if !assigned.is_empty() {
                    self.notices.push(ConsumerEvent::Assigned(assigned));
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// One member of a Kafka consumer group.
pub struct KafkaConsumer {
    group_id: String,
    /// The principal the brokers see (named in authorization errors).
    principal: String,
    /// The subscribed topics, comma-separated (named in authorization errors).
    topics: String,
    /// Authentication and TLS failures reported by librdkafka.
    watch: SecurityWatch,
    /// Per-partition lag from the statistics callback.
    lag: Lag,
    consumer: RwLock<Option<Arc<StreamConsumer<GroupContext>>>>,
    notices: Notices,
    /// Records that cannot be lent straight from librdkafka.
    holding: Mutex<Holding>,
    /// Whether `holding` holds anything: kept with every change under its lock, read without
    /// it (the poll loop asks once per record).
    holds_any: AtomicBool,
}

/// Records held back by the consumer itself.
struct Holding {
    /// A record fetched while rebalance notices were waiting; returned after them.
    held: Option<ReceivedRecord>,
    /// Pauses kept locally so prefetched records are not dropped and refetched.
    pauses: PauseBuffer,
}

impl Holding {
    /// Drop the held record if it belongs to one of these partitions.
    fn drop_held_of(&mut self, partitions: &[TopicPartition]) {
        if self
            .held
            .as_ref()
            .is_some_and(|r| partitions.contains(&r.topic_partition()))
        {
            self.held = None;
        }
    }
}

impl KafkaConsumer {
    /// Join `subscribe.group_id` and subscribe to its topics. Must run inside a tokio runtime.
    pub fn subscribe(
        config: &KafkaConfig,
        subscribe: &SubscribeConfig,
    ) -> Result<KafkaConsumer, TransportError> {
        let notices = Notices::default();
        let lag = Lag::default();
        let watch = SecurityWatch::default();
        let context = GroupContext {
            notices: notices.clone(),
            lag: lag.clone(),
            watch: watch.clone(),
        };
        let consumer: StreamConsumer<GroupContext> = config
            .consumer_config(subscribe)
            .create_with_context(context)
            .map_err(|e| {
                transport_error(
                    &format!("create the Kafka consumer of group {}", subscribe.group_id),
                    &e,
                )
                .with_detail("check the kafka properties")
            })?;
        let topics: Vec<&str> = subscribe.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| transport_error("subscribe", &e))?;
        Ok(KafkaConsumer {
            group_id: subscribe.group_id.clone(),
            principal: config.security.principal(),
            topics: subscribe.topics.join(", "),
            watch,
            lag,
            consumer: RwLock::new(Some(Arc::new(consumer))),
            notices,
            holding: Mutex::new(Holding {
                held: None,
                pauses: PauseBuffer::new(PAUSE_HOLD_CAP),
            }),
            holds_any: AtomicBool::new(false),
        })
    }

    fn current(&self) -> Result<Arc<StreamConsumer<GroupContext>>, TransportError> {
        self.consumer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed)
    }

    /// The group's identity for committing offsets inside a producer transaction.
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata, TransportError> {
        self.current()?.group_metadata().ok_or_else(|| {
            TransportError::other(
                format!("read the metadata of group {}", self.group_id),
                "the group has no metadata yet",
                true,
            )
        })
    }

    /// Next notice or record; see [`carebus_core::transport::TransportConsumer::poll`].
    pub async fn poll(&self, timeout: Duration) -> Result<Option<ConsumerEvent>, TransportError> {
        Ok(self
            .poll_view(timeout, |view| view.to_received())
            .await?
            .map(|polled| match polled {
                Polled::Record(record) => ConsumerEvent::Record(record),
                Polled::Notice(notice) => notice,
            }))
    }

    /// Next notice, or the next record lent to `visit` straight from librdkafka's message
    /// (copied only when it must be held back: behind a rebalance notice or for a paused
    /// partition); see [`carebus_core::transport::TransportConsumer::poll_view`].
    pub async fn poll_view<R>(
        &self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R,
    ) -> Result<Option<Polled<R>>, TransportError> {
        // A zero timeout takes only what is already fetched: no timer, no waiting, and the
        // consumer borrowed under the lock instead of its handle cloned (the poll loop reads
        // most records this way, one call per record).
        if timeout.is_zero() {
            let current = self.consumer.read().unwrap_or_else(PoisonError::into_inner);
            let consumer = current.as_deref().ok_or_else(closed)?;
            let visit = match self.before_fetching(consumer, visit) {
                ControlFlow::Break(ready) => return ready,
                ControlFlow::Continue(visit) => visit,
            };
            let polled = futures::FutureExt::now_or_never(consumer.recv());
            return self.fetched(consumer, polled, visit);
        }
        let consumer = self.current()?;
        let visit = match self.before_fetching(&consumer, visit) {
            ControlFlow::Break(ready) => return ready,
            ControlFlow::Continue(visit) => visit,
        };
        let polled = tokio::time::timeout(timeout, consumer.recv()).await.ok();
        self.fetched(&consumer, polled, visit)
    }

    /// What comes before fetching: a rebalance notice, then records held back; else `visit`
    /// back, unused.
    fn before_fetching<R, V: FnOnce(RecordView<'_>) -> R>(
        &self,
        consumer: &StreamConsumer<GroupContext>,
        visit: V,
    ) -> ControlFlow<Result<Option<Polled<R>>, TransportError>, V> {
        if let Some(event) = self.next_notice() {
            return ControlFlow::Break(Ok(Some(Polled::Notice(event))));
        }
        if self.holds_any.load(Ordering::Acquire) {
            let ready = self.hold(|h| h.pauses.next_ready());
            if let Some(record) = ready {
                return ControlFlow::Break(Ok(Some(Polled::Record(lend(&record, visit)))));
            }
            let held = self.hold(|h| h.held.take());
            if let Some(record) = held {
                return ControlFlow::Break(self.arrived(consumer, record, visit));
            }
        }
        ControlFlow::Continue(visit)
    }

    /// Nothing fetched: the next notice, or (while the client has no partition and the
    /// brokers rejected its credentials or TLS handshake) that failure, not retriable, so the
    /// consumer stops instead of polling nothing forever.
    fn nothing_fetched<R>(
        &self,
        consumer: &StreamConsumer<GroupContext>,
    ) -> Result<Option<Polled<R>>, TransportError> {
        if let Some(notice) = self.next_notice() {
            return Ok(Some(Polled::Notice(notice)));
        }
        if self.watch.failure().is_some()
            && consumer.assignment().map_or(true, |a| a.count() == 0)
            && let Some(error) = self.watch.error(
                &self.principal,
                &format!("consume in group {}", self.group_id),
            )
        {
            return Err(error);
        }
        Ok(None)
    }

    /// A consume error: authorization failures name the principal, the operation and the
    /// group or topics (not retriable); others as [`transport_error`] maps them.
    fn consume_error(&self, e: &KafkaError) -> TransportError {
        let operation = format!("consume in group {}", self.group_id);
        match e.rdkafka_error_code() {
            Some(code @ RDKafkaErrorCode::GroupAuthorizationFailed) => {
                let group = format!("group {}", self.group_id);
                not_authorized(&self.principal, &operation, "READ", group, code)
            }
            Some(code @ RDKafkaErrorCode::TopicAuthorizationFailed) => {
                let topics = format!("topic(s) {}", self.topics);
                not_authorized(&self.principal, &operation, "READ", topics, code)
            }
            Some(code) => match crate::security::advice(code) {
                Some(advice) => self
                    .watch
                    .error(&self.principal, &operation)
                    .unwrap_or_else(|| {
                        let reason = format!("{code:?}; {advice}");
                        not_authenticated(&self.principal, &operation, reason)
                    })
                    .with_code(crate::error::error_code(code)),
                None => transport_error(&operation, e),
            },
            None => transport_error(&operation, e),
        }
    }

    /// A fetched message (or none, or an error) lent to `visit`.
    fn fetched<R>(
        &self,
        consumer: &StreamConsumer<GroupContext>,
        polled: Option<KafkaResult<BorrowedMessage<'_>>>,
        visit: impl FnOnce(RecordView<'_>) -> R,
    ) -> Result<Option<Polled<R>>, TransportError> {
        let message = match polled {
            None => return self.nothing_fetched(consumer),
            Some(Err(e)) => return Err(self.consume_error(&e)),
            Some(Ok(message)) => message,
        };
        // The header list lives on the stack (a record seldom has more than a CloudEvents
        // envelope's worth); only a longer one takes a heap allocation.
        let headers: LentHeaders<'_> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key, h.value.unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let view = RecordView {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            value: message.payload(),
            headers: &headers,
            timestamp_ms: message.timestamp().to_millis().unwrap_or_default(),
        };
        // Rebalance callbacks run inside recv, and held records go first: both need a copy.
        if self.notices.any() || self.holds_any.load(Ordering::Acquire) {
            return self.arrived(consumer, view.to_received(), visit);
        }
        Ok(Some(Polled::Record(visit(view))))
    }

    /// An owned record that arrived (or was held): after any rebalance notice, and held back
    /// while its partition is paused.
    fn arrived<R>(
        &self,
        consumer: &StreamConsumer<GroupContext>,
        received: ReceivedRecord,
        visit: impl FnOnce(RecordView<'_>) -> R,
    ) -> Result<Option<Polled<R>>, TransportError> {
        if let Some(event) = self.next_notice() {
            self.hold(|h| h.held = Some(received));
            return Ok(Some(Polled::Notice(event)));
        }
        let arrival = self.hold(|h| h.pauses.arrive(received));
        match arrival {
            Arrival::Deliver(record) => Ok(Some(Polled::Record(lend(&record, visit)))),
            // Held for a paused partition: return rather than read on, so a paused consumer
            // that keeps polling (to stay in the group) does not drain librdkafka's prefetched
            // records into the pause buffer.
            Arrival::Held { pause_fetching } => {
                if let Some(tp) = pause_fetching {
                    consumer
                        .pause(&list(&[tp]))
                        .map_err(|e| transport_error("pause partitions", &e))?;
                }
                Ok(None)
            }
        }
    }

    fn next_notice(&self) -> Option<ConsumerEvent> {
        let event = self.notices.pop()?;
        if let ConsumerEvent::Revoked(revoked) = &event {
            self.hold(|h| {
                h.pauses.forget(revoked);
                h.drop_held_of(revoked);
            });
        }
        Some(event)
    }

    /// Change what the consumer holds back, keeping `holds_any` up to date.
    fn hold<R>(&self, change: impl FnOnce(&mut Holding) -> R) -> R {
        let mut holding = lock(&self.holding);
        let result = change(&mut holding);
        let any = holding.held.is_some() || !holding.pauses.is_empty();
        self.holds_any.store(any, Ordering::Release);
        result
    }

    /// Mark everything before `next_offset` as processed.
    pub fn store_offset(
        &self,
        tp: &TopicPartition,
        next_offset: i64,
    ) -> Result<(), TransportError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next_offset))
            .map_err(|e| transport_error("store offset", &e))?;
        self.current()?
            .store_offsets(&tpl)
            .map_err(|e| transport_error(&format!("store offset {next_offset} of {tp}"), &e))
    }

    /// Commit stored offsets now and wait for the broker.
    pub async fn commit(&self) -> Result<(), TransportError> {
        let consumer = self.current()?;
        match blocking("commit offsets", move || {
            consumer.commit_consumer_state(CommitMode::Sync)
        })
        .await?
        {
            Err(e) if !is_no_offset(&e) => Err(transport_error("commit offsets", &e)),
            _ => Ok(()),
        }
    }

    /// The group's committed offset for a partition.
    pub async fn committed(&self, tp: &TopicPartition) -> Result<Option<i64>, TransportError> {
        let consumer = self.current()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&tp.topic, tp.partition);
        let list = blocking("read committed offsets", move || {
            consumer.committed_offsets(tpl, GROUP_CALL_TIMEOUT)
        })
        .await?
        .map_err(|e| transport_error("read committed offsets", &e))?;
        Ok(list
            .find_partition(&tp.topic, tp.partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            }))
    }

    /// Stop handing out records of these partitions. Records already fetched are held back
    /// (see [`PauseBuffer`]), not dropped and refetched.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        self.current()?;
        self.hold(|h| h.pauses.pause(partitions));
        Ok(())
    }

    /// Hand out records of these partitions again, the held-back ones first; fetching restarts
    /// in librdkafka for partitions it had to pause there.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        let consumer = self.current()?;
        let fetch_again = self.hold(|h| h.pauses.resume(partitions));
        if fetch_again.is_empty() {
            return Ok(());
        }
        consumer
            .resume(&list(&fetch_again))
            .map_err(|e| transport_error("resume partitions", &e))
    }

    /// Make `offset` the next record of the partition; records held back for it are dropped.
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), TransportError> {
        self.hold(|h| {
            h.drop_held_of(std::slice::from_ref(tp));
            h.pauses.drop_held(tp);
        });
        self.current()?
            .seek(
                &tp.topic,
                tp.partition,
                Offset::Offset(offset),
                GROUP_CALL_TIMEOUT,
            )
            .map_err(|e| transport_error(&format!("seek {tp} to {offset}"), &e))
    }

    /// Records not yet handled per partition this member fetches, as of librdkafka's last
    /// statistics (every `statistics.interval.ms`, 5 s by default; empty before the first).
    pub fn lag(&self) -> Vec<(TopicPartition, i64)> {
        self.lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Partitions currently assigned to this member.
    pub fn assignment(&self) -> Result<Vec<TopicPartition>, TransportError> {
        let tpl = self
            .current()?
            .assignment()
            .map_err(|e| transport_error("read the assignment", &e))?;
        Ok(partitions(&tpl))
    }

    /// Commit stored offsets and leave the group; later calls fail with `Closed`.
    pub async fn close(&self) -> Result<(), TransportError> {
        let Some(consumer) = self
            .consumer
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        let committed = blocking("commit offsets before leaving the group", {
            let consumer = consumer.clone();
            move || consumer.commit_consumer_state(CommitMode::Sync)
        })
        .await?;
        // Dropping the last handle runs rd_kafka_consumer_close: revoke, leave the group.
        blocking("leave the group", move || {
            consumer.unsubscribe();
            drop(consumer);
        })
        .await?;
        self.notices.clear();
        self.hold(|h| h.held = None);
        match committed {
            Err(e) if !is_no_offset(&e) => Err(transport_error("commit offsets on close", &e)),
            _ => Ok(()),
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

fn list(partitions: &[TopicPartition]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for tp in partitions {
        tpl.add_partition(&tp.topic, tp.partition);
    }
    tpl
}

fn is_no_offset(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This member left its group (closed), or was never created.
fn closed() -> TransportError {
    TransportError::new(
        carebus_core::transport::TransportErrorKind::Closed,
        "use a closed Kafka consumer",
    )
}
