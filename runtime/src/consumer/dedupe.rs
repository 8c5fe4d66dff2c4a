//! Idempotent handling: event ids already handled turned into a skip, with a bounded in-memory set or a store you plug in.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Remembers handled event ids. Implement it over Redis or a database to dedupe across
/// restarts and consumer instances.
pub trait DedupeStore: Send + Sync + 'static {
    /// Whether `event_id` was already handled.
    fn seen(&self, event_id: &str) -> bool;
    /// Remember that `event_id` was handled successfully.
    fn remember(&self, event_id: &str);
}

/// The last `capacity` handled event ids, in memory (forgotten oldest first).
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl RecentIds {
    /// Remember the last `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }
}

impl DedupeStore for RecentIds {
    fn seen(&self, event_id: &str) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .contains(event_id)
    }

    fn remember(&self, event_id: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *g;
        if set.insert(event_id.to_string()) {
            order.push_back(event_id.to_string());
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let d = RecentIds::new(2);
        d.remember("a");
        d.remember("b");
        assert!(d.seen("a"));
        d.remember("c");
        assert!(!d.seen("a"));
        assert!(d.seen("b") && d.seen("c"));
    }
}
