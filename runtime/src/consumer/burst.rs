//! Records the transport lends, copied into one buffer per burst (one copy of their bytes, no allocation per record), and lent again as `RecordView`s on another thread.

use crate::transport::{ConsumerEvent, RecordView, TransportError};
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::ops::Range;

/// Header pairs of one lent record kept on the stack (a CloudEvents envelope's worth).
const STACK_HEADERS: usize = 24;

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
    value: Range<u32>,
    headers: Range<u32>,
}

impl Burst {
    /// Records held (notices and errors not counted).
    pub(crate) fn records(&self) -> usize {
        self.records
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
            value: self.copy(view.value),
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
        let headers: SmallVec<[(&str, &[u8]); STACK_HEADERS]> = self.headers
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
            value: part(&at.value),
            headers: &headers,
            timestamp_ms: at.timestamp_ms,
        })
    }

    /// Empty it for reuse, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.headers.clear();
        self.topics.clear();
        self.items.clear();
        self.records = 0;
    }
}
