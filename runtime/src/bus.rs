//! The in-process bus: records in, records out of in-memory partitioned logs with Kafka's semantics (key partitioning, consumer groups, committed offsets, transactions).
//!
//! The embedded default transport. What behaves as on Kafka:
//! - a keyed record goes to `murmur2(key) % partitions` ([`partition_for_key`]), the same
//!   partition number Kafka's default partitioner picks;
//! - offsets per partition, a retention limit that moves the log start;
//! - consumer groups: partitions spread over members (range assignor), rebalanced when a
//!   member joins or leaves; offsets stored after processing and committed explicitly; a
//!   member that is dropped without [`TransportConsumer::close`] behaves like a crashed one
//!   (its stored, uncommitted offsets are lost and the next owner re-reads from the committed
//!   offset);
//! - [`Transport::send_transaction`] appends all records under one lock or none.
//!
//! [`Bus::set_unreachable`] makes every operation fail as if the broker were down, for tests
//! of retries, the circuit breaker and the outbox.

mod log;
mod partitioner;

pub use log::BusConfig;
pub use partitioner::{murmur2, partition_for_key, to_positive};

use crate::transport::{
    ConsumerEvent, ReceivedRecord, Record, RecordPosition, SubscribeConfig, TopicPartition,
    Transport, TransportConsumer, TransportError,
};
use log::BusState;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

struct Shared {
    state: Mutex<BusState>,
    /// Woken on every append, rebalance and reachability change.
    changed: Notify,
}

/// The in-process bus. Cheap to clone; clones share the same logs and groups.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(BusConfig::default())
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").finish_non_exhaustive()
    }
}

impl Bus {
    /// An empty bus storing records as `config` says.
    pub fn new(config: BusConfig) -> Self {
        Bus {
            shared: Arc::new(Shared {
                state: Mutex::new(BusState::new(config)),
                changed: Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, BusState> {
        // A panic while holding the lock cannot leave the logs half-written (each append is a
        // single push), so a poisoned lock is still safe to use.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Create a topic with `partitions` partitions (or grow an existing one to that many).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.state().create_topic(topic, partitions);
        self.shared.changed.notify_waiters();
    }

    /// Make every operation fail with
    /// [`TransportErrorKind::Unreachable`](crate::transport::TransportErrorKind::Unreachable)
    /// (`true`) or work again.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.state().unreachable = unreachable;
        self.shared.changed.notify_waiters();
    }

    /// Every retained record of a partition from `from` on, for inspection.
    pub fn records(&self, topic: &str, partition: i32, from: i64) -> Vec<ReceivedRecord> {
        self.state()
            .read(&TopicPartition::new(topic, partition), from)
    }

    /// Every retained record of a topic, partition by partition.
    pub fn topic_records(&self, topic: &str) -> Vec<ReceivedRecord> {
        let st = self.state();
        let n = st.existing_partitions(topic);
        (0..n)
            .flat_map(|p| st.read(&TopicPartition::new(topic, p), 0))
            .collect()
    }

    /// A group's committed offset for a partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.state()
            .committed(group, &TopicPartition::new(topic, partition))
    }

    /// Next offset to be written to a partition.
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.state()
            .end_offset(&TopicPartition::new(topic, partition))
    }
}

impl Transport for Bus {
    type Consumer = BusConsumer;

    async fn send(&self, record: Record) -> Result<RecordPosition, TransportError> {
        let pos = self.state().append(record)?;
        self.shared.changed.notify_waiters();
        Ok(pos)
    }

    async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        let pos = self.state().append_all(records)?;
        self.shared.changed.notify_waiters();
        Ok(pos)
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), TransportError> {
        // Sends complete before their future resolves: nothing is ever queued.
        self.state().check_reachable()
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, TransportError> {
        self.state().partition_count(topic)
    }

    async fn subscribe(&self, config: SubscribeConfig) -> Result<BusConsumer, TransportError> {
        let member =
            self.state()
                .join(&config.group_id, config.topics.clone(), config.offset_reset)?;
        self.shared.changed.notify_waiters();
        Ok(BusConsumer {
            bus: self.clone(),
            group: config.group_id,
            member,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// A member of a consumer group on the [`Bus`]. Dropping it without
/// [`TransportConsumer::close`] simulates a crash: uncommitted offsets are lost.
pub struct BusConsumer {
    bus: Bus,
    group: String,
    member: u64,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for BusConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusConsumer")
            .field("group", &self.group)
            .field("member", &self.member)
            .finish()
    }
}

impl BusConsumer {
    fn leave(&self, commit: bool) {
        if !self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.bus.state().leave(&self.group, self.member, commit);
            self.bus.shared.changed.notify_waiters();
        }
    }
}

impl Drop for BusConsumer {
    fn drop(&mut self) {
        self.leave(false);
    }
}

impl TransportConsumer for BusConsumer {
    async fn poll(&self, timeout: Duration) -> Result<Option<ConsumerEvent>, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before looking, so an append between the look and the wait
            // still wakes us.
            let changed = self.bus.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(ev) = self.bus.state().next_event(&self.group, self.member)? {
                return Ok(Some(ev));
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Ok(None);
            }
        }
    }

    fn store_offset(&self, tp: &TopicPartition, next_offset: i64) -> Result<(), TransportError> {
        self.bus
            .state()
            .store(&self.group, self.member, tp, next_offset)
    }

    async fn commit(&self) -> Result<(), TransportError> {
        self.bus.state().commit(&self.group, self.member)
    }

    async fn committed(&self, tp: &TopicPartition) -> Result<Option<i64>, TransportError> {
        Ok(self.bus.state().committed(&self.group, tp))
    }

    fn pause(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        self.bus
            .state()
            .set_paused(&self.group, self.member, partitions, true)
    }

    fn resume(&self, partitions: &[TopicPartition]) -> Result<(), TransportError> {
        self.bus
            .state()
            .set_paused(&self.group, self.member, partitions, false)?;
        self.bus.shared.changed.notify_waiters();
        Ok(())
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), TransportError> {
        self.bus
            .state()
            .seek(&self.group, self.member, tp, offset)?;
        self.bus.shared.changed.notify_waiters();
        Ok(())
    }

    fn assignment(&self) -> Result<Vec<TopicPartition>, TransportError> {
        self.bus.state().assignment(&self.group, self.member)
    }

    async fn close(&self) -> Result<(), TransportError> {
        self.leave(true);
        Ok(())
    }

    fn lag(&self) -> Vec<(TopicPartition, i64)> {
        self.bus.state().lag(&self.group, self.member)
    }
}
