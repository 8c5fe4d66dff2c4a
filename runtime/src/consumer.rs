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
//! - **Failures**: retriable handler errors are retried in place with backoff, then sent
//!   through the retry topics `<topic>.retry.<n>` (each with its delay, not blocking the main
//!   topic), then to `<topic>.dlq`. Permanent errors and poison pills (undecodable payloads,
//!   unknown type or version) go straight to the dead-letter topic. With `dead_letter` off,
//!   a failed record stops the consumer without committing it (redelivered on restart).
//! - **Shutdown**: on the [`Shutdown`] signal, polling stops, in-flight handlers finish (up to
//!   `shutdown_deadline`), finished offsets are committed and the member leaves the group.

mod batch;
mod config;
mod dedupe;
pub mod offsets;
mod process;
mod shutdown;

pub use batch::{EventStream, StreamItem};
pub use config::{ConsumerConfig, ProcessingMode};
pub use dedupe::{DedupeStore, RecentIds};
pub use shutdown::{Shutdown, ShutdownTrigger};

use crate::claim_check::SharedClaimCheck;
use crate::publisher::Publisher;
use crate::topic::{TopicEvents, TopicHandler};
use crate::transport::{
    ConsumerEvent, ReceivedRecord, TopicPartition, Transport, TransportConsumer, TransportError,
};
use offsets::OffsetTracker;
use process::{Outcome, Processor};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Why a consumer stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
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
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Lane {
    Partition(TopicPartition),
    Key(String, Option<Vec<u8>>),
}

struct Finished {
    lane: Lane,
    tp: TopicPartition,
    offset: i64,
    outcome: Outcome,
}

impl<T: Transport> Consumer<T> {
    pub fn new(publisher: Publisher<T>, config: ConsumerConfig) -> Self {
        Consumer {
            publisher,
            config,
            dedupe: None,
            claim_check: None,
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
        let consumer = self.publisher.transport().subscribe(subscription).await?;
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
        });
        let permits = match self.config.mode {
            ProcessingMode::Sequential => 1,
            ProcessingMode::KeyOrdered { max_in_flight } => max_in_flight.max(1),
        };
        let mut run = Run {
            consumer,
            processor,
            semaphore: Arc::new(tokio::sync::Semaphore::new(permits)),
            lanes: HashMap::new(),
            jobs: JoinSet::new(),
            tracker: OffsetTracker::default(),
            buffered: 0,
            paused: false,
            dirty: false,
            report: RunReport::default(),
            shutdown: internal.clone(),
        };
        let result = run.main_loop(internal).await;
        stop.trigger();
        let report = run.finish().await;
        forwarder.abort();
        result.map(|()| report)
    }
}

struct Run<T: Transport, H: TopicHandler> {
    consumer: T::Consumer,
    processor: Arc<Processor<T, H>>,
    semaphore: Arc<tokio::sync::Semaphore>,
    /// Lanes with a running job, and the records waiting behind it.
    lanes: HashMap<Lane, VecDeque<ReceivedRecord>>,
    jobs: JoinSet<Finished>,
    tracker: OffsetTracker,
    buffered: usize,
    paused: bool,
    dirty: bool,
    report: RunReport,
    shutdown: Shutdown,
}

impl<T: Transport, H: TopicHandler> Run<T, H> {
    async fn main_loop(&mut self, mut shutdown: Shutdown) -> Result<(), ConsumerError> {
        let cfg = self.processor.config.clone();
        let mut commit_tick = tokio::time::interval(cfg.commit_interval);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                Some(joined) = self.jobs.join_next(), if !self.jobs.is_empty() => {
                    let finished = joined.map_err(|e| {
                        ConsumerError::HandlerFailed(format!("a handler task panicked: {e}"))
                    })?;
                    self.on_finished(finished)?;
                }
                _ = commit_tick.tick() => self.commit().await,
                polled = self.consumer.poll(cfg.poll_timeout) => match polled {
                    Ok(Some(ConsumerEvent::Record(r))) => self.dispatch(r),
                    Ok(Some(ConsumerEvent::Revoked(parts))) => self.revoke(&parts),
                    Ok(Some(ConsumerEvent::Assigned(_))) | Ok(None) => {}
                    Err(e) if e.is_retriable() => {
                        tracing::warn!(error = %e, "poll failed; retrying");
                        tokio::time::sleep(cfg.poll_timeout).await;
                    }
                    Err(e) => return Err(e.into()),
                },
            }
            self.backpressure(&cfg)?;
        }
    }

    fn lane_of(&self, r: &ReceivedRecord) -> Lane {
        match self.processor.config.mode {
            ProcessingMode::Sequential => Lane::Partition(r.topic_partition()),
            ProcessingMode::KeyOrdered { .. } => Lane::Key(r.topic.clone(), r.key.clone()),
        }
    }

    fn dispatch(&mut self, r: ReceivedRecord) {
        self.tracker.start(&r.topic_partition(), r.offset);
        self.buffered += 1;
        let lane = self.lane_of(&r);
        match self.lanes.get_mut(&lane) {
            Some(waiting) => waiting.push_back(r),
            None => {
                self.lanes.insert(lane.clone(), VecDeque::new());
                self.spawn(lane, r);
            }
        }
    }

    fn spawn(&mut self, lane: Lane, r: ReceivedRecord) {
        let processor = self.processor.clone();
        let semaphore = self.semaphore.clone();
        let shutdown = self.shutdown.clone();
        self.jobs.spawn(async move {
            let (tp, offset) = (r.topic_partition(), r.offset);
            let outcome = if process::wait_not_before(&r, &shutdown).await {
                match semaphore.acquire_owned().await {
                    Ok(_permit) => processor.process(r, &shutdown).await,
                    Err(_) => Outcome::Interrupted,
                }
            } else {
                Outcome::Interrupted
            };
            Finished {
                lane,
                tp,
                offset,
                outcome,
            }
        });
    }

    fn on_finished(&mut self, f: Finished) -> Result<(), ConsumerError> {
        self.buffered = self.buffered.saturating_sub(1);
        match f.outcome {
            Outcome::Done => {
                self.report.finished += 1;
                if let Some(next) = self.tracker.finish(&f.tp, f.offset) {
                    // Refused when the partition was revoked meanwhile: the new owner redoes it.
                    if self.consumer.store_offset(&f.tp, next).is_ok() {
                        self.dirty = true;
                    }
                }
                let next = self.lanes.get_mut(&f.lane).and_then(VecDeque::pop_front);
                match next {
                    Some(r) => self.spawn(f.lane, r),
                    None => {
                        self.lanes.remove(&f.lane);
                    }
                }
                Ok(())
            }
            // Later records of the lane must not overtake it: drop them (redelivered later).
            Outcome::Interrupted => {
                self.drop_lane(&f.lane);
                Ok(())
            }
            Outcome::Failed(message) => {
                self.drop_lane(&f.lane);
                Err(ConsumerError::HandlerFailed(message))
            }
        }
    }

    fn drop_lane(&mut self, lane: &Lane) {
        if let Some(waiting) = self.lanes.remove(lane) {
            self.buffered = self.buffered.saturating_sub(waiting.len());
        }
    }

    fn revoke(&mut self, parts: &[TopicPartition]) {
        self.tracker.revoke(parts);
        for waiting in self.lanes.values_mut() {
            let before = waiting.len();
            waiting.retain(|r| !parts.contains(&r.topic_partition()));
            self.buffered = self.buffered.saturating_sub(before - waiting.len());
        }
    }

    fn backpressure(&mut self, cfg: &ConsumerConfig) -> Result<(), ConsumerError> {
        let limit = cfg.max_buffered.max(1);
        if !self.paused && self.buffered >= limit {
            self.consumer.pause(&self.consumer.assignment()?)?;
            self.paused = true;
        } else if self.paused && self.buffered <= limit / 2 {
            self.consumer.resume(&self.consumer.assignment()?)?;
            self.paused = false;
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
        let waiting: Vec<Lane> = self.lanes.keys().cloned().collect();
        for lane in &waiting {
            if let Some(q) = self.lanes.get_mut(lane) {
                self.buffered = self.buffered.saturating_sub(q.len());
                q.clear();
            }
        }
        let deadline = tokio::time::Instant::now() + self.processor.config.shutdown_deadline;
        while !self.jobs.is_empty() {
            match tokio::time::timeout_at(deadline, self.jobs.join_next()).await {
                Ok(Some(Ok(f))) => {
                    let _ = self.on_finished(f);
                }
                Ok(Some(Err(_))) => self.buffered = self.buffered.saturating_sub(1),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        running = self.jobs.len(),
                        "shutdown deadline passed; abandoning running handlers"
                    );
                    self.jobs.abort_all();
                    break;
                }
            }
        }
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
