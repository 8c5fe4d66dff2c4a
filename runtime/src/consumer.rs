//! The consumer: records of a consumer group turned into calls of a generated `TopicHandler`, at-least-once, sequentially or in key-ordered parallel, with retries, retry topics, dead letters and graceful shutdown.
//!
//! - **At-least-once**: an offset is stored only after its record is finished (handled, or
//!   forwarded to a retry or dead-letter topic), and only the contiguous finished prefix of
//!   each partition is stored, so handlers finishing out of order never commit past unfinished
//!   work ([`offsets::OffsetTracker`]). Stored offsets are committed every `commit_interval`,
//!   before partitions are revoked (by the transport) and at shutdown.
//! - **Modes**: [`ProcessingMode::Sequential`] handles one record at a time;
//!   [`ProcessingMode::KeyOrdered`] runs different keys (aggregates) concurrently and each
//!   key's records in order. Batch and stream modes: [`Consumer::run_batch`],
//!   [`Consumer::stream`].
//! - **Polling thread**: by default records are read on a thread of the consumer's own, which
//!   copies them into bursts (one buffer each) and hands those to the poll loop in order,
//!   rebalance notices in their place: taking a record from librdkafka costs about as much as
//!   handling it, so the two run on two cores. With `polling_thread` off the poll loop reads
//!   them itself (lent, never copied). Records read ahead but not yet handled are never
//!   stored: after a rebalance or a stop the group reads them again.
//! - **Fast path**: the poll loop is lent each record (by the burst, or by the transport:
//!   [`TransportConsumer::poll_view`]); when its lane is idle and a permit is free it decodes it
//!   and polls its handler once right then. A handler that finishes costs no copy and no task
//!   switch; one that waits (or fails) moves with a copy of the record to its lane's worker,
//!   ahead of the lane's later records.
//! - **Failures**: retriable handler errors are retried in place with backoff, then sent
//!   through the retry topics `<topic>.retry.<n>` (each with its delay, not blocking the main
//!   topic), then to `<topic>.dlq`. Permanent errors and poison pills (undecodable payloads,
//!   unknown type or version) go straight to the dead-letter topic. With `dead_letter` off,
//!   a failed record stops the consumer without committing it (redelivered on restart).
//! - **Shutdown**: on the [`Shutdown`] signal, polling stops, in-flight handlers finish (up to
//!   `shutdown_deadline`), finished offsets are committed and the member leaves the group.

mod batch;
mod burst;
mod config;
mod dedupe;
pub mod offsets;
mod process;
mod shutdown;
mod source;

pub use batch::{EventStream, StreamItem};
pub use config::{ConsumerConfig, ProcessingMode, UnknownEvents};
pub use dedupe::{DedupeStore, RecentIds};
pub use shutdown::{Shutdown, ShutdownTrigger};

use crate::claim_check::SharedClaimCheck;
use crate::envelope::KnownHeaders;
use crate::observe::Membership;
use crate::publisher::Publisher;
use crate::topic::{TopicEvents, TopicHandler};
use crate::transport::{
    ConsumerEvent, Polled, ReceivedRecord, RecordView, TopicPartition, Transport,
    TransportConsumer, TransportError,
};
use offsets::OffsetTracker;
use process::{Job, Outcome, Processor, Spare, Start};
use source::Source;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Why a consumer stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Joining the group, polling, committing or forwarding failed for good.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A record failed and could not be dead-lettered; it was not committed.
    #[error("a record failed and was not committed (it is redelivered on restart): {0}")]
    HandlerFailed(String),
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Records finished (handled, skipped as duplicates, or forwarded).
    pub finished: u64,
    /// Records read but left unfinished at shutdown (they are redelivered).
    pub unfinished: usize,
}

/// Runs handlers for one consumer group. Uses the process's shared [`Publisher`] as its
/// producer (retry and dead-letter topics) and its transport for the group membership.
pub struct Consumer<T: Transport> {
    publisher: Publisher<T>,
    config: ConsumerConfig,
    dedupe: Option<Arc<dyn DedupeStore>>,
    claim_check: Option<SharedClaimCheck>,
    membership: Option<Membership>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Lane {
    Partition(TopicPartition),
    Key(String, Option<Vec<u8>>),
}

/// A record's processing, started by the poll loop while the record was lent and handed to
/// its lane's worker because it did not finish there (its handler waits, or failed and is
/// retried or forwarded, or the record needs the owned path).
struct Started {
    tp: TopicPartition,
    offset: i64,
    job: Job,
}

/// A record a lane worker is done with.
struct Finished {
    tp: TopicPartition,
    offset: i64,
    outcome: Outcome,
    /// Records of the lane dropped after it (the outcome was not `Done`).
    dropped: usize,
}

impl<T: Transport> Consumer<T> {
    /// A consumer for `config`'s group; `publisher` forwards to retry and dead-letter topics and
    /// its transport carries the group.
    pub fn new(publisher: Publisher<T>, config: ConsumerConfig) -> Self {
        Consumer {
            publisher,
            config,
            dedupe: None,
            claim_check: None,
            membership: None,
        }
    }

    /// Skip events whose id `store` has seen handled (idempotent handling).
    pub fn with_dedupe(mut self, store: Arc<dyn DedupeStore>) -> Self {
        self.dedupe = Some(store);
        self
    }

    /// Fetch claim-checked payloads from `store`.
    pub fn with_claim_check(mut self, store: SharedClaimCheck) -> Self {
        self.claim_check = Some(store);
        self
    }

    /// Report the partitions assigned to this consumer to `membership` (`/ready` answers 503
    /// while a consumer has none: before its first assignment, after a revoke, after it stops).
    pub fn with_membership(mut self, membership: Membership) -> Self {
        self.membership = Some(membership);
        self
    }

    /// The settings the consumer runs with.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Run `handler` until `shutdown` fires (or a record fails with dead letters disabled).
    pub async fn run<H: TopicHandler>(
        &self,
        handler: H,
        shutdown: Shutdown,
    ) -> Result<RunReport, ConsumerError> {
        let subscription = self.config.subscription(<H::Events as TopicEvents>::TOPIC);
        let consumer = Arc::new(self.publisher.transport().subscribe(subscription).await?);
        // An internal stop signal: fired by `shutdown` or by a failure, it interrupts the
        // backoff sleeps of running jobs.
        let (stop, internal) = Shutdown::channel();
        let forwarder = {
            let mut external = shutdown;
            let stop = stop.clone();
            tokio::spawn(async move {
                external.wait().await;
                stop.trigger();
            })
        };
        let processor = Arc::new(Processor {
            publisher: self.publisher.clone(),
            handler,
            config: self.config.clone(),
            dedupe: self.dedupe.clone(),
            claim_check: self.claim_check.clone(),
            metrics: Default::default(),
        });
        let permits = match self.config.mode {
            ProcessingMode::Sequential => 1,
            ProcessingMode::KeyOrdered { max_in_flight } => max_in_flight.max(1),
        };
        let (finished_tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let mut run = Run {
            source: Source::new(&consumer, &self.config),
            consumer,
            processor,
            semaphore: Arc::new(tokio::sync::Semaphore::new(permits)),
            lanes: HashMap::new(),
            workers: JoinSet::new(),
            finished_tx,
            finished,
            tracker: OffsetTracker::default(),
            to_store: Vec::new(),
            last_topic: String::new(),
            spare: Spare::default(),
            buffered: 0,
            paused: false,
            dirty: false,
            report: RunReport::default(),
            shutdown: internal.clone(),
            membership: self.membership.clone(),
            assigned: std::collections::HashSet::new(),
        };
        let result = run.main_loop(internal).await;
        stop.trigger();
        let report = run.finish().await;
        if let Some(membership) = &self.membership {
            membership.set_assigned(0);
        }
        forwarder.abort();
        result.map(|()| report)
    }
}

/// The records of one lane waiting for its worker, shared by the poll loop (which pushes)
/// and the lane's worker task (which pops, in order).
#[derive(Default)]
struct LaneQueue {
    records: VecDeque<ReceivedRecord>,
    /// A worker task is draining this queue.
    working: bool,
}

type SharedLane = Arc<std::sync::Mutex<LaneQueue>>;

fn lock(lane: &SharedLane) -> std::sync::MutexGuard<'_, LaneQueue> {
    lane.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the poll loop made of a record while the transport lent it.
enum Visited {
    /// Handled during the poll (never copied). Its topic is named only when it is not the
    /// one of the record visited before (the poll loop keeps that one), which spares a copy
    /// of the name per record.
    Finished {
        new_topic: Option<String>,
        partition: i32,
        offset: i64,
        outcome: Outcome,
    },
    /// Started during the poll; its lane's worker runs it on.
    Running { lane: Lane, started: Started },
    /// Its lane is busy, no permit is free or it is not due yet: copied, to be queued.
    Queued(ReceivedRecord),
    /// Its handler panicked.
    Panicked,
}

/// Handle a lent record at once when its lane is idle and a permit is free (a handler that
/// finishes without waiting then costs no copy and no task switch), else copy it for its lane.
fn visit<T: Transport, H: TopicHandler>(
    processor: &Arc<Processor<T, H>>,
    lanes: &HashMap<Lane, SharedLane>,
    semaphore: &Arc<tokio::sync::Semaphore>,
    shutdown: &Shutdown,
    last_topic: &str,
    spare: &mut Spare,
    view: RecordView<'_>,
) -> Visited {
    let mode = processor.config.mode;
    let lane = || lane_of(mode, view.topic, view.partition, view.key);
    let idle = lanes.is_empty()
        || lanes.get(&lane()).is_none_or(|q| {
            let q = lock(q);
            !q.working && q.records.is_empty()
        });
    let found = KnownHeaders::find(view.headers);
    // carebus's own headers, looked up only when the record has some.
    let own: &[(&str, &[u8])] = if found.any_carebus_own() {
        view.headers
    } else {
        &[]
    };
    if !idle || !process::due(own) {
        return Visited::Queued(view.to_received());
    }
    let permit = match spare.permit.take() {
        Some(permit) => permit,
        None => match semaphore.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => return Visited::Queued(view.to_received()),
        },
    };
    let (partition, offset) = (view.partition, view.offset);
    match processor.start(view, &found, own, permit, shutdown, spare) {
        Start::Finished(outcome) => Visited::Finished {
            new_topic: (view.topic != last_topic).then(|| view.topic.to_owned()),
            partition,
            offset,
            outcome,
        },
        Start::Running(job) => Visited::Running {
            lane: lane(),
            started: Started {
                tp: view.topic_partition(),
                offset,
                job,
            },
        },
        Start::Panicked => Visited::Panicked,
    }
}

fn lane_of(mode: ProcessingMode, topic: &str, partition: i32, key: Option<&[u8]>) -> Lane {
    match mode {
        ProcessingMode::Sequential => Lane::Partition(TopicPartition::new(topic, partition)),
        ProcessingMode::KeyOrdered { .. } => Lane::Key(topic.to_owned(), key.map(<[u8]>::to_vec)),
    }
}

/// Remember the next offset to store for a partition, for [`Run::store_finished`].
fn store_later(to_store: &mut Vec<(TopicPartition, i64)>, topic: &str, partition: i32, next: i64) {
    match to_store
        .iter_mut()
        .find(|(tp, _)| tp.partition == partition && tp.topic == topic)
    {
        Some((_, stored)) => *stored = next,
        None => to_store.push((TopicPartition::new(topic, partition), next)),
    }
}

/// How many records the poll loop reads in a row before it looks at finished records and the
/// commit timer again.
const POLL_BURST: usize = 256;

/// One run of the poll loop. Each lane (a partition, or a key in key-ordered mode) has a
/// worker task that handles its records in order while the loop keeps polling, so polling,
/// decoding and handling overlap; workers report finished records over a channel.
struct Run<T: Transport, H: TopicHandler> {
    consumer: Arc<T::Consumer>,
    /// Where records are read: in place, or from a polling thread.
    source: Source<T::Consumer>,
    processor: Arc<Processor<T, H>>,
    semaphore: Arc<tokio::sync::Semaphore>,
    /// Lanes that have records waiting or a worker running.
    lanes: HashMap<Lane, SharedLane>,
    /// Lane workers; each returns its lane when its queue ran dry.
    workers: JoinSet<Lane>,
    finished_tx: tokio::sync::mpsc::UnboundedSender<Finished>,
    finished: tokio::sync::mpsc::UnboundedReceiver<Finished>,
    tracker: OffsetTracker,
    /// Next offsets to store, per partition, from the batch of finished records in hand.
    to_store: Vec<(TopicPartition, i64)>,
    /// The topic of the record visited last (see [`Visited::Finished`]).
    last_topic: String,
    /// What a record finished in the poll left for the next one.
    spare: Spare,
    buffered: usize,
    paused: bool,
    dirty: bool,
    report: RunReport,
    shutdown: Shutdown,
    /// Where the assigned partitions are reported for `/ready`.
    membership: Option<Membership>,
    assigned: std::collections::HashSet<TopicPartition>,
}

impl<T: Transport, H: TopicHandler> Run<T, H> {
    async fn main_loop(&mut self, mut shutdown: Shutdown) -> Result<(), ConsumerError> {
        let cfg = self.processor.config.clone();
        let mut commit_tick =
            tokio::time::interval(cfg.commit_interval.max(Duration::from_millis(1)));
        let mut paused_tick = tokio::time::interval(cfg.poll_timeout.max(Duration::from_millis(1)));
        paused_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut done = Vec::with_capacity(POLL_BURST);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                Some(joined) = self.workers.join_next(), if !self.workers.is_empty() => {
                    // The panic's message is not repeated: it may quote event data.
                    let lane = joined.map_err(|e| {
                        ConsumerError::HandlerFailed(if e.is_panic() {
                            "a handler panicked; the record was not committed".into()
                        } else {
                            "a handler task was cancelled; the record was not committed".into()
                        })
                    })?;
                    self.retire(&lane);
                }
                n = self.finished.recv_many(&mut done, POLL_BURST) => {
                    let handled = done.drain(..n).try_for_each(|f| self.on_finished(f));
                    self.store_finished();
                    handled?;
                }
                _ = commit_tick.tick() => self.commit().await,
                // Paused (the buffer is full): poll only now and then, to stay in the group
                // and see rebalances, and let the transport keep what it prefetched instead
                // of drawing it all into its pause buffer. What a polling thread read before
                // the pause is taken now (queued), so notices behind it are not held up.
                _ = paused_tick.tick(), if self.paused => {
                    let polled = self.source.poll_view(Duration::ZERO, |view| {
                        visit(&self.processor, &self.lanes, &self.semaphore, &self.shutdown, &self.last_topic, &mut self.spare, view)
                    }).await;
                    if self.on_polled(polled, &cfg).await? {
                        self.read_on(&cfg, true).await?;
                    }
                }
                polled = self.source.poll_view(cfg.poll_timeout, |view| {
                    visit(&self.processor, &self.lanes, &self.semaphore, &self.shutdown, &self.last_topic, &mut self.spare, view)
                }), if !self.paused => {
                    if self.on_polled(polled, &cfg).await? {
                        self.read_on(&cfg, false).await?;
                    }
                }
            }
            // The burst is over: a permit kept from it would hold a lane worker back.
            self.spare.permit = None;
            self.store_finished();
            self.backpressure(&cfg)?;
        }
    }

    /// Read what is already at hand without going round the select: up to a burst of
    /// records, stopping early when finished records wait to be accounted for, or (unless
    /// `while_paused`) when the buffer filled up.
    async fn read_on(
        &mut self,
        cfg: &ConsumerConfig,
        while_paused: bool,
    ) -> Result<(), ConsumerError> {
        for _ in 1..POLL_BURST {
            if (self.paused && !while_paused) || !self.finished.is_empty() {
                break;
            }
            // Let other tasks of this thread run now and then: a consumer with records
            // always at hand would otherwise never yield.
            tokio::task::consume_budget().await;
            let polled = self
                .source
                .poll_view(Duration::ZERO, |view| {
                    visit(
                        &self.processor,
                        &self.lanes,
                        &self.semaphore,
                        &self.shutdown,
                        &self.last_topic,
                        &mut self.spare,
                        view,
                    )
                })
                .await;
            if !self.on_polled(polled, cfg).await? {
                break;
            }
            self.backpressure(cfg)?;
        }
        Ok(())
    }

    /// Account for what a poll returned; `false` when it returned nothing (or failed).
    async fn on_polled(
        &mut self,
        polled: Result<Option<Polled<Visited>>, TransportError>,
        cfg: &ConsumerConfig,
    ) -> Result<bool, ConsumerError> {
        match polled {
            Ok(Some(Polled::Record(visited))) => self.on_visited(visited)?,
            Ok(Some(Polled::Notice(ConsumerEvent::Revoked(parts)))) => {
                self.membership_changed(&parts, false);
                self.revoke(&parts)
            }
            Ok(Some(Polled::Notice(ConsumerEvent::Record(r)))) => self.dispatch(r),
            Ok(Some(Polled::Notice(ConsumerEvent::Assigned(parts)))) => {
                self.membership_changed(&parts, true)
            }
            Ok(None) => return Ok(false),
            Err(e) if e.is_retriable() => {
                tracing::warn!(error = %e, "poll failed; retrying");
                self.spare.permit = None;
                tokio::time::sleep(cfg.poll_timeout).await;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(true)
    }

    /// Partitions assigned (`assigned`) or revoked: reported to the membership `/ready` reads.
    fn membership_changed(&mut self, parts: &[TopicPartition], assigned: bool) {
        for tp in parts {
            if assigned {
                self.assigned.insert(tp.clone());
            } else {
                self.assigned.remove(tp);
            }
        }
        if let Some(membership) = &self.membership {
            membership.set_assigned(self.assigned.len());
        }
    }

    /// Account for a record the poll loop visited.
    fn on_visited(&mut self, visited: Visited) -> Result<(), ConsumerError> {
        match visited {
            Visited::Queued(r) => self.dispatch(r),
            Visited::Finished {
                new_topic,
                partition,
                offset,
                outcome,
            } => {
                if let Some(topic) = new_topic {
                    self.last_topic = topic;
                }
                let topic = &self.last_topic;
                if outcome == Outcome::Done {
                    self.report.finished += 1;
                    if let Some(next) = self.tracker.start_finished(topic, partition, offset) {
                        store_later(&mut self.to_store, topic, partition, next);
                    }
                    return Ok(());
                }
                let tp = TopicPartition::new(topic.as_str(), partition);
                self.tracker.start(&tp, offset);
                self.buffered += 1;
                self.on_finished(Finished {
                    tp,
                    offset,
                    outcome,
                    dropped: 0,
                })?;
            }
            Visited::Running { lane, started } => {
                self.tracker.start(&started.tp, started.offset);
                self.buffered += 1;
                let queue = SharedLane::default();
                lock(&queue).working = true;
                self.lanes.insert(lane.clone(), queue.clone());
                self.start_worker(lane, queue, Some(started));
            }
            Visited::Panicked => {
                return Err(ConsumerError::HandlerFailed(
                    "a handler panicked; the record was not committed".into(),
                ));
            }
        }
        Ok(())
    }

    /// Queue a record on its lane, starting the lane's worker if none runs.
    fn dispatch(&mut self, r: ReceivedRecord) {
        self.tracker.start(&r.topic_partition(), r.offset);
        self.buffered += 1;
        let lane = lane_of(
            self.processor.config.mode,
            &r.topic,
            r.partition,
            r.key.as_deref(),
        );
        let queue = self.lanes.entry(lane.clone()).or_default().clone();
        let mut q = lock(&queue);
        q.records.push_back(r);
        if !q.working {
            q.working = true;
            drop(q);
            self.start_worker(lane, queue, None);
        }
    }

    /// A task that handles the lane's records in order until its queue is empty, or until a
    /// record ends other than done (later records of the lane must not overtake it: they are
    /// dropped and read again later).
    fn start_worker(&mut self, lane: Lane, queue: SharedLane, first: Option<Started>) {
        let processor = self.processor.clone();
        let semaphore = self.semaphore.clone();
        let shutdown = self.shutdown.clone();
        let report = self.finished_tx.clone();
        self.workers.spawn(async move {
            let mut first = first;
            loop {
                let (tp, offset, outcome) = if let Some(started) = first.take() {
                    (started.tp, started.offset, started.job.await)
                } else {
                    let next = {
                        let mut q = lock(&queue);
                        let next = q.records.pop_front();
                        q.working = next.is_some();
                        next
                    };
                    let Some(r) = next else { return lane };
                    let (tp, offset) = (r.topic_partition(), r.offset);
                    let outcome = if process::wait_not_before(&r, &shutdown).await {
                        match semaphore.acquire().await {
                            Ok(_permit) => processor.process(r, &shutdown).await,
                            Err(_) => Outcome::Interrupted,
                        }
                    } else {
                        Outcome::Interrupted
                    };
                    (tp, offset, outcome)
                };
                let stopped = outcome != Outcome::Done;
                let dropped = if stopped {
                    let mut q = lock(&queue);
                    q.working = false;
                    std::mem::take(&mut q.records).len()
                } else {
                    0
                };
                let finished = Finished {
                    tp,
                    offset,
                    outcome,
                    dropped,
                };
                if report.send(finished).is_err() || stopped {
                    return lane;
                }
            }
        });
    }

    /// A lane's worker ended: forget the lane if nothing arrived for it meanwhile.
    fn retire(&mut self, lane: &Lane) {
        if let Some(queue) = self.lanes.get(lane) {
            let q = lock(queue);
            if !q.working && q.records.is_empty() {
                drop(q);
                self.lanes.remove(lane);
            }
        }
    }

    fn on_finished(&mut self, f: Finished) -> Result<(), ConsumerError> {
        self.buffered = self.buffered.saturating_sub(1 + f.dropped);
        match f.outcome {
            Outcome::Done => {
                self.report.finished += 1;
                if let Some(next) = self.tracker.finish(&f.tp, f.offset) {
                    store_later(&mut self.to_store, &f.tp.topic, f.tp.partition, next);
                }
                Ok(())
            }
            Outcome::Interrupted => Ok(()),
            Outcome::Failed(message) => Err(ConsumerError::HandlerFailed(message)),
        }
    }

    /// Store the offsets a batch of finished records advanced: one call per partition, not one
    /// per record.
    fn store_finished(&mut self) {
        for (tp, next) in self.to_store.drain(..) {
            // Refused when the partition was revoked meanwhile: the new owner redoes it.
            if self.consumer.store_offset(&tp, next).is_ok() {
                self.dirty = true;
            }
        }
    }

    fn revoke(&mut self, parts: &[TopicPartition]) {
        self.tracker.revoke(parts);
        for queue in self.lanes.values() {
            let mut q = lock(queue);
            let before = q.records.len();
            q.records.retain(|r| !parts.contains(&r.topic_partition()));
            self.buffered = self.buffered.saturating_sub(before - q.records.len());
        }
    }

    fn backpressure(&mut self, cfg: &ConsumerConfig) -> Result<(), ConsumerError> {
        let limit = cfg.max_buffered.max(1);
        if !self.paused && self.buffered >= limit {
            self.consumer.pause(&self.consumer.assignment()?)?;
            self.paused = true;
            self.source.set_paused(true);
        } else if self.paused && self.buffered <= limit / 2 {
            self.consumer.resume(&self.consumer.assignment()?)?;
            self.paused = false;
            self.source.set_paused(false);
        }
        Ok(())
    }

    async fn commit(&mut self) {
        for (tp, lag) in self.consumer.lag() {
            metrics::gauge!(
                "carebus_consumer_lag",
                "topic" => tp.topic,
                "partition" => tp.partition.to_string()
            )
            .set(lag as f64);
        }
        if self.dirty {
            match self.consumer.commit().await {
                Ok(()) => self.dirty = false,
                Err(e) => tracing::warn!(error = %e, "commit failed; will retry"),
            }
        }
    }

    /// Stop: let running handlers finish within the deadline, commit, leave the group.
    async fn finish(&mut self) -> RunReport {
        self.spare.permit = None;
        // Records read but not handed to the loop yet are never started: read again later.
        self.source.stop().await;
        // Records not yet started are dropped (read again later); running ones may finish.
        for queue in self.lanes.values() {
            let mut q = lock(queue);
            self.buffered = self.buffered.saturating_sub(q.records.len());
            q.records.clear();
        }
        let deadline = tokio::time::Instant::now() + self.processor.config.shutdown_deadline;
        let mut done = Vec::new();
        while !self.workers.is_empty() {
            tokio::select! {
                biased;
                n = self.finished.recv_many(&mut done, POLL_BURST) => {
                    for f in done.drain(..n) {
                        let _ = self.on_finished(f);
                    }
                }
                _ = self.workers.join_next() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        running = self.workers.len(),
                        "shutdown deadline passed; abandoning running handlers"
                    );
                    self.workers.abort_all();
                    break;
                }
            }
        }
        while let Ok(f) = self.finished.try_recv() {
            let _ = self.on_finished(f);
        }
        self.store_finished();
        self.report.unfinished = self.tracker.in_flight();
        self.dirty = true;
        // Committing and leaving get a few seconds of their own past the deadline.
        let leave = async {
            self.commit().await;
            if let Err(e) = self.consumer.close().await {
                tracing::warn!(error = %e, "leaving the consumer group failed");
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), leave)
            .await
            .is_err()
        {
            tracing::warn!("committing and leaving the group took longer than 10 s; gave up");
        }
        self.report.clone()
    }
}
