//! The bus's storage: records appended to in-memory partition logs, and consumer groups' members, assignments and committed offsets.

use super::partitioner::partition_for_key;
use crate::transport::{
    ConsumerEvent, OffsetReset, ReceivedRecord, Record, RecordPosition, TopicPartition,
    TransportError, TransportErrorKind,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// How the bus stores records.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// Partitions of a topic created on first use.
    pub default_partitions: i32,
    /// Records kept per partition; older ones are dropped (the log start moves on).
    pub retention_records: usize,
    /// Largest record accepted, in bytes (Kafka's `message.max.bytes` default is about 1 MB).
    pub max_record_bytes: usize,
    /// Create unknown topics on first produce or subscribe (Kafka's `auto.create.topics.enable`).
    pub auto_create_topics: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            default_partitions: 3,
            retention_records: 1_000_000,
            max_record_bytes: 1_048_588,
            auto_create_topics: true,
        }
    }
}

#[derive(Debug)]
struct StoredRecord {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: crate::transport::Headers,
    timestamp_ms: i64,
}

#[derive(Debug, Default)]
struct PartitionLog {
    /// Offset of `records[0]`.
    start: i64,
    records: VecDeque<StoredRecord>,
}

impl PartitionLog {
    fn end(&self) -> i64 {
        self.start + self.records.len() as i64
    }
    fn get(&self, offset: i64) -> Option<&StoredRecord> {
        if offset < self.start {
            return None;
        }
        self.records.get((offset - self.start) as usize)
    }
}

#[derive(Debug, Default)]
pub(super) struct Member {
    topics: Vec<String>,
    offset_reset: OffsetReset,
    assignment: BTreeSet<TopicPartition>,
    positions: HashMap<TopicPartition, i64>,
    stored: HashMap<TopicPartition, i64>,
    paused: HashSet<TopicPartition>,
    notices: VecDeque<ConsumerEvent>,
    /// Round-robin cursor over the assignment so one busy partition cannot starve the others.
    cursor: usize,
}

#[derive(Debug, Default)]
struct Group {
    members: BTreeMap<u64, Member>,
    committed: HashMap<TopicPartition, i64>,
}

/// Everything the bus holds, behind one mutex (never held across an await).
#[derive(Debug, Default)]
pub(super) struct BusState {
    pub(super) config: BusConfig,
    topics: HashMap<String, Vec<PartitionLog>>,
    groups: HashMap<String, Group>,
    next_member: u64,
    round_robin: u64,
    /// While set, every operation fails with `Unreachable` (to test breakers and retries).
    pub(super) unreachable: bool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl BusState {
    pub(super) fn new(config: BusConfig) -> Self {
        BusState {
            config,
            ..BusState::default()
        }
    }

    pub(super) fn check_reachable(&self) -> Result<(), TransportError> {
        if self.unreachable {
            Err(
                TransportError::new(TransportErrorKind::Unreachable, "use the in-process bus")
                    .with_detail("the bus is marked unreachable"),
            )
        } else {
            Ok(())
        }
    }

    pub(super) fn create_topic(&mut self, topic: &str, partitions: i32) {
        let want = partitions.max(1) as usize;
        let logs = self.topics.entry(topic.to_string()).or_default();
        while logs.len() < want {
            logs.push(PartitionLog::default());
        }
        self.rebalance_topic(topic);
    }

    fn ensure_topic(&mut self, topic: &str) -> Result<(), TransportError> {
        if self.topics.contains_key(topic) {
            return Ok(());
        }
        if !self.config.auto_create_topics {
            return Err(TransportError::new(
                TransportErrorKind::UnknownTopic {
                    topic: topic.to_string(),
                },
                format!("produce to {topic}"),
            ));
        }
        self.create_topic(topic, self.config.default_partitions);
        Ok(())
    }

    pub(super) fn partition_count(&mut self, topic: &str) -> Result<i32, TransportError> {
        self.ensure_topic(topic)?;
        Ok(self.topics[topic].len() as i32)
    }

    /// Check a record and pick its partition, without appending.
    fn place(&mut self, record: &Record) -> Result<i32, TransportError> {
        let size = record.size();
        if size > self.config.max_record_bytes {
            return Err(TransportError::new(
                TransportErrorKind::MessageTooLarge {
                    size,
                    max: self.config.max_record_bytes,
                },
                format!("produce to {}", record.topic),
            ));
        }
        let count = self.partition_count(&record.topic)?;
        match (record.partition, &record.key) {
            (Some(p), _) if p < 0 || p >= count => Err(TransportError::new(
                TransportErrorKind::UnknownPartition {
                    topic: record.topic.clone(),
                    partition: p,
                },
                format!("produce to {}", record.topic),
            )),
            (Some(p), _) => Ok(p),
            (None, Some(key)) => Ok(partition_for_key(key, count)),
            (None, None) => {
                self.round_robin += 1;
                Ok((self.round_robin % count as u64) as i32)
            }
        }
    }

    fn append_at(&mut self, partition: i32, record: Record) -> RecordPosition {
        let retention = self.config.retention_records.max(1);
        let log = &mut self
            .topics
            .get_mut(&record.topic)
            .expect("placed topic exists")[partition as usize];
        let offset = log.end();
        log.records.push_back(StoredRecord {
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: now_ms(),
        });
        while log.records.len() > retention {
            log.records.pop_front();
            log.start += 1;
        }
        RecordPosition {
            topic: record.topic,
            partition,
            offset,
        }
    }

    /// Append one record.
    pub(super) fn append(&mut self, record: Record) -> Result<RecordPosition, TransportError> {
        self.check_reachable()?;
        let partition = self.place(&record)?;
        Ok(self.append_at(partition, record))
    }

    /// Append every record or none: all are checked first, then appended under the same lock,
    /// so no consumer can see part of the transaction.
    pub(super) fn append_all(
        &mut self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        self.check_reachable()?;
        let mut placed = Vec::with_capacity(records.len());
        for r in &records {
            placed.push(self.place(r).map_err(|e| {
                TransportError::new(TransportErrorKind::TransactionAborted, "send a transaction")
                    .with_detail(e.to_string())
            })?);
        }
        Ok(placed
            .into_iter()
            .zip(records)
            .map(|(p, r)| self.append_at(p, r))
            .collect())
    }

    pub(super) fn join(
        &mut self,
        group: &str,
        topics: Vec<String>,
        offset_reset: OffsetReset,
    ) -> Result<u64, TransportError> {
        self.check_reachable()?;
        for t in &topics {
            self.ensure_topic(t)?;
        }
        self.next_member += 1;
        let id = self.next_member;
        let g = self.groups.entry(group.to_string()).or_default();
        g.members.insert(
            id,
            Member {
                topics: topics.clone(),
                offset_reset,
                ..Member::default()
            },
        );
        self.rebalance_group(group);
        Ok(id)
    }

    /// Remove a member; with `commit`, its stored offsets are committed first (a clean close);
    /// without, they are lost (a crash) and its partitions restart at the committed offsets.
    pub(super) fn leave(&mut self, group: &str, member: u64, commit: bool) {
        if let Some(g) = self.groups.get_mut(group) {
            if let Some(m) = g.members.remove(&member)
                && commit
            {
                for (tp, off) in m.stored {
                    g.committed.insert(tp, off);
                }
            }
            self.rebalance_group(group);
        }
    }

    fn rebalance_topic(&mut self, topic: &str) {
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| {
                g.members
                    .values()
                    .any(|m| m.topics.iter().any(|t| t == topic))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for g in groups {
            self.rebalance_group(&g);
        }
    }

    /// Kafka's range assignor per topic: members subscribed to a topic, in join order, get
    /// contiguous ranges of its partitions. Revoked partitions have their stored offsets
    /// committed before they move; each member is told what it lost and gained.
    fn rebalance_group(&mut self, group: &str) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let mut target: BTreeMap<u64, BTreeSet<TopicPartition>> =
            g.members.keys().map(|id| (*id, BTreeSet::new())).collect();
        let topics: BTreeSet<&String> = g.members.values().flat_map(|m| &m.topics).collect();
        for topic in topics {
            let Some(logs) = self.topics.get(topic.as_str()) else {
                continue;
            };
            let subscribers: Vec<u64> = g
                .members
                .iter()
                .filter(|(_, m)| m.topics.contains(topic))
                .map(|(id, _)| *id)
                .collect();
            let n = logs.len();
            let per = n / subscribers.len();
            let extra = n % subscribers.len();
            let mut next = 0;
            for (i, id) in subscribers.iter().enumerate() {
                let take = per + usize::from(i < extra);
                for p in next..next + take {
                    target
                        .get_mut(id)
                        .expect("subscriber is a member")
                        .insert(TopicPartition::new(topic.as_str(), p as i32));
                }
                next += take;
            }
        }
        // First revoke everywhere (committing stored work), then assign from committed offsets.
        for (id, member) in g.members.iter_mut() {
            let new = &target[id];
            let revoked: Vec<TopicPartition> = member.assignment.difference(new).cloned().collect();
            if revoked.is_empty() {
                continue;
            }
            for tp in &revoked {
                if let Some(off) = member.stored.remove(tp) {
                    g.committed.insert(tp.clone(), off);
                }
                member.positions.remove(tp);
                member.paused.remove(tp);
                member.assignment.remove(tp);
            }
            member.notices.push_back(ConsumerEvent::Revoked(revoked));
        }
        for (id, member) in g.members.iter_mut() {
            let assigned: Vec<TopicPartition> =
                target[id].difference(&member.assignment).cloned().collect();
            if assigned.is_empty() {
                continue;
            }
            for tp in &assigned {
                let log = &self.topics[&tp.topic][tp.partition as usize];
                let pos = match (g.committed.get(tp), member.offset_reset) {
                    (Some(c), _) => *c,
                    (None, OffsetReset::Earliest) => log.start,
                    (None, OffsetReset::Latest) => log.end(),
                };
                member.positions.insert(tp.clone(), pos);
                member.assignment.insert(tp.clone());
            }
            member.notices.push_back(ConsumerEvent::Assigned(assigned));
        }
    }

    fn member(&mut self, group: &str, id: u64) -> Result<&mut Member, TransportError> {
        self.groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(&id))
            .ok_or_else(closed)
    }

    /// The next notice or record for a member, advancing its position; `None` when idle.
    pub(super) fn next_event(
        &mut self,
        group: &str,
        id: u64,
    ) -> Result<Option<ConsumerEvent>, TransportError> {
        self.check_reachable()?;
        let Some(g) = self.groups.get_mut(group) else {
            return Err(closed());
        };
        let m = g.members.get_mut(&id).ok_or_else(closed)?;
        if let Some(n) = m.notices.pop_front() {
            return Ok(Some(n));
        }
        let parts: Vec<TopicPartition> = m.assignment.iter().cloned().collect();
        for i in 0..parts.len() {
            let tp = &parts[(m.cursor + i) % parts.len()];
            if m.paused.contains(tp) {
                continue;
            }
            let log = &self.topics[&tp.topic][tp.partition as usize];
            let pos = m
                .positions
                .get(tp)
                .copied()
                .unwrap_or(log.start)
                .max(log.start);
            if let Some(r) = log.get(pos) {
                m.positions.insert(tp.clone(), pos + 1);
                m.cursor = (m.cursor + i + 1) % parts.len();
                return Ok(Some(ConsumerEvent::Record(ReceivedRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: pos,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    timestamp_ms: r.timestamp_ms,
                })));
            }
        }
        Ok(None)
    }

    pub(super) fn store(
        &mut self,
        group: &str,
        id: u64,
        tp: &TopicPartition,
        next: i64,
    ) -> Result<(), TransportError> {
        let m = self.member(group, id)?;
        if !m.assignment.contains(tp) {
            // Kafka rejects storing offsets for partitions not assigned (after a revoke).
            return Err(TransportError::other(
                format!("store the offset of {tp}"),
                "the partition is not assigned to this consumer",
                false,
            ));
        }
        m.stored.insert(tp.clone(), next);
        Ok(())
    }

    pub(super) fn commit(&mut self, group: &str, id: u64) -> Result<(), TransportError> {
        self.check_reachable()?;
        let stored: Vec<(TopicPartition, i64)> = self
            .member(group, id)?
            .stored
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        let g = self.groups.get_mut(group).ok_or_else(closed)?;
        for (tp, off) in stored {
            g.committed.insert(tp, off);
        }
        Ok(())
    }

    pub(super) fn committed(&self, group: &str, tp: &TopicPartition) -> Option<i64> {
        self.groups.get(group)?.committed.get(tp).copied()
    }

    pub(super) fn set_paused(
        &mut self,
        group: &str,
        id: u64,
        parts: &[TopicPartition],
        paused: bool,
    ) -> Result<(), TransportError> {
        let m = self.member(group, id)?;
        for tp in parts {
            if paused {
                m.paused.insert(tp.clone());
            } else {
                m.paused.remove(tp);
            }
        }
        Ok(())
    }

    pub(super) fn seek(
        &mut self,
        group: &str,
        id: u64,
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<(), TransportError> {
        let m = self.member(group, id)?;
        if !m.assignment.contains(tp) {
            return Err(TransportError::other(
                format!("seek {tp}"),
                "the partition is not assigned to this consumer",
                false,
            ));
        }
        m.positions.insert(tp.clone(), offset);
        Ok(())
    }

    pub(super) fn assignment(
        &mut self,
        group: &str,
        id: u64,
    ) -> Result<Vec<TopicPartition>, TransportError> {
        Ok(self.member(group, id)?.assignment.iter().cloned().collect())
    }

    /// Log end minus position for each partition assigned to a member.
    pub(super) fn lag(&self, group: &str, id: u64) -> Vec<(TopicPartition, i64)> {
        let Some(m) = self.groups.get(group).and_then(|g| g.members.get(&id)) else {
            return Vec::new();
        };
        m.assignment
            .iter()
            .filter_map(|tp| {
                let log = self.topics.get(&tp.topic)?.get(tp.partition as usize)?;
                let pos = m.positions.get(tp).copied().unwrap_or(log.start);
                Some((tp.clone(), (log.end() - pos).max(0)))
            })
            .collect()
    }

    /// Records of a partition from `from` on (for inspection and tests).
    pub(super) fn read(&self, tp: &TopicPartition, from: i64) -> Vec<ReceivedRecord> {
        let Some(log) = self
            .topics
            .get(&tp.topic)
            .and_then(|l| l.get(tp.partition as usize))
        else {
            return Vec::new();
        };
        (from.max(log.start)..log.end())
            .filter_map(|o| {
                log.get(o).map(|r| ReceivedRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: o,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    timestamp_ms: r.timestamp_ms,
                })
            })
            .collect()
    }

    /// Partitions of an existing topic (0 when it does not exist; nothing is created).
    pub(super) fn existing_partitions(&self, topic: &str) -> i32 {
        self.topics.get(topic).map_or(0, |l| l.len() as i32)
    }

    /// Log end offset (next offset to be written) of a partition.
    pub(super) fn end_offset(&self, tp: &TopicPartition) -> Option<i64> {
        Some(
            self.topics
                .get(&tp.topic)?
                .get(tp.partition as usize)?
                .end(),
        )
    }
}

/// A group member that left (or never joined) the bus.
fn closed() -> TransportError {
    TransportError::new(
        TransportErrorKind::Closed,
        "use a consumer of the in-process bus",
    )
}
