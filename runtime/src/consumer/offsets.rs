//! Per-partition offset tracking: records started and finished in any order turned into the next offset that is safe to commit (the end of the contiguous finished prefix).

use crate::transport::TopicPartition;
use std::collections::{BTreeMap, HashMap};

/// Offsets in flight for one partition.
#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Started offsets → finished?
    started: BTreeMap<i64, bool>,
    /// Next offset to commit: everything below it is finished.
    safe: Option<i64>,
}

/// Tracks every assigned partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, PartitionOffsets>,
}

impl OffsetTracker {
    /// A record at `offset` was handed to a handler.
    pub fn start(&mut self, tp: &TopicPartition, offset: i64) {
        self.partitions
            .entry(tp.clone())
            .or_default()
            .started
            .insert(offset, false);
    }

    /// A record at `offset` started and finished at once (handled during the poll); the
    /// new safe offset, as [`OffsetTracker::finish`] returns it.
    pub fn start_finished(&mut self, tp: &TopicPartition, offset: i64) -> Option<i64> {
        match self.partitions.get_mut(tp) {
            // Nothing of the partition in flight: everything up to this record is finished.
            Some(p) if p.started.is_empty() => {
                p.safe = Some(offset + 1);
                p.safe
            }
            _ => {
                self.start(tp, offset);
                self.finish(tp, offset)
            }
        }
    }

    /// The record at `offset` is finished (handled, or forwarded to a retry or dead-letter
    /// topic). Returns the new safe offset when the contiguous prefix grew.
    pub fn finish(&mut self, tp: &TopicPartition, offset: i64) -> Option<i64> {
        let p = self.partitions.get_mut(tp)?;
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
        for tp in parts {
            self.partitions.remove(tp);
        }
    }

    /// Records started but not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(|p| p.started.values().filter(|d| !**d).count())
            .sum()
    }

    /// The next offset safe to commit for a partition.
    pub fn safe_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_finished_at_once_advances_only_past_finished_work() {
        let tp = TopicPartition::new("t", 0);
        let mut t = OffsetTracker::default();
        assert_eq!(t.start_finished(&tp, 0), Some(1));
        assert_eq!(t.start_finished(&tp, 1), Some(2));
        t.start(&tp, 2);
        assert_eq!(t.start_finished(&tp, 3), None, "offset 2 is still running");
        assert_eq!(t.finish(&tp, 2), Some(4));
        assert_eq!(t.start_finished(&tp, 4), Some(5));
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
}
