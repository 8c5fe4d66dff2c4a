//! Records the transport lends, copied into one buffer per burst (one copy of their bytes, no allocation per record), and lent again as `RecordView`s on another thread.

use crate::transport::{ConsumerEvent, LentHeaders, RecordView, TransportError};
use std::collections::VecDeque;
use std::ops::Range;

/// Bytes a reused burst keeps allocated: plenty for bursts of ordinary events (256 of them
/// are about 100 KiB), while one burst of large records does not pin its size for good.
const KEPT_BYTES: usize = 1 << 20;

/// What the polling thread read, in order: records (their bytes in `bytes`), rebalance
/// notices and poll errors.
#[derive(Default)]
pub(crate) struct Burst {
    bytes: Vec<u8>,
    /// Header name and value of every record, in order; a record names its run of them.
    headers: Vec<(Range<u32>, Range<u32>)>,
    /// Topic names in the order they appeared (a record names its index).
    topics: Vec<String>,
    items: VecDeque<Item>,
    records: usize,
}

pub(crate) enum Item {
    Record(Copied),
    Notice(ConsumerEvent),
    Error(TransportError),
}

/// Where one record's parts are in its burst.
pub(crate) struct Copied {
    topic: u32,
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    key: Option<Range<u32>>,
    value: Option<Range<u32>>,
    headers: Range<u32>,
}

impl Burst {
    /// Records held (notices and errors not counted).
    pub(crate) fn records(&self) -> usize {
        self.records
    }

    /// Bytes of the records held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn copy(&mut self, part: &[u8]) -> Range<u32> {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(part);
        start..self.bytes.len() as u32
    }

    /// Copy a lent record in.
    pub(crate) fn push(&mut self, view: RecordView<'_>) {
        if self.topics.last().is_none_or(|t| t != view.topic) {
            self.topics.push(view.topic.to_owned());
        }
        let first_header = self.headers.len() as u32;
        for (name, value) in view.headers {
            let name = self.copy(name.as_bytes());
            let value = self.copy(value);
            self.headers.push((name, value));
        }
        let copied = Copied {
            topic: (self.topics.len() - 1) as u32,
            partition: view.partition,
            offset: view.offset,
            timestamp_ms: view.timestamp_ms,
            key: view.key.map(|k| self.copy(k)),
            value: view.value.map(|v| self.copy(v)),
            headers: first_header..self.headers.len() as u32,
        };
        self.items.push_back(Item::Record(copied));
        self.records += 1;
    }

    pub(crate) fn push_notice(&mut self, notice: ConsumerEvent) {
        self.items.push_back(Item::Notice(notice));
    }

    pub(crate) fn push_error(&mut self, error: TransportError) {
        self.items.push_back(Item::Error(error));
    }

    pub(crate) fn next(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Lend a record taken with [`Burst::next`] to `visit`.
    pub(crate) fn lend<R>(&self, at: &Copied, visit: impl FnOnce(RecordView<'_>) -> R) -> R {
        let part = |r: &Range<u32>| &self.bytes[r.start as usize..r.end as usize];
        let headers: LentHeaders<'_> = self.headers
            [at.headers.start as usize..at.headers.end as usize]
            .iter()
            // Names were copied from `&str`s, so they are UTF-8.
            .map(|(name, value)| (std::str::from_utf8(part(name)).unwrap_or(""), part(value)))
            .collect();
        visit(RecordView {
            topic: &self.topics[at.topic as usize],
            partition: at.partition,
            offset: at.offset,
            key: at.key.as_ref().map(part),
            value: at.value.as_ref().map(part),
            headers: &headers,
            timestamp_ms: at.timestamp_ms,
        })
    }

    /// Empty it for reuse, keeping its buffers (but not more than [`KEPT_BYTES`] of a burst
    /// of large records).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.bytes.shrink_to(KEPT_BYTES);
        self.headers.clear();
        self.topics.clear();
        self.items.clear();
        self.records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> TransportError {
        TransportError::new(crate::transport::TransportErrorKind::Closed, "poll")
    }
    use crate::transport::TopicPartition;

    fn view<'a>(
        topic: &'a str,
        offset: i64,
        key: Option<&'a [u8]>,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> RecordView<'a> {
        RecordView {
            topic,
            partition: offset as i32 % 3,
            offset,
            key,
            value: Some(topic.as_bytes()),
            headers,
            timestamp_ms: 1_700_000_000_000 + offset,
        }
    }

    /// What `burst` lends next, as owned parts; notices and errors named.
    fn drain(burst: &mut Burst) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(item) = burst.next() {
            out.push(match item {
                Item::Record(at) => burst.lend(&at, |v| format!("{v:?}")),
                Item::Notice(n) => format!("notice {n:?}"),
                Item::Error(e) => format!("error {e}"),
            });
        }
        out
    }

    #[test]
    fn records_come_back_as_lent_in_order_with_notices_and_errors_where_they_came() {
        let headers: [(&str, &[u8]); 3] = [("ce_id", b"e-1"), ("ce_type", b""), ("x", b"\xff\x00")];
        let views = [
            view("healthcare.patients.events", 0, Some(b"p-1"), &headers),
            view("healthcare.patients.events", 1, None, &[]),
            view(
                "healthcare.patients.events.retry.1",
                2,
                Some(b""),
                &headers[..1],
            ),
            view("healthcare.patients.events", 3, Some(b"p-2"), &headers[1..]),
        ];
        let revoked = ConsumerEvent::Revoked(vec![TopicPartition::new("t", 1)]);
        let mut burst = Burst::default();
        burst.push(views[0]);
        burst.push(views[1]);
        burst.push_notice(revoked.clone());
        burst.push(views[2]);
        burst.push_error(closed());
        burst.push(views[3]);
        assert_eq!(burst.records(), 4);
        let expected = vec![
            format!("{:?}", views[0]),
            format!("{:?}", views[1]),
            format!("notice {revoked:?}"),
            format!("{:?}", views[2]),
            format!("error {}", closed()),
            format!("{:?}", views[3]),
        ];
        assert_eq!(drain(&mut burst), expected);
        assert!(burst.is_empty());
    }

    #[test]
    fn a_cleared_burst_keeps_nothing_of_the_records_before() {
        let headers: [(&str, &[u8]); 1] = [("ce_id", b"first")];
        let mut burst = Burst::default();
        for offset in 0..300 {
            burst.push(view("a", offset, Some(b"k"), &headers));
        }
        let large = vec![7u8; 64 << 10];
        for offset in 300..330 {
            burst.push(RecordView {
                value: Some(&large),
                ..view("a", offset, None, &[])
            });
        }
        burst.clear();
        assert!(burst.is_empty());
        assert_eq!((burst.records(), burst.bytes()), (0, 0));
        assert!(
            burst.bytes.capacity() <= KEPT_BYTES,
            "a burst of large records is not kept"
        );
        let second = view("b", 7, None, &[]);
        burst.push(second);
        assert_eq!(drain(&mut burst), vec![format!("{second:?}")]);
    }
}
