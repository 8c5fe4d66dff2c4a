//! Where the poll loop's records come from: the transport polled in place, or a polling thread of its own that copies what it reads into bursts, so reading records and handling them run on two cores.
//!
//! By default the consumer polls on a thread of its own: taking a record from
//! librdkafka costs about as much as decoding and handling it, and one thread doing both was
//! the consumer's bottleneck. The polling thread copies each record into its burst's one
//! buffer (no allocation per record) and hands the burst over; the poll loop lends the
//! records from it as the transport would, in order, notices between them where they came.
//! Polling stops when the loop is dropped or stopped; records read but not yet handed to the
//! loop are never started, so never stored: they are read again.

use super::ConsumerConfig;
use super::burst::{Burst, Item};
use crate::transport::{Polled, RecordView, TransportConsumer, TransportError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Records a burst takes before it is handed over.
const BURST_RECORDS: usize = 256;
/// Bytes a burst takes before it is handed over (the records' parts are indexed with `u32`:
/// this plus one record, at most 2 GiB in Kafka, stays below 4 GiB).
const BURST_BYTES: usize = 16 << 20;
/// Bursts handed over and not yet taken by the poll loop: the polling thread waits when the
/// loop is this far behind.
const BURSTS_AHEAD: usize = 4;

pub(crate) enum Source<C> {
    /// The poll loop polls the transport itself.
    InPlace(Arc<C>),
    /// A polling thread hands the loop bursts of records.
    Thread(Poller),
}

/// The poll loop's end of a polling thread.
pub(crate) struct Poller {
    bursts: mpsc::Receiver<Burst>,
    /// Emptied bursts go back for reuse (their buffers keep their capacity).
    used: std::sync::mpsc::Sender<Burst>,
    current: Burst,
    shared: Arc<Shared>,
    exited: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Flags the poll loop sets and the polling thread reads.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The loop paused the consumer: poll only every `poll_timeout` (to stay in the group and
    /// see rebalances) instead of drawing prefetched records into the pause buffer.
    paused: AtomicBool,
}

impl<C: TransportConsumer> Source<C> {
    /// A polling thread when the config asks for one (polling in place when no thread can be
    /// started, with a warning); else polling in place.
    pub(crate) fn new(consumer: &Arc<C>, config: &ConsumerConfig) -> Source<C> {
        if !config.polling_thread {
            return Source::InPlace(consumer.clone());
        }
        match Poller::start(consumer.clone(), config.poll_timeout) {
            Ok(poller) => Source::Thread(poller),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a polling thread; polling in place");
                Source::InPlace(consumer.clone())
            }
        }
    }

    /// The next record lent to `visit`, or notice; as [`TransportConsumer::poll_view`].
    pub(crate) async fn poll_view<R: Send>(
        &mut self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R + Send,
    ) -> Result<Option<Polled<R>>, TransportError> {
        match self {
            Source::InPlace(consumer) => consumer.poll_view(timeout, visit).await,
            Source::Thread(poller) => poller.poll_view(timeout, visit).await,
        }
    }

    /// Tell the polling thread whether the consumer is paused.
    pub(crate) fn set_paused(&self, paused: bool) {
        if let Source::Thread(poller) = self {
            poller.shared.paused.store(paused, Ordering::Relaxed);
        }
    }

    /// Stop polling; returns once the polling thread is done with the consumer.
    pub(crate) async fn stop(&mut self) {
        if let Source::Thread(poller) = self {
            poller.shared.stop.store(true, Ordering::Relaxed);
            poller.bursts.close();
            if let Some(exited) = poller.exited.take() {
                let _ = exited.await;
            }
        }
    }
}

impl Poller {
    /// The thread runs on a runtime of its own (a current-thread one, for the transport's
    /// timers), so it neither needs nor outlives the caller's: it stops once the poll loop is
    /// gone, whatever happened to the runtime the loop ran on.
    fn start<C: TransportConsumer>(
        consumer: Arc<C>,
        poll_timeout: Duration,
    ) -> std::io::Result<Poller> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (handed, bursts) = mpsc::channel(BURSTS_AHEAD);
        let (used, reuse) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared::default());
        let (exit, exited) = tokio::sync::oneshot::channel();
        let flags = shared.clone();
        std::thread::Builder::new()
            .name("carebus-poll".into())
            .spawn(move || {
                runtime.block_on(poll_thread(consumer, handed, reuse, &flags, poll_timeout));
                let _ = exit.send(());
            })?;
        Ok(Poller {
            bursts,
            used,
            current: Burst::default(),
            shared,
            exited: Some(exited),
        })
    }

    async fn poll_view<R: Send>(
        &mut self,
        timeout: Duration,
        visit: impl FnOnce(RecordView<'_>) -> R + Send,
    ) -> Result<Option<Polled<R>>, TransportError> {
        loop {
            match self.current.next() {
                Some(Item::Record(at)) => {
                    return Ok(Some(Polled::Record(self.current.lend(&at, visit))));
                }
                Some(Item::Notice(notice)) => return Ok(Some(Polled::Notice(notice))),
                Some(Item::Error(e)) => return Err(e),
                None => {}
            }
            let next = if timeout.is_zero() {
                match self.bursts.try_recv() {
                    Ok(burst) => burst,
                    Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
                    Err(mpsc::error::TryRecvError::Disconnected) => return Err(thread_gone()),
                }
            } else {
                match tokio::time::timeout(timeout, self.bursts.recv()).await {
                    Ok(Some(burst)) => burst,
                    Ok(None) => return Err(thread_gone()),
                    Err(_) => return Ok(None),
                }
            };
            let mut done = std::mem::replace(&mut self.current, next);
            done.clear();
            let _ = self.used.send(done);
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The polling thread: fills bursts and hands them over until stopped or the loop is gone.
async fn poll_thread<C: TransportConsumer>(
    consumer: Arc<C>,
    handed: mpsc::Sender<Burst>,
    reuse: std::sync::mpsc::Receiver<Burst>,
    shared: &Shared,
    poll_timeout: Duration,
) {
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.paused.load(Ordering::Relaxed) {
            tokio::time::sleep(poll_timeout).await;
        }
        let mut burst = reuse.try_recv().unwrap_or_default();
        // Only a poll that finds nothing fetched waits (a timer costs more than a look).
        let mut timeout = Duration::ZERO;
        let mut failed = false;
        while burst.records() < BURST_RECORDS && burst.bytes() < BURST_BYTES {
            match consumer.poll_view(timeout, |view| burst.push(view)).await {
                Ok(Some(Polled::Record(()))) => timeout = Duration::ZERO,
                Ok(Some(Polled::Notice(notice))) => {
                    burst.push_notice(notice);
                    timeout = Duration::ZERO;
                }
                Ok(None) if burst.is_empty() && timeout.is_zero() => timeout = poll_timeout,
                Ok(None) => break,
                Err(e) => {
                    burst.push_error(e);
                    failed = true;
                    break;
                }
            }
        }
        if !burst.is_empty() && handed.send(burst).await.is_err() {
            return;
        }
        if failed {
            // The loop waits after a failed poll as well; do not spin on a broken transport.
            tokio::time::sleep(poll_timeout).await;
        }
    }
}

/// The polling thread stopped handing bursts over (it ended or panicked).
fn thread_gone() -> TransportError {
    TransportError::new(
        crate::transport::TransportErrorKind::Closed,
        "take records from the polling thread",
    )
}
