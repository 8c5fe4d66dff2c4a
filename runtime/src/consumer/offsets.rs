//! Per-partition offset tracking: records started and finished in any order turned into the next offset that is safe to commit (the end of the contiguous finished prefix).

use crate::transport::TopicPartition;
use std::collections::BTreeMap;

/// Offsets in flight for one partition.
#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Started offsets → finished?
    started: BTreeMap<i64, bool>,
    /// Next offset to commit: everything below it is finished.
    safe: Option<i64>,
}

/// Tracks every assigned partition. A consumer has a few partitions and reads runs of records
/// from one partition, so they are kept in a list with the last one used looked at first: no
/// hashing of the topic name per record.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: Vec<(TopicPartition, PartitionOffsets)>,
    /// Index of the partition used last.
    last: usize,
}

impl OffsetTracker {
    fn position(&mut self, topic: &str, partition: i32) -> Option<usize> {
        let is = |(tp, _): &(TopicPartition, PartitionOffsets)| {
            tp.partition == partition && tp.topic == topic
        };
        if self.partitions.get(self.last).is_some_and(is) {
            return Some(self.last);
        }
        self.last = self.partitions.iter().position(is)?;
        Some(self.last)
    }

    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionOffsets> {
        let i = self.position(topic, partition)?;
        Some(&mut self.partitions[i].1)
    }

    fn entry(&mut self, topic: &str, partition: i32) -> &mut PartitionOffsets {
        let i = match self.position(topic, partition) {
            Some(i) => i,
            None => {
                let tp = TopicPartition::new(topic, partition);
                self.partitions.push((tp, PartitionOffsets::default()));
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[i].1
    }

    /// A record at `offset` was handed to a handler.
    pub fn start(&mut self, tp: &TopicPartition, offset: i64) {
        self.entry(&tp.topic, tp.partition)
            .started
            .insert(offset, false);
    }

    /// A record of `topic`'s `partition` at `offset` started and finished at once (handled
    /// during the poll); the new safe offset, as [`OffsetTracker::finish`] returns it.
    pub fn start_finished(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let p = self.entry(topic, partition);
        if p.started.is_empty() {
            // Nothing of the partition in flight: everything up to this record is finished.
            p.safe = Some(offset + 1);
            return p.safe;
        }
        p.started.insert(offset, false);
        self.finish_in(topic, partition, offset)
    }

    /// The record at `offset` is finished (handled, or forwarded to a retry or dead-letter
    /// topic). Returns the new safe offset when the contiguous prefix grew.
    pub fn finish(&mut self, tp: &TopicPartition, offset: i64) -> Option<i64> {
        self.finish_in(&tp.topic, tp.partition, offset)
    }

    fn finish_in(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let p = self.get_mut(topic, partition)?;
        if let Some(done) = p.started.get_mut(&offset) {
            *done = true;
        } else {
            return None; // revoked meanwhile, or never started
        }
        let mut advanced = None;
        while let Some((&first, &done)) = p.started.first_key_value() {
            if !done {
                break;
            }
            p.started.remove(&first);
            advanced = Some(first + 1);
        }
        if let Some(next) = advanced {
            p.safe = Some(next);
        }
        advanced
    }

    /// Forget partitions that were revoked.
    pub fn revoke(&mut self, parts: &[TopicPartition]) {
        self.partitions.retain(|(tp, _)| !parts.contains(tp));
    }

    /// Records started but not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .iter()
            .map(|(_, p)| p.started.values().filter(|d| !**d).count())
            .sum()
    }

    /// The next offset safe to commit for a partition.
    pub fn safe_offset(&self, tp: &TopicPartition) -> Option<i64> {
        let (_, p) = self.partitions.iter().find(|(t, _)| t == tp)?;
        p.safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_finished_at_once_advances_only_past_finished_work() {
        let tp = TopicPartition::new("t", 0);
        let mut t = OffsetTracker::default();
        assert_eq!(t.start_finished(&tp.topic, tp.partition, 0), Some(1));
        assert_eq!(t.start_finished(&tp.topic, tp.partition, 1), Some(2));
        t.start(&tp, 2);
        assert_eq!(
            t.start_finished(&tp.topic, tp.partition, 3),
            None,
            "offset 2 is still running"
        );
        assert_eq!(t.finish(&tp, 2), Some(4));
        assert_eq!(t.start_finished(&tp.topic, tp.partition, 4), Some(5));
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.safe_offset(&tp), Some(5));
    }

    #[test]
    fn only_the_contiguous_finished_prefix_is_safe() {
        let tp = TopicPartition::new("t", 0);
        let mut t = OffsetTracker::default();
        for o in 10..15 {
            t.start(&tp, o);
        }
        assert_eq!(t.finish(&tp, 12), None);
        assert_eq!(t.finish(&tp, 11), None);
        assert_eq!(t.safe_offset(&tp), None);
        assert_eq!(t.finish(&tp, 10), Some(13));
        assert_eq!(t.finish(&tp, 14), None);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.finish(&tp, 13), Some(15));
        assert_eq!(t.in_flight(), 0);
        t.revoke(std::slice::from_ref(&tp));
        assert_eq!(t.finish(&tp, 15), None);
    }

    #[test]
    fn partitions_are_tracked_apart_in_any_order() {
        let (a0, a1, b0) = (
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 1),
            TopicPartition::new("b", 0),
        );
        let mut t = OffsetTracker::default();
        t.start(&a0, 0);
        assert_eq!(t.start_finished(&a1.topic, a1.partition, 7), Some(8));
        assert_eq!(t.start_finished("b", 0, 3), Some(4));
        assert_eq!(
            t.start_finished(&a0.topic, a0.partition, 1),
            None,
            "a/0 offset 0 is still running"
        );
        assert_eq!(t.finish(&a1, 7), None, "already finished");
        assert_eq!(t.finish(&a0, 0), Some(2));
        t.revoke(std::slice::from_ref(&a1));
        assert_eq!(t.safe_offset(&a1), None);
        assert_eq!(t.safe_offset(&a0), Some(2));
        assert_eq!(t.safe_offset(&b0), Some(4));
        assert_eq!(
            t.start_finished("a", 1, 9),
            Some(10),
            "a revoked partition starts over"
        );
    }
}
