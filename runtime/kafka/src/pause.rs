//! Pause and resume requests plus fetched records in, records held back while their partition is paused (and the partitions to really pause in librdkafka) out.
//!
//! librdkafka drops a paused partition's prefetched messages and refetches them after resume,
//! which costs a fetch round trip (and backoff) per pause: a consumer pausing for
//! backpressure every thousand records slows to a crawl. So a pause is first kept here: records
//! of the paused partition that were already fetched are set aside and handed out after resume,
//! in order. Only when `cap` records pile up for one partition is it paused in librdkafka too,
//! which bounds the memory; librdkafka's position is already past the held records, so nothing
//! is read twice or skipped.

use carebus_core::transport::{ReceivedRecord, TopicPartition};
use std::collections::{HashMap, HashSet, VecDeque};

/// Paused partitions and the records held back for them.
#[derive(Debug)]
pub struct PauseBuffer {
    cap: usize,
    paused: HashSet<TopicPartition>,
    /// Partitions also paused in librdkafka.
    hard: HashSet<TopicPartition>,
    held: HashMap<TopicPartition, VecDeque<ReceivedRecord>>,
}

/// What to do with a fetched record.
#[derive(Debug, PartialEq)]
pub enum Arrival {
    /// Hand it out now.
    Deliver(ReceivedRecord),
    /// Held back; when `pause_fetching` is set, pause that partition in librdkafka now.
    Held {
        /// The partition whose held records reached the cap and must now be paused in librdkafka.
        pause_fetching: Option<TopicPartition>,
    },
}

impl PauseBuffer {
    /// Hold at most `cap` records per paused partition before pausing its fetching.
    pub fn new(cap: usize) -> Self {
        PauseBuffer {
            cap: cap.max(1),
            paused: HashSet::new(),
            hard: HashSet::new(),
            held: HashMap::new(),
        }
    }

    /// Pause these partitions locally: their fetched records are held from now on.
    pub fn pause(&mut self, partitions: &[TopicPartition]) {
        self.paused.extend(partitions.iter().cloned());
    }

    /// Resume; returns the partitions to resume in librdkafka.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        let mut fetch_again = Vec::new();
        for tp in partitions {
            self.paused.remove(tp);
            if self.hard.remove(tp) {
                fetch_again.push(tp.clone());
            }
        }
        fetch_again
    }

    /// Nothing paused and nothing held: a fetched record can be handed out as it is.
    pub fn is_empty(&self) -> bool {
        self.paused.is_empty() && self.held.values().all(VecDeque::is_empty)
    }

    /// A record fetched from librdkafka.
    pub fn arrive(&mut self, record: ReceivedRecord) -> Arrival {
        let tp = record.topic_partition();
        let has_held = self.held.get(&tp).is_some_and(|q| !q.is_empty());
        if !self.paused.contains(&tp) && !has_held {
            return Arrival::Deliver(record);
        }
        let queue = self.held.entry(tp.clone()).or_default();
        queue.push_back(record);
        let pause_fetching =
            (queue.len() >= self.cap && self.hard.insert(tp.clone())).then_some(tp);
        Arrival::Held { pause_fetching }
    }

    /// The oldest held record of a partition that is no longer paused.
    pub fn next_ready(&mut self) -> Option<ReceivedRecord> {
        let tp = self
            .held
            .iter()
            .find(|(tp, q)| !q.is_empty() && !self.paused.contains(*tp))
            .map(|(tp, _)| tp.clone())?;
        let queue = self.held.get_mut(&tp)?;
        let record = queue.pop_front();
        if queue.is_empty() {
            self.held.remove(&tp);
        }
        record
    }

    /// Drop the held records of a partition sought to another offset (its pause stays).
    pub fn drop_held(&mut self, tp: &TopicPartition) {
        self.held.remove(tp);
    }

    /// Forget revoked partitions entirely: held records, pause, librdkafka pause.
    pub fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.held.remove(tp);
            self.hard.remove(tp);
            self.paused.remove(tp);
        }
    }

    /// Whether the partition is paused in librdkafka too.
    pub fn is_fetch_paused(&self, tp: &TopicPartition) -> bool {
        self.hard.contains(tp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: i32, offset: i64) -> ReceivedRecord {
        ReceivedRecord {
            topic: "t".into(),
            partition: p,
            offset,
            key: None,
            value: Some(Vec::new()),
            headers: Vec::new(),
            timestamp_ms: 0,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn records_of_a_paused_partition_wait_and_come_back_in_order_after_resume() {
        let mut b = PauseBuffer::new(10);
        assert_eq!(b.arrive(rec(0, 1)), Arrival::Deliver(rec(0, 1)));
        b.pause(&[tp(0)]);
        assert!(matches!(
            b.arrive(rec(0, 2)),
            Arrival::Held {
                pause_fetching: None
            }
        ));
        assert!(matches!(b.arrive(rec(0, 3)), Arrival::Held { .. }));
        // Other partitions flow.
        assert_eq!(b.arrive(rec(1, 7)), Arrival::Deliver(rec(1, 7)));
        assert_eq!(b.next_ready(), None);
        assert!(b.resume(&[tp(0)]).is_empty(), "never paused in librdkafka");
        // A record arriving after resume queues behind the held ones, keeping order.
        assert!(matches!(b.arrive(rec(0, 4)), Arrival::Held { .. }));
        let order: Vec<i64> = std::iter::from_fn(|| b.next_ready())
            .map(|r| r.offset)
            .collect();
        assert_eq!(order, [2, 3, 4]);
        assert_eq!(b.arrive(rec(0, 5)), Arrival::Deliver(rec(0, 5)));
    }

    #[test]
    fn a_full_buffer_pauses_fetching_once_and_resume_restarts_it() {
        let mut b = PauseBuffer::new(2);
        b.pause(&[tp(0)]);
        assert!(matches!(
            b.arrive(rec(0, 0)),
            Arrival::Held {
                pause_fetching: None
            }
        ));
        assert_eq!(
            b.arrive(rec(0, 1)),
            Arrival::Held {
                pause_fetching: Some(tp(0))
            }
        );
        assert_eq!(
            b.arrive(rec(0, 2)),
            Arrival::Held {
                pause_fetching: None
            }
        );
        assert!(b.is_fetch_paused(&tp(0)));
        assert_eq!(b.resume(&[tp(0)]), [tp(0)]);
        assert_eq!(b.next_ready().map(|r| r.offset), Some(0));
    }

    #[test]
    fn sought_partitions_drop_held_records_but_stay_paused() {
        let mut b = PauseBuffer::new(5);
        b.pause(&[tp(0)]);
        b.arrive(rec(0, 4));
        b.drop_held(&tp(0));
        assert!(matches!(b.arrive(rec(0, 1)), Arrival::Held { .. }));
        b.resume(&[tp(0)]);
        assert_eq!(b.next_ready().map(|r| r.offset), Some(1));
    }

    #[test]
    fn revoked_partitions_lose_their_held_records() {
        let mut b = PauseBuffer::new(5);
        b.pause(&[tp(0), tp(1)]);
        b.arrive(rec(0, 0));
        b.arrive(rec(1, 0));
        b.forget(&[tp(0)]);
        b.resume(&[tp(1)]);
        assert_eq!(b.next_ready().map(|r| r.partition), Some(1));
        assert_eq!(b.next_ready(), None);
        assert_eq!(b.arrive(rec(0, 9)), Arrival::Deliver(rec(0, 9)));
    }
}
